// The module the API fuzzer's workers run (started by tests/threads/_spawn.ts): each task
// attaches to the shared registry, runs a batch of operations through the same executor
// as the main thread, detaches if asked, and replies with what every operation did.

import { Registry } from "../../mod.ts";
import type { StoreHandle } from "../../mod.ts";
import { execute, newEnv, type Op, type Outcome, provider, type ProviderName } from "./_ops.ts";

interface Task {
  id: number;
  handle: StoreHandle;
  exemplars?: ProviderName;
  ops: Op[];
  detach: boolean;
}

/** What a task did: the attach, then each operation (none when the attach was refused). */
export interface TaskResult {
  attach: Outcome;
  outcomes: Outcome[];
}

function run(task: Task): TaskResult {
  let registry: Registry;
  try {
    registry = Registry.attach(
      task.handle,
      task.exemplars === undefined ? {} : { exemplars: provider(task.exemplars) },
    );
  } catch (error) {
    const e = error as Error;
    return { attach: { ok: false, name: e.name, message: e.message }, outcomes: [] };
  }
  const env = newEnv(registry);
  const outcomes = task.ops.map((op) => execute(env, op));
  if (task.detach) registry.detach();
  return { attach: { ok: true }, outcomes };
}

interface ParentPort {
  postMessage(message: unknown): void;
}

const isWeb = "Deno" in globalThis || "Bun" in globalThis;
const port: ParentPort = isWeb
  ? globalThis as unknown as ParentPort
  : (await import("node:worker_threads")).parentPort as unknown as ParentPort;
const onTask = (task: Task): void => {
  try {
    port.postMessage({ id: task.id, kind: "done", result: run(task) });
  } catch (error) {
    port.postMessage({ id: task.id, kind: "error", message: (error as Error).stack ?? String(error) });
  }
};
if (isWeb) (globalThis as unknown as { onmessage: (e: { data: Task }) => void }).onmessage = (e) => onTask(e.data);
else (port as unknown as { on(event: "message", fn: (task: Task) => void): void }).on("message", onTask);

// A worker for the quantile sketch concurrency test: waits for every worker to be ready, then
// adds its seeded values to the sketches in a shared buffer and replies with how many it added.

import { sketchAdd, type SketchWindow } from "../../src/storage/quantile_sketch.ts";
import { driftingValue, seeded } from "./_sketch_values.ts";

interface Task {
  id: number;
  buffer: SharedArrayBuffer;
  barrier: SharedArrayBuffer;
  window: SketchWindow;
  now: number;
  sketches: number;
  words: number;
  perSketch: number;
  seed: number;
}

interface Port {
  postMessage(message: unknown): void;
}

function run(task: Task): number {
  const i32 = new Int32Array(task.buffer);
  const random = seeded(task.seed);
  const barrier = new Int32Array(task.barrier);
  Atomics.add(barrier, 0, 1);
  while (Atomics.load(barrier, 0) < barrier[1]!) { /* spin: start together to race */ }
  const count = task.sketches * task.perSketch;
  for (let i = 0; i < count; i++) {
    const value = driftingValue(random, i, count);
    sketchAdd(i32, (i % task.sketches) * task.words, task.window, value, task.now);
  }
  return count;
}

const isWeb = "Deno" in globalThis || "Bun" in globalThis;
const port: Port = isWeb
  ? globalThis as unknown as Port
  : (await import("node:worker_threads")).parentPort as unknown as Port;
const onTask = (task: Task): void => {
  try {
    port.postMessage({ id: task.id, kind: "done", result: run(task) });
  } catch (error) {
    port.postMessage({ id: task.id, kind: "error", message: (error as Error).stack ?? String(error) });
  }
};
if (isWeb) (globalThis as unknown as { onmessage: (e: { data: Task }) => void }).onmessage = (e) => onTask(e.data);
else (port as unknown as { on(event: "message", fn: (task: Task) => void): void }).on("message", onTask);

// The module the series-lifecycle thread tests run in their workers (see _spawn.ts). Unlike
// _worker.ts, a worker here keeps its registry and the bound series it holds from one task to
// the next, so the main thread can drive it one step at a time.

import { Registry } from "../../src/registry.ts";
import type { StoreHandle } from "../../src/storage/store.ts";
import {
  applyLifecycleStep,
  forcedGc,
  heapAfterGc,
  type LifecycleStep,
  type LifecycleThread,
  stopRemovalTimer,
  stressMetrics,
  type StressPlan,
} from "./_operations.ts";

interface Task {
  id: number;
  task: string;
  [key: string]: unknown;
}

interface ParentPort {
  postMessage(message: unknown): void;
}

const realNow = Date.now;
const gc = await forcedGc();
let thread: LifecycleThread | undefined;

function attached(): LifecycleThread {
  if (thread === undefined) throw new Error("this worker has not attached");
  return thread;
}

function run(task: Task, reply: (message: unknown) => void): unknown {
  const progress = (result: unknown): void => reply({ id: task.id, kind: "progress", result });
  switch (task.task) {
    case "attach": {
      // A fake clock the main thread advances, so expiry happens at known steps.
      const clock = task.clock as SharedArrayBuffer | undefined;
      if (clock !== undefined) {
        const now = new Float64Array(clock);
        Date.now = () => now[0]!;
      } else Date.now = realNow;
      const registry = Registry.attach(task.handle as StoreHandle);
      if (task.stopTimer === true) stopRemovalTimer(registry);
      thread = { registry, handles: new Map() };
      return registry.store.thread;
    }
    case "step":
      return applyLifecycleStep(attached(), task.step as LifecycleStep);
    case "detach":
      attached().registry.detach();
      thread = undefined;
      return null;
    case "forget":
      // Ends a property run: the registry is dropped with the run (no detach needed).
      thread = undefined;
      Date.now = realNow;
      return null;
    case "hold": {
      // Writes through a bound series, waits (blocked, so no timer runs) for the main thread to
      // remove the series, then writes again through the same bound series.
      const { handles } = attached();
      const series = handles.get(task.key as string);
      const gate = new Int32Array(task.gate as SharedArrayBuffer);
      series.inc(task.before as number);
      progress("written");
      while (Atomics.load(gate, 0) === 0) Atomics.wait(gate, 0, 0, 50);
      const removedBefore = series.removed as boolean;
      series.inc(task.after as number);
      return { removedBefore, removedAfter: series.removed as boolean };
    }
    case "stress":
      return stress(task);
    case "stress-final":
      return stressFinal(task);
    case "churn":
      return churn(task);
    default:
      throw new Error(`unknown task ${task.task}`);
  }
}

// ---- concurrent stress (lifecycle.prop.test.ts) ---------------------------------------------

// deno-lint-ignore no-explicit-any
let stressHandles: { stable: any[]; churned: any[]; gauge: any; latency: any } | undefined;

/**
 * Records until the main thread sets the stop word: through bound series and labelled calls,
 * into series the main thread never removes and into series it removes and makes again.
 * Returns what went into the never-removed series.
 */
function stress(task: Task): unknown {
  const registry = attached().registry;
  const plan = task.plan as StressPlan;
  const control = new Int32Array(task.control as SharedArrayBuffer);
  const worker = String(task.worker);
  const m = stressMetrics(registry);
  const handles = {
    stable: plan.stable.map((k) => m.stable.labels({ k })),
    churned: plan.churned.map((k) => m.churned.labels({ k })),
    gauge: m.gauge.labels({ w: worker }),
    latency: m.latency.labels({}),
  };
  stressHandles = handles;
  const stable = plan.stable.map(() => 0);
  let gauge = 0;
  let observations = 0;
  let i = 0;
  Atomics.add(control, 1, 1); // ready
  while (Atomics.load(control, 0) === 0) {
    for (let j = 0; j < 64; j++, i++) {
      const s = i % plan.stable.length;
      const c = i % plan.churned.length;
      handles.stable[s]!.inc();
      stable[s]! += 1;
      handles.churned[c]!.inc();
      if ((i & 3) === 0) {
        m.stable.inc({ k: plan.stable[s]! }, 0.5);
        stable[s]! += 0.5;
        m.churned.inc({ k: plan.churned[c]! }, 2);
      }
      if ((i & 1) === 0) {
        handles.gauge.inc(3);
        gauge += 3;
      } else {
        handles.gauge.dec(1);
        gauge -= 1;
      }
      handles.latency.observe((i & 3) / 2);
      observations++;
    }
  }
  return { stable, gauge, observations, iterations: i };
}

/** After the stress: syncs (a call into the registry), then writes a known amount into every churned series. */
function stressFinal(task: Task): unknown {
  const registry = attached().registry;
  const plan = task.plan as StressPlan;
  const m = stressMetrics(registry);
  m.stable.get({ k: plan.stable[0]! }); // a read: a call into the registry, so a sync
  const handles = stressHandles!;
  const removed = handles.churned.map((h) => h.removed as boolean);
  for (const h of handles.churned) h.inc(task.bound as number);
  for (const k of plan.churned) m.churned.inc({ k }, task.labelled as number);
  return { removed };
}

// ---- churn (churn.test.ts) ---------------------------------------------------------------------

/**
 * Records into the batches of series the main thread publishes, with labelled calls: `amount`
 * into every series of each batch published, then counts the batch done. Control words: 0 the
 * batch published (-1 none yet), 1 batches done (all workers), 2 stop. Returns this thread's heap
 * after batch `warm` and at the end (undefined where it cannot be measured).
 */
function churn(task: Task): unknown {
  const registry = attached().registry;
  const control = new Int32Array(task.control as SharedArrayBuffer);
  const size = task.batchSize as number;
  const amount = task.amount as number;
  const counter = registry.counter({ name: "churn_total", help: "Churn", labelNames: ["k"] });
  const gauge = registry.gauge({ name: "churn_level", help: "Churn", labelNames: ["k"] });
  let done = -1;
  let batches = 0;
  let heapWarm: number | undefined;
  for (;;) {
    let published = Atomics.load(control, 0);
    while (published === done && Atomics.load(control, 2) === 0) {
      Atomics.wait(control, 0, published, 20);
      published = Atomics.load(control, 0);
    }
    if (published === done) break; // stopped
    for (let i = published * size; i < (published + 1) * size; i++) {
      const k = String(i);
      if ((i & 1) === 0) counter.inc({ k }, amount);
      else gauge.inc({ k }, amount);
    }
    done = published;
    if (++batches === task.warm) heapWarm = heapAfterGc(gc);
    Atomics.add(control, 1, 1);
    Atomics.notify(control, 1);
  }
  return { batches, heapWarm: heapWarm ?? null, heapEnd: heapAfterGc(gc) ?? null };
}

const isWeb = "Deno" in globalThis || "Bun" in globalThis;
const port: ParentPort = isWeb
  ? globalThis as unknown as ParentPort
  : (await import("node:worker_threads")).parentPort as unknown as ParentPort;
const reply = (message: unknown): void => port.postMessage(message);
const onTask = (task: Task): void => {
  try {
    reply({ id: task.id, kind: "done", result: run(task, reply) });
  } catch (error) {
    reply({ id: task.id, kind: "error", message: (error as Error).stack ?? String(error) });
  }
};
if (isWeb) (globalThis as unknown as { onmessage: (e: { data: Task }) => void }).onmessage = (e) => onTask(e.data);
else (port as unknown as { on(event: "message", fn: (task: Task) => void): void }).on("message", onTask);

// The module every thread test runs in its workers. It waits for tasks (see _spawn.ts),
// each carrying a registry handle, attaches, does the task and replies.

import { Registry } from "../../src/registry.ts";
import { LOCK, type StoreHandle } from "../../src/storage/store.ts";
import { applyOperations, type Operation } from "./_operations.ts";
import { NATIVE_DEFINITION, nativeSequence } from "./_native_sequence.ts";

interface Task {
  id: number;
  task: string;
  handle: StoreHandle;
  [key: string]: unknown;
}

interface ParentPort {
  postMessage(message: unknown): void;
}

/** What `run` returns for a task that never ends (no reply). */
const PENDING = Symbol("pending");

function run(task: Task, reply: (message: unknown) => void): unknown {
  const progress = (result: unknown): void => reply({ id: task.id, kind: "progress", result });
  if (task.task === "attach-refused") return attachRefused(task);
  const registry = Registry.attach(task.handle);
  switch (task.task) {
    case "apply":
      applyOperations(registry, task.operations as Operation[]);
      return registry.store.thread;
    case "render":
      return { prometheus: registry.render(), openmetrics: registry.render("openmetrics") };
    case "register": {
      // Registers a definition; reports the error message instead of failing the task.
      const d = task.definition as { type: "counter" | "gauge"; name: string; labelNames: string[]; value: number };
      try {
        const options = { name: d.name, help: "Help", labelNames: d.labelNames };
        const metric = d.type === "counter" ? registry.counter(options) : registry.gauge(options);
        metric.labels(Object.fromEntries(d.labelNames.map((n) => [n, "w"]))).inc(d.value);
        return { ok: true };
      } catch (error) {
        return { ok: false, message: (error as Error).message };
      }
    }
    case "stress": {
      const worker = String(task.worker);
      const m = task.m as number;
      const shared = registry.counter({ name: "stress_shared_total", help: "Shared" }).labels({});
      const own = registry.counter({ name: "stress_private_total", help: "Private", labelNames: ["worker"] })
        .labels({ worker });
      const dynamic = registry.counter({
        name: "stress_dynamic_total",
        help: "Born in workers",
        labelNames: ["worker", "chunk"],
      });
      const latency = registry.histogram({ name: "stress_seconds", help: "Latency", buckets: [0.25, 0.5, 1] }).labels(
        {},
      );
      const depth = registry.gauge({ name: "stress_depth", help: "Depth" }).labels({});
      for (let i = 0; i < m; i++) {
        shared.inc();
        own.inc(0.25);
        latency.observe((i & 7) / 4);
        if ((i & 15) === 0) depth.inc(2);
        if ((i & 1023) === 0) dynamic.inc({ worker, chunk: String(i >> 10) });
      }
      return null;
    }
    case "forever": {
      // Records and creates series until terminated; says so once it is well under way.
      const bound = registry.counter({ name: "forever_total", help: "Forever" }).labels({});
      const born = registry.counter({ name: "forever_series_total", help: "New series", labelNames: ["n"] });
      const latency = registry.histogram({ name: "forever_seconds", help: "Forever", buckets: [1, 2] });
      let i = 0;
      const loop = (iterations: number): void => {
        for (const end = i + iterations; i !== end; i++) {
          bound.inc();
          latency.observe(i & 3);
          // New series for a while, then the same ones again: never past maxSeries, however late it stops.
          if ((i & 63) === 0) born.inc({ n: String((i >> 6) % 20_000) });
          if (i === 64 * 200) progress(i);
        }
      };
      const yieldEvery = task.yieldEvery as number;
      if (yieldEvery === 0) loop(-1); // never ends: stops wherever terminate() finds it
      // Deno's terminate() cannot stop a thread that never returns to its event loop
      // (denoland/deno#35657), so there the loop gives the event loop a turn now and then.
      const chunk = (): void => {
        loop(yieldEvery);
        setTimeout(chunk, 0);
      };
      chunk();
      return PENDING;
    }
    case "hold-lock": {
      // Takes the registry lock and never lets go: terminating this worker leaves it held.
      if (task.spin) {
        registry.store.locked(() => {
          progress("locked");
          for (;;) { /* spin until terminated */ }
        });
      }
      // Where terminate() cannot stop a spinning thread (Deno), take the lock word as locked() does
      // and go idle: to the lock, an owner that never releases it all the same.
      if (Atomics.compareExchange(registry.store.i32, LOCK, 0, registry.store.thread + 1) !== 0) {
        throw new Error("the registry lock is taken");
      }
      progress("locked");
      return PENDING;
    }
    case "overflow": {
      const metric = registry.counter({ name: "spread_total", help: "Spread", labelNames: ["k"] });
      const order = task.order as number[];
      // Wait for every worker to be here, so that they race to create the series.
      const barrier = new Int32Array(task.barrier as SharedArrayBuffer);
      Atomics.add(barrier, 0, 1);
      while (Atomics.load(barrier, 0) < barrier[1]!) { /* spin */ }
      for (let r = 0; r < (task.rounds as number); r++) {
        for (const k of order) metric.inc({ k: "k" + k });
      }
      return null;
    }
    case "native": {
      // Worker `worker`'s sequence into the shared native histogram, all workers at once.
      const series = registry.histogram(NATIVE_DEFINITION).labels({});
      const values = nativeSequence(task.worker as number, task.n as number);
      const barrier = new Int32Array(task.barrier as SharedArrayBuffer);
      Atomics.add(barrier, 0, 1);
      while (Atomics.load(barrier, 0) < barrier[1]!) { /* spin */ }
      for (let i = 0; i < values.length; i++) series.observe(values[i]!);
      return null;
    }
    default:
      throw new Error(`unknown task ${task.task}`);
  }
}

/**
 * Calls `Registry.attach()` on a handle whose thread slots are all taken, again and again
 * for `ms` milliseconds; returns how many times it was refused (any other outcome throws).
 */
function attachRefused(task: Task): number {
  const until = Date.now() + (task.ms as number);
  let refused = 0;
  while (Date.now() < until) {
    for (let i = 0; i < 100; i++) {
      try {
        Registry.attach(task.handle);
      } catch (error) {
        if (!/cannot take a thread slot/.test((error as Error).message)) throw error;
        refused++;
        continue;
      }
      throw new Error("Registry.attach() took a thread slot past maxThreads");
    }
  }
  return refused;
}

const isWeb = "Deno" in globalThis || "Bun" in globalThis;
const port: ParentPort = isWeb
  ? globalThis as unknown as ParentPort
  : (await import("node:worker_threads")).parentPort as unknown as ParentPort;
const reply = (message: unknown): void => port.postMessage(message);
const onTask = (task: Task): void => {
  try {
    const result = run(task, reply);
    if (result !== PENDING) reply({ id: task.id, kind: "done", result });
  } catch (error) {
    reply({ id: task.id, kind: "error", message: (error as Error).stack ?? String(error) });
  }
};
if (isWeb) (globalThis as unknown as { onmessage: (e: { data: Task }) => void }).onmessage = (e) => onTask(e.data);
else (port as unknown as { on(event: "message", fn: (task: Task) => void): void }).on("message", onTask);

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Counter } from "../../src/counter.ts";
import { Registry } from "../../src/registry.ts";
import { LOCK, LOCK_STEALS } from "../../src/storage/store.ts";
import { OVERFLOW_LABEL } from "../../src/_family.ts";
import { checkRender, sampleValue } from "./_render_check.ts";
import { spawnWorker, type ThreadWorker, type WorkerReply } from "./_spawn.ts";

const WORKER = new URL("./_worker.ts", import.meta.url);
// One pool for the file: starting a worker is the slow part (Deno type-checks each one).
const pool: ThreadWorker[] = await Promise.all([1, 2, 3, 4].map(() => spawnWorker(WORKER)));
const doomed: ThreadWorker[] = [];
after(async () => {
  for (const worker of [...pool, ...doomed]) await worker.terminate();
});

const isDeno = "Deno" in globalThis;
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts a task that runs until terminated; resolves once the worker reports progress. */
async function startDoomed(task: Record<string, unknown>): Promise<ThreadWorker> {
  const worker = await spawnWorker(WORKER);
  doomed.push(worker);
  await new Promise<void>((resolve, reject) => {
    let started = false;
    worker.run(task, (_: WorkerReply) => {
      started = true;
      resolve();
    }).then(
      () => reject(new Error("a task meant to run forever ended")),
      (error: Error) => started || reject(error), // after the start, rejected by terminate(): expected
    );
  });
  return worker;
}

describe("Registry shared across threads", () => {
  it("Registry.render() on the main thread stays valid and monotonic while 4 workers record, and totals are exact", async () => {
    const W = pool.length;
    const M = 200_000;
    const registry = new Registry({ maxSeries: 2000 });
    const handle = registry.share();
    let running = true;
    const finished = Promise.all(pool.map((w, i) => w.run({ task: "stress", handle, m: M, worker: i })))
      .finally(() => (running = false));
    const previous = new Map<string, number>();
    let renders = 0;
    while (running) {
      checkRender(registry.render(), previous);
      renders++;
      await pause(1);
    }
    await finished;
    const families = checkRender(registry.render(), previous);
    assert.ok(renders > 0);
    assert.equal(sampleValue(families, "stress_shared_total", "stress_shared_total"), W * M);
    for (let i = 0; i < W; i++) {
      assert.equal(sampleValue(families, "stress_private_total", "stress_private_total", { worker: String(i) }), M / 4);
    }
    let sum = 0;
    for (let i = 0; i < M; i++) sum += (i & 7) / 4;
    assert.equal(sampleValue(families, "stress_seconds", "stress_seconds_count"), W * M);
    assert.equal(sampleValue(families, "stress_seconds", "stress_seconds_sum"), W * sum);
    assert.equal(sampleValue(families, "stress_seconds", "stress_seconds_bucket", { le: "0.25" }), W * M / 4);
    assert.equal(sampleValue(families, "stress_depth", "stress_depth"), W * 2 * Math.ceil(M / 16));
    const dynamic = families.get("stress_dynamic_total")!.samples;
    assert.equal(dynamic.length, W * Math.ceil(M / 1024));
    assert.ok(dynamic.every((s) => s.value === 1));
  });

  it("Registry.counter() in a worker throws on a conflicting definition there; the same definition in two workers is one metric", async () => {
    const registry = new Registry();
    registry.counter({ name: "conflict_total", help: "Help", labelNames: ["a"] }).inc({ a: "main" });
    const handle = registry.share();
    const [labels, type] = await Promise.all([
      pool[0]!.run({
        task: "register",
        handle,
        definition: { type: "counter", name: "conflict_total", labelNames: ["b"], value: 1 },
      }),
      pool[1]!.run({
        task: "register",
        handle,
        definition: { type: "gauge", name: "conflict_total", labelNames: ["a"], value: 1 },
      }),
    ]) as { ok: boolean; message?: string }[];
    assert.equal(labels!.ok, false);
    assert.match(labels!.message!, /Counter "conflict_total" is already registered with labels \[a\]/);
    assert.equal(type!.ok, false);
    assert.match(type!.message!, /Gauge "conflict_total" is already registered as a counter/);
    const same = await Promise.all(
      [1.5, 2.5].map((value, i) =>
        pool[i]!.run({
          task: "register",
          handle,
          definition: { type: "counter", name: "twice_total", labelNames: ["a"], value },
        })
      ),
    );
    assert.deepEqual(same, [{ ok: true }, { ok: true }]);
    const text = registry.render();
    const families = checkRender(text, new Map());
    assert.equal(text.split("\n").filter((line) => line === "# TYPE twice_total counter").length, 1);
    assert.equal(sampleValue(families, "twice_total", "twice_total", { a: "w" }), 4);
    assert.equal(sampleValue(families, "conflict_total", "conflict_total", { a: "main" }), 1);
    assert.equal(families.get("conflict_total")!.samples.length, 1);
  });

  it("Registry keeps recording, registering and rendering after a worker is terminated mid-loop", async () => {
    const registry = new Registry({ maxSeries: 100_000 });
    const handle = registry.share();
    const victim = await startDoomed({ task: "forever", handle, yieldEvery: isDeno ? 4096 : 0 });
    await victim.terminate();
    // terminate() may return before the thread has stopped: wait until its counter stands still.
    const recorded = (): number => (registry.get("forever_total") as Counter).get();
    const deadline = performance.now() + 10_000;
    for (let last = -1; recorded() !== last; await pause(100)) {
      last = recorded();
      assert.ok(performance.now() < deadline, "the terminated worker is still recording after 10 s");
    }
    const started = performance.now();
    const late = registry.counter({ name: "late_total", help: "Late", labelNames: ["n"] });
    late.inc({ n: "main" }, 3);
    registry.counter({ name: "forever_series_total", help: "New series", labelNames: ["n"] }).inc({ n: "main" });
    await pool[0]!.run({
      task: "apply",
      handle,
      operations: [{ metric: 0, labels: [], action: "inc", value: 0.5 }, {
        metric: 1,
        labels: ["x", "200"],
        action: "inc",
        value: 2,
      }],
    });
    const families = checkRender(registry.render(), new Map());
    assert.ok(performance.now() - started < 5000, "recording after the termination took more than 5 s");
    assert.equal(sampleValue(families, "late_total", "late_total", { n: "main" }), 3);
    assert.equal(sampleValue(families, "jobs_total", "jobs_total"), 0.5);
    assert.equal(sampleValue(families, "requests_total", "requests_total", { kind: "x", code: "200" }), 2);
    // The worker stopped somewhere inside an iteration: inc, observe, then every 64th a series' inc.
    const forever = sampleValue(families, "forever_total", "forever_total")!;
    assert.ok(Number.isInteger(forever) && forever > 64 * 200, `forever_total is ${forever}`);
    const observed = sampleValue(families, "forever_seconds", "forever_seconds_count")!;
    assert.ok(observed === forever || observed === forever - 1, `${observed} observations for ${forever} increments`);
    const born = families.get("forever_series_total")!.samples.filter((s) => s.labels.n !== "main");
    assert.ok(born.length > 200);
    const bornTotal = born.reduce((sum, s) => sum + s.value, 0);
    const iterations = Math.ceil(forever / 64);
    assert.ok(
      bornTotal === iterations || bornTotal === iterations - 1,
      `${bornTotal} series increments for ${forever}`,
    );
    assert.equal(Atomics.load(registry.store.i32, LOCK), 0);
  });

  it("Registry takes over the lock of a worker terminated while holding it, within about 2 s", async () => {
    const registry = new Registry();
    const handle = registry.share();
    const victim = await startDoomed({ task: "hold-lock", handle, spin: !isDeno });
    await victim.terminate();
    assert.notEqual(Atomics.load(registry.store.i32, LOCK), 0);
    const started = performance.now();
    registry.counter({ name: "after_lock_total", help: "After" }).inc();
    const waited = performance.now() - started;
    assert.ok(waited < 4000, `took the lock over after ${waited} ms`);
    assert.equal(Atomics.load(registry.store.i32, LOCK_STEALS), 1);
    await pool[1]!.run({
      task: "apply",
      handle,
      operations: [{ metric: 3, labels: ["new"], action: "inc", value: 1.25 }],
    });
    const families = checkRender(registry.render(), new Map());
    assert.equal(sampleValue(families, "after_lock_total", "after_lock_total"), 1);
    assert.equal(sampleValue(families, "pool_size", "pool_size", { kind: "new" }), 1.25);
    assert.equal(Atomics.load(registry.store.i32, LOCK), 0);
  });

  it("Registry maxSeries holds across workers: label sets past it fold into the overflow series, totals exact", async () => {
    const maxSeries = 20;
    const labels = 100;
    const rounds = 5;
    const registry = new Registry({ maxSeries });
    const handle = registry.share();
    // Each worker walks the label values in its own order, so they race to create series.
    const orders = pool.map((_, w) =>
      Array.from({ length: labels }, (_, i) => (i * [1, 3, 7, 9][w]! + 7 * w) % labels)
    );
    const barrier = new SharedArrayBuffer(8);
    new Int32Array(barrier)[1] = pool.length;
    await Promise.all(
      pool.map((worker, w) => worker.run({ task: "overflow", handle, order: orders[w], rounds, barrier })),
    );
    const families = checkRender(registry.render(), new Map());
    const samples = families.get("spread_total")!.samples;
    const overflow = samples.filter((s) => s.labels[OVERFLOW_LABEL] === "true");
    const series = samples.filter((s) => s.labels[OVERFLOW_LABEL] === undefined);
    const perSeries = pool.length * rounds;
    assert.equal(series.length, maxSeries);
    assert.deepEqual(
      series.map((s) => s.value),
      series.map(() => perSeries),
      "a series lost increments to the overflow series",
    );
    assert.equal(overflow.length, 1);
    assert.equal(overflow[0]!.value, perSeries * (labels - maxSeries));
    const folded = sampleValue(
      families,
      "atomic_metrics_overflow_observations_total",
      "atomic_metrics_overflow_observations_total",
      {
        metric: "spread_total",
      },
    );
    assert.equal(folded, perSeries * (labels - maxSeries));
    assert.equal(sampleValue(families, "atomic_metrics_series", "atomic_metrics_series"), maxSeries);
  });
});

// Churn: 100,000 create/remove cycles with at most 100 series alive, on one thread and with 4
// workers recording into the live series; the store and the heap stay within 2× of what 100
// series take, and the totals of the live series stay exact. (`npm run bench` runs it at 1M.)
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Counter } from "../../src/counter.ts";
import type { Gauge } from "../../src/gauge.ts";
import { Registry } from "../../src/registry.ts";
import { parseExposition } from "../_parse.ts";
import { forcedGc, heapAfterGc } from "./_operations.ts";
import { spawnWorker, type ThreadWorker } from "./_spawn.ts";

const CYCLES = 100_000;
const ALIVE = 100;
const gc = await forcedGc();

const pool: ThreadWorker[] = await Promise.all(
  [1, 2, 3, 4].map(() => spawnWorker(new URL("./_lifecycle_worker.ts", import.meta.url))),
);
after(async () => {
  for (const worker of pool) await worker.terminate();
});

/** Series i: a counter for even i, a gauge for odd i, labelled k = i. */
function churnMetrics(registry: Registry): { counter: Counter<"k">; gauge: Gauge<"k"> } {
  return {
    counter: registry.counter({ name: "churn_total", help: "Churn", labelNames: ["k"] as const }),
    gauge: registry.gauge({ name: "churn_level", help: "Churn", labelNames: ["k"] as const }),
  };
}

/** What series i shows: what the main thread wrote (2, or i for a gauge) plus what the workers added. */
function expected(i: number, added: number): number {
  return ((i & 1) === 0 ? 2 : i) + added;
}

/** The live series of a render: label value to value, for both metrics. */
function live(registry: Registry): Map<number, number> {
  const families = parseExposition(registry.render(), false);
  const out = new Map<number, number>();
  for (const name of ["churn_total", "churn_level"]) {
    for (const s of families.get(name)?.samples ?? []) out.set(Number(s.labels.k), s.value);
  }
  return out;
}

/** Bytes and heap after churn against before: each at most 2×. */
function assertBounded(what: string, bytes: [number, number], heap: [number | undefined, number | undefined]): void {
  assert.ok(
    bytes[1] <= 2 * bytes[0],
    `${what}: the store took ${bytes[0]} bytes for ${ALIVE} series, ${bytes[1]} after churn`,
  );
  // Where the runtime cannot force a collection, heap figures are noise: only the store is checked.
  if (heap[0] !== undefined && heap[1] !== undefined) {
    assert.ok(
      heap[1] <= 2 * heap[0],
      `${what}: the heap held ${heap[0]} bytes with ${ALIVE} series, ${heap[1]} after churn`,
    );
  }
}

describe("Series churn", () => {
  it(`${CYCLES} create/remove cycles on one thread with at most ${ALIVE} series alive keep the store and the heap within 2× of ${ALIVE} series, and the totals exact`, () => {
    const registry = new Registry();
    const { counter, gauge } = churnMetrics(registry);
    const put = (i: number) => (i & 1) === 0 ? counter.inc({ k: String(i) }, 2) : gauge.set({ k: String(i) }, i);
    const remove = (i: number) => (i & 1) === 0 ? counter.remove({ k: String(i) }) : gauge.remove({ k: String(i) });
    for (let i = 0; i < ALIVE; i++) put(i);
    registry.render();
    const bytes = registry.byteLength;
    const heap = heapAfterGc(gc);
    for (let i = ALIVE; i < CYCLES + ALIVE; i++) {
      assert.equal(remove(i - ALIVE), true);
      put(i);
    }
    // Measured before any render: a thread that never renders must not keep what it removed.
    const heapAfter = heapAfterGc(gc);
    const bytesAfter = registry.byteLength;
    const shown = live(registry);
    assert.equal(shown.size, ALIVE);
    for (let i = CYCLES; i < CYCLES + ALIVE; i++) assert.equal(shown.get(i), expected(i, 0), `series ${i}`);
    assert.equal(registry.seriesCount(), ALIVE);
    assertBounded("one thread", [bytes, bytesAfter], [heap, heapAfter]);
  });

  it(`${CYCLES} create/remove cycles while 4 workers record into the live series keep the store and the heaps within 2× of ${ALIVE} series, and the totals exact`, async () => {
    const BATCH = ALIVE / 2; // two batches alive: the one the workers record into, and the next
    const BATCHES = CYCLES / BATCH;
    const WARM = 4;
    const registry = new Registry();
    const { counter, gauge } = churnMetrics(registry);
    const put = (i: number) => (i & 1) === 0 ? counter.inc({ k: String(i) }, 2) : gauge.set({ k: String(i) }, i);
    const remove = (i: number) => (i & 1) === 0 ? counter.remove({ k: String(i) }) : gauge.remove({ k: String(i) });
    const value = (i: number) => (i & 1) === 0 ? counter.get({ k: String(i) }) : gauge.get({ k: String(i) });
    const handle = registry.share();
    const control = new SharedArrayBuffer(12);
    const words = new Int32Array(control); // 0: batch published, 1: batches done (all workers), 2: stop
    words[0] = -1;
    for (const worker of pool) await worker.run({ task: "attach", handle });
    const running = pool.map((worker) =>
      worker.run({ task: "churn", control, batchSize: BATCH, amount: 1, warm: WARM })
    );
    /** Waits until the workers finished `batches` batches in all. */
    const waitDone = (batches: number): void => {
      const deadline = Date.now() + 60_000;
      for (let done = Atomics.load(words, 1); done < batches; done = Atomics.load(words, 1)) {
        if (Date.now() > deadline) throw new Error(`the workers finished ${done} of ${batches} batches`);
        Atomics.wait(words, 1, done, 20);
      }
    };
    const publish = (batch: number): void => {
      Atomics.store(words, 0, batch);
      Atomics.notify(words, 0);
    };
    let bytes = 0;
    let heap: number | undefined;
    let most = 0;
    try {
      for (let i = 0; i < 2 * BATCH; i++) put(i);
      publish(0);
      for (let batch = 1; batch < BATCHES; batch++) {
        waitDone(pool.length * batch);
        publish(batch); // the workers record into this batch while the main thread goes on
        for (let i = (batch - 1) * BATCH; i < batch * BATCH; i++) {
          assert.equal(value(i), expected(i, pool.length), `series ${i} before its removal`);
          assert.equal(remove(i), true);
        }
        if (batch + 1 < BATCHES) { for (let i = (batch + 1) * BATCH; i < (batch + 2) * BATCH; i++) put(i); }
        if (batch === WARM) {
          bytes = registry.byteLength;
          heap = heapAfterGc(gc);
        }
        most = Math.max(most, registry.byteLength);
      }
      waitDone(pool.length * BATCHES);
    } finally {
      Atomics.store(words, 2, 1);
      Atomics.notify(words, 0);
    }
    const workers = await Promise.all(running) as {
      batches: number;
      heapWarm: number | null;
      heapEnd: number | null;
    }[];
    const heapAfter = heapAfterGc(gc);
    const shown = live(registry);
    assert.equal(shown.size, BATCH);
    for (let i = (BATCHES - 1) * BATCH; i < CYCLES; i++) {
      assert.equal(shown.get(i), expected(i, pool.length), `series ${i}`);
    }
    assertBounded("main thread", [bytes, most], [heap, heapAfter]);
    workers.forEach((w, i) => {
      assert.equal(w.batches, BATCHES);
      assertBounded(`worker ${i}`, [bytes, most], [w.heapWarm ?? undefined, w.heapEnd ?? undefined]);
    });
    for (const worker of pool) await worker.run({ task: "forget" });
  });
});

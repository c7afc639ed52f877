import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "../../src/registry.ts";
import { halveBuckets, modelBuckets, ringSchema } from "../_native_model.ts";
import { NATIVE_DEFINITION, nativeSequence } from "./_native_sequence.ts";
import { spawnWorker, type ThreadWorker } from "./_spawn.ts";

const WORKER = new URL("./_worker.ts", import.meta.url);
const pool: ThreadWorker[] = await Promise.all([1, 2, 3, 4].map(() => spawnWorker(WORKER)));
after(async () => {
  for (const worker of pool) await worker.terminate();
});

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const asArrays = (b: { zeroCount: number; positive: Map<number, number>; negative: Map<number, number> }) => ({
  zeroCount: b.zeroCount,
  positive: [...b.positive],
  negative: [...b.negative],
});

describe("native histograms across threads", () => {
  it("HistogramSeries.native() merges 4 workers observing into one series: exact counts per bucket at the merged schema, exact count and sum", async () => {
    const N = 50_000;
    const registry = new Registry();
    const series = registry.histogram(NATIVE_DEFINITION).labels({});
    const handle = registry.share();
    const barrier = new SharedArrayBuffer(8);
    new Int32Array(barrier)[1] = pool.length;
    let running = true;
    const finished = Promise.all(
      pool.map((worker, w) => worker.run({ task: "native", handle, worker: w, n: N, barrier })),
    ).finally(() => (running = false));
    // Merges while the workers record: they never fail, the schema only goes down, nothing is counted twice.
    const schemas: number[] = [];
    while (running) {
      const native = series.native()!;
      schemas.push(native.schema);
      let total = native.zeroCount;
      for (const count of [...native.positive.values(), ...native.negative.values()]) total += count;
      assert.ok(total <= pool.length * N, `merged ${total} observations of at most ${pool.length * N}`);
      await pause(1);
    }
    await finished;
    const got = series.native()!;
    schemas.push(got.schema);
    for (let i = 1; i < schemas.length; i++) assert.ok(schemas[i]! <= schemas[i - 1]!, `schemas ${schemas}`);

    // The model, single-threaded: each worker's buckets at schema 3, each thread halving while its
    // span is wider than maxBuckets, merged at the lowest, then halved while more than maxBuckets.
    const { maxBuckets } = NATIVE_DEFINITION.native;
    const sequences = pool.map((_, w) => nativeSequence(w, N));
    const perThread = sequences.map((values) => modelBuckets(values, 3, 2 ** -128));
    const schema = ringSchema(perThread, 3, maxBuckets);
    assert.equal(got.schema, schema);
    const all = new Float64Array(pool.length * N);
    sequences.forEach((values, w) => all.set(values, w * N));
    const model = modelBuckets(all, schema, 2 ** -128);
    assert.deepEqual(asArrays(got), asArrays(model));
    // The same as halving the schema-3 keys that many times.
    assert.deepEqual(asArrays(got), asArrays(halveBuckets(modelBuckets(all, 3, 2 ** -128), 3 - schema)));
    assert.ok(got.positive.size + got.negative.size <= maxBuckets);
    assert.ok(model.zeroCount > 0 && model.negative.size > 0);
    // Dyadic values: the sum is exact whatever the order the threads' sums are added in.
    let sum = 0;
    for (const v of all) sum += v;
    assert.equal(got.count, pool.length * N);
    assert.equal(got.sum, sum);
  });
});

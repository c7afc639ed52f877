import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  sketchAdd,
  sketchCount,
  sketchQuantiles,
  type SketchWindow,
  sketchWords,
} from "../../src/storage/quantile_sketch.ts";
import { spawnWorker } from "../threads/_spawn.ts";
import { driftingValue, normal, seeded } from "./_sketch_values.ts";

const window: SketchWindow = { ageBuckets: 5, bucketMs: 120_000, origin: 0 };
/** A time in epoch 1. */
const NOW = 60_000;
const QUANTILES = [0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999];
/** Int32 words of one age bucket, and where its lock word (a move counter) and layout word sit in it. */
const BUCKET_WORDS = sketchWords(1);
const LOCK_WORD = 1;
const LAYOUT_WORD = 2;

function newSketch(ageBuckets = 5): Int32Array {
  return new Int32Array(new SharedArrayBuffer(sketchWords(ageBuckets) * 4));
}

/** How far (as a fraction of n) the estimate's rank is from the asked rank q·n. */
function rankError(sorted: number[], estimate: number, q: number): number {
  let below = 0;
  while (below < sorted.length && sorted[below]! < estimate) below++;
  let atOrBelow = below;
  while (atOrBelow < sorted.length && sorted[atOrBelow]! <= estimate) atOrBelow++;
  const target = q * sorted.length;
  if (target >= below && target <= atOrBelow) return 0;
  return Math.min(Math.abs(target - below), Math.abs(target - atOrBelow)) / sorted.length;
}

/** The worst rank error of the sketch's quantiles against the values. */
function worstRankError(i32: Int32Array, values: number[], now = NOW, base = 0): number {
  const sorted = [...values].sort((a, b) => a - b);
  const estimates = sketchQuantiles(i32, base, window, QUANTILES, now);
  return Math.max(...estimates.map((estimate, i) => rankError(sorted, estimate, QUANTILES[i]!)));
}

describe("quantile sketch", () => {
  it("sketchWords() keeps one summary series within 8 KiB of shared memory with the default window", () => {
    assert.ok(sketchWords(5) * 4 <= 8192, `${sketchWords(5) * 4} bytes`);
  });

  it("sketchWords() grows in proportion to ageBuckets", () => {
    assert.equal(sketchWords(100), 20 * sketchWords(5));
    assert.equal(sketchWords(1) * 5, sketchWords(5));
  });

  it("sketchAdd() keeps every count while the window moves, folds and coarsens", () => {
    const random = seeded(1);
    const runs: Record<string, number[]> = {
      ascending: Array.from({ length: 3000 }, (_, i) => Math.pow(10, -12 + 24 * i / 3000)),
      descending: Array.from({ length: 3000 }, (_, i) => Math.pow(10, 12 - 24 * i / 3000)),
      "alternating extremes": Array.from({ length: 3000 }, (_, i) => (i % 2 ? 1e-8 : 1e8) * (1 + random())),
      "signed and drifting": Array.from({ length: 3000 }, (_, i) => driftingValue(random, i, 3000)),
    };
    for (const [name, values] of Object.entries(runs)) {
      const i32 = newSketch();
      for (const v of values) sketchAdd(i32, 0, window, v, NOW);
      assert.equal(sketchCount(i32, 0, window, NOW), values.length, name);
      const [low, high] = sketchQuantiles(i32, 0, window, [0, 1], NOW);
      assert.ok(low! >= -1.02e9 && high! <= 1.02e9 && low! <= high!, `${name}: ${low}..${high}`);
    }
  });

  it("sketchQuantiles() has rank error at most 1% on sorted and reversed input spanning many decades", () => {
    const random = seeded(2);
    const distributions: Record<string, () => number> = {
      "log-uniform 1e-6..1e6": () => Math.pow(10, -6 + 12 * random()),
      "1 ms and 10 s modes": () => (random() < 0.7 ? 0.001 : 10) * Math.exp(0.3 * normal(random)),
      "signed, around zero": () => 100 * normal(random),
      "latency with zeros": () => (random() < 0.2 ? 0 : Math.exp(normal(random))),
    };
    for (const [name, sample] of Object.entries(distributions)) {
      const values = Array.from({ length: 10_000 }, sample);
      for (const order of ["ascending", "descending"]) {
        const sorted = [...values].sort((a, b) => order === "ascending" ? a - b : b - a);
        const i32 = newSketch();
        for (const v of sorted) sketchAdd(i32, 0, window, v, NOW);
        const error = worstRankError(i32, values);
        assert.ok(error <= 0.01, `${name}, ${order}: rank error ${error}`);
      }
    }
  });

  it("sketchQuantiles() keeps a high quantile accurate when a small tail sits decades above the rest", () => {
    const random = seeded(3);
    // 0.2% of requests time out near 30 s; the rest take 1 to 100 ms.
    const values = Array.from({ length: 20_000 }, () => random() < 0.002 ? 30 + random() : 0.001 + 0.099 * random());
    const i32 = newSketch();
    for (const v of values) sketchAdd(i32, 0, window, v, NOW);
    const sorted = [...values].sort((a, b) => a - b);
    const exact = sorted[Math.ceil(0.999 * sorted.length) - 1]!;
    const [estimate] = sketchQuantiles(i32, 0, window, [0.999], NOW);
    assert.ok(Math.abs(estimate! - exact) <= 0.02 * exact, `p99.9 ${estimate} against ${exact}`);
  });

  it("sketchAdd() puts values beyond ±1e9 and infinities in the outermost bins, and tiny ones at zero", () => {
    const i32 = newSketch();
    for (const v of [1e12, Infinity, -Infinity, -1e15, 5, 1e-12, -1e-12]) sketchAdd(i32, 0, window, v, NOW);
    assert.equal(sketchCount(i32, 0, window, NOW), 7);
    const [lowest, median, highest] = sketchQuantiles(i32, 0, window, [0, 0.5, 1], NOW);
    assert.ok(lowest! <= -1e9 && lowest! >= -1.02e9, `lowest ${lowest}`);
    assert.ok(highest! >= 1e9 && highest! <= 1.02e9, `highest ${highest}`);
    assert.equal(median, 0);
  });

  it("sketchQuantiles() merges age buckets whose windows have different scales", () => {
    const random = seeded(4);
    const narrow = Array.from({ length: 5000 }, () => 10 + 10 * random());
    const wide = Array.from({ length: 5000 }, () => Math.pow(10, -6 + 12 * random()));
    const i32 = newSketch();
    for (const v of narrow) sketchAdd(i32, 0, window, v, NOW);
    const later = NOW + window.bucketMs;
    for (const v of wide) sketchAdd(i32, 0, window, v, later);
    assert.equal(sketchCount(i32, 0, window, later), 10_000);
    const error = worstRankError(i32, [...narrow, ...wide], later);
    assert.ok(error <= 0.01, `rank error ${error}`);
  });

  it("sketchAdd() clears the age bucket a new epoch reuses, and reads skip buckets older than the window", () => {
    const i32 = newSketch();
    for (let i = 0; i < 100; i++) sketchAdd(i32, 0, window, 1000, NOW);
    const reuse = NOW + 5 * window.bucketMs;
    assert.equal(sketchCount(i32, 0, window, reuse), 0, "epoch 1 is out of the window of epoch 6");
    for (let i = 0; i < 10; i++) sketchAdd(i32, 0, window, 5, reuse);
    assert.equal(sketchCount(i32, 0, window, reuse), 10);
    const [median] = sketchQuantiles(i32, 0, window, [0.5], reuse);
    assert.ok(Math.abs(median! - 5) <= 0.1, `median ${median}`);
  });

  it("sketchAdd() keeps counting when another thread stalls holding a window's lock, and a new epoch frees it", () => {
    const i32 = newSketch();
    sketchAdd(i32, 0, window, 1, NOW);
    // Epoch 1 writes to age bucket 1: pretend a thread died in the middle of moving its window.
    const lock = BUCKET_WORDS + LOCK_WORD;
    Atomics.store(i32, lock, 1);
    for (const v of [1e-6, 1e6, 1e8, -1e3]) sketchAdd(i32, 0, window, v, NOW);
    assert.equal(sketchCount(i32, 0, window, NOW), 5);
    const reuse = NOW + 5 * window.bucketMs;
    for (const v of [1, 1e6]) sketchAdd(i32, 0, window, v, reuse);
    assert.equal(Atomics.load(i32, lock) & 1, 0, "the lock is free again");
    const [highest] = sketchQuantiles(i32, 0, window, [1], reuse);
    assert.ok(Math.abs(highest! - 1e6) <= 0.02e6, `the window moved to 1e6: ${highest}`);
  });

  it("sketchAdd() counts values that meet a stalled relocation of bins, and quantiles leave them out", () => {
    const i32 = newSketch();
    for (const v of [1, 2, 3]) sketchAdd(i32, 0, window, v, NOW);
    // Pretend a thread died after marking the layout as moving.
    const layout = BUCKET_WORDS + LAYOUT_WORD;
    const saved = Atomics.load(i32, layout);
    Atomics.store(i32, layout, -saved);
    for (const v of [1000, 2000, 3000, 4000]) sketchAdd(i32, 0, window, v, NOW);
    assert.equal(sketchCount(i32, 0, window, NOW), 7);
    Atomics.store(i32, layout, saved);
    const [highest] = sketchQuantiles(i32, 0, window, [1], NOW);
    assert.ok(highest! < 3.1, `only the placed values make quantiles: ${highest}`);
  });

  it("sketchAdd() keeps the window across the wrap of epoch stamps", () => {
    const wrap: SketchWindow = { ageBuckets: 5, bucketMs: 1000, origin: 0 };
    const before = (2 ** 30 - 2) * 1000;
    for (const now of [before, before + 1000, before + 2000]) {
      assert.equal(sketchCount(newSketch(), 0, wrap, now), 0);
    }
    const i32 = newSketch();
    for (let t = 0; t < 4; t++) sketchAdd(i32, 0, wrap, 10 + t, before + t * 1000);
    assert.equal(sketchCount(i32, 0, wrap, before + 3000), 4);
    assert.equal(sketchCount(i32, 0, wrap, before + 7000), 1);
  });

  it("4 workers adding to the same sketches at once lose no count", async () => {
    const sketches = 16;
    const perSketch = 4000;
    const words = sketchWords(window.ageBuckets);
    const buffer = new SharedArrayBuffer(sketches * words * 4);
    const barrier = new SharedArrayBuffer(8);
    new Int32Array(barrier)[1] = 4;
    const workers = await Promise.all(
      Array.from({ length: 4 }, () => spawnWorker(new URL("./_quantile_sketch_worker.ts", import.meta.url))),
    );
    try {
      const added = await Promise.all(
        workers.map((worker, w) =>
          worker.run({ buffer, barrier, window, now: NOW, sketches, words, perSketch, seed: 100 + w })
        ),
      );
      assert.deepEqual(added, [0, 1, 2, 3].map(() => sketches * perSketch));
    } finally {
      await Promise.all(workers.map((worker) => worker.terminate()));
    }
    const i32 = new Int32Array(buffer);
    let moves = 0;
    for (let s = 0; s < sketches; s++) {
      assert.equal(sketchCount(i32, s * words, window, NOW), 4 * perSketch, `sketch ${s}`);
      moves += Atomics.load(i32, s * words + BUCKET_WORDS + LOCK_WORD) / 2;
    }
    assert.ok(moves >= 10 * sketches, `windows moved ${moves} times`);
    // Counts that raced a move may sit one window off: the quantiles stay close all the same.
    const values: number[][] = Array.from({ length: sketches }, () => []);
    for (let w = 0; w < 4; w++) {
      const random = seeded(100 + w);
      const count = sketches * perSketch;
      for (let i = 0; i < count; i++) values[i % sketches]!.push(driftingValue(random, i, count));
    }
    for (let s = 0; s < sketches; s++) {
      const error = worstRankError(i32, values[s]!, NOW, s * words);
      assert.ok(error <= 0.01, `sketch ${s}: rank error ${error}`);
    }
  });
});

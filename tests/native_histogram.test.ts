import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "../mod.ts";
import { clientGolangSchema, halveBuckets, modelBuckets } from "./_native_model.ts";

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A native histogram's only series (schema 3 unless a factor is given). */
function nativeSeries(native: Record<string, number> = {}, buckets?: number[]) {
  const registry = new Registry();
  const histogram = registry.histogram({
    name: "latency_seconds",
    help: "Latency",
    native,
    ...(buckets === undefined ? {} : { buckets }),
  });
  return { registry, histogram, series: histogram.labels({}) };
}

const entries = (m: Map<number, number>) => [...m];

describe("native histograms", () => {
  it("HistogramSeries.native() counts 2 and Math.SQRT2 (just above √2) in bucket 2 at schema 1, the float below √2 in bucket 1", () => {
    // Bucket 2 at schema 1 is (√2, 2]. The float nearest √2, 1.4142135623730951, is above it.
    const { series } = nativeSeries({ bucketFactor: 1.5 });
    series.observe(Math.SQRT2);
    series.observe(2);
    series.observe(1.414213562373095);
    const native = series.native()!;
    assert.equal(native.schema, 1);
    assert.deepEqual(entries(native.positive), [[1, 1], [2, 2]]);
  });

  it("HistogramSeries.native() counts a power of two in the bucket it bounds, at every resolution", () => {
    // 2^e is the upper bound of bucket e·2^schema (of bucket e/16 at schema -4).
    for (const [factor, schema, value, key] of [[1.1, 3, 1024, 80], [2, 0, 1024, 10], [65536, -4, 65536, 1]] as const) {
      const { series } = nativeSeries({ bucketFactor: factor });
      series.observe(value);
      series.observe(value * (1 + Number.EPSILON)); // just above: the next bucket
      const native = series.native()!;
      assert.equal(native.schema, schema);
      assert.deepEqual(entries(native.positive), [[key, 1], [key + 1, 1]]);
    }
  });

  it("HistogramSeries.native() counts +Infinity in the bucket after Number.MAX_VALUE's, -Infinity likewise among the negative buckets", () => {
    const { series } = nativeSeries();
    for (const v of [Number.MAX_VALUE, Infinity, -Number.MAX_VALUE, -Infinity, -Infinity]) series.observe(v);
    const native = series.native()!;
    assert.equal(native.schema, 3);
    // MAX_VALUE is just under 2^1024: key 1024·8 at schema 3.
    assert.deepEqual(entries(native.positive), [[8192, 1], [8193, 1]]);
    assert.deepEqual(entries(native.negative), [[8192, 1], [8193, 2]]);
    assert.equal(native.count, 5);
    assert.ok(Number.isNaN(native.sum));
  });

  it("HistogramSeries.native() counts 0, -0, subnormals and the threshold itself in the zero bucket under the default zeroThreshold (2^-128)", () => {
    const { series } = nativeSeries();
    for (const v of [0, -0, 5e-324, -5e-324, 2.2e-308, 2 ** -128, -(2 ** -128), 2 ** -127]) series.observe(v);
    const native = series.native()!;
    assert.equal(native.zeroThreshold, 2.938735877055719e-39);
    assert.equal(native.zeroCount, 7);
    assert.deepEqual(entries(native.positive), [[-1016, 1]]); // 2^-127: key -127·8
    assert.equal(native.negative.size, 0);
  });

  it("HistogramSeries.native() with zeroThreshold 0 counts only zeros in the zero bucket and subnormals in their own buckets", () => {
    const { series } = nativeSeries({ zeroThreshold: 0, maxBuckets: 1000 });
    for (const v of [0, -0, 5e-324, 2.2e-308, -5e-324]) series.observe(v);
    const native = series.native()!;
    assert.equal(native.zeroCount, 2);
    // 5e-324 is 2^-1074: key -1074·8; 2.2e-308 is just under 2^-1022 (log2 ≈ -1022.016): key -8176.
    assert.deepEqual(entries(native.positive), [[-8592, 1], [-8176, 1]]);
    assert.deepEqual(entries(native.negative), [[-8592, 1]]);
  });

  it("HistogramSeries.observe() on a native histogram refuses NaN with a RangeError naming the metric, and a string with a TypeError", () => {
    const { series } = nativeSeries();
    series.observe(1);
    assert.throws(
      () => series.observe(NaN),
      (e: Error) => e instanceof RangeError && /"latency_seconds"/.test(e.message),
    );
    assert.throws(() => series.observe("2" as unknown as number), TypeError);
    assert.equal(series.count(), 1);
    assert.equal(series.sum(), 1);
    assert.deepEqual(entries(series.native()!.positive), [[0, 1]]);
  });

  it("HistogramSeries.native() with maxBuckets 20 and values over 12 orders of magnitude ends at the highest schema with ≤ 20 buckets, counts the schema-3 keys halved", () => {
    const { series } = nativeSeries({ maxBuckets: 20 });
    const values = Array.from({ length: 1001 }, (_, i) => 10 ** (-6 + (12 * i) / 1000));
    let sum = 0;
    for (const v of values) {
      series.observe(v);
      sum += v;
    }
    const native = series.native()!;
    const atStart = modelBuckets(values, 3, 2 ** -128);
    // 1e-6 … 1e6 is 2^-19.9 … 2^19.9: 40 buckets at schema 0, 20 at schema -1.
    assert.equal(clientGolangSchema(atStart, 3, 20), -1);
    assert.equal(native.schema, -1);
    assert.equal(native.positive.size, 20);
    assert.deepEqual(entries(native.positive), entries(halveBuckets(atStart, 4).positive));
    assert.equal(native.count, 1001);
    assert.equal(native.sum, sum);
  });

  it("HistogramSeries.native() with maxBuckets below 133 never counts an observation twice, even when +Infinity and subnormals force schema -4", () => {
    // At schema -4 the keys of all floats still span 133 buckets (2^-1074 → -67, +Inf → 65).
    const { series } = nativeSeries({ maxBuckets: 1, zeroThreshold: 0 });
    const values = [1, Infinity, 5e-324, 1e300, 1e-300, -Infinity, -1];
    for (const v of values) series.observe(v);
    const native = series.native()!;
    assert.equal(native.schema, -4);
    assert.deepEqual(entries(native.positive), [[-67, 1], [-62, 1], [0, 1], [63, 1], [65, 1]]);
    assert.deepEqual(entries(native.negative), [[0, 1], [65, 1]]);
    assert.equal(native.count, values.length);
  });

  it("HistogramSeries.observe() past minResetDuration starts the series again instead of halving: created moves, count 1, full resolution, classic buckets from zero", async () => {
    const { series, histogram } = nativeSeries({ maxBuckets: 4, minResetDuration: 40 }, [10]);
    const born = series.created;
    series.observe(1);
    series.observe(2);
    series.observe(1000); // within the duration: the resolution is halved (to 4 buckets: schema -2)
    assert.equal(series.native()!.schema, -2);
    assert.equal(series.count(), 3);
    await pause(60);
    series.observe(2); // an existing bucket: nothing to halve, no reset
    assert.equal(series.count(), 4);
    series.observe(1e6); // would need a lower resolution: the series starts again
    const native = series.native()!;
    assert.equal(native.schema, 3);
    assert.deepEqual(entries(native.positive), [[160, 1]]); // 1e6 ≈ 2^19.93: key 160 at schema 3
    assert.equal(native.count, 1);
    assert.equal(native.sum, 1e6);
    assert.deepEqual(histogram.get().buckets, [0, 1]);
    assert.ok(series.created >= born + 0.04, `created ${series.created} vs ${born}`);
    // Within the new duration, halving again rather than resetting.
    series.observe(1e-6);
    assert.equal(series.count(), 2);
    assert.ok(series.native()!.schema < 3);
  });

  it("Registry.histogram() with buckets and native keeps both: the text formats show the classic buckets, native() the sparse ones", () => {
    const { registry, series } = nativeSeries({}, [0.1, 1]);
    series.observe(0.05);
    series.observe(0.5);
    series.observe(5);
    const text = registry.render();
    assert.match(text, /latency_seconds_bucket\{le="0.1"\} 1\n/);
    assert.match(text, /latency_seconds_bucket\{le="1"\} 2\n/);
    assert.match(text, /latency_seconds_bucket\{le="\+Inf"\} 3\n/);
    assert.match(registry.render("openmetrics"), /latency_seconds_count 3\n/);
    const native = series.native()!;
    assert.equal(native.count, 3);
    assert.equal([...native.positive.values()].reduce((a, b) => a + b, 0), 3);
    // Classic buckets from 0 up: negative observations are refused.
    assert.throws(() => series.observe(-1), RangeError);
  });

  it("HistogramSeries.native() is undefined for a classic histogram", () => {
    const registry = new Registry();
    const series = registry.histogram({ name: "classic_seconds", help: "c" }).labels({});
    series.observe(1);
    assert.equal(series.native(), undefined);
  });
});

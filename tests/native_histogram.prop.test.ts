import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Registry } from "../mod.ts";
import type { NativeBuckets } from "../src/storage/native_buckets.ts";
import { bucketKey } from "../src/storage/native_buckets.ts";
import {
  clientGolangSchema,
  halveBuckets,
  type ModelBuckets,
  modelBuckets,
  modelKey,
  populated,
  ringSchema,
} from "./_native_model.ts";

// The model (tests/_native_model.ts) decides every key with exact integer arithmetic on the float's
// bits: it shares nothing with the implementation's fraction table.

/** A bucket factor that picks `schema`: 2^(2^-schema), nudged up past rounding. */
const factorFor = (schema: number): number => 2 ** (2 ** -schema) * (1 + 1e-9);

const view = new DataView(new ArrayBuffer(8));
/** The float `ulps` steps away from a positive float v. */
function stepUlps(v: number, ulps: number): number {
  view.setFloat64(0, v);
  view.setBigUint64(0, view.getBigUint64(0) + BigInt(ulps));
  return view.getFloat64(0);
}

const schemaArb = fc.integer({ min: -4, max: 8 });
/** Values of every kind the issue names, mixed. */
const valueArb = fc.oneof(
  // any double but NaN: ±0, subnormals, ±MAX_VALUE, ±Infinity included
  fc.double({ noNaN: true }),
  // latencies: log-uniform over 2^-40 … 2^40, either sign
  fc.tuple(fc.double({ min: -40, max: 40, noNaN: true }), fc.boolean()).map(([e, neg]) => (neg ? -1 : 1) * 2 ** e),
  // bucket boundaries 2^(k/2^s) of any schema, as Math.pow computes them, and their neighbours
  fc.tuple(
    fc.integer({ min: 0, max: 8 }),
    fc.integer({ min: -1000, max: 1000 }),
    fc.nat(),
    fc.integer({ min: -3, max: 3 }),
  )
    .map(([s, e, i, ulps]) => stepUlps(Math.pow(2, e + (i % 2 ** s) / 2 ** s), ulps)),
  // powers of two and their neighbours, subnormal ones included
  fc.tuple(fc.integer({ min: -1074, max: 1023 }), fc.integer({ min: -1, max: 1 }), fc.boolean())
    .map(([e, ulps, neg]) => (neg ? -1 : 1) * Math.max(Number.MIN_VALUE, stepUlps(2 ** e, e === -1074 ? 0 : ulps))),
  fc.constantFrom(
    5e-324,
    -5e-324,
    2.2e-308,
    -2.2e-308,
    2 ** -128,
    stepUlps(2 ** -128, 1),
    0,
    -0,
    Number.MAX_VALUE,
    -Number.MAX_VALUE,
    Infinity,
    -Infinity,
  ),
);
const thresholdArb = fc.constantFrom(0, 2 ** -128, 1e-300, 1e-3, 0.5);

function asArrays(b: ModelBuckets | NativeBuckets) {
  return { zeroCount: b.zeroCount, positive: [...b.positive], negative: [...b.negative] };
}

function nativeOf(schema: number, maxBuckets: number, zeroThreshold: number) {
  const registry = new Registry();
  const h = registry.histogram({
    name: "h_seconds",
    help: "h",
    native: { bucketFactor: factorFor(schema), maxBuckets, zeroThreshold },
  });
  return h.labels({});
}

describe("native histogram buckets against an exact model", () => {
  it("bucketKey() of 2^(i/2^s) (Math.pow) and its neighbours up to 3 ulps away equals the exact key, every schema", () => {
    const failures: string[] = [];
    for (let s = -4; s <= 8; s++) {
      const n = s > 0 ? 2 ** s : 1;
      for (const e of [-1, 0, 1, 37, -1040]) {
        for (let i = 0; i < n; i++) {
          const bound = Math.pow(2, e + i / n);
          for (let ulps = -3; ulps <= 3; ulps++) {
            const v = stepUlps(bound, ulps);
            const want = modelKey(v, s);
            const got = bucketKey(v, s);
            if (got !== want) failures.push(`schema ${s}: ${v} has key ${got}, want ${want}`);
          }
        }
      }
    }
    assert.deepEqual(failures.slice(0, 10), []);
  });

  it("bucketKey() of the powers of two, subnormal ones included, and of +Infinity equals the exact key", () => {
    for (let s = -4; s <= 8; s++) {
      for (let e = -1074; e <= 1023; e += e < -1060 || e > 1010 ? 1 : 7) {
        for (const v of [2 ** e, stepUlps(2 ** e, 1), e > -1074 ? stepUlps(2 ** e, -1) : 2 ** e]) {
          assert.equal(bucketKey(v, s), modelKey(v, s), `schema ${s}: ${v}`);
        }
      }
      assert.equal(bucketKey(Infinity, s), modelKey(Number.MAX_VALUE, s) + 1, `schema ${s}: +Inf`);
    }
  });

  it("HistogramSeries.native() counts any values (negatives, zeros, subnormals, boundaries, ±Inf) in the model's buckets", () => {
    fc.assert(
      fc.property(
        schemaArb,
        thresholdArb,
        fc.array(valueArb, { minLength: 1, maxLength: 60 }),
        (schema, zeroThreshold, values) => {
          const maxBuckets = 10_000;
          const series = nativeOf(schema, maxBuckets, zeroThreshold);
          assert.equal(series.native()!.schema, schema);
          for (const v of values) series.observe(v);
          const got = series.native()!;
          // Values over the whole float range are too wide for 10,000 buckets at a high schema.
          const atStart = modelBuckets(values, schema, zeroThreshold);
          assert.equal(got.schema, ringSchema([atStart], schema, maxBuckets));
          assert.deepEqual(asArrays(got), asArrays(modelBuckets(values, got.schema, zeroThreshold)));
          assert.deepEqual(asArrays(got), asArrays(halveBuckets(atStart, schema - got.schema)));
          assert.equal(got.count, values.length);
          assert.equal(got.zeroThreshold, zeroThreshold);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("HistogramSeries.observe() refuses NaN with a RangeError anywhere in a sequence, and records nothing for it", () => {
    fc.assert(
      fc.property(schemaArb, fc.array(valueArb, { maxLength: 20 }), fc.nat(), (schema, values, at) => {
        const series = nativeOf(schema, 160, 2 ** -128);
        const cut = at % (values.length + 1);
        for (const v of values.slice(0, cut)) series.observe(v);
        const before = JSON.stringify(asArrays(series.native()!));
        const sum = series.sum();
        assert.throws(() => series.observe(NaN), RangeError);
        assert.equal(JSON.stringify(asArrays(series.native()!)), before);
        assert.equal(series.count(), cut);
        assert.ok(Object.is(series.sum(), sum));
        for (const v of values.slice(cut)) series.observe(v);
        assert.equal(series.count(), values.length);
      }),
      { numRuns: 100 },
    );
  });

  it("HistogramSeries.native() past maxBuckets halves the resolution: ≤ maxBuckets populated, counts equal the model's keys halved, count and sum exact", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 8 }),
        fc.integer({ min: 1, max: 40 }),
        fc.tuple(fc.integer({ min: -60, max: 60 }), fc.integer({ min: 0, max: 60 })),
        fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.boolean()), {
          minLength: 1,
          maxLength: 300,
        }),
        (schema, maxBuckets, [lowest, orders], draws) => {
          const series = nativeOf(schema, maxBuckets, 2 ** -128);
          // Log-uniform over [2^lowest, 2^(lowest + orders)], either sign.
          const values = draws.map(([u, neg]) => (neg ? -1 : 1) * 2 ** (lowest + u * orders));
          let sum = 0;
          for (const v of values) {
            series.observe(v);
            sum += v;
          }
          const got = series.native()!;
          const atStart = modelBuckets(values, schema, 2 ** -128);
          assert.equal(got.schema, ringSchema([atStart], schema, maxBuckets));
          // Never coarser than needed by more than the ring's span rule, never finer than client_golang.
          assert.ok(got.schema <= clientGolangSchema(atStart, schema, maxBuckets));
          assert.ok(got.schema === -4 || got.positive.size + got.negative.size <= maxBuckets);
          const model = halveBuckets(atStart, schema - got.schema);
          assert.deepEqual(asArrays(got), asArrays(model));
          assert.ok(got.schema === -4 || populated(model) <= maxBuckets);
          assert.equal(got.count, values.length);
          assert.ok(Object.is(got.sum, sum));
        },
      ),
      { numRuns: 200 },
    );
  });
});

// A naive model of native histogram buckets, independent of src/storage/native_buckets.ts: it
// shares no code, no table and no method with it.
//
// Prometheus' definition: at schema s, bucket k holds the magnitudes in (2^((k-1)/2^s), 2^(k/2^s)],
// mirrored for negative values; a magnitude at most the zero threshold goes to the zero bucket.
// The model reads a finite float v > 0 as the exact product m·2^e of two integers (from its bits),
// so that, with n = 2^s,
//   v ≤ 2^(k/n)  ⇔  m^n ≤ 2^(k − e·n)        for s ≥ 0 (both sides raised to the power n)
//   v ≤ 2^(k·2^-s)  ⇔  m ≤ 2^(k·2^-s − e)   for s < 0
// — comparisons of integers, done exactly with BigInt. The key of v is the least k for which it
// holds: a float estimate of n·log2(v) to start from, then steps until both k and k − 1 are
// checked exactly. +Infinity takes the key of Number.MAX_VALUE plus one, as client_golang does.
// Halving the resolution maps key k to ceil(k / 2) (the wider bucket that holds bucket k), written
// here with Math.ceil.

const view = new DataView(new ArrayBuffer(8));

/** v = m · 2^e exactly, for a finite v > 0 (subnormals included). */
export function floatParts(v: number): [bigint, number] {
  view.setFloat64(0, v);
  const bits = view.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  return biased === 0 ? [fraction, -1074] : [fraction | (1n << 52n), biased - 1075];
}

/** Whether v ≤ 2^(k/2^s), decided exactly. */
export function atMostBound(v: number, k: number, schema: number): boolean {
  const [m, e] = floatParts(v);
  if (schema >= 0) {
    const n = 2 ** schema;
    const shift = k - e * n;
    return shift >= 0 && m ** BigInt(n) <= 1n << BigInt(shift);
  }
  const shift = k * 2 ** -schema - e;
  return shift >= 0 && m <= 1n << BigInt(shift);
}

/** The key of a magnitude v > 0 (finite or +Infinity) at a schema in -4..8. */
export function modelKey(v: number, schema: number): number {
  if (v === Infinity) return modelKey(Number.MAX_VALUE, schema) + 1;
  let k = Math.ceil(Math.log2(v) * 2 ** schema);
  while (!atMostBound(v, k, schema)) k++;
  while (atMostBound(v, k - 1, schema)) k--;
  return k + 0; // + 0: no -0
}

/** The key of the bucket that holds bucket `key` once the resolution is halved `times` times. */
export function halveKey(key: number, times: number): number {
  for (let i = 0; i < times; i++) key = Math.ceil(key / 2) + 0; // + 0: no -0
  return key;
}

/** Buckets as the model counts them. */
export interface ModelBuckets {
  zeroCount: number;
  positive: Map<number, number>;
  negative: Map<number, number>;
}

/** Counts every value into its bucket at `schema` (NaN is never given). */
export function modelBuckets(values: ArrayLike<number>, schema: number, zeroThreshold: number): ModelBuckets {
  const times = new Map<number, number>();
  for (let i = 0; i < values.length; i++) times.set(values[i]!, (times.get(values[i]!) ?? 0) + 1);
  return modelBucketsOf(times, schema, zeroThreshold);
}

/** Counts each distinct value (key) as many times as its count (value) into its bucket at `schema`. */
export function modelBucketsOf(
  times: ReadonlyMap<number, number>,
  schema: number,
  zeroThreshold: number,
): ModelBuckets {
  const out: ModelBuckets = { zeroCount: 0, positive: new Map(), negative: new Map() };
  for (const [v, count] of times) {
    if (Math.abs(v) <= zeroThreshold) {
      out.zeroCount += count;
      continue;
    }
    const side = v > 0 ? out.positive : out.negative;
    const key = modelKey(Math.abs(v), schema);
    side.set(key, (side.get(key) ?? 0) + count);
  }
  return sorted(out);
}

/** The same buckets at a resolution halved `times` times. */
export function halveBuckets(buckets: ModelBuckets, times: number): ModelBuckets {
  const out: ModelBuckets = { zeroCount: buckets.zeroCount, positive: new Map(), negative: new Map() };
  for (const side of ["positive", "negative"] as const) {
    for (const [key, count] of buckets[side]) {
      const wider = halveKey(key, times);
      out[side].set(wider, (out[side].get(wider) ?? 0) + count);
    }
  }
  return sorted(out);
}

function sorted(b: ModelBuckets): ModelBuckets {
  const byKey = (m: Map<number, number>) => new Map([...m].sort((x, y) => x[0] - y[0]));
  return { zeroCount: b.zeroCount, positive: byKey(b.positive), negative: byKey(b.negative) };
}

/** Populated buckets, both signs. */
export function populated(b: ModelBuckets): number {
  return b.positive.size + b.negative.size;
}

/** The widest span of keys (last − first + 1) of either sign. */
export function widestSpan(b: ModelBuckets): number {
  let widest = 0;
  for (const side of [b.positive, b.negative]) {
    if (side.size === 0) continue;
    const keys = [...side.keys()];
    widest = Math.max(widest, Math.max(...keys) - Math.min(...keys) + 1);
  }
  return widest;
}

/**
 * client_golang's schema for these buckets: it halves the resolution whenever more than
 * `maxBuckets` buckets are populated, so it ends at the highest schema (down to -4) where at most
 * that many are.
 */
export function clientGolangSchema(atStart: ModelBuckets, schema: number, maxBuckets: number): number {
  let s = schema;
  while (s > -4 && populated(halveBuckets(atStart, schema - s)) > maxBuckets) s--;
  return s;
}

/**
 * The schema this library ends at, for the values one thread recorded: each thread keeps a ring
 * of `maxBuckets` keys per sign, so it halves while the span of either sign's keys is wider than
 * that; collection then halves further while more than `maxBuckets` are populated (all threads
 * merged at the lowest schema among them: pass each thread's buckets).
 */
export function ringSchema(threads: readonly ModelBuckets[], schema: number, maxBuckets: number): number {
  let lowest = schema;
  for (const atStart of threads) {
    let s = schema;
    while (s > -4 && widestSpan(halveBuckets(atStart, schema - s)) > maxBuckets) s--;
    lowest = Math.min(lowest, s);
  }
  const merged = mergeBuckets(threads);
  while (lowest > -4 && populated(halveBuckets(merged, schema - lowest)) > maxBuckets) lowest--;
  return lowest;
}

/** Buckets of several threads, added. */
export function mergeBuckets(threads: readonly ModelBuckets[]): ModelBuckets {
  const out: ModelBuckets = { zeroCount: 0, positive: new Map(), negative: new Map() };
  for (const b of threads) {
    out.zeroCount += b.zeroCount;
    for (const side of ["positive", "negative"] as const) {
      for (const [key, count] of b[side]) out[side].set(key, (out[side].get(key) ?? 0) + count);
    }
  }
  return sorted(out);
}

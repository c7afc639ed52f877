/**
 * The sparse, exponential buckets of a native histogram, kept per thread in the thread's own
 * shard (a single writer, so plain stores), merged at collection.
 *
 * Bucket keys follow Prometheus' definition (the `schema` s: bucket `k` holds values in
 * `(2^((k-1)/2^s), 2^(k/2^s)]`, mirrored for negative values; values within `zeroThreshold`
 * of zero go to the zero bucket), computed as client_golang does: from the value's binary
 * exponent and fraction, with a search among the fraction bounds for positive schemas.
 *
 * Layout of a thread's block, in Float64 slots:
 *
 * ```
 * | version | schema+16 | zero | posLow | posHigh | negLow | negHigh | posUsed | negUsed | positive ring (W) | negative ring (W) |
 * ```
 *
 * Each sign keeps the buckets of keys `low..high` (at most W = maxBuckets of them) in a ring
 * indexed by `key mod W`, so a new key within the span costs a store, never a move. A key that
 * would stretch the span past W halves the resolution (schema - 1, keys halved rounding up,
 * buckets merged pairwise), as client_golang does when a histogram holds more buckets than
 * allowed. The version is odd while a thread rebuilds its block, so a reader retries.
 *
 * @module
 */

/** Float64 slots of the header of a thread's block. */
const VERSION = 0;
const SCHEMA = 1;
const ZERO = 2;
const POS_LOW = 3;
const POS_HIGH = 4;
const NEG_LOW = 5;
const NEG_HIGH = 6;
const POS_USED = 7;
const NEG_USED = 8;
const HEADER = 9;

/** Slots a native block takes for `maxBuckets` buckets per sign. */
export function nativeSlots(maxBuckets: number): number {
  return HEADER + 2 * maxBuckets;
}

/** The lowest and highest schema. */
export const MIN_SCHEMA = -4;
export const MAX_SCHEMA = 8;

/**
 * The schema for a bucket factor: the largest n in [-4, 8] with 2^(2^-n) ≤ factor
 * (client_golang's `pickSchema`).
 * @throws {RangeError} for a factor ≤ 1.
 */
export function pickSchema(bucketFactor: number): number {
  if (!(bucketFactor > 1)) throw new RangeError(`bucketFactor must be > 1, got ${bucketFactor}`);
  const floor = Math.floor(Math.log2(Math.log2(bucketFactor)));
  if (floor <= -8) return MAX_SCHEMA;
  if (floor >= 4) return MIN_SCHEMA;
  return 0 - floor; // not -floor, which is -0 for a floor of 0
}

/** Fraction bounds of each positive schema: 2^(i/2^s) / 2 for i in 0 … 2^s − 1. */
const BOUNDS: Float64Array[] = [];
for (let s = 1; s <= MAX_SCHEMA; s++) {
  const n = 1 << s;
  BOUNDS[s] = Float64Array.from({ length: n }, (_, i) => Math.pow(2, i / n) / 2);
}

const scratch = new Float64Array(1);
const scratchBits = new Uint32Array(scratch.buffer);
// The high word of a float64 is at index 1 on little-endian machines (all that run JS today).
const HIGH = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/**
 * The bucket key of a positive magnitude `v` (finite or +Infinity) at `schema`, as
 * client_golang computes it.
 */
export function bucketKey(v: number, schema: number): number {
  let inf = false;
  if (v === Infinity) {
    v = Number.MAX_VALUE;
    inf = true;
  }
  // frexp: v = frac × 2^exp with frac in [0.5, 1), read from the float's bits.
  scratch[0] = v;
  let biased = (scratchBits[HIGH]! >>> 20) & 0x7ff;
  let shift = 0;
  if (biased === 0) {
    // Subnormal: scale into the normal range first.
    scratch[0] = v * 2 ** 64;
    biased = (scratchBits[HIGH]! >>> 20) & 0x7ff;
    shift = 64;
  }
  const exp = biased - 1022 - shift;
  // With the exponent bits set to 1022 the float is the fraction, in [0.5, 1).
  scratchBits[HIGH] = (scratchBits[HIGH]! & 0x800fffff) | (1022 << 20);
  const frac = scratch[0]!;
  let key: number;
  if (schema > 0) {
    const bounds = BOUNDS[schema]!;
    // The number of bounds below frac (sort.SearchFloat64s: first index with bounds[i] >= frac).
    let lo = 0;
    let hi = bounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (bounds[mid]! < frac) lo = mid + 1;
      else hi = mid;
    }
    key = lo + (exp - 1) * bounds.length;
  } else {
    key = frac === 0.5 ? exp - 1 : exp;
    const offset = (1 << -schema) - 1;
    key = (key + offset) >> -schema;
  }
  return inf ? key + 1 : key;
}

/** Halves a key's resolution `times` times: the key of the wider bucket that holds it. */
export function reduceKey(key: number, times: number): number {
  for (let i = 0; i < times; i++) key = key > 0 ? (key + 1) >> 1 : -((-key) >> 1);
  return key;
}

/**
 * Records one observation into a thread's block at `at` of `f64` (the thread's own shard).
 * Hot path of a native histogram's `observe`: a key, a span check, one increment. Returns
 * false, recording nothing, when the buckets would need a lower resolution and `mayReset`:
 * the caller then resets the histogram.
 */
export function nativeObserve(
  f64: Float64Array,
  at: number,
  value: number,
  schema: number,
  zeroThreshold: number,
  width: number,
  mayReset: boolean,
): boolean {
  let s = f64[at + SCHEMA]!;
  if (s === 0) f64[at + SCHEMA] = s = schema + 16;
  s -= 16;
  const magnitude = value < 0 ? -value : value;
  if (magnitude <= zeroThreshold) {
    f64[at + ZERO]!++;
    return true;
  }
  const negative = value < 0;
  const low = at + (negative ? NEG_LOW : POS_LOW);
  const used = at + (negative ? NEG_USED : POS_USED);
  let key = bucketKey(magnitude, s);
  if (f64[used] === 0) {
    f64[low] = key;
    f64[low + 1] = key;
    f64[used] = 1;
  } else if (key < f64[low]! || key > f64[low + 1]!) {
    const from = Math.min(key, f64[low]!);
    const to = Math.max(key, f64[low + 1]!);
    if (to - from >= width) {
      // Past maxBuckets: the caller resets the histogram instead, when it may (minResetDuration).
      if (mayReset) return false;
      // Else halve the resolution until the span fits.
      s = reduce(f64, at, width, to, from);
      key = bucketKey(magnitude, s);
    }
    if (key < f64[low]!) f64[low] = key;
    if (key > f64[low + 1]!) f64[low + 1] = key;
  }
  const ring = at + HEADER + (negative ? width : 0);
  f64[ring + (((key % width) + width) % width)]!++;
  return true;
}

/** Lowers a block's schema until a span from `from` to `to` (current keys) fits; returns the new schema. */
function reduce(f64: Float64Array, at: number, width: number, to: number, from: number): number {
  let schema = f64[at + SCHEMA]! - 16;
  let times = 0;
  while (schema - times > MIN_SCHEMA && reduceKey(to, times) - reduceKey(from, times) >= width) times++;
  if (times === 0) return schema;
  // A reader that sees an odd version retries: the block is being rebuilt.
  f64[at + VERSION]!++;
  for (const negative of [false, true]) {
    const low = at + (negative ? NEG_LOW : POS_LOW);
    if (f64[at + (negative ? NEG_USED : POS_USED)] === 0) continue;
    const ring = at + HEADER + (negative ? width : 0);
    const buckets = new Map<number, number>();
    for (let key = f64[low]!; key <= f64[low + 1]!; key++) {
      const slot = ring + (((key % width) + width) % width);
      const count = f64[slot]!;
      if (count !== 0) {
        const wider = reduceKey(key, times);
        buckets.set(wider, (buckets.get(wider) ?? 0) + count);
      }
      f64[slot] = 0;
    }
    f64[low] = reduceKey(f64[low]!, times);
    f64[low + 1] = reduceKey(f64[low + 1]!, times);
    for (const [key, count] of buckets) f64[ring + (((key % width) + width) % width)] = count;
  }
  schema -= times;
  f64[at + SCHEMA] = schema + 16;
  f64[at + VERSION]!++;
  return schema;
}

/** A native histogram as collected: every thread's buckets merged at one schema. */
export interface NativeBuckets {
  /** The schema of the merged buckets (the lowest any thread had, lower still past maxBuckets). */
  schema: number;
  /** Observations in the zero bucket. */
  zeroCount: number;
  /** Positive buckets: key to count, keys ascending. */
  positive: Map<number, number>;
  /** Negative buckets (by the key of the magnitude): key to count, keys ascending. */
  negative: Map<number, number>;
}

/**
 * Merges the blocks of every thread (read with `read(thread)`, undefined for a thread that
 * never recorded) at the lowest schema among them, then lowers it further while more than
 * `maxBuckets` buckets are populated.
 */
export function mergeNative(
  blocks: readonly (Float64Array | undefined)[],
  at: number,
  width: number,
  schema: number,
  maxBuckets: number,
): NativeBuckets {
  const copies: Float64Array[] = [];
  for (const block of blocks) {
    if (block === undefined || at + HEADER + 2 * width > block.length) continue;
    // A consistent copy: retry while the writer rebuilds (odd version) or rebuilt meanwhile.
    for (let attempt = 0; attempt < 100; attempt++) {
      const version = block[at + VERSION]!;
      if (version % 2 === 1) continue;
      const copy = block.slice(at, at + HEADER + 2 * width);
      if (block[at + VERSION] === version) {
        copies.push(copy);
        break;
      }
    }
  }
  let lowest = schema;
  for (const copy of copies) if (copy[SCHEMA]! !== 0) lowest = Math.min(lowest, copy[SCHEMA]! - 16);
  const out: NativeBuckets = { schema: lowest, zeroCount: 0, positive: new Map(), negative: new Map() };
  for (const copy of copies) {
    out.zeroCount += copy[ZERO]!;
    if (copy[SCHEMA] === 0) continue;
    const times = copy[SCHEMA]! - 16 - lowest;
    for (const negative of [false, true]) {
      if (copy[negative ? NEG_USED : POS_USED] === 0) continue;
      const into = negative ? out.negative : out.positive;
      const ring = HEADER + (negative ? width : 0);
      const low = copy[negative ? NEG_LOW : POS_LOW]!;
      const high = copy[negative ? NEG_HIGH : POS_HIGH]!;
      for (let key = low; key <= high; key++) {
        const count = copy[ring + (((key % width) + width) % width)]!;
        if (count === 0) continue;
        const wider = reduceKey(key, times);
        into.set(wider, (into.get(wider) ?? 0) + count);
      }
    }
  }
  while (out.positive.size + out.negative.size > maxBuckets && out.schema > MIN_SCHEMA) {
    out.schema--;
    for (const side of ["positive", "negative"] as const) {
      const wider = new Map<number, number>();
      for (const [key, count] of out[side]) {
        const k = reduceKey(key, 1);
        wider.set(k, (wider.get(k) ?? 0) + count);
      }
      out[side] = wider;
    }
  }
  for (const side of ["positive", "negative"] as const) {
    out[side] = new Map([...out[side]].sort((a, b) => a[0] - b[0]));
  }
  return out;
}

/**
 * Spans and deltas of sparse buckets as Prometheus' protobuf carries them: each span an
 * offset from the end of the previous one and a length; gaps of one or two empty buckets are
 * filled rather than starting a span (as client_golang does); the counts as deltas.
 */
export function spansOf(buckets: Map<number, number>): { spans: [number, number][]; deltas: number[] } {
  const spans: [number, number][] = [];
  const deltas: number[] = [];
  let previous = 0;
  let next = 0;
  let first = true;
  for (const [key, count] of buckets) {
    const gap = key - next;
    if (first || gap > 2) {
      spans.push([gap, 0]);
    } else {
      for (let i = 0; i < gap; i++) {
        spans[spans.length - 1]![1]++;
        deltas.push(-previous);
        previous = 0;
      }
    }
    spans[spans.length - 1]![1]++;
    deltas.push(count - previous);
    previous = count;
    next = key + 1;
    first = false;
  }
  return { spans, deltas };
}

/**
 * The sliding-window quantile sketch of a summary series, in shared memory.
 *
 * Observations fall into logarithmic bins whose edges grow by 2% (a relative accuracy
 * of 1%), mirrored for negative values, with one bin for values within 1e-9 of zero.
 * Bins are counters, so any thread adds to them with `Atomics.add` and sketches merge
 * by addition. The window is `ageBuckets` rotating sets of bins; a quantile reads the
 * sets younger than `maxAgeSeconds` and interpolates by rank inside the bin it lands in.
 *
 * Layout in Int32 words, per age bucket: `[epoch, bins...]`.
 *
 * @module
 */

const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
const MIN = 1e-9;
/** Bins per sign: enough to reach 1e9 from 1e-9; larger values share the last bin. */
const PER_SIGN = Math.ceil(Math.log(1e9 / MIN) / LOG_GROWTH) + 1;
/** Bins per age bucket: negative bins, the zero bin, positive bins. */
export const SKETCH_BINS: number = 2 * PER_SIGN + 1;
const ZERO = PER_SIGN;

/** Int32 words one sketch takes. */
export function sketchWords(ageBuckets: number): number {
  return ageBuckets * (SKETCH_BINS + 1);
}

/** The bin of a value. */
export function binOf(value: number): number {
  const magnitude = Math.abs(value);
  if (magnitude <= MIN) return ZERO;
  let k = Math.ceil(Math.log(magnitude / MIN) / LOG_GROWTH);
  if (k < 1) k = 1;
  else if (k > PER_SIGN) k = PER_SIGN;
  return value > 0 ? ZERO + k : ZERO - k;
}

/** Lower and upper edge of a bin. */
function edges(bin: number): [number, number] {
  if (bin === ZERO) return [0, 0];
  const k = Math.abs(bin - ZERO);
  const low = MIN * Math.pow(GROWTH, k - 1);
  const high = MIN * Math.pow(GROWTH, k);
  return bin > ZERO ? [low, high] : [-high, -low];
}

/** Parameters a sketch is read and written with. */
export interface SketchWindow {
  /** Age buckets in the window. */
  ageBuckets: number;
  /** Length of one age bucket in ms. */
  bucketMs: number;
  /** Time origin shared by all threads, ms since the epoch. */
  origin: number;
}

/** The current age-bucket epoch (1-based so that 0 means "never used"). */
export function epochAt(window: SketchWindow, now: number): number {
  return Math.floor((now - window.origin) / window.bucketMs) + 1;
}

/**
 * Records one value. `base` is the Int32 index of the sketch.
 * Hot path of `Summary.observe`: two atomic adds and, once per age bucket, a reset.
 */
export function sketchAdd(i32: Int32Array, base: number, window: SketchWindow, value: number, now: number): void {
  const epoch = epochAt(window, now);
  const at = base + (epoch % window.ageBuckets) * (SKETCH_BINS + 1);
  const seen = Atomics.load(i32, at);
  if (seen !== epoch) {
    // The age bucket holds an older window: the thread that wins the swap clears it.
    if (seen < epoch && Atomics.compareExchange(i32, at, seen, epoch) === seen) {
      i32.fill(0, at + 1, at + 1 + SKETCH_BINS);
    }
  }
  Atomics.add(i32, at + 1 + binOf(value), 1);
}

/** Computes quantiles over the age buckets still in the window. NaN when empty. */
export function sketchQuantiles(
  i32: Int32Array,
  base: number,
  window: SketchWindow,
  quantiles: readonly number[],
  now: number,
): number[] {
  const epoch = epochAt(window, now);
  const merged = new Float64Array(SKETCH_BINS);
  let total = 0;
  for (let b = 0; b < window.ageBuckets; b++) {
    const at = base + b * (SKETCH_BINS + 1);
    const seen = Atomics.load(i32, at);
    if (seen === 0 || seen <= epoch - window.ageBuckets || seen > epoch) continue;
    for (let i = 0; i < SKETCH_BINS; i++) {
      const c = i32[at + 1 + i]!;
      if (c !== 0) {
        merged[i]! += c;
        total += c;
      }
    }
  }
  return quantiles.map((q) => {
    if (total === 0) return NaN;
    const rank = q * total;
    let below = 0;
    for (let i = 0; i < SKETCH_BINS; i++) {
      const c = merged[i]!;
      if (c === 0) continue;
      if (below + c >= rank) {
        const [low, high] = edges(i);
        const fraction = c === 0 ? 0 : Math.min(1, Math.max(0, (rank - below) / c));
        return low + (high - low) * fraction;
      }
      below += c;
    }
    return edges(SKETCH_BINS - 1)[1];
  });
}

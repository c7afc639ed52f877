/**
 * The sliding-window quantile sketch of a summary series, in shared memory.
 *
 * Observations fall into logarithmic bins whose edges grow by 2% (a relative accuracy of
 * 1%), mirrored for negative values, with one bin for values within 1e-9 of zero. There are
 * 4,187 such bins from -1e9 to 1e9 (larger values and infinities share the outermost ones),
 * far more than a series uses at once, so an age bucket keeps only a window of 369
 * consecutive bins that follows the data, at one of five scales: scale `s` merges 2^s
 * neighbouring bins into one (bins 2%, 4%, 8%, 17% and 37% wide). The whole range fits at
 * scale 4, so every value has a bin.
 *
 * When a value falls outside the window, the thread that takes the age bucket's lock moves
 * the window, taking the first of these that loses little:
 * - shift it at the same scale, if every counted bin still fits;
 * - keep the highest values resolved and fold the lowest bins into the new lowest bin (as
 *   DDSketch does), if that bin then holds at most 1/256 of the bucket's count: high
 *   quantiles keep their accuracy and a few low outliers cost little rank;
 * - otherwise coarsen by one scale and try again.
 * Rank error stays small across many decades because coarsening keeps every part of the
 * distribution; the relative error is 1% while a bucket's data spans less than about 3.2
 * decades, and doubles with each coarsening. Each bucket also keeps its lowest and highest
 * value (to 0.03%), which bound the interpolation in the partly filled outermost bins.
 *
 * Layout in Int32 words, per age bucket (376 words, so 5 age buckets take 7,520 bytes):
 *
 * ```
 * | epoch | lock | layout | zero | lowest | highest | pending | bin 0 | bin 1 | ... | bin 368 |
 * ```
 * - epoch: the age bucket's epoch stamp (0 = never used; negated while it is being cleared);
 * - lock: a counter, odd while a thread moves the window; readers use it as a sequence lock;
 * - layout: 0 until the first value, then the window's lowest bin key and scale, packed;
 *   negated while the bins are being moved;
 * - zero: the count of values within 1e-9 of zero;
 * - lowest, highest: the extreme values seen, as biased sub-bin keys (0 = none yet);
 * - pending: values counted without a bin because the thread relocating the bins stalled;
 * - bins: counts of the window's bins, lowest first.
 *
 * Concurrency: the common path reads the epoch, the extremes and the layout with plain loads
 * and makes one `Atomics.add` (an `Atomics.load` costs several ns on Node 20; a stale plain
 * read is the same race as a move right after it). A value outside the window takes the
 * lock, and the holder decides the move, marks the layout as moving, takes the counts of
 * moved bins with `Atomics.exchange`, adds them to their new bins and publishes the new
 * layout; threads that meet the lock or the mark wait for it (a bounded spin, then the value
 * goes to the window's nearest bin, or is counted as pending). So a count is never lost; one added under the old layout by a thread that read
 * it just before the mark may land in a moved bin, which a sketch can afford. A new epoch
 * clears an age bucket; a thread that meets the clearing waits for it, and takes it over if the clearer
 * stalls for 50 ms.
 *
 * @module
 */

const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
const INV_LOG_GROWTH = 1 / LOG_GROWTH;
const MIN = 1e-9;
const LOG_MIN = Math.log(MIN);
/** Bins per sign at scale 0: enough to reach 1e9 from 1e-9; larger values share the last bin. */
const TOP = Math.ceil(Math.log(1e9 / MIN) / LOG_GROWTH);
/** At this scale the whole range fits in the window. */
const MAX_SCALE = 4;

const EPOCH = 0;
const LOCK = 1;
const LAYOUT = 2;
const ZERO = 3;
const LOWEST = 4;
const HIGHEST = 5;
const PENDING = 6;
const HEADER = 7;
/** Int32 words per age bucket. */
const BUCKET_WORDS = 376;
/** The extremes are kept 64 times finer than the bins (0.03%), as signed "sub-keys". */
const SUB_SHIFT = 6;
const SUBS_PER_LOG = (1 << SUB_SHIFT) * INV_LOG_GROWTH;
const TOP_SUB = TOP << SUB_SHIFT;
/** Keeps the extreme sub-keys positive in their words, so that 0 means "none yet". */
const SUB_BIAS = TOP_SUB + 1;
/** Bins in an age bucket's window. */
export const SKETCH_BINS: number = BUCKET_WORDS - HEADER;
/** Keeps a window's lowest key positive when packed into the layout word. */
const LO_BIAS = 1 << 13;
/** Epoch stamps wrap at 2^30 so that they fit in an Int32 word (and their negatives too). */
const STAMP_MASK = (1 << 30) - 1;
/** Share of a bucket's count that may be folded into its lowest bin before the window coarsens. */
const FOLD_SHARE = 1 / 256;
/**
 * Loads a thread spends waiting for another to finish clearing an age bucket or moving its
 * window (tens of µs; either takes a few µs unless the thread doing it is descheduled or gone).
 */
const SPIN_LIMIT = 1 << 15;
/**
 * How long a thread waits for another that clears an age bucket before it clears the bucket
 * itself (milliseconds): longer than a scheduler's time slice on a busy machine, short enough
 * that a thread gone mid-clear holds no recording thread up for long.
 */
const TAKEOVER_MS = 50;

/** Int32 words one sketch takes: 376 per age bucket. */
export function sketchWords(ageBuckets: number): number {
  return ageBuckets * BUCKET_WORDS;
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

/** The Int32 index of the age bucket an epoch writes to. */
function bucketAt(base: number, window: SketchWindow, epoch: number): number {
  let index = epoch % window.ageBuckets;
  if (index < 0) index += window.ageBuckets;
  return base + index * BUCKET_WORDS;
}

/** The stamp an epoch leaves in its age bucket: in [1, 2^30], never 0. */
function stampOf(epoch: number): number {
  return (epoch & STAMP_MASK) + 1;
}

/** How many epochs `stamp` is older than `current` (modulo the wrap). */
function stampAge(current: number, stamp: number): number {
  return (current - stamp) & STAMP_MASK;
}

/** The signed sub-key of a value: 0 within MIN of zero; Infinity takes the top one. */
function subKeyOf(value: number): number {
  const magnitude = value < 0 ? -value : value;
  if (!(magnitude > MIN)) return 0;
  let sub = Math.ceil((Math.log(magnitude) - LOG_MIN) * SUBS_PER_LOG);
  sub = sub > TOP_SUB ? TOP_SUB : sub < 1 ? 1 : sub;
  return value < 0 ? -sub : sub;
}

/** The lowest (`upper` false) or highest value a sub-key stands for. */
function subKeyValue(sub: number, upper: boolean): number {
  if (sub === 0) return 0;
  const magnitude = sub < 0 ? -sub : sub;
  const edge = Math.exp(LOG_MIN + (upper === sub > 0 ? magnitude : magnitude - 1) * LOG_GROWTH / (1 << SUB_SHIFT));
  return sub < 0 ? -edge : edge;
}

/** A signed scale-0 key (negative for negative values) at a coarser scale: bins nest. */
function rescale(key: number, by: number): number {
  return key < 0 ? -((-key + (1 << by) - 1) >> by) : (key + (1 << by) - 1) >> by;
}

/** The highest key at a scale. */
function topKey(scale: number): number {
  return rescale(TOP, scale);
}

function packLayout(lowest: number, scale: number): number {
  return ((lowest + LO_BIAS) << 3 | scale) + 1;
}

/**
 * Records one value. `base` is the Int32 index of the sketch.
 * Hot path of `Summary.observe`: four plain loads and one atomic add, unless the value falls
 * outside the window, is a new extreme or the age bucket is new.
 */
export function sketchAdd(i32: Int32Array, base: number, window: SketchWindow, value: number, now: number): void {
  const epoch = epochAt(window, now);
  const at = bucketAt(base, window, epoch);
  const stamp = stampOf(epoch);
  // The epoch word only ever moves from an old stamp to this one's negation (clearing) to this
  // stamp, so reading this stamp, even with a plain load, means the clearing is done.
  if (i32[at + EPOCH] !== stamp && !enterBucket(i32, at, stamp)) return;
  const sub = subKeyOf(value);
  // The extremes bound the interpolation in the edge bins. Plain reads suffice to see that a
  // value is no new extreme; a stale read only sends the thread to the atomic update.
  if (sub + SUB_BIAS > i32[at + HIGHEST]!) raise(i32, at + HIGHEST, sub + SUB_BIAS);
  if (SUB_BIAS - sub > i32[at + LOWEST]!) raise(i32, at + LOWEST, SUB_BIAS - sub);
  if (sub === 0) {
    Atomics.add(i32, at + ZERO, 1);
    return;
  }
  // A plain read: a layout that is stale by a move is the same race as one that moves right after.
  const layout = i32[at + LAYOUT]! - 1;
  if (layout >= 0) {
    // Sub-keys nest in scale-0 keys as these nest in coarser ones.
    const offset = rescale(sub, SUB_SHIFT + (layout & 7)) - ((layout >> 3) - LO_BIAS);
    if (offset >= 0 && offset < SKETCH_BINS) {
      Atomics.add(i32, at + HEADER + offset, 1);
      return;
    }
  }
  addOutside(i32, at, rescale(sub, SUB_SHIFT));
}

/** Raises the word at `at` to `value` unless it holds more already. */
function raise(i32: Int32Array, at: number, value: number): void {
  let seen = Atomics.load(i32, at);
  while (value > seen) {
    const was = Atomics.compareExchange(i32, at, seen, value);
    if (was === seen) return;
    seen = was;
  }
}

/**
 * Makes the age bucket at `at` ready for `stamp`; false only when a newer epoch is being cleared
 * and that does not finish within the wait (this thread's clock lags; the value is then not
 * recorded in the sketch: the count and sum kept elsewhere stay exact). A thread that meets
 * another clearing the bucket for this epoch waits for it; if the clearer stalls for
 * {@linkcode TAKEOVER_MS} (descheduled on a busy machine, or gone), the waiter clears the bucket
 * itself and goes on, so no value is dropped for a slow clearer and no thread waits for long.
 */
function enterBucket(i32: Int32Array, at: number, stamp: number): boolean {
  let waitingSince = -1;
  for (let spin = 1;; spin++) {
    const seen = Atomics.load(i32, at + EPOCH);
    if (seen === stamp) return true;
    const seenStamp = seen < 0 ? -seen : seen;
    const age = stampAge(stamp, seenStamp);
    // A newer epoch already holds the bucket: this thread's clock lags by a hair; count the value there.
    if (seen > 0 && age > STAMP_MASK >> 1) return true;
    if (seen < 0 && (age === 0 || age > STAMP_MASK >> 1)) {
      // Someone is clearing it for this epoch or a newer one: wait for them, looking at the
      // clock now and then (a clear takes a few µs unless the clearer is descheduled).
      if (spin % SPIN_LIMIT !== 0) continue;
      const now = performance.now();
      if (waitingSince < 0) waitingSince = now;
      if (now - waitingSince < TAKEOVER_MS) continue;
      if (age !== 0) return false;
      // The clearer stalled: take the clearing over (the same zeroes, then publish the stamp).
      clearBucket(i32, at, stamp);
      return true;
    }
    // Unused or older (or stuck clearing for an older epoch): the thread that wins the swap clears it.
    if (Atomics.compareExchange(i32, at + EPOCH, seen, -stamp) !== seen) continue;
    clearBucket(i32, at, stamp);
    return true;
  }
}

/** Zeroes an age bucket marked as being cleared for `stamp` (`-stamp`), then publishes `stamp`. */
function clearBucket(i32: Int32Array, at: number, stamp: number): void {
  Atomics.store(i32, at + LAYOUT, 0);
  Atomics.store(i32, at + ZERO, 0);
  Atomics.store(i32, at + LOWEST, 0);
  Atomics.store(i32, at + HIGHEST, 0);
  Atomics.store(i32, at + PENDING, 0);
  for (let i = 0; i < SKETCH_BINS; i++) Atomics.store(i32, at + HEADER + i, 0);
  // A mover of the old epoch that stalled holding the lock must not keep this epoch from moving.
  const lock = Atomics.load(i32, at + LOCK);
  if ((lock & 1) === 1) Atomics.compareExchange(i32, at + LOCK, lock, lock + 1);
  Atomics.compareExchange(i32, at + EPOCH, -stamp, stamp);
}

/** Records a value whose bin is outside the window (or before there is one, or during a move). */
function addOutside(i32: Int32Array, at: number, key: number): void {
  for (let spins = SPIN_LIMIT; spins > 0; spins--) {
    const layout = Atomics.load(i32, at + LAYOUT);
    if (layout < 0) {
      // Another thread moves the window: bins are being relocated, so wait for the new layout.
      for (; spins > 0 && Atomics.load(i32, at + LAYOUT) === layout; spins--) {
        // wait
      }
      continue;
    }
    if (layout === 0) {
      // The bucket's first value: centre the window on it. No counts move, so a swap is enough.
      const from = Math.max(-TOP, Math.min(key - (SKETCH_BINS >> 1), TOP - SKETCH_BINS + 1));
      if (Atomics.compareExchange(i32, at + LAYOUT, 0, packLayout(from, 0)) === 0) {
        Atomics.add(i32, at + HEADER + key - from, 1);
        return;
      }
      continue;
    }
    const offset = rescale(key, (layout - 1) & 7) - (((layout - 1) >> 3) - LO_BIAS);
    if (offset >= 0 && offset < SKETCH_BINS) {
      Atomics.add(i32, at + HEADER + offset, 1);
      return;
    }
    const lock = Atomics.load(i32, at + LOCK);
    if ((lock & 1) === 0 && Atomics.compareExchange(i32, at + LOCK, lock, lock + 1) === lock) {
      const moved = moveWindow(i32, at, layout, key);
      // Fails harmlessly when a new epoch released the lock meanwhile.
      Atomics.compareExchange(i32, at + LOCK, lock + 1, lock + 2);
      if (moved) return;
      continue;
    }
    // Another thread is deciding how to move the window: give it a moment, then look again.
    for (; spins > 0 && Atomics.load(i32, at + LOCK) === lock; spins--) {
      // wait
    }
  }
  // The thread moving the window stalls (descheduled, or gone). Rather than wait longer: a
  // value outside a window that still stands goes to its nearest bin, on the right side of
  // every value inside; during the relocation of bins, the value is counted without a place,
  // and quantiles leave it out.
  const layout = Atomics.load(i32, at + LAYOUT) - 1;
  if (layout < 0) {
    Atomics.add(i32, at + PENDING, 1);
    return;
  }
  const offset = rescale(key, layout & 7) - ((layout >> 3) - LO_BIAS);
  Atomics.add(i32, at + HEADER + (offset < 0 ? 0 : offset >= SKETCH_BINS ? SKETCH_BINS - 1 : offset), 1);
}

/** Bin counts the lock holder works on: one thread moves a window at a time per isolate. */
const scratch = new Float64Array(SKETCH_BINS);

/**
 * Moves the window (under the age bucket's lock) so that `key` has a bin, and records it.
 * False when the layout changed before the lock was taken or a new epoch cleared the bucket
 * (look again).
 */
function moveWindow(i32: Int32Array, at: number, layout: number, key: number): boolean {
  if (Atomics.load(i32, at + LAYOUT) !== layout) return false;
  const scale = (layout - 1) & 7;
  const lowest = ((layout - 1) >> 3) - LO_BIAS;
  let total = 1 + (Atomics.load(i32, at + ZERO) >>> 0);
  let first = -1;
  let last = -1;
  for (let i = 0; i < SKETCH_BINS; i++) {
    const count = Atomics.load(i32, at + HEADER + i) >>> 0;
    scratch[i] = count;
    if (count !== 0) {
      total += count;
      if (first < 0) first = i;
      last = i;
    }
  }
  const foldable = total * FOLD_SHARE;
  let next = packLayout(-topKey(MAX_SCALE), MAX_SCALE);
  for (let s = scale; s <= MAX_SCALE; s++) {
    const target = rescale(key, s);
    // Rescaling is monotonic: the first and last counted bins bound the others.
    const low = first < 0 ? target : Math.min(target, rescale(lowest + first, s - scale));
    const high = first < 0 ? target : Math.max(target, rescale(lowest + last, s - scale));
    if (high - low < SKETCH_BINS) {
      // Everything fits: centre it, leaving room on both sides, without running past the range.
      const top = topKey(s);
      let from = low - ((SKETCH_BINS - (high - low + 1)) >> 1);
      from = Math.max(-top, Math.min(from, top - SKETCH_BINS + 1));
      next = packLayout(from, s);
      break;
    }
    // Keep the highest bin; what falls below the window folds into its lowest bin, unless that
    // would show negative values as positive ones.
    const from = high - SKETCH_BINS + 1;
    if (from > 0 && low < 0) continue;
    let folded = target <= from ? 1 : 0;
    for (let i = first; i <= last && rescale(lowest + i, s - scale) <= from; i++) folded += scratch[i]!;
    if (folded <= foldable) {
      next = packLayout(from, s);
      break;
    }
  }
  if (next === layout) {
    // The window stays: the value folds into its lowest bin.
    Atomics.add(i32, at + HEADER, 1);
    return true;
  }
  // Mark the layout as moving (negated): adders that meet the mark wait for the new layout.
  // A new epoch may have cleared the bucket meanwhile.
  if (Atomics.compareExchange(i32, at + LAYOUT, layout, -layout) !== layout) return false;
  const nextScale = (next - 1) & 7;
  const nextLowest = ((next - 1) >> 3) - LO_BIAS;
  const place = (oldKey: number): number => {
    const offset = rescale(oldKey, nextScale - scale) - nextLowest;
    return offset < 0 ? 0 : offset >= SKETCH_BINS ? SKETCH_BINS - 1 : offset;
  };
  // Take every moving count before adding any, since a bin may be both a source and a target.
  for (let i = 0; i < SKETCH_BINS; i++) {
    scratch[i] = place(lowest + i) === i || Atomics.load(i32, at + HEADER + i) === 0
      ? 0
      : Atomics.exchange(i32, at + HEADER + i, 0) >>> 0;
  }
  for (let i = 0; i < SKETCH_BINS; i++) {
    if (scratch[i] !== 0) Atomics.add(i32, at + HEADER + place(lowest + i), scratch[i]!);
  }
  Atomics.add(i32, at + HEADER + place(rescale(key, scale)), 1);
  Atomics.compareExchange(i32, at + LAYOUT, -layout, next);
  return true;
}

/** Scale-0 bins of the merged view: negative bins, the zero bin, positive bins. */
const FINE_BINS = 2 * TOP + 1;

/** Upper edges of the scale-0 magnitude bins: bin j holds magnitudes in (EDGE[j-1], EDGE[j]]. */
const EDGE = Float64Array.from({ length: TOP + 1 }, (_, j) => MIN * Math.pow(GROWTH, j));

/** Lower and upper edge of a scale-0 bin of the merged view. */
function edges(bin: number): [number, number] {
  if (bin === TOP) return [0, 0];
  const k = Math.abs(bin - TOP);
  return bin > TOP ? [EDGE[k - 1]!, EDGE[k]!] : [-EDGE[k]!, -EDGE[k - 1]!];
}

/**
 * Adds the count of a bin of the given key and scale to the merged scale-0 view. The count is
 * spread over the bin's scale-0 bins as if uniform over the part of the bin between the
 * bucket's lowest and highest values, which keeps the linear interpolation across it.
 */
function spread(bins: Float64Array, key: number, scale: number, count: number, lowest: number, highest: number): void {
  const magnitude = key < 0 ? -key : key;
  const from = ((magnitude - 1) << scale) + 1;
  const to = Math.min(magnitude << scale, TOP);
  if (from > to) return;
  const sign = key < 0 ? -1 : 1;
  let low = key < 0 ? -EDGE[to]! : EDGE[from - 1]!;
  let high = key < 0 ? -EDGE[from - 1]! : EDGE[to]!;
  // Values beyond the extremes are none: the part that holds values is what counts.
  if (Math.max(low, lowest) < Math.min(high, highest)) {
    low = Math.max(low, lowest);
    high = Math.min(high, highest);
  }
  const width = high - low;
  for (let j = from; j <= to; j++) {
    const a = sign < 0 ? -EDGE[j]! : EDGE[j - 1]!;
    const b = sign < 0 ? -EDGE[j - 1]! : EDGE[j]!;
    const overlap = Math.min(b, high) - Math.max(a, low);
    if (overlap > 0) bins[TOP + sign * j]! += count * overlap / width;
  }
}

/** A copy of one age bucket's words, read consistently with the lock word as a sequence lock. */
function readBucket(i32: Int32Array, at: number, into: Int32Array): void {
  for (let attempt = 0; attempt < 64; attempt++) {
    const before = Atomics.load(i32, at + LOCK);
    const epoch = Atomics.load(i32, at + EPOCH);
    into.set(i32.subarray(at, at + BUCKET_WORDS));
    // Settled: no move in flight, none finished meanwhile, and no clearing started.
    if ((before & 1) === 0 && Atomics.load(i32, at + LOCK) === before && Atomics.load(i32, at + EPOCH) === epoch) {
      return;
    }
  }
  // A move stalled: use what is there rather than make a render wait.
}

/** The age buckets still in the window, merged into scale-0 bins. */
interface Merged {
  /** Counts of the scale-0 bins, spread from coarser ones. */
  bins: Float64Array;
  /** Observations in the bins. */
  total: number;
  /** Observations counted without a bin (they met a stalled move). */
  pending: number;
  /** Bounds of the values seen (to 0.03%); lowest > highest when unknown. */
  lowest: number;
  highest: number;
}

function merge(i32: Int32Array, base: number, window: SketchWindow, now: number): Merged {
  const current = stampOf(epochAt(window, now));
  const merged: Merged = {
    bins: new Float64Array(FINE_BINS),
    total: 0,
    pending: 0,
    lowest: Infinity,
    highest: -Infinity,
  };
  const words = new Int32Array(BUCKET_WORDS);
  for (let b = 0; b < window.ageBuckets; b++) {
    readBucket(i32, base + b * BUCKET_WORDS, words);
    const seen = words[EPOCH]!;
    if (seen <= 0 || stampAge(current, seen) >= window.ageBuckets) continue;
    // A count may come a moment before its extreme is raised: then this bucket's bins are not cut.
    const lowestSub = words[LOWEST] === 0 ? -TOP_SUB : SUB_BIAS - words[LOWEST]!;
    const highestSub = words[HIGHEST] === 0 ? TOP_SUB : words[HIGHEST]! - SUB_BIAS;
    if (words[LOWEST] !== 0) merged.lowest = Math.min(merged.lowest, subKeyValue(lowestSub, false));
    if (words[HIGHEST] !== 0) merged.highest = Math.max(merged.highest, subKeyValue(highestSub, true));
    const zero = words[ZERO]! >>> 0;
    merged.bins[TOP]! += zero;
    merged.total += zero;
    merged.pending += words[PENDING]! >>> 0;
    // A move that stalled (a thread gone mid-way) leaves its old layout negated: read by it.
    const layout = Math.abs(words[LAYOUT]!) - 1;
    if (layout < 0) continue;
    const scale = layout & 7;
    const lowest = (layout >> 3) - LO_BIAS;
    const lowestValue = subKeyValue(lowestSub, false);
    const highestValue = subKeyValue(highestSub, true);
    for (let i = 0; i < SKETCH_BINS; i++) {
      const count = words[HEADER + i]! >>> 0;
      if (count === 0) continue;
      // Key 0 has no values of its own; a count that raced a move may sit there: call it zero.
      if (lowest + i === 0) merged.bins[TOP]! += count;
      else spread(merged.bins, lowest + i, scale, count, lowestValue, highestValue);
      merged.total += count;
    }
  }
  return merged;
}

/** Observations the sketch holds over the age buckets still in the window. */
export function sketchCount(i32: Int32Array, base: number, window: SketchWindow, now: number): number {
  const merged = merge(i32, base, window, now);
  return merged.total + merged.pending;
}

/** Computes quantiles over the age buckets still in the window. NaN when empty. */
export function sketchQuantiles(
  i32: Int32Array,
  base: number,
  window: SketchWindow,
  quantiles: readonly number[],
  now: number,
): number[] {
  const { bins, total, lowest, highest } = merge(i32, base, window, now);
  const result = quantiles.map(() => NaN);
  if (total === 0) return result;
  // The bins holding the lowest and highest values are cut to them: uniform data fills them only in part.
  const cut = (edge: number): number => lowest > highest ? edge : Math.min(highest, Math.max(lowest, edge));
  // One walk over the bins answers every quantile, taken in increasing order.
  const order = quantiles.map((_, k) => k).sort((a, b) => quantiles[a]! - quantiles[b]!);
  let next = 0;
  let below = 0;
  let last = TOP;
  for (let i = 0; i < FINE_BINS && next < order.length; i++) {
    const c = bins[i]!;
    if (c === 0) continue;
    while (next < order.length && below + c >= quantiles[order[next]!]! * total) {
      const [low, high] = edges(i);
      const fraction = Math.min(1, Math.max(0, (quantiles[order[next]!]! * total - below) / c));
      result[order[next++]!] = cut(low) + (cut(high) - cut(low)) * fraction;
    }
    below += c;
    last = i;
  }
  // Spread counts are fractions: their sum may fall short of the total by a rounding error.
  for (; next < order.length; next++) result[order[next]!] = cut(edges(last)[1]);
  return result;
}

/**
 * The sparse, exponential buckets of a native histogram, kept per thread in the thread's own
 * shard (a single writer, so plain stores), merged at collection.
 *
 * Bucket keys follow Prometheus' definition (the `schema` s: bucket `k` holds values in
 * `(2^((k-1)/2^s), 2^(k/2^s)]`, mirrored for negative values; values within `zeroThreshold`
 * of zero go to the zero bucket), computed as client_golang does, from the value's binary
 * exponent and fraction; for positive schemas the fraction is placed among bounds rounded down
 * to floats, so that every key is exact (client_golang's own table is a few ulps off, so the
 * two can differ for values within 3 ulps of a boundary).
 *
 * Layout of a thread's block, in Float64 slots:
 *
 * ```
 * | version | schema+16 | zero | posLow | posHigh | negLow | negHigh | posUsed | negUsed | positive ring (W) | negative ring (W) |
 * ```
 *
 * Each sign keeps the buckets of keys `low..high` in a ring of W slots indexed by `key mod W`,
 * so a new key within the span costs a store, never a move. A key that would stretch the span
 * past maxBuckets halves the resolution (schema - 1, keys halved rounding up, buckets merged
 * pairwise), as client_golang does when a histogram holds more buckets than allowed. At the
 * lowest schema (-4) the keys of all floats still span 133 buckets, which a smaller maxBuckets
 * cannot halve away (client_golang then keeps more than maxBuckets too): W is maxBuckets, or 133
 * when that is less, so that no two keys of a span ever share a slot. The version is odd while a
 * thread rebuilds its block, so a reader retries.
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

/**
 * Keys one sign spans at the lowest schema, from the least subnormal (2^-1074, key -67) to
 * +Infinity (key 65): a ring this wide holds any span at schema -4.
 */
const WIDEST_SPAN = 133;

/** Slots of a ring for `maxBuckets`: never fewer than the widest span at the lowest schema. */
function ringWidth(maxBuckets: number): number {
  return maxBuckets < WIDEST_SPAN ? WIDEST_SPAN : maxBuckets;
}

/** The slot of a key in a ring of `width`: key mod width, from 0. */
function slotOf(key: number, width: number): number {
  const slot = key % width;
  return slot < 0 ? slot + width : slot;
}

/** Slots a native block takes for `maxBuckets` buckets per sign. */
export function nativeSlots(maxBuckets: number): number {
  return HEADER + 2 * ringWidth(maxBuckets);
}

/** The lowest and highest schema. */
export const MIN_SCHEMA = -4;
export const MAX_SCHEMA = 8;

/**
 * The schema for a bucket factor: the lowest n in [-4, 8] with 2^(2^-n) ≤ factor, i.e. the
 * widest buckets not wider than the factor (client_golang's `pickSchema`).
 * @throws {RangeError} for a factor ≤ 1.
 */
export function pickSchema(bucketFactor: number): number {
  if (!(bucketFactor > 1)) throw new RangeError(`bucketFactor must be > 1, got ${bucketFactor}`);
  const floor = Math.floor(Math.log2(Math.log2(bucketFactor)));
  if (floor <= -8) return MAX_SCHEMA;
  if (floor >= 4) return MIN_SCHEMA;
  return 0 - floor; // not -floor, which is -0 for a floor of 0
}

/**
 * 2^(i/256) / 2 for i in 0 … 255, each the largest float64 not above it: a fraction f (a float)
 * is then at most a bound exactly when it is at most the real 2^(i/256) / 2, so every key is
 * Prometheus' to the last bit. (`Math.pow` rounds about half of them up, which put values just
 * above a bucket's upper bound into it; client_golang's table, built by repeated products, is
 * up to 3 ulps off either way.) Checked against exact arithmetic by the tests.
 */
// deno-fmt-ignore
const FRACTION_BOUNDS = [
  0.5, 0.5013556375251011, 0.5027149505564014, 0.5040779490592087,
  0.5054446430258501, 0.5068150424757447, 0.5081891574554764, 0.509566998038869,
  0.5109485743270583, 0.5123338964485677, 0.5137229745593818, 0.5151158188430205,
  0.5165124395106142, 0.5179128468009785, 0.5193170509806894, 0.520725062344158,
  0.5221368912137069, 0.5235525479396449, 0.5249720429003436, 0.5263953865023131,
  0.5278225891802786, 0.5292536613972563, 0.5306886136446309, 0.5321274564422322,
  0.5335702003384117, 0.5350168559101208, 0.5364674337629877, 0.5379219445313954,
  0.5393803988785598, 0.5408428074966075, 0.5423091811066546, 0.5437795304588848,
  0.5452538663326287, 0.5467321995364429, 0.5482145409081883, 0.549700901315111,
  0.5511912916539204, 0.5526857228508706, 0.5541842058618393, 0.5556867516724088,
  0.5571933712979462, 0.5587040757836845, 0.5602188762048033, 0.5617377836665098,
  0.5632608093041209, 0.564787964283144, 0.5663192597993596, 0.5678547070789027,
  0.5693943173783458, 0.5709381019847808, 0.5724860722159021, 0.5740382394200895,
  0.5755946149764913, 0.577155210295108, 0.5787200368168754, 0.5802891060137493,
  0.5818624293887887, 0.5834400184762407, 0.585021884841625, 0.5866080400818185,
  0.5881984958251406, 0.5897932637314379, 0.5913923554921705, 0.5929957828304968,
  0.5946035575013605, 0.5962156912915756, 0.5978321960199137, 0.5994530835371902,
  0.6010783657263515, 0.6027080545025618, 0.6043421618132907, 0.6059806996384005,
  0.6076236799902344, 0.6092711149137041, 0.6109230164863787, 0.6125793968185727,
  0.6142402680534349, 0.6159056423670379, 0.6175755319684666, 0.6192499490999083,
  0.620928906036742, 0.6226124150876289, 0.6243004885946023, 0.6259931389331581,
  0.6276903785123454, 0.6293922197748582, 0.6310986751971253, 0.6328097572894031,
  0.6345254785958666, 0.6362458516947013, 0.637970889198196, 0.6397006037528346,
  0.6414350080393891, 0.6431741147730127, 0.6449179367033329, 0.6466664866145446,
  0.6484197773255048, 0.6501778216898253, 0.6519406325959679, 0.6537082229673385,
  0.6554806057623821, 0.6572577939746773, 0.6590398006330319, 0.6608266388015787,
  0.6626183215798706, 0.6644148621029772, 0.6662162735415806, 0.6680225691020728,
  0.6698337620266515, 0.6716498655934175, 0.6734708931164729, 0.6752968579460171,
  0.6771277734684463, 0.6789636531064505, 0.6808045103191124, 0.6826503586020058,
  0.6845012114872953, 0.6863570825438341, 0.688217985377265, 0.690083933630119,
  0.6919549409819159, 0.6938310211492645, 0.695712187885963, 0.6975984549831,
  0.6994898362691555, 0.7013863456101023, 0.7032879969095077, 0.7051948041086353,
  0.7071067811865475, 0.7090239421602076, 0.7109463010845827, 0.7128738720527471,
  0.7148066691959849, 0.7167447066838943, 0.7186879987244911, 0.7206365595643128,
  0.7225904034885232, 0.7245495448210174, 0.7265139979245262, 0.7284837772007219,
  0.7304588970903234, 0.7324393720732029, 0.7344252166684909, 0.7364164454346838,
  0.7384130729697496, 0.7404151139112358, 0.7424225829363762, 0.7444354947621985,
  0.7464538641456324, 0.7484777058836176, 0.7505070348132127, 0.7525418658117032,
  0.7545822137967113, 0.7566280937263049, 0.7586795205991073, 0.7607365094544072,
  0.7627990753722691, 0.7648672334736435, 0.766940998920478, 0.7690203869158284,
  0.7711054127039704, 0.7731960915705107, 0.7752924388424999, 0.7773944698885442,
  0.7795022001189185, 0.7816156449856788, 0.7837348199827764, 0.7858597406461706,
  0.7879904225539431, 0.7901268813264122, 0.7922691326262468, 0.7944171921585819,
  0.7965710756711334, 0.7987307989543135, 0.8008963778413466, 0.8030678282083854,
  0.8052451659746271, 0.8074284071024302, 0.8096175675974319, 0.8118126635086643,
  0.8140137109286738, 0.8162207259936375, 0.8184337248834822, 0.820652723822003,
  0.8228777390769824, 0.8251087869603089, 0.8273458838280972, 0.829589046080808,
  0.8318382901633682, 0.8340936325652912, 0.8363550898207982, 0.8386226785089392,
  0.8408964152537145, 0.8431763167241966, 0.8454623996346525, 0.8477546807446663,
  0.8500531768592616, 0.8523579048290255, 0.8546688815502314, 0.856986123964963,
  0.8593096490612389, 0.8616394738731369, 0.8639756154809187, 0.8663180910111554,
  0.8686669176368531, 0.8710221125775781, 0.8733836930995844, 0.875751676515939,
  0.8781260801866497, 0.8805069215187918, 0.8828942179666364, 0.8852879870317774,
  0.8876882462632606, 0.8900950132577121, 0.8925083056594675, 0.8949281411607004,
  0.8973545375015536, 0.8997875124702674, 0.9022270839033119, 0.9046732696855159,
  0.9071260877501993, 0.9095855560793042, 0.9120516927035266, 0.9145245157024486,
  0.9170040432046712, 0.9194902933879469, 0.9219832844793129, 0.9244830347552254,
  0.9269895625416927, 0.9295028862144101, 0.9320230241988945, 0.9345499949706192,
  0.9370838170551499, 0.93962450902828, 0.9421720895161672, 0.9447265771954695,
  0.9472879907934828, 0.9498563490882775, 0.9524316709088371, 0.9550139751351948,
  0.9576032806985736, 0.9601996065815237, 0.9628029718180624, 0.9654133954938136,
  0.9680308967461472, 0.9706554947643201, 0.9732872087896166, 0.975926058115489,
  0.9785720620877001, 0.9812252401044637, 0.9838856116165878, 0.986553196127617,
  0.9892280131939755, 0.9919100824251096, 0.9945994234836332, 0.9972960560854701,
];

/**
 * Per schema s ≥ 0 (0 is never looked up: it keeps the array packed): the 52 fraction bits of each
 * bound 2^(i/2^s) / 2 (every 2^(8−s)-th of the above) as an integer-valued double, then +Infinity.
 */
const BOUND_BITS: Float64Array[] = [];
/**
 * Per positive schema s: for each of the 2^(s+1) equal slices of [0.5, 1) that the top s + 1
 * fraction bits pick, how many bounds lie below the slice. Bounds are further apart (at least
 * ln2/2^(s+1)) than slices are wide (1/2^(s+2)), so a slice holds at most one bound.
 */
const BELOW: Uint16Array[] = [];
for (let s = 0; s <= MAX_SCHEMA; s++) {
  const n = 1 << s;
  const bits = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) bits[i] = (2 * FRACTION_BOUNDS[i << (MAX_SCHEMA - s)]! - 1) * 2 ** 52;
  bits[n] = Infinity;
  const below = new Uint16Array(2 * n);
  for (let slice = 0, count = 0; slice < 2 * n; slice++) {
    while (count < n && bits[count]! < slice * 2 ** (51 - s)) count++;
    below[slice] = count;
  }
  BOUND_BITS.push(bits);
  BELOW.push(below);
}

const scratch = new Float64Array(1);
const scratchBits = new Uint32Array(scratch.buffer);
// The high word of a float64 is at index 1 on little-endian machines (all that run JS today).
const HIGH = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
const LOW = 1 - HIGH;

/**
 * The bucket key of a positive magnitude `v` (finite or +Infinity) at `schema`: the least k
 * with v ≤ 2^(k/2^schema), exactly; +Infinity takes the key of Number.MAX_VALUE plus one, as
 * in client_golang.
 */
export function bucketKey(v: number, schema: number): number {
  // frexp: v = frac × 2^exp with frac in [0.5, 1), read from the float's bits.
  scratch[0] = v;
  const high = scratchBits[HIGH]!;
  const biased = (high >>> 20) & 0x7ff;
  // Subnormals and +Infinity out of line: this is the hot path of every observe, kept small
  // enough for the engines to inline it.
  if (biased === 0 || biased === 0x7ff) return unusualKey(v, schema);
  return keyOf(biased - 1022, high & 0xfffff, scratchBits[LOW]!, schema);
}

/**
 * The key of frac × 2^exp, frac in [0.5, 1) given by its 52 fraction bits: the top 20 (`top`)
 * and the low 32 (`low`).
 */
function keyOf(exp: number, top: number, low: number, schema: number): number {
  if (schema > 0) {
    // How many bounds lie below frac (client_golang's sort.SearchFloat64s): those below its
    // slice, plus the one in the slice if frac is above it. One lookup and one comparison.
    const below = BELOW[schema]![top >>> (19 - schema)]!;
    return below + (top * 4294967296 + low > BOUND_BITS[schema]![below]! ? 1 : 0) + ((exp - 1) << schema);
  }
  const key = top === 0 && low === 0 ? exp - 1 : exp; // frac 0.5: v is a power of two, the bound itself
  return (key + (1 << -schema) - 1) >> -schema;
}

/** The key of a subnormal magnitude, or of +Infinity (Number.MAX_VALUE's plus one). */
function unusualKey(v: number, schema: number): number {
  if (v === Infinity) return keyOf(1024, 0xfffff, 0xffffffff, schema) + 1;
  // Scaled into the normal range by a power of two (exact), then read as any other.
  scratch[0] = v * 2 ** 64;
  const high = scratchBits[HIGH]!;
  return keyOf(((high >>> 20) & 0x7ff) - 1022 - 64, high & 0xfffff, scratchBits[LOW]!, schema);
}

/** Halves a key's resolution `times` times: the key of the wider bucket that holds it. */
export function reduceKey(key: number, times: number): number {
  for (let i = 0; i < times; i++) key = key > 0 ? (key + 1) >> 1 : -((-key) >> 1);
  return key;
}

/**
 * Records one observation into a thread's block at `at` of `f64` (the thread's own shard).
 * Hot path of a native histogram's `observe`: a key, a span check, one increment; a key
 * outside the span goes the long way (`observeOutside`). Returns false, recording nothing,
 * when the buckets would need a lower resolution and the time `resetAfter` (ms) has come: the caller then resets the
 * histogram.
 */
export function nativeObserve(
  f64: Float64Array,
  at: number,
  value: number,
  schema: number,
  zeroThreshold: number,
  maxBuckets: number,
  resetAfter: number,
): boolean {
  const magnitude = value < 0 ? -value : value;
  if (magnitude <= zeroThreshold) {
    f64[at + ZERO]!++;
    return true;
  }
  const negative = value < 0;
  const low = at + (negative ? NEG_LOW : POS_LOW);
  // The schema slot holds schema + 16, 0 until the first bucket: then -16 here, never a key's.
  const key = bucketKey(magnitude, f64[at + SCHEMA]! - 16);
  if (f64[at + (negative ? NEG_USED : POS_USED)] === 0 || key < f64[low]! || key > f64[low + 1]!) {
    return observeOutside(f64, at, magnitude, negative, schema, maxBuckets, resetAfter);
  }
  const width = maxBuckets < WIDEST_SPAN ? WIDEST_SPAN : maxBuckets; // ringWidth(), inlined
  let slot = key % width; // slotOf(), inlined
  if (slot < 0) slot += width;
  f64[at + HEADER + (negative ? width : 0) + slot]!++;
  return true;
}

/**
 * The long way of `nativeObserve()`: the block's first bucket, or a key outside the span of its
 * sign, which stretches the span or, past maxBuckets, halves the resolution (or asks for a reset).
 */
function observeOutside(
  f64: Float64Array,
  at: number,
  magnitude: number,
  negative: boolean,
  schema: number,
  maxBuckets: number,
  resetAfter: number,
): boolean {
  // Only here, off the hot path, is the clock read: may the histogram reset instead of halving?
  const mayReset = resetAfter !== Infinity && Date.now() >= resetAfter;
  let s = f64[at + SCHEMA]!;
  if (s === 0) f64[at + SCHEMA] = s = schema + 16;
  s -= 16;
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
    if (to - from >= maxBuckets) {
      // Past maxBuckets: the caller resets the histogram instead, when it may (minResetDuration).
      if (mayReset) return false;
      // Else halve the resolution until the span fits.
      s = reduce(f64, at, maxBuckets, to, from);
      key = bucketKey(magnitude, s);
    }
    if (key < f64[low]!) f64[low] = key;
    if (key > f64[low + 1]!) f64[low + 1] = key;
  }
  const width = ringWidth(maxBuckets);
  f64[at + HEADER + (negative ? width : 0) + slotOf(key, width)]!++;
  return true;
}

/** Lowers a block's schema until a span from `from` to `to` (current keys) fits; returns the new schema. */
function reduce(f64: Float64Array, at: number, maxBuckets: number, to: number, from: number): number {
  let schema = f64[at + SCHEMA]! - 16;
  let times = 0;
  while (schema - times > MIN_SCHEMA && reduceKey(to, times) - reduceKey(from, times) >= maxBuckets) times++;
  if (times === 0) return schema;
  const width = ringWidth(maxBuckets);
  // A reader that sees an odd version retries: the block is being rebuilt.
  f64[at + VERSION]!++;
  for (const negative of [false, true]) {
    const low = at + (negative ? NEG_LOW : POS_LOW);
    if (f64[at + (negative ? NEG_USED : POS_USED)] === 0) continue;
    const ring = at + HEADER + (negative ? width : 0);
    const buckets = new Map<number, number>();
    for (let key = f64[low]!; key <= f64[low + 1]!; key++) {
      const slot = ring + slotOf(key, width);
      const count = f64[slot]!;
      if (count !== 0) {
        const wider = reduceKey(key, times);
        buckets.set(wider, (buckets.get(wider) ?? 0) + count);
      }
      f64[slot] = 0;
    }
    f64[low] = reduceKey(f64[low]!, times);
    f64[low + 1] = reduceKey(f64[low + 1]!, times);
    for (const [key, count] of buckets) f64[ring + slotOf(key, width)] = count;
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
 * Merges the blocks of every thread (each thread's shard, undefined for a thread that never
 * recorded; the block at `at`, laid out for `blockBuckets` as `nativeSlots()` takes it) at the
 * lowest schema among them, then lowers it further while more than `maxBuckets` buckets are
 * populated.
 */
export function mergeNative(
  blocks: readonly (Float64Array | undefined)[],
  at: number,
  blockBuckets: number,
  schema: number,
  maxBuckets: number,
): NativeBuckets {
  const width = ringWidth(blockBuckets);
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
        const count = copy[ring + slotOf(key, width)]!;
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

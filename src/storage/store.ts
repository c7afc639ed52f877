/**
 * The shared-memory store behind a registry: buffers that grow with the series created,
 * a table of series whose rows are reused after removal, and the lock that guards every
 * change. See `docs/design/storage.md` for the picture.
 *
 * Buffers (SharedArrayBuffers where the runtime has them, else ArrayBuffers; all but the
 * control block growable, reserving address space and committing only what is used):
 *
 * - control: the lock, counters and epochs, allocator heads, the bitmap of released
 *   shards, and a ring of recent removals (fixed, 64 KiB).
 * - metrics: an append-only log of metric definitions and metric removals.
 * - table: one row per series id: state (generation and liveness), metric, slot offsets,
 *   where its label values are, its hash, the bitmap of threads that use it, and the
 *   fingerprint and time of its last change (for expiry).
 * - labels: label values of every series as UTF-16 code units, in blocks of power-of-two
 *   sizes with a free list per size.
 * - index: an open-addressing hash table from (metric, label values) to series id.
 * - shared: slots every thread updates with Atomics (gauge clocks, summary sketches).
 * - shards: one per thread. A series owns the same offset in every shard; a thread writes
 *   only its own shard (single writer: a plain `+=`), and a render sums the shards. A
 *   thread grows its own shard when it first uses a series past its end; a render reads
 *   past the end of another thread's shard as zeros.
 *
 * Every change of the series set (create, find for a thread, remove, free) happens under
 * the lock. A removed series' memory is reused only after every thread that used it has
 * let it go: each thread clears its slots and its bit at its next sync, so a handle a
 * thread still holds never writes into another series.
 *
 * @module
 */

/** Int32 word indexes of the control block. */
export const LOCK = 0;
export const METRIC_LOG_LENGTH = 1;
export const THREADS = 2;
/** Live series, not counting overflow and self-metric series. */
export const SERIES = 3;
export const LOCK_STEALS = 4;
export const MAX_SERIES = 5;
export const LAYOUT_VERSION = 6;
/** Bumped by every removal; a thread that sees it change processes the removal ring. */
export const REMOVALS = 7;
/** Bumped by every creation or removal; a render that sees it change rescans the table. */
export const CHANGES = 8;
/** Next never-used series id. */
const TABLE_HIGH = 9;
/** Head (+1) of the list of series ids whose metric was removed (no slots kept). */
const ORPHAN_IDS = 10;
const SHARD_USED = 11;
const SHARED_USED = 12;
const LABELS_USED = 13;
const INDEX_CAPACITY = 14;
/** Live entries plus tombstones. */
const INDEX_USED = 15;
const INDEX_LIVE = 16;
/** Monotonic count of series ever created, for creation order. */
const BORN = 17;
/** Heads (+1) of the label blocks' free lists: one per power of two, 2^3 to 2^26 units. */
const LABEL_FREE = 32;
const LABEL_CLASSES = 24;
/** Bitmap of shards released by `detach()`, free for the next `attach()` (1024 bits). */
const RELEASED = 64;
/** Float64 index of the creation time (ms since the epoch). */
const CREATED_F64 = 64;
/** Int32 index where the removal ring starts: pairs (id, generation). */
const RING = 1024;
/** Entries in the removal ring; a thread further behind rescans what it uses. */
export const RING_SIZE = 4096;
/** Int32 index where the ring of recent creations starts: row ids. */
const CREATION_RING = RING + 2 * RING_SIZE;
/** Monotonic count of series created, the creations ring's head. */
export const CREATIONS = 18;
const CONTROL_BYTES = (RING + 3 * RING_SIZE) * 4;
const VERSION = 3;

/** How long a waiter lets one owner hold the registry lock before it takes the lock over. */
const LOCK_STEAL_MS = 2000;

/** Series table row, in Int32 words. */
export const ROW_STATE = 0;
export const ROW_METRIC = 1;
export const ROW_SHARD = 2;
export const ROW_SHARED = 3;
export const ROW_LABELS = 4;
export const ROW_LABELS_LENGTH = 5;
export const ROW_HASH = 6;
export const ROW_NEXT = 7;
export const ROW_FLAGS = 8;
export const ROW_FOLD = 9;
export const ROW_BORN = 10;
/** Where the series' label set is, encoded for the text formats (UTF-8 bytes in the label store). */
export const ROW_TEXT = 11;
export const ROW_TEXT_LENGTH = 12;
export const ROW_BITS = 14;
/** Flag of an overflow series. */
export const FLAG_OVERFLOW = 1;

/** Sizes and limits of a store, fixed when it is created. */
export interface StoreLayout {
  /** Largest number of live series before new label sets fold into overflow series. */
  maxSeries: number;
  /** Number of shards: the most threads that can record at once. */
  maxThreads: number;
  /** Bytes each growable buffer may grow to (address space reserved, not memory). */
  maxBytes: number;
  /** Bytes the metrics log may grow to. */
  journalBytes: number;
}

/**
 * What `Registry.share()` hands to another thread: the buffers and the layout. It is
 * structured-cloneable, so it goes through `postMessage` or `workerData` as is.
 */
export interface StoreHandle {
  /** Marks the object as a registry handle. */
  readonly kind: "atomic-metrics/registry";
  /** The layout version; `attach` refuses a handle from an incompatible version. */
  readonly version: number;
  /** The control block. */
  readonly control: SharedArrayBuffer;
  /** The metrics log, series table, label store, index and shared slots. */
  readonly buffers: readonly SharedArrayBuffer[];
  /** One buffer per thread. */
  readonly shards: readonly SharedArrayBuffer[];
  /** The sizes. */
  readonly layout: StoreLayout;
}

type AnyBuffer = SharedArrayBuffer | ArrayBuffer;

const hasSharedMemory: boolean = typeof SharedArrayBuffer === "function";

/** Whether `buffer` is shared memory (false, never a ReferenceError, where the runtime has none). */
function isShared(buffer: unknown): buffer is SharedArrayBuffer {
  return hasSharedMemory && buffer instanceof SharedArrayBuffer;
}
/** Whether this thread may block in Atomics.wait (not on a browser's main thread; learnt on first try). */
let waitAllowed: boolean = hasSharedMemory && typeof Atomics.wait === "function";

type Growable = new (length: number, options: { maxByteLength: number }) => AnyBuffer;

/** A buffer of `start` bytes that may grow to `max` (fixed at `max` where buffers cannot grow). */
function growableBuffer(shared: boolean, start: number, max: number): AnyBuffer {
  // ES2024 growable buffers; the lib types this build checks against predate them.
  const Buffer = (shared ? SharedArrayBuffer : ArrayBuffer) as unknown as Growable;
  const buffer = new Buffer(start, { maxByteLength: max });
  if (canGrow(buffer)) return buffer;
  // A runtime without growable buffers ignores maxByteLength: take a fixed size now.
  return shared ? new SharedArrayBuffer(Math.min(max, 1 << 26)) : new ArrayBuffer(Math.min(max, 1 << 26));
}

function canGrow(buffer: AnyBuffer): boolean {
  const b = buffer as { growable?: boolean; resizable?: boolean };
  return b.growable === true || b.resizable === true;
}

/** Grows a buffer to at least `bytes` (doubling, from at least 4 KiB); false when it cannot. */
function growTo(buffer: AnyBuffer, bytes: number): boolean {
  if (buffer.byteLength >= bytes) return true;
  const b = buffer as {
    grow?: (n: number) => void;
    resize?: (n: number) => void;
    growable?: boolean;
    maxByteLength?: number;
  };
  const max = b.maxByteLength ?? buffer.byteLength;
  if (bytes > max) return false;
  const next = Math.min(max, Math.max(bytes, buffer.byteLength * 2, 4096));
  try {
    if (b.growable === true) b.grow!(next);
    else if ((buffer as { resizable?: boolean }).resizable === true) b.resize!(next);
    else return false;
  } catch {
    return false; // out of memory: the caller folds or reports, never a crash
  }
  return true;
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** Which of the store's growable buffers. */
const METRICS = 0;
const TABLE = 1;
const LABELS = 2;
const INDEX = 3;
const SHARED = 4;

/** The hash of a metric id and label values (FNV-1a over UTF-16 code units and lengths). */
export function labelHash(metric: number, values: readonly string[]): number {
  let h = 0x811c9dc5 ^ metric;
  h = Math.imul(h, 0x01000193);
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    h = Math.imul(h ^ value.length, 0x01000193);
    for (let j = 0; j < value.length; j++) h = Math.imul(h ^ value.charCodeAt(j), 0x01000193);
  }
  // 0 and -1 mark empty and deleted index entries.
  return h === 0 || h === -1 ? 1 : h;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A metric's record in the metrics log. */
export interface MetricRecord {
  /** "m" for a definition, "x" for a removal. */
  t: "m" | "x";
  /** Metric id. */
  id: number;
  /** The definition (for "m"). */
  d?: unknown;
}

/**
 * One thread's view of the store: typed arrays over the buffers, this thread's shard,
 * and the lock, allocation and table operations. Every method here is a cold path.
 */
export class Store {
  /** The sizes. */
  readonly layout: StoreLayout;
  /** The control block. */
  readonly control: AnyBuffer;
  /** The control block as Int32 words. */
  readonly i32: Int32Array;
  /** The growable buffers: metrics log, table, labels, index, shared slots. */
  readonly buffers: AnyBuffer[];
  /** One buffer per thread (undefined until shared). */
  readonly shards: (AnyBuffer | undefined)[];
  /** This thread's shard number. */
  readonly thread: number;
  /** Words in a table row. */
  readonly rowWords: number;
  /**
   * True once more than one thread may write: then gauges and sketches use Atomics.
   * Before `share()`, a registry is private to its thread and takes the plain path.
   */
  threaded: boolean;
  /** The REMOVALS epoch this thread has processed. */
  seenRemovals = 0;
  /** Fixed-length views of the growable buffers, remade when a buffer grew. */
  private views: (Int32Array | undefined)[] = [];
  private f64Views: (Float64Array | undefined)[] = [];
  private u16View: Uint16Array | undefined;
  private u8View: Uint8Array | undefined;
  private shardViews: (Float64Array | undefined)[] = [];

  private constructor(
    control: AnyBuffer,
    buffers: AnyBuffer[],
    shards: (AnyBuffer | undefined)[],
    layout: StoreLayout,
    thread: number,
    threaded: boolean,
  ) {
    this.control = control;
    this.i32 = new Int32Array(control);
    this.buffers = buffers;
    this.shards = shards;
    this.layout = layout;
    this.thread = thread;
    this.threaded = threaded;
    // Then three Float64: the fingerprint and time of the last change (expiry), the time of birth.
    this.rowWords = align(ROW_BITS + Math.ceil(layout.maxThreads / 32), 2) + 6;
  }

  /** Creates a fresh store; shared memory where the runtime has it. */
  static create(layout: StoreLayout): Store {
    const shared = hasSharedMemory;
    if (!shared) layout = { ...layout, maxThreads: 1 };
    const control = shared ? new SharedArrayBuffer(CONTROL_BYTES) : new ArrayBuffer(CONTROL_BYTES);
    const max = layout.maxBytes;
    const buffers = [
      growableBuffer(shared, 0, layout.journalBytes),
      growableBuffer(shared, 0, max),
      growableBuffer(shared, 0, max),
      growableBuffer(shared, 0, max),
      growableBuffer(shared, 0, max),
    ];
    const shards: (AnyBuffer | undefined)[] = new Array(layout.maxThreads).fill(undefined);
    shards[0] = growableBuffer(shared, 0, max);
    const store = new Store(control, buffers, shards, layout, 0, false);
    store.i32[THREADS] = 1;
    store.i32[MAX_SERIES] = layout.maxSeries;
    store.i32[LAYOUT_VERSION] = VERSION;
    new Float64Array(control)[CREATED_F64] = Date.now();
    return store;
  }

  /** Joins a store another thread shared, taking a released or the next free shard. */
  static attach(handle: StoreHandle): Store {
    if (
      handle === null || typeof handle !== "object" || handle.kind !== "atomic-metrics/registry" ||
      !isShared(handle.control)
    ) {
      throw new TypeError("Registry.attach() expects the handle returned by Registry.share()");
    }
    if (handle.version !== VERSION) {
      throw new Error(
        `Registry.attach() got a handle of layout version ${handle.version}; this build reads version ${VERSION}`,
      );
    }
    const control = new Int32Array(handle.control);
    const maxThreads = handle.layout.maxThreads;
    const thread = Store.claimReleased(control, maxThreads) ?? Store.claimFresh(control, maxThreads);
    if (thread < 0) {
      throw new Error(
        `Registry.attach() cannot take a thread slot: all ${maxThreads} are taken; ` +
          `create the registry with a larger maxThreads`,
      );
    }
    return new Store(handle.control, [...handle.buffers], [...handle.shards], handle.layout, thread, true);
  }

  /**
   * Takes the next never-used shard; -1 if all `maxThreads` are taken.
   * THREADS is how many shards every render sums, so it never goes past `maxThreads`,
   * not even for an instant: a compare-and-swap raises it only when a shard is free,
   * and a refused attach writes nothing at all.
   */
  private static claimFresh(control: Int32Array, maxThreads: number): number {
    let threads = Atomics.load(control, THREADS);
    while (threads < maxThreads) {
      const seen = Atomics.compareExchange(control, THREADS, threads, threads + 1);
      if (seen === threads) return threads;
      threads = seen;
    }
    return -1;
  }

  /** Takes a shard a detached thread released (its values stay and keep counting); undefined if none. */
  private static claimReleased(control: Int32Array, maxThreads: number): number | undefined {
    for (let word = 0; word * 32 < maxThreads; word++) {
      let bits = Atomics.load(control, RELEASED + word);
      while (bits !== 0) {
        const bit = bits & -bits;
        if ((Atomics.and(control, RELEASED + word, ~bit) & bit) !== 0) return word * 32 + 31 - Math.clz32(bit);
        bits = Atomics.load(control, RELEASED + word);
      }
    }
    return undefined;
  }

  /**
   * Gives this thread's shard back for the next `attach()`. Its values stay in every
   * render; the next owner adds to them. This thread must not record afterwards.
   */
  release(): void {
    Atomics.or(this.i32, RELEASED + (this.thread >> 5), 1 << (this.thread & 31));
  }

  /** Whether shard `thread` was released by a detached thread and not claimed again. */
  isReleased(thread: number): boolean {
    return (Atomics.load(this.i32, RELEASED + (thread >> 5)) & (1 << (thread & 31))) !== 0;
  }

  /** The handle other threads attach with. */
  share(): StoreHandle {
    if (!isShared(this.control)) {
      throw new Error("Registry.share() needs SharedArrayBuffer, which this runtime does not offer");
    }
    // The other threads' shards are made now, not before: an unshared registry has one.
    for (let t = 0; t < this.shards.length; t++) {
      this.shards[t] ??= growableBuffer(true, 0, this.layout.maxBytes);
    }
    this.threaded = true;
    return {
      kind: "atomic-metrics/registry",
      version: VERSION,
      control: this.control as SharedArrayBuffer,
      buffers: this.buffers as SharedArrayBuffer[],
      shards: this.shards as SharedArrayBuffer[],
      layout: this.layout,
    };
  }

  /** When the registry was created, in ms since the epoch (the same on every thread). */
  get createdAt(): number {
    return new Float64Array(this.control, CREATED_F64 * 8, 1)[0]!;
  }

  /** Number of shards that have been claimed so far: the shards a render must sum. */
  get threads(): number {
    return Atomics.load(this.i32, THREADS);
  }

  /** Bytes the store takes now (control block, buffers, every shard): memory in use, not reserved. */
  get byteLength(): number {
    let total = this.control.byteLength;
    for (const b of this.buffers) total += b.byteLength;
    for (const s of this.shards) total += s?.byteLength ?? 0;
    return total;
  }

  // ---- views --------------------------------------------------------------------------

  /** Int32 view of a growable buffer, remade after a grow. */
  private int32(which: number): Int32Array {
    const buffer = this.buffers[which]!;
    let view = this.views[which];
    if (view === undefined || view.byteLength !== buffer.byteLength) {
      view = this.views[which] = new Int32Array(buffer, 0, buffer.byteLength >> 2);
    }
    return view;
  }

  /** Float64 view of a growable buffer, remade after a grow. */
  private float64(which: number): Float64Array {
    const buffer = this.buffers[which]!;
    let view = this.f64Views[which];
    if (view === undefined || view.byteLength !== (buffer.byteLength & ~7)) {
      view = this.f64Views[which] = new Float64Array(buffer, 0, buffer.byteLength >> 3);
    }
    return view;
  }

  /** The series table as Int32 words. */
  get table(): Int32Array {
    return this.int32(TABLE);
  }

  /** The series table as Float64 (expiry fields). */
  get tableF64(): Float64Array {
    return this.float64(TABLE);
  }

  /** The shared slots as Int32 words (gauge clocks, sketches: two words per slot). */
  get sharedI32(): Int32Array {
    return this.int32(SHARED);
  }

  /** The label store. */
  private get labelUnits(): Uint16Array {
    const buffer = this.buffers[LABELS]!;
    let view = this.u16View;
    if (view === undefined || view.byteLength !== buffer.byteLength) {
      view = this.u16View = new Uint16Array(buffer, 0, buffer.byteLength >> 1);
    }
    return view;
  }

  /** Shard `thread` as Float64 slots (empty where the thread never recorded). */
  shard(thread: number): Float64Array {
    const buffer = this.shards[thread];
    let view = this.shardViews[thread];
    if (buffer === undefined) return view ??= new Float64Array(0);
    if (view === undefined || view.length !== buffer.byteLength >> 3) {
      view = this.shardViews[thread] = new Float64Array(buffer, 0, buffer.byteLength >> 3);
    }
    return view;
  }

  /**
   * This thread's shard, grown to hold `slots` slots: the view a series records through.
   * @returns undefined when the shard cannot grow (memory exhausted).
   */
  ownShard(slots: number): Float64Array | undefined {
    if (!growTo(this.shards[this.thread]!, slots * 8)) return undefined;
    return this.shard(this.thread);
  }

  /** Sum of one slot over every shard claimed so far. */
  sumShards(offset: number): number {
    let total = 0;
    // A plain read of the thread count: renders call this per slot, and a thread that just
    // attached has recorded nothing yet.
    for (let t = this.i32[THREADS]! - 1; t >= 0; t--) {
      let view = this.shardViews[t];
      if (view === undefined || offset >= view.length) view = this.shard(t);
      if (offset < view.length) total += view[offset]!;
    }
    return total;
  }

  // ---- lock ---------------------------------------------------------------------------

  /**
   * Runs `fn` holding the registry lock. Only definitions take it (cold paths).
   * A lock held longer than LOCK_STEAL_MS by one owner (a terminated thread) is taken over.
   * Re-entrant: a call made while this thread holds the lock runs at once.
   */
  locked<T>(fn: () => T): T {
    if (!this.lock()) return fn();
    try {
      return fn();
    } finally {
      this.unlock();
    }
  }

  /**
   * Takes the registry lock (see `locked`); false when this thread holds it already (then
   * the caller must not `unlock()`). For paths that run often enough to spare a closure.
   */
  lock(): boolean {
    if (this.holding) return false;
    const i32 = this.i32;
    const me = this.thread + 1;
    let owner = Atomics.compareExchange(i32, LOCK, 0, me);
    if (owner !== 0) {
      let since = Date.now();
      let seen = owner;
      while (owner !== 0) {
        if (owner !== seen) {
          seen = owner;
          since = Date.now();
        } else if (Date.now() - since > LOCK_STEAL_MS) {
          if (Atomics.compareExchange(i32, LOCK, owner, me) === owner) {
            Atomics.add(i32, LOCK_STEALS, 1);
            break;
          }
        }
        if (waitAllowed && isShared(this.control)) {
          try {
            Atomics.wait(i32, LOCK, owner, 1);
          } catch {
            waitAllowed = false; // a browser's main thread may not block: spin instead
          }
        }
        owner = Atomics.compareExchange(i32, LOCK, 0, me);
      }
    }
    this.holding = true;
    return true;
  }

  /** Gives the registry lock back. */
  unlock(): void {
    this.holding = false;
    Atomics.compareExchange(this.i32, LOCK, this.thread + 1, 0);
    // Only wake waiters when there may be some: a private registry has none.
    if (this.threaded) Atomics.notify(this.i32, LOCK);
  }
  private holding = false;

  // ---- metrics log ----------------------------------------------------------------------

  /** Committed bytes of the metrics log. */
  metricLogLength(): number {
    return Atomics.load(this.i32, METRIC_LOG_LENGTH);
  }

  /** Appends metric records and publishes them at once. Under the lock. False when full. */
  appendMetrics(records: readonly MetricRecord[]): boolean {
    const buffer = this.buffers[METRICS]!;
    let at = this.metricLogLength();
    const encoded = records.map((r) => encoder.encode(JSON.stringify(r)));
    const end = encoded.reduce((n, bytes) => n + align(4 + bytes.length, 8), at);
    if (!growTo(buffer, end)) return false;
    const bytes = new Uint8Array(buffer, 0, buffer.byteLength);
    const view = new DataView(buffer, 0, buffer.byteLength);
    for (const record of encoded) {
      view.setUint32(at, record.length, true);
      bytes.set(record, at + 4);
      at += align(4 + record.length, 8);
    }
    Atomics.store(this.i32, METRIC_LOG_LENGTH, at);
    return true;
  }

  /** Reads the metric records published between byte `from` and `to`. */
  readMetrics(from: number, to: number): MetricRecord[] {
    const buffer = this.buffers[METRICS]!;
    const out: MetricRecord[] = [];
    const view = new DataView(buffer, 0, buffer.byteLength);
    let at = from;
    while (at < to) {
      const length = view.getUint32(at, true);
      // Decoding from shared memory needs a copy: TextDecoder refuses shared views.
      out.push(JSON.parse(decoder.decode(new Uint8Array(buffer, at + 4, length).slice())));
      at += align(4 + length, 8);
    }
    return out;
  }

  // ---- slots ----------------------------------------------------------------------------

  /** Reserves `count` slots in every shard (bump; reuse goes through series ids). Under the lock. */
  allocateShard(count: number): number {
    const used = this.i32[SHARD_USED]!;
    Atomics.store(this.i32, SHARD_USED, used + count);
    return used;
  }

  /** Reserves `count` shared slots; -1 when the buffer cannot grow. Under the lock. */
  allocateShared(count: number): number {
    const used = this.i32[SHARED_USED]!;
    if (!growTo(this.buffers[SHARED]!, (used + count) * 8)) return -1;
    Atomics.store(this.i32, SHARED_USED, used + count);
    return used;
  }

  /** Zeroes shared slots (for a series about to be reused). Under the lock. */
  clearShared(at: number, count: number): void {
    this.float64(SHARED).fill(0, at, at + count);
  }

  // ---- series table -------------------------------------------------------------------

  /** Index of a series' row in the table's Int32 words. */
  row(id: number): number {
    return id * this.rowWords;
  }

  /** Float64 index of a row's fingerprint (its time of last change, then its time of birth, follow). */
  rowF64(id: number): number {
    return (id * this.rowWords + this.rowWords - 6) / 2;
  }

  /** When a row's series was born (or last reset): ms since the epoch. */
  bornAt(id: number): number {
    return this.tableF64[this.rowF64(id) + 2]!;
  }

  /** Makes room for series id `id` in the table. False when the table cannot grow. */
  private ensureRow(id: number): boolean {
    return growTo(this.buffers[TABLE]!, (id + 1) * this.rowWords * 4);
  }

  /** Series ids ever used: rows 0 to this (exclusive) exist. */
  get tableHigh(): number {
    return Atomics.load(this.i32, TABLE_HIGH);
  }

  /**
   * A row for a new series of `metric` with `shard` slots per thread and `shared` shared slots:
   * a freed id of the same metric (its slots zeroed and reused), or a new one. `words[0]` is the
   * head (+1) of the metric's free list. Under the lock.
   * @returns the id, or -1 when memory is exhausted.
   */
  allocateRow(metric: number, words: Int32Array, shard: number, shared: number): number {
    let id: number;
    let table: Int32Array;
    if (words[0]! > 0) {
      id = words[0]! - 1;
      table = this.table;
      words[0] = table[this.row(id) + ROW_NEXT]!;
      const row = this.row(id);
      if (table[row + ROW_SHARED]! >= 0) this.clearShared(table[row + ROW_SHARED]!, shared);
    } else {
      id = this.takeId();
      if (id < 0) return -1;
      table = this.table;
      const row = this.row(id);
      const sharedAt = shared > 0 ? this.allocateShared(shared) : -1;
      if (shared > 0 && sharedAt < 0) return -1;
      table[row + ROW_SHARD] = this.allocateShard(shard);
      table[row + ROW_SHARED] = sharedAt;
    }
    const row = this.row(id);
    table[row + ROW_METRIC] = metric;
    table[row + ROW_NEXT] = 0;
    table[row + ROW_FLAGS] = 0;
    table[row + ROW_FOLD] = -1;
    table[row + ROW_BORN] = this.i32[BORN]!;
    Atomics.store(this.i32, BORN, (this.i32[BORN]! + 1) | 0);
    return id;
  }

  /** A never-used id or an orphan id (its metric was removed: new slots). -1 when full. */
  private takeId(): number {
    const orphan = this.i32[ORPHAN_IDS]!;
    if (orphan > 0) {
      const id = orphan - 1;
      this.i32[ORPHAN_IDS] = this.table[this.row(id) + ROW_NEXT]!;
      return id;
    }
    const id = this.i32[TABLE_HIGH]!;
    if (!this.ensureRow(id)) return -1;
    // The row is zero: generation 0, not live.
    Atomics.store(this.i32, TABLE_HIGH, id + 1);
    return id;
  }

  /** Puts a freed id back: on its metric's list (`words[0]`, slots kept) or the orphan list. Under the lock. */
  freeRow(id: number, words: Int32Array | undefined): void {
    const table = this.table;
    const row = this.row(id);
    this.freeLabels(table[row + ROW_LABELS]!, table[row + ROW_LABELS_LENGTH]!);
    table[row + ROW_LABELS_LENGTH] = 0;
    this.freeLabels(table[row + ROW_TEXT]! >> 1, (table[row + ROW_TEXT_LENGTH]! + 1) >> 1);
    table[row + ROW_TEXT_LENGTH] = 0;
    if (words !== undefined) {
      table[row + ROW_NEXT] = words[0]!;
      words[0] = id + 1;
    } else {
      table[row + ROW_NEXT] = this.i32[ORPHAN_IDS]!;
      this.i32[ORPHAN_IDS] = id + 1;
      table[row + ROW_METRIC] = -1;
    }
  }

  /** Moves every row on a metric's free list (`words[0]`) to the orphan list. Under the lock. */
  orphanRows(words: Int32Array): void {
    const table = this.table;
    while (words[0]! > 0) {
      const id = words[0]! - 1;
      const row = this.row(id);
      words[0] = table[row + ROW_NEXT]!;
      table[row + ROW_NEXT] = this.i32[ORPHAN_IDS]!;
      table[row + ROW_METRIC] = -1;
      this.i32[ORPHAN_IDS] = id + 1;
    }
  }

  /** Publishes a row as live (generation kept). Under the lock. */
  setLive(id: number): void {
    const at = this.row(id) + ROW_STATE;
    Atomics.store(this.table, at, this.table[at]! | 1);
    Atomics.add(this.i32, CHANGES, 1);
  }

  /** Marks a row removed: a new generation, not live. Under the lock. */
  setRemoved(id: number): void {
    const at = this.row(id) + ROW_STATE;
    Atomics.store(this.table, at, ((this.table[at]! >>> 1) + 1) << 1);
    Atomics.add(this.i32, CHANGES, 1);
  }

  /** A row's state: generation << 1 | live. */
  state(id: number): number {
    return Atomics.load(this.table, this.row(id) + ROW_STATE);
  }

  /** Sets this thread's bit in a row's bitmap of threads using it. */
  holdRow(id: number): void {
    Atomics.or(this.table, this.row(id) + ROW_BITS + (this.thread >> 5), 1 << (this.thread & 31));
  }

  /** Clears `thread`'s bit in a row's bitmap; returns whether any thread still uses it. */
  dropRow(id: number, thread: number): boolean {
    const row = this.row(id) + ROW_BITS;
    Atomics.and(this.table, row + (thread >> 5), ~(1 << (thread & 31)));
    for (let w = 0; w * 32 < this.layout.maxThreads; w++) if (Atomics.load(this.table, row + w) !== 0) return true;
    return false;
  }

  /** The threads whose bit is set in a row. */
  holders(id: number): number[] {
    const out: number[] = [];
    const row = this.row(id) + ROW_BITS;
    for (let w = 0; w * 32 < this.layout.maxThreads; w++) {
      let bits = Atomics.load(this.table, row + w);
      while (bits !== 0) {
        const bit = bits & -bits;
        out.push(w * 32 + 31 - Math.clz32(bit));
        bits &= ~bit;
      }
    }
    return out;
  }

  /** Appends a removal to the ring and bumps the REMOVALS epoch. Under the lock. */
  announceRemoval(id: number, generation: number): void {
    const seq = this.i32[REMOVALS]!;
    const at = RING + 2 * (seq % RING_SIZE);
    this.i32[at] = id;
    this.i32[at + 1] = generation;
    Atomics.store(this.i32, REMOVALS, seq + 1);
  }

  /** Appends a creation to its ring, so renders find new rows without scanning the table. Under the lock. */
  announceCreation(id: number): void {
    const seq = this.i32[CREATIONS]!;
    this.i32[CREATION_RING + (seq % RING_SIZE)] = id;
    Atomics.store(this.i32, CREATIONS, seq + 1);
  }

  /** The row created as number `seq`. */
  creationAt(seq: number): number {
    return this.i32[CREATION_RING + (seq % RING_SIZE)]!;
  }

  /** The removal announced as number `seq`: [id, generation]. */
  removalAt(seq: number): [number, number] {
    const at = RING + 2 * (seq % RING_SIZE);
    return [this.i32[at]!, this.i32[at + 1]!];
  }

  // ---- label values -------------------------------------------------------------------

  /** Stores label values as UTF-16 (count, then length and code units of each); [at, length]. Under the lock. */
  storeLabels(values: readonly string[]): [number, number] {
    let units = 1;
    for (const value of values) units += 1 + value.length;
    const at = this.allocateLabels(units);
    if (at < 0) return [-1, 0];
    const u16 = this.labelUnits;
    let i = at;
    u16[i++] = values.length;
    for (const value of values) {
      u16[i++] = value.length;
      for (let j = 0; j < value.length; j++) u16[i++] = value.charCodeAt(j);
    }
    return [at, units];
  }

  /**
   * Stores a series' label set as the text formats write it (`a="x",b="y"`), UTF-8, once at
   * birth: every render copies these bytes. Returns [byte offset, byte length]. Under the lock.
   */
  storeText(text: string): [number, number] {
    if (text === "") return [0, 0];
    const bytes = encoder.encode(text);
    const at = this.allocateLabels((bytes.length + 1) >> 1);
    if (at < 0) return [-1, 0];
    this.labelBytes.set(bytes, at * 2);
    return [at * 2, bytes.length];
  }

  /** The bytes of a series' label set as `storeText` stored them. */
  labelText(id: number): { bytes: Uint8Array; at: number; length: number } {
    const row = this.row(id);
    const table = this.table;
    return { bytes: this.labelBytes, at: table[row + ROW_TEXT]!, length: table[row + ROW_TEXT_LENGTH]! };
  }

  /** @ignore @internal The label store as bytes (where `labelText` points). */
  get labelStore(): Uint8Array {
    return this.labelBytes;
  }

  /** The label store as bytes. */
  private get labelBytes(): Uint8Array {
    const buffer = this.buffers[LABELS]!;
    let view = this.u8View;
    if (view === undefined || view.byteLength !== buffer.byteLength) {
      view = this.u8View = new Uint8Array(buffer, 0, buffer.byteLength);
    }
    return view;
  }

  /** Whether the label values stored at `at` equal `values`. */
  labelsEqual(at: number, values: readonly string[]): boolean {
    const u16 = this.labelUnits;
    if (u16[at] !== values.length) return false;
    let i = at + 1;
    for (const value of values) {
      if (u16[i++] !== value.length) return false;
      for (let j = 0; j < value.length; j++) if (u16[i++] !== value.charCodeAt(j)) return false;
    }
    return true;
  }

  /** Reads the label values stored at `at`. */
  readLabels(at: number): string[] {
    const u16 = this.labelUnits;
    const count = u16[at]!;
    const out: string[] = [];
    let i = at + 1;
    for (let k = 0; k < count; k++) {
      const length = u16[i++]!;
      let value = "";
      // Chunks keep fromCharCode's argument list short.
      for (let j = 0; j < length; j += 4096) {
        value += String.fromCharCode(...u16.subarray(i + j, i + Math.min(length, j + 4096)));
      }
      out.push(value);
      i += length;
    }
    return out;
  }

  /** A block of at least `units` code units: a freed block of its size class, or new. */
  private allocateLabels(units: number): number {
    const k = Math.max(3, 32 - Math.clz32(units - 1));
    if (k - 3 >= LABEL_CLASSES) return -1;
    const head = this.i32[LABEL_FREE + k - 3]!;
    const u16 = this.labelUnits;
    if (head > 0) {
      const at = head - 1;
      this.i32[LABEL_FREE + k - 3] = u16[at]! | (u16[at + 1]! << 16);
      return at;
    }
    const used = this.i32[LABELS_USED]!;
    if (!growTo(this.buffers[LABELS]!, (used + (1 << k)) * 2)) return -1;
    Atomics.store(this.i32, LABELS_USED, used + (1 << k));
    return used;
  }

  /** Returns a label block to its size class's free list. */
  private freeLabels(at: number, units: number): void {
    if (units <= 0) return;
    const k = Math.max(3, 32 - Math.clz32(units - 1));
    const u16 = this.labelUnits;
    const next = this.i32[LABEL_FREE + k - 3]!;
    u16[at] = next & 0xffff;
    u16[at + 1] = next >>> 16;
    this.i32[LABEL_FREE + k - 3] = at + 1;
  }

  // ---- index --------------------------------------------------------------------------

  /** The live series id of (metric, values), or -1. Under the lock. */
  find(metric: number, values: readonly string[], hash: number): number {
    const capacity = this.i32[INDEX_CAPACITY]!;
    if (capacity === 0) return -1;
    const index = this.int32(INDEX);
    const table = this.table;
    const mask = capacity - 1;
    for (let i = hash & mask;; i = (i + 1) & mask) {
      const h = index[2 * i]!;
      if (h === 0) return -1;
      if (h === hash) {
        const id = index[2 * i + 1]!;
        const row = this.row(id);
        if (table[row + ROW_METRIC] === metric && this.labelsEqual(table[row + ROW_LABELS]!, values)) return id;
      }
    }
  }

  /** Adds a series to the index. Under the lock. False when the index cannot grow. */
  insert(id: number, hash: number): boolean {
    const capacity = this.i32[INDEX_CAPACITY]!;
    if ((this.i32[INDEX_USED]! + 1) * 2 > capacity && !this.rehash(Math.max(1024, (this.i32[INDEX_LIVE]! + 1) * 4))) {
      return false;
    }
    const index = this.int32(INDEX);
    const mask = this.i32[INDEX_CAPACITY]! - 1;
    let i = hash & mask;
    while (index[2 * i] !== 0) i = (i + 1) & mask;
    index[2 * i] = hash;
    index[2 * i + 1] = id;
    this.i32[INDEX_USED]!++;
    this.i32[INDEX_LIVE]!++;
    return true;
  }

  /** Takes a series out of the index (a tombstone). Under the lock. */
  delete(id: number, hash: number): void {
    const capacity = this.i32[INDEX_CAPACITY]!;
    const index = this.int32(INDEX);
    const mask = capacity - 1;
    for (let i = hash & mask;; i = (i + 1) & mask) {
      const h = index[2 * i]!;
      if (h === 0) return;
      if (h === hash && index[2 * i + 1] === id) {
        index[2 * i] = -1;
        index[2 * i + 1] = -1;
        this.i32[INDEX_LIVE]!--;
        return;
      }
    }
  }

  /** Rebuilds the index at a power-of-two capacity of at least `want` entries, dropping tombstones. */
  private rehash(want: number): boolean {
    let capacity = 1024;
    while (capacity < want) capacity *= 2;
    const old = this.int32(INDEX).slice(0, 2 * this.i32[INDEX_CAPACITY]!);
    if (!growTo(this.buffers[INDEX]!, capacity * 8)) return false;
    const index = this.int32(INDEX);
    index.fill(0, 0, 2 * capacity);
    const mask = capacity - 1;
    let live = 0;
    for (let j = 0; j < old.length; j += 2) {
      const h = old[j]!;
      if (h === 0 || h === -1) continue;
      let i = h & mask;
      while (index[2 * i] !== 0) i = (i + 1) & mask;
      index[2 * i] = h;
      index[2 * i + 1] = old[j + 1]!;
      live++;
    }
    this.i32[INDEX_CAPACITY] = capacity;
    this.i32[INDEX_USED] = live;
    this.i32[INDEX_LIVE] = live;
    return true;
  }
}

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
 * - labels: the label set of every series as the text formats write it (`a="x",b="y"`,
 *   UTF-8), its only encoding: renders copy it, lookups compare against it. In blocks of
 *   size classes (8-byte steps to 1 KiB, then powers of two) with a free list per class.
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
/** Bumped by every grow of a buffer (any thread): views are remade only when it moved. */
const GROWS = 19;
/** Heads (+1) of the label blocks' free lists, one per size class, at 256 + class (see `labelClass`). */
const LABEL_FREE = 256;
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
const VERSION = 4;

/** How long a waiter lets one owner hold the registry lock before it takes the lock over. */
const LOCK_STEAL_MS = 2000;

/** Series table row, in Int32 words. */
export const ROW_STATE = 0;
export const ROW_METRIC = 1;
export const ROW_SHARD = 2;
export const ROW_SHARED = 3;
/**
 * Where the series' label set is (byte offset and length in the label store), as the text
 * formats write it: UTF-8, `a="x",b="y"`. The only copy of the label values in shared memory.
 */
export const ROW_TEXT = 4;
export const ROW_TEXT_LENGTH = 5;
export const ROW_HASH = 6;
export const ROW_NEXT = 7;
export const ROW_FLAGS = 8;
export const ROW_BORN = 9;
export const ROW_BITS = 10;
/**
 * Flag of an overflow series. Its row has one shard slot more than the metric's series (the
 * fold count, right after them) and goes to its own free list.
 */
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

/**
 * Grows a buffer to at least `bytes`: doubling up to 64 KiB, then by 64 KiB or an eighth,
 * whichever is more (whole 4 KiB pages), so a large buffer never holds more than about 12% it
 * does not use. A grow copies nothing (the address space is reserved); it costs a system call
 * and new views, so not too many small ones. False when it cannot grow.
 */
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
  const length = buffer.byteLength;
  const step = Math.max(Math.min(length, 65536), length / 8, 4096);
  const next = Math.min(max, Math.ceil(Math.max(bytes, length + step) / 4096) * 4096);
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

/**
 * The size class of a label block of `units` UTF-16 code units: classes 1 to 128 hold 4·c
 * units (8-byte steps up to 1 KiB, so a short label set wastes at most 7 bytes), classes 129
 * to 145 hold 2^10 to 2^26 units. 0 when too large.
 */
function labelClass(units: number): number {
  if (units <= 512) return (units + 3) >> 2 || 1;
  const k = 32 - Math.clz32(units - 1);
  return k > 26 ? 0 : 119 + k;
}

/** Code units of a block of size class `c`. */
function classUnits(c: number): number {
  return c <= 128 ? c * 4 : 2 ** (c - 119);
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LINE_FEED = 0x0a;
const LETTER_N = 0x6e;

/** Whether the high surrogate `c` at `i` of `value` starts a surrogate pair. */
function isPair(value: string, i: number, c: number): boolean {
  return c < 0xdc00 && i + 1 < value.length && (value.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
}

/** Bytes a label value takes in the text formats: UTF-8, with `\`, `"` and line feed escaped. */
function escapedLength(value: string): number {
  let n = value.length;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x80) {
      if (c === BACKSLASH || c === QUOTE || c === LINE_FEED) n++;
    } else if (c < 0x800) n += 1;
    else if ((c & 0xf800) === 0xd800 && isPair(value, i, c)) i++, n += 2; // 4 bytes for 2 code units
    else n += 2; // 3 bytes; a lone surrogate as U+FFFD, as TextEncoder writes it
  }
  return n;
}

/** Writes a label value at `at` as `escapedLength` counts it; returns where it ends. */
function writeEscaped(u8: Uint8Array, at: number, value: string): number {
  for (let i = 0; i < value.length; i++) {
    let c = value.charCodeAt(i);
    if (c < 0x80) {
      if (c === BACKSLASH || c === QUOTE) u8[at++] = BACKSLASH;
      else if (c === LINE_FEED) u8[at++] = BACKSLASH, c = LETTER_N;
      u8[at++] = c;
    } else if (c < 0x800) {
      u8[at++] = 0xc0 | (c >> 6);
      u8[at++] = 0x80 | (c & 0x3f);
    } else if ((c & 0xf800) === 0xd800 && isPair(value, i, c)) {
      const p = 0x10000 + ((c - 0xd800) << 10) + (value.charCodeAt(++i) - 0xdc00);
      u8[at++] = 0xf0 | (p >> 18);
      u8[at++] = 0x80 | ((p >> 12) & 0x3f);
      u8[at++] = 0x80 | ((p >> 6) & 0x3f);
      u8[at++] = 0x80 | (p & 0x3f);
    } else {
      if ((c & 0xf800) === 0xd800) c = 0xfffd;
      u8[at++] = 0xe0 | (c >> 12);
      u8[at++] = 0x80 | ((c >> 6) & 0x3f);
      u8[at++] = 0x80 | (c & 0x3f);
    }
  }
  return at;
}

/** Scratch bytes for comparing a value that is not ASCII. */
let scratch = new Uint8Array(256);

/**
 * Whether the bytes at `at` begin with `value` as `writeEscaped` writes it: where they end if
 * so, else -1. A read past the label store gives undefined, which equals no byte.
 */
function equalsEscaped(u8: Uint8Array, at: number, value: string): number {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0x80) {
      // Rare: the rest written out, then compared.
      const rest = value.slice(i);
      const length = escapedLength(rest);
      if (scratch.length < length) scratch = new Uint8Array(length * 2);
      writeEscaped(scratch, 0, rest);
      for (let j = 0; j < length; j++) if (u8[at++] !== scratch[j]) return -1;
      return at;
    }
    if (c === BACKSLASH || c === QUOTE || c === LINE_FEED) {
      if (u8[at++] !== BACKSLASH || u8[at++] !== (c === LINE_FEED ? LETTER_N : c)) return -1;
    } else if (u8[at++] !== c) return -1;
  }
  return at;
}

/** Where the last `readEscaped` stopped: at the value's closing quote. */
let readEnd = 0;

/** Reads a label value written by `writeEscaped` at `at`, up to its closing quote (before `end`). */
function readEscaped(u8: Uint8Array, at: number, end: number): string {
  let i = at;
  while (i < end && u8[i]! !== QUOTE && u8[i]! < 0x80 && u8[i]! !== BACKSLASH) i++;
  if (i >= end || u8[i] === QUOTE) {
    readEnd = i;
    return fromCodes(u8, at, i);
  }
  const codes: number[] = [];
  i = at;
  while (i < end) {
    const b = u8[i]!;
    if (b === QUOTE) break;
    i++;
    if (b === BACKSLASH) {
      const e = u8[i++]!;
      codes.push(e === LETTER_N ? LINE_FEED : e);
    } else if (b < 0x80) codes.push(b);
    else if (b < 0xe0) codes.push(((b & 0x1f) << 6) | (u8[i++]! & 0x3f));
    else if (b < 0xf0) codes.push(((b & 0x0f) << 12) | ((u8[i++]! & 0x3f) << 6) | (u8[i++]! & 0x3f));
    else {
      const p = (((b & 0x07) << 18) | ((u8[i++]! & 0x3f) << 12) | ((u8[i++]! & 0x3f) << 6) | (u8[i++]! & 0x3f)) -
        0x10000;
      codes.push(0xd800 + (p >> 10), 0xdc00 + (p & 0x3ff));
    }
  }
  readEnd = i;
  return fromCodes(codes, 0, codes.length);
}

/** The string of code units `from` to `to` of `codes`, in chunks that keep `fromCharCode`'s arguments few. */
function fromCodes(codes: Uint8Array | number[], from: number, to: number): string {
  let out = "";
  for (let j = from; j < to; j += 4096) {
    const end = Math.min(to, j + 4096);
    out += String.fromCharCode.apply(
      null,
      Array.isArray(codes) ? codes.slice(j, end) : Array.from(codes.subarray(j, end)),
    );
  }
  return out;
}

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
  private seenGrows = -1;
  private tableI32: Int32Array = new Int32Array(0);
  private tableF64View: Float64Array = new Float64Array(0);
  private labelsU8: Uint8Array = new Uint8Array(0);
  private labelsU16: Uint16Array = new Uint16Array(0);
  private indexI32: Int32Array = new Int32Array(0);
  private sharedI32View: Int32Array = new Int32Array(0);
  private sharedF64View: Float64Array = new Float64Array(0);
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
    if (!this.threaded) {
      this.threaded = true;
      // The index is made now: until a registry is shared, its thread's label index knows every series.
      this.locked(() => this.buildIndex());
    }
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

  /**
   * Remakes the views of the buffers that grew since this thread made them. Any thread may grow
   * a buffer (under the lock); it bumps GROWS after the grow and before it publishes anything
   * that lies in the new part, so a view is current whenever GROWS did not move: one Int32 read
   * instead of re-reading each growable buffer's `byteLength` (several times slower on V8).
   */
  private refresh(): void {
    // Read first: a grow after this read bumps it again and the next access looks again.
    this.seenGrows = Atomics.load(this.i32, GROWS);
    const table = this.buffers[TABLE]!;
    if (this.tableI32.byteLength !== table.byteLength) {
      this.tableI32 = new Int32Array(table, 0, table.byteLength >> 2);
      this.tableF64View = new Float64Array(table, 0, table.byteLength >> 3);
    }
    const labels = this.buffers[LABELS]!;
    if (this.labelsU8.byteLength !== labels.byteLength) {
      this.labelsU8 = new Uint8Array(labels, 0, labels.byteLength);
      this.labelsU16 = new Uint16Array(labels, 0, labels.byteLength >> 1);
    }
    const index = this.buffers[INDEX]!;
    if (this.indexI32.byteLength !== index.byteLength) this.indexI32 = new Int32Array(index, 0, index.byteLength >> 2);
    const shared = this.buffers[SHARED]!;
    if (this.sharedI32View.byteLength !== shared.byteLength) {
      this.sharedI32View = new Int32Array(shared, 0, shared.byteLength >> 2);
      this.sharedF64View = new Float64Array(shared, 0, shared.byteLength >> 3);
    }
  }

  /** Grows one of the growable buffers to at least `bytes` and tells every thread. Under the lock. */
  private grow(which: number, bytes: number): boolean {
    const buffer = this.buffers[which]!;
    if (buffer.byteLength >= bytes) return true;
    if (!growTo(buffer, bytes)) return false;
    Atomics.add(this.i32, GROWS, 1);
    return true;
  }

  /** The series table as Int32 words. */
  get table(): Int32Array {
    if (Atomics.load(this.i32, GROWS) !== this.seenGrows) this.refresh();
    return this.tableI32;
  }

  /** The series table as Float64 (expiry fields). */
  get tableF64(): Float64Array {
    if (Atomics.load(this.i32, GROWS) !== this.seenGrows) this.refresh();
    return this.tableF64View;
  }

  /** The shared slots as Int32 words (gauge clocks, sketches: two words per slot). */
  get sharedI32(): Int32Array {
    if (Atomics.load(this.i32, GROWS) !== this.seenGrows) this.refresh();
    return this.sharedI32View;
  }

  /** The shared slots as Float64. */
  private get sharedF64(): Float64Array {
    if (Atomics.load(this.i32, GROWS) !== this.seenGrows) this.refresh();
    return this.sharedF64View;
  }

  /** The index as Int32 words: pairs (hash, id). */
  private get index(): Int32Array {
    if (Atomics.load(this.i32, GROWS) !== this.seenGrows) this.refresh();
    return this.indexI32;
  }

  /** The label store as UTF-16 code units (block allocation and free-list links). */
  private get labelUnits(): Uint16Array {
    if (Atomics.load(this.i32, GROWS) !== this.seenGrows) this.refresh();
    return this.labelsU16;
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
    // Only this thread grows its shard: the view it made last is current.
    const view = this.shardViews[this.thread];
    if (view !== undefined && slots <= view.length) return view;
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
    if (!this.grow(METRICS, end)) return false;
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
    if ((used + count) * 8 > this.sharedF64.byteLength && !this.grow(SHARED, (used + count) * 8)) return -1;
    Atomics.store(this.i32, SHARED_USED, used + count);
    return used;
  }

  /** Zeroes shared slots (for a series about to be reused). Under the lock. */
  clearShared(at: number, count: number): void {
    this.sharedF64.fill(0, at, at + count);
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
    const bytes = (id + 1) * this.rowWords * 4;
    return bytes <= this.table.byteLength || this.grow(TABLE, bytes);
  }

  /** Series ids ever used: rows 0 to this (exclusive) exist. */
  get tableHigh(): number {
    return Atomics.load(this.i32, TABLE_HIGH);
  }

  /**
   * A row for a new series of `metric` with `shard` slots per thread (one more for an
   * overflow series: its fold count) and `shared` shared slots: a freed id of the same metric
   * and kind (its slots zeroed and reused), or a new one. `words[0]` is the head (+1) of the
   * metric's free list, `words[3]` of its overflow rows'. Under the lock.
   * @returns the id, or -1 when memory is exhausted.
   */
  allocateRow(metric: number, words: Int32Array, shard: number, shared: number, overflow: boolean): number {
    let id: number;
    let table: Int32Array;
    const list = overflow ? 3 : 0;
    if (overflow) shard++;
    if (words[list]! > 0) {
      id = words[list]! - 1;
      table = this.table;
      words[list] = table[this.row(id) + ROW_NEXT]!;
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
    // Set now, so that a row freed before it is published still goes back to its own list.
    table[row + ROW_FLAGS] = overflow ? FLAG_OVERFLOW : 0;
    table[row + ROW_TEXT_LENGTH] = 0;
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
    this.freeLabels(table[row + ROW_TEXT]! >> 1, (table[row + ROW_TEXT_LENGTH]! + 1) >> 1);
    table[row + ROW_TEXT_LENGTH] = 0;
    if (words !== undefined) {
      // An overflow row has one slot more: it goes back to the overflow rows' list.
      const list = (table[row + ROW_FLAGS]! & FLAG_OVERFLOW) !== 0 ? 3 : 0;
      table[row + ROW_NEXT] = words[list]!;
      words[list] = id + 1;
    } else {
      table[row + ROW_NEXT] = this.i32[ORPHAN_IDS]!;
      this.i32[ORPHAN_IDS] = id + 1;
      table[row + ROW_METRIC] = -1;
    }
  }

  /** Moves every row on a metric's free lists (`words[0]`, `words[3]`) to the orphan list. Under the lock. */
  orphanRows(words: Int32Array): void {
    const table = this.table;
    for (const list of [0, 3]) {
      while (words[list]! > 0) {
        const id = words[list]! - 1;
        const row = this.row(id);
        words[list] = table[row + ROW_NEXT]!;
        table[row + ROW_NEXT] = this.i32[ORPHAN_IDS]!;
        table[row + ROW_METRIC] = -1;
        this.i32[ORPHAN_IDS] = id + 1;
      }
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

  /**
   * Stores a series' label set in its row, once at birth, as the text formats write it
   * (`a="x",b="y"`: UTF-8, values escaped): renders copy these bytes, lookups compare against
   * them, and a thread that did not make the series reads the values back from them. It is
   * the only copy of the label values in shared memory, written straight into the label
   * store (no string or buffer made on the way). `prefixes[i]` is label i's `,name="` encoded
   * (no comma for the first); `fixed` (the overflow series' text) is stored as is instead.
   * False when memory is exhausted. Under the lock.
   */
  storeLabels(id: number, prefixes: readonly Uint8Array[], values: readonly string[], fixed?: Uint8Array): boolean {
    let length = 0;
    if (fixed !== undefined) length = fixed.length;
    else for (let i = 0; i < values.length; i++) length += prefixes[i]!.length + escapedLength(values[i]!) + 1;
    let at = 0;
    if (length > 0) {
      const block = this.allocateLabels((length + 1) >> 1);
      if (block < 0) return false;
      at = block * 2;
      const u8 = this.labelBytes;
      if (fixed !== undefined) u8.set(fixed, at);
      else {
        let to = at;
        for (let i = 0; i < values.length; i++) {
          const prefix = prefixes[i]!;
          for (let j = 0; j < prefix.length; j++) u8[to++] = prefix[j]!;
          to = writeEscaped(u8, to, values[i]!);
          u8[to++] = QUOTE;
        }
      }
    }
    const table = this.table;
    const row = this.row(id);
    table[row + ROW_TEXT] = at;
    table[row + ROW_TEXT_LENGTH] = length;
    return true;
  }

  /** The bytes of a series' label set as `storeLabels` stored them. */
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
    if (Atomics.load(this.i32, GROWS) !== this.seenGrows) this.refresh();
    return this.labelsU8;
  }

  /** Whether the label set stored in the row at Int32 index `row` is `values` (with these `prefixes`). */
  private labelsEqual(row: number, prefixes: readonly Uint8Array[], values: readonly string[]): boolean {
    const table = this.table;
    const u8 = this.labelBytes;
    let at = table[row + ROW_TEXT]!;
    const end = at + table[row + ROW_TEXT_LENGTH]!;
    for (let i = 0; i < values.length; i++) {
      const prefix = prefixes[i]!;
      for (let j = 0; j < prefix.length; j++) if (u8[at++] !== prefix[j]) return false;
      at = equalsEscaped(u8, at, values[i]!);
      if (at < 0 || u8[at++] !== QUOTE) return false;
    }
    // Every step moves forward: a comparison that ran past the text's end is not equal either.
    return at === end;
  }

  /** Reads back the label values of series `id` (a label set with these `prefixes`). */
  readLabels(id: number, prefixes: readonly Uint8Array[]): string[] {
    const row = this.row(id);
    const table = this.table;
    const u8 = this.labelBytes;
    let at = table[row + ROW_TEXT]!;
    const end = at + table[row + ROW_TEXT_LENGTH]!;
    const out: string[] = new Array(prefixes.length);
    for (let i = 0; i < prefixes.length; i++) {
      at += prefixes[i]!.length;
      out[i] = readEscaped(u8, at, end);
      at = readEnd + 1;
    }
    return out;
  }

  /** A block of at least `units` code units: a freed block of its size class, or new. */
  private allocateLabels(units: number): number {
    const c = labelClass(units);
    if (c === 0) return -1;
    const head = this.i32[LABEL_FREE + c]!;
    if (head > 0) {
      const u16 = this.labelUnits;
      const at = head - 1;
      this.i32[LABEL_FREE + c] = u16[at]! | (u16[at + 1]! << 16);
      return at;
    }
    const used = this.i32[LABELS_USED]!;
    const end = (used + classUnits(c)) * 2;
    if (end > this.labelBytes.byteLength && !this.grow(LABELS, end)) return -1;
    Atomics.store(this.i32, LABELS_USED, used + classUnits(c));
    return used;
  }

  /** Returns a label block to its size class's free list. */
  private freeLabels(at: number, units: number): void {
    if (units <= 0) return;
    const c = labelClass(units);
    const u16 = this.labelUnits;
    const next = this.i32[LABEL_FREE + c]!;
    u16[at] = next & 0xffff;
    u16[at + 1] = next >>> 16;
    this.i32[LABEL_FREE + c] = at + 1;
  }

  // ---- index --------------------------------------------------------------------------

  /**
   * The live series id of (metric, values), or -1; `prefixes` are the metric's, as for
   * `storeLabels`. Under the lock.
   */
  find(metric: number, prefixes: readonly Uint8Array[], values: readonly string[], hash: number): number {
    const capacity = this.i32[INDEX_CAPACITY]!;
    if (capacity === 0) return -1;
    const index = this.index;
    const table = this.table;
    const mask = capacity - 1;
    for (let i = hash & mask;; i = (i + 1) & mask) {
      const h = index[2 * i]!;
      if (h === 0) return -1;
      if (h === hash) {
        const id = index[2 * i + 1]!;
        const row = this.row(id);
        if (table[row + ROW_METRIC] === metric && this.labelsEqual(row, prefixes, values)) return id;
      }
    }
  }

  /** Indexes every live series (not overflow series): at `share()`, the index's first use. Under the lock. */
  private buildIndex(): void {
    const table = this.table;
    const high = this.tableHigh;
    for (let id = 0; id < high; id++) {
      const row = this.row(id);
      if ((table[row]! & 1) === 1 && (table[row + ROW_FLAGS]! & FLAG_OVERFLOW) === 0) {
        if (!this.insert(id, table[row + ROW_HASH]!)) {
          throw new Error("Registry.share() ran out of memory for the index");
        }
      }
    }
  }

  /**
   * Adds a series to the index. Under the lock. False when the index cannot grow. A registry
   * not shared yet keeps no index (its thread's label index knows every series): it is built
   * at `share()`, from the hash each row keeps.
   */
  insert(id: number, hash: number): boolean {
    if (!this.threaded) return true;
    const capacity = this.i32[INDEX_CAPACITY]!;
    if ((this.i32[INDEX_USED]! + 1) * 2 > capacity && !this.rehash(Math.max(1024, (this.i32[INDEX_LIVE]! + 1) * 4))) {
      return false;
    }
    const index = this.index;
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
    if (capacity === 0) return;
    const index = this.index;
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
    const old = this.index.slice(0, 2 * this.i32[INDEX_CAPACITY]!);
    // Past the buffer's old end the memory is new, so zero already.
    const written = this.index.length;
    if (!this.grow(INDEX, capacity * 8)) return false;
    const index = this.index;
    index.fill(0, 0, Math.min(2 * capacity, written));
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

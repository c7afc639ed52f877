/**
 * The shared-memory store behind a registry.
 *
 * One buffer (a SharedArrayBuffer where the runtime has one, else an ArrayBuffer)
 * holds everything every thread needs to record and to render:
 *
 * ```
 * | control (Int32 words) | shared slots (f64) | shard 0 slots | shard 1 slots | ... |     (values)
 * | journal (UTF-8 records), a second buffer that grows on demand                    |     (definitions)
 * ```
 *
 * - control: the registry lock, the committed journal length, the slot allocators,
 *   the thread and series counters, the creation time.
 * - journal: an append-only log of metric and series definitions, in its own growable
 *   buffer (`maxByteLength`), so that label values of any permitted length never fill it:
 *   it starts at 64 KiB and grows, under the lock, before the length that publishes the
 *   new records is stored, so a reader never reads past the buffer it sees. A thread appends
 *   under the lock and publishes with ONE atomic store of the new length, so a thread
 *   terminated mid-append leaves nothing visible and nothing corrupt.
 * - shared slots: values that every thread updates with Atomics (gauges, the summary
 *   sketches).
 * - shards: one per thread. A series owns the same offset in every shard; a thread
 *   writes only its own shard (single writer: a plain `+=`, no lock, no CAS) and a
 *   render sums the shards. Counters and histogram buckets only grow in every shard,
 *   so their sum never goes backwards between two renders.
 *
 * The buffer is sized up front; the operating system commits its pages only when they
 * are first written, so an unused capacity costs address space, not memory.
 *
 * @module
 */

/** Int32 word indexes of the control block. */
export const LOCK = 0;
export const JOURNAL_LENGTH = 1;
export const SHARD_SLOTS_USED = 2;
export const SHARED_SLOTS_USED = 3;
export const THREADS = 4;
export const SERIES = 5;
export const LOCK_STEALS = 6;
export const MAX_SERIES = 7;
export const LAYOUT_VERSION = 8;
/** Float64 index of the creation time (ms since the epoch). */
const CREATED_F64 = 8;
/** Int32 index of the bitmap of shards released by `detach()`, free for the next `attach()`. */
const RELEASED = 32;
const CONTROL_BYTES = 256;
const VERSION = 2;
/** Bytes the journal starts with; it grows by doubling up to `journalBytes`. */
const JOURNAL_START = 64 * 1024;

/** How long a waiter lets one owner hold the registry lock before it takes the lock over. */
const LOCK_STEAL_MS = 2000;

/** Sizes of a store, fixed when it is created. */
export interface StoreLayout {
  /** Bytes the journal of definitions may grow to (it starts at 64 KiB). */
  journalBytes: number;
  /** Float64 slots of the region every thread updates with Atomics. */
  sharedSlots: number;
  /** Float64 slots of each thread's shard. */
  shardSlots: number;
  /** Number of shards: the most threads that can record at once. */
  maxThreads: number;
  /** Largest number of series the registry creates before folding into overflow series. */
  maxSeries: number;
}

/**
 * What `Registry.share()` hands to another thread: the buffer and its layout. It is
 * structured-cloneable, so it goes through `postMessage` or `workerData` as is.
 */
export interface StoreHandle {
  /** Marks the object as a registry handle. */
  readonly kind: "atomic-metrics/registry";
  /** The layout version; `attach` refuses a handle from an incompatible version. */
  readonly version: number;
  /** The shared memory. */
  readonly buffer: SharedArrayBuffer;
  /** The journal of definitions (growable shared memory). */
  readonly journal: SharedArrayBuffer;
  /** The sizes the buffer was cut in. */
  readonly layout: StoreLayout;
}

const hasSharedMemory: boolean = typeof SharedArrayBuffer === "function";

/** Whether `buffer` is shared memory (false, never a ReferenceError, where the runtime has none). */
function isShared(buffer: unknown): buffer is SharedArrayBuffer {
  return hasSharedMemory && buffer instanceof SharedArrayBuffer;
}
/** Whether this thread may block in Atomics.wait (not on a browser's main thread; learnt on first try). */
let waitAllowed: boolean = hasSharedMemory && typeof Atomics.wait === "function";

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

/** Byte length of a buffer cut in `layout`. */
export function bufferBytes(layout: StoreLayout): number {
  return CONTROL_BYTES +
    (layout.sharedSlots + layout.shardSlots * layout.maxThreads) * 8;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A growable buffer of `start` bytes that may grow to `max` (fixed at `max` where buffers cannot grow). */
function growableBuffer(shared: boolean, start: number, max: number): SharedArrayBuffer | ArrayBuffer {
  // ES2024 growable buffers; the lib types this build checks against predate them.
  type Growable = new (length: number, options: { maxByteLength: number }) => SharedArrayBuffer | ArrayBuffer;
  const options = { maxByteLength: max };
  const Buffer = (shared ? SharedArrayBuffer : ArrayBuffer) as unknown as Growable;
  const buffer = new Buffer(start, options);
  if ((buffer as { growable?: boolean; resizable?: boolean }).growable === true) return buffer;
  if ((buffer as { resizable?: boolean }).resizable === true) return buffer;
  // A runtime without growable buffers ignores maxByteLength: take the whole size now.
  return shared ? new SharedArrayBuffer(max) : new ArrayBuffer(max);
}

/** Grows a journal buffer to at least `bytes` (doubling); false when it cannot. */
function growTo(buffer: SharedArrayBuffer | ArrayBuffer, bytes: number, max: number): boolean {
  if (bytes > max) return false;
  const next = Math.min(max, Math.max(bytes, buffer.byteLength * 2));
  const growable = buffer as { grow?: (n: number) => void; resize?: (n: number) => void; growable?: boolean };
  try {
    if (growable.growable === true) growable.grow!(next);
    else if ((buffer as { resizable?: boolean }).resizable === true) growable.resize!(next);
    else return false;
  } catch {
    return false; // out of memory: the caller folds or reports, never a crash
  }
  return true;
}

/**
 * One thread's view of the store: typed arrays over the buffer, this thread's shard,
 * and the lock and journal operations. Every method here is a cold path but
 * `shardBase`, which the recording hot paths precompute their indexes from.
 */
export class Store {
  /** The memory. */
  readonly buffer: SharedArrayBuffer | ArrayBuffer;
  /** The sizes. */
  readonly layout: StoreLayout;
  /** Whole-buffer views: every value lives at a Float64 index of `f64`. */
  readonly f64: Float64Array;
  /** The same memory as 64-bit integers, for compare-and-swap of float bits. */
  readonly i64: BigInt64Array;
  /** The same memory as 32-bit integers, for the control block and the sketches. */
  readonly i32: Int32Array;
  /** The journal's buffer (grows; other threads see the new length). */
  readonly journalBuffer: SharedArrayBuffer | ArrayBuffer;
  /** The journal's bytes: a length-tracking view, so it covers the buffer after a grow. */
  readonly journal: Uint8Array;
  /** Float64 index where the shared region starts. */
  readonly sharedBase: number;
  /** Float64 index where shard 0 starts. */
  readonly shardsBase: number;
  /** This thread's shard number. */
  readonly thread: number;
  /**
   * True once more than one thread may write: then gauges and sketches use Atomics.
   * Before `share()`, a registry is private to its thread and takes the plain path.
   */
  threaded: boolean;

  constructor(
    buffer: SharedArrayBuffer | ArrayBuffer,
    journal: SharedArrayBuffer | ArrayBuffer,
    layout: StoreLayout,
    thread: number,
    threaded: boolean,
  ) {
    this.buffer = buffer;
    this.layout = layout;
    this.f64 = new Float64Array(buffer);
    this.i64 = new BigInt64Array(buffer);
    this.i32 = new Int32Array(buffer);
    this.journalBuffer = journal;
    this.journal = new Uint8Array(journal);
    this.sharedBase = CONTROL_BYTES / 8;
    this.shardsBase = this.sharedBase + layout.sharedSlots;
    this.thread = thread;
    this.threaded = threaded;
  }

  /** Creates a fresh store; shared memory where the runtime has it. */
  static create(layout: StoreLayout): Store {
    const bytes = bufferBytes(layout);
    const shared = hasSharedMemory;
    const buffer = shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
    const journal = growableBuffer(shared, Math.min(JOURNAL_START, layout.journalBytes), layout.journalBytes);
    const store = new Store(buffer, journal, shared ? layout : { ...layout, maxThreads: 1 }, 0, false);
    store.i32[THREADS] = 1;
    store.i32[MAX_SERIES] = layout.maxSeries;
    store.i32[LAYOUT_VERSION] = VERSION;
    store.f64[CREATED_F64] = Date.now();
    return store;
  }

  /** Joins a store another thread shared, taking the next free shard. */
  static attach(handle: StoreHandle): Store {
    if (
      handle === null || typeof handle !== "object" || handle.kind !== "atomic-metrics/registry" ||
      !isShared(handle.buffer) || !isShared(handle.journal)
    ) {
      throw new TypeError("Registry.attach() expects the handle returned by Registry.share()");
    }
    if (handle.version !== VERSION) {
      throw new Error(
        `Registry.attach() got a handle of layout version ${handle.version}; this build reads version ${VERSION}`,
      );
    }
    const probe = new Int32Array(handle.buffer, 0, CONTROL_BYTES / 4);
    const released = Store.claimReleased(probe, handle.layout.maxThreads);
    if (released >= 0) return new Store(handle.buffer, handle.journal, handle.layout, released, true);
    const thread = Store.claimFresh(probe, handle.layout.maxThreads);
    if (thread < 0) {
      throw new Error(
        `Registry.attach() cannot take a thread slot: all ${handle.layout.maxThreads} are taken; ` +
          `create the registry with a larger maxThreads`,
      );
    }
    return new Store(handle.buffer, handle.journal, handle.layout, thread, true);
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

  /** Takes a shard a detached thread released (its values stay and keep counting); -1 if none. */
  private static claimReleased(control: Int32Array, maxThreads: number): number {
    for (let word = 0; word * 32 < maxThreads; word++) {
      let bits = Atomics.load(control, RELEASED + word);
      while (bits !== 0) {
        const bit = bits & -bits;
        if ((Atomics.and(control, RELEASED + word, ~bit) & bit) !== 0) return word * 32 + 31 - Math.clz32(bit);
        bits = Atomics.load(control, RELEASED + word);
      }
    }
    return -1;
  }

  /**
   * Gives this thread's shard back for the next `attach()`. Its values stay in every
   * render; the next owner adds to them. This thread must not record afterwards.
   */
  release(): void {
    Atomics.or(this.i32, RELEASED + (this.thread >> 5), 1 << (this.thread & 31));
  }

  /** The handle other threads attach with. */
  share(): StoreHandle {
    if (!isShared(this.buffer)) {
      throw new Error("Registry.share() needs SharedArrayBuffer, which this runtime does not offer");
    }
    this.threaded = true;
    return {
      kind: "atomic-metrics/registry",
      version: VERSION,
      buffer: this.buffer,
      journal: this.journalBuffer as SharedArrayBuffer,
      layout: this.layout,
    };
  }

  /** When the registry was created, in ms since the epoch (the same on every thread). */
  get createdAt(): number {
    return this.f64[CREATED_F64]!;
  }

  /** Number of shards that have been claimed so far: the shards a render must sum. */
  get threads(): number {
    return Atomics.load(this.i32, THREADS);
  }

  /** Float64 index of slot `offset` in shard `thread`. */
  shardIndex(thread: number, offset: number): number {
    return this.shardsBase + thread * this.layout.shardSlots + offset;
  }

  /**
   * Runs `fn` holding the registry lock. Only definitions take it (cold paths).
   * A lock held longer than LOCK_STEAL_MS by one owner (a terminated thread) is taken over.
   */
  locked<T>(fn: () => T): T {
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
        if (waitAllowed && isShared(this.buffer)) {
          try {
            Atomics.wait(i32, LOCK, owner, 1);
          } catch {
            waitAllowed = false; // a browser's main thread may not block: spin instead
          }
        }
        owner = Atomics.compareExchange(i32, LOCK, 0, me);
      }
    }
    try {
      return fn();
    } finally {
      Atomics.compareExchange(i32, LOCK, me, 0);
      if (isShared(this.buffer)) Atomics.notify(i32, LOCK);
    }
  }

  /** Committed bytes of the journal. */
  journalLength(): number {
    return Atomics.load(this.i32, JOURNAL_LENGTH);
  }

  /**
   * Appends records to the journal and publishes them at once. Call under the lock.
   * Returns false, writing nothing, when the journal is full.
   */
  append(records: readonly unknown[]): boolean {
    const start = this.journalLength();
    let at = start;
    const journal = this.journal;
    for (const record of records) {
      const bytes = encoder.encode(JSON.stringify(record));
      const size = align8(4 + bytes.length);
      if (at + size > journal.length && !growTo(this.journalBuffer, at + size, this.layout.journalBytes)) return false;
      new DataView(journal.buffer, journal.byteOffset + at, 4).setUint32(0, bytes.length, true);
      journal.set(bytes, at + 4);
      at += size;
    }
    Atomics.store(this.i32, JOURNAL_LENGTH, at);
    return true;
  }

  /** Reads the records published between byte `from` and `to`. */
  read(from: number, to: number): unknown[] {
    const out: unknown[] = [];
    const journal = this.journal;
    let at = from;
    while (at < to) {
      const length = new DataView(journal.buffer, journal.byteOffset + at, 4).getUint32(0, true);
      // Decoding from shared memory needs a copy: TextDecoder refuses shared views.
      out.push(JSON.parse(decoder.decode(journal.slice(at + 4, at + 4 + length))));
      at += align8(4 + length);
    }
    return out;
  }

  /** Reserves `count` slots in every shard; -1 when the shards are full. Call under the lock. */
  allocateShard(count: number): number {
    const used = this.i32[SHARD_SLOTS_USED]!;
    if (used + count > this.layout.shardSlots) return -1;
    Atomics.store(this.i32, SHARD_SLOTS_USED, used + count);
    return used;
  }

  /** Reserves `count` shared slots; -1 when the region is full. Call under the lock. */
  allocateShared(count: number): number {
    const used = this.i32[SHARED_SLOTS_USED]!;
    if (used + count > this.layout.sharedSlots) return -1;
    Atomics.store(this.i32, SHARED_SLOTS_USED, used + count);
    return this.sharedBase + used;
  }

  /** Sum of one slot over every shard claimed so far. */
  sumShards(offset: number): number {
    const f64 = this.f64;
    const stride = this.layout.shardSlots;
    let i = this.shardsBase + offset;
    let total = f64[i]!;
    for (let t = this.threads - 1; t > 0; t--) {
      i += stride;
      total += f64[i]!;
    }
    return total;
  }
}

/**
 * Readings of the current process through the Node-compatible `process`
 * object that Node, Deno 2 and Bun all put on `globalThis`, without importing
 * any runtime. Shared by the catalog's `systemMetrics()` and the adapters'
 * `defaultMetrics()`, so each reading is taken one way. Private: `mod.ts`
 * does not export it.
 *
 * @module
 */

/** What `process.memoryUsage()` returns, as far as the metrics read it. */
export interface MemoryUsage {
  /** Resident set size, in bytes. */
  readonly rss: number;
  /** Heap the JavaScript engine has reserved, in bytes. */
  readonly heapTotal: number;
  /** Heap in use, in bytes. */
  readonly heapUsed: number;
  /** Memory of engine-managed objects outside the heap (array buffers, strings of native code), in bytes. */
  readonly external: number;
}

/** The slice of Node's `process` object the process metrics read; every member may be missing. */
export interface NodeLikeProcess {
  /** CPU time of the process since it started, in microseconds. */
  cpuUsage?: () => { user: number; system: number };
  /** Memory of the process, in bytes; `rss()` reads the resident set alone. */
  memoryUsage?: (() => Partial<MemoryUsage>) & { rss?: () => number };
  /** Seconds since the process started. */
  uptime?: () => number;
  /** The Node version, `v20.11.1` (Deno and Bun: the one they are compatible with). */
  version?: string;
  /** Versions of the runtime and its parts (`node`, `deno`, `bun`, `v8`). */
  versions?: Readonly<Record<string, string | undefined>>;
  /** Types of the resources keeping the event loop alive (Node >= 17.3). */
  getActiveResourcesInfo?: () => unknown[];
  /** Node's libuv handles (undocumented; prom-client reads it). */
  _getActiveHandles?: () => unknown[];
  /** Node's libuv requests (undocumented; prom-client reads it). */
  _getActiveRequests?: () => unknown[];
}

/** The runtime running this code, as its `process.versions` tells. */
export type RuntimeName = "node" | "deno" | "bun" | "other";

/**
 * The Node-compatible process object of this runtime, or undefined where there
 * is none (browsers, some edge runtimes).
 *
 * @returns `globalThis.process` when it is an object.
 */
export function currentProcess(): NodeLikeProcess | undefined {
  const process = (globalThis as { process?: unknown }).process;
  return typeof process === "object" && process !== null ? process as NodeLikeProcess : undefined;
}

/**
 * Which runtime this is: Deno and Bun both announce a Node version in
 * `process.versions.node` (the one they are compatible with), and their own
 * under `deno` and `bun`.
 *
 * @returns `"deno"`, `"bun"`, `"node"`, or `"other"` without a process object.
 */
export function runtimeName(): RuntimeName {
  const versions = currentProcess()?.versions;
  if (typeof versions !== "object" || versions === null) return "other";
  if (typeof versions.deno === "string") return "deno";
  if (typeof versions.bun === "string") return "bun";
  return typeof versions.node === "string" ? "node" : "other";
}

/**
 * `process.memoryUsage()` with every field a finite number, or undefined where
 * it is missing, throws (it can, on some platforms) or returns something else.
 *
 * @returns The memory usage of the process.
 */
export function readMemoryUsage(): MemoryUsage | undefined {
  const process = currentProcess();
  if (typeof process?.memoryUsage !== "function") return undefined;
  try {
    const { rss, heapTotal, heapUsed, external } = process.memoryUsage();
    if (![rss, heapTotal, heapUsed, external].every((n) => typeof n === "number" && Number.isFinite(n))) {
      return undefined;
    }
    return { rss: rss!, heapTotal: heapTotal!, heapUsed: heapUsed!, external: external! };
  } catch {
    return undefined;
  }
}

/**
 * Counts a list by name: strings by themselves (`getActiveResourcesInfo()`),
 * objects by their constructor's name (`_getActiveHandles()`), as prom-client
 * does; entries without a name are left out.
 *
 * @param list What the process listed.
 * @returns The count of each name.
 */
export function countByName(list: readonly unknown[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of list) {
    const name = typeof item === "string"
      ? item
      : typeof item === "object" && item !== null
      ? (item as { constructor?: { name?: unknown } }).constructor?.name
      : undefined;
    if (typeof name !== "string" || name === "") continue;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

/**
 * Keeps a counter equal to a cumulative reading (CPU time since the process
 * started): each call adds what the reading grew by since the last call, and
 * nothing when it did not grow, so the counter never goes down.
 *
 * @returns A function taking the counter (or a bound series) and the reading.
 */
export function followTotal(): (counter: { inc(value: number): void }, total: number) => void {
  let reported = 0;
  return (counter, total) => {
    if (!(total > reported)) return;
    counter.inc(total - reported);
    reported = total;
  };
}

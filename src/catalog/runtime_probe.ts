/**
 * What the system metrics read from the runtime, behind a small interface so
 * the core stays runtime-neutral and tests (or exotic hosts) can supply their
 * own readings.
 *
 * @module
 */

/** CPU time consumed by the process since it started, in microseconds. */
export interface CpuUsageMicros {
  /** Time spent in user mode. */
  readonly user: number;
  /** Time spent in kernel mode. */
  readonly system: number;
}

/**
 * Readings of the current process. Every method returns `undefined` when the
 * runtime cannot tell; the system metrics then leave the matching series
 * unset rather than report a made-up value.
 */
export interface RuntimeProbe {
  /** Cumulative CPU time of the process. */
  cpuUsageMicros(): CpuUsageMicros | undefined;
  /** Resident set size of the process, in bytes. */
  residentMemoryBytes(): number | undefined;
  /** When the process started, in seconds since the Unix epoch. */
  startTimeSeconds(): number | undefined;
}

/** The slice of Node's `process` object that Node, Deno 2 and Bun all provide. */
interface NodeCompatibleProcess {
  cpuUsage?: () => { user: number; system: number };
  memoryUsage?: (() => { rss: number }) & { rss?: () => number };
  uptime?: () => number;
}

/**
 * The probe for the current runtime, found by feature checks on
 * `globalThis.process` — the Node-compatible process object that Node, Deno 2
 * and Bun all expose with `cpuUsage()`, `memoryUsage()` and `uptime()`. One
 * probe therefore covers the three runtimes without importing any of them;
 * where the object is missing (browsers, some edge runtimes) CPU and memory
 * read `undefined` and the start time falls back to `performance.timeOrigin`.
 *
 * @returns A probe reading the current process.
 *
 * @example Memory is known on Node, Deno and Bun
 * ```ts
 * import { detectRuntimeProbe } from "./runtime_probe.ts";
 * const bytes = detectRuntimeProbe().residentMemoryBytes();
 * if (bytes === undefined || bytes <= 0) throw new Error("no memory reading");
 * ```
 */
export function detectRuntimeProbe(): RuntimeProbe {
  const process = (globalThis as { process?: NodeCompatibleProcess }).process;
  const cpuUsage = typeof process?.cpuUsage === "function" ? process.cpuUsage.bind(process) : undefined;
  const memoryUsage = process?.memoryUsage;
  // memoryUsage.rss() skips the heap statistics memoryUsage() gathers; older runtimes lack it.
  const rss = typeof memoryUsage?.rss === "function"
    ? memoryUsage.rss.bind(memoryUsage)
    : typeof memoryUsage === "function"
    ? () => memoryUsage.call(process).rss
    : undefined;
  const uptime = typeof process?.uptime === "function" ? process.uptime.bind(process) : undefined;
  return {
    cpuUsageMicros(): CpuUsageMicros | undefined {
      if (cpuUsage === undefined) return undefined;
      const usage = cpuUsage();
      return { user: usage.user, system: usage.system };
    },
    residentMemoryBytes(): number | undefined {
      return rss?.();
    },
    startTimeSeconds(): number | undefined {
      if (uptime !== undefined) return Date.now() / 1000 - uptime();
      return typeof performance.timeOrigin === "number" ? performance.timeOrigin / 1000 : undefined;
    },
  };
}

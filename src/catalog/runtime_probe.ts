/**
 * What the system metrics read from the runtime, behind a small interface so
 * the core stays runtime-neutral and tests (or exotic hosts) can supply their
 * own readings.
 *
 * @module
 */

import { currentProcess, readMemoryUsage } from "../_process_probes.ts";

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

/**
 * The probe for the current runtime, found by feature checks on
 * `globalThis.process` — the Node-compatible process object that Node, Deno 2
 * and Bun all expose with `cpuUsage()`, `memoryUsage()` and `uptime()`. One
 * probe therefore covers the three runtimes without importing any of them;
 * where the object is missing (browsers, some edge runtimes) CPU and memory
 * read `undefined` and the start time falls back to `performance.timeOrigin`.
 * A reading that throws or is not a finite number >= 0 reads `undefined` too:
 * the metrics built on the probe never report a made-up value.
 *
 * @returns A probe reading the current process.
 *
 * @example Memory is known on Node, Deno and Bun
 * ```ts
 * import { detectRuntimeProbe } from "@atomic/metrics/catalog";
 * const bytes = detectRuntimeProbe().residentMemoryBytes();
 * if (bytes === undefined || bytes <= 0) throw new Error("no memory reading");
 * ```
 */
export function detectRuntimeProbe(): RuntimeProbe {
  const process = currentProcess();
  const cpuUsage = typeof process?.cpuUsage === "function" ? process.cpuUsage.bind(process) : undefined;
  const memoryUsage = process?.memoryUsage;
  // memoryUsage.rss() skips the heap statistics memoryUsage() gathers; older runtimes lack it.
  const rss = typeof memoryUsage?.rss === "function"
    ? memoryUsage.rss.bind(memoryUsage)
    : typeof memoryUsage === "function"
    ? () => readMemoryUsage()?.rss
    : undefined;
  const uptime = typeof process?.uptime === "function" ? process.uptime.bind(process) : undefined;
  return {
    cpuUsageMicros(): CpuUsageMicros | undefined {
      const usage = reading(cpuUsage);
      if (usage === undefined || !isCount(usage.user) || !isCount(usage.system)) return undefined;
      return { user: usage.user, system: usage.system };
    },
    residentMemoryBytes(): number | undefined {
      const bytes = reading(rss);
      return isCount(bytes) ? bytes : undefined;
    },
    startTimeSeconds(): number | undefined {
      const seconds = reading(uptime);
      if (isCount(seconds)) return Date.now() / 1000 - seconds;
      return typeof performance.timeOrigin === "number" ? performance.timeOrigin / 1000 : undefined;
    },
  };
}

/** What `read` returns, or undefined when there is no `read` or it throws (`memoryUsage()` can, on some platforms). */
function reading<T>(read: (() => T) | undefined): T | undefined {
  try {
    return read?.();
  } catch {
    return undefined;
  }
}

/** Whether a reading is a finite number >= 0: anything else is not a measurement. */
function isCount(value: unknown): value is number {
  return typeof value === "number" && value >= 0 && value < Infinity;
}

/**
 * Process metrics that work on Node, Deno and Bun: the catalog's 4 system
 * metrics and the standard process metrics community dashboards expect.
 *
 * @module
 */

import type { Counter } from "../counter.ts";
import type { Gauge } from "../gauge.ts";
import type { Registry } from "../registry.ts";
import { followTotal } from "../_process_probes.ts";
import { registerCounter, registerGauge } from "./_register.ts";
import { type CpuUsageMicros, detectRuntimeProbe, type RuntimeProbe } from "./runtime_probe.ts";

/** Options of {@link systemMetrics}. */
export interface SystemMetricsOptions {
  /** Where CPU, memory and start time are read from. @default detectRuntimeProbe() */
  probe?: RuntimeProbe;
  /**
   * Shortest interval, in milliseconds, over which `process_cpu_usage_ratio`
   * is sampled: a scrape sooner than this after the last sample keeps the
   * last ratio rather than divide by a tiny interval.
   * @default 1000
   */
  cpuSampleIntervalMs?: number;
  /**
   * How often, in milliseconds, the event-loop lag is measured; `false` starts
   * no timer and leaves `nodejs_eventloop_lag_seconds` at 0.
   * @default 500
   */
  eventLoopLagIntervalMs?: number | false;
}

/** The registered system metrics, a task tracker, and the means to stop the lag timer. */
export interface SystemMetrics {
  /** `process_cpu_usage_ratio`: CPU seconds per wall-clock second since the previous sample (1 = one core). */
  readonly cpuUsageRatio: Gauge<never>;
  /** `process_memory_bytes`: resident set size. */
  readonly memoryBytes: Gauge<never>;
  /** `process_active_tasks`: tasks given to {@link SystemMetrics.trackTask} and not yet settled. */
  readonly activeTasks: Gauge<never>;
  /** `process_tasks_spawned_total`: tasks given to {@link SystemMetrics.trackTask}. */
  readonly tasksSpawned: Counter<never>;
  /** `process_cpu_seconds_total`: user plus system CPU time. */
  readonly cpuSecondsTotal: Counter<never>;
  /** `process_resident_memory_bytes`: resident set size. */
  readonly residentMemoryBytes: Gauge<never>;
  /** `process_start_time_seconds`: process start, seconds since the Unix epoch. */
  readonly startTimeSeconds: Gauge<never>;
  /** `nodejs_eventloop_lag_seconds`: largest timer delay seen since the previous scrape. */
  readonly eventLoopLagSeconds: Gauge<never>;
  /**
   * Counts a task: `process_tasks_spawned_total` goes up now and
   * `process_active_tasks` stays up until the task settles.
   *
   * @param task A promise, or a function returning a value or promise, which is called now.
   * @returns A promise of the task's result (rejected when the task fails).
   */
  trackTask<T>(task: PromiseLike<T> | (() => T | PromiseLike<T>)): Promise<T>;
  /** Stops the event-loop lag timer. Idempotent; the metrics stay registered. */
  stop(): void;
  /** Same as {@link SystemMetrics.stop}, for `using`. */
  [Symbol.dispose](): void;
}

function cpuSeconds(usage: CpuUsageMicros): number {
  return (usage.user + usage.system) / 1e6;
}

/**
 * Registers the catalog's 4 system metrics (`process_cpu_usage_ratio`,
 * `process_memory_bytes`, `process_active_tasks`,
 * `process_tasks_spawned_total`) and the standard `process_cpu_seconds_total`,
 * `process_resident_memory_bytes`, `process_start_time_seconds` and
 * `nodejs_eventloop_lag_seconds` on `registry`.
 *
 * CPU and memory are read in the metrics' collect hooks, so every scrape sees
 * fresh values and nothing runs between scrapes. Event-loop lag needs a
 * timer: one `setTimeout` chain measuring how late each timer fires. It is
 * unref'd where the runtime supports it (Node, Deno, Bun), so it never keeps
 * the process alive; `stop()` or `using` ends it.
 *
 * "Tasks" have no runtime-wide meaning in JavaScript, so the task metrics
 * count what the application hands to `trackTask()`.
 *
 * @param registry The registry to register on.
 * @param options Probe and sampling intervals.
 * @returns The metrics, a task tracker and `stop()`.
 * @throws {Error} When the registry holds one of these names with another definition
 *   (e.g. other buckets); with the same definition the registered metric is returned.
 *
 * @example Memory is reported on every scrape
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * import { systemMetrics } from "@atomic/metrics/catalog";
 * const registry = new Registry();
 * using system = systemMetrics(registry);
 * await system.trackTask(async () => "done");
 * registry.render();
 * if (!(system.memoryBytes.get() > 0)) throw new Error("no memory reading");
 * if (system.tasksSpawned.get() !== 1) throw new Error("task not counted");
 * ```
 */
export function systemMetrics(registry: Registry, options: SystemMetricsOptions = {}): SystemMetrics {
  const probe = options.probe ?? detectRuntimeProbe();
  const cpuSampleIntervalMs = options.cpuSampleIntervalMs ?? 1000;
  const lagIntervalMs = options.eventLoopLagIntervalMs ?? 500;
  if (!(cpuSampleIntervalMs >= 0)) {
    throw new RangeError(`Option "cpuSampleIntervalMs" must be a number >= 0, got ${String(cpuSampleIntervalMs)}`);
  }
  if (lagIntervalMs !== false && !(lagIntervalMs > 0 && lagIntervalMs < 2 ** 31)) {
    throw new RangeError(
      `Option "eventLoopLagIntervalMs" must be a positive number or false, got ${String(lagIntervalMs)}`,
    );
  }

  const startSeconds = probe.startTimeSeconds();
  // The first ratio covers the whole life of the process: there is no earlier sample.
  let lastSample = { cpu: probe.cpuUsageMicros(), at: performance.now() };
  let initialRatio: number | undefined;
  if (lastSample.cpu !== undefined && startSeconds !== undefined) {
    const uptime = Date.now() / 1000 - startSeconds;
    if (uptime > 0) initialRatio = cpuSeconds(lastSample.cpu) / uptime;
  }

  const cpuUsageRatio = registerGauge<never>(registry, "process_cpu_usage_ratio", (gauge) => {
    const now = performance.now();
    if (now - lastSample.at < cpuSampleIntervalMs) {
      if (initialRatio !== undefined) gauge.set(initialRatio);
      return;
    }
    const cpu = probe.cpuUsageMicros();
    if (cpu === undefined || lastSample.cpu === undefined) return;
    const ratio = (cpuSeconds(cpu) - cpuSeconds(lastSample.cpu)) / ((now - lastSample.at) / 1000);
    gauge.set(Math.max(0, ratio));
    initialRatio = undefined;
    lastSample = { cpu, at: now };
  });

  const setMemory = (gauge: Gauge<never>): void => {
    const bytes = probe.residentMemoryBytes();
    if (bytes !== undefined) gauge.set(bytes);
  };
  const memoryBytes = registerGauge<never>(registry, "process_memory_bytes", setMemory);
  const activeTasks = registerGauge<never>(registry, "process_active_tasks");
  const tasksSpawned = registerCounter<never>(registry, "process_tasks_spawned_total");

  const followCpuSeconds = followTotal();
  const cpuSecondsTotal = registerCounter<never>(registry, "process_cpu_seconds_total", (counter) => {
    const cpu = probe.cpuUsageMicros();
    if (cpu !== undefined) followCpuSeconds(counter, cpuSeconds(cpu));
  });
  const residentMemoryBytes = registerGauge<never>(registry, "process_resident_memory_bytes", setMemory);
  const startTimeSeconds = registerGauge<never>(registry, "process_start_time_seconds");
  if (startSeconds !== undefined) startTimeSeconds.set(startSeconds);

  // Largest lag seen since the last scrape, so a stall between scrapes is not missed; -1 = none measured.
  let lagSinceScrape = -1;
  let startLag = (): void => {};
  const eventLoopLagSeconds = registerGauge<never>(registry, "nodejs_eventloop_lag_seconds", (gauge) => {
    startLag();
    if (lagSinceScrape >= 0) gauge.set(lagSinceScrape);
    lagSinceScrape = -1;
  });

  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const measureLag = (intervalMs: number): void => {
    const expected = performance.now() + intervalMs;
    timer = setTimeout(() => {
      const lag = Math.max(0, performance.now() - expected) / 1000;
      if (lag > lagSinceScrape) lagSinceScrape = lag;
      if (!stopped) measureLag(intervalMs);
    }, intervalMs);
    // Node, Deno and Bun return an object with unref(); elsewhere (browsers) a number, which needs nothing.
    (timer as { unref?: () => void }).unref?.();
  };
  startLag = (): void => {
    if (lagIntervalMs === false || timer !== undefined || stopped) return;
    try {
      measureLag(lagIntervalMs);
    } catch {
      // Timers are refused here (workerd's global scope): the next scrape, inside a request, starts it.
      timer = undefined;
    }
  };
  startLag();

  const stop = (): void => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };

  return {
    cpuUsageRatio,
    memoryBytes,
    activeTasks,
    tasksSpawned,
    cpuSecondsTotal,
    residentMemoryBytes,
    startTimeSeconds,
    eventLoopLagSeconds,
    async trackTask<T>(task: PromiseLike<T> | (() => T | PromiseLike<T>)): Promise<T> {
      tasksSpawned.inc();
      activeTasks.inc();
      try {
        return await (typeof task === "function" ? task() : task);
      } finally {
        activeTasks.dec();
      }
    },
    stop,
    [Symbol.dispose]: stop,
  };
}

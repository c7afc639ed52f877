/**
 * prom-client's default metrics (`collectDefaultMetrics()` of prom-client 15)
 * by the same names, types, label names and units, read through the `node:`
 * modules Node, Deno 2 and Bun share. Exported by `atomic-metrics/node`,
 * `atomic-metrics/deno` and `atomic-metrics/bun`.
 *
 * @module
 */

import * as fs from "node:fs";
import * as perfHooks from "node:perf_hooks";
import * as timers from "node:timers";
import * as v8 from "node:v8";
import type { Counter } from "../src/counter.ts";
import type { Gauge } from "../src/gauge.ts";
import type { Histogram } from "../src/histogram.ts";
import { isValidLabelName, isValidMetricName, isWellFormed, MAX_LABEL_VALUE_LENGTH } from "../src/labels.ts";
import type { Registry } from "../src/registry.ts";
import { detectRuntimeProbe, type RuntimeProbe } from "../src/catalog/runtime_probe.ts";
import {
  countByName,
  currentProcess,
  followTotal,
  type NodeLikeProcess,
  readMemoryUsage,
  type RuntimeName,
  runtimeName,
} from "../src/_process_probes.ts";

/** Options of {@link defaultMetrics}, by prom-client's names. */
export interface DefaultMetricsOptions {
  /**
   * Prepended to every metric name (`"myapp_"` makes `myapp_process_cpu_seconds_total`); the
   * start of a metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*`.
   * @default ""
   */
  prefix?: string;
  /**
   * Constant labels on every series of these metrics (e.g. `{ service: "api" }`). Names follow
   * `[a-zA-Z_][a-zA-Z0-9_]*` and may not be one the metrics use themselves (`type`, `kind`,
   * `space`, `version`, `major`, `minor`, `patch`, `le`).
   * @default {}
   */
  labels?: Record<string, string>;
  /**
   * Sampling interval of the event-loop delay histogram behind `nodejs_eventloop_lag_{min,…}_seconds`,
   * in milliseconds (an integer >= 1).
   * @default 10
   */
  eventLoopMonitoringPrecision?: number;
  /**
   * Bucket bounds of `nodejs_gc_duration_seconds`, in seconds, strictly increasing.
   * @default [0.001, 0.01, 0.1, 1, 2, 5]
   */
  gcDurationBuckets?: readonly number[];
}

/** What {@link defaultMetrics} registered, and the means to take it back. */
export interface DefaultMetrics {
  /** The names of the metrics registered on this runtime (prefixed), in registration order. */
  readonly names: readonly string[];
  /**
   * Disables the event-loop delay monitor and the GC observer and removes every one of these
   * metrics from the registry. Idempotent.
   */
  stop(): void;
  /** Same as {@link DefaultMetrics.stop}, for `using`. */
  [Symbol.dispose](): void;
}

/** prom-client's buckets of `nodejs_gc_duration_seconds`. */
const GC_DURATION_BUCKETS: readonly number[] = [0.001, 0.01, 0.1, 1, 2, 5];

/** Label names the metrics use themselves; a constant label may not take them. */
const OWN_LABEL_NAMES = new Set(["type", "kind", "space", "version", "major", "minor", "patch", "le", "quantile"]);

/** Metrics registered by a live `defaultMetrics()`: a second call on the same registry gets them back and must refuse. */
const owned = new WeakSet<object>();

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;
type Labels = Record<string, string>;

/** The options, checked, with their defaults. */
interface Settings {
  prefix: string;
  labels: Labels;
  precision: number;
  buckets: readonly number[];
}

function checkOptions(options: unknown): Settings {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new TypeError(
      `defaultMetrics() options must be an object, got ${options === null ? "null" : typeof options}`,
    );
  }
  const { prefix = "", labels = {}, eventLoopMonitoringPrecision = 10, gcDurationBuckets = GC_DURATION_BUCKETS } =
    options as DefaultMetricsOptions;
  if (typeof prefix !== "string" || (prefix !== "" && !isValidMetricName(prefix))) {
    throw new Error(
      `defaultMetrics() option "prefix" must be the start of a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), got ${
        JSON.stringify(prefix)
      }`,
    );
  }
  if (labels === null || typeof labels !== "object" || Array.isArray(labels)) {
    throw new TypeError(`defaultMetrics() option "labels" must be an object of label names to values`);
  }
  const constant: Labels = {};
  for (const [name, value] of Object.entries(labels)) {
    if (!isValidLabelName(name)) {
      throw new Error(
        `defaultMetrics() option "labels" has label name ${
          JSON.stringify(name)
        }, which is not valid: it must match [a-zA-Z_][a-zA-Z0-9_]* and not start with "__"`,
      );
    }
    if (OWN_LABEL_NAMES.has(name)) {
      throw new Error(
        `defaultMetrics() option "labels" has label name ${JSON.stringify(name)}, which the default metrics use ` +
          `themselves (${[...OWN_LABEL_NAMES].join(", ")})`,
      );
    }
    if (typeof value !== "string" || !isWellFormed(value)) {
      throw new TypeError(
        `defaultMetrics() option "labels" label ${JSON.stringify(name)} must be a string of well-formed Unicode, got ${
          typeof value === "string" ? "one with a lone surrogate" : typeof value
        }`,
      );
    }
    if (value.length > MAX_LABEL_VALUE_LENGTH) {
      throw new RangeError(
        `defaultMetrics() option "labels" label ${
          JSON.stringify(name)
        } is ${value.length} code units long; the limit is ${MAX_LABEL_VALUE_LENGTH}`,
      );
    }
    constant[name] = value;
  }
  const precision = eventLoopMonitoringPrecision;
  if (typeof precision !== "number" || !Number.isInteger(precision) || precision < 1 || precision >= 2 ** 31) {
    throw new RangeError(
      `defaultMetrics() option "eventLoopMonitoringPrecision" must be a whole number of milliseconds >= 1, got ${
        String(precision)
      }`,
    );
  }
  const buckets = gcDurationBuckets;
  if (!Array.isArray(buckets) || buckets.length === 0) {
    throw new TypeError(`defaultMetrics() option "gcDurationBuckets" must be a non-empty array of numbers`);
  }
  buckets.forEach((bound: unknown, i) => {
    if (typeof bound !== "number" || !Number.isFinite(bound)) {
      throw new TypeError(
        `defaultMetrics() option "gcDurationBuckets" has ${String(bound)}, which is not a finite number`,
      );
    }
    if (i > 0 && !(bound > buckets[i - 1]!)) {
      throw new RangeError(
        `defaultMetrics() option "gcDurationBuckets" must be strictly increasing: ${buckets[i - 1]} then ${bound}`,
      );
    }
  });
  return { prefix, labels: constant, precision, buckets: [...buckets] };
}

/** Runs a reading; a reading that throws is no reading. */
function attempt<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** `VmSize` and `VmData` of `/proc/self/status`, in bytes, as prom-client reads them on Linux. */
function readProcStatus(): { virtual: number; data: number } | undefined {
  const fields = new Map<string, number>();
  for (const line of fs.readFileSync("/proc/self/status", "utf8").split("\n")) {
    const match = /^(VmSize|VmData):\s*(\d+) kB$/.exec(line.trim());
    if (match !== null) fields.set(match[1]!, Number(match[2]) * 1024);
  }
  const virtual = fields.get("VmSize");
  const data = fields.get("VmData");
  return virtual === undefined || data === undefined ? undefined : { virtual, data };
}

/** Open file descriptors: the entries of `/proc/self/fd`, less the one the listing itself used. */
function readOpenFds(): number {
  return fs.readdirSync("/proc/self/fd").length - 1;
}

/** The soft limit of open files from `/proc/self/limits`, or undefined when it is no number ("unlimited"). */
function readMaxFds(): number | undefined {
  const line = fs.readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"));
  const soft = line === undefined ? undefined : Number(line.split(/ {2,}/)[1]);
  return soft !== undefined && Number.isFinite(soft) && soft >= 0 ? soft : undefined;
}

/** What `performance.eventLoopUtilization()` returns. */
interface Utilization {
  idle: number;
  active: number;
  utilization: number;
}

/** What `monitorEventLoopDelay()` returns, as far as the metrics read it (nanoseconds). */
interface DelayHistogram {
  enable(): boolean;
  disable(): boolean;
  reset(): void;
  percentile(p: number): number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  readonly stddev: number;
  readonly count?: number;
}

/** What the groups of metrics below register with and share. */
interface Context {
  readonly runtime: RuntimeName;
  readonly process: NodeLikeProcess | undefined;
  readonly probe: RuntimeProbe;
  readonly settings: Settings;
  /** A gauge with the constant labels after `own`; `collect` reads at every render. */
  gauge(name: string, help: string, own?: string[], collect?: (gauge: Gauge<string>) => void): Gauge<string>;
  /** A counter with the constant labels; `collect` reads at every render. */
  counter(name: string, help: string, collect?: (counter: Counter<string>) => void): Counter<string>;
  /** A histogram with the constant labels after `own`. */
  histogram(name: string, help: string, own: string[], buckets: readonly number[]): Histogram<string>;
  /** The label set of a series: its own labels, then the constant ones. */
  labels(own?: Labels): Labels;
  /** A gauge with no reading yet shows no sample rather than a 0 nobody measured. */
  unmeasured(gauge: Gauge<string>): void;
  /** Runs at `stop()`. */
  onStop(cleanup: () => void): void;
  /** Whether `stop()` was called. */
  stopped(): boolean;
}

/** CPU time (from the start of the process), start time, memory and file descriptors. */
function processMetrics(c: Context): void {
  const { probe } = c;
  if (probe.cpuUsageMicros() !== undefined) {
    const [followUser, followSystem, followAll] = [followTotal(), followTotal(), followTotal()];
    const user = c.counter("process_cpu_user_seconds_total", "Total user CPU time spent in seconds.", () => {
      const cpu = probe.cpuUsageMicros();
      if (cpu === undefined) return;
      followUser(user.labels(c.labels()), cpu.user / 1e6);
      followSystem(system.labels(c.labels()), cpu.system / 1e6);
      followAll(all.labels(c.labels()), (cpu.user + cpu.system) / 1e6);
    });
    const system = c.counter("process_cpu_system_seconds_total", "Total system CPU time spent in seconds.");
    const all = c.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.");
  }
  const start = probe.startTimeSeconds();
  if (start !== undefined) {
    const help = "Start time of the process since unix epoch in seconds.";
    c.gauge("process_start_time_seconds", help, [], (g) => g.set(c.labels(), start));
  }
  // The resident set as the catalog's systemMetrics() reads it; the rest from /proc (Linux), as prom-client.
  if (probe.residentMemoryBytes() !== undefined) {
    c.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", [], (g) => {
      const bytes = probe.residentMemoryBytes();
      if (bytes !== undefined) g.set(c.labels(), bytes);
    });
  }
  if (attempt(readProcStatus) !== undefined) {
    const virtual = c.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", [], () => {
      const status = readProcStatus();
      if (status === undefined) return;
      virtual.set(c.labels(), status.virtual);
      heap.set(c.labels(), status.data);
    });
    const heap = c.gauge("process_heap_bytes", "Process heap size in bytes.");
  }
  if (attempt(readOpenFds) !== undefined) {
    c.gauge("process_open_fds", "Number of open file descriptors.", [], (g) => g.set(c.labels(), readOpenFds()));
  }
  if (attempt(readMaxFds) !== undefined) {
    c.gauge("process_max_fds", "Maximum number of open file descriptors.", [], (g) => {
      const max = readMaxFds();
      if (max !== undefined) g.set(c.labels(), max);
    });
  }
}

/** Event-loop lag: prom-client's setImmediate measure, and the delay histogram's statistics. */
function eventLoopMetrics(c: Context): void {
  if (typeof timers.setImmediate === "function") {
    // As prom-client: how long a setImmediate takes from the scrape (the next scrape shows it). Not
    // unref'd: an unref'd immediate waits for the next event of an idle loop (measured: the 100 ms to
    // the next timer on Node and Deno), so it would measure idleness; it runs once, on the loop's
    // next turn, and so keeps no process alive longer than that.
    let measuring = false;
    const measure = (): void => {
      if (measuring || c.stopped()) return;
      measuring = true;
      const start = performance.now();
      timers.setImmediate(() => {
        measuring = false;
        if (c.stopped()) return;
        try {
          lag.set(c.labels(), (performance.now() - start) / 1000);
        } catch {
          // never thrown into the event loop
        }
      });
    };
    const lag = c.gauge("nodejs_eventloop_lag_seconds", "Lag of event loop in seconds.", [], measure);
    c.unmeasured(lag);
    measure(); // so that the first scrape has a reading
  }
  // Deno's histogram does not see a blocked loop (150 ms blocks read under 2 ms): left out there.
  if (typeof perfHooks.monitorEventLoopDelay !== "function" || c.runtime === "deno") return;
  const monitor = attempt(() => {
    const histogram = perfHooks.monitorEventLoopDelay({ resolution: c.settings.precision }) as DelayHistogram;
    histogram.enable();
    return histogram;
  });
  if (monitor === undefined) return;
  c.onStop(() => monitor.disable());
  const stats = [
    ["min", "The minimum recorded event loop delay.", () => monitor.min],
    ["max", "The maximum recorded event loop delay.", () => monitor.max],
    ["mean", "The mean of the recorded event loop delays.", () => monitor.mean],
    ["stddev", "The standard deviation of the recorded event loop delays.", () => monitor.stddev],
    ["p50", "The 50th percentile of the recorded event loop delays.", () => monitor.percentile(50)],
    ["p90", "The 90th percentile of the recorded event loop delays.", () => monitor.percentile(90)],
    ["p99", "The 99th percentile of the recorded event loop delays.", () => monitor.percentile(99)],
  ] as const;
  const gauges: Gauge<string>[] = [];
  const read = (): void => {
    // No sample since the last reset (min would read 2^63 ns, the mean NaN): keep the last values.
    if (monitor.count === 0 || !(monitor.max > 0)) return;
    stats.forEach(([, , value], i) => gauges[i]!.set(c.labels(), value() / 1e9));
    monitor.reset();
  };
  for (const [stat, help] of stats) {
    const gauge = c.gauge(`nodejs_eventloop_lag_${stat}_seconds`, help, [], gauges.length === 0 ? read : undefined);
    c.unmeasured(gauge);
    gauges.push(gauge);
  }
}

/**
 * Active resources, handles and requests, counted by type. Node's own accounting; Deno's lists
 * leave out its own resources (Deno.serve, Deno.listen, its file operations) and Bun's are
 * always empty: left out there.
 */
function activeMetrics(c: Context): void {
  if (c.runtime === "deno" || c.runtime === "bun") return;
  const process = c.process;
  const lists = [
    [
      "resources",
      process?.getActiveResourcesInfo,
      "Number of active resources that are currently keeping the event loop alive, grouped by async resource type.",
      "Total number of active resources.",
    ],
    [
      "handles",
      process?._getActiveHandles,
      "Number of active libuv handles grouped by handle type. Every handle type is C++ class name.",
      "Total number of active handles.",
    ],
    [
      "requests",
      process?._getActiveRequests,
      "Number of active libuv requests grouped by request type. Every request type is C++ class name.",
      "Total number of active requests.",
    ],
  ] as const;
  for (const [what, list, help, totalHelp] of lists) {
    if (typeof list !== "function" || !Array.isArray(attempt(() => list.call(process)))) continue;
    let shown = new Set<string>();
    const perType = c.gauge(`nodejs_active_${what}`, help, ["type"], () => {
      const items = list.call(process);
      const counts = countByName(items);
      for (const [type, count] of counts) perType.set(c.labels({ type }), count);
      // A type gone since the last scrape goes too, as prom-client's reset() does.
      for (const type of shown) if (!counts.has(type)) perType.remove(c.labels({ type }));
      shown = new Set(counts.keys());
      total.set(c.labels(), items.length);
    });
    const total = c.gauge(`nodejs_active_${what}_total`, totalHelp);
  }
}

/** The engine's heap, its V8 spaces, and Node's version. */
function engineMetrics(c: Context): void {
  if (readMemoryUsage() !== undefined) {
    // Bun's heap used exceeds its heap total (they are JavaScriptCore's, not V8's): left out there.
    const heap = c.runtime !== "bun";
    const read = (): void => {
      const usage = readMemoryUsage();
      if (usage === undefined) return;
      heapTotal?.set(c.labels(), usage.heapTotal);
      heapUsed?.set(c.labels(), usage.heapUsed);
      external.set(c.labels(), usage.external);
    };
    const heapTotal = heap
      ? c.gauge("nodejs_heap_size_total_bytes", "Process heap size from Node.js in bytes.", [], read)
      : undefined;
    const heapUsed = heap
      ? c.gauge("nodejs_heap_size_used_bytes", "Process heap size used from Node.js in bytes.")
      : undefined;
    const externalHelp = "Node.js external memory size in bytes.";
    const external = c.gauge("nodejs_external_memory_bytes", externalHelp, [], heap ? undefined : read);
  }

  // Bun answers with V8's space names over JavaScriptCore's heap (all in "old", the rest 0): left out there.
  const spaces = c.runtime !== "bun" && typeof v8.getHeapSpaceStatistics === "function"
    ? attempt(() => v8.getHeapSpaceStatistics())
    : undefined;
  if (Array.isArray(spaces) && spaces.length > 0) {
    const gauges: Gauge<string>[] = [];
    const read = (): void => {
      for (const space of v8.getHeapSpaceStatistics()) {
        const name = space.space_name.endsWith("_space") ? space.space_name.slice(0, -6) : space.space_name;
        gauges[0]!.set(c.labels({ space: name }), space.space_size);
        gauges[1]!.set(c.labels({ space: name }), space.space_used_size);
        gauges[2]!.set(c.labels({ space: name }), space.space_available_size);
      }
    };
    for (const kind of ["total", "used", "available"]) {
      const help = `Process heap space size ${kind} from Node.js in bytes.`;
      gauges.push(
        c.gauge(`nodejs_heap_space_size_${kind}_bytes`, help, ["space"], gauges.length === 0 ? read : undefined),
      );
    }
  }

  // Deno and Bun report the Node version they are compatible with, not their own: Node only.
  const version = c.process?.version;
  if (c.runtime === "node" && typeof version === "string" && /^v\d+\.\d+\.\d+/.test(version)) {
    const [major, minor, patch] = version.slice(1).split(".").map((part) => String(Number.parseInt(part, 10)));
    const labels = c.labels({ version, major: major!, minor: minor!, patch: patch! });
    const help = "Node.js version info.";
    c.gauge("nodejs_version_info", help, ["version", "major", "minor", "patch"], (g) => g.set(labels, 1));
  }
}

/** Garbage collections by kind. Bun has no "gc" performance entries; Deno lists them but never delivers one. */
function gcMetrics(c: Context): void {
  const kinds = new Map<number, string>();
  const constants = perfHooks.constants as Record<string, number | undefined> | undefined;
  for (const kind of ["major", "minor", "incremental", "weakcb"]) {
    const value = constants?.[`NODE_PERFORMANCE_GC_${kind.toUpperCase()}`];
    if (typeof value === "number") kinds.set(value, kind);
  }
  const Observer = perfHooks.PerformanceObserver as
    | (typeof perfHooks.PerformanceObserver & { supportedEntryTypes?: readonly string[] })
    | undefined;
  if (typeof Observer !== "function" || !(Observer.supportedEntryTypes ?? []).includes("gc")) return;
  if (kinds.size !== 4 || c.runtime === "deno") return;
  const gc = c.histogram(
    "nodejs_gc_duration_seconds",
    "Garbage collection duration by kind, one of major, minor, incremental or weakcb.",
    ["kind"],
    c.settings.buckets,
  );
  const observer = new Observer((list) => {
    if (c.stopped()) return;
    // Every entry of the batch (prom-client takes the first only).
    for (const entry of list.getEntries()) {
      const kind = kinds.get((entry as { detail?: { kind?: number } }).detail?.kind ?? -1);
      if (kind === undefined) continue;
      try {
        gc.observe(c.labels({ kind }), entry.duration / 1000);
      } catch {
        // never thrown into the observer's task
      }
    }
  });
  observer.observe({ entryTypes: ["gc"] });
  c.onStop(() => observer.disconnect());
}

/** Event-loop utilization between scrapes. Deno's and Bun's always read 0 ms idle and 0 ms active: left out there. */
function utilizationMetrics(c: Context): void {
  type Reader = (current?: Utilization, previous?: Utilization) => Utilization;
  const performance = perfHooks.performance as { eventLoopUtilization?: Reader } | undefined;
  const utilization = performance?.eventLoopUtilization;
  if (typeof utilization !== "function") return;
  let last = attempt(() => utilization.call(performance));
  // Node reads 0 of 0 ms too before its event loop starts (a CommonJS main module), which is honest there.
  if (last === undefined || (c.runtime !== "node" && !(last.idle + last.active > 0))) return;
  const help = "Share of the time since the previous scrape the event loop was busy (not waiting for events), 0 to 1.";
  const gauge = c.gauge("nodejs_eventloop_utilization", help, [], (g) => {
    const now = utilization.call(performance);
    const delta = utilization.call(performance, now, last);
    // No time passed, or the loop has not started: nothing measured.
    if (!(delta.idle + delta.active > 0) || !(delta.utilization >= 0 && delta.utilization <= 1)) return;
    g.set(c.labels(), delta.utilization);
    last = now;
  });
  c.unmeasured(gauge);
}

/**
 * Registers prom-client 15's default metrics on `registry` — the same names, types, label
 * names and units as `collectDefaultMetrics()`, so the Node.js dashboards and alerts people
 * already have work unchanged — plus `nodejs_eventloop_utilization` (0 to 1, the share of
 * time the event loop was busy since the previous scrape).
 *
 * Values are read when the registry renders (in the metrics' collect hooks), not on a timer.
 * Between scrapes run only the event-loop delay histogram (`monitorEventLoopDelay`, sampling
 * every `eventLoopMonitoringPrecision` ms), a `PerformanceObserver` of garbage collections —
 * neither keeps the process alive — and, once after each scrape, the `setImmediate` by which
 * prom-client measures `nodejs_eventloop_lag_seconds`. `stop()` (or `using`) ends them and
 * removes the metrics.
 *
 * Only what this runtime measures honestly is registered, never a made-up value: each source
 * is feature-checked when this is called, and a source a runtime offers but fills with
 * something else is left out there (measured on Deno 2.9 and Bun 1.4; the table per runtime
 * is in docs/default-metrics.md). Deno's `monitorEventLoopDelay` does not see a blocked loop,
 * its GC observer never fires, and its list of active resources leaves out its own
 * (`Deno.serve`); Bun's heap used counts array buffers and exceeds its heap total, its V8 heap
 * spaces are JavaScriptCore's heap under V8's names, its active resources, handles and
 * requests are always empty, and it has no GC entries; both read an event-loop utilization of
 * 0 ms out of 0 ms, and report as `process.version` the Node version they emulate. `/proc` metrics exist where
 * `/proc` does (Linux). A gauge shows no sample until it has a reading (prom-client shows 0).
 *
 * Differences from prom-client, each for the Prometheus conventions or a truer value:
 * `process_cpu_*_seconds_total` count from the start of the process (prom-client's from its
 * call); `process_start_time_seconds` is not rounded to the second; every GC of a batch the
 * observer delivers is counted (prom-client counts the first).
 *
 * @param registry The registry to register on.
 * @param options Prefix, constant labels, event-loop sampling and GC buckets.
 * @returns The registered names and `stop()`.
 * @throws {TypeError | RangeError | Error} On an invalid option, naming it; when the registry
 *   already has one of these metrics (a second `defaultMetrics()`, or `systemMetrics()` of
 *   `atomic-metrics/catalog`, which shares four names) — nothing stays registered then.
 *
 * @example The process metrics, by prom-client's names
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * import { defaultMetrics } from "@atomic/metrics/node";
 *
 * const registry = new Registry();
 * using metrics = defaultMetrics(registry, { labels: { service: "api" } });
 * const text = registry.render();
 * if (!metrics.names.includes("process_cpu_user_seconds_total")) throw new Error("no CPU metric");
 * if (!/^process_cpu_user_seconds_total\{service="api"\} \d/m.test(text)) throw new Error(text);
 * ```
 */
export function defaultMetrics(registry: Registry, options: DefaultMetricsOptions = {}): DefaultMetrics {
  const settings = checkOptions(options);
  const constantNames = Object.keys(settings.labels);
  const registered: AnyMetric[] = [];
  const cleanups: (() => void)[] = [];
  let stopped = false;

  /**
   * Registers a metric (first without its collect hook: a second defaultMetrics() on the same
   * registry gets the first one's metric back, whose hook must stay), then gives it its hook.
   */
  const register = <M extends AnyMetric>(make: (collect?: (metric: M) => void) => M, collect?: (metric: M) => void) => {
    const metric = make();
    if (owned.has(metric)) {
      throw new Error(
        `defaultMetrics() is already running on this registry (it has "${metric.name}"): ` +
          `stop() that one first, or give this one another prefix`,
      );
    }
    owned.add(metric);
    registered.push(metric);
    if (collect !== undefined) {
      make((m) => {
        // Metrics code never throws into a render: a failed reading keeps the last values.
        try {
          collect(m);
        } catch {
          // the series keep their last values
        }
      });
    }
    return metric;
  };
  const { prefix } = settings;
  const context: Context = {
    runtime: runtimeName(),
    process: currentProcess(),
    probe: detectRuntimeProbe(),
    settings,
    gauge: (name, help, own = [], collect) =>
      register<Gauge<string>>(
        (hook) =>
          registry.gauge<string>({
            name: prefix + name,
            help,
            labelNames: [...own, ...constantNames],
            ...(hook === undefined ? {} : { collect: hook }),
          }),
        collect,
      ),
    counter: (name, help, collect) =>
      register<Counter<string>>(
        (hook) =>
          registry.counter<string>({
            name: prefix + name,
            help,
            labelNames: constantNames,
            exemplars: false,
            ...(hook === undefined ? {} : { collect: hook }),
          }),
        collect,
      ),
    histogram: (name, help, own, buckets) =>
      register<Histogram<string>>(() =>
        registry.histogram<string>({
          name: prefix + name,
          help,
          labelNames: [...own, ...constantNames],
          buckets,
          exemplars: false,
        })
      ),
    labels: (own = {}) => ({ ...own, ...settings.labels }),
    unmeasured: (gauge) => void gauge.remove({ ...settings.labels }),
    onStop: (cleanup) => void cleanups.push(cleanup),
    stopped: () => stopped,
  };

  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    for (const cleanup of cleanups) attempt(cleanup);
    for (const metric of registered) {
      owned.delete(metric);
      registry.remove(metric.name);
    }
  };
  // In prom-client's order, utilization last.
  try {
    processMetrics(context);
    eventLoopMetrics(context);
    activeMetrics(context);
    engineMetrics(context);
    gcMetrics(context);
    utilizationMetrics(context);
  } catch (error) {
    // Validate everything, then change anything: nothing of this call stays registered or running.
    stop();
    if (error instanceof Error && error.message.startsWith("defaultMetrics()")) throw error;
    throw new Error(
      `defaultMetrics() cannot register its metrics on this registry: ${
        error instanceof Error ? error.message : String(error)
      }`,
      { cause: error },
    );
  }
  return { names: registered.map((metric) => metric.name), stop, [Symbol.dispose]: stop };
}

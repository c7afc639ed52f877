/**
 * The registry: definitions, validation, the series table, rendering, sharing.
 *
 * @module
 */

import {
  type ExemplarProvider,
  type Family,
  type FamilyContext,
  type MetricDefinition,
  type MetricType,
  OVERFLOW_LABEL,
  OVERFLOW_TEXT,
  OVERFLOW_VALUE,
  type SeriesBase,
  type SeriesPlace,
} from "./_family.ts";
import { Counter, type CounterOptions, type CounterSeries } from "./counter.ts";
import { Gauge, type GaugeOptions } from "./gauge.ts";
import { DEFAULT_BUCKETS, Histogram, type HistogramOptions, type NativeHistogramOptions } from "./histogram.ts";
import { pickSchema } from "./storage/native_buckets.ts";
import {
  isValidLabelName,
  isValidMetricName,
  isWellFormed,
  MAX_LABEL_VALUE_LENGTH,
  type NameValidation,
} from "./labels.ts";
import { DEFAULT_ESCAPING, escapeLabelName, type EscapingScheme, isEscapingScheme } from "./exposition/escaping.ts";
import { DEFAULT_QUANTILES, Summary, type SummaryOptions } from "./summary.ts";
import { renderToString } from "./exposition/_renderer.ts";
import { renderProtobuf } from "./exposition/protobuf.ts";
import { streamFamilies } from "./exposition/stream.ts";
import { unrefTimer } from "./otel/_runtime.ts";
import { collectSnapshots, type MetricSnapshot } from "./exposition/snapshot.ts";
import { type MetricJSON, metricsAsJSON } from "./exposition/metrics_json.ts";
import { MergedRegistry } from "./merged_registry.ts";
import { OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, textFormatOf } from "./exposition/negotiate.ts";
export type { MetricSnapshot, SeriesSnapshot } from "./exposition/snapshot.ts";
import {
  CHANGES,
  CREATIONS,
  FLAG_OVERFLOW,
  labelHash,
  REMOVALS,
  RING_SIZE,
  ROW_BITS,
  ROW_BORN,
  ROW_FLAGS,
  ROW_HASH,
  ROW_METRIC,
  ROW_SHARD,
  ROW_SHARED,
  SERIES,
  Store,
  type StoreHandle,
  type StoreLayout,
} from "./storage/store.ts";

/** Options of `new Registry()`. */
export interface RegistryOptions {
  /**
   * Most series the registry creates (all metrics, all threads). A new label set past
   * it folds into its metric's overflow series. @default 10000
   */
  maxSeries?: number;
  /** Most threads that can attach and record. @default 16 */
  maxThreads?: number;
  /** Exemplar provider for metrics that don't set their own (e.g. the active trace). @default none */
  exemplars?: ExemplarProvider;
  /** Register the registry's self-metrics (`atomic_metrics_*`). @default true */
  selfMetrics?: boolean;
  /**
   * Seconds without a change after which a series is removed, for metrics that don't set their
   * own `staleAfterSeconds`; 0 for never. Decided when the registry is rendered or collected.
   * @default 0
   */
  staleAfterSeconds?: number;
  /**
   * Bytes each of the store's buffers may grow to. Only address space is reserved up front;
   * memory is taken as series are created. Past it, new label sets fold into the overflow series
   * (counted), as past `maxSeries`.
   * @default 1 GiB
   */
  maxBytes?: number;
  /**
   * Which metric and label names are accepted: `"legacy"`, Prometheus' character set before
   * version 3 (`[a-zA-Z_:][a-zA-Z0-9_:]*`); or `"utf8"`, any non-empty well-formed Unicode
   * string (label names still not starting with `__`), as Prometheus 3 and OpenTelemetry name
   * things (`http.server.request.duration`, `http.route`). Such names are written quoted to a
   * scraper whose `Accept` carries `escaping=allow-utf-8`, and escaped for any other (see
   * `render()`). Threads that attach take the registry's setting.
   * @default "legacy"
   */
  names?: NameValidation;
  /**
   * Whether renders show when each counter, histogram and summary series was born or last
   * reset (removed, cleared, expired, or a native histogram's reset), so that Prometheus can tell
   * a restart from a reset: `<name>_created` samples in OpenMetrics, `created_timestamp` in the
   * protobuf format. The Prometheus text format 0.0.4 has no place for it. Off by default, as in
   * client_golang.
   * @default false
   */
  createdTimestamps?: boolean;
  /**
   * Labels every series of every metric shows (e.g. `{ service: "api", region: "eu" }`), written
   * before its own labels. A metric with a label of the same name shows its own value instead, as
   * in prom-client. Set once for the registry (threads that attach take them); see also
   * `setDefaultLabels()`.
   * @default {}
   */
  defaultLabels?: Record<string, string>;
  /**
   * Prepended to the name of every metric registered from now on (`"myapp_"` makes
   * `requests_total` into `myapp_requests_total`), except the registry's own `atomic_metrics_*`
   * metrics. The prefixed name is the metric's name everywhere (`get()`, `remove()`, renders).
   * Threads that attach take it.
   * @default ""
   */
  prefix?: string;
}

/** Options of `Registry.render()`. */
export interface RenderOptions {
  /**
   * How names outside the legacy character set (a registry with `names: "utf8"`) are written:
   * `"allow-utf-8"` quotes them (`{"http.server.request.duration","http.route"="/a"} 1`), as
   * Prometheus 3 reads them; `"underscores"`, `"dots"` and `"values"` escape them by Prometheus'
   * schemes (`http_server_request_duration`). Legacy names are written as they are in every case.
   * @default "underscores"
   */
  escaping?: EscapingScheme;
}

/** @ignore @internal Reads a render's escaping option, or throws naming the method. */
export function escapingOf(method: string, escaping: unknown): EscapingScheme {
  if (escaping === undefined) return DEFAULT_ESCAPING;
  if (!isEscapingScheme(escaping)) {
    throw new RangeError(
      `Registry.${method}() option escaping must be "allow-utf-8", "underscores", "dots" or "values", got ${
        JSON.stringify(escaping)
      }`,
    );
  }
  return escaping;
}

/**
 * The exposition formats: the Prometheus text format 0.0.4, OpenMetrics 1.0, and Prometheus'
 * protobuf format (length-delimited `io.prometheus.client.MetricFamily` messages, the one that
 * carries native histograms).
 */
export type Format = "prometheus" | "openmetrics" | "protobuf";

/** The store's layout with the registry's name validation and created timestamps, so threads that attach share them. */
interface NamedLayout extends StoreLayout {
  names?: NameValidation;
  createdTimestamps?: boolean;
  defaultLabels?: [string, string][];
  prefix?: string;
}

/** Names of the self-metrics. */
export const SELF_METRICS = {
  series: "atomic_metrics_series",
  maxSeries: "atomic_metrics_max_series",
  overflow: "atomic_metrics_overflow_observations_total",
  exemplarsDropped: "atomic_metrics_exemplars_dropped_total",
  collectErrors: "atomic_metrics_collect_errors_total",
  collectTimeouts: "atomic_metrics_collect_timeouts_total",
} as const;

type AnyFamily = Family<SeriesBase>;

/** The overflow series' label set as its row stores it. */
const OVERFLOW_TEXT_BYTES = new TextEncoder().encode(OVERFLOW_TEXT);

const RESERVED_SUFFIXES: Record<MetricType, readonly string[]> = {
  counter: ["_total", "_created"],
  gauge: [],
  histogram: ["_bucket", "_count", "_sum", "_created"],
  summary: ["_count", "_sum", "_created"],
};

/** The family name and the sample names a definition takes in both formats. */
function namesOf(type: MetricType, name: string): string[] {
  const base = type === "counter" && name.endsWith("_total") ? name.slice(0, -6) : name;
  return [name, base, ...RESERVED_SUFFIXES[type].map((s) => base + s)];
}

/** Checks native histogram options and settles their defaults. */
function nativeDefinition(what: string, options: NativeHistogramOptions): NonNullable<MetricDefinition["native"]> {
  if (options === null || typeof options !== "object") throw new TypeError(`${what} native must be an object`);
  const { bucketFactor = 1.1, maxBuckets = 160, zeroThreshold = 2 ** -128, minResetDuration = 0 } = options;
  if (typeof bucketFactor !== "number" || !(bucketFactor > 1 && bucketFactor < Infinity)) {
    throw new RangeError(`${what} native.bucketFactor must be a number > 1, got ${String(bucketFactor)}`);
  }
  if (!Number.isInteger(maxBuckets) || maxBuckets < 1 || maxBuckets > 10_000) {
    throw new RangeError(`${what} native.maxBuckets must be an integer in [1, 10000], got ${String(maxBuckets)}`);
  }
  if (typeof zeroThreshold !== "number" || !(zeroThreshold >= 0 && zeroThreshold < Infinity)) {
    throw new RangeError(`${what} native.zeroThreshold must be a finite number >= 0, got ${String(zeroThreshold)}`);
  }
  if (typeof minResetDuration !== "number" || !(minResetDuration >= 0 && minResetDuration < Infinity)) {
    throw new RangeError(`${what} native.minResetDuration must be milliseconds >= 0, got ${String(minResetDuration)}`);
  }
  return { schema: pickSchema(bucketFactor), maxBuckets, zeroThreshold, minResetMs: minResetDuration };
}

/** A hook's promise that `render()` does not wait for: its rejection must not go unhandled. */
function detach(result: unknown): void {
  if (result !== null && typeof (result as Promise<unknown>)?.then === "function") {
    (result as Promise<unknown>).then(undefined, () => {});
  }
}

/** Throws unless a registration got an options object. */
function checkOptions(type: MetricType, options: unknown): void {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`Registry.${type}() expects an options object`);
  }
}

/**
 * Checks default labels (names valid and not reserved, values strings within the label-length
 * limit) and returns them as pairs, or throws naming `what` and the label.
 */
function checkDefaultLabels(what: string, labels: unknown, names: NameValidation): [string, string][] {
  if (labels === null || typeof labels !== "object" || Array.isArray(labels)) {
    throw new TypeError(`${what} must be an object of label names to values`);
  }
  const pairs: [string, string][] = [];
  for (const name of Object.keys(labels)) {
    const value = (labels as Record<string, unknown>)[name];
    if (!isValidLabelName(name, names) || name === "le" || name === "quantile" || name === OVERFLOW_LABEL) {
      throw new Error(
        `${what} has label name ${JSON.stringify(name)}, which is not valid or is reserved ` +
          `(names match [a-zA-Z_][a-zA-Z0-9_]*, do not start with "__", and are not "le", "quantile" or "${OVERFLOW_LABEL}")`,
      );
    }
    if (typeof value !== "string" || !isWellFormed(value)) {
      throw new TypeError(
        `${what} label ${JSON.stringify(name)} must be a string of well-formed Unicode, got ${
          typeof value === "string" ? "one with a lone surrogate" : typeof value
        }`,
      );
    }
    if (value.length > MAX_LABEL_VALUE_LENGTH) {
      throw new RangeError(
        `${what} label ${
          JSON.stringify(name)
        } is ${value.length} code units long; the limit is ${MAX_LABEL_VALUE_LENGTH}`,
      );
    }
    pairs.push([name, value]);
  }
  return pairs;
}

function sameList(a: readonly unknown[] | undefined, b: readonly unknown[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
}

/**
 * A set of metrics whose values live in shared memory.
 *
 * Record from any thread that attached (`share()` / `Registry.attach()`), render from any.
 *
 * @example Counting and rendering
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * const registry = new Registry();
 * const jobs = registry.counter({ name: "jobs_total", help: "Jobs", labelNames: ["kind"] as const });
 * jobs.labels({ kind: "email" }).inc();
 * const text = registry.render();
 * if (!text.includes('jobs_total{kind="email"} 1')) throw new Error(text);
 * if (!registry.render("openmetrics").endsWith("# EOF\n")) throw new Error();
 * ```
 */
export class Registry {
  /** @ignore @internal The store behind the registry (shared memory). */
  readonly store: Store;
  private readonly defaultExemplars: ExemplarProvider | undefined;
  private readonly byName = new Map<string, AnyFamily>();
  /** Metrics by id; undefined once removed. */
  private readonly byId: (AnyFamily | undefined)[] = [];
  private readonly takenNames = new Map<string, string>();
  private sorted: AnyFamily[] | undefined;
  /** Bytes of the metrics log this thread has read. */
  private cursor = 0;
  /** The series this thread knows, by row of the series table. */
  private readonly local: (SeriesBase | undefined)[] = [];
  /** The CHANGES epoch of this thread's last scan for new series. */
  private seenChanges = -1;
  /** The creations this thread has looked at (-1: never; the first scan reads the whole table). */
  private seenCreations = -1;
  private readonly staleAfterSeconds: number;
  /** Renders show created timestamps (`createdTimestamps`). */
  private readonly createdTimestamps: boolean;
  /** Which names the registry accepts (all threads alike: it travels in the store's layout). */
  private readonly names: NameValidation;
  private readonly hooks: (() => void | Promise<void>)[] = [];
  /** The default labels, in the order given. */
  private defaults: [string, string][] = [];
  /** The default labels each metric shows (its own label names left out), by metric. */
  private defaultsByFamily = new WeakMap<AnyFamily, readonly (readonly [string, string])[]>();
  /** Prepended to every metric name but the self-metrics'. */
  private readonly prefix: string;
  /** What `metrics()` renders and `contentType` says. */
  private exposition: "prometheus" | "openmetrics" = "prometheus";
  private overflowCounter: Counter<"metric"> | undefined;
  private droppedExemplars: Counter | undefined;
  private detached = false;

  /**
   * Creates an empty registry with its own shared-memory store.
   *
   * @param options Sizes of the store, a default exemplar provider, and whether to register self-metrics.
   * @param attachTo A handle from another thread's `share()`; prefer `Registry.attach(handle)`.
   * @throws {RangeError} when `maxSeries` or `maxThreads` is out of range, or `names` is neither `"legacy"` nor `"utf8"`.
   */
  constructor(options: RegistryOptions = {}, attachTo?: StoreHandle) {
    this.defaultExemplars = options.exemplars;
    const stale = options.staleAfterSeconds ?? 0;
    if (typeof stale !== "number" || !(stale >= 0 && stale < Infinity)) {
      throw new RangeError(`Registry option staleAfterSeconds must be a number >= 0, got ${String(stale)}`);
    }
    this.staleAfterSeconds = stale;
    if (options.createdTimestamps !== undefined && typeof options.createdTimestamps !== "boolean") {
      throw new TypeError(
        `Registry option createdTimestamps must be a boolean, got ${JSON.stringify(options.createdTimestamps)}`,
      );
    }
    this.createdTimestamps = attachTo === undefined
      ? options.createdTimestamps ?? false
      : (attachTo.layout as NamedLayout).createdTimestamps === true;
    const names = options.names ?? "legacy";
    if (names !== "legacy" && names !== "utf8") {
      throw new RangeError(`Registry option names must be "legacy" or "utf8", got ${JSON.stringify(names)}`);
    }
    if (attachTo !== undefined) {
      this.store = Store.attach(attachTo);
      const layout = this.store.layout as NamedLayout;
      this.names = layout.names === "utf8" ? "utf8" : "legacy";
      this.prefix = layout.prefix ?? "";
      this.defaults = layout.defaultLabels ?? [];
    } else {
      this.names = names;
      const prefix = options.prefix ?? "";
      if (typeof prefix !== "string" || (prefix !== "" && !isValidMetricName(prefix, names))) {
        throw new RangeError(
          `Registry option prefix must be the start of a valid metric name${
            names === "legacy" ? " ([a-zA-Z_:][a-zA-Z0-9_:]*)" : ""
          }, got ${typeof prefix === "string" ? JSON.stringify(prefix) : typeof prefix}`,
        );
      }
      this.prefix = prefix;
      this.defaults = checkDefaultLabels("Registry option defaultLabels", options.defaultLabels ?? {}, names);
      const maxSeries = options.maxSeries ?? 10_000;
      const maxThreads = options.maxThreads ?? 16;
      if (!Number.isInteger(maxSeries) || maxSeries < 1 || maxSeries >= 2 ** 31) {
        throw new RangeError(`Registry option maxSeries must be a positive integer, got ${maxSeries}`);
      }
      if (!Number.isInteger(maxThreads) || maxThreads < 1 || maxThreads > 1024) {
        throw new RangeError(`Registry option maxThreads must be an integer in [1, 1024], got ${maxThreads}`);
      }
      const maxBytes = options.maxBytes ?? 2 ** 30; // address space only, per buffer: a shared registry reserves about 22 GiB
      if (!Number.isInteger(maxBytes) || maxBytes < 2 ** 16 || maxBytes > 2 ** 40) {
        throw new RangeError(`Registry option maxBytes must be an integer in [64 KiB, 1 TiB], got ${maxBytes}`);
      }
      const layout: NamedLayout = {
        maxSeries,
        maxThreads,
        maxBytes,
        journalBytes: Math.min(maxBytes, 2 ** 28),
        names,
        createdTimestamps: this.createdTimestamps,
        defaultLabels: this.defaults,
        prefix,
      };
      this.store = Store.create(layout);
    }
    this.sync();
    if (attachTo !== undefined) {
      this.store.locked(() => this.dropRemovedRows(true));
      this.watchRemovals();
    }
    if (options.selfMetrics !== false) this.registerSelfMetrics();
  }

  /**
   * Joins a registry another thread shared: the same metrics, backed by the same memory.
   *
   * @param handle What `share()` returned on the other thread.
   * @param options Exemplar provider and self-metrics for this thread; sizes come from the handle.
   * @throws {Error} when the handle is not one, or every thread slot is taken.
   *
   * @example In a worker
   * ```ts ignore
   * import { Registry } from "@atomic/metrics";
   * import { workerData } from "node:worker_threads";
   * const registry = Registry.attach(workerData.metrics);
   * registry.counter({ name: "jobs_total", help: "Jobs" }).inc();
   * ```
   */
  static attach(handle: StoreHandle, options: Pick<RegistryOptions, "exemplars"> = {}): Registry {
    return new Registry(options, handle);
  }

  /**
   * A handle for other threads: pass it through `postMessage` or `workerData` and call
   * `Registry.attach(handle)` there. From now on this registry takes the atomic paths.
   *
   * @throws {Error} where the runtime has no SharedArrayBuffer.
   * @example
   * ```ts
   * import { Registry } from "@atomic/metrics";
   * const registry = new Registry();
   * const handle = registry.share();
   * const same = Registry.attach(handle);
   * same.counter({ name: "a_total", help: "A" }).inc();
   * if (!registry.render().includes("a_total 1")) throw new Error();
   * ```
   */
  share(): StoreHandle {
    const handle = this.store.share();
    this.watchRemovals();
    return handle;
  }

  /**
   * Gives this thread's slot back, for a worker about to exit, so that a pool that
   * replaces its workers never runs out of the registry's `maxThreads` slots. What this
   * thread recorded stays in every render. Do not record through this registry afterwards.
   *
   * @example In a worker, before it exits
   * ```ts
   * import { Registry } from "@atomic/metrics";
   * const main = new Registry({ maxThreads: 2 });
   * const worker = Registry.attach(main.share());
   * worker.counter({ name: "done_total", help: "Done" }).inc();
   * worker.detach();
   * const next = Registry.attach(main.share()); // takes the slot back
   * next.counter({ name: "done_total", help: "Done" }).inc();
   * if (!main.render().includes("done_total 2")) throw new Error();
   * ```
   */
  detach(): void {
    if (this.detached) return;
    this.syncRemovals();
    this.detached = true;
    if (this.watch !== undefined) clearInterval(this.watch);
    this.store.release();
  }

  /**
   * A thread that only records through bound series never calls into the registry, so it
   * would not learn of removals: once threads share the registry, a timer (that does not keep
   * the process alive) catches up every second. It holds the registry weakly.
   */
  private watchRemovals(): void {
    // Where there are no weak references (workerd) there are no threads either: nothing to watch.
    if (this.watch !== undefined || typeof setInterval !== "function" || typeof WeakRef !== "function") return;
    const self = new WeakRef(this);
    const timer = setInterval(() => {
      const registry = self.deref();
      if (registry === undefined || registry.detached) return clearInterval(timer);
      try {
        registry.syncRemovals();
      } catch {
        // never into the application; the next call into the registry catches up
      }
    }, 1000);
    unrefTimer(timer);
    this.watch = timer;
  }
  private watch: ReturnType<typeof setInterval> | undefined;

  /**
   * Registers a counter, or returns the one already registered with the same definition.
   * @throws {Error} on an invalid name, label name or unit, or a conflicting definition.
   */
  counter<L extends string = never>(options: CounterOptions<L>): Counter<L> {
    const family = this.register("counter", options, {}) as Counter<L>;
    if (options.collect) family.collectHook = () => options.collect!.call(family, family);
    return family;
  }

  /**
   * Registers a gauge, or returns the one already registered with the same definition.
   * @throws {Error} on an invalid name or label name, or a conflicting definition.
   */
  gauge<L extends string = never>(options: GaugeOptions<L>): Gauge<L> {
    const family = this.register("gauge", options, {}) as Gauge<L>;
    if (options.collect) family.collectHook = () => options.collect!.call(family, family);
    return family;
  }

  /**
   * Registers a histogram, or returns the one already registered with the same definition.
   * @throws {Error} on an invalid name, a label named `le`, buckets not strictly increasing.
   */
  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L> {
    checkOptions("histogram", options);
    const what = `Histogram "${this.prefixed(options.name)}"`;
    const native = options.native === undefined ? undefined : nativeDefinition(what, options.native);
    // A native histogram has no classic buckets unless given some (only +Inf), as in client_golang.
    const buckets = options.buckets ?? (native === undefined ? DEFAULT_BUCKETS : []);
    if (!Array.isArray(buckets) || (buckets.length === 0 && native === undefined)) {
      throw new Error(`${what} buckets must be a non-empty array`);
    }
    const bounds = buckets.filter((b) => b !== Infinity);
    bounds.forEach((b, i) => {
      if (typeof b !== "number" || !Number.isFinite(b)) {
        throw new Error(`${what} bucket ${String(b)} is not a finite number`);
      }
      if (i > 0 && !(b > bounds[i - 1]!)) {
        throw new Error(`${what} buckets must be strictly increasing: ${bounds[i - 1]} then ${b}`);
      }
    });
    if (Array.isArray(options.labelNames) && options.labelNames.includes("le" as L)) {
      throw new Error(`${what} cannot have a label named "le"`);
    }
    const family = this.register(
      "histogram",
      options,
      native === undefined ? { buckets: bounds } : { buckets: bounds, native },
    ) as Histogram<L>;
    if (options.collect) family.collectHook = () => options.collect!.call(family, family);
    return family;
  }

  /**
   * Registers a summary, or returns the one already registered with the same definition.
   * @throws {Error} on an invalid name, a label named `quantile`, or bad window options.
   */
  summary<L extends string = never>(options: SummaryOptions<L>): Summary<L> {
    checkOptions("summary", options);
    const what = `Summary "${this.prefixed(options.name)}"`;
    const quantiles = options.quantiles ?? DEFAULT_QUANTILES;
    for (const q of quantiles) {
      if (typeof q !== "number" || !(q >= 0 && q <= 1)) {
        throw new Error(`${what} quantile ${String(q)} is not in [0, 1]`);
      }
    }
    const maxAgeSeconds = options.maxAgeSeconds ?? 600;
    const ageBuckets = options.ageBuckets ?? 5;
    if (typeof maxAgeSeconds !== "number" || !(maxAgeSeconds > 0 && maxAgeSeconds < Infinity)) {
      throw new Error(`${what} maxAgeSeconds must be a positive number, got ${maxAgeSeconds}`);
    }
    if (!Number.isInteger(ageBuckets) || ageBuckets < 1 || ageBuckets > 100) {
      throw new Error(`${what} ageBuckets must be an integer in [1, 100], got ${ageBuckets}`);
    }
    if (Array.isArray(options.labelNames) && options.labelNames.includes("quantile" as L)) {
      throw new Error(`${what} cannot have a label named "quantile"`);
    }
    const family = this.register("summary", options, {
      quantiles: [...quantiles].sort((a, b) => a - b),
      maxAgeSeconds,
      ageBuckets,
    }) as Summary<L>;
    if (options.collect) family.collectHook = () => options.collect!.call(family, family);
    return family;
  }

  /**
   * Runs `hook` before every render and collect (e.g. to read a value into a gauge).
   * A hook that throws makes `render()` throw; `collectAsync()` (the HTTP handler's way) counts
   * it instead. A hook may be async: see `collectAsync()`. Returns a function that removes it.
   *
   * @example
   * ```ts
   * import { Registry } from "@atomic/metrics";
   * const registry = new Registry();
   * const up = registry.gauge({ name: "up_seconds", help: "Uptime" });
   * const remove = registry.beforeCollect(() => up.set(42));
   * if (!registry.render().includes("up_seconds 42")) throw new Error();
   * remove();
   * ```
   */
  beforeCollect(hook: () => void | Promise<void>): () => void {
    this.hooks.push(hook);
    return () => {
      const i = this.hooks.indexOf(hook);
      if (i >= 0) this.hooks.splice(i, 1);
    };
  }

  /** A registered metric by name (including ones registered by other threads). */
  get(name: string): Counter | Gauge | Histogram | Summary | undefined {
    this.syncRemovals();
    return this.byName.get(name) as Counter | Gauge | Histogram | Summary | undefined;
  }

  /**
   * A registered metric by name, as prom-client's `getSingleMetric()` finds it: the full name,
   * or the name without the registry's `prefix`.
   *
   * @example
   * ```ts
   * import { Registry } from "@atomic/metrics";
   * const registry = new Registry({ prefix: "app_" });
   * registry.counter({ name: "jobs_total", help: "Jobs" }).inc();
   * if (registry.getSingleMetric("jobs_total") !== registry.getSingleMetric("app_jobs_total")) throw new Error();
   * if (registry.getSingleMetric("jobs_total")?.name !== "app_jobs_total") throw new Error();
   * ```
   */
  getSingleMetric(name: string): Counter | Gauge | Histogram | Summary | undefined {
    return this.get(name) ?? (this.prefix === "" ? undefined : this.get(this.prefix + name));
  }

  /**
   * Sets the labels every series shows, replacing the ones given before (prom-client's
   * `register.setDefaultLabels()`). Renders from now on show them, on this thread and on threads
   * that attach later (threads attached before keep the labels they attached with). A metric
   * with a label of the same name shows its own value instead.
   * @param labels Label names to values: names valid and not `le` or `quantile`, values strings
   * of at most 1,024 code units.
   * @throws {Error} naming the label when a name or value is not valid; nothing changes then.
   *
   * @example
   * ```ts
   * import { Registry } from "@atomic/metrics";
   * const registry = new Registry({ selfMetrics: false });
   * registry.counter({ name: "jobs_total", help: "Jobs" }).inc();
   * registry.setDefaultLabels({ service: "api" });
   * if (!registry.render().includes('jobs_total{service="api"} 1')) throw new Error();
   * ```
   */
  setDefaultLabels(labels: Record<string, string>): void {
    const pairs = checkDefaultLabels("Registry.setDefaultLabels() argument", labels, this.names);
    this.defaults = pairs;
    (this.store.layout as NamedLayout).defaultLabels = pairs;
    this.defaultsByFamily = new WeakMap(); // each metric works its pairs out again, once
  }

  /** @ignore @internal The default labels a metric shows: the registry's, less those it has a label by. */
  defaultLabelsOf(family: AnyFamily): readonly (readonly [string, string])[] {
    if (this.defaults.length === 0) return this.defaults;
    const cached = this.defaultsByFamily.get(family);
    if (cached !== undefined) return cached;
    const own = family.labelNames;
    const pairs = this.defaults.filter(([name]) => !own.includes(name));
    this.defaultsByFamily.set(family, pairs);
    return pairs;
  }

  /** The name a metric registered as `name` takes: prefixed, unless it is a self-metric. */
  private prefixed<T>(name: T): T {
    if (this.prefix === "" || typeof name !== "string" || name.startsWith("atomic_metrics_")) return name;
    return (this.prefix + name) as T;
  }

  /**
   * The Content-Type of what `metrics()` returns: the Prometheus text format 0.0.4
   * (`Registry.PROMETHEUS_CONTENT_TYPE`) unless `setContentType()` chose OpenMetrics.
   */
  get contentType(): string {
    return this.exposition === "openmetrics" ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE;
  }

  /**
   * Chooses what `metrics()` returns, as prom-client's `setContentType()` does.
   * @param contentType `Registry.PROMETHEUS_CONTENT_TYPE` or `Registry.OPENMETRICS_CONTENT_TYPE`.
   * @throws {RangeError} for any other value.
   *
   * @example
   * ```ts
   * import { Registry } from "@atomic/metrics";
   * const registry = new Registry();
   * registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
   * if (!(await registry.metrics()).endsWith("# EOF\n")) throw new Error();
   * ```
   */
  setContentType(contentType: string): void {
    this.exposition = textFormatOf("Registry", contentType);
  }

  /** The Content-Type of the Prometheus text format 0.0.4. */
  static readonly PROMETHEUS_CONTENT_TYPE: string = PROMETHEUS_CONTENT_TYPE;
  /** The Content-Type of OpenMetrics 1.0.0 text. */
  static readonly OPENMETRICS_CONTENT_TYPE: string = OPENMETRICS_CONTENT_TYPE;

  /**
   * The exposition as prom-client's `register.metrics()` returns it: runs the collect hooks
   * (awaiting async ones, as `collectAsync()` does), then renders the format `contentType` names.
   * For an HTTP endpoint prefer `metricsHandler()` or `serve()`: they stream.
   *
   * @example
   * ```ts
   * import { Registry } from "@atomic/metrics";
   * const registry = new Registry();
   * registry.gauge({ name: "depth", help: "Depth", collect: async (g) => g.set(await Promise.resolve(4)) });
   * if (!(await registry.metrics()).includes("depth 4")) throw new Error();
   * if (registry.contentType !== "text/plain; version=0.0.4; charset=utf-8") throw new Error();
   * ```
   */
  async metrics(): Promise<string> {
    await this.collectAsync();
    return renderToString(this.prepared(), this.exposition === "openmetrics", DEFAULT_ESCAPING, this.createdTimestamps);
  }

  /**
   * Every metric as prom-client's `getMetricsAsJSON()` returns it, after the collect hooks:
   * `{ name, help, type, aggregator, values: [{ labels, value, metricName? }] }`, histograms as
   * `_bucket` values (`le` a number, or `"+Inf"`), `_sum` and `_count`; summaries as quantile
   * values, `_sum` and `_count`. Default labels are in each value's labels.
   *
   * @example
   * ```ts
   * import { Registry } from "@atomic/metrics";
   * const registry = new Registry({ selfMetrics: false, defaultLabels: { app: "a" } });
   * registry.counter({ name: "jobs_total", help: "Jobs", labelNames: ["queue"] }).inc({ queue: "q" }, 2);
   * const [jobs] = await registry.getMetricsAsJSON();
   * if (jobs?.type !== "counter" || jobs.values[0]?.value !== 2 || jobs.values[0]?.labels.app !== "a") throw new Error();
   * ```
   */
  async getMetricsAsJSON(): Promise<MetricJSON[]> {
    await this.collectAsync();
    return metricsAsJSON(collectSnapshots(this.prepared()));
  }

  /**
   * Puts registries of different metrics together, as prom-client's `Registry.merge()`: the
   * result renders, streams, collects and serves (`metricsHandler()`, `serve()`) all their
   * metrics as one exposition. The self-metrics (`atomic_metrics_*`) shown are the first
   * registry's. A metric name in two of them is refused (now, or when rendered if it was
   * registered later).
   * @param registries Two or more registries (one is allowed).
   * @throws {Error} when a metric name is in two registries, or an argument is not a Registry.
   *
   * @example
   * ```ts
   * import { Registry } from "@atomic/metrics";
   * const a = new Registry();
   * const b = new Registry({ defaultLabels: { part: "b" } });
   * a.counter({ name: "a_total", help: "A" }).inc();
   * b.counter({ name: "b_total", help: "B" }).inc();
   * const text = await Registry.merge([a, b]).metrics();
   * if (!text.includes("a_total 1") || !text.includes('b_total{part="b"} 1')) throw new Error(text);
   * ```
   */
  static merge(registries: readonly Registry[]): MergedRegistry {
    return new MergedRegistry(registries);
  }

  /** @ignore @internal The families to render, sorted, after running the collect hooks synchronously. */
  hookedFamilies(): AnyFamily[] {
    return this.families();
  }

  /** @ignore @internal The families to render, sorted; no hooks run (after `collectAsync()`). */
  preparedFamilies(): AnyFamily[] {
    return this.prepared();
  }

  /** @ignore @internal Whether renders show created timestamps. */
  get showsCreated(): boolean {
    return this.createdTimestamps;
  }

  /** Number of live series (all metrics, all threads; overflow and self-metric series apart). */
  seriesCount(): number {
    return Atomics.load(this.store.i32, SERIES);
  }

  /**
   * Bytes of memory the registry's store takes now, in every buffer of every thread; what is
   * reserved for growth is address space, not counted.
   */
  get byteLength(): number {
    return this.store.byteLength;
  }

  /**
   * The exposition text: Prometheus 0.0.4 by default, or OpenMetrics 1.0; or, for
   * `"protobuf"`, the bytes of Prometheus' protobuf format (length-delimited
   * `io.prometheus.client.MetricFamily` messages, with native histograms).
   * Synchronous: the values are already in memory.
   * @param format `"prometheus"`, `"openmetrics"` or `"protobuf"`.
   * @param options How names outside the legacy character set are written (`escaping`).
   * @throws whatever a collect hook throws; a {RangeError} for an unknown `escaping`.
   *
   * @example UTF-8 names, quoted or escaped
   * ```ts
   * import { Registry } from "@atomic/metrics";
   * const registry = new Registry({ names: "utf8", selfMetrics: false });
   * registry.gauge({ name: "queue.depth", help: "Depth", labelNames: ["queue.name"] }).set({ "queue.name": "a" }, 3);
   * if (!registry.render("prometheus", { escaping: "allow-utf-8" }).includes('{"queue.depth","queue.name"="a"} 3')) {
   *   throw new Error();
   * }
   * if (!registry.render().includes('queue_depth{queue_name="a"} 3')) throw new Error();
   * ```
   *
   * @example Native histograms over protobuf, with created timestamps
   * ```ts
   * import { Registry } from "@atomic/metrics";
   * const registry = new Registry({ createdTimestamps: true, selfMetrics: false });
   * registry.histogram({ name: "latency_seconds", help: "Latency", native: {} }).observe(0.25);
   * const bytes = registry.render("protobuf");
   * if (!(bytes instanceof Uint8Array) || bytes[0] !== bytes.length - 1) throw new Error();
   * if (!registry.render("openmetrics").includes("latency_seconds_created ")) throw new Error();
   * ```
   */
  render(format?: "prometheus" | "openmetrics", options?: RenderOptions): string;
  /**
   * Prometheus' protobuf format: the bytes of length-delimited `io.prometheus.client.MetricFamily`
   * messages, with native histograms (and created timestamps with `createdTimestamps`).
   * @param format `"protobuf"`.
   * @param options How names outside the legacy character set are written (`escaping`).
   * @throws whatever a collect hook throws; a {RangeError} for an unknown `escaping`.
   */
  render(format: "protobuf", options?: RenderOptions): Uint8Array;
  /**
   * The exposition in any format: a string for the text formats, bytes for `"protobuf"`.
   * @param format `"prometheus"`, `"openmetrics"` or `"protobuf"`.
   * @param options How names outside the legacy character set are written (`escaping`).
   * @throws whatever a collect hook throws; a {RangeError} for an unknown `escaping`.
   */
  render(format: Format, options?: RenderOptions): string | Uint8Array;
  render(format: Format = "prometheus", options: RenderOptions = {}): string | Uint8Array {
    const escaping = escapingOf("render", options?.escaping);
    const created = this.createdTimestamps;
    if (format === "protobuf") return renderProtobuf(this.families(), { escaping, created });
    return renderToString(this.families(), format === "openmetrics", escaping, created);
  }

  /** A structured snapshot of every metric, for exporters such as OTLP. */
  collect(): MetricSnapshot[] {
    return collectSnapshots(this.families());
  }

  /**
   * Takes a metric out of the registry, with all its series, on every thread; its name is
   * free to register again. Returns whether it was registered.
   *
   * @example
   * ```ts
   * import { Registry } from "@atomic/metrics";
   * const registry = new Registry();
   * registry.counter({ name: "old_total", help: "Old" }).inc();
   * if (!registry.remove("old_total") || registry.render().includes("old_total")) throw new Error();
   * registry.gauge({ name: "old_total", help: "Now a gauge" }); // the name is free again
   * ```
   */
  remove(name: string): boolean {
    return this.store.locked(() => {
      this.syncRemovals(); // a call into the registry: catch up with removals too
      const family = this.byName.get(name);
      if (family === undefined || name.startsWith("atomic_metrics_")) return false;
      // Marked removed first: the rows freed from now on, and those on its free list, go to the
      // orphan list, where any metric reuses the row (with new slots: sizes differ).
      const words = this.metricWords(family);
      words[1] = 1;
      this.store.orphanRows(words);
      this.removeRows(family);
      // Its fold count in the self-metric goes with it.
      if (this.overflowCounter !== undefined) this.removeSeries(this.overflowCounter, [name]);
      this.store.appendMetrics([{ t: "x", id: family.id }]);
      this.sync();
      return true;
    });
  }

  /**
   * Takes every metric out of the registry (its self-metrics stay), on every thread.
   *
   * @example
   * ```ts
   * import { Registry } from "@atomic/metrics";
   * const registry = new Registry({ selfMetrics: false });
   * registry.counter({ name: "a_total", help: "A" }).inc();
   * registry.clear();
   * if (registry.render() !== "") throw new Error();
   * ```
   */
  clear(): void {
    this.sync();
    for (const family of [...this.byName.values()]) this.remove(family.name);
  }

  /**
   * Runs every collect hook — the registry's `beforeCollect` hooks and each metric's `collect`
   * option — and awaits the async ones in parallel, up to `deadlineMs`. A hook that throws or
   * rejects is counted in `atomic_metrics_collect_errors_total{metric}`, one still running at the
   * deadline in `atomic_metrics_collect_timeouts_total{metric}` (`metric` is `"beforeCollect"`
   * for registry hooks); their metrics keep their last values, and this never rejects. Then
   * `render()` or `stream()` show what the hooks set. The HTTP handler calls it before each
   * scrape, with a deadline from Prometheus' scrape timeout.
   *
   * @example An async collector
   * ```ts
   * import { Registry } from "@atomic/metrics";
   * const registry = new Registry();
   * registry.gauge({
   *   name: "queue_depth",
   *   help: "Items waiting",
   *   collect: async (gauge) => gauge.set(await Promise.resolve(7)),
   * });
   * await registry.collectAsync({ deadlineMs: 1000 });
   * if (!registry.render().includes("queue_depth 7")) throw new Error();
   * ```
   */
  async collectAsync(options: { deadlineMs?: number; onError?: (error: unknown) => void } = {}): Promise<void> {
    const deadlineMs = options.deadlineMs ?? 10_000;
    const tell = (error: unknown) => {
      try {
        options.onError?.(error);
      } catch {
        // a callback that throws is ignored
      }
    };
    if (typeof deadlineMs !== "number" || !(deadlineMs >= 0)) {
      throw new RangeError(`Registry.collectAsync() option deadlineMs must be a number >= 0, got ${deadlineMs}`);
    }
    this.syncRemovals();
    const pending: { metric: string; promise: Promise<unknown> }[] = [];
    const run = (metric: string, hook: () => unknown) => {
      try {
        const result = hook();
        if (result !== null && typeof (result as Promise<unknown>)?.then === "function") {
          pending.push({ metric, promise: result as Promise<unknown> });
        }
      } catch (error) {
        this.collectFailed("errors", metric);
        tell(error);
      }
    };
    for (const hook of this.hooks) run("beforeCollect", hook);
    for (const family of this.hookOrder()) run(family.name, family.collectHook!);
    if (pending.length === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = Symbol("late");
    const deadline = new Promise<typeof late>((resolve) => (timer = setTimeout(() => resolve(late), deadlineMs)));
    await Promise.all(pending.map(async ({ metric, promise }) => {
      try {
        if ((await Promise.race([promise, deadline])) === late) {
          this.collectFailed("timeouts", metric);
          promise.catch(() => {}); // settles later; nobody waits for it
        }
      } catch (error) {
        this.collectFailed("errors", metric);
        tell(error);
      }
    }));
    clearTimeout(timer);
  }

  /** Counts a collect hook that failed or was late. */
  private collectFailed(kind: "errors" | "timeouts", metric: string): void {
    try {
      (kind === "errors" ? this.collectErrors : this.collectTimeouts)?.inc({ metric });
    } catch {
      // a metric name over the label-length limit: uncounted, never thrown
    }
  }
  private collectErrors: Counter<"metric"> | undefined;
  private collectTimeouts: Counter<"metric"> | undefined;

  /**
   * The exposition as a stream of bytes (UTF-8 text, or protobuf messages for `"protobuf"`),
   * rendered a slice at a time: after each slice
   * (about `sliceMs` of work) the stream waits for the next task, so the event loop runs
   * between slices, and it renders only as fast as it is read, so the bytes in flight stay
   * bounded whatever the number of series. Each series appears once; its values are read when
   * its slice is written. Runs no collect hooks: call `collectAsync()` first.
   *
   * @example Streaming the exposition
   * ```ts
   * import { Registry } from "@atomic/metrics";
   * const registry = new Registry();
   * registry.counter({ name: "jobs_total", help: "Jobs" }).inc(2);
   * const text = await new Response(registry.stream("openmetrics")).text();
   * if (!text.includes("jobs_total 2") || !text.endsWith("# EOF\n")) throw new Error(text);
   * ```
   */
  stream(
    format: Format = "prometheus",
    options: { sliceMs?: number } & RenderOptions = {},
  ): ReadableStream<Uint8Array> {
    const escaping = escapingOf("stream", options.escaping);
    return streamFamilies(this.prepared(), format, escaping, this.createdTimestamps, options.sliceMs ?? 2);
  }

  /** Families sorted by name, after syncing other threads' definitions and series, running hooks, expiring. */
  private families(): AnyFamily[] {
    // Series first (expiry included), then the hooks, so self-metrics count what is shown.
    this.prepared();
    for (const hook of this.hooks) detach(hook());
    for (const family of this.hookOrder()) detach(family.collectHook!());
    return this.sortedFamilies();
  }

  /** Families sorted by name, with every thread's series known and stale series expired; no hooks. */
  private prepared(): AnyFamily[] {
    this.sync();
    this.scan();
    this.expire();
    return this.sortedFamilies();
  }

  /**
   * The metrics with a collect hook, the registry's own last: a user's hook may make series,
   * and `atomic_metrics_series` must count them in the same render.
   */
  private hookOrder(): AnyFamily[] {
    const all = [...this.byName.values()].filter((family) => family.collectHook !== undefined);
    return [
      ...all.filter((f) => !f.name.startsWith("atomic_metrics_")),
      ...all.filter((f) => f.name.startsWith("atomic_metrics_")),
    ];
  }

  /** Families sorted by name (cached until a metric comes or goes). */
  private sortedFamilies(): AnyFamily[] {
    return this.sorted ??= [...this.byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Reads the metric definitions and removals other threads published since the last sync. */
  private sync(): void {
    const end = this.store.metricLogLength();
    if (end === this.cursor) return;
    for (const record of this.store.readMetrics(this.cursor, end)) {
      if (record.t === "m") this.adoptMetric(record.id, record.d as MetricDefinition);
      else this.dropMetric(record.id);
    }
    this.cursor = end;
  }

  /** Builds the family for a definition read from the metrics log (ours or another thread's). */
  private adoptMetric(id: number, definition: MetricDefinition): void {
    const family = this.familyOf(definition, id);
    if (definition.staleAfterSeconds === undefined && this.staleAfterSeconds > 0) {
      family.staleAfterMs = this.staleAfterSeconds * 1000;
    }
    this.byId[id] = family;
    this.byName.set(definition.name, family);
    for (const name of namesOf(definition.type, definition.name)) this.takenNames.set(name, definition.name);
    this.sorted = undefined;
  }

  /** Forgets a removed metric: its name is free again. Its series were removed before. */
  private dropMetric(id: number): void {
    const family = this.byId[id];
    if (family === undefined) return;
    for (const series of family.series) family.forget(series);
    if (family.overflowSeries !== undefined) family.forget(family.overflowSeries);
    family.removed = true;
    this.byId[id] = undefined;
    this.byName.delete(family.name);
    for (const name of namesOf(family.definition.type, family.name)) this.takenNames.delete(name);
    this.sorted = undefined;
  }

  /**
   * The metric's words in shared memory: [free list head (+1), removed, overflow row (+1), 0].
   * A view stays valid when the shared buffer grows, so each thread makes it once per metric.
   */
  private metricWords(family: AnyFamily): Int32Array {
    const cached = this.words[family.id];
    if (cached !== undefined) return cached;
    const at = (family.definition as { words?: number }).words!;
    return this.words[family.id] = this.store.sharedI32.subarray(at * 2, at * 2 + 4);
  }
  private readonly words: Int32Array[] = [];
  private readonly place: { -readonly [K in keyof SeriesPlace]: SeriesPlace[K] } = {
    id: 0,
    generation: 0,
    offset: 0,
    shared: 0,
    f64: new Float64Array(0),
    fold: -1,
  };

  // ---- series: create, find, remove ----------------------------------------------------

  /** @ignore @internal Creates a series another call asked for, or finds the one another thread made; undefined past a limit (it then folds). */
  defineSeries(family: AnyFamily, values: readonly string[], unknown = false): SeriesBase | undefined {
    if (this.detached) throw new Error(`${family.kind} "${family.name}" was used after detach()`);
    const store = this.store;
    const acquired = store.lock();
    try {
      this.syncRemovals();
      const hash = labelHash(family.id, values);
      if (!store.threaded) {
        // Not shared yet: no other thread made series, so this thread's label index knows them all.
        const known = unknown ? undefined : family.find(values);
        if (known !== undefined) return known;
      } else {
        const found = store.find(family.id, family.labelPrefixes, values, hash);
        if (found >= 0) return this.materialize(family, found, values);
      }
      const counted = !this.isSelf(family) && !family.name.startsWith("atomic_metrics_");
      if (counted && values.length > 0 && Atomics.load(store.i32, SERIES) >= store.layout.maxSeries) return undefined;
      const id = this.createRow(family, values, hash, false);
      if (id < 0) return undefined;
      if (counted) Atomics.add(store.i32, SERIES, 1);
      return this.materialize(family, id, values);
    } finally {
      if (acquired) store.unlock();
    }
  }

  /** @ignore @internal Finds a series any thread made; creates none. */
  findSeries(family: AnyFamily, values: readonly string[]): SeriesBase | undefined {
    const store = this.store;
    return store.locked(() => {
      this.syncRemovals();
      const found = this.findRow(family, values);
      return found >= 0 ? this.materialize(family, found, values) : undefined;
    });
  }

  /**
   * The live row of a label set (not the overflow series), or -1. Under the lock. A registry not
   * shared yet has no shared index: its label index knows every series.
   */
  private findRow(family: AnyFamily, values: readonly string[]): number {
    const store = this.store;
    if (!store.threaded) return family.find(values)?.id ?? -1;
    return store.find(family.id, family.labelPrefixes, values, labelHash(family.id, values));
  }

  /** @ignore @internal The family's overflow series, materialized here if another thread made it. */
  overflowOf(family: AnyFamily): SeriesBase | undefined {
    if (family.overflowSeries !== undefined) return family.overflowSeries;
    return this.store.locked(() => {
      this.syncRemovals();
      const id = this.metricWords(family)[2]! - 1;
      if (id < 0) return family.labelNames.length > 0 ? undefined : this.defineSeries(family, []);
      return this.materialize(family, id, family.labelNames.map(() => OVERFLOW_VALUE));
    });
  }

  /** @ignore @internal Removes a series of a family; whether it existed. */
  removeSeries(family: AnyFamily, values: readonly string[]): boolean {
    const store = this.store;
    return store.locked(() => {
      this.syncRemovals();
      const found = this.findRow(family, values);
      if (found < 0) return false;
      this.removeRow(found);
      return true;
    });
  }

  /** @ignore @internal Removes every series of a family; a metric with labels gets a fresh overflow series. */
  clearFamily(family: AnyFamily): void {
    this.store.locked(() => {
      this.syncRemovals();
      this.removeRows(family);
      if (family.labelNames.length > 0) this.createOverflow(family);
      else family.unlabelled(); // a metric without labels shows 0 again at once
    });
  }

  /** Removes every row of a family (its overflow series too). Under the lock. */
  private removeRows(family: AnyFamily): void {
    const store = this.store;
    const table = store.table;
    const high = store.tableHigh;
    for (let id = 0; id < high; id++) {
      const row = store.row(id);
      if ((table[row]! & 1) === 1 && table[row + ROW_METRIC] === family.id) this.removeRow(id);
    }
  }

  /**
   * Removes a row: out of the index, a new generation, announced to every thread; the slots of
   * released shards and of this thread cleared now, other threads' at their next sync; freed
   * for reuse once no thread holds it. Under the lock.
   */
  private removeRow(id: number): void {
    const store = this.store;
    const table = store.table;
    const row = store.row(id);
    const state = table[row]!;
    if ((state & 1) === 0) return;
    const family = this.byId[table[row + ROW_METRIC]!];
    const overflow = (table[row + ROW_FLAGS]! & FLAG_OVERFLOW) !== 0;
    if (!overflow) store.delete(id, table[row + ROW_HASH]!);
    store.setRemoved(id);
    if (
      !overflow && family !== undefined && !this.isSelf(family) && !family.name.startsWith("atomic_metrics_")
    ) Atomics.sub(store.i32, SERIES, 1);
    if (overflow && family !== undefined) this.metricWords(family)[2] = 0;
    store.announceRemoval(id, state >>> 1);
    const size = family?.size.shard ?? 0;
    for (const thread of store.holders(id)) {
      if (thread !== store.thread && store.isReleased(thread)) {
        const shard = store.shard(thread);
        const offset = table[row + ROW_SHARD]!;
        shard.fill(0, Math.min(offset, shard.length), Math.min(offset + size + (overflow ? 1 : 0), shard.length));
        store.dropRow(id, thread);
      }
    }
    this.release(id);
  }

  /**
   * This thread lets go of a removed row: its local series dies, its slots in this thread's
   * shard are zeroed, its bit cleared; the last holder frees the row. Under the lock.
   */
  private release(id: number): void {
    const store = this.store;
    const table = store.table;
    const row = store.row(id);
    const local = this.local[id];
    if (local !== undefined && local.generation === (table[row]! >>> 1) - 1) {
      local.family.forget(local);
      this.local[id] = undefined;
    }
    const me = store.thread;
    if ((Atomics.load(table, row + ROW_BITS + (me >> 5)) & (1 << (me & 31))) !== 0) {
      const family = this.byId[table[row + ROW_METRIC]!];
      const shard = store.shard(me);
      const offset = table[row + ROW_SHARD]!;
      const overflow = (table[row + ROW_FLAGS]! & FLAG_OVERFLOW) !== 0;
      const end = offset + (family?.size.shard ?? 0) + (overflow ? 1 : 0);
      shard.fill(0, Math.min(offset, shard.length), Math.min(end, shard.length));
      if (store.dropRow(id, me)) return;
    } else if (store.holders(id).length > 0) {
      return;
    }
    const family = this.byId[table[row + ROW_METRIC]!];
    const removed = family === undefined || this.metricWords(family)[1] === 1;
    store.freeRow(id, removed ? undefined : this.metricWords(family));
  }

  /** @ignore @internal Processes the removals other threads announced since this thread last looked. */
  syncRemovals(): void {
    this.sync();
    const store = this.store;
    const announced = Atomics.load(store.i32, REMOVALS);
    if (announced === store.seenRemovals) return;
    store.locked(() => {
      const end = Atomics.load(store.i32, REMOVALS);
      if (end - store.seenRemovals > RING_SIZE) this.dropRemovedRows(false);
      else {
        for (let seq = store.seenRemovals; seq < end; seq++) {
          const [id, generation] = store.removalAt(seq);
          // Still removed in the generation announced: ours to let go if we hold it.
          if (store.state(id) === (generation + 1) << 1) this.releaseIfHeld(id);
        }
      }
      store.seenRemovals = end;
    });
  }

  /** Lets go of a removed row if this thread holds it or knows it. Under the lock. */
  private releaseIfHeld(id: number): void {
    const store = this.store;
    const me = store.thread;
    const held = (Atomics.load(store.table, store.row(id) + ROW_BITS + (me >> 5)) & (1 << (me & 31))) !== 0;
    if (held || this.local[id] !== undefined) this.release(id);
  }

  /**
   * Lets go of every removed row this thread holds, scanning the table: for a thread that fell
   * behind the removal ring, or took over the shard of a detached one. Under the lock.
   */
  private dropRemovedRows(attaching: boolean): void {
    const store = this.store;
    const table = store.table;
    const high = store.tableHigh;
    for (let id = 0; id < high; id++) {
      const state = table[store.row(id)]!;
      if ((state & 1) === 0 && state !== 0) this.releaseIfHeld(id);
    }
    if (attaching) store.seenRemovals = Atomics.load(store.i32, REMOVALS);
  }

  /**
   * Makes a row for a new series: its slots (a freed row of the metric's, or new), label
   * values, index entry, and time of birth for expiry; published live. Under the lock.
   * @returns the row, or -1 when memory is exhausted.
   */
  private createRow(family: AnyFamily, values: readonly string[], hash: number, overflow: boolean): number {
    const store = this.store;
    const size = family.size;
    // An overflow series has one more slot: its fold count, where there is no self-metric for it.
    const id = store.allocateRow(family.id, this.metricWords(family), size.shard, size.shared, overflow);
    if (id < 0) return -1;
    if (
      !store.storeLabels(id, family.labelPrefixes, values, overflow ? OVERFLOW_TEXT_BYTES : undefined) ||
      (!overflow && !store.insert(id, hash))
    ) {
      store.freeRow(id, this.metricWords(family));
      return -1;
    }
    const table = store.table;
    table[store.row(id) + ROW_HASH] = hash;
    const f64 = store.tableF64;
    const now = Date.now();
    f64[store.rowF64(id)] = 0;
    f64[store.rowF64(id) + 1] = now;
    f64[store.rowF64(id) + 2] = now;
    store.setLive(id);
    store.announceCreation(id);
    return id;
  }

  /** Makes a family's overflow series and links it to its fold counter. Under the lock. */
  private createOverflow(family: AnyFamily): void {
    const id = this.createRow(family, family.labelNames.map(() => OVERFLOW_VALUE), 0, true);
    if (id < 0) throw new Error(`${family.kind} "${family.name}" cannot be registered: the registry's memory is full`);
    this.metricWords(family)[2] = id + 1;
    this.materialize(family, id, family.labelNames.map(() => OVERFLOW_VALUE));
  }

  /**
   * The local series of a live row, made if this thread did not know it: this thread's shard
   * grown to hold it, its bit set. Under the lock. Undefined when the shard cannot grow.
   */
  private materialize(family: AnyFamily, id: number, values: readonly string[]): SeriesBase | undefined {
    const store = this.store;
    const table = store.table;
    const row = store.row(id);
    const generation = table[row]! >>> 1;
    const known = this.local[id];
    if (known !== undefined && known.generation === generation) return known;
    const offset = table[row + ROW_SHARD]!;
    const overflow = (table[row + ROW_FLAGS]! & FLAG_OVERFLOW) !== 0;
    // An overflow series counts its folds in the slot after its own (shown once it is not 0).
    const fold = overflow ? offset + family.size.shard : -1;
    const f64 = store.ownShard(Math.max(offset + family.size.shard, fold + 1));
    if (f64 === undefined) return undefined;
    store.holdRow(id);
    // One place object for every series made (the constructors copy what they need).
    const place = this.place;
    place.id = id;
    place.generation = generation;
    place.offset = offset;
    place.shared = table[row + ROW_SHARED]!;
    place.f64 = f64;
    place.fold = fold;
    const series = family.makeSeries(values, place, overflow);
    this.local[id] = series;
    family.adopt(series, values, overflow);
    const overflowCounter = this.overflowCounter;
    if (
      overflow && family.foldCounter === undefined && overflowCounter !== undefined &&
      !family.name.startsWith("atomic_metrics_") && family.name.length <= MAX_LABEL_VALUE_LENGTH
    ) {
      // Folds are also counted in the self-metric, per metric.
      family.foldCounter = this.defineSeries(overflowCounter, [family.name]) as CounterSeries | undefined;
    }
    return series;
  }

  /**
   * Reads every live row this thread does not know yet (made by other threads), in the order
   * they were born, so a render shows every series. Only when something changed.
   */
  private scan(): void {
    const store = this.store;
    if (Atomics.load(store.i32, CHANGES) === this.seenChanges) return;
    store.locked(() => {
      this.syncRemovals();
      this.seenChanges = Atomics.load(store.i32, CHANGES);
      const created = Atomics.load(store.i32, CREATIONS);
      const table = store.table;
      const fresh: number[] = [];
      const consider = (id: number) => {
        const row = store.row(id);
        const state = table[row]!;
        if ((state & 1) === 0) return;
        const known = this.local[id];
        if (known !== undefined && known.generation === state >>> 1) return;
        if (this.byId[table[row + ROW_METRIC]!] === undefined) return;
        fresh.push(id);
      };
      if (this.seenCreations < 0 || created - this.seenCreations > RING_SIZE) {
        // First look, or too far behind the ring: read the whole table.
        const high = store.tableHigh;
        for (let id = 0; id < high; id++) consider(id);
      } else {
        // Only the rows created since: a render of a million series needs no table walk.
        const seen = new Set<number>();
        for (let seq = this.seenCreations; seq < created; seq++) {
          const id = store.creationAt(seq);
          if (!seen.has(id)) seen.add(id), consider(id);
        }
      }
      this.seenCreations = created;
      fresh.sort((a, b) => table[store.row(a) + ROW_BORN]! - table[store.row(b) + ROW_BORN]!);
      for (const id of fresh) {
        const row = store.row(id);
        const family = this.byId[table[row + ROW_METRIC]!]!;
        const overflow = (table[row + ROW_FLAGS]! & FLAG_OVERFLOW) !== 0;
        const values = overflow
          ? family.labelNames.map(() => OVERFLOW_VALUE)
          : store.readLabels(id, family.labelPrefixes);
        this.materialize(family, id, values);
      }
    });
  }

  /**
   * Removes the series of metrics with `staleAfterSeconds` that nothing was recorded into, on
   * any thread, for that long: decided here, at collection, from whether a series' values
   * changed, so recording pays nothing for it.
   */
  private expire(): void {
    const now = Date.now();
    const store = this.store;
    let stale: SeriesBase[] | undefined;
    for (const family of this.byName.values()) {
      // A metric without labels has one series for good (its number is fixed by the code).
      if (family.staleAfterMs <= 0 || family.labelNames.length === 0) continue;
      const f64 = store.tableF64;
      for (const series of family.visibleSeries()) {
        if (series.overflow) continue;
        const at = store.rowF64(series.id);
        const fingerprint = family.fingerprint(series);
        if (fingerprint !== f64[at]) {
          f64[at] = fingerprint;
          f64[at + 1] = now;
        } else if (now - f64[at + 1]! >= family.staleAfterMs) {
          (stale ??= []).push(series);
        }
      }
    }
    if (stale === undefined) return;
    store.locked(() => {
      for (const series of stale) {
        // Only if it is still the same row and still unchanged (another thread may have written).
        const f64 = store.tableF64;
        const at = store.rowF64(series.id);
        if (store.state(series.id) !== (series.generation << 1 | 1)) continue;
        if (series.family.fingerprint(series) !== f64[at]) continue;
        this.removeRow(series.id);
      }
    });
  }

  /** Validates a registration and returns the new or the identical existing family. */
  private register(
    type: MetricType,
    options: {
      name: string;
      help: string;
      labelNames?: readonly string[];
      unit?: string;
      exemplars?: ExemplarProvider | false;
      staleAfterSeconds?: number;
    },
    extra: Partial<MetricDefinition>,
  ): AnyFamily {
    const kind = type[0]!.toUpperCase() + type.slice(1);
    if (this.detached) throw new Error(`Registry.${type}() was called after detach()`);
    checkOptions(type, options);
    const { help } = options;
    const name = this.prefixed(options.name);
    if (options.labelNames !== undefined && !Array.isArray(options.labelNames)) {
      throw new TypeError(`${kind} ${JSON.stringify(String(name))} labelNames must be an array of strings`);
    }
    const labelNames = [...(options.labelNames ?? [])];
    const unit = options.unit ?? "";
    const utf8 = this.names === "utf8";
    if (!isValidMetricName(name, this.names)) {
      throw new Error(
        `${kind} name ${JSON.stringify(name)} is not valid: ${
          utf8
            ? "it must be a non-empty string of well-formed Unicode"
            : 'it must match [a-zA-Z_:][a-zA-Z0-9_:]* (or create the registry with names: "utf8")'
        }`,
      );
    }
    const what = `${kind} "${name}"`;
    if (typeof help !== "string") throw new TypeError(`${what} needs a help string`);
    for (const label of labelNames) {
      if (!isValidLabelName(label, this.names)) {
        throw new Error(
          `${what} label name ${JSON.stringify(label)} is not valid: ${
            utf8 ? "it must be a non-empty string of well-formed Unicode" : "it must match [a-zA-Z_][a-zA-Z0-9_]*"
          } and not start with "__"`,
        );
      }
    }
    if (new Set(labelNames).size !== labelNames.length) throw new Error(`${what} has a repeated label name`);
    if (utf8) {
      // Scrapers that do not allow UTF-8 get label names escaped, by default with underscores:
      // two that escape alike would make a label set with a repeated name, which they refuse.
      const escaped = new Map<string, string>();
      for (const label of labelNames) {
        const as = escapeLabelName(label, DEFAULT_ESCAPING);
        const other = escaped.get(as);
        if (other !== undefined) {
          throw new Error(
            `${what} label names ${JSON.stringify(other)} and ${JSON.stringify(label)} both escape to ${
              JSON.stringify(as)
            } for scrapers that do not allow UTF-8 names`,
          );
        }
        escaped.set(as, label);
      }
    }
    if (labelNames.includes(OVERFLOW_LABEL)) {
      throw new Error(`${what} cannot have a label named "${OVERFLOW_LABEL}": it marks the overflow series`);
    }
    if (unit !== "") {
      if (!/^[a-zA-Z0-9_:]+$/.test(unit)) throw new Error(`${what} unit ${JSON.stringify(unit)} is not valid`);
      const stem = type === "counter" && name.endsWith("_total") ? name.slice(0, -6) : name;
      if (!stem.endsWith("_" + unit)) throw new Error(`${what} must end with "_${unit}" to have unit "${unit}"`);
    }
    const stale = options.staleAfterSeconds;
    if (stale !== undefined && (typeof stale !== "number" || !(stale >= 0 && stale < Infinity))) {
      throw new RangeError(`${what} staleAfterSeconds must be a number >= 0, got ${String(stale)}`);
    }
    const definition: MetricDefinition = {
      name,
      type,
      help,
      unit,
      labelNames,
      ...extra,
      ...(stale === undefined ? {} : { staleAfterSeconds: stale }),
    };
    const exemplars = options.exemplars === false ? undefined : options.exemplars ?? this.defaultExemplars;
    const family = this.store.locked(() => {
      this.syncRemovals(); // registering is a call into the registry: catch up with removals too
      const existing = this.byName.get(name);
      if (existing !== undefined) {
        this.checkSame(existing.definition, definition);
        return existing;
      }
      for (const taken of namesOf(type, name)) {
        const owner = this.takenNames.get(taken);
        if (owner !== undefined) {
          throw new Error(`${what} clashes with metric "${owner}" (both would write "${taken}")`);
        }
      }
      const id = this.byId.length;
      const full = `${what} cannot be registered: the registry's memory is full (raise maxBytes)`;
      // The metric's words in shared memory: its free list, removed flag, overflow row.
      const words = this.store.allocateShared(2);
      if (words < 0) throw new Error(full);
      const record = { ...definition, words };
      if (!this.store.appendMetrics([{ t: "m", id, d: record }])) throw new Error(full);
      this.sync();
      const family = this.byId[id]!;
      // A metric with labels is born with its overflow series; one without, with its only series.
      if (labelNames.length > 0) this.createOverflow(family);
      else if (this.defineSeries(family, []) === undefined) throw new Error(full);
      return family;
    });
    if (exemplars !== family.exemplars) this.setExemplars(family, exemplars);
    return family;
  }

  /** Points a family (and so its series) at another exemplar provider (re-registration may change it). */
  private setExemplars(family: AnyFamily, exemplars: ExemplarProvider | undefined): void {
    // Series read the provider from their metric.
    (family as { exemplars: ExemplarProvider | undefined }).exemplars = exemplars;
  }

  /** The family object of a definition: one place that maps a metric type to its class. */
  private familyOf(definition: MetricDefinition, id: number): AnyFamily {
    const context: FamilyContext = {
      definition,
      id,
      store: this.store,
      factory: this,
      exemplars: this.defaultExemplars,
    };
    switch (definition.type) {
      case "counter":
        return new Counter(context);
      case "gauge":
        return new Gauge(context);
      case "histogram":
        return new Histogram(context);
      case "summary":
        return new Summary(context);
    }
  }

  /** @ignore @internal */
  exemplarDropped(): void {
    this.droppedExemplars?.inc();
  }

  /** Whether a family is one of the registry's own self-metrics. */
  private isSelf(family: AnyFamily): boolean {
    return family === this.overflowCounter;
  }

  /** Throws unless a re-registration matches the definition already registered. */
  private checkSame(had: MetricDefinition, want: MetricDefinition): void {
    const what = `${want.type[0]!.toUpperCase()}${want.type.slice(1)} "${want.name}"`;
    if (had.type !== want.type) throw new Error(`${what} is already registered as a ${had.type}`);
    if (!sameList(had.labelNames, want.labelNames)) {
      throw new Error(`${what} is already registered with labels [${had.labelNames.join(", ")}]`);
    }
    if (had.help !== want.help) throw new Error(`${what} is already registered with help ${JSON.stringify(had.help)}`);
    if (had.unit !== want.unit) throw new Error(`${what} is already registered with unit ${JSON.stringify(had.unit)}`);
    if (!sameList(had.buckets, want.buckets)) {
      throw new Error(`${what} is already registered with buckets [${had.buckets}]`);
    }
    if (JSON.stringify(had.native) !== JSON.stringify(want.native)) {
      throw new Error(`${what} is already registered with other native bucket options`);
    }
    if (
      !sameList(had.quantiles, want.quantiles) || had.maxAgeSeconds !== want.maxAgeSeconds ||
      had.ageBuckets !== want.ageBuckets
    ) {
      throw new Error(`${what} is already registered with other quantiles or window`);
    }
  }

  /** Registers the registry's own metrics (series count, overflow, dropped exemplars). */
  private registerSelfMetrics(): void {
    const store = this.store;
    this.gauge({
      name: SELF_METRICS.series,
      help: "Series recorded in the registry (all threads), not counting overflow and self-metric series.",
      collect: (g) => g.set(Atomics.load(store.i32, SERIES)),
    });
    this.gauge({
      name: SELF_METRICS.maxSeries,
      help: "The registry's maxSeries limit.",
      collect: (g) => g.set(store.layout.maxSeries),
    });
    this.overflowCounter = this.counter({
      name: SELF_METRICS.overflow,
      help: "Observations folded into a metric's overflow series because the registry reached maxSeries.",
      labelNames: ["metric"],
      exemplars: false,
    });
    this.droppedExemplars = this.counter({
      name: SELF_METRICS.exemplarsDropped,
      help: "Exemplars dropped: over the 128-character label limit, not valid, or their provider threw.",
      // No exemplar provider here: a provider that throws would count its own failure forever.
      exemplars: false,
    });
    this.collectErrors = this.counter({
      name: SELF_METRICS.collectErrors,
      help: "Collect hooks that threw or rejected, by metric (beforeCollect for the registry's own hooks).",
      labelNames: ["metric"],
      exemplars: false,
    });
    this.collectTimeouts = this.counter({
      name: SELF_METRICS.collectTimeouts,
      help: "Collect hooks still running at the collection deadline, by metric.",
      labelNames: ["metric"],
      exemplars: false,
    });
  }
}

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
  OVERFLOW_VALUE,
  type SeriesBase,
} from "./_family.ts";
import { Counter, type CounterOptions } from "./counter.ts";
import { Gauge, type GaugeOptions } from "./gauge.ts";
import { DEFAULT_BUCKETS, Histogram, type HistogramOptions } from "./histogram.ts";
import { isValidLabelName, isValidMetricName } from "./labels.ts";
import { DEFAULT_QUANTILES, Summary, type SummaryOptions } from "./summary.ts";
import { renderText } from "./exposition/_text.ts";
import { collectSnapshots, type MetricSnapshot } from "./exposition/snapshot.ts";
export type { MetricSnapshot, SeriesSnapshot } from "./exposition/snapshot.ts";
import { SERIES, Store, type StoreHandle, type StoreLayout } from "./storage/store.ts";

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
  /** Float64 slots per thread shard. @default maxSeries * 16 + 4096 */
  shardSlots?: number;
  /** Bytes of the region shared by all threads (gauges, summary sketches). @default 16 MiB */
  sharedBytes?: number;
  /**
   * Bytes the journal of definitions (metrics and label sets) may grow to. It starts at 64 KiB and
   * grows with the series created; what is not used is address space, not memory. Should it ever
   * fill, new label sets fold into the overflow series (counted), as past `maxSeries`.
   * @default 1 GiB
   */
  journalBytes?: number;
}

/** The text formats `render` writes. */
export type Format = "prometheus" | "openmetrics";

/** Names of the self-metrics. */
export const SELF_METRICS = {
  series: "atomic_metrics_series",
  maxSeries: "atomic_metrics_max_series",
  overflow: "atomic_metrics_overflow_observations_total",
  exemplarsDropped: "atomic_metrics_exemplars_dropped_total",
} as const;

type AnyFamily = Family<SeriesBase>;

interface MetricRecord {
  t: "m";
  d: MetricDefinition;
}
interface SeriesRecord {
  t: "s";
  /** Metric id. */
  m: number;
  /** Label values. */
  v: string[];
  /** Shard offset. */
  o: number;
  /** Shared Float64 index. */
  g: number;
  /** 1 for an overflow series. */
  x?: 1;
  /** Shard offset of the slot counting the overflow series' folded observations. */
  f?: number;
}

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

/** Throws unless a registration got an options object. */
function checkOptions(type: MetricType, options: unknown): void {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`Registry.${type}() expects an options object`);
  }
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
 * import { Registry } from "../mod.ts";
 * const registry = new Registry();
 * const jobs = registry.counter({ name: "jobs_total", help: "Jobs", labelNames: ["kind"] as const });
 * jobs.labels({ kind: "email" }).inc();
 * const text = registry.render();
 * if (!text.includes('jobs_total{kind="email"} 1')) throw new Error(text);
 * if (!registry.render("openmetrics").endsWith("# EOF\n")) throw new Error();
 * ```
 */
export class Registry {
  /** @internal The store behind the registry (shared memory). */
  readonly store: Store;
  private readonly defaultExemplars: ExemplarProvider | undefined;
  private readonly byName = new Map<string, AnyFamily>();
  private readonly byId: AnyFamily[] = [];
  private readonly takenNames = new Map<string, string>();
  private sorted: AnyFamily[] | undefined;
  private cursor = 0;
  private readonly hooks: (() => void)[] = [];
  private overflowCounter: Counter<"metric"> | undefined;
  private droppedExemplars: Counter | undefined;
  private detached = false;

  /**
   * Creates an empty registry with its own shared-memory store.
   *
   * @param options Sizes of the store, a default exemplar provider, and whether to register self-metrics.
   * @param attachTo A handle from another thread's `share()`; prefer `Registry.attach(handle)`.
   * @throws {RangeError} when `maxSeries` or `maxThreads` is out of range.
   */
  constructor(options: RegistryOptions = {}, attachTo?: StoreHandle) {
    this.defaultExemplars = options.exemplars;
    if (attachTo !== undefined) {
      this.store = Store.attach(attachTo);
    } else {
      const maxSeries = options.maxSeries ?? 10_000;
      const maxThreads = options.maxThreads ?? 16;
      if (!Number.isInteger(maxSeries) || maxSeries < 1) {
        throw new RangeError(`Registry option maxSeries must be a positive integer, got ${maxSeries}`);
      }
      if (!Number.isInteger(maxThreads) || maxThreads < 1 || maxThreads > 1024) {
        throw new RangeError(`Registry option maxThreads must be an integer in [1, 1024], got ${maxThreads}`);
      }
      const layout: StoreLayout = {
        maxSeries,
        maxThreads,
        shardSlots: options.shardSlots ?? maxSeries * 16 + 4096,
        sharedSlots: Math.floor((options.sharedBytes ?? 16 * 1024 * 1024) / 8),
        journalBytes: options.journalBytes ?? 2 ** 30,
      };
      this.store = Store.create(layout);
    }
    this.sync();
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
   * import { Registry } from "../mod.ts";
   * const registry = new Registry();
   * const handle = registry.share();
   * const same = Registry.attach(handle);
   * same.counter({ name: "a_total", help: "A" }).inc();
   * if (!registry.render().includes("a_total 1")) throw new Error();
   * ```
   */
  share(): StoreHandle {
    return this.store.share();
  }

  /**
   * Gives this thread's slot back, for a worker about to exit, so that a pool that
   * replaces its workers never runs out of the registry's `maxThreads` slots. What this
   * thread recorded stays in every render. Do not record through this registry afterwards.
   *
   * @example In a worker, before it exits
   * ```ts
   * import { Registry } from "../mod.ts";
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
    this.detached = true;
    this.store.release();
  }

  /**
   * Registers a counter, or returns the one already registered with the same definition.
   * @throws {Error} on an invalid name, label name or unit, or a conflicting definition.
   */
  counter<L extends string = never>(options: CounterOptions<L>): Counter<L> {
    const family = this.register("counter", options, {}) as Counter<L>;
    if (options.collect) family.collectHook = () => options.collect!(family);
    return family;
  }

  /**
   * Registers a gauge, or returns the one already registered with the same definition.
   * @throws {Error} on an invalid name or label name, or a conflicting definition.
   */
  gauge<L extends string = never>(options: GaugeOptions<L>): Gauge<L> {
    const family = this.register("gauge", options, {}) as Gauge<L>;
    if (options.collect) family.collectHook = () => options.collect!(family);
    return family;
  }

  /**
   * Registers a histogram, or returns the one already registered with the same definition.
   * @throws {Error} on an invalid name, a label named `le`, buckets not strictly increasing.
   */
  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L> {
    checkOptions("histogram", options);
    const buckets = options.buckets ?? DEFAULT_BUCKETS;
    const what = `Histogram "${options.name}"`;
    if (!Array.isArray(buckets) || buckets.length === 0) throw new Error(`${what} buckets must be a non-empty array`);
    const bounds = buckets.filter((b) => b !== Infinity);
    bounds.forEach((b, i) => {
      if (typeof b !== "number" || !Number.isFinite(b)) {
        throw new Error(`${what} bucket ${String(b)} is not a finite number`);
      }
      if (i > 0 && !(b > bounds[i - 1]!)) {
        throw new Error(`${what} buckets must be strictly increasing: ${bounds[i - 1]} then ${b}`);
      }
    });
    if ((options.labelNames ?? []).includes("le" as L)) throw new Error(`${what} cannot have a label named "le"`);
    const family = this.register("histogram", options, { buckets: bounds }) as Histogram<L>;
    if (options.collect) family.collectHook = () => options.collect!(family);
    return family;
  }

  /**
   * Registers a summary, or returns the one already registered with the same definition.
   * @throws {Error} on an invalid name, a label named `quantile`, or bad window options.
   */
  summary<L extends string = never>(options: SummaryOptions<L>): Summary<L> {
    checkOptions("summary", options);
    const what = `Summary "${options.name}"`;
    const quantiles = options.quantiles ?? DEFAULT_QUANTILES;
    for (const q of quantiles) {
      if (typeof q !== "number" || !(q >= 0 && q <= 1)) {
        throw new Error(`${what} quantile ${String(q)} is not in [0, 1]`);
      }
    }
    const maxAgeSeconds = options.maxAgeSeconds ?? 600;
    const ageBuckets = options.ageBuckets ?? 5;
    if (!(maxAgeSeconds > 0 && maxAgeSeconds < Infinity)) {
      throw new Error(`${what} maxAgeSeconds must be a positive number, got ${maxAgeSeconds}`);
    }
    if (!Number.isInteger(ageBuckets) || ageBuckets < 1 || ageBuckets > 100) {
      throw new Error(`${what} ageBuckets must be an integer in [1, 100], got ${ageBuckets}`);
    }
    if ((options.labelNames ?? []).includes("quantile" as L)) {
      throw new Error(`${what} cannot have a label named "quantile"`);
    }
    const family = this.register("summary", options, {
      quantiles: [...quantiles].sort((a, b) => a - b),
      maxAgeSeconds,
      ageBuckets,
    }) as Summary<L>;
    if (options.collect) family.collectHook = () => options.collect!(family);
    return family;
  }

  /**
   * Runs `hook` before every render and collect (e.g. to read a value into a gauge).
   * A hook that throws makes that render throw. Returns a function that removes it.
   *
   * @example
   * ```ts
   * import { Registry } from "../mod.ts";
   * const registry = new Registry();
   * const up = registry.gauge({ name: "up_seconds", help: "Uptime" });
   * const remove = registry.beforeCollect(() => up.set(42));
   * if (!registry.render().includes("up_seconds 42")) throw new Error();
   * remove();
   * ```
   */
  beforeCollect(hook: () => void): () => void {
    this.hooks.push(hook);
    return () => {
      const i = this.hooks.indexOf(hook);
      if (i >= 0) this.hooks.splice(i, 1);
    };
  }

  /** A registered metric by name (including ones registered by other threads). */
  get(name: string): Counter | Gauge | Histogram | Summary | undefined {
    this.sync();
    return this.byName.get(name) as Counter | Gauge | Histogram | Summary | undefined;
  }

  /** Number of series (all metrics, all threads; overflow series included). */
  seriesCount(): number {
    return Atomics.load(this.store.i32, SERIES);
  }

  /**
   * The exposition text: Prometheus 0.0.4 by default, or OpenMetrics 1.0.
   * Synchronous: the values are already in memory.
   * @throws whatever a collect hook throws.
   */
  render(format: Format = "prometheus"): string {
    return renderText(this.families(), format === "openmetrics");
  }

  /** A structured snapshot of every metric, for exporters such as OTLP. */
  collect(): MetricSnapshot[] {
    return collectSnapshots(this.families());
  }

  /** Families sorted by name, after syncing other threads' definitions and running hooks. */
  private families(): AnyFamily[] {
    this.sync();
    for (const hook of this.hooks) hook();
    for (const family of this.byId) family.collectHook?.();
    return this.sorted ??= [...this.byId].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Reads the definitions other threads published since the last sync. */
  private sync(): void {
    const end = this.store.journalLength();
    if (end === this.cursor) return;
    for (const record of this.store.read(this.cursor, end) as (MetricRecord | SeriesRecord)[]) {
      if (record.t === "m") this.adoptMetric(record.d);
      else this.byId[record.m]!.adopt(record.v, record.o, record.g, record.x === 1, record.f);
    }
    this.cursor = end;
  }

  /** Builds the family for a definition read from the store's journal (ours or another thread's). */
  private adoptMetric(definition: MetricDefinition): void {
    const family = this.familyOf(definition, this.byId.length);
    this.byId.push(family);
    this.byName.set(definition.name, family);
    for (const name of namesOf(definition.type, definition.name)) this.takenNames.set(name, definition.name);
    this.sorted = undefined;
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
    },
    extra: Partial<MetricDefinition>,
  ): AnyFamily {
    const kind = type[0]!.toUpperCase() + type.slice(1);
    if (this.detached) throw new Error(`Registry.${type}() was called after detach()`);
    checkOptions(type, options);
    const { name, help } = options;
    if (options.labelNames !== undefined && !Array.isArray(options.labelNames)) {
      throw new TypeError(`${kind} ${JSON.stringify(String(name))} labelNames must be an array of strings`);
    }
    const labelNames = [...(options.labelNames ?? [])];
    const unit = options.unit ?? "";
    if (!isValidMetricName(name)) {
      throw new Error(`${kind} name ${JSON.stringify(name)} is not valid: it must match [a-zA-Z_:][a-zA-Z0-9_:]*`);
    }
    const what = `${kind} "${name}"`;
    if (typeof help !== "string") throw new TypeError(`${what} needs a help string`);
    for (const label of labelNames) {
      if (!isValidLabelName(label)) {
        throw new Error(
          `${what} label name ${
            JSON.stringify(label)
          } is not valid: it must match [a-zA-Z_][a-zA-Z0-9_]* and not start with "__"`,
        );
      }
    }
    if (new Set(labelNames).size !== labelNames.length) throw new Error(`${what} has a repeated label name`);
    if (labelNames.includes(OVERFLOW_LABEL)) {
      throw new Error(`${what} cannot have a label named "${OVERFLOW_LABEL}": it marks the overflow series`);
    }
    if (unit !== "") {
      if (!/^[a-zA-Z0-9_:]+$/.test(unit)) throw new Error(`${what} unit ${JSON.stringify(unit)} is not valid`);
      const stem = type === "counter" && name.endsWith("_total") ? name.slice(0, -6) : name;
      if (!stem.endsWith("_" + unit)) throw new Error(`${what} must end with "_${unit}" to have unit "${unit}"`);
    }
    const definition: MetricDefinition = { name, type, help, unit, labelNames, ...extra };
    const exemplars = options.exemplars === false ? undefined : options.exemplars ?? this.defaultExemplars;
    const family = this.store.locked(() => {
      this.sync();
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
      const records: (MetricRecord | SeriesRecord)[] = [{ t: "m", d: definition }];
      // The size a series of this type takes, from the same class that will record into it.
      const probe = this.familyOf(definition, id).size;
      const labelled = labelNames.length > 0;
      const full =
        `${what} cannot be registered: the registry's memory is full (raise shardSlots, sharedBytes or journalBytes)`;
      // A metric with labels is born with its overflow series; one without, with its only series.
      const first = this.reserve(id, labelNames.map(() => OVERFLOW_VALUE), probe, labelled);
      if (first === undefined) throw new Error(full);
      records.push(first);
      const overflowCounter = this.overflowCounter;
      if (labelled && overflowCounter !== undefined) {
        // The overflow series counts its folds straight into the self-metric's series for this metric.
        const fold = this.reserve(overflowCounter.id, [name], overflowCounter.size, false);
        if (fold === undefined) throw new Error(full);
        first.f = fold.o;
        records.push(fold);
      }
      if (!this.store.append(records)) {
        throw new Error(`${what} cannot be registered: the registry's journal is full (raise journalBytes)`);
      }
      if (!labelled && !name.startsWith("atomic_metrics_")) Atomics.add(this.store.i32, SERIES, 1);
      this.sync();
      return this.byId[id]!;
    });
    if (exemplars !== family.exemplars) this.setExemplars(family, exemplars);
    return family;
  }

  /** Points a family and its series at another exemplar provider (re-registration may change it). */
  private setExemplars(family: AnyFamily, exemplars: ExemplarProvider | undefined): void {
    (family as { exemplars: ExemplarProvider | undefined }).exemplars = exemplars;
    const all = family.overflowSeries === undefined ? family.series : [...family.series, family.overflowSeries];
    for (const series of all) {
      (series as { exemplarProvider: ExemplarProvider | undefined }).exemplarProvider = exemplars;
    }
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

  /** Allocates a series' slots and makes its record; undefined when memory is full. Under the lock. */
  private reserve(
    id: number,
    values: string[],
    size: { shard: number; shared: number },
    overflow: boolean,
  ): SeriesRecord | undefined {
    const store = this.store;
    const shard = store.allocateShard(size.shard + (overflow ? 1 : 0));
    if (shard < 0) return undefined;
    const shared = size.shared > 0 ? store.allocateShared(size.shared) : -1;
    if (size.shared > 0 && shared < 0) return undefined;
    const record: SeriesRecord = { t: "s", m: id, v: values, o: shard, g: shared };
    if (overflow) record.x = 1;
    return record;
  }

  /** @internal Creates a series another call asked for; undefined past a limit (it then folds). */
  defineSeries(family: AnyFamily, values: readonly string[]): SeriesBase | undefined {
    const store = this.store;
    const i32 = store.i32;
    if (Atomics.load(i32, SERIES) >= store.layout.maxSeries && !this.isSelf(family)) {
      // Full, so no new series; but another thread may have made this one since this thread
      // last read the journal: look there (only when it grew) before folding into overflow.
      const cursor = this.cursor;
      this.sync();
      if (this.cursor === cursor) return undefined;
      return family.find(values);
    }
    return store.locked(() => {
      this.sync();
      const found = family.find(values);
      if (found !== undefined) return found;
      if (Atomics.load(i32, SERIES) >= store.layout.maxSeries && !this.isSelf(family)) return undefined;
      const record = this.reserve(family.id, [...values], family.size, false);
      if (record === undefined || !store.append([record])) return undefined;
      Atomics.add(i32, SERIES, 1);
      this.sync();
      return family.series[family.series.length - 1];
    });
  }

  /** @internal Finds a series any thread made (reading their definitions first); creates none. */
  findSeries(family: AnyFamily, values: readonly string[]): SeriesBase | undefined {
    this.sync();
    return family.find(values);
  }

  /** @internal */
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
  }
}

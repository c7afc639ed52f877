/**
 * What the four metric types share: the label lookup, series creation through the
 * registry, the overflow series, exemplars. Private: `mod.ts` does not export it.
 *
 * @module
 */

import { encodeLabels, isValidLabelName, isWellFormed, type Labels, labelValuesOf } from "./labels.ts";
import { describeValue } from "./_values.ts";
import { REMOVALS, type Store } from "./storage/store.ts";

/**
 * The label value the journal records for each label of an overflow series. The overflow
 * series is told apart by its record's flag, never by this value: a user's label value
 * `__overflow__` is an ordinary series.
 */
export const OVERFLOW_VALUE = "__overflow__";

/**
 * The one label an overflow series is shown with, as OpenTelemetry names its overflow
 * attribute (`otel.metric.overflow`). Registration refuses it as a label name, so no
 * user series can look like the overflow series.
 */
export const OVERFLOW_LABEL = "otel_metric_overflow";

/** The overflow series' label set as the text formats write it. */
export const OVERFLOW_TEXT = `${OVERFLOW_LABEL}="true"`;

/** The four metric types. */
export type MetricType = "counter" | "gauge" | "histogram" | "summary";

/**
 * Supplies an exemplar's labels at recording time (for instance the active trace),
 * or `undefined` for none. Called only for metrics that opted in.
 */
export type ExemplarProvider = () => Record<string, string> | undefined;

/** An exemplar as recorded: its encoded labels, value and time (seconds). */
export interface StoredExemplar {
  /** Encoded label set, the inside of the braces. */
  readonly labels: string;
  /** The observed value. */
  readonly value: number;
  /** Unix time in seconds. */
  readonly timestamp: number;
}

/** The definition of a metric as the journal keeps it. */
export interface MetricDefinition {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly unit: string;
  readonly labelNames: readonly string[];
  readonly buckets?: readonly number[];
  readonly quantiles?: readonly number[];
  readonly maxAgeSeconds?: number;
  readonly ageBuckets?: number;
  /** Seconds without a change after which a series is removed (0: never). */
  readonly staleAfterSeconds?: number;
  /** A histogram's native buckets. */
  readonly native?: {
    readonly schema: number;
    readonly maxBuckets: number;
    readonly zeroThreshold: number;
    readonly minResetMs: number;
  };
}

/** Slots a series of a family takes. */
export interface SeriesSize {
  /** Float64 slots in every shard. */
  readonly shard: number;
  /** Float64 slots of the shared region (gauge clocks, summary sketches). */
  readonly shared: number;
}

/** Where a series lives, as the registry hands it to the series it makes. */
export interface SeriesPlace {
  /** Row of the series table. */
  readonly id: number;
  /** Generation of the row when the series was made. */
  readonly generation: number;
  /** Offset of the series' slots in every shard. */
  readonly offset: number;
  /** Index of the series' shared slots, or -1. */
  readonly shared: number;
  /** This thread's shard. */
  readonly f64: Float64Array;
  /** Offset (this thread's shard) of the slot counting folds into an overflow series, or -1. */
  readonly fold: number;
}

/** `flags` bit: an overflow series, which counts each fold. */
export const FOLDS = 1;
/** `flags` bit: the series was removed; the next write finds or makes it again. */
export const DEAD = 2;
/** `flags` bit: the series' metric was removed from its registry; writes go to private scratch slots. */
export const ORPHAN = 4;

/** What `Family.aliases` keeps for a handle that a revive pointed at another live series. */
const AN_ALIAS: SeriesBase[] = Object.freeze([]) as unknown as SeriesBase[];

/** A series as every type keeps it; types extend it with their recording methods. */
export class SeriesBase {
  // Few fields: a registry holds one of these for every series a thread uses (100,000 series:
  // each field is 800 KB on a 64-bit heap). The label values are read back from the label
  // text the store keeps, the exemplar provider from the metric, the fold slot from the size.
  /** @ignore @internal Row of the series table. */
  id: number;
  /** @ignore @internal Generation of the row this series was made for. */
  generation: number;
  /** @ignore @internal Offset of the series' slots in every shard (this thread's: `f64[offset]`). */
  offset: number;
  /** @ignore @internal This thread's shard. */
  f64: Float64Array;
  /**
   * @ignore @internal 0 on the hot path; FOLDS for an overflow series, DEAD once removed. One
   * field tested by every write, so the common case costs one compare.
   */
  flags: number;
  /**
   * @ignore @internal The label values of a removed series or an orphan handle (its row no
   * longer holds them). A field, not a WeakMap kept by the metric: a WeakMap's table grows with
   * every removal between two full collections (1M create/remove cycles: +8.8 MiB of heap).
   */
  deadValues: readonly string[] | undefined;
  /** The metric. */
  readonly family: Family<SeriesBase>;

  /** @ignore @internal Made by a family for each label set; use its `labels()`. */
  constructor(family: Family<SeriesBase>, _values: readonly string[], place: SeriesPlace, _overflow: boolean) {
    this.id = place.id;
    this.generation = place.generation;
    this.offset = place.offset;
    this.f64 = place.f64;
    this.flags = place.fold >= 0 ? FOLDS : 0;
    this.deadValues = undefined;
    this.family = family;
  }

  /**
   * Label values, in label-name order: read back from the label text the store keeps (no
   * array kept per series); a removed series keeps the values it had. (An accessor on the
   * prototype, defined after the class.)
   */
  declare readonly labelValues: readonly string[];

  /** @ignore @internal Exemplar provider of the metric, if it opted in. */
  get exemplarProvider(): ExemplarProvider | undefined {
    return this.family.exemplars;
  }

  /** @ignore @internal Folded observations counter slot (this thread's shard), -1 when not an overflow series. */
  get foldSlot(): number {
    return (this.flags & FOLDS) !== 0 ? this.offset + this.family.size.shard : -1;
  }

  /** @ignore @internal The label set as the text formats write it (inside of the braces). */
  get encoded(): string {
    return this.overflow ? OVERFLOW_TEXT : encodeLabels(this.family.labelNames, this.labelValues);
  }

  /**
   * When the series was born, or last started again from zero (after a removal, `clear()`,
   * expiry or a native histogram's reset): Unix time in seconds, the same on every thread.
   */
  get created(): number {
    return this.family.store.bornAt(this.id) / 1000;
  }

  /** Whether this is the metric's overflow series. */
  get overflow(): boolean {
    return this.family.overflowSeries === this;
  }

  /** Whether the series was removed (`remove`, `clear`, expiry) and not written since. */
  get removed(): boolean {
    return (this.flags & DEAD) !== 0;
  }

  /**
   * @ignore @internal The uncommon part of a write, when `flags` is not 0: a removed series is found or
   * made again (from zero) and this handle points at it; an overflow series counts the fold.
   */
  beforeWrite(): void {
    if ((this.flags & ORPHAN) !== 0) return;
    if ((this.flags & DEAD) !== 0 && this.family.removed) return this.orphan();
    if ((this.flags & DEAD) !== 0) {
      // An overflow series keeps its FOLDS bit when it dies: it revives as the new overflow series.
      const live = this.family.revive(this.labelValues, (this.flags & FOLDS) !== 0);
      this.id = live.id;
      this.generation = live.generation;
      this.offset = live.offset;
      this.f64 = live.f64;
      this.flags = live.flags;
      this.revived(live);
      if (live !== this) this.family.alias(live, this);
    }
    if ((this.flags & FOLDS) !== 0) {
      this.f64[this.foldSlot]!++;
      this.family.foldCounter?.inc();
    }
  }

  /** @ignore @internal Called after a revive; types that keep more per-series state copy it here. */
  revived(_live: SeriesBase | undefined): void {}

  /**
   * @ignore @internal Points a handle of a removed metric at private scratch slots, so its writes go
   * nowhere (and no series comes back in a metric that is no longer registered).
   */
  orphan(): void {
    this.f64 = new Float64Array(this.family.size.shard + 1);
    this.offset = 0;
    this.flags = DEAD | ORPHAN;
    this.revived(undefined);
  }

  /** @ignore @internal Marks this handle and its aliases removed: their next write revives them. */
  markDead(): void {
    this.flags = DEAD | (this.flags & FOLDS);
  }

  /**
   * @ignore @internal Sum of one slot of this series over every thread's shard; 0 once removed
   * (the values went with the series).
   */
  slotSum(slot: number): number {
    if ((this.flags & DEAD) !== 0) return 0;
    return this.family.store.sumShards(this.offset + slot);
  }
}

// `labelValues` is declared a read-only property (as it was when each series kept an array) and
// read through this accessor.
Object.defineProperty(SeriesBase.prototype, "labelValues", {
  configurable: true,
  get(this: SeriesBase): readonly string[] {
    const family = this.family;
    if ((this.flags & FOLDS) !== 0) return family.labelNames.map(() => OVERFLOW_VALUE);
    if ((this.flags & DEAD) !== 0 || this.id < 0) return this.deadValues ?? [];
    return family.store.readLabels(this.id, family.labelPrefixes);
  },
});

/** The registry's side of series creation and removal, as a family sees it. */
export interface SeriesFactory {
  /**
   * Creates (or finds, if another thread made it) a series; undefined when over a limit.
   * `unknown`: the caller just looked in the family's label index and did not find it.
   */
  defineSeries(family: Family<SeriesBase>, values: readonly string[], unknown?: boolean): SeriesBase | undefined;
  /** Finds a series any thread made, creating none; undefined when there is none. */
  findSeries(family: Family<SeriesBase>, values: readonly string[]): SeriesBase | undefined;
  /** The metric's overflow series (made by another thread, perhaps); undefined if memory is exhausted. */
  overflowOf(family: Family<SeriesBase>): SeriesBase | undefined;
  /** Removes a series from every thread; whether it existed. */
  removeSeries(family: Family<SeriesBase>, values: readonly string[]): boolean;
  /** Removes every series of a metric. */
  clearFamily(family: Family<SeriesBase>): void;
  /** Processes removals other threads made since this thread last looked. */
  syncRemovals(): void;
  /** Counts an exemplar dropped (invalid, over the 128-character limit, or its provider threw). */
  exemplarDropped(): void;
  /** The registry's default labels a metric shows: those it has no label of its own by. */
  defaultLabelsOf(family: Family<SeriesBase>): readonly (readonly [string, string])[];
}

/** @ignore @internal What the registry hands every metric it builds. */
export interface FamilyContext {
  /** The definition as the journal keeps it. */
  readonly definition: MetricDefinition;
  /** Id of the metric, the same on every thread. */
  readonly id: number;
  /** The store. */
  readonly store: Store;
  /** The registry's side of series creation. */
  readonly factory: SeriesFactory;
  /** Exemplar provider, if the metric opted in. */
  readonly exemplars: ExemplarProvider | undefined;
}

/**
 * A node of the label index that holds one entry. Below the first label most nodes hold one
 * (a label set whose earlier values are unique so far, such as a user id first): this takes 40
 * bytes where a Map takes about 180. It answers `get` as a Map does, so lookups walk either.
 */
class OneEntry<S> {
  key: string;
  child: IndexNode<S> | S;
  constructor(key: string, child: IndexNode<S> | S) {
    this.key = key;
    this.child = child;
  }
  get(key: string): IndexNode<S> | S | undefined {
    return key === this.key ? this.child : undefined;
  }
}

/** The label index: one level per label; a level with more than one value is a Map. */
type IndexNode<S> = Map<string, IndexNode<S> | S> | OneEntry<S>;

const MAX_EXEMPLAR_CHARS = 128;

const encoder = new TextEncoder();

/**
 * Encodes an exemplar's labels, checking names; undefined when over the 128-character limit.
 * @throws {TypeError} on a label name or value that is not valid.
 */
export function encodeExemplar(what: string, labels: Record<string, string>): string | undefined {
  if (labels === null || typeof labels !== "object") {
    throw new TypeError(`${what} exemplar must be an object, got ${describeValue(labels)}`);
  }
  let chars = 0;
  let out = "";
  for (const key of Object.keys(labels)) {
    const value = labels[key];
    if (!isValidLabelName(key)) throw new Error(`${what} exemplar label name ${JSON.stringify(key)} is not valid`);
    if (typeof value !== "string") {
      throw new TypeError(`${what} exemplar label "${key}" must be a string, got ${describeValue(value)}`);
    }
    if (!isWellFormed(value)) throw new Error(`${what} exemplar label "${key}" is not well-formed Unicode`);
    for (const _ of key) chars++;
    for (const _ of value) chars++;
    if (out !== "") out += ",";
    out += encodeLabels([key], [value]);
  }
  return chars > MAX_EXEMPLAR_CHARS ? undefined : out;
}

/**
 * A metric: its definition, its series and the label lookup.
 * `S` is the series type the metric hands out from `labels()`.
 */
export abstract class Family<S extends SeriesBase> {
  /** The metric name. */
  readonly name: string;
  /** The help text. */
  readonly help: string;
  /** The unit ("" for none). */
  readonly unit: string;
  /** The label names. */
  readonly labelNames: readonly string[];
  /** @ignore @internal The definition as registered. */
  readonly definition: MetricDefinition;
  /**
   * @ignore @internal Each label's `,name="` as the text formats write it (UTF-8; no comma for
   * the first): how the store writes and compares a series' label set.
   */
  readonly labelPrefixes: readonly Uint8Array[];
  /** @ignore @internal Id of the metric, the same on every thread. */
  readonly id: number;
  /** @ignore @internal The store. */
  readonly store: Store;
  /** @ignore @internal Exemplar provider, if the metric opted in. */
  readonly exemplars: ExemplarProvider | undefined;
  /** @ignore @internal Series this thread knows, in creation order (the overflow series apart). */
  series: S[] = [];
  /** @ignore @internal The overflow series (metrics with labels). */
  overflowSeries: S | undefined;
  /** @ignore @internal The self-metric series counting this metric's folds. */
  foldCounter: { inc(): void } | undefined;
  /** @ignore @internal Called before each render and collect. */
  collectHook: (() => void | Promise<void>) | undefined;
  /** @ignore @internal Milliseconds without a change after which a series is removed; 0 for never. */
  staleAfterMs: number;
  private index: Map<string, IndexNode<S> | S> = new Map();
  private single: S | undefined;
  private readonly factory: SeriesFactory;
  /** Removed series `series` still holds (taken out lazily, in one pass). */
  private dead = 0;

  /** @ignore @internal Made by the registry; use `Registry.counter()` and its siblings. */
  constructor(context: FamilyContext) {
    if (context === null || typeof context !== "object" || context.factory === undefined) {
      throw new TypeError("Metrics are made by a registry: use registry.counter(), gauge(), histogram() or summary()");
    }
    const { definition } = context;
    this.definition = definition;
    this.name = definition.name;
    this.help = definition.help;
    this.unit = definition.unit;
    this.labelNames = definition.labelNames;
    this.labelPrefixes = definition.labelNames.map((name, i) =>
      encoder.encode((i > 0 ? "," : "") + encodeLabels([name], [""]).slice(0, -1))
    );
    this.id = context.id;
    this.store = context.store;
    this.factory = context.factory;
    this.exemplars = context.exemplars;
    this.staleAfterMs = (definition.staleAfterSeconds ?? 0) * 1000;
  }

  /** The type name used in messages, e.g. `Counter`. */
  abstract get kind(): string;

  /** @ignore @internal Slots one series takes. */
  abstract get size(): SeriesSize;

  /** @ignore @internal Whether the metric was removed from its registry (`registry.remove()`): writes then go nowhere. */
  removed = false;
  private orphaned: S | undefined;

  /** @ignore @internal The handle every call on a removed metric gets: it records nowhere. */
  private orphanSeries(values: readonly string[]): S {
    if (this.orphaned === undefined) {
      const f64 = new Float64Array(this.size.shard + 1);
      this.orphaned = this.makeSeries(values, { id: -1, generation: 0, offset: 0, shared: 0, f64, fold: -1 }, false);
      this.orphaned.deadValues = values;
      this.orphaned.orphan();
    }
    return this.orphaned;
  }

  /** @ignore @internal Makes the local object of a series. */
  abstract makeSeries(values: readonly string[], place: SeriesPlace, overflow: boolean): S;

  /**
   * @ignore @internal A number that changes whenever anything is recorded into a series (from any
   * thread): expiry removes a series whose fingerprint stayed the same for `staleAfterMs`.
   */
  abstract fingerprint(series: S): number;

  /** @ignore @internal Adds a series this thread now knows (made here, found, or read from the table). */
  adopt(series: S, values: readonly string[], overflow: boolean): void {
    if (overflow) {
      // Not in the label index: a user's label values never reach the overflow series.
      this.overflowSeries = series;
      return;
    }
    this.series.push(series);
    if (values.length === 0) {
      this.single = series;
      return;
    }
    const n = values.length;
    let parent: IndexNode<S> = this.index;
    let node: IndexNode<S> = this.index;
    for (let i = 0; i < n; i++) {
      const key = values[i]!;
      const next = node.get(key);
      if (next !== undefined && i < n - 1) {
        parent = node;
        node = next as IndexNode<S>;
        continue;
      }
      // The rest of the path: one-entry nodes down to the series.
      let child: IndexNode<S> | S = series;
      for (let j = n - 1; j > i; j--) child = new OneEntry<S>(values[j]!, child);
      if (node instanceof Map) node.set(key, child);
      else if (node.key === key) node.child = child;
      else {
        // A second value at this level: the node becomes a Map, in its parent's place (never the root).
        const map = new Map<string, IndexNode<S> | S>([[node.key, node.child], [key, child]]);
        if (parent instanceof Map) parent.set(values[i - 1]!, map);
        else parent.child = map;
      }
      return;
    }
  }

  /** @ignore @internal Forgets a removed series: out of the label index and, lazily, of `series`. */
  forget(series: S): void {
    // Read while the row still holds its label text: a handle kept by a user revives from these.
    const values = series.labelValues;
    series.markDead();
    series.deadValues = values;
    const aliases = this.aliases?.get(series);
    if (aliases !== undefined && aliases !== AN_ALIAS) {
      for (const alias of aliases) {
        alias.flags = DEAD;
        alias.deadValues = values;
      }
      this.aliases!.delete(series);
    }
    if (this.overflowSeries === series) {
      this.overflowSeries = undefined;
      return;
    }
    // Taken out of `series` in one pass once they are many, so churn keeps nothing alive.
    if (++this.dead > 32 && this.dead * 2 > this.series.length) this.compact();
    if (values.length === 0) {
      if (this.single === series) this.single = undefined;
      return;
    }
    const path: IndexNode<S>[] = [];
    let node: IndexNode<S> | undefined = this.index;
    for (let i = 0; i < values.length - 1 && node !== undefined; i++) {
      path.push(node);
      node = node.get(values[i]!) as IndexNode<S> | undefined;
    }
    if (node === undefined || node.get(values[values.length - 1]!) !== series) return;
    // Out of its node; a node left empty goes out of its parent, so churn leaves no trail.
    for (let i = values.length - 1;; node = path[--i]!) {
      if (node instanceof Map) {
        node.delete(values[i]!);
        if (node.size > 0) return;
      }
      // The root is a Map: never taken out.
      if (i === 0) return;
    }
  }

  /** Handles a revive pointed at each live series (made dead with it); AN_ALIAS for such a handle. */
  private aliases: WeakMap<SeriesBase, SeriesBase[]> | undefined;

  /** @ignore @internal Records that a revive pointed `handle` at the live series `live`. */
  alias(live: SeriesBase, handle: SeriesBase): void {
    const aliases = this.aliases ??= new WeakMap();
    const list = aliases.get(live);
    if (list === undefined || list === AN_ALIAS) aliases.set(live, [handle]);
    else list.push(handle);
    aliases.set(handle, AN_ALIAS);
  }

  /** `Counter "name"`, for messages. */
  protected get what(): string {
    // Made once: every new label set names the metric for its checks.
    return this.whatText ??= `${this.kind} "${this.name}"`;
  }
  private whatText: string | undefined;

  /**
   * The series of a label set. Hot path of every labelled call: one check that no series was
   * removed since this thread last looked, one map lookup per label on the label values
   * (strings hash once and cache it), then a key count to refuse extra labels; anything
   * unusual goes to the slow path.
   */
  labels(labels: Record<string, string>): S {
    const store = this.store;
    // A removal elsewhere may have made an indexed series dead: catch up first.
    if (store.i32[REMOVALS] !== store.seenRemovals) this.factory.syncRemovals();
    const names = this.labelNames;
    const n = names.length;
    // null is an object too: send it to the slow path, which names the mistake.
    if (labels === null) return this.slowLabels(labels);
    if (n === 0) {
      if (Array.isArray(labels)) return this.slowLabels(labels); // not a labels object: let it throw
      for (const _ in labels) return this.slowLabels(labels); // any key is an unknown label: let it throw
      return this.single ?? this.slowLabels(labels);
    }
    // deno-lint-ignore no-explicit-any
    let node: any = this.index;
    for (let i = 0; i < n; i++) {
      const value = labels[names[i]!];
      if (typeof value !== "string") return this.slowLabels(labels);
      node = node.get(value);
      // Every value so far a string and not in the index: a new label set (once checked).
      if (node === undefined) return this.slowLabels(labels, true);
    }
    let keys = 0;
    for (const _ in labels) keys++;
    if (keys !== n) return this.slowLabels(labels);
    return node as S;
  }

  /** @ignore @internal The series of a metric without labels. */
  unlabelled(): S {
    const store = this.store;
    if (store.i32[REMOVALS] !== store.seenRemovals) this.factory.syncRemovals();
    const single = this.single;
    if (single !== undefined) return single;
    return this.slowLabels({});
  }

  /** @ignore @internal The series of label values this thread knows of (overflow excluded), or undefined. */
  find(values: readonly string[]): S | undefined {
    if (values.length === 0) return this.single;
    let node: IndexNode<S> | S | undefined = this.index;
    for (const value of values) {
      node = (node as IndexNode<S>).get(value);
      if (node === undefined) return undefined;
    }
    return node as S;
  }

  /** The label check and series creation behind `labels()` when the fast lookup misses. */
  private slowLabels(labels: unknown, unknown = false): S {
    if (labels === undefined) labels = {};
    return this.seriesOf(labelValuesOf(this.what, this.labelNames, labels), unknown);
  }

  /**
   * The series of checked label values: known, found in another thread, made, or the overflow series.
   * `unknown`: the caller just missed them in the label index (string values, as checked).
   */
  private seriesOf(values: readonly string[], unknown = false): S {
    if (this.removed) return this.orphanSeries(values);
    let series = unknown ? undefined : this.find(values);
    if (series === undefined) series = this.factory.defineSeries(this, values, true) as S | undefined;
    if (series === undefined) series = this.overflowSeries ?? this.factory.overflowOf(this) as S | undefined;
    if (series === undefined) {
      throw new Error(`${this.what} cannot record: the registry's memory is exhausted (raise maxBytes)`);
    }
    return series;
  }

  /** @ignore @internal The live series for a handle whose series was removed: found or made again. */
  revive(values: readonly string[], overflow: boolean): S {
    if (overflow) return this.overflowSeries ?? this.factory.overflowOf(this) as S ?? this.seriesOf(values);
    return this.seriesOf(values);
  }

  /**
   * @ignore @internal The series of a label set if any thread made it, creating none (for reads such as `get()`).
   * @throws {Error} on an unknown, missing or malformed label, as `labels()` does.
   */
  existing(labels: unknown): S | undefined {
    const store = this.store;
    if (store.i32[REMOVALS] !== store.seenRemovals) this.factory.syncRemovals();
    if (labels === undefined && this.labelNames.length === 0 && this.single !== undefined) return this.single;
    const values = labelValuesOf(this.what, this.labelNames, labels === undefined ? {} : labels);
    return this.find(values) ?? this.factory.findSeries(this, values) as S | undefined;
  }

  /**
   * Removes the series of a label set from every thread's next render. A bound series a
   * thread still holds brings the series back from zero at its next write; writes another
   * thread makes before it notices the removal (at its next call into the registry, or
   * within a second when it runs an event loop) are dropped.
   *
   * @returns whether the series existed.
   * @throws {Error} on an unknown, missing or malformed label.
   *
   * @example Removing a series
   * ```ts
   * import { Registry } from "@atomic/metrics";
   * const registry = new Registry();
   * const jobs = registry.counter({ name: "jobs_total", help: "Jobs", labelNames: ["queue"] as const });
   * jobs.inc({ queue: "a" });
   * if (!jobs.remove({ queue: "a" }) || registry.render().includes('queue="a"')) throw new Error();
   * ```
   */
  remove(labels: Labels<string>): boolean {
    const values = labelValuesOf(this.what, this.labelNames, labels === undefined ? {} : labels);
    return this.factory.removeSeries(this, values);
  }

  /**
   * Removes every series of the metric from every thread's next render (a metric without
   * labels starts again from zero).
   *
   * @example Clearing a metric
   * ```ts
   * import { Registry } from "@atomic/metrics";
   * const registry = new Registry();
   * const jobs = registry.counter({ name: "jobs_total", help: "Jobs", labelNames: ["queue"] as const });
   * jobs.inc({ queue: "a" });
   * jobs.clear();
   * if (registry.render().includes("queue=")) throw new Error();
   * ```
   */
  clear(): void {
    this.factory.clearFamily(this);
  }

  /** The same as `clear()`, by prom-client's name. */
  reset(): void {
    this.clear();
  }

  /**
   * @ignore @internal A timer on this metric: labels in part at the start, the rest at the end; the end finds the
   * series, measures the elapsed seconds, hands both to `record` and returns the seconds.
   * @throws {Error} at the start on a label the metric does not have; at the end on a missing label.
   */
  protected timer(labels: unknown, record: (series: S, seconds: number) => void): (moreLabels?: unknown) => number {
    const merge = this.timerLabels(labels);
    const start = performance.now();
    return (moreLabels?: unknown) => {
      const series = this.labels(merge(moreLabels));
      const seconds = (performance.now() - start) / 1000;
      record(series, seconds);
      return seconds;
    };
  }

  /**
   * @ignore @internal Checks the labels given when a timer starts (a part of the label set; the rest come when it
   * ends) and returns a function that merges both.
   * @throws {Error} on a label the metric does not have, or a malformed value.
   */
  timerLabels(start: unknown): (end: unknown) => Record<string, string> {
    if (start !== undefined) {
      if (start === null || typeof start !== "object") labelValuesOf(this.what, this.labelNames, start);
      // Only the given labels must be right now; the missing ones may come at the end.
      const given = Object.keys(start as object);
      for (const key of given) {
        if (!this.labelNames.includes(key)) {
          throw new Error(
            `${this.what} has no label ${JSON.stringify(key)}; its labels are: ${this.labelNames.join(", ")}`,
          );
        }
      }
      labelValuesOf(this.what, this.labelNames.filter((n) => given.includes(n)), start);
    }
    return (end) => {
      if (end === undefined) return (start ?? {}) as Record<string, string>;
      if (end === null || typeof end !== "object") labelValuesOf(this.what, this.labelNames, end);
      return { ...(start as object), ...(end as object) } as Record<string, string>;
    };
  }

  /**
   * @ignore @internal The stored form of an exemplar (given, or from the provider), or undefined. Never throws:
   * it runs after the value was recorded, so an invalid exemplar or a provider that throws
   * drops the exemplar and counts it instead of failing a call whose retry would double-count.
   */
  exemplarOf(value: number, labels: Record<string, string> | undefined): StoredExemplar | undefined {
    if (this.removed) return undefined; // a metric taken out of its registry records nothing
    try {
      const given = labels ?? this.exemplars?.();
      if (given === undefined) return undefined;
      const encoded = encodeExemplar(this.what, given);
      if (encoded !== undefined) return { labels: encoded, value, timestamp: Date.now() / 1000 };
    } catch {
      // counted below
    }
    this.factory.exemplarDropped();
    return undefined;
  }

  /**
   * @ignore @internal The registry's default labels this metric shows, before its own: every one it
   * has no label of its own by (its own label wins, as in prom-client).
   */
  defaultLabels(): readonly (readonly [string, string])[] {
    return this.factory.defaultLabelsOf(this);
  }

  /** @ignore @internal The series to show: all, then the overflow series once something folded into it. */
  visibleSeries(): readonly S[] {
    if (this.dead > 0) this.compact();
    const overflow = this.overflowSeries;
    return overflow !== undefined && this.foldedObservations() > 0 ? [...this.series, overflow] : this.series;
  }

  /** Takes removed series out of `series`. */
  private compact(): void {
    this.series = this.series.filter((s) => (s.flags & DEAD) === 0 && this.aliases?.get(s) !== AN_ALIAS);
    this.dead = 0;
  }

  /** @ignore @internal Observations folded into the overflow series (all threads). */
  foldedObservations(): number {
    const overflow = this.overflowSeries;
    if (overflow === undefined || overflow.foldSlot < 0) return 0;
    return this.store.sumShards(overflow.foldSlot);
  }
}

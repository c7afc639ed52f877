/**
 * What the four metric types share: the label lookup, series creation through the
 * registry, the overflow series, exemplars. Private: `mod.ts` does not export it.
 *
 * @module
 */

import { encodeLabels, isValidLabelName, isWellFormed, labelValuesOf } from "./labels.ts";
import { describeValue } from "./_values.ts";
import type { Store } from "./storage/store.ts";

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

const OVERFLOW_ENCODED = `${OVERFLOW_LABEL}="true"`;

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
}

/** Slots a series of a family takes. */
export interface SeriesSize {
  /** Float64 slots in every shard. */
  readonly shard: number;
  /** Int32 words... expressed in Float64 slots of the shared region. */
  readonly shared: number;
}

/** A series as every type keeps it; types extend it with their recording methods. */
export class SeriesBase {
  /** Label values, in label-name order. */
  readonly labelValues: readonly string[];
  /** The encoded label set (inside of the braces), made once. */
  readonly encoded: string;
  /** Offset of the series' slots in every shard. */
  readonly offset: number;
  /** Float64 index of the series' shared slots, or -1. */
  readonly shared: number;
  /** Whether this is the metric's overflow series. */
  readonly overflow: boolean;
  /** Float64 index of this thread's first slot: offset + this thread's shard base. */
  readonly slot: number;
  /** Exemplar provider of the metric, if it opted in. */
  readonly exemplarProvider: ExemplarProvider | undefined;
  /** The store's whole-buffer Float64 view. */
  readonly f64: Float64Array;
  /** @internal The store. */
  readonly store: Store;
  /** Folded observations counter slot (this thread's), -1 when not an overflow series. */
  readonly foldSlot: number;
  /** The metric. */
  readonly family: Family<SeriesBase>;

  /** @internal Made by a family for each label set; use its `labels()`. */
  constructor(
    family: Family<SeriesBase>,
    values: readonly string[],
    offset: number,
    shared: number,
    overflow: boolean,
  ) {
    this.labelValues = values;
    this.encoded = overflow ? OVERFLOW_ENCODED : encodeLabels(family.labelNames, values);
    this.offset = offset;
    this.shared = shared;
    this.overflow = overflow;
    this.store = family.store;
    this.f64 = family.store.f64;
    this.slot = family.store.shardIndex(family.store.thread, offset);
    this.exemplarProvider = family.exemplars;
    this.foldSlot = -1;
    this.family = family;
  }
}

/** The registry's side of series creation, as a family sees it. */
export interface SeriesFactory {
  /** Creates (or finds, if another thread made it) a series; undefined when over a limit. */
  defineSeries(family: Family<SeriesBase>, values: readonly string[]): SeriesBase | undefined;
  /** Finds a series any thread made, creating none; undefined when there is none. */
  findSeries(family: Family<SeriesBase>, values: readonly string[]): SeriesBase | undefined;
  /** Counts an exemplar dropped (invalid, over the 128-character limit, or its provider threw). */
  exemplarDropped(): void;
}

/** @internal What the registry hands every metric it builds. */
export interface FamilyContext {
  /** The definition as the journal keeps it. */
  readonly definition: MetricDefinition;
  /** Journal ordinal of the metric. */
  readonly id: number;
  /** The store. */
  readonly store: Store;
  /** The registry's side of series creation. */
  readonly factory: SeriesFactory;
  /** Exemplar provider, if the metric opted in. */
  readonly exemplars: ExemplarProvider | undefined;
}

type IndexNode<S> = Map<string, IndexNode<S> | S>;

const MAX_EXEMPLAR_CHARS = 128;

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
  /** @internal The definition as registered. */
  readonly definition: MetricDefinition;
  /** Journal ordinal of the metric, the same on every thread. */
  readonly id: number;
  /** @internal The store. */
  readonly store: Store;
  /** Exemplar provider, if the metric opted in. */
  readonly exemplars: ExemplarProvider | undefined;
  /** Series in creation order, the same on every thread (the overflow series apart). */
  readonly series: S[] = [];
  /** The overflow series (metrics with labels). */
  overflowSeries: S | undefined;
  /** Called before each render and collect. */
  collectHook: (() => void) | undefined;
  private readonly index: IndexNode<S> = new Map();
  private single: S | undefined;
  private readonly factory: SeriesFactory;

  /** @internal Made by the registry; use `Registry.counter()` and its siblings. */
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
    this.id = context.id;
    this.store = context.store;
    this.factory = context.factory;
    this.exemplars = context.exemplars;
  }

  /** The type name used in messages, e.g. `Counter`. */
  abstract get kind(): string;

  /** @internal Slots one series takes. */
  abstract get size(): SeriesSize;

  /** Makes the local object of a series. */
  abstract makeSeries(values: readonly string[], offset: number, shared: number, overflow: boolean): S;

  /** Adds a series read from the journal. */
  adopt(values: readonly string[], offset: number, shared: number, overflow: boolean, foldOffset?: number): void {
    const series = this.makeSeries(values, offset, shared, overflow);
    if (overflow) {
      (series as { foldSlot: number }).foldSlot = this.store.shardIndex(
        this.store.thread,
        foldOffset ?? offset + this.size.shard,
      );
    }
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
    let node = this.index;
    for (let i = 0; i < values.length - 1; i++) {
      let next = node.get(values[i]!) as IndexNode<S> | undefined;
      if (next === undefined) node.set(values[i]!, next = new Map());
      node = next;
    }
    node.set(values[values.length - 1]!, series);
  }

  /** `Counter "name"`, for messages. */
  protected get what(): string {
    return `${this.kind} "${this.name}"`;
  }

  /**
   * The series of a label set. Hot path of every labelled call: one map lookup per
   * label on the label values (strings hash once and cache it), then a key count to
   * refuse extra labels; anything unusual goes to the slow path.
   */
  labels(labels: Record<string, string>): S {
    const names = this.labelNames;
    const n = names.length;
    // null is an object too: send it to the slow path, which names the mistake.
    if (labels === null) return this.slowLabels(labels);
    if (n === 0) {
      for (const _ in labels) return this.slowLabels(labels); // any key is an unknown label: let it throw
      return this.single ?? this.slowLabels(labels);
    }
    // deno-lint-ignore no-explicit-any
    let node: any = this.index;
    for (let i = 0; i < n; i++) {
      const value = labels[names[i]!];
      if (typeof value !== "string") return this.slowLabels(labels);
      node = node.get(value);
      if (node === undefined) return this.slowLabels(labels);
    }
    let keys = 0;
    for (const _ in labels) keys++;
    if (keys !== n) return this.slowLabels(labels);
    return node as S;
  }

  /** The series of a metric without labels. */
  unlabelled(): S {
    const single = this.single;
    if (single !== undefined) return single;
    return this.slowLabels({});
  }

  /** The series of label values this thread knows of (overflow included), or undefined. */
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
  private slowLabels(labels: unknown): S {
    if (labels === undefined) labels = {};
    const values = labelValuesOf(this.what, this.labelNames, labels);
    let series = this.find(values);
    if (series === undefined) series = this.factory.defineSeries(this, values) as S | undefined;
    if (series === undefined) series = this.overflowSeries!;
    return series;
  }

  /**
   * The series of a label set if any thread made it, creating none (for reads such as `get()`).
   * @throws {Error} on an unknown, missing or malformed label, as `labels()` does.
   */
  existing(labels: unknown): S | undefined {
    if (labels === undefined && this.labelNames.length === 0) return this.single;
    const values = labelValuesOf(this.what, this.labelNames, labels === undefined ? {} : labels);
    return this.find(values) ?? this.factory.findSeries(this, values) as S | undefined;
  }

  /**
   * Checks the labels given when a timer starts (a part of the label set; the rest come when it
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
   * The stored form of an exemplar (given, or from the provider), or undefined. Never throws:
   * it runs after the value was recorded, so an invalid exemplar or a provider that throws
   * drops the exemplar and counts it instead of failing a call whose retry would double-count.
   */
  exemplarOf(value: number, labels: Record<string, string> | undefined): StoredExemplar | undefined {
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

  /** The series to show: all, then the overflow series once something folded into it. */
  visibleSeries(): readonly S[] {
    const overflow = this.overflowSeries;
    return overflow !== undefined && this.foldedObservations() > 0 ? [...this.series, overflow] : this.series;
  }

  /** Observations folded into the overflow series (all threads). */
  foldedObservations(): number {
    const overflow = this.overflowSeries;
    if (overflow === undefined) return 0;
    return this.store.sumShards(overflow.foldSlot - this.store.shardIndex(this.store.thread, 0));
  }
}

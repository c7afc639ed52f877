/**
 * Merging the snapshots of several processes' registries into one, as a `node:cluster` primary
 * shows its workers: counters, histogram buckets, counts and sums, and summary counts and sums
 * added; gauges, and summary quantiles, by a per-metric aggregator with prom-client's names.
 * Runtime-neutral: it reads and writes {@linkcode MetricSnapshot}s only.
 *
 * @module
 */

import type { MetricSnapshot, SeriesSnapshot } from "./snapshot.ts";
import { reduceKey } from "../storage/native_buckets.ts";

/**
 * How the values of one series from several processes become one, with prom-client's names:
 * `sum` adds them, `first` takes the first process' (the lowest worker id), `min` and `max`
 * the least and the greatest, `average` their mean, and `omit` leaves the metric out.
 *
 * It decides a gauge's value and a summary's quantiles. Counters, histograms and the count
 * and sum of summaries are always added (anything else would make them go backwards when a
 * process goes); of their aggregators only `omit` has an effect. A summary's quantiles are
 * shown only with `min`, `max` (the quantile of all processes' observations together lies
 * between those two, which are so true bounds of it), `average` or `first` (approximations);
 * with `sum` (the default) only its `_count` and `_sum` are shown, since no quantile of the
 * whole can be computed from the processes' quantiles.
 */
export type Aggregator = "sum" | "first" | "min" | "max" | "average" | "omit";

/** @ignore @internal Every aggregator, by name. */
export const AGGREGATORS: readonly Aggregator[] = ["sum", "first", "min", "max", "average", "omit"];

/**
 * @ignore @internal Whether `value` names an aggregator.
 *
 * @example
 * ```ts
 * import { isAggregator } from "./snapshot_merge.ts";
 * if (!isAggregator("average") || isAggregator("mean")) throw new Error();
 * ```
 */
export function isAggregator(value: unknown): value is Aggregator {
  return typeof value === "string" && (AGGREGATORS as readonly string[]).includes(value);
}

/**
 * @ignore @internal The aggregators prom-client's default metrics carry (its `collectDefaultMetrics()` sets them
 * on the metrics), by the default metrics' names; the others are added.
 */
export const DEFAULT_AGGREGATORS: Readonly<Record<string, Aggregator>> = Object.freeze({
  process_start_time_seconds: "omit",
  nodejs_version_info: "first",
  nodejs_eventloop_lag_seconds: "average",
  nodejs_eventloop_lag_min_seconds: "min",
  nodejs_eventloop_lag_max_seconds: "max",
  nodejs_eventloop_lag_mean_seconds: "average",
  nodejs_eventloop_lag_stddev_seconds: "average",
  nodejs_eventloop_lag_p50_seconds: "average",
  nodejs_eventloop_lag_p90_seconds: "average",
  nodejs_eventloop_lag_p99_seconds: "average",
  nodejs_eventloop_utilization: "average",
});

/** @ignore @internal A metric's snapshot with the aggregator the process that took it asks for. */
export interface AggregatedSnapshot extends MetricSnapshot {
  /** How to merge the metric's values with other processes'; see {@linkcode Aggregator}. */
  aggregator?: Aggregator;
}

/** @ignore @internal Options of {@linkcode mergeSnapshots}. */
export interface MergeOptions {
  /**
   * Aggregators by metric name; they take precedence over the one a snapshot carries, which
   * takes precedence over {@linkcode DEFAULT_AGGREGATORS}.
   * @default {}
   */
  aggregators?: Readonly<Record<string, Aggregator>>;
  /**
   * Keep only what only grows: counters, histograms and the counts and sums of summaries (no
   * gauges, no quantiles, and `omit` not applied), as the totals of processes that exited are
   * kept.
   * @default false
   */
  cumulative?: boolean;
  /**
   * Called for each metric of a source left out because its definition (type, label names,
   * unit, buckets, quantiles or native zero threshold) differs from the one an earlier source
   * gave; the earlier one is kept.
   */
  onConflict?: (metric: string, source: number, reason: string) => void;
}

/** @ignore @internal A native histogram's buckets, as a series' snapshot has them. */
export type NativeSnapshot = NonNullable<SeriesSnapshot["native"]>;

/**
 * @ignore @internal Series of one metric that share their label names (and a histogram's bucket bounds, a
 * summary's quantiles, whether there are native buckets), one after another in one flat list:
 * what crosses the cluster's IPC channel and what the primary keeps of each worker, with no
 * object per series.
 */
export interface SeriesBlock {
  /** The label names of every series here, in their order. */
  keys: readonly string[];
  /** A histogram's bucket bounds (the last `Infinity`); empty otherwise. */
  les: readonly number[];
  /** A summary's quantiles; empty otherwise (and for a summary whose series show none). */
  quantiles: readonly number[];
  /**
   * The series, each as `keys.length` label values then its numbers: a counter's or gauge's
   * value; a histogram's count, sum and cumulative bucket counts; a summary's count, sum and
   * quantile values.
   */
  rows: readonly (string | number)[];
  /** A histogram's native buckets, by series; undefined when the series have none. */
  native: readonly (NativeSnapshot | undefined)[] | undefined;
}

/** @ignore @internal A metric's snapshot with its series in {@linkcode SeriesBlock}s. */
export interface CompactSnapshot extends Omit<AggregatedSnapshot, "series"> {
  /** The series, a block for each run of series that share their shape. */
  blocks: SeriesBlock[];
}

/** @ignore @internal The numbers that follow a series' label values in a {@linkcode SeriesBlock}. */
export function rowWidth(type: MetricSnapshot["type"], block: Pick<SeriesBlock, "les" | "quantiles">): number {
  return type === "counter" || type === "gauge"
    ? 1
    : 2 + (type === "histogram" ? block.les.length : block.quantiles.length);
}

/** Shared by every series without buckets or quantiles: frozen, so no one fills it for all. */
const NO_BUCKETS = Object.freeze([]) as unknown as SeriesSnapshot["buckets"];
const NO_QUANTILES = Object.freeze([]) as unknown as SeriesSnapshot["quantiles"];
const NO_NUMBERS: readonly number[] = Object.freeze([]);

function isCompact(metric: AggregatedSnapshot | CompactSnapshot): metric is CompactSnapshot {
  return (metric as CompactSnapshot).blocks !== undefined;
}

/** Whether `labels` has exactly the names `keys`, in that order. */
function hasKeys(labels: Record<string, string>, keys: readonly string[]): boolean {
  let i = 0;
  for (const name in labels) if (keys[i++] !== name) return false;
  return i === keys.length;
}

/**
 * @ignore @internal A metric's snapshot in blocks (see {@linkcode SeriesBlock}).
 *
 * @example
 * ```ts
 * import { compactOf } from "./snapshot_merge.ts";
 *
 * const compact = compactOf({
 *   name: "up",
 *   help: "Up",
 *   type: "gauge",
 *   unit: "",
 *   labelNames: ["job"],
 *   series: [{ labels: { job: "a" }, value: 1, count: 0, sum: 0, buckets: [], quantiles: [] }],
 * });
 * if (compact.blocks[0]!.rows.join() !== "a,1") throw new Error();
 * ```
 */
export function compactOf(metric: AggregatedSnapshot): CompactSnapshot {
  const { series, ...head } = metric;
  const type = metric.type;
  const blocks: SeriesBlock[] = [];
  let block: {
    keys: string[];
    les: number[];
    quantiles: number[];
    rows: (string | number)[];
    native: (NativeSnapshot | undefined)[] | undefined;
  } | undefined;
  for (const s of series) {
    const les = type === "histogram" ? s.buckets.map((b) => b.le) : NO_NUMBERS;
    const quantiles = type === "summary" ? s.quantiles.map((q) => q.quantile) : NO_NUMBERS;
    if (
      block === undefined || !hasKeys(s.labels, block.keys) || !sameNumbers(block.les, les) ||
      !sameNumbers(block.quantiles, quantiles) || (block.native === undefined) !== (s.native === undefined)
    ) {
      block = {
        keys: Object.keys(s.labels),
        les: [...les],
        quantiles: [...quantiles],
        rows: [],
        native: s.native === undefined ? undefined : [],
      };
      blocks.push(block);
    }
    for (const key of block.keys) block.rows.push(s.labels[key]!);
    if (type === "counter" || type === "gauge") block.rows.push(s.value);
    else {
      block.rows.push(s.count, s.sum);
      if (type === "histogram") { for (const b of s.buckets) block.rows.push(b.count); }
      else for (const q of s.quantiles) block.rows.push(q.value);
    }
    block.native?.push(s.native);
  }
  return { ...head, blocks };
}

/**
 * @ignore @internal A metric's snapshot with a series object per series, from blocks.
 *
 * @example
 * ```ts
 * import { compactOf, expandSnapshot } from "./snapshot_merge.ts";
 *
 * const metric = {
 *   name: "up",
 *   help: "Up",
 *   type: "gauge" as const,
 *   unit: "",
 *   labelNames: ["job"],
 *   series: [{ labels: { job: "a" }, value: 1, count: 0, sum: 0, buckets: [], quantiles: [] }],
 * };
 * if (expandSnapshot(compactOf(metric)).series[0]!.labels.job !== "a") throw new Error();
 * ```
 */
export function expandSnapshot(metric: CompactSnapshot): AggregatedSnapshot {
  const { blocks, ...head } = metric;
  const type = metric.type;
  const series: SeriesSnapshot[] = [];
  for (const block of blocks) {
    const { keys, rows, les, quantiles, native } = block;
    const stride = keys.length + rowWidth(type, block);
    for (let at = 0, i = 0; at < rows.length; at += stride, i++) {
      const labels: Record<string, string> = {};
      for (let k = 0; k < keys.length; k++) labels[keys[k]!] = rows[at + k] as string;
      const o = at + keys.length;
      const snap: SeriesSnapshot = { labels, value: 0, count: 0, sum: 0, buckets: NO_BUCKETS, quantiles: NO_QUANTILES };
      if (type === "counter" || type === "gauge") snap.value = rows[o] as number;
      else {
        snap.count = rows[o] as number;
        snap.sum = rows[o + 1] as number;
        if (type === "histogram") {
          snap.buckets = les.map((le, b) => ({ le, count: rows[o + 2 + b] as number }));
          const n = native?.[i];
          if (n !== undefined) {
            snap.native = {
              schema: n.schema,
              zeroThreshold: n.zeroThreshold,
              zeroCount: n.zeroCount,
              positive: n.positive.map(([k, c]) => [k, c]),
              negative: n.negative.map(([k, c]) => [k, c]),
            };
          }
        } else if (quantiles.length > 0) {
          snap.quantiles = quantiles.map((quantile, q) => ({ quantile, value: rows[o + 2 + q] as number }));
        }
      }
      series.push(snap);
    }
  }
  return { ...head, series };
}

interface NativeMerge {
  schema: number;
  zeroThreshold: number;
  zeroCount: number;
  positive: Map<number, number>;
  negative: Map<number, number>;
}

interface SeriesMerge {
  /** Where its label values are: the first source's block that has it, at `at`. */
  keys: readonly string[];
  sig: string;
  rows: readonly (string | number)[];
  at: number;
  /** Its place in the merge's list. */
  index: number;
  /** A counter's total; a gauge's value so far by the aggregator. */
  value: number;
  /** The sources that have it so far. */
  n: number;
  count: number;
  sum: number;
  /** Cumulative bucket counts, by the metric's `les`. */
  buckets: number[] | undefined;
  native: NativeMerge | undefined;
  /** A summary's quantile values in each source that has them. */
  quantiles: number[][] | undefined;
}

interface MetricMerge {
  /** The definition: the first source's. */
  head: Omit<AggregatedSnapshot, "series">;
  aggregator: Aggregator;
  /** The histogram's bucket bounds (with the last `+Inf`), once a series showed them. */
  les: readonly number[] | undefined;
  /** The summary's quantiles, once a series showed them. */
  quantiles: readonly number[] | undefined;
  /** Whether the histogram has native buckets (and their zero threshold), once a series showed it. */
  native: number | null | undefined;
  /** The series in the order first seen. */
  list: SeriesMerge[];
  /** The series by label set (see {@linkcode seriesKey}). */
  byKey: Map<string, SeriesMerge>;
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/** Every name a metric writes in either text format: its own, its family name and its samples'. */
function writtenNames(metric: Pick<MetricSnapshot, "name" | "type">): string[] {
  const { name, type } = metric;
  if (type === "gauge") return [name];
  const base = type === "counter" && name.endsWith("_total") ? name.slice(0, -6) : name;
  const suffixes = type === "counter"
    ? ["_total"]
    : type === "histogram"
    ? ["_bucket", "_count", "_sum"]
    : ["_count", "_sum"];
  return [name, base, ...[...suffixes, "_created"].map((suffix) => base + suffix)];
}

/** A block's label names as one string, the start of its series' keys. */
function signature(keys: readonly string[]): string {
  return JSON.stringify(keys);
}

/** A series' label set as one string: its names' signature, then each value after its length (so no two sets share one). */
function seriesKey(sig: string, rows: readonly (string | number)[], at: number, labels: number): string {
  let key = sig;
  for (let i = 0; i < labels; i++) {
    const value = rows[at + i] as string;
    key += value.length + ":" + value;
  }
  return key;
}

/** The reason a source's metric cannot be merged into what is there, or undefined. */
function conflict(merge: MetricMerge, metric: CompactSnapshot): string | undefined {
  const head = merge.head;
  if (head.type !== metric.type) return `it is a ${metric.type} here and a ${head.type} before`;
  if (head.unit !== metric.unit) {
    return `its unit is ${JSON.stringify(metric.unit)} here and ${JSON.stringify(head.unit)} before`;
  }
  if (
    head.labelNames.length !== metric.labelNames.length || head.labelNames.some((n, i) => n !== metric.labelNames[i])
  ) {
    return `its labels are [${metric.labelNames.join(", ")}] here and [${head.labelNames.join(", ")}] before`;
  }
  let les = merge.les;
  let quantiles = merge.quantiles;
  let native = merge.native;
  for (const block of metric.blocks) {
    if (block.rows.length === 0) continue;
    if (metric.type === "histogram") {
      if (les === undefined) les = block.les;
      else if (!sameNumbers(les, block.les)) {
        return `its buckets are [${block.les.join(", ")}] here and [${les.join(", ")}] before`;
      }
      const count = block.rows.length / (block.keys.length + rowWidth("histogram", block));
      for (let i = 0; i < count; i++) {
        const n = block.native?.[i];
        const threshold = n === undefined ? null : n.zeroThreshold;
        if (native !== undefined && native !== threshold) {
          return threshold === null || native === null
            ? "it has native buckets in one process and not in another"
            : `its native zero threshold is ${threshold} here and ${native} before`;
        }
        native = threshold;
      }
    } else if (metric.type === "summary" && block.quantiles.length > 0) {
      if (quantiles !== undefined && !sameNumbers(quantiles, block.quantiles)) {
        return `its quantiles are [${block.quantiles.join(", ")}] here and [${quantiles.join(", ")}] before`;
      }
      quantiles = block.quantiles;
    }
  }
  return undefined;
}

/** Lowers a native histogram's resolution `times` times (buckets merged pairwise). */
function reduceBuckets(buckets: Map<number, number>, times: number): Map<number, number> {
  if (times === 0) return buckets;
  const wider = new Map<number, number>();
  for (const [key, count] of buckets) {
    const k = reduceKey(key, times);
    wider.set(k, (wider.get(k) ?? 0) + count);
  }
  return wider;
}

function addBuckets(into: Map<number, number>, from: readonly (readonly [number, number])[], times: number): void {
  for (const [key, count] of from) {
    const k = reduceKey(key, times);
    into.set(k, (into.get(k) ?? 0) + count);
  }
}

/** Adds a source's native buckets, at the lower of the two schemas (as Prometheus adds histograms). */
function mergeNative(into: NativeMerge | undefined, from: NativeSnapshot): NativeMerge {
  const merged = into ?? {
    schema: from.schema,
    zeroThreshold: from.zeroThreshold,
    zeroCount: 0,
    positive: new Map(),
    negative: new Map(),
  };
  if (from.schema < merged.schema) {
    merged.positive = reduceBuckets(merged.positive, merged.schema - from.schema);
    merged.negative = reduceBuckets(merged.negative, merged.schema - from.schema);
    merged.schema = from.schema;
  }
  merged.zeroCount += from.zeroCount;
  addBuckets(merged.positive, from.positive, from.schema - merged.schema);
  addBuckets(merged.negative, from.negative, from.schema - merged.schema);
  return merged;
}

/** One value of several by an aggregator (`omit` never comes here). */
function aggregate(values: readonly number[], aggregator: Aggregator): number {
  if (values.length === 0) return NaN;
  if (aggregator === "first") return values[0]!;
  let out = aggregator === "min" ? Infinity : aggregator === "max" ? -Infinity : 0;
  for (const v of values) out = fold(out, v, aggregator);
  return aggregator === "average" ? out / values.length : out;
}

/** One more value into what `sum`, `min`, `max` or `average` made of the values before. */
function fold(out: number, v: number, aggregator: Aggregator): number {
  if (aggregator === "min") return v < out || Number.isNaN(v) ? v : out;
  if (aggregator === "max") return v > out || Number.isNaN(v) ? v : out;
  return out + v;
}

/** A summary's quantile values over the sources, each quantile by the aggregator, sources without a value (NaN: an empty window) left out. */
function aggregateQuantiles(
  list: readonly number[],
  values: readonly number[][],
  aggregator: Aggregator,
): { quantile: number; value: number }[] {
  return list.map((quantile, i) => {
    const known = values.map((v) => v[i]!).filter((v) => !Number.isNaN(v));
    return { quantile, value: aggregate(known, aggregator) };
  });
}

function sortedPairs(buckets: Map<number, number>): [number, number][] {
  return [...buckets].sort((a, b) => a[0] - b[0]);
}

type Source = readonly (AggregatedSnapshot | CompactSnapshot)[];

/** Merges the sources' metrics, in order, into a merge per metric name. */
function mergeAll(sources: readonly Source[], options: MergeOptions): Map<string, MetricMerge> {
  const { aggregators = {}, cumulative = false, onConflict } = options;
  const merges = new Map<string, MetricMerge>();
  const omitted = new Set<string>();
  /** Names written by the metrics so far, to the metric that writes them. */
  const taken = new Map<string, string>();
  sources.forEach((metrics, source) => {
    for (const given of metrics) {
      if (cumulative && given.type === "gauge") continue;
      if (omitted.has(given.name)) continue;
      let merge = merges.get(given.name);
      if (merge === undefined) {
        const aggregator = (Object.hasOwn(aggregators, given.name) ? aggregators[given.name] : undefined) ??
          given.aggregator ?? DEFAULT_AGGREGATORS[given.name] ?? "sum";
        if (aggregator === "omit" && !cumulative) {
          omitted.add(given.name);
          continue;
        }
        // Two metrics that no one registry could hold together (a gauge "jobs" and a counter
        // "jobs_total") would make an exposition scrapers refuse.
        const names = writtenNames(given);
        const owner = names.map((name) => taken.get(name)).find((other) => other !== undefined);
        if (owner !== undefined) {
          onConflict?.(given.name, source, `its samples would clash with metric ${JSON.stringify(owner)}'s`);
          continue;
        }
        for (const name of names) taken.set(name, given.name);
        const { name, help, type, unit, labelNames } = given;
        const head: Omit<AggregatedSnapshot, "series"> = { name, help, type, unit, labelNames: [...labelNames] };
        if (given.aggregator !== undefined) head.aggregator = given.aggregator;
        merge = {
          head,
          aggregator,
          les: undefined,
          quantiles: undefined,
          native: undefined,
          list: [],
          byKey: new Map(),
        };
        merges.set(given.name, merge);
      }
      const metric = isCompact(given) ? given : compactOf(given);
      const reason = conflict(merge, metric);
      if (reason !== undefined) {
        onConflict?.(metric.name, source, reason);
        continue;
      }
      add(merge, metric, cumulative);
    }
  });
  return merges;
}

/**
 * @ignore @internal Merges the snapshots of several sources (processes) into one snapshot, metrics sorted by
 * name: counters, histogram buckets (classic and native, the latter at the lowest schema among
 * the sources), counts and sums added per label set; gauges and summary quantiles by each
 * metric's {@linkcode Aggregator} over the sources that have the label set, in source order.
 * A metric whose definition in a source differs from the first source's is left out of that
 * source (and told to `onConflict`). A source's metrics may have their series in blocks
 * ({@linkcode CompactSnapshot}).
 *
 * @param sources Each source's snapshot, in order (`first` takes the first).
 * @param options Aggregators by metric name, the cumulative mode and a conflict callback.
 * @returns The merged snapshot, sorted by metric name.
 *
 * @example Two workers' counters and gauges
 * ```ts
 * import { Registry } from "../registry.ts";
 * import { mergeSnapshots } from "./snapshot_merge.ts";
 *
 * const sources = [1, 2].map((n) => {
 *   const registry = new Registry({ selfMetrics: false });
 *   registry.counter({ name: "jobs_total", help: "Jobs" }).inc(n);
 *   registry.gauge({ name: "queue_depth", help: "Depth" }).set(n * 10);
 *   return registry.collect();
 * });
 * const merged = mergeSnapshots(sources, { aggregators: { queue_depth: "max" } });
 * const value = (name: string) => merged.find((m) => m.name === name)!.series[0]!.value;
 * if (value("jobs_total") !== 3 || value("queue_depth") !== 20) throw new Error();
 * ```
 */
export function mergeSnapshots(sources: readonly Source[], options: MergeOptions = {}): AggregatedSnapshot[] {
  const cumulative = options.cumulative ?? false;
  const out: AggregatedSnapshot[] = [];
  for (const merge of mergeAll(sources, options).values()) out.push(finish(merge, cumulative));
  return out.sort(byName);
}

/**
 * @ignore @internal As {@linkcode mergeSnapshots}, with the series of the result in blocks: for a merge that
 * is kept and merged again (the totals of the workers that exited).
 *
 * @param sources Each source's snapshot, in order.
 * @param options Aggregators by metric name, the cumulative mode and a conflict callback.
 * @returns The merged snapshot, sorted by metric name.
 *
 * @example
 * ```ts
 * import { Registry } from "../registry.ts";
 * import { mergeCompact } from "./snapshot_merge.ts";
 *
 * const registry = new Registry({ selfMetrics: false });
 * registry.counter({ name: "jobs_total", help: "Jobs" }).inc(2);
 * const [jobs] = mergeCompact([registry.collect(), registry.collect()], { cumulative: true });
 * if (jobs!.blocks[0]!.rows[0] !== 4) throw new Error();
 * ```
 */
export function mergeCompact(sources: readonly Source[], options: MergeOptions = {}): CompactSnapshot[] {
  const cumulative = options.cumulative ?? false;
  const out: CompactSnapshot[] = [];
  for (const merge of mergeAll(sources, options).values()) out.push(finishCompact(merge, cumulative));
  return out.sort(byName);
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Adds a source's metric (already checked) into its merge. */
function add(merge: MetricMerge, metric: CompactSnapshot, cumulative: boolean): void {
  const type = metric.type;
  const aggregator = merge.aggregator;
  const list = merge.list;
  // Sources list their series mostly in the same order: the next one in the merge is tried
  // first, and the label set's key made only when it is another.
  let next = 0;
  for (const block of metric.blocks) {
    const { keys, rows, native } = block;
    const labels = keys.length;
    const stride = labels + rowWidth(type, block);
    if (rows.length === 0) continue;
    const sig = signature(keys);
    if (type === "histogram") {
      merge.les ??= block.les;
      merge.native ??= native?.[0] === undefined ? null : native[0].zeroThreshold;
    } else if (type === "summary" && !cumulative && block.quantiles.length > 0) {
      merge.quantiles ??= block.quantiles;
    }
    for (let at = 0, i = 0; at < rows.length; at += stride, i++) {
      let into = list[next];
      if (into !== undefined && into.sig === sig) {
        for (let k = 0; k < labels; k++) {
          if (into.rows[into.at + k] !== rows[at + k]) {
            into = undefined;
            break;
          }
        }
      } else into = undefined;
      if (into === undefined) {
        const key = seriesKey(sig, rows, at, labels);
        into = merge.byKey.get(key);
        if (into === undefined) {
          into = {
            keys,
            sig,
            rows,
            at,
            index: list.length,
            value: aggregator === "min" && type === "gauge"
              ? Infinity
              : aggregator === "max" && type === "gauge"
              ? -Infinity
              : 0,
            n: 0,
            count: 0,
            sum: 0,
            buckets: undefined,
            native: undefined,
            quantiles: undefined,
          };
          list.push(into);
          merge.byKey.set(key, into);
        }
      }
      next = into.index + 1;
      const o = at + labels;
      switch (type) {
        case "counter":
          into.value += rows[o] as number;
          break;
        case "gauge":
          into.value = aggregator === "first"
            ? (into.n === 0 ? rows[o] as number : into.value)
            : fold(into.value, rows[o] as number, aggregator);
          break;
        case "histogram": {
          into.count += rows[o] as number;
          into.sum += rows[o + 1] as number;
          const buckets = (into.buckets ??= new Array<number>(block.les.length).fill(0));
          for (let b = 0; b < buckets.length; b++) buckets[b]! += rows[o + 2 + b] as number;
          const n = native?.[i];
          if (n !== undefined) into.native = mergeNative(into.native, n);
          break;
        }
        case "summary":
          into.count += rows[o] as number;
          into.sum += rows[o + 1] as number;
          if (!cumulative && block.quantiles.length > 0) {
            (into.quantiles ??= []).push(rows.slice(o + 2, o + 2 + block.quantiles.length) as number[]);
          }
          break;
      }
      into.n++;
    }
  }
}

function labelsOf(s: SeriesMerge): Record<string, string> {
  const labels: Record<string, string> = {};
  for (let k = 0; k < s.keys.length; k++) labels[s.keys[k]!] = s.rows[s.at + k] as string;
  return labels;
}

function nativeOf(native: NativeMerge): NativeSnapshot {
  return {
    schema: native.schema,
    zeroThreshold: native.zeroThreshold,
    zeroCount: native.zeroCount,
    positive: sortedPairs(native.positive),
    negative: sortedPairs(native.negative),
  };
}

/** The quantiles a merged summary shows, or undefined. */
function shownQuantiles(merge: MetricMerge, cumulative: boolean): readonly number[] | undefined {
  const aggregator = merge.aggregator;
  return !cumulative && aggregator !== "sum" && aggregator !== "omit" ? merge.quantiles : undefined;
}

/** A merged gauge's value. */
function gaugeValue(s: SeriesMerge, aggregator: Aggregator): number {
  if (s.n === 0) return NaN;
  return aggregator === "average" ? s.value / s.n : s.value;
}

/** The merged metric's snapshot. */
function finish(merge: MetricMerge, cumulative: boolean): AggregatedSnapshot {
  const { head, aggregator } = merge;
  const type = head.type;
  const shown = shownQuantiles(merge, cumulative);
  const les = merge.les ?? NO_NUMBERS;
  const series: SeriesSnapshot[] = [];
  for (const s of merge.list) {
    const snap: SeriesSnapshot = {
      labels: labelsOf(s),
      value: 0,
      count: 0,
      sum: 0,
      buckets: NO_BUCKETS,
      quantiles: NO_QUANTILES,
    };
    if (type === "counter") snap.value = s.value;
    else if (type === "gauge") snap.value = gaugeValue(s, aggregator);
    else {
      snap.count = s.count;
      snap.sum = s.sum;
      if (type === "histogram") {
        snap.buckets = les.map((le, i) => ({ le, count: s.buckets?.[i] ?? 0 }));
        if (s.native !== undefined) snap.native = nativeOf(s.native);
      } else if (shown !== undefined && s.quantiles !== undefined) {
        snap.quantiles = aggregateQuantiles(shown, s.quantiles, aggregator);
      }
    }
    series.push(snap);
  }
  return { ...head, series };
}

/** The merged metric's snapshot, in blocks. */
function finishCompact(merge: MetricMerge, cumulative: boolean): CompactSnapshot {
  const { head, aggregator } = merge;
  const type = head.type;
  const shown = shownQuantiles(merge, cumulative);
  const les = merge.les ?? NO_NUMBERS;
  const blocks: SeriesBlock[] = [];
  let block:
    | {
      keys: readonly string[];
      sig: string;
      les: readonly number[];
      quantiles: readonly number[];
      rows: (string | number)[];
      native: (NativeSnapshot | undefined)[] | undefined;
    }
    | undefined;
  for (const s of merge.list) {
    const quantiles = type === "summary" && shown !== undefined && s.quantiles !== undefined ? shown : NO_NUMBERS;
    const hasNative = s.native !== undefined;
    if (
      block === undefined || block.sig !== s.sig || block.quantiles !== quantiles ||
      (block.native !== undefined) !== hasNative
    ) {
      block = {
        keys: s.keys,
        sig: s.sig,
        les: type === "histogram" ? les : NO_NUMBERS,
        quantiles,
        rows: [],
        native: hasNative ? [] : undefined,
      };
      blocks.push(block);
    }
    const rows = block.rows;
    for (let k = 0; k < s.keys.length; k++) rows.push(s.rows[s.at + k]!);
    if (type === "counter") rows.push(s.value);
    else if (type === "gauge") rows.push(gaugeValue(s, aggregator));
    else {
      rows.push(s.count, s.sum);
      if (type === "histogram") { for (let i = 0; i < les.length; i++) rows.push(s.buckets?.[i] ?? 0); }
      else if (quantiles.length > 0) {
        for (const q of aggregateQuantiles(quantiles, s.quantiles!, aggregator)) rows.push(q.value);
      }
    }
    if (hasNative) block.native!.push(nativeOf(s.native!));
  }
  return {
    ...head,
    blocks: blocks.map(({ keys, les, quantiles, rows, native }) => ({ keys, les, quantiles, rows, native })),
  };
}

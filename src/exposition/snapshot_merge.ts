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

interface NativeMerge {
  schema: number;
  zeroThreshold: number;
  zeroCount: number;
  positive: Map<number, number>;
  negative: Map<number, number>;
}

interface SeriesMerge {
  labels: Record<string, string>;
  /** A counter's total. */
  value: number;
  /** A gauge's value in each source that has the series. */
  values: number[];
  count: number;
  sum: number;
  /** Cumulative bucket counts, by the metric's `les`. */
  buckets: number[];
  native: NativeMerge | undefined;
  /** A summary's quantile values in each source that has them. */
  quantiles: number[][];
}

interface MetricMerge {
  /** The definition: the first source's. */
  head: Omit<AggregatedSnapshot, "series">;
  aggregator: Aggregator;
  /** The histogram's bucket bounds (with the last `+Inf`), once a series showed them. */
  les: number[] | undefined;
  /** The summary's quantiles, once a series showed them. */
  quantiles: number[] | undefined;
  /** Whether the histogram has native buckets (and their zero threshold), once a series showed it. */
  native: number | null | undefined;
  series: Map<string, SeriesMerge>;
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
}

/** Every name a metric writes in either text format: its own, its family name and its samples'. */
function writtenNames(metric: MetricSnapshot): string[] {
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

/** The reason a source's metric cannot be merged into what is there, or undefined. */
function conflict(merge: MetricMerge, metric: MetricSnapshot): string | undefined {
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
  for (const series of metric.series) {
    if (metric.type === "histogram") {
      const buckets = series.buckets;
      if (les === undefined) les = buckets.map((b) => b.le);
      else if (les.length !== buckets.length || buckets.some((b, i) => !Object.is(b.le, les![i]))) {
        return `its buckets are [${buckets.map((b) => b.le).join(", ")}] here and [${les.join(", ")}] before`;
      }
      const threshold = series.native === undefined ? null : series.native.zeroThreshold;
      if (native !== undefined && native !== threshold) {
        return threshold === null || native === null
          ? "it has native buckets in one process and not in another"
          : `its native zero threshold is ${threshold} here and ${native} before`;
      }
      native = threshold;
    } else if (metric.type === "summary" && series.quantiles.length > 0) {
      const list = series.quantiles.map((q) => q.quantile);
      if (quantiles !== undefined && !sameNumbers(quantiles, list)) {
        return `its quantiles are [${list.join(", ")}] here and [${quantiles.join(", ")}] before`;
      }
      quantiles = list;
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
function mergeNative(into: NativeMerge | undefined, from: NonNullable<SeriesSnapshot["native"]>): NativeMerge {
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
  for (const v of values) {
    if (aggregator === "min") out = v < out || Number.isNaN(v) ? v : out;
    else if (aggregator === "max") out = v > out || Number.isNaN(v) ? v : out;
    else out += v;
  }
  return aggregator === "average" ? out / values.length : out;
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

/**
 * @ignore @internal Merges the snapshots of several sources (processes) into one snapshot, metrics sorted by
 * name: counters, histogram buckets (classic and native, the latter at the lowest schema among
 * the sources), counts and sums added per label set; gauges and summary quantiles by each
 * metric's {@linkcode Aggregator} over the sources that have the label set, in source order.
 * A metric whose definition in a source differs from the first source's is left out of that
 * source (and told to `onConflict`).
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
export function mergeSnapshots(
  sources: readonly (readonly AggregatedSnapshot[])[],
  options: MergeOptions = {},
): AggregatedSnapshot[] {
  const { aggregators = {}, cumulative = false, onConflict } = options;
  const merges = new Map<string, MetricMerge>();
  const omitted = new Set<string>();
  /** Names written by the metrics so far, to the metric that writes them. */
  const taken = new Map<string, string>();
  sources.forEach((metrics, source) => {
    for (const metric of metrics) {
      if (cumulative && metric.type === "gauge") continue;
      if (omitted.has(metric.name)) continue;
      let merge = merges.get(metric.name);
      if (merge === undefined) {
        const aggregator = (Object.hasOwn(aggregators, metric.name) ? aggregators[metric.name] : undefined) ??
          metric.aggregator ?? DEFAULT_AGGREGATORS[metric.name] ?? "sum";
        if (aggregator === "omit" && !cumulative) {
          omitted.add(metric.name);
          continue;
        }
        // Two metrics that no one registry could hold together (a gauge "jobs" and a counter
        // "jobs_total") would make an exposition scrapers refuse.
        const names = writtenNames(metric);
        const owner = names.map((name) => taken.get(name)).find((other) => other !== undefined);
        if (owner !== undefined) {
          onConflict?.(metric.name, source, `its samples would clash with metric ${JSON.stringify(owner)}'s`);
          continue;
        }
        for (const name of names) taken.set(name, metric.name);
        const { series: _, ...head } = metric;
        merge = {
          head: { ...head, labelNames: [...metric.labelNames] },
          aggregator,
          les: undefined,
          quantiles: undefined,
          native: undefined,
          series: new Map(),
        };
        merges.set(metric.name, merge);
      }
      const reason = conflict(merge, metric);
      if (reason !== undefined) {
        onConflict?.(metric.name, source, reason);
        continue;
      }
      add(merge, metric, cumulative);
    }
  });
  const out: AggregatedSnapshot[] = [];
  for (const merge of merges.values()) out.push(finish(merge, cumulative));
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Adds a source's metric (already checked) into its merge. */
function add(merge: MetricMerge, metric: MetricSnapshot, cumulative: boolean): void {
  for (const series of metric.series) {
    // The same label set comes in the same key order from every source (labels in definition order).
    const key = JSON.stringify(series.labels);
    let into = merge.series.get(key);
    if (into === undefined) {
      into = {
        labels: { ...series.labels },
        value: 0,
        values: [],
        count: 0,
        sum: 0,
        buckets: series.buckets.map(() => 0),
        native: undefined,
        quantiles: [],
      };
      merge.series.set(key, into);
    }
    switch (metric.type) {
      case "counter":
        into.value += series.value;
        break;
      case "gauge":
        into.values.push(series.value);
        break;
      case "histogram":
        merge.les ??= series.buckets.map((b) => b.le);
        merge.native ??= series.native === undefined ? null : series.native.zeroThreshold;
        series.buckets.forEach((b, i) => (into.buckets[i]! += b.count));
        into.count += series.count;
        into.sum += series.sum;
        if (series.native !== undefined) into.native = mergeNative(into.native, series.native);
        break;
      case "summary":
        into.count += series.count;
        into.sum += series.sum;
        if (!cumulative && series.quantiles.length > 0) {
          merge.quantiles ??= series.quantiles.map((q) => q.quantile);
          into.quantiles.push(series.quantiles.map((q) => q.value));
        }
        break;
    }
  }
}

/** The merged metric's snapshot. */
function finish(merge: MetricMerge, cumulative: boolean): AggregatedSnapshot {
  const { head, aggregator } = merge;
  const showQuantiles = !cumulative && aggregator !== "sum" && aggregator !== "omit" && merge.quantiles !== undefined;
  const series: SeriesSnapshot[] = [];
  for (const s of merge.series.values()) {
    const snap: SeriesSnapshot = { labels: s.labels, value: 0, count: 0, sum: 0, buckets: [], quantiles: [] };
    if (head.type === "counter") snap.value = s.value;
    else if (head.type === "gauge") snap.value = aggregate(s.values, aggregator);
    else {
      snap.count = s.count;
      snap.sum = s.sum;
      if (head.type === "histogram") {
        snap.buckets = (merge.les ?? []).map((le, i) => ({ le, count: s.buckets[i] ?? 0 }));
        if (s.native !== undefined) {
          snap.native = {
            schema: s.native.schema,
            zeroThreshold: s.native.zeroThreshold,
            zeroCount: s.native.zeroCount,
            positive: sortedPairs(s.native.positive),
            negative: sortedPairs(s.native.negative),
          };
        }
      } else if (showQuantiles && s.quantiles.length > 0) {
        snap.quantiles = aggregateQuantiles(merge.quantiles!, s.quantiles, aggregator);
      }
    }
    series.push(snap);
  }
  return { ...head, series };
}

/**
 * Structured snapshots of a registry, for exporters that are not text (OTLP).
 *
 * @module
 */

import { type Family, type MetricType, OVERFLOW_LABEL, type SeriesBase } from "../_family.ts";
import type { CounterSeries } from "../counter.ts";
import type { GaugeSeries } from "../gauge.ts";
import type { Histogram, HistogramSeries } from "../histogram.ts";
import type { Summary, SummarySeries } from "../summary.ts";

/** One series' values at the time of the snapshot. */
export interface SeriesSnapshot {
  /** The label set. */
  labels: Record<string, string>;
  /** Counter or gauge value; 0 for histograms and summaries. */
  value: number;
  /** Histogram or summary observation count; 0 otherwise. */
  count: number;
  /** Histogram or summary observation sum; 0 otherwise. */
  sum: number;
  /** Histogram buckets, cumulative, the last with `le: Infinity`; empty otherwise. */
  buckets: { le: number; count: number }[];
  /** Summary quantiles over the window; empty otherwise. */
  quantiles: { quantile: number; value: number }[];
  /**
   * A native histogram's sparse buckets (Prometheus keys: bucket `k` holds values in
   * `(2^((k-1)/2^schema), 2^(k/2^schema)]`, negative ones by magnitude), keys ascending.
   */
  native?: {
    schema: number;
    zeroThreshold: number;
    zeroCount: number;
    positive: [number, number][];
    negative: [number, number][];
  };
}

/** One metric's definition and series at the time of the snapshot. */
export interface MetricSnapshot {
  /** Metric name, as registered. */
  name: string;
  /** Help text. */
  help: string;
  /** Metric type. */
  type: MetricType;
  /** Unit, or "". */
  unit: string;
  /** Label names (the registry's default labels are not among them, but are in each series' labels). */
  labelNames: readonly string[];
  /** The series (an unused overflow series is left out). */
  series: SeriesSnapshot[];
}

/** Snapshots families (sorted, already collected). */
export function collectSnapshots(families: readonly Family<SeriesBase>[]): MetricSnapshot[] {
  return families.map((family) => {
    const type = family.definition.type;
    const series: SeriesSnapshot[] = [];
    const defaults = family.defaultLabels();
    for (const s of family.visibleSeries()) {
      const labels: Record<string, string> = {};
      for (const [name, value] of defaults) labels[name] = value;
      // The overflow series carries its one marker label, as in the text formats.
      if (s.overflow) labels[OVERFLOW_LABEL] = "true";
      else family.labelNames.forEach((n, i) => (labels[n] = s.labelValues[i]!));
      const snap: SeriesSnapshot = { labels, value: 0, count: 0, sum: 0, buckets: [], quantiles: [] };
      if (type === "counter") snap.value = (s as CounterSeries).get();
      else if (type === "gauge") snap.value = (s as GaugeSeries).get();
      else if (type === "histogram") {
        const h = s as HistogramSeries;
        const upper = (family as unknown as Histogram).upperBounds;
        const counts = h.buckets();
        snap.buckets = counts.map((count, i) => ({ le: i < upper.length ? upper[i]! : Infinity, count }));
        snap.count = counts[counts.length - 1]!;
        snap.sum = h.sum();
        const native = h.native();
        if (native !== undefined) {
          snap.native = {
            schema: native.schema,
            zeroThreshold: native.zeroThreshold,
            zeroCount: native.zeroCount,
            positive: [...native.positive],
            negative: [...native.negative],
          };
        }
      } else {
        const q = s as SummarySeries;
        const list = (family as unknown as Summary).quantileList;
        const values = q.quantiles();
        snap.quantiles = list.map((quantile, i) => ({ quantile, value: values[i]! }));
        snap.count = q.count();
        snap.sum = q.sum();
      }
      series.push(snap);
    }
    return { name: family.name, help: family.help, type, unit: family.unit, labelNames: family.labelNames, series };
  });
}

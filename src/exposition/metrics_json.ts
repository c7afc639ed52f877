/**
 * Metrics in prom-client's JSON shape (`register.getMetricsAsJSON()`), for code written
 * against it (cluster aggregation, custom exporters).
 *
 * @module
 */

import type { MetricType } from "../_family.ts";
import type { MetricSnapshot } from "./snapshot.ts";

/** One value of a metric, as prom-client's `getMetricsAsJSON()` gives it. */
export interface MetricValueJSON {
  /** The series' labels (default labels included), plus `le` or `quantile` where it applies. */
  labels: Record<string, string | number>;
  /** The value. */
  value: number;
  /** The sample's name when it is not the metric's: `<name>_bucket`, `_sum`, `_count`. */
  metricName?: string;
}

/** One metric, as prom-client's `getMetricsAsJSON()` gives it. */
export interface MetricJSON {
  /** Metric name. */
  name: string;
  /** Help text. */
  help: string;
  /** Metric type. */
  type: MetricType;
  /** How prom-client's cluster aggregation combines it; always `"sum"` here. */
  aggregator: "sum";
  /** The values. */
  values: MetricValueJSON[];
}

/**
 * @ignore @internal Snapshots in prom-client's JSON shape.
 *
 * @example
 * ```ts
 * import { Registry } from "../../mod.ts";
 * import { metricsAsJSON } from "./metrics_json.ts";
 * const registry = new Registry({ selfMetrics: false });
 * registry.histogram({ name: "t_seconds", help: "T", buckets: [1] }).observe(0.5);
 * const [t] = metricsAsJSON(registry.collect());
 * const names = t!.values.map((v) => `${v.metricName}:${v.labels.le ?? ""}=${v.value}`);
 * if (names.join(" ") !== "t_seconds_bucket:1=1 t_seconds_bucket:+Inf=1 t_seconds_sum:=0.5 t_seconds_count:=1") {
 *   throw new Error(names.join(" "));
 * }
 * ```
 */
export function metricsAsJSON(snapshots: readonly MetricSnapshot[]): MetricJSON[] {
  return snapshots.map((metric) => {
    const values: MetricValueJSON[] = [];
    const { name } = metric;
    for (const series of metric.series) {
      const labels = series.labels;
      switch (metric.type) {
        case "counter":
        case "gauge":
          values.push({ labels: { ...labels }, value: series.value });
          break;
        case "histogram":
          for (const bucket of series.buckets) {
            const le = bucket.le === Infinity ? "+Inf" : bucket.le;
            values.push({ labels: { ...labels, le }, value: bucket.count, metricName: `${name}_bucket` });
          }
          values.push({ labels: { ...labels }, value: series.sum, metricName: `${name}_sum` });
          values.push({ labels: { ...labels }, value: series.count, metricName: `${name}_count` });
          break;
        case "summary":
          for (const { quantile, value } of series.quantiles) {
            values.push({ labels: { quantile, ...labels }, value });
          }
          values.push({ labels: { ...labels }, value: series.sum, metricName: `${name}_sum` });
          values.push({ labels: { ...labels }, value: series.count, metricName: `${name}_count` });
          break;
      }
    }
    return { name, help: metric.help, type: metric.type, aggregator: "sum", values };
  });
}

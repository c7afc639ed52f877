/**
 * atomic-metrics: Prometheus-first metrics for every JavaScript runtime, with values in
 * shared memory updated by Atomics, so worker threads share one set of metrics.
 *
 * @example Count, observe, render
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * const registry = new Registry();
 * const requests = registry.counter({ name: "requests_total", help: "Requests", labelNames: ["code"] as const });
 * requests.inc({ code: "200" });
 * const latency = registry.histogram({ name: "latency_seconds", help: "Latency" });
 * latency.observe(0.2);
 * const text = registry.render();
 * if (!text.includes('requests_total{code="200"} 1')) throw new Error(text);
 * ```
 *
 * @module
 */

export { Registry, SELF_METRICS } from "./src/registry.ts";
export type { Format, RegistryOptions, RenderOptions } from "./src/registry.ts";
export { register } from "./src/default_registry.ts";
export type { MergedRegistry } from "./src/merged_registry.ts";
export type { MetricJSON, MetricValueJSON } from "./src/exposition/metrics_json.ts";
// The metric classes are types only: metrics are made by a registry (`registry.counter()`),
// which owns their memory; there is no metric without one.
export type { Counter, CounterSeries } from "./src/counter.ts";
export type { CounterOptions } from "./src/counter.ts";
export type { Gauge, GaugeSeries } from "./src/gauge.ts";
export type { GaugeOptions } from "./src/gauge.ts";
export { DEFAULT_BUCKETS, exponentialBuckets, linearBuckets } from "./src/histogram.ts";
export type {
  Histogram,
  HistogramOptions,
  HistogramSeries,
  HistogramValue,
  NativeDefinition,
  NativeHistogramOptions,
} from "./src/histogram.ts";
export type { NativeBuckets } from "./src/storage/native_buckets.ts";
export { DEFAULT_QUANTILES } from "./src/summary.ts";
export type { Summary, SummaryOptions, SummarySeries } from "./src/summary.ts";
export { OVERFLOW_LABEL } from "./src/_family.ts";
export type { ExemplarProvider, MetricType, StoredExemplar } from "./src/_family.ts";
export {
  escapeHelp,
  escapeLabelValue,
  isValidLabelName,
  isValidMetricName,
  MAX_LABEL_VALUE_LENGTH,
} from "./src/labels.ts";
export type { Labels, NameValidation } from "./src/labels.ts";
export type { MetricSnapshot, SeriesSnapshot } from "./src/exposition/snapshot.ts";
export type { StoreHandle, StoreLayout } from "./src/storage/store.ts";
export { metricsHandler } from "./src/http/handler.ts";
export type {
  BasicAuth,
  BearerAuth,
  Compressor,
  Compressors,
  FetchHandler,
  MetricsHandlerOptions,
  MetricsSource,
} from "./src/http/handler.ts";
export { instrumentFetch, instrumentNodeListener } from "./src/http/middleware.ts";
export type {
  InstrumentOptions,
  NodeRequestLike,
  NodeResponseLike,
  RequestMetricsRegistry,
} from "./src/http/middleware.ts";
export {
  negotiateEncoding,
  negotiateFormat,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  PROTOBUF_CONTENT_TYPE,
} from "./src/exposition/negotiate.ts";
export type { ContentEncoding, NameNegotiation } from "./src/exposition/negotiate.ts";
export { contentTypeWithNames, negotiateNames } from "./src/exposition/negotiate.ts";
export { escapeLabelName, escapeMetricName, isEscapingScheme } from "./src/exposition/escaping.ts";
export type { EscapingScheme } from "./src/exposition/escaping.ts";
export type { MetricsServer, ServeOptions } from "./src/http/serve_options.ts";
export { PushgatewayError, pushToGateway, type PushToGatewayOptions } from "./src/push/pushgateway.ts";
export type { Family, SeriesBase } from "./src/_family.ts";

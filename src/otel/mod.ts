/**
 * OpenTelemetry for atomic-metrics: tracing set-up over OTLP/HTTP, span
 * helpers, W3C trace context through Kafka headers, trace exemplars, and an
 * OTLP/HTTP push of a registry's metrics.
 *
 * `@opentelemetry/api` and `@opentelemetry/core` are needed; the SDK
 * (`@opentelemetry/sdk-trace-base`, `@opentelemetry/resources`),
 * `@opentelemetry/exporter-trace-otlp-http` and
 * `@opentelemetry/context-async-hooks` are loaded by `setupTracing()` only.
 *
 * @example Run work in a span
 * ```ts
 * import { withSpan } from "@atomic/metrics/otel";
 *
 * if (withSpan("compute", () => 6 * 7) !== 42) throw new Error("wrong result");
 * ```
 *
 * @module
 */

export {
  extractKafkaHeaders,
  injectKafkaHeaders,
  type KafkaHeaderList,
  type KafkaHeaderObject,
  type KafkaHeaders,
  kafkaHeadersGetter,
  kafkaHeadersSetter,
  type KafkaHeaderValue,
  MAX_KAFKA_HEADER_VALUE_BYTES,
  MAX_KAFKA_HEADER_VALUES,
} from "./kafka_headers.ts";
export { setupTracing, type TracingHandle } from "./setup_tracing.ts";
export {
  type ResolvedTracingOptions,
  resolveTracingOptions,
  type SamplerName,
  type TracingOptions,
} from "./tracing_options.ts";
export { type SpanHandle, type SpanOptions, startSpan, TRACER_NAME } from "./start_span.ts";
export { withSpan } from "./with_span.ts";
export { traceExemplars } from "./trace_exemplars.ts";
export {
  type CollectableRegistry,
  type MetricsPush,
  type MetricsPushOptions,
  OtlpExportError,
  pushMetrics,
  type PushMetricsOptions,
  startMetricsPush,
} from "./otlp_metrics.ts";
export {
  encodeMetricsRequest,
  type MetricsEncodingOptions,
  type OtlpAnyValue,
  type OtlpDataPoint,
  type OtlpDouble,
  type OtlpKeyValue,
  type OtlpMetric,
  type OtlpMetricsRequest,
  type ResourceAttributes,
} from "./otlp_metrics_encoding.ts";
export type { Environment } from "./_runtime.ts";

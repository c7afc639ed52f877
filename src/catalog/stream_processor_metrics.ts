/**
 * The stream processor's 10 application metrics, registered in one call.
 *
 * @module
 */

import type { Counter } from "../counter.ts";
import type { Gauge } from "../gauge.ts";
import type { Histogram } from "../histogram.ts";
import type { Registry } from "../registry.ts";
import { millisecondBuckets } from "./catalog.ts";
import { registerCounter, registerGauge, registerHistogram } from "./_register.ts";

/** Options of {@link streamProcessorMetrics}. */
export interface StreamProcessorMetricsOptions {
  /** Bucket upper bounds, in milliseconds, of both latency histograms. @default millisecondBuckets */
  buckets?: readonly number[];
}

/** The registered stream-processor metrics, typed by their label names. */
export interface StreamProcessorMetrics {
  /** `stream_processor_events_received_total{event_type}` */
  readonly eventsReceived: Counter<"event_type">;
  /** `stream_processor_events_processed_total{event_type}` */
  readonly eventsProcessed: Counter<"event_type">;
  /** `stream_processor_processing_duration_ms{event_type}`: observe milliseconds. */
  readonly processingDuration: Histogram<"event_type">;
  /** `stream_processor_errors_total{error_type}` */
  readonly errors: Counter<"error_type">;
  /** `stream_processor_active_windows{window_type}` */
  readonly activeWindows: Gauge<"window_type">;
  /** `stream_processor_window_triggers_total{window_type}` */
  readonly windowTriggers: Counter<"window_type">;
  /** `stream_processor_aggregations_computed_total{aggregation_type}` */
  readonly aggregationsComputed: Counter<"aggregation_type">;
  /** `stream_processor_deduplication_hits_total` */
  readonly deduplicationHits: Counter<never>;
  /** `stream_processor_events_dropped_total{reason}` */
  readonly eventsDropped: Counter<"reason">;
  /** `stream_processor_end_to_end_latency_ms{event_type}`: observe milliseconds (the latency SLI). */
  readonly endToEndLatency: Histogram<"event_type">;
}

/**
 * Registers the catalog's 10 stream-processor metrics on `registry`.
 *
 * @param registry The registry to register on.
 * @param options Histogram buckets.
 * @returns The metrics, typed by their label names.
 * @throws {Error} When the registry holds one of these names with another definition
 *   (e.g. other buckets); with the same definition the registered metric is returned.
 *
 * @example Count and time an event
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * import { streamProcessorMetrics } from "@atomic/metrics/catalog";
 * const metrics = streamProcessorMetrics(new Registry());
 * metrics.eventsReceived.inc({ event_type: "order" });
 * metrics.processingDuration.observe({ event_type: "order" }, 12.5);
 * if (metrics.eventsReceived.get({ event_type: "order" }) !== 1) throw new Error("not counted");
 * ```
 */
export function streamProcessorMetrics(
  registry: Registry,
  options: StreamProcessorMetricsOptions = {},
): StreamProcessorMetrics {
  const buckets = options.buckets ?? millisecondBuckets;
  return {
    eventsReceived: registerCounter(registry, "stream_processor_events_received_total"),
    eventsProcessed: registerCounter(registry, "stream_processor_events_processed_total"),
    processingDuration: registerHistogram(registry, "stream_processor_processing_duration_ms", buckets),
    errors: registerCounter(registry, "stream_processor_errors_total"),
    activeWindows: registerGauge(registry, "stream_processor_active_windows"),
    windowTriggers: registerCounter(registry, "stream_processor_window_triggers_total"),
    aggregationsComputed: registerCounter(registry, "stream_processor_aggregations_computed_total"),
    deduplicationHits: registerCounter(registry, "stream_processor_deduplication_hits_total"),
    eventsDropped: registerCounter(registry, "stream_processor_events_dropped_total"),
    endToEndLatency: registerHistogram(registry, "stream_processor_end_to_end_latency_ms", buckets),
  };
}

/**
 * The stream processor's metrics catalog (`atomic-metrics/catalog`): 29
 * metrics as data, typed kits that register them, and portable
 * process metrics that work on every runtime (Node, Deno, Bun).
 *
 * @example Instrument a stream processor
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * import { stateBackendMetrics, streamProcessorMetrics, systemMetrics } from "@atomic/metrics/catalog";
 * const registry = new Registry();
 * const processor = streamProcessorMetrics(registry);
 * const state = stateBackendMetrics(registry);
 * using system = systemMetrics(registry);
 * processor.eventsReceived.inc({ event_type: "click" });
 * state.cacheHits.inc({ cache_tier: "memory" });
 * if (!registry.render().includes('stream_processor_events_received_total{event_type="click"} 1')) {
 *   throw new Error("not rendered");
 * }
 * ```
 *
 * @module
 */

export {
  catalog,
  type CatalogEntry,
  catalogEntry,
  type CatalogGroup,
  type CatalogMetricType,
  kafkaCatalog,
  millisecondBuckets,
  standardProcessCatalog,
  stateBackendCatalog,
  streamProcessorCatalog,
  systemCatalog,
} from "./catalog.ts";
export { type CpuUsageMicros, detectRuntimeProbe, type RuntimeProbe } from "./runtime_probe.ts";
export {
  type StreamProcessorMetrics,
  streamProcessorMetrics,
  type StreamProcessorMetricsOptions,
} from "./stream_processor_metrics.ts";
export {
  type StateBackendMetrics,
  stateBackendMetrics,
  type StateBackendMetricsOptions,
} from "./state_backend_metrics.ts";
export { type SystemMetrics, systemMetrics, type SystemMetricsOptions } from "./system_metrics.ts";

/**
 * The stream processor's metrics catalog: the single source of truth for the
 * name, type, label names, help and unit of every metric the kits register,
 * the dashboards query and the README table lists.
 *
 * @module
 */

/** The kind of a catalog metric, as the registry names it. */
export type CatalogMetricType = "counter" | "gauge" | "histogram";

/** The part of the system a catalog metric describes. */
export type CatalogGroup = "stream_processor" | "kafka" | "state" | "system";

/** One metric of the catalog. */
export interface CatalogEntry {
  /** Full metric name as exposed to Prometheus (counters end in `_total`). */
  readonly name: string;
  /** Counter, gauge or histogram. */
  readonly type: CatalogMetricType;
  /** Label names, in the order the registry declares them. */
  readonly labelNames: readonly string[];
  /** The `# HELP` text. */
  readonly help: string;
  /** OpenMetrics unit; set only when the metric name ends in it. */
  readonly unit?: string;
  /** The group the metric belongs to: the stream processor, Kafka, the state backend or the system. */
  readonly group: CatalogGroup;
}

/**
 * Histogram buckets, in milliseconds, used by every latency histogram of the
 * catalog unless a kit is given other buckets. They span 100 µs to 10 s and
 * include 100 ms, the latency SLO's threshold, so `le="100"` answers the SLO
 * exactly.
 *
 * @example Buckets include the SLO threshold
 * ```ts
 * import { millisecondBuckets } from "@atomic/metrics/catalog";
 * if (!millisecondBuckets.includes(100)) throw new Error("no 100 ms bucket");
 * ```
 */
export const millisecondBuckets: readonly number[] = Object.freeze([
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  25,
  50,
  100,
  250,
  500,
  1000,
  2500,
  5000,
  10000,
]);

/**
 * The catalog's 10 stream-processor (application) metrics.
 *
 * @example Every stream-processor metric is prefixed
 * ```ts
 * import { streamProcessorCatalog } from "@atomic/metrics/catalog";
 * if (!streamProcessorCatalog.every((m) => m.name.startsWith("stream_processor_"))) {
 *   throw new Error("unprefixed metric");
 * }
 * ```
 */
export const streamProcessorCatalog: readonly CatalogEntry[] = Object.freeze(
  [
    {
      name: "stream_processor_events_received_total",
      type: "counter",
      labelNames: ["event_type"],
      help: "Events received by the stream processor (ingestion rate).",
      group: "stream_processor",
    },
    {
      name: "stream_processor_events_processed_total",
      type: "counter",
      labelNames: ["event_type"],
      help: "Events processed successfully (processing rate).",
      group: "stream_processor",
    },
    {
      name: "stream_processor_processing_duration_ms",
      type: "histogram",
      labelNames: ["event_type"],
      help: "Time spent processing one event, in milliseconds.",
      unit: "ms",
      group: "stream_processor",
    },
    {
      name: "stream_processor_errors_total",
      type: "counter",
      labelNames: ["error_type"],
      help: "Errors raised while processing events.",
      group: "stream_processor",
    },
    {
      name: "stream_processor_active_windows",
      type: "gauge",
      labelNames: ["window_type"],
      help: "Windows currently open.",
      group: "stream_processor",
    },
    {
      name: "stream_processor_window_triggers_total",
      type: "counter",
      labelNames: ["window_type"],
      help: "Window triggers fired.",
      group: "stream_processor",
    },
    {
      name: "stream_processor_aggregations_computed_total",
      type: "counter",
      labelNames: ["aggregation_type"],
      help: "Aggregations computed.",
      group: "stream_processor",
    },
    {
      name: "stream_processor_deduplication_hits_total",
      type: "counter",
      labelNames: [],
      help: "Duplicate events detected and skipped.",
      group: "stream_processor",
    },
    {
      name: "stream_processor_events_dropped_total",
      type: "counter",
      labelNames: ["reason"],
      help: "Events dropped without processing (data loss).",
      group: "stream_processor",
    },
    {
      name: "stream_processor_end_to_end_latency_ms",
      type: "histogram",
      labelNames: ["event_type"],
      help: "Time from event creation to the end of its processing, in milliseconds (SLI).",
      unit: "ms",
      group: "stream_processor",
    },
  ] satisfies CatalogEntry[],
);

/**
 * The catalog's 8 Kafka source/sink metrics. The Kafka instrumentation
 * (`atomic-metrics/kafka`) registers them; they are listed here so the
 * catalog, the README table and the dashboards share one definition.
 *
 * @example Consumer lag is labelled by topic and partition
 * ```ts
 * import { kafkaCatalog } from "@atomic/metrics/catalog";
 * const lag = kafkaCatalog.find((m) => m.name === "kafka_consumer_lag");
 * if (lag?.labelNames.join() !== "topic,partition") throw new Error("wrong labels");
 * ```
 */
export const kafkaCatalog: readonly CatalogEntry[] = Object.freeze(
  [
    {
      name: "kafka_messages_sent_total",
      type: "counter",
      labelNames: ["topic"],
      help: "Messages produced to Kafka (producer throughput).",
      group: "kafka",
    },
    {
      name: "kafka_messages_received_total",
      type: "counter",
      labelNames: ["topic", "partition"],
      help: "Messages consumed from Kafka (consumer throughput).",
      group: "kafka",
    },
    {
      name: "kafka_bytes_sent_total",
      type: "counter",
      labelNames: ["topic"],
      help: "Bytes produced to Kafka (message values).",
      group: "kafka",
    },
    {
      name: "kafka_bytes_received_total",
      type: "counter",
      labelNames: ["topic"],
      help: "Bytes consumed from Kafka (message values).",
      group: "kafka",
    },
    {
      name: "kafka_produce_latency_ms",
      type: "histogram",
      labelNames: ["topic"],
      help: "Time from produce call to broker acknowledgement, in milliseconds.",
      unit: "ms",
      group: "kafka",
    },
    {
      name: "kafka_consume_latency_ms",
      type: "histogram",
      labelNames: ["topic"],
      help: "Time the handler takes for one consumed message (per batch for batch handlers), in milliseconds.",
      unit: "ms",
      group: "kafka",
    },
    {
      name: "kafka_consumer_lag",
      type: "gauge",
      labelNames: ["topic", "partition"],
      help: "Messages between the group's position (next offset to consume) and the partition's high watermark.",
      group: "kafka",
    },
    {
      name: "kafka_errors_total",
      type: "counter",
      labelNames: ["operation", "error_type"],
      help: "Kafka client errors by operation.",
      group: "kafka",
    },
  ] satisfies CatalogEntry[],
);

/**
 * The catalog's 7 state-backend metrics.
 *
 * @example Cache counters are labelled by tier
 * ```ts
 * import { stateBackendCatalog } from "@atomic/metrics/catalog";
 * const hits = stateBackendCatalog.find((m) => m.name === "state_cache_hits_total");
 * if (hits?.labelNames.join() !== "cache_tier") throw new Error("wrong labels");
 * ```
 */
export const stateBackendCatalog: readonly CatalogEntry[] = Object.freeze(
  [
    {
      name: "state_operations_total",
      type: "counter",
      labelNames: ["backend", "operation"],
      help: "State backend operations.",
      group: "state",
    },
    {
      name: "state_operation_duration_ms",
      type: "histogram",
      labelNames: ["backend", "operation"],
      help: "State backend operation duration, in milliseconds.",
      unit: "ms",
      group: "state",
    },
    {
      name: "state_cache_hits_total",
      type: "counter",
      labelNames: ["cache_tier"],
      help: "State cache hits by tier.",
      group: "state",
    },
    {
      name: "state_cache_misses_total",
      type: "counter",
      labelNames: ["cache_tier"],
      help: "State cache misses by tier.",
      group: "state",
    },
    {
      name: "state_size_bytes",
      type: "gauge",
      labelNames: ["backend"],
      help: "Size of the stored state, in bytes.",
      unit: "bytes",
      group: "state",
    },
    {
      name: "state_active_locks",
      type: "gauge",
      labelNames: ["lock_type"],
      help: "State locks currently held.",
      group: "state",
    },
    {
      name: "state_lock_wait_duration_ms",
      type: "histogram",
      labelNames: ["lock_type"],
      help: "Time spent waiting to acquire a state lock, in milliseconds.",
      unit: "ms",
      group: "state",
    },
  ] satisfies CatalogEntry[],
);

/**
 * The catalog's 4 system metrics.
 *
 * @example The CPU ratio is a gauge
 * ```ts
 * import { systemCatalog } from "@atomic/metrics/catalog";
 * const cpu = systemCatalog.find((m) => m.name === "process_cpu_usage_ratio");
 * if (cpu?.type !== "gauge") throw new Error("not a gauge");
 * ```
 */
export const systemCatalog: readonly CatalogEntry[] = Object.freeze(
  [
    {
      name: "process_cpu_usage_ratio",
      type: "gauge",
      labelNames: [],
      help: "CPU time used per wall-clock second over the last sampling interval (1 = one full core).",
      unit: "ratio",
      group: "system",
    },
    {
      name: "process_memory_bytes",
      type: "gauge",
      labelNames: [],
      help: "Memory used by the process (resident set size), in bytes.",
      unit: "bytes",
      group: "system",
    },
    {
      name: "process_active_tasks",
      type: "gauge",
      labelNames: [],
      help: "Tasks started through the system metrics' task tracker and not yet settled.",
      group: "system",
    },
    {
      name: "process_tasks_spawned_total",
      type: "counter",
      labelNames: [],
      help: "Tasks started through the system metrics' task tracker.",
      group: "system",
    },
  ] satisfies CatalogEntry[],
);

/**
 * Standard process metrics beyond the catalog's 29, registered by
 * `systemMetrics()` under the names community dashboards expect
 * (prom-client and client_golang use the same). Event-loop lag keeps
 * prom-client's name `nodejs_eventloop_lag_seconds` on every runtime so the
 * widely used Node.js dashboards work unchanged; on Deno and Bun it is
 * measured the same way (timer drift).
 *
 * @example Includes the start time
 * ```ts
 * import { standardProcessCatalog } from "@atomic/metrics/catalog";
 * if (!standardProcessCatalog.some((m) => m.name === "process_start_time_seconds")) {
 *   throw new Error("missing start time");
 * }
 * ```
 */
export const standardProcessCatalog: readonly CatalogEntry[] = Object.freeze(
  [
    {
      name: "process_cpu_seconds_total",
      type: "counter",
      labelNames: [],
      help: "Total user and system CPU time spent in seconds.",
      unit: "seconds",
      group: "system",
    },
    {
      name: "process_resident_memory_bytes",
      type: "gauge",
      labelNames: [],
      help: "Resident memory size in bytes.",
      unit: "bytes",
      group: "system",
    },
    {
      name: "process_start_time_seconds",
      type: "gauge",
      labelNames: [],
      help: "Start time of the process since unix epoch in seconds.",
      unit: "seconds",
      group: "system",
    },
    {
      name: "nodejs_eventloop_lag_seconds",
      type: "gauge",
      labelNames: [],
      help: "Lag of the event loop in seconds, measured as timer drift (on every runtime).",
      unit: "seconds",
      group: "system",
    },
  ] satisfies CatalogEntry[],
);

/**
 * The complete catalog: 29 metrics, grouped in this order: stream
 * processor, Kafka, state backend, system.
 *
 * @example 29 metrics with unique names
 * ```ts
 * import { catalog } from "@atomic/metrics/catalog";
 * if (new Set(catalog.map((m) => m.name)).size !== 29) throw new Error("not 29 metrics");
 * ```
 */
export const catalog: readonly CatalogEntry[] = Object.freeze([
  ...streamProcessorCatalog,
  ...kafkaCatalog,
  ...stateBackendCatalog,
  ...systemCatalog,
]);

/**
 * Finds a metric of the catalog (or of {@link standardProcessCatalog}) by name.
 *
 * @param name Full metric name, e.g. `"kafka_consumer_lag"`.
 * @returns The entry.
 * @throws {Error} When no catalog metric has that name.
 *
 * @example Look up a metric
 * ```ts
 * import { catalogEntry } from "@atomic/metrics/catalog";
 * if (catalogEntry("state_size_bytes").type !== "gauge") throw new Error("not a gauge");
 * ```
 */
export function catalogEntry(name: string): CatalogEntry {
  const entry = catalog.find((m) => m.name === name) ??
    standardProcessCatalog.find((m) => m.name === name);
  if (entry === undefined) {
    throw new Error(`Metric "${name}" is not in the catalog`);
  }
  return entry;
}

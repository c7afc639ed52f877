/**
 * The catalog's 8 Kafka metrics (`kafkaCatalog` in `atomic-metrics/catalog`), registered in one call.
 *
 * @module
 */

import type { Counter } from "../counter.ts";
import type { Gauge } from "../gauge.ts";
import type { Histogram } from "../histogram.ts";
import type { Registry } from "../registry.ts";
import { millisecondBuckets } from "../catalog/catalog.ts";
import { registerCounter, registerGauge, registerHistogram } from "../catalog/_register.ts";

/** Options of {@link kafkaMetrics}. */
export interface KafkaMetricsOptions {
  /** Bucket upper bounds, in milliseconds, of both latency histograms. @default millisecondBuckets */
  readonly buckets?: readonly number[];
}

/** The registered Kafka metrics, typed by their label names. */
export interface KafkaMetrics {
  /** `kafka_messages_sent_total{topic}`: messages the broker acknowledged. */
  readonly messagesSent: Counter<"topic">;
  /** `kafka_messages_received_total{topic, partition}`: messages handed to the application. */
  readonly messagesReceived: Counter<"topic" | "partition">;
  /** `kafka_bytes_sent_total{topic}`: bytes of acknowledged message values. */
  readonly bytesSent: Counter<"topic">;
  /** `kafka_bytes_received_total{topic}`: bytes of consumed message values. */
  readonly bytesReceived: Counter<"topic">;
  /** `kafka_produce_latency_ms{topic}`: send call to delivery acknowledgement. */
  readonly produceLatency: Histogram<"topic">;
  /** `kafka_consume_latency_ms{topic}`: time the application's handler took. */
  readonly consumeLatency: Histogram<"topic">;
  /** `kafka_consumer_lag{topic, partition}`: high watermark minus the group's position. */
  readonly consumerLag: Gauge<"topic" | "partition">;
  /** `kafka_errors_total{operation, error_type}` */
  readonly errors: Counter<"operation" | "error_type">;
}

/**
 * Registers the catalog's 8 Kafka metrics on `registry` (or returns them when
 * they are already registered with the same definition). The instrument
 * functions of `atomic-metrics/kafka` call it; call it yourself to read the
 * metrics or to record from code the instrumentation does not see.
 *
 * @param registry The registry to register on.
 * @param options Histogram buckets.
 * @returns The metrics, typed by their label names.
 * @throws {Error} When the registry holds one of these names with another definition.
 *
 * @example Register and read
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * import { kafkaMetrics } from "@atomic/metrics/kafka";
 * const kafka = kafkaMetrics(new Registry());
 * kafka.messagesSent.inc({ topic: "orders" }, 3);
 * if (kafka.messagesSent.get({ topic: "orders" }) !== 3) throw new Error("not counted");
 * ```
 */
export function kafkaMetrics(registry: Registry, options: KafkaMetricsOptions = {}): KafkaMetrics {
  const buckets = options.buckets ?? millisecondBuckets;
  return {
    messagesSent: registerCounter(registry, "kafka_messages_sent_total"),
    messagesReceived: registerCounter(registry, "kafka_messages_received_total"),
    bytesSent: registerCounter(registry, "kafka_bytes_sent_total"),
    bytesReceived: registerCounter(registry, "kafka_bytes_received_total"),
    produceLatency: registerHistogram(registry, "kafka_produce_latency_ms", buckets),
    consumeLatency: registerHistogram(registry, "kafka_consume_latency_ms", buckets),
    consumerLag: registerGauge(registry, "kafka_consumer_lag"),
    errors: registerCounter(registry, "kafka_errors_total"),
  };
}

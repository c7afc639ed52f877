/**
 * Options every Kafka instrument function takes, and the handle it returns.
 *
 * @module
 */

import type { Tracer } from "@opentelemetry/api";
import type { Registry } from "../registry.ts";
import type { KafkaMetricsOptions } from "./kafka_metrics.ts";

/** Options of the `instrument*` functions of `atomic-metrics/kafka`. */
export interface KafkaInstrumentationOptions {
  /** The registry that receives the Kafka metrics (registered on first use). */
  readonly registry: Registry;
  /** Buckets of the latency histograms. @default millisecondBuckets */
  readonly buckets?: KafkaMetricsOptions["buckets"];
  /** The tracer for PRODUCER and CONSUMER spans. @default trace.getTracer("atomic-metrics/kafka") */
  readonly tracer?: Tracer;
  /** Error names to librdkafka codes (pass the client's `CODES.ERRORS`) for the `error_type` label. */
  readonly errorCodes?: Readonly<Record<string, number>>;
}

/** Options of the consumer `instrument*` functions. */
export interface KafkaConsumerInstrumentationOptions extends KafkaInstrumentationOptions {
  /** The consumer group, for the `messaging.consumer.group.name` span attribute. */
  readonly groupId?: string;
  /**
   * Every this many milliseconds while the consumer is connected, ask the
   * broker for the high watermarks of the assigned partitions and update
   * `kafka_consumer_lag`; 0 turns the timer off (call `refreshLag()` yourself).
   * @default 0
   */
  readonly lagRefreshIntervalMs?: number;
  /** Timeout of one watermark or committed-offset query, in milliseconds. @default 5000 */
  readonly queryTimeoutMs?: number;
}

/** What an `instrument*` function returns: undoes the instrumentation. */
export interface KafkaInstrumentation {
  /** Puts the client's own methods back; metrics already recorded stay. */
  restore(): void;
}

/** What a consumer `instrument*` function returns. */
export interface KafkaConsumerInstrumentation extends KafkaInstrumentation {
  /**
   * Asks the broker for the high watermark of every assigned partition and
   * sets `kafka_consumer_lag{topic, partition}` to it minus the group's
   * position (see the module documentation for what the position is).
   * Failures are counted under `operation="lag"` and re-thrown.
   */
  refreshLag(): Promise<void>;
}

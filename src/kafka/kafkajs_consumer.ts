/**
 * Instruments a consumer of the KafkaJS-compatible API of
 * `@confluentinc/kafka-javascript` (`new KafkaJS.Kafka(…).consumer(…)`):
 * the `eachMessage` and `eachBatch` handlers given to `run` are traced and
 * measured, and consumer lag is tracked.
 *
 * @module
 */

import type { KafkaHeaderObject } from "../otel/kafka_headers.ts";
import type { KafkaConsumerInstrumentation, KafkaConsumerInstrumentationOptions } from "./instrumentation_options.ts";
import {
  backgroundInterval,
  type Instrumenter,
  instrumenter,
  patchMethods,
  startBatchSpan,
  startConsumerSpan,
} from "./_instrument.ts";
import { LagTracker } from "./_lag.ts";
import { payloadBytes } from "./_payload.ts";

/** A consumed message as the handlers receive it (only the fields read here). */
export interface KafkaJsConsumedMessage {
  /** The payload; its bytes count into `kafka_bytes_received_total`. */
  value: unknown;
  /** Offset of the message in its partition, as a decimal string. */
  offset: string;
  /** Headers, carrying the trace context. */
  headers?: KafkaHeaderObject | undefined;
}

/** The `eachMessage` payload (only the fields read here). */
export interface KafkaJsEachMessagePayload {
  /** Topic the message came from. */
  topic: string;
  /** Partition the message came from. */
  partition: number;
  /** The message. */
  message: KafkaJsConsumedMessage;
}

/** The `eachBatch` payload (only the fields read here). */
export interface KafkaJsEachBatchPayload {
  /** The batch: one topic and partition, with the partition's high watermark. */
  batch: { topic: string; partition: number; highWatermark: string; messages: KafkaJsConsumedMessage[] };
  /** Marks a message processed (tracked for the lag when auto-resolve is off). */
  resolveOffset?(offset: string): void;
}

/** The `run` configuration (only the fields read here). */
export interface KafkaJsRunConfig {
  /** Per-message handler, run inside a CONSUMER span. */
  eachMessage?: (payload: KafkaJsEachMessagePayload) => Promise<void>;
  /** Per-batch handler, run inside a CONSUMER span linked to the producers. */
  eachBatch?: (payload: KafkaJsEachBatchPayload) => Promise<void>;
  /** Whether a batch counts as processed when `eachBatch` returns. @default true */
  eachBatchAutoResolve?: boolean;
}

/** The part of the admin client `refreshLag()` uses (from `consumer.dependentAdmin()`). */
export interface KafkaJsAdminLike {
  /** Connects the admin client. */
  connect(): Promise<void>;
  /** Disconnects the admin client. */
  disconnect(): Promise<void>;
  /** Each partition's low and high watermark. */
  fetchTopicOffsets(
    topic: string,
    options?: { timeout?: number },
  ): Promise<{ partition: number; high: string; low: string }[]>;
}

/** The part of a KafkaJS-style consumer the instrumentation uses. */
export interface KafkaJsConsumerLike {
  /** Starts consuming; the handlers given are instrumented. */
  run(config?: KafkaJsRunConfig): Promise<void>;
  /** Disconnects; stops the lag refresh timer and the admin client. */
  disconnect(): Promise<void>;
  /** The partitions assigned to this consumer. */
  assignment(): { topic: string; partition: number }[];
  /** The group's committed offsets. */
  committed?(
    topicPartitions?: { topic: string; partition: number }[],
    timeout?: number,
  ): Promise<{ topic: string; partition: number; offset: string | null }[]>;
  /** An admin client sharing the consumer's connection. */
  dependentAdmin?(): KafkaJsAdminLike;
}

function wrapEachMessage(
  tools: Instrumenter,
  lag: LagTracker,
  groupId: string | undefined,
  handler: NonNullable<KafkaJsRunConfig["eachMessage"]>,
): NonNullable<KafkaJsRunConfig["eachMessage"]> {
  const { metrics } = tools;
  return async function eachMessage(payload: KafkaJsEachMessagePayload): Promise<void> {
    const { topic, partition, message } = payload;
    metrics.messagesReceived.inc({ topic, partition: String(partition) });
    metrics.bytesReceived.inc({ topic }, payloadBytes(message.value));
    const { span, context } = startConsumerSpan(
      tools.tracer,
      topic,
      partition,
      message.offset,
      message.headers,
      groupId,
    );
    await tools.consume(topic, span, context, () => handler(payload));
    lag.handled(topic, partition, Number(message.offset));
  };
}

function wrapEachBatch(
  tools: Instrumenter,
  lag: LagTracker,
  groupId: string | undefined,
  autoResolve: boolean,
  handler: NonNullable<KafkaJsRunConfig["eachBatch"]>,
): NonNullable<KafkaJsRunConfig["eachBatch"]> {
  const { metrics } = tools;
  return async function eachBatch(payload: KafkaJsEachBatchPayload): Promise<void> {
    const { topic, partition, messages, highWatermark } = payload.batch;
    let bytes = 0;
    for (const message of messages) bytes += payloadBytes(message.value);
    metrics.messagesReceived.inc({ topic, partition: String(partition) }, messages.length);
    metrics.bytesReceived.inc({ topic }, bytes);
    let resolved = -1;
    let traced = payload;
    if (!autoResolve && typeof payload.resolveOffset === "function") {
      const resolveOffset = payload.resolveOffset;
      traced = Object.create(payload) as KafkaJsEachBatchPayload;
      traced.resolveOffset = (offset: string): void => {
        resolveOffset.call(payload, offset);
        resolved = Math.max(resolved, Number(offset));
      };
    }
    const headers = messages.map((message) => message.headers);
    const { span, context } = startBatchSpan(tools.tracer, topic, partition, headers, groupId);
    await tools.consume(topic, span, context, () => handler(traced));
    const last = autoResolve ? Number(messages[messages.length - 1]?.offset ?? -1) : resolved;
    if (last >= 0) lag.handled(topic, partition, last, Number(highWatermark));
  };
}

/**
 * Instruments a KafkaJS-style consumer in place; call it before `run`.
 *
 * For every message handed to `eachMessage` it counts
 * `kafka_messages_received_total{topic, partition}` and
 * `kafka_bytes_received_total{topic}` (the values' bytes), and runs the
 * handler inside a CONSUMER span `process <topic>` whose parent is the
 * producer's span read from the message headers. `eachBatch` handlers run in
 * one CONSUMER span per batch with a link to each producer span.
 * `kafka_consume_latency_ms{topic}` is the time the handler took to settle:
 * per message for `eachMessage`, per batch for `eachBatch`.
 * A handler's error is counted as `kafka_errors_total{operation="consume"}`
 * and re-thrown unchanged, so the client's retry behaviour is kept.
 *
 * `kafka_consumer_lag{topic, partition}` is the partition's high watermark
 * minus the group's position, the offset after the last message a handler
 * finished (the offset the group commits next); with `eachBatch` it is updated
 * from each batch's `highWatermark`, otherwise by `refreshLag()` (or the
 * `lagRefreshIntervalMs` timer), which asks the broker through
 * `consumer.dependentAdmin()`.
 *
 * @param consumer The consumer, before `run` is called.
 * @param options The registry, and optionally a tracer, the group id and a lag refresh interval.
 * @returns A handle with `refreshLag()` and `restore()`.
 * @throws {TypeError} When `consumer` lacks `run`/`disconnect`/`assignment`, or is already instrumented.
 *
 * @example Handlers are measured
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * import { instrumentKafkaJsConsumer } from "@atomic/metrics/kafka";
 * const consumer = {
 *   async run(config?: { eachMessage?: (p: any) => Promise<void> }) {
 *     await config?.eachMessage?.({ topic: "orders", partition: 0, message: { value: "abc", offset: "0" } });
 *   },
 *   async disconnect() {},
 *   assignment() { return []; },
 * };
 * const registry = new Registry();
 * instrumentKafkaJsConsumer(consumer, { registry });
 * await consumer.run({ eachMessage: async () => {} });
 * if (!registry.render().includes('kafka_messages_received_total{topic="orders",partition="0"} 1')) throw new Error();
 * ```
 */
export function instrumentKafkaJsConsumer(
  consumer: KafkaJsConsumerLike,
  options: KafkaConsumerInstrumentationOptions,
): KafkaConsumerInstrumentation {
  const tools = instrumenter(options);
  const lag = new LagTracker(tools.metrics.consumerLag);
  const groupId = options.groupId;
  const timeout = options.queryTimeoutMs ?? 5_000;
  let admin: Promise<KafkaJsAdminLike> | undefined;
  let stopTimer: (() => void) | undefined;

  const closeAdmin = async (): Promise<void> => {
    stopTimer?.();
    stopTimer = undefined;
    const pending = admin;
    admin = undefined;
    if (pending !== undefined) {
      try {
        await (await pending).disconnect();
      } catch {
        // The admin shares the consumer's connection; it is going away anyway.
      }
    }
  };

  const refreshLag = async (): Promise<void> => {
    try {
      if (typeof consumer.dependentAdmin !== "function") {
        throw new TypeError(
          "Kafka consumer has no dependentAdmin(); refreshLag() needs @confluentinc/kafka-javascript's KafkaJS API",
        );
      }
      if (admin === undefined) {
        const created = consumer.dependentAdmin();
        admin = created.connect().then(() => created);
        admin.catch(() => {
          admin = undefined;
        });
      }
      const client = await admin;
      const assigned = consumer.assignment();
      const topics = [...new Set(assigned.map((tp) => tp.topic))];
      const committed = typeof consumer.committed === "function" && assigned.length > 0
        ? await consumer.committed(assigned, timeout)
        : [];
      for (const topic of topics) {
        const offsets = await client.fetchTopicOffsets(topic, { timeout });
        for (const { partition, high, low } of offsets) {
          if (!assigned.some((tp) => tp.topic === topic && tp.partition === partition)) continue;
          let position = lag.position(topic, partition);
          if (position < 0) {
            const stored = committed.find((c) => c.topic === topic && c.partition === partition)?.offset;
            const storedNumber = stored === null || stored === undefined ? -1 : Number(stored);
            // No position yet: the group starts at its committed offset, else at the log start.
            position = storedNumber >= 0 ? storedNumber : Number(low);
          }
          lag.observed(topic, partition, Number(high), position);
        }
      }
    } catch (error) {
      tools.fail("lag", error);
      throw error;
    }
  };

  const restorePatches = patchMethods(consumer, "consumer", {
    run: (original) =>
      function run(this: unknown, config?: KafkaJsRunConfig): Promise<void> {
        let traced = config;
        if (typeof config === "object" && config !== null) {
          traced = { ...config };
          if (typeof config.eachMessage === "function") {
            traced.eachMessage = wrapEachMessage(tools, lag, groupId, config.eachMessage);
          }
          if (typeof config.eachBatch === "function") {
            traced.eachBatch = wrapEachBatch(
              tools,
              lag,
              groupId,
              config.eachBatchAutoResolve !== false,
              config.eachBatch,
            );
          }
        }
        const interval = options.lagRefreshIntervalMs ?? 0;
        if (interval > 0 && stopTimer === undefined) {
          stopTimer = backgroundInterval(() => {
            refreshLag().catch(() => {
              // Counted under operation="lag"; a timer has nobody to throw to.
            });
          }, interval);
        }
        return (original as KafkaJsConsumerLike["run"]).call(this, traced);
      } as (...args: never[]) => unknown,
    disconnect: (original) =>
      async function disconnect(this: unknown): Promise<void> {
        await closeAdmin();
        return (original as KafkaJsConsumerLike["disconnect"]).call(this);
      } as (...args: never[]) => unknown,
  });

  return {
    refreshLag,
    restore(): void {
      void closeAdmin();
      restorePatches();
    },
  };
}

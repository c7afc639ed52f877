/**
 * Instruments a `KafkaConsumer` of the rdkafka-style API of
 * `@confluentinc/kafka-javascript` (or node-rdkafka): consumed messages are
 * counted and traced, and consumer lag is tracked.
 *
 * @module
 */

import { context as contextApi } from "@opentelemetry/api";
import type { KafkaHeaderList } from "../otel/kafka_headers.ts";
import type { KafkaConsumerInstrumentation, KafkaConsumerInstrumentationOptions } from "./instrumentation_options.ts";
import { backgroundInterval, instrumenter, patchMethods, startBatchSpan, startConsumerSpan } from "./_instrument.ts";
import { LagTracker } from "./_lag.ts";
import { payloadBytes } from "./_payload.ts";

/** A consumed message (only the fields read here). */
export interface RdkafkaMessage {
  /** Topic the message came from. */
  topic: string;
  /** Partition the message came from. */
  partition: number;
  /** Offset of the message in its partition. */
  offset: number;
  /** The payload; its bytes count into `kafka_bytes_received_total`. */
  value: unknown;
  /** Headers as a list of one-key objects, carrying the trace context. */
  headers?: KafkaHeaderList | undefined;
}

/** A node-style callback, as the rdkafka-style API takes them. */
export type RdkafkaCallback<T> = (error: unknown, value: T) => void;

/** The part of an rdkafka-style consumer the instrumentation uses. */
export interface RdkafkaConsumerLike {
  /** `consume()`, `consume(cb)` or `consume(n, cb)`. */
  consume(...args: unknown[]): unknown;
  /** EventEmitter's `emit`, through which each message reaches `data` listeners. */
  emit(event: string | symbol, ...args: unknown[]): boolean;
  /** Disconnects; stops the lag refresh timer. */
  disconnect(...args: unknown[]): unknown;
  /** EventEmitter's `listenerCount`. */
  listenerCount(event: string | symbol): number;
  /** The partitions assigned to this consumer. */
  assignments(): { topic: string; partition: number }[];
  /** Watermarks cached from the last fetch (no broker round trip). */
  getWatermarkOffsets?(topic: string, partition: number): { highOffset: number; lowOffset: number };
  /** Asks the broker for a partition's watermarks. */
  queryWatermarkOffsets(
    topic: string,
    partition: number,
    timeout: number,
    callback: RdkafkaCallback<{ highOffset: number; lowOffset: number }>,
  ): unknown;
  /** The consumer's position (next offset) per partition. */
  position?(
    topicPartitions?: { topic: string; partition: number }[],
  ): { topic: string; partition: number; offset: number }[];
  /** The group's committed offsets. */
  committed?(
    topicPartitions: { topic: string; partition: number }[],
    timeout: number,
    callback: RdkafkaCallback<{ topic: string; partition: number; offset: number }[]>,
  ): unknown;
}

function promised<T>(start: (callback: RdkafkaCallback<T>) => unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    start((error, value) => (error !== null && error !== undefined ? reject(error) : resolve(value)));
  });
}

/**
 * Instruments an rdkafka-style `KafkaConsumer` in place; call it before
 * `consume`.
 *
 * Every consumed message (the client emits `data` for each, in flowing and
 * non-flowing mode alike) counts `kafka_messages_received_total{topic,
 * partition}` and `kafka_bytes_received_total{topic}` (the value's bytes),
 * and the `data` listeners run inside a CONSUMER span `process <topic>`
 * whose parent is the producer's span from the message headers. A
 * `consume(n, callback)` callback runs inside one CONSUMER span per call with
 * a link to each message's producer span.
 * `kafka_consume_latency_ms{topic}` is the time the `data` listeners took for
 * one message; without `data` listeners, the time the `consume(n, callback)`
 * callback took for its batch (observed under the batch's first topic).
 * An error the consume callback receives, or a listener or callback throws,
 * is counted as `kafka_errors_total{operation="consume"}`; thrown errors are
 * re-thrown unchanged.
 *
 * `kafka_consumer_lag{topic, partition}` is the partition's high watermark
 * minus the group's position (the offset after the last consumed message):
 * updated on every message from the client's cached watermarks
 * (`getWatermarkOffsets`), and from the broker by `refreshLag()` or the
 * `lagRefreshIntervalMs` timer (`queryWatermarkOffsets`, `position`, and
 * `committed` for partitions not consumed from yet).
 *
 * @param consumer The consumer, before `consume` is called.
 * @param options The registry, and optionally a tracer, the group id and a lag refresh interval.
 * @returns A handle with `refreshLag()` and `restore()`.
 * @throws {TypeError} When `consumer` lacks `consume`/`emit`/`disconnect`, or is already instrumented.
 *
 * @example Messages are counted when the client emits them
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * import { instrumentRdkafkaConsumer } from "@atomic/metrics/kafka";
 * const consumer = {
 *   consume() {
 *     consumer.emit("data", { topic: "orders", partition: 0, offset: 4, value: new Uint8Array(3) });
 *   },
 *   emit(_event: string | symbol, ..._args: unknown[]) { return true; },
 *   disconnect() {},
 *   listenerCount() { return 0; },
 *   assignments() { return []; },
 *   getWatermarkOffsets() { return { lowOffset: 0, highOffset: 9 }; },
 *   queryWatermarkOffsets() {},
 * };
 * const registry = new Registry();
 * instrumentRdkafkaConsumer(consumer, { registry });
 * consumer.consume();
 * const text = registry.render();
 * if (!text.includes('kafka_bytes_received_total{topic="orders"} 3')) throw new Error(text);
 * if (!text.includes('kafka_consumer_lag{topic="orders",partition="0"} 4')) throw new Error(text);
 * ```
 */
export function instrumentRdkafkaConsumer(
  consumer: RdkafkaConsumerLike,
  options: KafkaConsumerInstrumentationOptions,
): KafkaConsumerInstrumentation {
  const tools = instrumenter(options);
  const { metrics } = tools;
  const lag = new LagTracker(metrics.consumerLag);
  const groupId = options.groupId;
  const timeout = options.queryTimeoutMs ?? 5_000;
  let stopTimer: (() => void) | undefined;

  const cachedHigh = (topic: string, partition: number): number | undefined => {
    if (typeof consumer.getWatermarkOffsets !== "function") return undefined;
    try {
      const high = consumer.getWatermarkOffsets(topic, partition).highOffset;
      return typeof high === "number" && high >= 0 ? high : undefined;
    } catch {
      // No watermark cached yet for this partition.
      return undefined;
    }
  };

  const refreshLag = async (): Promise<void> => {
    try {
      const assigned = consumer.assignments().map(({ topic, partition }) => ({ topic, partition }));
      if (assigned.length === 0) return;
      const positions = typeof consumer.position === "function" ? consumer.position(assigned) : [];
      const missing = assigned.filter(({ topic, partition }) =>
        !(lag.position(topic, partition) >= 0 ||
          (positions.find((p) => p.topic === topic && p.partition === partition)?.offset ?? -1) >= 0)
      );
      const committed = missing.length > 0 && typeof consumer.committed === "function"
        ? await promised<{ topic: string; partition: number; offset: number }[]>((cb) =>
          consumer.committed!(missing, timeout, cb)
        )
        : [];
      for (const { topic, partition } of assigned) {
        const { highOffset, lowOffset } = await promised<{ highOffset: number; lowOffset: number }>((cb) =>
          consumer.queryWatermarkOffsets(topic, partition, timeout, cb)
        );
        let position = Math.max(
          lag.position(topic, partition),
          positions.find((p) => p.topic === topic && p.partition === partition)?.offset ?? -1,
        );
        if (position < 0) {
          const stored = committed.find((c) => c.topic === topic && c.partition === partition)?.offset ?? -1;
          // No position yet: the group starts at its committed offset, else at the log start.
          position = stored >= 0 ? stored : lowOffset;
        }
        lag.observed(topic, partition, highOffset, position);
      }
    } catch (error) {
      tools.fail("lag", error);
      throw error;
    }
  };

  // Started by the first consume(): before that the consumer has no assignment to ask about.
  const startTimer = (): void => {
    const interval = options.lagRefreshIntervalMs ?? 0;
    if (interval <= 0 || stopTimer !== undefined) return;
    stopTimer = backgroundInterval(() => {
      refreshLag().catch(() => {
        // Counted under operation="lag"; a timer has nobody to throw to.
      });
    }, interval);
  };

  const restorePatches = patchMethods(consumer, "consumer", {
    emit: (original) =>
      function emit(this: RdkafkaConsumerLike, event: string | symbol, ...args: unknown[]): boolean {
        const emitOriginal = (): boolean => (original as RdkafkaConsumerLike["emit"]).call(this, event, ...args);
        if (event !== "data") return emitOriginal();
        const message = args[0] as RdkafkaMessage;
        if (typeof message !== "object" || message === null) return emitOriginal();
        const { topic, partition, offset } = message;
        metrics.messagesReceived.inc({ topic, partition: String(partition) });
        metrics.bytesReceived.inc({ topic }, payloadBytes(message.value));
        lag.handled(topic, partition, offset, cachedHigh(topic, partition));
        const { span, context } = startConsumerSpan(tools.tracer, topic, partition, offset, message.headers, groupId);
        const listening = this.listenerCount("data") > 0;
        const started = performance.now();
        try {
          return contextApi.with(context, emitOriginal);
        } catch (error) {
          tools.fail("consume", error, span);
          throw error;
        } finally {
          if (listening) metrics.consumeLatency.observe({ topic }, performance.now() - started);
          span.end();
        }
      } as (...args: never[]) => unknown,
    consume: (original) =>
      function consume(this: RdkafkaConsumerLike, ...args: unknown[]): unknown {
        startTimer();
        const index = args.findIndex((arg) => typeof arg === "function");
        if (index < 0) return (original as RdkafkaConsumerLike["consume"]).apply(this, args);
        const callback = args[index] as (error: unknown, value: unknown) => void;
        const batchMode = typeof args[0] === "number";
        args[index] = function consumed(this: unknown, error: unknown, value: unknown): void {
          if (error !== null && error !== undefined) {
            tools.fail("consume", error);
            return callback.call(this, error, value);
          }
          if (!batchMode || !Array.isArray(value) || value.length === 0) return callback.call(this, error, value);
          const messages = value as RdkafkaMessage[];
          const topic = messages[0]!.topic;
          const sameTopic = messages.every((m) => m.topic === topic);
          const samePartition = sameTopic && messages.every((m) => m.partition === messages[0]!.partition);
          const { span, context } = startBatchSpan(
            tools.tracer,
            sameTopic ? topic : "multiple",
            samePartition ? messages[0]!.partition : undefined,
            messages.map((m) => m.headers),
            groupId,
          );
          const timed = consumer.listenerCount("data") === 0;
          const started = performance.now();
          try {
            contextApi.with(context, () => callback.call(this, error, value));
          } catch (thrown) {
            tools.fail("consume", thrown, span);
            throw thrown;
          } finally {
            if (timed) metrics.consumeLatency.observe({ topic }, performance.now() - started);
            span.end();
          }
        };
        return (original as RdkafkaConsumerLike["consume"]).apply(this, args);
      } as (...args: never[]) => unknown,
    disconnect: (original) =>
      function disconnect(this: unknown, ...args: unknown[]): unknown {
        stopTimer?.();
        stopTimer = undefined;
        return (original as RdkafkaConsumerLike["disconnect"]).apply(this, args);
      } as (...args: never[]) => unknown,
  });

  return {
    refreshLag,
    restore(): void {
      stopTimer?.();
      stopTimer = undefined;
      restorePatches();
    },
  };
}

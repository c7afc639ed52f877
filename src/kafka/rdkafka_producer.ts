/**
 * Instruments a `Producer` of the rdkafka-style API of
 * `@confluentinc/kafka-javascript` (or node-rdkafka): `produce` is traced,
 * and delivery reports are measured.
 *
 * @module
 */

import type { Span } from "@opentelemetry/api";
import { injectKafkaHeaders, type KafkaHeaderList } from "../otel/kafka_headers.ts";
import type { KafkaInstrumentation, KafkaInstrumentationOptions } from "./instrumentation_options.ts";
import { instrumenter, patchMethods, startProducerSpan } from "./_instrument.ts";
import { payloadBytes } from "./_payload.ts";

/** The part of an rdkafka-style producer the instrumentation uses. */
export interface RdkafkaProducerLike {
  /** Queues one message; the delivery report follows as a `delivery-report` event. */
  produce(
    topic: string,
    partition: number | null | undefined,
    message: unknown,
    key?: unknown,
    timestamp?: number | null,
    opaque?: unknown,
    headers?: KafkaHeaderList,
  ): unknown;
  /** EventEmitter's `emit`, through which delivery reports reach listeners. */
  emit(event: string | symbol, ...args: unknown[]): boolean;
}

/** A delivery report (only the fields read here). */
interface DeliveryReport {
  opaque?: unknown;
  partition?: number;
  offset?: number;
}

const tokenMark: unique symbol = Symbol("atomic-metrics.kafka.delivery");

// Rides in the report's opaque slot from produce() to the delivery report.
interface DeliveryToken {
  readonly [tokenMark]: true;
  readonly opaque: unknown;
  readonly topic: string;
  readonly bytes: number;
  readonly started: number;
  readonly span: Span;
}

function isToken(value: unknown): value is DeliveryToken {
  return typeof value === "object" && value !== null && (value as Partial<DeliveryToken>)[tokenMark] === true;
}

// node-rdkafka wires delivery callbacks only when constructed with dr_cb or dr_msg_cb.
function deliveryReportsEnabled(producer: object): boolean {
  const configs = (producer as { _cb_configs?: { event?: { delivery_cb?: unknown } } })._cb_configs;
  return typeof configs?.event?.delivery_cb === "function";
}

/**
 * Instruments an rdkafka-style `Producer` in place. Each `produce` opens a
 * PRODUCER span `send <topic>` and appends `traceparent`, `tracestate` and
 * `baggage` to the message's headers (a copy of your header list). With
 * delivery reports on (`dr_cb: true` or `dr_msg_cb: true` in the producer's
 * config) the span ends at the report, and a successful one records
 * `kafka_messages_sent_total`, `kafka_bytes_sent_total` (the value's bytes)
 * and `kafka_produce_latency_ms` (produce call to delivery report); a failed
 * one counts `kafka_errors_total{operation="produce"}`. Your `opaque` is
 * given back in the report unchanged. Without delivery reports the span
 * ends and the message is counted when `produce` returns, and no latency is
 * observed. An error `produce` throws is counted and re-thrown unchanged.
 *
 * @param producer The producer, connected or not.
 * @param options The registry, and optionally a tracer and the client's error codes.
 * @returns A handle whose `restore()` removes the instrumentation.
 * @throws {TypeError} When `producer` has no `produce`/`emit`, is a `HighLevelProducer`, or is already instrumented.
 *
 * @example Delivery reports carry the measurements
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * import { instrumentRdkafkaProducer } from "@atomic/metrics/kafka";
 * const opaques: unknown[] = [];
 * const producer = {
 *   _cb_configs: { event: { delivery_cb() {} } },
 *   produce(topic: string, _p: unknown, _value: unknown, _k: unknown, _t: unknown, opaque: unknown): void {
 *     producer.emit("delivery-report", null, { topic, partition: 0, offset: 0, opaque });
 *   },
 *   emit(_event: string | symbol, ...args: unknown[]): boolean {
 *     opaques.push((args[1] as { opaque: unknown }).opaque);
 *     return true;
 *   },
 * };
 * const registry = new Registry();
 * instrumentRdkafkaProducer(producer, { registry });
 * producer.produce("orders", null, new TextEncoder().encode("abc"), null, null, "mine");
 * if (opaques[0] !== "mine") throw new Error("opaque changed");
 * if (!registry.render().includes('kafka_bytes_sent_total{topic="orders"} 3')) throw new Error("not counted");
 * ```
 */
export function instrumentRdkafkaProducer(
  producer: RdkafkaProducerLike,
  options: KafkaInstrumentationOptions,
): KafkaInstrumentation {
  const tools = instrumenter(options);
  const { metrics } = tools;
  if (typeof (producer as { setValueSerializer?: unknown })?.setValueSerializer === "function") {
    // HighLevelProducer.produce takes a callback where Producer takes opaque and headers.
    throw new TypeError("Kafka producer is a HighLevelProducer, which is not supported; instrument a Producer");
  }
  const reports = typeof producer === "object" && producer !== null && deliveryReportsEnabled(producer);

  const delivered = (error: unknown, report: DeliveryReport | undefined, token: DeliveryToken): void => {
    const { span, topic } = token;
    if (error !== null && error !== undefined) {
      tools.fail("produce", error, span);
    } else {
      const labels = { topic };
      metrics.messagesSent.inc(labels);
      metrics.bytesSent.inc(labels, token.bytes);
      metrics.produceLatency.observe(labels, performance.now() - token.started);
      if (typeof report?.partition === "number") {
        span.setAttribute("messaging.destination.partition.id", String(report.partition));
      }
      if (typeof report?.offset === "number") span.setAttribute("messaging.kafka.offset", report.offset);
    }
    span.end();
  };

  const restore = patchMethods(producer, "producer", {
    produce: (original) =>
      function produce(
        this: unknown,
        topic: string,
        partition: number | null | undefined,
        message: unknown,
        key?: unknown,
        timestamp?: number | null,
        opaque?: unknown,
        headers?: KafkaHeaderList,
      ): unknown {
        const name = String(topic);
        const { span, context } = startProducerSpan(tools.tracer, name, 1);
        const traced = injectKafkaHeaders(Array.isArray(headers) ? [...headers] : [], context);
        const bytes = payloadBytes(message);
        const token: DeliveryToken = {
          [tokenMark]: true,
          opaque,
          topic: name,
          bytes,
          started: performance.now(),
          span,
        };
        let result: unknown;
        try {
          result = (original as RdkafkaProducerLike["produce"]).call(
            this,
            topic,
            partition,
            message,
            key,
            timestamp,
            reports ? token : opaque,
            traced,
          );
        } catch (error) {
          tools.fail("produce", error, span);
          span.end();
          throw error;
        }
        if (!reports) {
          metrics.messagesSent.inc({ topic: name });
          metrics.bytesSent.inc({ topic: name }, bytes);
          span.end();
        }
        return result;
      } as (...args: never[]) => unknown,
    emit: (original) =>
      function emit(this: unknown, event: string | symbol, ...args: unknown[]): boolean {
        if (event === "delivery-report") {
          const report = args[1] as DeliveryReport | undefined;
          const token = report?.opaque;
          if (isToken(token)) {
            // Give the application its own opaque back before any listener runs.
            report!.opaque = token.opaque;
            delivered(args[0], report, token);
          }
        }
        return (original as RdkafkaProducerLike["emit"]).call(this, event, ...args);
      } as (...args: never[]) => unknown,
  });
  return { restore };
}

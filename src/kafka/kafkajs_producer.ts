/**
 * Instruments a producer of the KafkaJS-compatible API of
 * `@confluentinc/kafka-javascript` (`new KafkaJS.Kafka(…).producer()`), or of
 * KafkaJS itself: `send` and `sendBatch` are traced and measured.
 *
 * @module
 */

import { type Context, context as contextApi, type Span } from "@opentelemetry/api";
import { injectKafkaHeaders, type KafkaHeaderObject } from "../otel/kafka_headers.ts";
import type { KafkaInstrumentation, KafkaInstrumentationOptions } from "./instrumentation_options.ts";
import { type Instrumenter, instrumenter, patchMethods, startProducerSpan } from "./_instrument.ts";
import { payloadBytes } from "./_payload.ts";

/** A message as `send` takes it (only the fields the instrumentation reads). */
export interface KafkaJsProducerMessage {
  /** The payload; its bytes count into `kafka_bytes_sent_total`. */
  value?: unknown;
  /** Application headers; a copy with the trace headers added is sent. */
  headers?: KafkaHeaderObject | undefined;
}

/** The part of a KafkaJS-style producer the instrumentation uses. */
export interface KafkaJsProducerLike {
  /** Sends messages to one topic; resolves when the broker acknowledged them. */
  send(record: { topic: string; messages: KafkaJsProducerMessage[] }): Promise<unknown>;
  /** Sends messages to several topics at once. */
  sendBatch(batch: { topicMessages?: { topic: string; messages: KafkaJsProducerMessage[] }[] }): Promise<unknown>;
}

interface TopicSend {
  topic: string;
  span: Span;
  context: Context;
  count: number;
  bytes: number;
}

// A topic of a sendBatch call, found again by the traced message array sent for it.
interface BatchTopic {
  send: TopicSend;
  // The batch's topics that no send took over: the ones the batch itself measures when it settles.
  unsent: Set<TopicSend>;
}

// Copies each message with trace headers added: the caller's objects are not modified.
function tracedMessages(
  messages: readonly KafkaJsProducerMessage[],
  send: TopicSend,
  ctx: Context,
): KafkaJsProducerMessage[] {
  const traced: KafkaJsProducerMessage[] = new Array(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    send.bytes += payloadBytes(message.value);
    traced[i] = { ...message, headers: injectKafkaHeaders({ ...message.headers }, ctx) };
  }
  return traced;
}

// Records the outcome of `call` for each of `sends`, read when `call` settles.
async function measured(
  tools: Instrumenter,
  sends: Iterable<TopicSend>,
  call: () => Promise<unknown>,
): Promise<unknown> {
  const started = performance.now();
  try {
    const result = await call();
    const elapsed = performance.now() - started;
    const { metrics } = tools;
    for (const send of sends) {
      const labels = { topic: send.topic };
      metrics.messagesSent.inc(labels, send.count);
      metrics.bytesSent.inc(labels, send.bytes);
      metrics.produceLatency.observe(labels, elapsed);
      send.span.end();
    }
    return result;
  } catch (error) {
    for (const send of sends) {
      tools.fail("produce", error, send.span);
      send.span.end();
    }
    throw error;
  }
}

/**
 * Instruments a KafkaJS-style producer in place. Each `send` (and each topic
 * of a `sendBatch`) opens a PRODUCER span `send <topic>` and writes its
 * `traceparent`, `tracestate` and `baggage` into every message's headers
 * (on copies: your message objects are not modified). Each message is
 * counted once, also when the client's own `sendBatch` calls `send` per
 * topic, as `@confluentinc/kafka-javascript` does. When the broker
 * acknowledges, `kafka_messages_sent_total`, `kafka_bytes_sent_total` (the
 * values' bytes) and `kafka_produce_latency_ms` (call to acknowledgement)
 * are recorded; when it fails, `kafka_errors_total{operation="produce"}` is
 * counted and the error re-thrown unchanged.
 *
 * @param producer The producer, connected or not.
 * @param options The registry, and optionally a tracer.
 * @returns A handle whose `restore()` removes the instrumentation.
 * @throws {TypeError} When `producer` has no `send`/`sendBatch`, or is already instrumented.
 *
 * @example Instrument, then use the producer as before
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * import { instrumentKafkaJsProducer } from "@atomic/metrics/kafka";
 * const sent: unknown[] = [];
 * const producer = {
 *   async send(record: { topic: string; messages: unknown[] }) { sent.push(record); return []; },
 *   async sendBatch() { return []; },
 * };
 * const registry = new Registry();
 * instrumentKafkaJsProducer(producer, { registry });
 * await producer.send({ topic: "orders", messages: [{ value: "hi" }] });
 * if (!registry.render().includes('kafka_bytes_sent_total{topic="orders"} 2')) throw new Error("not counted");
 * ```
 */
export function instrumentKafkaJsProducer(
  producer: KafkaJsProducerLike,
  options: KafkaInstrumentationOptions,
): KafkaInstrumentation {
  const tools = instrumenter(options);
  // The topics of sendBatch calls in flight, by the traced message array made for each. A client whose
  // sendBatch calls this.send() per topic (@confluentinc/kafka-javascript does) passes that array back in:
  // the instrumented send then measures that topic instead of tracing and counting its messages again.
  const batchTopics = new WeakMap<readonly KafkaJsProducerMessage[], BatchTopic>();
  const restore = patchMethods(producer, "producer", {
    send: (original) =>
      function send(this: unknown, record: Parameters<KafkaJsProducerLike["send"]>[0]): Promise<unknown> {
        if (typeof record !== "object" || record === null || !Array.isArray(record.messages)) {
          return (original as KafkaJsProducerLike["send"]).call(this, record);
        }
        const batchTopic = batchTopics.get(record.messages);
        if (batchTopic !== undefined) {
          // Already traced by sendBatch: keep its span and headers, and measure this topic here, where its
          // own acknowledgement or failure is known.
          batchTopics.delete(record.messages);
          batchTopic.unsent.delete(batchTopic.send);
          const { context } = batchTopic.send;
          return measured(
            tools,
            [batchTopic.send],
            () => contextApi.with(context, () => (original as KafkaJsProducerLike["send"]).call(this, record)),
          );
        }
        const topic = String(record.topic);
        const { span, context } = startProducerSpan(tools.tracer, topic, record.messages.length);
        const send: TopicSend = { topic, span, context, count: record.messages.length, bytes: 0 };
        const traced = { ...record, messages: tracedMessages(record.messages, send, context) };
        return measured(
          tools,
          [send],
          () => contextApi.with(context, () => (original as KafkaJsProducerLike["send"]).call(this, traced)),
        );
      } as (...args: never[]) => unknown,
    sendBatch: (original) =>
      function sendBatch(this: unknown, batch: Parameters<KafkaJsProducerLike["sendBatch"]>[0]): Promise<unknown> {
        if (typeof batch !== "object" || batch === null || !Array.isArray(batch.topicMessages)) {
          return (original as KafkaJsProducerLike["sendBatch"]).call(this, batch);
        }
        const unsent = new Set<TopicSend>();
        const topicMessages = batch.topicMessages.map((entry) => {
          const messages = Array.isArray(entry.messages) ? entry.messages : [];
          const topic = String(entry.topic);
          const { span, context } = startProducerSpan(tools.tracer, topic, messages.length);
          const send: TopicSend = { topic, span, context, count: messages.length, bytes: 0 };
          const traced = tracedMessages(messages, send, context);
          unsent.add(send);
          batchTopics.set(traced, { send, unsent });
          return { ...entry, messages: traced };
        });
        const traced = { ...batch, topicMessages };
        return measured(tools, unsent, () => (original as KafkaJsProducerLike["sendBatch"]).call(this, traced));
      } as (...args: never[]) => unknown,
  });
  return { restore };
}

/**
 * What the four instrument functions share: resolved options, span
 * attributes, error recording, method patching. Private.
 *
 * @module
 */

import {
  type Attributes,
  type Context,
  context as contextApi,
  type Link,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import { extractKafkaHeaders, type KafkaHeaders } from "../otel/kafka_headers.ts";
import { kafkaErrorType } from "./error_type.ts";
import type { KafkaInstrumentationOptions } from "./instrumentation_options.ts";
import { type KafkaMetrics, kafkaMetrics } from "./kafka_metrics.ts";

/** The options every instrument function works from. */
export interface Instrumenter {
  readonly metrics: KafkaMetrics;
  readonly tracer: Tracer;
  /** Counts `error` under `operation` and marks `span` (if any) failed. Never throws. */
  fail(operation: string, error: unknown, span?: Span): void;
  /**
   * Runs a consumer's handler in its span: times it into `kafka_consume_latency_ms`, counts and
   * re-throws its error unchanged, and ends the span.
   */
  consume(topic: string, span: Span, context: Context, handle: () => unknown): Promise<void>;
}

export function instrumenter(options: KafkaInstrumentationOptions): Instrumenter {
  if (options === undefined || options === null || typeof options.registry?.counter !== "function") {
    throw new TypeError("Kafka instrumentation option registry must be a Registry");
  }
  const metrics = kafkaMetrics(options.registry, options.buckets === undefined ? {} : { buckets: options.buckets });
  const tracer = options.tracer ?? trace.getTracer("atomic-metrics/kafka");
  const codes = options.errorCodes;
  return {
    metrics,
    tracer,
    fail(operation: string, error: unknown, span?: Span): void {
      const errorType = kafkaErrorType(error, codes);
      metrics.errors.inc({ operation, error_type: errorType });
      if (span !== undefined) {
        if (error instanceof Error) span.recordException(error);
        span.setAttribute("error.type", errorType);
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      }
    },
    async consume(topic: string, span: Span, context: Context, handle: () => unknown): Promise<void> {
      const started = performance.now();
      try {
        await contextApi.with(context, handle);
      } catch (error) {
        this.fail("consume", error, span);
        throw error;
      } finally {
        metrics.consumeLatency.observe({ topic }, performance.now() - started);
        span.end();
      }
    },
  };
}

/** Messaging semantic-convention attributes shared by producer and consumer spans. */
export function messagingAttributes(operation: "send" | "process", topic: string, count: number): Attributes {
  const attributes: Attributes = {
    "messaging.system": "kafka",
    "messaging.operation.type": operation,
    "messaging.operation.name": operation,
    "messaging.destination.name": topic,
  };
  if (count !== 1) attributes["messaging.batch.message_count"] = count;
  return attributes;
}

/** Starts the PRODUCER span of a send to `topic`, a child of the active context. */
export function startProducerSpan(tracer: Tracer, topic: string, count: number): { span: Span; context: Context } {
  const parent = contextApi.active();
  const span = tracer.startSpan(`send ${topic}`, {
    kind: SpanKind.PRODUCER,
    attributes: messagingAttributes("send", topic, count),
  }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

/**
 * Starts the CONSUMER span that processes one message: the child of the span
 * whose context the message's headers carry (else of the active context).
 */
export function startConsumerSpan(
  tracer: Tracer,
  topic: string,
  partition: number,
  offset: string | number,
  headers: KafkaHeaders | null | undefined,
  groupId: string | undefined,
): { span: Span; context: Context } {
  const parent = extractKafkaHeaders(headers, contextApi.active());
  const attributes = messagingAttributes("process", topic, 1);
  attributes["messaging.destination.partition.id"] = String(partition);
  const offsetNumber = Number(offset);
  if (Number.isSafeInteger(offsetNumber)) attributes["messaging.kafka.offset"] = offsetNumber;
  if (groupId !== undefined) attributes["messaging.consumer.group.name"] = groupId;
  const span = tracer.startSpan(`process ${topic}`, { kind: SpanKind.CONSUMER, attributes }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

/**
 * Starts the CONSUMER span that processes a batch: a child of the active
 * context with one link per distinct producer span found in the headers.
 */
export function startBatchSpan(
  tracer: Tracer,
  topic: string,
  partition: number | undefined,
  headersList: readonly (KafkaHeaders | null | undefined)[],
  groupId: string | undefined,
): { span: Span; context: Context } {
  const links: Link[] = [];
  const seen = new Set<string>();
  for (const headers of headersList) {
    const spanContext = trace.getSpanContext(extractKafkaHeaders(headers));
    if (spanContext === undefined || seen.has(spanContext.spanId)) continue;
    seen.add(spanContext.spanId);
    links.push({ context: spanContext });
  }
  const attributes = messagingAttributes("process", topic, headersList.length);
  if (partition !== undefined) attributes["messaging.destination.partition.id"] = String(partition);
  if (groupId !== undefined) attributes["messaging.consumer.group.name"] = groupId;
  const parent = contextApi.active();
  const span = tracer.startSpan(`process ${topic}`, { kind: SpanKind.CONSUMER, attributes, links }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

const instrumentedMark: unique symbol = Symbol.for("atomic-metrics.kafka.instrumented");

/**
 * Replaces methods on the client object itself (own properties shadowing the
 * prototype's, so the object keeps its identity and class) and returns a
 * function that puts them back.
 *
 * @throws TypeError when the object is not an object, lacks a method, or is already instrumented.
 */
export function patchMethods(
  client: unknown,
  what: string,
  replacements: Readonly<Record<string, (original: (...args: never[]) => unknown) => (...args: never[]) => unknown>>,
): () => void {
  if (typeof client !== "object" || client === null) {
    throw new TypeError(
      `Kafka ${what} to instrument must be an object, got ${client === null ? "null" : typeof client}`,
    );
  }
  const target = client as Record<PropertyKey, unknown>;
  if (target[instrumentedMark] === true) {
    throw new TypeError(`Kafka ${what} is already instrumented; call restore() on the earlier instrumentation first`);
  }
  const originals: [string, boolean, unknown][] = [];
  for (const name of Object.keys(replacements)) {
    if (typeof target[name] !== "function") {
      throw new TypeError(`Kafka ${what} has no method "${name}"; is it a ${what} of @confluentinc/kafka-javascript?`);
    }
  }
  for (const [name, wrap] of Object.entries(replacements)) {
    const own = Object.prototype.hasOwnProperty.call(target, name);
    const original = target[name] as (...args: never[]) => unknown;
    originals.push([name, own, own ? original : undefined]);
    Object.defineProperty(target, name, {
      value: wrap(original),
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
  Object.defineProperty(target, instrumentedMark, { value: true, configurable: true, enumerable: false });
  let restored = false;
  return (): void => {
    if (restored) return;
    restored = true;
    for (const [name, own, original] of originals) {
      if (own) {
        Object.defineProperty(target, name, { value: original, writable: true, configurable: true, enumerable: false });
      } else delete target[name];
    }
    delete target[instrumentedMark];
  };
}

/** Calls `setInterval` and, where the runtime allows, keeps it from holding the process open. */
export function backgroundInterval(fn: () => void, ms: number): () => void {
  const handle: unknown = setInterval(fn, ms);
  if (typeof handle === "object" && handle !== null && typeof (handle as { unref?: unknown }).unref === "function") {
    (handle as { unref(): void }).unref();
  }
  return (): void => clearInterval(handle as ReturnType<typeof setInterval>);
}

/**
 * W3C trace context (`traceparent`, `tracestate`) and `baggage` carried in
 * Kafka message headers, for both header shapes the JavaScript clients use:
 * KafkaJS (and Confluent's KafkaJS-compatible API) pass an object
 * `{ [key]: value | value[] }`; node-rdkafka (and Confluent's rdkafka-style
 * API) pass an array of one-key objects `[{ key: value }, ...]`.
 *
 * Extraction is defensive: a consumed message comes from another process, so
 * a malformed, non-UTF-8 or oversized header is ignored and never throws.
 *
 * @module
 */

import {
  type Context,
  context as contextApi,
  ROOT_CONTEXT,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
} from "@opentelemetry/api";
import { w3cPropagator } from "./_w3c_propagator.ts";

/** One Kafka header value as the clients hand it over. */
export type KafkaHeaderValue = string | Uint8Array | null | undefined;

/** KafkaJS-style headers: one entry per key, a value or a list of values. */
export type KafkaHeaderObject = {
  [key: string]: KafkaHeaderValue | KafkaHeaderValue[];
};

/** rdkafka-style headers: a list of one-key objects, keys may repeat. */
export type KafkaHeaderList = Array<{ [key: string]: KafkaHeaderValue }>;

/** Kafka message headers in either client's shape. */
export type KafkaHeaders = KafkaHeaderObject | KafkaHeaderList;

/**
 * Header values longer than this many bytes (UTF-8) are ignored on
 * extraction. W3C caps `baggage` at 8192 bytes and `tracestate` at 512
 * characters, so nothing legitimate is lost.
 */
export const MAX_KAFKA_HEADER_VALUE_BYTES = 8192;

/**
 * At most this many values are read per header key (repeated keys in an
 * rdkafka list, or a KafkaJS array); the rest are ignored, so a hostile
 * message cannot make extraction slow.
 */
export const MAX_KAFKA_HEADER_VALUES = 32;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

function decodeValue(value: unknown): string | undefined {
  if (typeof value === "string") {
    // A UTF-8 string is at most 3 bytes per UTF-16 unit and at least 1.
    if (value.length > MAX_KAFKA_HEADER_VALUE_BYTES) return undefined;
    if (value.length * 3 <= MAX_KAFKA_HEADER_VALUE_BYTES) return value;
    // Rare (long baggage only): encoding to count is simpler than counting.
    return utf8Encoder.encode(value).byteLength <= MAX_KAFKA_HEADER_VALUE_BYTES ? value : undefined;
  }
  // Buffer is a Uint8Array subclass, so this covers Node, Bun and Deno.
  if (value instanceof Uint8Array) {
    if (value.byteLength > MAX_KAFKA_HEADER_VALUE_BYTES) return undefined;
    try {
      return utf8.decode(value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function collectValues(raw: unknown, into: string[]): void {
  if (Array.isArray(raw)) {
    const n = Math.min(raw.length, MAX_KAFKA_HEADER_VALUES);
    for (let i = 0; i < n && into.length < MAX_KAFKA_HEADER_VALUES; i++) {
      const decoded = decodeValue(raw[i]);
      if (decoded !== undefined) into.push(decoded);
    }
    return;
  }
  const decoded = decodeValue(raw);
  if (decoded !== undefined && into.length < MAX_KAFKA_HEADER_VALUES) {
    into.push(decoded);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

// Own enumerable keys only: a header named "constructor" must not find
// Object.prototype.constructor.
function ownValue(entry: Record<string, unknown>, key: string): unknown {
  if (Object.prototype.hasOwnProperty.call(entry, key)) return entry[key];
  // Kafka keys are case-sensitive, but producers sometimes capitalise.
  const lower = key.toLowerCase();
  for (const k of Object.keys(entry)) {
    if (k.toLowerCase() === lower) return entry[k];
  }
  return undefined;
}

/**
 * The TextMap getter for Kafka headers: returns a header's value decoded as
 * UTF-8 (a list when the key repeats or holds a list), matching the key
 * exactly or else case-insensitively; `undefined` for missing, malformed
 * (non-UTF-8, not a string or bytes) and oversized values. Never throws.
 *
 * @example Read a header from KafkaJS- and rdkafka-style headers
 * ```ts
 * import { kafkaHeadersGetter } from "@atomic/metrics/otel";
 *
 * const bytes = new TextEncoder().encode("v");
 * if (kafkaHeadersGetter.get({ k: bytes }, "k") !== "v") throw new Error("not decoded");
 * const both = kafkaHeadersGetter.get([{ k: "a" }, { k: "b" }], "k");
 * if (String(both) !== "a,b") throw new Error("not both values");
 * ```
 */
export const kafkaHeadersGetter: TextMapGetter<KafkaHeaders> = {
  keys(carrier: KafkaHeaders): string[] {
    try {
      if (Array.isArray(carrier)) {
        const keys = new Set<string>();
        for (const entry of carrier) {
          if (isRecord(entry)) { for (const k of Object.keys(entry)) keys.add(k); }
        }
        return [...keys];
      }
      return isRecord(carrier) ? Object.keys(carrier) : [];
    } catch {
      return [];
    }
  },
  get(carrier: KafkaHeaders, key: string): string | string[] | undefined {
    try {
      const values: string[] = [];
      if (Array.isArray(carrier)) {
        const n = Math.min(carrier.length, 1024);
        for (let i = 0; i < n && values.length < MAX_KAFKA_HEADER_VALUES; i++) {
          const entry: unknown = carrier[i];
          if (isRecord(entry)) collectValues(ownValue(entry, key), values);
        }
      } else if (isRecord(carrier)) {
        collectValues(ownValue(carrier, key), values);
      }
      if (values.length === 0) return undefined;
      return values.length === 1 ? values[0] : values;
    } catch {
      // A Proxy or a throwing getter in a consumed message: treat as absent.
      return undefined;
    }
  },
};

/**
 * The TextMap setter for Kafka headers: sets a string value, replacing any
 * earlier value for the key (in an rdkafka list, earlier entries with the
 * key alone are removed and one entry is appended).
 *
 * @example Set a header in both shapes
 * ```ts
 * import { kafkaHeadersSetter } from "@atomic/metrics/otel";
 *
 * const object = { traceparent: "old" };
 * kafkaHeadersSetter.set(object, "traceparent", "new");
 * if (object.traceparent !== "new") throw new Error("not replaced");
 *
 * const list = [{ traceparent: "old" }, { other: "x" }];
 * kafkaHeadersSetter.set(list, "traceparent", "new");
 * if (JSON.stringify(list) !== '[{"other":"x"},{"traceparent":"new"}]') throw new Error("not replaced");
 * ```
 */
export const kafkaHeadersSetter: TextMapSetter<KafkaHeaders> = {
  set(carrier: KafkaHeaders, key: string, value: string): void {
    if (Array.isArray(carrier)) {
      let kept = 0;
      for (const entry of carrier) {
        if (
          !(isRecord(entry) && Object.keys(entry).length === 1 &&
            Object.prototype.hasOwnProperty.call(entry, key))
        ) {
          carrier[kept++] = entry;
        }
      }
      carrier.length = kept;
      carrier.push({ [key]: value });
    } else if (isRecord(carrier)) {
      carrier[key] = value;
    }
  },
};

/**
 * Writes the context's span (`traceparent`, `tracestate`) and baggage
 * (`baggage`) into Kafka message headers and returns them. Headers are
 * modified in place; without headers a new KafkaJS-style object is made.
 * Nothing is written when the context holds no valid span or no baggage.
 *
 * @param headers The message's headers, KafkaJS object or rdkafka list.
 * @param context The context to propagate; defaults to `context.active()`.
 * @param propagator The propagator to use; defaults to W3C Trace Context +
 *   W3C Baggage. Pass `propagation` from `@opentelemetry/api` to use the
 *   globally registered one instead.
 * @returns The same headers (or the new object), for use in `send()`.
 *
 * @example Inject the active span into a produced message
 * ```ts
 * import { injectKafkaHeaders, type KafkaHeaderObject } from "@atomic/metrics/otel";
 * import { context, trace } from "@opentelemetry/api";
 *
 * const span = trace.wrapSpanContext({
 *   traceId: "0af7651916cd43dd8448eb211c80319c",
 *   spanId: "b7ad6b7169203331",
 *   traceFlags: 1,
 * });
 * const headers: KafkaHeaderObject = { "content-type": "application/json" };
 * injectKafkaHeaders(headers, trace.setSpan(context.active(), span));
 * if (headers["traceparent"] !== "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01") {
 *   throw new Error("traceparent missing");
 * }
 * ```
 */
export function injectKafkaHeaders<H extends KafkaHeaders = KafkaHeaderObject>(
  headers?: H,
  context: Context = contextApi.active(),
  propagator: Pick<TextMapPropagator, "inject"> = w3cPropagator,
): H {
  const carrier = (headers ?? {}) as H;
  propagator.inject(context, carrier, kafkaHeadersSetter);
  return carrier;
}

/**
 * Reads `traceparent`, `tracestate` and `baggage` from a consumed message's
 * headers into a context whose span is the remote parent. Malformed or
 * oversized headers are ignored: the base context is then returned as is.
 * Never throws, whatever the headers are.
 *
 * The default base is the root context, not the active one: a consumer
 * loop's active span is rarely the message's parent.
 *
 * @param headers The message's headers, KafkaJS object or rdkafka list.
 * @param context The context to extend; defaults to `ROOT_CONTEXT`.
 * @param propagator The propagator to use; defaults to W3C Trace Context +
 *   W3C Baggage. Pass `propagation` from `@opentelemetry/api` to use the
 *   globally registered one instead.
 * @returns The context carrying the remote span context and baggage.
 *
 * @example Continue a trace from a consumed message
 * ```ts
 * import { extractKafkaHeaders } from "@atomic/metrics/otel";
 * import { trace } from "@opentelemetry/api";
 *
 * const context = extractKafkaHeaders([
 *   { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
 * ]);
 * if (trace.getSpanContext(context)?.spanId !== "b7ad6b7169203331") throw new Error("no parent");
 * // Malformed headers are ignored, not thrown:
 * if (trace.getSpanContext(extractKafkaHeaders({ traceparent: "junk" })) !== undefined) throw new Error();
 * ```
 */
export function extractKafkaHeaders(
  headers: KafkaHeaders | null | undefined,
  context: Context = ROOT_CONTEXT,
  propagator: Pick<TextMapPropagator, "extract"> = w3cPropagator,
): Context {
  if (headers === null || headers === undefined) return context;
  try {
    return propagator.extract(context, headers, kafkaHeadersGetter);
  } catch {
    return context;
  }
}

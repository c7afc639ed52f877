import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import { isSpanContextValid, propagation, ROOT_CONTEXT, trace, TraceFlags } from "@opentelemetry/api";
import { TraceState } from "@opentelemetry/core";
import {
  extractKafkaHeaders,
  injectKafkaHeaders,
  type KafkaHeaderList,
  type KafkaHeaderObject,
  type KafkaHeaders,
  kafkaHeadersGetter,
  MAX_KAFKA_HEADER_VALUE_BYTES,
} from "../../src/otel/kafka_headers.ts";

const hex = (length: number) =>
  fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: length, maxLength: length });

const spanContextArbitrary = fc.record({
  traceId: hex(32),
  spanId: hex(16),
  traceFlags: fc.constantFrom(TraceFlags.NONE, TraceFlags.SAMPLED),
}).filter((sc) => isSpanContextValid(sc));

const traceStateArbitrary = fc.option(
  fc.dictionary(
    fc.stringMatching(/^[a-z][a-z0-9_\-*/]{0,15}$/),
    fc.stringMatching(/^[!-+\--<>-~]{1,20}$/),
    { minKeys: 1, maxKeys: 4 },
  ),
  { nil: undefined },
);

const baggageArbitrary = fc.dictionary(
  // @opentelemetry/core's W3CBaggagePropagator.extract() collects entries in a plain object,
  // so a baggage key "__proto__" is lost upstream (checked by hand); keys here leave it out.
  fc.stringMatching(/^[A-Za-z0-9_.-]{1,12}$/).filter((key) => key !== "__proto__"),
  // The W3C baggage propagator drops entries with empty values.
  fc.string({ minLength: 1, maxLength: 20 }),
  { maxKeys: 4, noNullPrototype: true },
);

// What a broker hands a consumer: every value as bytes, in either shape.
function asConsumed(headers: KafkaHeaders, shape: "object" | "list", bytes: boolean): KafkaHeaders {
  const pairs: [string, string][] = Array.isArray(headers)
    ? headers.flatMap((entry) => Object.entries(entry) as [string, string][])
    : Object.entries(headers as Record<string, string>);
  const encode = (value: string) => (bytes ? Buffer.from(value, "utf8") : value);
  if (shape === "list") return pairs.map(([k, v]) => ({ [k]: encode(v) })) as KafkaHeaderList;
  return Object.fromEntries(pairs.map(([k, v]) => [k, encode(v)])) as KafkaHeaderObject;
}

describe("kafka headers properties", () => {
  it("extractKafkaHeaders(injectKafkaHeaders()) round-trips span context, trace state and baggage", () => {
    fc.assert(
      fc.property(
        spanContextArbitrary,
        traceStateArbitrary,
        baggageArbitrary,
        fc.constantFrom("object" as const, "list" as const),
        fc.constantFrom("object" as const, "list" as const),
        fc.boolean(),
        (spanContext, state, entries, produceShape, consumeShape, bytes) => {
          const traceState = state === undefined
            ? undefined
            : new TraceState(Object.entries(state).map(([k, v]) => `${k}=${v}`).join(","));
          let ctx = trace.setSpanContext(ROOT_CONTEXT, traceState ? { ...spanContext, traceState } : spanContext);
          const baggageEntries = Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, { value: v }]));
          if (Object.keys(entries).length > 0) {
            ctx = propagation.setBaggage(ctx, propagation.createBaggage(baggageEntries));
          }
          const produced = injectKafkaHeaders(produceShape === "list" ? [] : {}, ctx);
          const extracted = extractKafkaHeaders(asConsumed(produced, consumeShape, bytes));
          const got = trace.getSpanContext(extracted);
          assert.equal(got?.traceId, spanContext.traceId);
          assert.equal(got?.spanId, spanContext.spanId);
          assert.equal(got?.traceFlags, spanContext.traceFlags);
          assert.equal(got?.isRemote, true);
          assert.equal(got?.traceState?.serialize(), traceState?.serialize());
          const baggage = propagation.getBaggage(extracted);
          const gotEntries = Object.fromEntries(
            (baggage?.getAllEntries() ?? []).map(([k, v]) => [k, v.value]),
          );
          assert.deepEqual(gotEntries, entries);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("extractKafkaHeaders() never throws on arbitrary input and yields no span from garbage", () => {
    const value = fc.oneof(
      fc.string(),
      fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
      fc.uint8Array({ maxLength: 64 }),
      fc.constant(undefined),
      fc.constant(null),
      fc.anything(),
    );
    const headers = fc.oneof(
      fc.dictionary(
        fc.constantFrom("traceparent", "tracestate", "baggage", "Traceparent", "x"),
        fc.oneof(value, fc.array(value)),
      ),
      fc.array(fc.dictionary(fc.constantFrom("traceparent", "tracestate", "baggage", "x"), value)),
      fc.anything(),
    );
    fc.assert(
      fc.property(headers, (input) => {
        const ctx = extractKafkaHeaders(input as KafkaHeaders);
        const spanContext = trace.getSpanContext(ctx);
        // Random strings essentially never form a valid traceparent; when one
        // does, it must be a valid, remote span context.
        if (spanContext !== undefined) {
          assert.ok(isSpanContextValid(spanContext));
          assert.equal(spanContext.isRemote, true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("extractKafkaHeaders() ignores random bytes appended to a valid traceparent", () => {
    fc.assert(
      fc.property(spanContextArbitrary, fc.uint8Array({ minLength: 1, maxLength: 16 }), (sc, junk) => {
        const traceparent = `00-${sc.traceId}-${sc.spanId}-0${sc.traceFlags}`;
        const bytes = Buffer.concat([Buffer.from(traceparent), Buffer.from([0xff]), junk]);
        const ctx = extractKafkaHeaders({ traceparent: bytes });
        assert.equal(trace.getSpanContext(ctx), undefined);
      }),
      { numRuns: 200 },
    );
  });

  it("kafkaHeadersGetter.get() returns a string or Buffer value exactly when its UTF-8 size is within the limit", () => {
    const text = fc.string({ unit: fc.constantFrom("a", "é", "€", "😀"), minLength: 2000, maxLength: 9000 });
    fc.assert(
      fc.property(text, fc.boolean(), (value, asBytes) => {
        const bytes = Buffer.from(value, "utf8");
        const got = kafkaHeadersGetter.get({ baggage: asBytes ? bytes : value }, "baggage");
        assert.equal(got, bytes.byteLength <= MAX_KAFKA_HEADER_VALUE_BYTES ? value : undefined);
      }),
      { numRuns: 100 },
    );
  });
});

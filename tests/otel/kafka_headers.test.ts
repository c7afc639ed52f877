import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { context, propagation, ROOT_CONTEXT, trace } from "@opentelemetry/api";
import {
  extractKafkaHeaders,
  injectKafkaHeaders,
  kafkaHeadersGetter,
  kafkaHeadersSetter,
  MAX_KAFKA_HEADER_VALUE_BYTES,
} from "../../src/otel/kafka_headers.ts";

const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const SPAN_ID = "b7ad6b7169203331";
const TRACEPARENT = `00-${TRACE_ID}-${SPAN_ID}-01`;

function sampledContext() {
  const span = trace.wrapSpanContext({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1 });
  return trace.setSpan(ROOT_CONTEXT, span);
}

describe("kafka headers", () => {
  it("injectKafkaHeaders() writes traceparent and baggage into a KafkaJS object", () => {
    const baggage = propagation.createBaggage({ tenant: { value: "acme" } });
    const ctx = propagation.setBaggage(sampledContext(), baggage);
    const headers = injectKafkaHeaders({ existing: "x" }, ctx);
    assert.deepEqual(headers, { existing: "x", traceparent: TRACEPARENT, baggage: "tenant=acme" });
  });

  it("injectKafkaHeaders() without headers returns a new object", () => {
    assert.deepEqual(injectKafkaHeaders(undefined, sampledContext()), { traceparent: TRACEPARENT });
  });

  it("injectKafkaHeaders() uses the active context by default", () => {
    const active = sampledContext();
    const manager = {
      active: () => active,
      with: <A extends unknown[], F extends (...args: A) => ReturnType<F>>(
        _ctx: unknown,
        fn: F,
        thisArg?: ThisParameterType<F>,
        ...args: A
      ) => fn.call(thisArg, ...args),
      bind: <T>(_ctx: unknown, target: T) => target,
      enable() {
        return manager;
      },
      disable() {
        return manager;
      },
    };
    assert.equal(context.setGlobalContextManager(manager), true);
    try {
      assert.deepEqual(injectKafkaHeaders({}), { traceparent: TRACEPARENT });
    } finally {
      context.disable();
    }
  });

  it("injectKafkaHeaders() writes nothing for a context without span or baggage", () => {
    assert.deepEqual(injectKafkaHeaders({}, ROOT_CONTEXT), {});
  });

  it("injectKafkaHeaders() appends to an rdkafka list and replaces an old traceparent", () => {
    const headers = [{ traceparent: "00-old" }, { other: Buffer.from("y") }];
    const result = injectKafkaHeaders(headers, sampledContext());
    assert.equal(result, headers);
    assert.deepEqual(headers, [{ other: Buffer.from("y") }, { traceparent: TRACEPARENT }]);
  });

  it("extractKafkaHeaders() reads a Buffer traceparent as a remote parent", () => {
    const ctx = extractKafkaHeaders({ traceparent: Buffer.from(TRACEPARENT) });
    const spanContext = trace.getSpanContext(ctx);
    assert.deepEqual(spanContext, { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1, isRemote: true });
  });

  it("extractKafkaHeaders() reads tracestate and baggage from an rdkafka list of Uint8Arrays", () => {
    const encode = (s: string) => new TextEncoder().encode(s);
    const ctx = extractKafkaHeaders([
      { traceparent: encode(TRACEPARENT) },
      { tracestate: encode("vendor=abc") },
      { baggage: encode("tenant=acme") },
      { baggage: encode("region=eu") },
    ]);
    assert.equal(trace.getSpanContext(ctx)?.traceState?.get("vendor"), "abc");
    const baggage = propagation.getBaggage(ctx);
    assert.equal(baggage?.getEntry("tenant")?.value, "acme");
    assert.equal(baggage?.getEntry("region")?.value, "eu");
  });

  it("extractKafkaHeaders() takes the first traceparent of a KafkaJS array value", () => {
    const other = `00-${TRACE_ID}-${"1".repeat(16)}-00`;
    const ctx = extractKafkaHeaders({ traceparent: [TRACEPARENT, other] });
    assert.equal(trace.getSpanContext(ctx)?.spanId, SPAN_ID);
  });

  it("extractKafkaHeaders() matches a capitalised key", () => {
    const ctx = extractKafkaHeaders({ Traceparent: TRACEPARENT });
    assert.equal(trace.getSpanContext(ctx)?.spanId, SPAN_ID);
  });

  it("extractKafkaHeaders() ignores malformed, non-UTF-8 and oversized values", () => {
    const inputs: unknown[] = [
      { traceparent: "garbage" },
      { traceparent: new Uint8Array([0xff, 0xfe, 0xfd]) },
      { traceparent: 42 },
      { traceparent: { nested: TRACEPARENT } },
      { traceparent: TRACEPARENT + " ".repeat(MAX_KAFKA_HEADER_VALUE_BYTES) },
      { traceparent: Buffer.alloc(MAX_KAFKA_HEADER_VALUE_BYTES + 1, 0x20) },
      [null, 7, "x", [TRACEPARENT]],
      null,
      undefined,
      "traceparent",
      { constructor: TRACEPARENT },
    ];
    for (const headers of inputs) {
      const ctx = extractKafkaHeaders(headers as never);
      assert.equal(trace.getSpanContext(ctx), undefined, JSON.stringify(headers));
    }
  });

  it("extractKafkaHeaders() ignores a baggage value over the byte limit but keeps traceparent", () => {
    const big = "k=" + "é".repeat(MAX_KAFKA_HEADER_VALUE_BYTES / 2); // 2 bytes per é
    const ctx = extractKafkaHeaders({ traceparent: TRACEPARENT, baggage: big });
    assert.equal(propagation.getBaggage(ctx), undefined);
    assert.equal(trace.getSpanContext(ctx)?.spanId, SPAN_ID);
  });

  it("extractKafkaHeaders() returns the given context when a header getter throws", () => {
    const hostile = new Proxy({}, {
      get() {
        throw new Error("boom");
      },
      ownKeys() {
        throw new Error("boom");
      },
    });
    const base = ROOT_CONTEXT.setValue(Symbol("marker"), 1);
    assert.equal(extractKafkaHeaders(hostile as never, base), base);
  });

  it("extractKafkaHeaders() with the global propagation API uses the registered propagator", () => {
    // Nothing registered: the API's no-op propagator extracts nothing.
    const ctx = extractKafkaHeaders({ traceparent: TRACEPARENT }, ROOT_CONTEXT, propagation);
    assert.equal(trace.getSpanContext(ctx), undefined);
  });

  it("kafkaHeadersGetter.keys() lists keys of both shapes", () => {
    assert.deepEqual(kafkaHeadersGetter.keys({ a: "1", b: "2" }), ["a", "b"]);
    assert.deepEqual(kafkaHeadersGetter.keys([{ a: "1" }, { b: "2" }, { a: "3" }]), ["a", "b"]);
  });

  it("kafkaHeadersSetter.set() overwrites a KafkaJS key", () => {
    const headers: Record<string, string> = { traceparent: "old" };
    kafkaHeadersSetter.set(headers, "traceparent", "new");
    assert.deepEqual(headers, { traceparent: "new" });
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { context, ROOT_CONTEXT, SpanKind, trace } from "@opentelemetry/api";
import { extractKafkaHeaders, injectKafkaHeaders, type KafkaHeaderList } from "../../src/otel/kafka_headers.ts";
import { Buffer } from "node:buffer";
import { setupTracing } from "../../src/otel/setup_tracing.ts";
import type { TracingOptions } from "../../src/otel/tracing_options.ts";
import { withSpan } from "../../src/otel/with_span.ts";
import { type ReceivedSpan, spansOf, startOtlpReceiver } from "./_otlp_receiver.ts";

const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const REMOTE_SPAN_ID = "b7ad6b7169203331";
const sampledParent = () => extractKafkaHeaders({ traceparent: `00-${TRACE_ID}-${REMOTE_SPAN_ID}-01` });
const unsampledParent = () => extractKafkaHeaders({ traceparent: `00-${TRACE_ID}-${REMOTE_SPAN_ID}-00` });

/** Sets tracing up against a fresh receiver, runs `work`, shuts down, returns the exported spans. */
async function exportedSpans(
  options: TracingOptions,
  work: () => Promise<void> | void,
): Promise<{ spans: ReceivedSpan[]; paths: string[]; headers: Record<string, unknown>[] }> {
  const receiver = await startOtlpReceiver();
  try {
    const tracing = await setupTracing({
      url: receiver.url("/v1/traces"),
      env: {},
      scheduledDelayMillis: 20,
      ...options,
    });
    try {
      await work();
    } finally {
      await tracing.shutdown();
    }
    return {
      spans: spansOf(receiver.requests),
      paths: receiver.requests.map((r) => r.path),
      headers: receiver.requests.map((r) => r.headers),
    };
  } finally {
    await receiver.close();
  }
}

describe("setupTracing", () => {
  it("setupTracing() exports nested withSpan() spans with parent ids, status and service.name", async () => {
    const thrown = new Error("card declined");
    const { spans, paths } = await exportedSpans({
      serviceName: "checkout",
      resourceAttributes: { "deployment.environment": "test" },
    }, async () => {
      await withSpan("handle order", async () => {
        await new Promise((resolve) => setTimeout(resolve, 2));
        withSpan("load cart", () => 1, { kind: SpanKind.CLIENT, attributes: { "cart.items": 3 } });
        await assert.rejects(
          withSpan("charge card", async () => {
            await Promise.resolve();
            throw thrown;
          }),
          (error) => error === thrown,
        );
      });
    });
    assert.ok(paths.length > 0 && paths.every((p) => p === "/v1/traces"));
    const byName = new Map(spans.map((s) => [s.name, s]));
    assert.deepEqual([...byName.keys()].sort(), ["charge card", "handle order", "load cart"]);
    const root = byName.get("handle order")!;
    const cart = byName.get("load cart")!;
    const charge = byName.get("charge card")!;
    assert.equal(root.parentSpanId, undefined);
    assert.equal(cart.parentSpanId, root.spanId);
    assert.equal(charge.parentSpanId, root.spanId);
    assert.equal(cart.traceId, root.traceId);
    assert.equal(cart.kind, 3); // SPAN_KIND_CLIENT in OTLP
    assert.equal(root.status.code ?? 0, 0);
    assert.equal(charge.status.code, 2); // STATUS_CODE_ERROR
    assert.equal(charge.status.message, "card declined");
    assert.deepEqual(charge.events.map((e) => e.name), ["exception"]);
    assert.equal(root.resource["service.name"], "checkout");
    assert.equal(root.resource["deployment.environment"], "test");
  });

  it("setupTracing() exports a consumer span parented through Kafka headers to the producer span", async () => {
    const { spans } = await exportedSpans({ serviceName: "pipeline" }, async () => {
      // Producer: inject inside the send span; the broker hands the consumer Buffers.
      const produced = withSpan("orders send", () => injectKafkaHeaders([] as KafkaHeaderList), {
        kind: SpanKind.PRODUCER,
      });
      const consumed = produced.map((entry) =>
        Object.fromEntries(Object.entries(entry).map(([k, v]) => [k, Buffer.from(String(v))]))
      );
      await withSpan("orders process", async () => {
        await Promise.resolve();
      }, { parent: extractKafkaHeaders(consumed), kind: SpanKind.CONSUMER });
    });
    const send = spans.find((s) => s.name === "orders send")!;
    const processing = spans.find((s) => s.name === "orders process")!;
    assert.equal(processing.traceId, send.traceId);
    assert.equal(processing.parentSpanId, send.spanId);
    assert.equal(send.kind, 4); // SPAN_KIND_PRODUCER
    assert.equal(processing.kind, 5); // SPAN_KIND_CONSUMER
  });

  it("setupTracing() reads endpoint, headers and service name from the env option", async () => {
    const receiver = await startOtlpReceiver();
    try {
      const tracing = await setupTracing({
        env: {
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url(""),
          OTEL_EXPORTER_OTLP_HEADERS: "x-api-key=s%20ecret",
          OTEL_SERVICE_NAME: "from-env",
        },
        scheduledDelayMillis: 20,
      });
      withSpan("env span", () => undefined);
      await tracing.shutdown();
      const spans = spansOf(receiver.requests);
      assert.deepEqual(spans.map((s) => s.name), ["env span"]);
      assert.equal(spans[0]?.resource["service.name"], "from-env");
      assert.equal(receiver.requests[0]?.path, "/v1/traces");
      assert.equal(receiver.requests[0]?.headers["x-api-key"], "s ecret");
    } finally {
      await receiver.close();
    }
  });

  it("setupTracing() posts to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is", async () => {
    const receiver = await startOtlpReceiver();
    try {
      const tracing = await setupTracing({
        env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.url("/custom/traces") },
        scheduledDelayMillis: 20,
      });
      withSpan("custom path", () => undefined);
      await tracing.shutdown();
      assert.deepEqual(receiver.requests.map((r) => r.path), ["/custom/traces"]);
    } finally {
      await receiver.close();
    }
  });

  it("setupTracing() forceFlush() exports ended spans before shutdown", async () => {
    const receiver = await startOtlpReceiver();
    const tracing = await setupTracing({ url: receiver.url("/v1/traces"), env: {}, scheduledDelayMillis: 60_000 });
    try {
      withSpan("flushed", () => undefined);
      await tracing.forceFlush();
      assert.deepEqual(spansOf(receiver.requests).map((s) => s.name), ["flushed"]);
    } finally {
      await tracing.shutdown();
      await tracing.shutdown(); // idempotent
      await receiver.close();
    }
  });

  it("setupTracing() with always_off exports no spans", async () => {
    const { spans } = await exportedSpans({ sampler: "always_off" }, () => {
      withSpan("dropped", () => withSpan("child", () => undefined));
      withSpan("remote child", () => undefined, { parent: sampledParent() });
    });
    assert.deepEqual(spans, []);
  });

  it("setupTracing() with always_on exports spans even under an unsampled parent", async () => {
    const { spans } = await exportedSpans({ sampler: "always_on" }, () => {
      withSpan("root", () => undefined);
      withSpan("remote child", () => undefined, { parent: unsampledParent() });
    });
    assert.deepEqual(spans.map((s) => s.name).sort(), ["remote child", "root"]);
  });

  it("setupTracing() with traceidratio 0 exports nothing and with ratio 1 everything", async () => {
    const none = await exportedSpans({ sampler: "traceidratio", samplerRatio: 0 }, () => {
      for (let i = 0; i < 20; i++) withSpan(`span ${i}`, () => undefined);
    });
    assert.equal(none.spans.length, 0);
    const all = await exportedSpans(
      { env: { OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "1" } },
      () => {
        for (let i = 0; i < 20; i++) withSpan(`span ${i}`, () => undefined);
      },
    );
    assert.equal(all.spans.length, 20);
  });

  it("setupTracing() with parentbased_always_on follows a remote parent's sampled flag", async () => {
    const { spans } = await exportedSpans({ sampler: "parentbased_always_on" }, () => {
      withSpan("root", () => undefined);
      withSpan("under sampled", () => undefined, { parent: sampledParent() });
      withSpan("under unsampled", () => undefined, { parent: unsampledParent() });
    });
    assert.deepEqual(spans.map((s) => s.name).sort(), ["root", "under sampled"]);
    const child = spans.find((s) => s.name === "under sampled")!;
    assert.equal(child.traceId, TRACE_ID);
    assert.equal(child.parentSpanId, REMOTE_SPAN_ID);
  });

  it("setupTracing() with parentbased_always_off samples only under a sampled parent", async () => {
    const { spans } = await exportedSpans({ sampler: "parentbased_always_off" }, () => {
      withSpan("root", () => withSpan("child of unsampled root", () => undefined));
      withSpan("under sampled", () => withSpan("grandchild", () => undefined), { parent: sampledParent() });
      withSpan("under unsampled", () => undefined, { parent: unsampledParent() });
    });
    assert.deepEqual(spans.map((s) => s.name).sort(), ["grandchild", "under sampled"]);
  });

  it("setupTracing() with parentbased_traceidratio 0 drops roots but keeps sampled parents' children", async () => {
    const { spans } = await exportedSpans({ sampler: "parentbased_traceidratio", samplerRatio: 0 }, () => {
      withSpan("root", () => undefined);
      withSpan("under sampled", () => undefined, { parent: sampledParent() });
    });
    assert.deepEqual(spans.map((s) => s.name), ["under sampled"]);
  });

  it("setupTracing() with global false leaves the global tracer a no-op", async () => {
    const receiver = await startOtlpReceiver();
    const tracing = await setupTracing({
      url: receiver.url("/v1/traces"),
      env: {},
      global: false,
      scheduledDelayMillis: 20,
    });
    try {
      assert.equal(tracing.global, false);
      withSpan("global tracer", () => undefined); // no provider registered: not exported
      withSpan("own tracer", () => undefined, { tracer: tracing.tracer("test") });
      await tracing.shutdown();
      assert.deepEqual(spansOf(receiver.requests).map((s) => s.name), ["own tracer"]);
    } finally {
      await tracing.shutdown();
      await receiver.close();
    }
  });

  it("setupTracing() refuses a second global set-up until the first shuts down", async () => {
    const first = await setupTracing({ url: "http://127.0.0.1:9/v1/traces", env: {}, sampler: "always_off" });
    try {
      await assert.rejects(
        setupTracing({ url: "http://127.0.0.1:9/v1/traces", env: {} }),
        /found a tracer provider already registered/,
      );
    } finally {
      await first.shutdown();
    }
    const second = await setupTracing({ url: "http://127.0.0.1:9/v1/traces", env: {}, sampler: "always_off" });
    assert.equal(second.global, true);
    await second.shutdown();
    // Shut down: the globals are back to no-ops.
    assert.equal(trace.getSpan(context.active()), undefined);
    assert.equal(trace.getTracer("x").startSpan("y").isRecording(), false);
  });

  it("setupTracing() rejects with an error naming a bad variable", async () => {
    await assert.rejects(
      setupTracing({ env: { OTEL_TRACES_SAMPLER: "sometimes" } }),
      /Variable OTEL_TRACES_SAMPLER must be one of/,
    );
    await assert.rejects(setupTracing({ env: { OTEL_TRACES_SAMPLER_ARG: "x" } }), /Variable OTEL_TRACES_SAMPLER_ARG/);
    await assert.rejects(
      setupTracing({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: "::" } }),
      /Variable OTEL_EXPORTER_OTLP_ENDPOINT/,
    );
    // Nothing was registered by the failed calls.
    assert.equal(trace.getTracer("x").startSpan("y", {}, ROOT_CONTEXT).isRecording(), false);
  });
});

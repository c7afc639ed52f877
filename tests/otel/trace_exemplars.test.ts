import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { context, ROOT_CONTEXT, trace, type Tracer } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { AlwaysOffSampler, AlwaysOnSampler, BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import { Registry } from "../../src/registry.ts";
import { traceExemplars } from "../../src/otel/trace_exemplars.ts";
import { withSpan } from "../../src/otel/with_span.ts";

function tracerWith(sampler: "on" | "off"): Tracer {
  const provider = new BasicTracerProvider({
    sampler: sampler === "on" ? new AlwaysOnSampler() : new AlwaysOffSampler(),
  });
  return provider.getTracer("exemplar-test");
}

async function withContextManager<T>(fn: () => Promise<T> | T): Promise<T> {
  assert.equal(context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable()), true);
  try {
    return await fn();
  } finally {
    context.disable();
  }
}

const EXEMPLAR = /# \{trace_id="([0-9a-f]{32})",span_id="([0-9a-f]{16})"\} (\S+) (\d+(?:\.\d+)?)$/;

describe("traceExemplars", () => {
  it("traceExemplars() puts the sampled span's ids into the OpenMetrics bucket exemplar", async () => {
    const registry = new Registry({ exemplars: traceExemplars() });
    const latency = registry.histogram({ name: "latency_seconds", help: "Latency", buckets: [0.1, 1] });
    const tracer = tracerWith("on");
    const ids = await withContextManager(() =>
      withSpan("request", async (span) => {
        await Promise.resolve();
        latency.observe(0.25);
        return span.spanContext();
      }, { tracer })
    );
    const line = registry.render("openmetrics").split("\n").find((l) => l.startsWith('latency_seconds_bucket{le="1"}'));
    const match = line?.match(EXEMPLAR);
    assert.ok(match, `no exemplar in ${line}`);
    assert.equal(match[1], ids.traceId);
    assert.equal(match[2], ids.spanId);
    assert.equal(Number(match[3]), 0.25);
    assert.ok(Math.abs(Number(match[4]) - Date.now() / 1000) < 60);
  });

  it("traceExemplars() gives no exemplar outside a span", () => {
    const registry = new Registry({ exemplars: traceExemplars() });
    const jobs = registry.counter({ name: "jobs_total", help: "Jobs" });
    jobs.inc();
    assert.equal(traceExemplars()(), undefined);
    assert.doesNotMatch(registry.render("openmetrics"), /trace_id/);
  });

  it("traceExemplars() gives no exemplar inside an unsampled span", async () => {
    const registry = new Registry({ exemplars: traceExemplars() });
    const jobs = registry.counter({ name: "jobs_total", help: "Jobs" });
    await withContextManager(() =>
      withSpan("unsampled", () => {
        const spanContext = trace.getActiveSpan()?.spanContext();
        assert.equal(spanContext?.traceFlags, 0); // a valid but unsampled span is active
        jobs.inc();
      }, { tracer: tracerWith("off") })
    );
    assert.doesNotMatch(registry.render("openmetrics"), /trace_id/);
  });

  it("traceExemplars() on one metric leaves the registry's other metrics without exemplars", async () => {
    const registry = new Registry();
    const traced = registry.counter({ name: "traced_total", help: "Traced", exemplars: traceExemplars() });
    const plain = registry.counter({ name: "plain_total", help: "Plain" });
    await withContextManager(() =>
      withSpan("work", () => {
        traced.inc();
        plain.inc();
      }, { tracer: tracerWith("on") })
    );
    const text = registry.render("openmetrics");
    assert.match(text, /^traced_total 1 # \{trace_id="[0-9a-f]{32}",span_id="[0-9a-f]{16}"\} 1 /m);
    assert.match(text, /^plain_total 1$/m);
  });

  it("traceExemplars() ignores an invalid span context", () => {
    const invalid = trace.wrapSpanContext({ traceId: "0".repeat(32), spanId: "0".repeat(16), traceFlags: 1 });
    const provider = traceExemplars();
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    try {
      context.with(trace.setSpan(ROOT_CONTEXT, invalid), () => assert.equal(provider(), undefined));
      const valid = trace.wrapSpanContext({ traceId: "1".repeat(32), spanId: "2".repeat(16), traceFlags: 1 });
      context.with(
        trace.setSpan(ROOT_CONTEXT, valid),
        () => assert.deepEqual(provider(), { trace_id: "1".repeat(32), span_id: "2".repeat(16) }),
      );
    } finally {
      context.disable();
    }
  });
});

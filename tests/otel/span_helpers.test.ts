import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { context, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { Registry } from "../../src/registry.ts";
import { startSpan } from "../../src/otel/start_span.ts";
import { withSpan } from "../../src/otel/with_span.ts";

function inMemoryTracing() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { exporter, tracer: provider.getTracer("test") };
}

/** Runs `fn` with an AsyncLocalStorage context manager registered, then unregisters it. */
async function withContextManager(fn: () => Promise<void> | void): Promise<void> {
  const manager = new AsyncLocalStorageContextManager().enable();
  assert.equal(context.setGlobalContextManager(manager), true);
  try {
    await fn();
  } finally {
    context.disable();
  }
}

describe("span helpers", () => {
  it("withSpan() returns fn's value, ends the span and passes it to fn", () => {
    const { exporter, tracer } = inMemoryTracing();
    let seen: unknown;
    const result = withSpan("sync work", (span) => {
      seen = span;
      return 42;
    }, { tracer, attributes: { answer: true } });
    assert.equal(result, 42);
    const [span] = exporter.getFinishedSpans();
    assert.equal(span?.name, "sync work");
    assert.equal(span?.attributes["answer"], true);
    assert.equal(span?.status.code, SpanStatusCode.UNSET);
    assert.equal(span?.spanContext().spanId, (seen as { spanContext(): { spanId: string } }).spanContext().spanId);
  });

  it("withSpan() on a sync throw records the exception, sets ERROR and rethrows the same value", () => {
    const { exporter, tracer } = inMemoryTracing();
    const thrown = new TypeError("bad input");
    assert.throws(() =>
      withSpan("fails", () => {
        throw thrown;
      }, { tracer }), (error) => error === thrown);
    const [span] = exporter.getFinishedSpans();
    assert.equal(span?.status.code, SpanStatusCode.ERROR);
    assert.equal(span?.status.message, "bad input");
    assert.equal(span?.events[0]?.name, "exception");
    assert.equal(span?.events[0]?.attributes?.["exception.type"], "TypeError");
  });

  it("withSpan() on a thrown non-Error records its string form and rethrows it", () => {
    const { exporter, tracer } = inMemoryTracing();
    assert.throws(() =>
      withSpan("fails", () => {
        throw "plain string";
      }, { tracer }), (error) => error === "plain string");
    assert.equal(exporter.getFinishedSpans()[0]?.status.message, "plain string");
  });

  it("withSpan() ends an async span only when its promise settles", async () => {
    const { exporter, tracer } = inMemoryTracing();
    let release!: () => void;
    const pending = withSpan("async work", () => new Promise<string>((resolve) => (release = () => resolve("done"))), {
      tracer,
    });
    await Promise.resolve();
    assert.equal(exporter.getFinishedSpans().length, 0);
    release();
    assert.equal(await pending, "done");
    assert.equal(exporter.getFinishedSpans().length, 1);
  });

  it("withSpan() on a rejection marks ERROR and rejects with the same value", async () => {
    const { exporter, tracer } = inMemoryTracing();
    const thrown = new Error("later");
    await assert.rejects(
      withSpan("async fails", async () => {
        await Promise.resolve();
        throw thrown;
      }, { tracer }),
      (error) => error === thrown,
    );
    assert.equal(exporter.getFinishedSpans()[0]?.status.code, SpanStatusCode.ERROR);
  });

  it("withSpan() makes the span active so nested spans are its children across await", async () => {
    const { exporter, tracer } = inMemoryTracing();
    await withContextManager(async () => {
      await withSpan("parent", async () => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        await withSpan("child", async () => {
          await Promise.resolve();
          assert.ok(trace.getActiveSpan()?.isRecording());
        }, { tracer });
      }, { tracer });
    });
    const spans = exporter.getFinishedSpans();
    const parent = spans.find((s) => s.name === "parent")!;
    const child = spans.find((s) => s.name === "child")!;
    assert.equal(child.parentSpanContext?.spanId, parent.spanContext().spanId);
  });

  it("withSpan() observes the duration in seconds into a labelled histogram, also on throw", () => {
    const { tracer } = inMemoryTracing();
    const registry = new Registry();
    const seconds = registry.histogram({
      name: "job_seconds",
      help: "Jobs",
      labelNames: ["job"] as const,
      buckets: [0.5, 10],
    });
    withSpan("fast", () => undefined, { tracer, histogram: seconds, histogramLabels: { job: "fast" } });
    assert.throws(() =>
      withSpan("slow", () => {
        const until = performance.now() + 20;
        while (performance.now() < until) { /* busy: a measurable duration */ }
        throw new Error("x");
      }, { tracer, histogram: seconds, histogramLabels: { job: "slow" } })
    );
    assert.equal(seconds.labels({ job: "fast" }).count(), 1);
    const slow = seconds.labels({ job: "slow" });
    assert.equal(slow.count(), 1);
    assert.ok(slow.sum() >= 0.019 && slow.sum() < 0.5, `sum ${slow.sum()}`);
  });

  it("withSpan() observes into an unlabelled histogram", async () => {
    const registry = new Registry();
    const seconds = registry.histogram({ name: "op_seconds", help: "Ops" });
    await withSpan("op", () => Promise.resolve(undefined), { histogram: seconds });
    assert.match(registry.render(), /^op_seconds_count 1$/m);
  });

  it("startSpan() with using ends the span when the block leaves, once", () => {
    const { exporter, tracer } = inMemoryTracing();
    let handle;
    {
      using span = startSpan("guarded", { tracer });
      handle = span;
      assert.equal(exporter.getFinishedSpans().length, 0);
    }
    assert.equal(exporter.getFinishedSpans().length, 1);
    const first = handle.end();
    handle[Symbol.dispose]();
    assert.equal(handle.end(), first);
    assert.equal(exporter.getFinishedSpans().length, 1);
  });

  it("startSpan() with using ends the span when the block throws, and fail() marks it", () => {
    const { exporter, tracer } = inMemoryTracing();
    assert.throws(() => {
      using span = startSpan("guarded failure", { tracer });
      try {
        throw new Error("inside");
      } catch (error) {
        span.fail(error);
        throw error;
      }
    }, /inside/);
    const [span] = exporter.getFinishedSpans();
    assert.equal(span?.status.code, SpanStatusCode.ERROR);
    assert.equal(span?.ended, true);
  });

  it("startSpan() does not activate its span but exposes its context for context.with()", async () => {
    const { exporter, tracer } = inMemoryTracing();
    await withContextManager(() => {
      const handle = startSpan("outer", { tracer });
      assert.equal(trace.getActiveSpan(), undefined);
      context.with(handle.context, () => withSpan("inner", () => undefined, { tracer }));
      handle.end();
    });
    const spans = exporter.getFinishedSpans();
    const outer = spans.find((s) => s.name === "outer")!;
    assert.equal(spans.find((s) => s.name === "inner")?.parentSpanContext?.spanId, outer.spanContext().spanId);
  });

  it("startSpan() observes its duration into the histogram once", () => {
    const registry = new Registry();
    const seconds = registry.histogram({ name: "guard_seconds", help: "Guard" });
    const handle = startSpan("timed", { histogram: seconds });
    const elapsed = handle.end();
    handle.end();
    assert.ok(elapsed >= 0);
    assert.equal(seconds.labels({}).count(), 1);
    assert.equal(seconds.labels({}).sum(), elapsed);
  });
});

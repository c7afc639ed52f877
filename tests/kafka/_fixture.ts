/**
 * Shared pieces of the Kafka integration tests: in-memory tracing with an
 * AsyncLocalStorage context manager, polling, and metric read-outs.
 * Node only (the client is a native addon).
 */
import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import type { Tracer } from "@opentelemetry/api";
import type { Registry } from "../../src/registry.ts";

export interface Tracing {
  exporter: InMemorySpanExporter;
  tracer: Tracer;
  stop(): void;
}

/** A tracer whose finished spans land in memory, with async context propagation on. */
export function startTracing(): Tracing {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  return {
    exporter,
    tracer: provider.getTracer("kafka-test"),
    stop(): void {
      context.disable();
    },
  };
}

/** Polls `check` every 25 ms until it returns true; fails after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The sample count of a histogram series (0 when the series does not exist). */
export function histogramCount(registry: Registry, name: string, labels: Record<string, string>): number {
  const family = registry.collect().find((m) => m.name === name);
  const series = family?.series.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return series?.count ?? 0;
}

/** Spans of one name, in end order. */
export function spansNamed(exporter: InMemorySpanExporter, name: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((span) => span.name === name);
}

/** UTF-8 byte length, the way the byte counters count message values. */
export function utf8Bytes(value: string): number {
  return new TextEncoder().encode(value).byteLength;
}

/** Payloads of mixed sizes and scripts, so byte counts differ from character counts. */
export function payloads(n: number, tag: string): string[] {
  return Array.from({ length: n }, (_, i) => `${tag}-${i}-${"é".repeat(i)}-${"x".repeat(10 * i)}`);
}

/**
 * Exemplars from the active trace: an observation made inside a sampled span
 * carries that span's `trace_id` and `span_id`, so a slow histogram bucket
 * links to a trace that was actually kept.
 *
 * @module
 */

import { context, isSpanContextValid, trace, TraceFlags } from "@opentelemetry/api";
import type { ExemplarProvider } from "../_family.ts";

function activeTraceExemplar(): Record<string, string> | undefined {
  const spanContext = trace.getSpanContext(context.active());
  // Unsampled spans are not exported: an exemplar pointing at one would dangle.
  if (
    spanContext === undefined || (spanContext.traceFlags & TraceFlags.SAMPLED) === 0 ||
    !isSpanContextValid(spanContext)
  ) {
    return undefined;
  }
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}

/**
 * An exemplar provider that returns `{ trace_id, span_id }` of the active
 * span when it is valid and sampled, and `undefined` otherwise. Give it to a
 * registry (every metric) or to one metric; metrics without it pay nothing.
 * Needs a registered context manager (see `setupTracing`) for the active
 * span to be known across `await`.
 *
 * @returns The provider.
 *
 * @example Link histogram buckets to traces
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * import { traceExemplars } from "@atomic/metrics/otel";
 *
 * const registry = new Registry({ exemplars: traceExemplars() });
 * const latency = registry.histogram({ name: "latency_seconds", help: "Latency" });
 * latency.observe(0.2); // outside any span: no exemplar
 * if (registry.render("openmetrics").includes("trace_id")) throw new Error("unexpected exemplar");
 * ```
 */
export function traceExemplars(): ExemplarProvider {
  return activeTraceExemplar;
}

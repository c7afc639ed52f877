/**
 * Runs a function inside an active span that ends however the function
 * leaves.
 *
 * @module
 */

import { context as contextApi, type Span } from "@opentelemetry/api";
import { type SpanOptions, startSpan } from "./start_span.ts";

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === "object" || typeof value === "function") && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}

/**
 * Runs `fn` in a new active span, a child of the active context (or of
 * `options.parent`). The span ends when `fn` returns, or when the promise it
 * returns settles; if `fn` throws or rejects, the span records the exception
 * and gets ERROR status, and the error is rethrown unchanged. With
 * `options.histogram`, the duration in seconds is observed into it (inside
 * the span's context, so a trace exemplar points at this span).
 *
 * @param name The span name.
 * @param fn The work; receives the span. Sync or async.
 * @param options The tracer, kind, attributes, parent and histogram.
 * @returns What `fn` returns (the same promise chain when async).
 * @throws Whatever `fn` throws.
 *
 * @example Time a job and trace it
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * import { withSpan } from "@atomic/metrics/otel";
 *
 * const registry = new Registry();
 * const jobSeconds = registry.histogram({ name: "job_seconds", help: "Job time", labelNames: ["job"] as const });
 * const sum = await withSpan("add", async () => 1 + 2, { histogram: jobSeconds, histogramLabels: { job: "add" } });
 * if (sum !== 3 || jobSeconds.labels({ job: "add" }).count() !== 1) throw new Error("not timed");
 * ```
 */
export function withSpan<T, L extends string = string>(
  name: string,
  fn: (span: Span) => T,
  options: SpanOptions<L> = {},
): T {
  const handle = startSpan(name, options);
  let result: T;
  try {
    result = contextApi.with(handle.context, fn, undefined, handle.span);
  } catch (error) {
    handle.fail(error);
    handle.end();
    throw error;
  }
  if (!isPromiseLike(result)) {
    handle.end();
    return result;
  }
  return Promise.resolve(result).then(
    (value) => {
      handle.end();
      return value;
    },
    (error: unknown) => {
      handle.fail(error);
      handle.end();
      throw error;
    },
  ) as T;
}

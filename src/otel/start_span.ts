/**
 * {@linkcode startSpan} and its {@linkcode SpanHandle}: a started span that
 * ends exactly once — on `end()` or when a `using` block leaves — and can
 * time itself into a histogram.
 *
 * @module
 */

import {
  type Attributes,
  type Context,
  context as contextApi,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import type { Histogram } from "../histogram.ts";
import type { Labels } from "../labels.ts";

/** The instrumentation name of the tracer used when none is passed. */
export const TRACER_NAME = "atomic-metrics";

/** Options of {@linkcode startSpan} and {@linkcode withSpan}. */
export interface SpanOptions<L extends string = string> {
  /**
   * The tracer that starts the span.
   * @default {trace.getTracer("atomic-metrics")} (the global provider's)
   */
  tracer?: Tracer;
  /**
   * The span kind.
   * @default {SpanKind.INTERNAL}
   */
  kind?: SpanKind;
  /** Attributes set when the span starts. */
  attributes?: Attributes;
  /**
   * The parent context.
   * @default {context.active()}
   */
  parent?: Context;
  /** A histogram that receives the span's duration in seconds when it ends. */
  histogram?: Histogram<L>;
  /** The histogram's labels, when it has any. */
  histogramLabels?: Labels<L>;
}

/** A started span that ends once, usable with `using`. */
export interface SpanHandle {
  /** The span. */
  readonly span: Span;
  /** The parent context with this span set: pass it to `context.with()` to make the span active. */
  readonly context: Context;
  /** Records an error on the span: the exception event and ERROR status. */
  fail(error: unknown): void;
  /**
   * Ends the span (and observes its duration) the first time; later calls do nothing.
   * @returns The span's duration in seconds, the same on every call.
   */
  end(): number;
  /** Same as `end()`, for `using`. */
  [Symbol.dispose](): void;
}

/** Records an exception event and ERROR status, for any thrown value. */
function recordFailure(span: Span, error: unknown): void {
  if (error instanceof Error) {
    span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  } else {
    span.recordException(String(error));
    span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
  }
}

/**
 * Starts a span, a child of the active context (or of `parent`), without
 * making it active. End it with `end()` or let a `using` declaration end it;
 * either way it ends once, and its duration goes into `histogram` if given.
 * Call `fail(error)` before it ends to mark it failed.
 *
 * @param name The span name.
 * @param options The tracer, kind, attributes, parent and histogram.
 * @returns The handle.
 *
 * @example End a span when a block leaves
 * ```ts
 * import { startSpan } from "@atomic/metrics/otel";
 *
 * let handle;
 * {
 *   using span = startSpan("load config");
 *   handle = span;
 *   span.span.setAttribute("files", 3);
 * }
 * if (handle.end() !== handle.end()) throw new Error("ended twice"); // already ended: same duration
 * ```
 */
export function startSpan<L extends string = string>(
  name: string,
  options: SpanOptions<L> = {},
): SpanHandle {
  const tracer = options.tracer ?? trace.getTracer(TRACER_NAME);
  const parent = options.parent ?? contextApi.active();
  const started = performance.now();
  const span = tracer.startSpan(
    name,
    { kind: options.kind ?? SpanKind.INTERNAL, ...(options.attributes ? { attributes: options.attributes } : {}) },
    parent,
  );
  let seconds: number | undefined;
  const end = (): number => {
    if (seconds !== undefined) return seconds;
    seconds = (performance.now() - started) / 1000;
    span.end();
    const histogram = options.histogram;
    if (histogram !== undefined) {
      const value = seconds;
      const labels = options.histogramLabels;
      // Observed inside the span's context, so a trace exemplar points at this span.
      contextApi.with(spanContext, () => {
        if (labels === undefined) histogram.observe(value);
        else histogram.observe(labels, value);
      });
    }
    return seconds;
  };
  const spanContext = trace.setSpan(parent, span);
  return {
    span,
    context: spanContext,
    fail: (error: unknown): void => recordFailure(span, error),
    end,
    [Symbol.dispose]: (): void => {
      end();
    },
  };
}

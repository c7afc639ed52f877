/**
 * The propagator atomic-metrics uses unless told otherwise: W3C Trace Context
 * (`traceparent`, `tracestate`) plus W3C Baggage (`baggage`). One instance,
 * shared by the Kafka header helpers and the global set-up.
 */

import type { TextMapPropagator } from "@opentelemetry/api";
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";

/** W3C Trace Context + W3C Baggage. */
export const w3cPropagator: TextMapPropagator = new CompositePropagator({
  propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
});

// The 100k series the streaming end-to-end test serves from every runtime, and values
// Prometheus must then hold for some of them. Shared by the in-process Node server and by
// stream_fixture.ts under Deno and Bun.
import { Registry } from "../../src/registry.ts";

/** Series of each metric: counters, gauges, histograms (6 samples each). */
export const LARGE = { counters: 90_000, gauges: 9_000, histograms: 1_000 } as const;

/** Samples of the recorded metrics (self-metrics apart). */
export const LARGE_SAMPLES: number = LARGE.counters + LARGE.gauges + LARGE.histograms * 6;

/** PromQL selectors (without the job matcher) and the value each must have. */
export const LARGE_EXPECTED: readonly { selector: string; value: number }[] = [
  { selector: 'e2e_stream_requests_total{route="/r/0",code="c0"}', value: 0 },
  { selector: 'e2e_stream_requests_total{route="/r/17",code="c42"}', value: 42 * 900 + 17 },
  { selector: 'e2e_stream_requests_total{route="/r/899",code="c99"}', value: 89_999 },
  { selector: 'e2e_stream_queue_depth{shard="s8999"}', value: -8999 / 4 },
  { selector: 'e2e_stream_latency_seconds_bucket{route="/r/7",le="0.5"}', value: 2 },
  { selector: 'e2e_stream_latency_seconds_bucket{route="/r/7",le="+Inf"}', value: 4 },
  { selector: 'e2e_stream_latency_seconds_count{route="/r/7"}', value: 4 },
];

/** A registry holding the 100k series. */
export function largeRegistry(): Registry {
  const registry = new Registry({ maxSeries: 110_000 });
  const requests = registry.counter({
    name: "e2e_stream_requests_total",
    help: "Requests.",
    labelNames: ["route", "code"] as const,
  });
  for (let i = 0; i < LARGE.counters; i++) requests.inc({ route: `/r/${i % 900}`, code: `c${Math.floor(i / 900)}` }, i);
  const depth = registry.gauge({ name: "e2e_stream_queue_depth", help: "Depth.", labelNames: ["shard"] as const });
  for (let i = 0; i < LARGE.gauges; i++) depth.set({ shard: `s${i}` }, -i / 4);
  const latency = registry.histogram({
    name: "e2e_stream_latency_seconds",
    help: "Latency.",
    labelNames: ["route"] as const,
    buckets: [0.1, 0.5, 1],
  });
  for (let i = 0; i < LARGE.histograms; i++) {
    for (const seconds of [0.05, 0.3, 0.7, 2]) latency.observe({ route: `/r/${i}` }, seconds);
  }
  return registry;
}

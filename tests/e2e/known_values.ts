// The series every end-to-end target records, and the values Prometheus must
// then hold for them. Shared by the in-process Node servers and by
// serve_fixture.ts under Deno and Bun.
import { Registry } from "../../src/registry.ts";

/** Histogram bucket bounds of `e2e_latency_seconds`. */
export const LATENCY_BUCKETS: number[] = [0.1, 0.5, 1];

/** What Prometheus must report for each target, by PromQL selector (without the job matcher). */
export const EXPECTED = {
  counters: [
    { selector: 'e2e_jobs_total{kind="a"}', value: 3 },
    { selector: 'e2e_jobs_total{kind="b"}', value: 1.5 },
  ],
  gauge: { selector: "e2e_temperature_celsius", value: -4.25 },
  // Cumulative counts by upper bound, as Prometheus stores `_bucket`.
  buckets: new Map<number, number>([[0.1, 1], [0.5, 3], [1, 3], [Infinity, 4]]),
  histogramCount: 4,
  histogramSum: 2.65,
};

/** A registry holding the known series. */
export function knownRegistry(): Registry {
  const registry = new Registry();
  const jobs = registry.counter({ name: "e2e_jobs_total", help: "Jobs done.", labelNames: ["kind"] as const });
  jobs.inc({ kind: "a" }, 2);
  jobs.inc({ kind: "a" });
  jobs.inc({ kind: "b" }, 1.5);
  registry.gauge({ name: "e2e_temperature_celsius", help: "Temperature." }).set(-4.25);
  const latency = registry.histogram({ name: "e2e_latency_seconds", help: "Latency.", buckets: LATENCY_BUCKETS });
  for (const seconds of [0.05, 0.3, 0.3, 2]) latency.observe(seconds);
  return registry;
}

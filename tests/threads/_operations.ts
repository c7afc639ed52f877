// The operations the thread tests run, shared by the test (main thread and model)
// and the worker, so both sides record through exactly the same code.

import type { Registry } from "../../src/registry.ts";

/** A metric the operations can touch; registering it again anywhere gives the same metric. */
export interface CatalogEntry {
  type: "counter" | "gauge" | "histogram" | "summary";
  name: string;
  labelNames: string[];
  buckets?: number[];
}

/** Metrics of every type, with and without labels. */
export const CATALOG: readonly CatalogEntry[] = [
  { type: "counter", name: "jobs_total", labelNames: [] },
  { type: "counter", name: "requests_total", labelNames: ["kind", "code"] },
  { type: "gauge", name: "queue_depth", labelNames: [] },
  { type: "gauge", name: "pool_size", labelNames: ["kind"] },
  { type: "histogram", name: "latency_seconds", labelNames: ["kind"], buckets: [0.25, 1, 4] },
  // A negative bucket: the one histogram that takes negative observations.
  { type: "histogram", name: "drift_seconds", labelNames: [], buckets: [-1, 1, 2] },
  { type: "summary", name: "wait_seconds", labelNames: ["kind"] },
];

/** One recording: metric index into CATALOG, label values in label-name order, a dyadic value. */
export interface Operation {
  metric: number;
  labels: string[];
  action: "inc" | "dec" | "observe";
  value: number;
}

/** Registers a catalog metric (or gets the one already registered, by any thread). */
export function register(registry: Registry, entry: CatalogEntry) {
  const options = { name: entry.name, help: `Help of ${entry.name}`, labelNames: entry.labelNames };
  switch (entry.type) {
    case "counter":
      return registry.counter(options);
    case "gauge":
      return registry.gauge(options);
    case "histogram":
      return registry.histogram({ ...options, buckets: entry.buckets ?? [1] });
    case "summary":
      return registry.summary(options);
  }
}

/** Applies operations in order; every one registers its metric first, as code in a worker would. */
export function applyOperations(registry: Registry, operations: readonly Operation[]): void {
  for (const op of operations) {
    const entry = CATALOG[op.metric]!;
    const metric = register(registry, entry);
    const labels: Record<string, string> = {};
    entry.labelNames.forEach((name, i) => (labels[name] = op.labels[i]!));
    // deno-lint-ignore no-explicit-any
    const series = metric.labels(labels) as any;
    if (op.action === "observe") series.observe(op.value);
    else if (op.action === "dec") series.dec(op.value);
    else series.inc(op.value);
  }
}

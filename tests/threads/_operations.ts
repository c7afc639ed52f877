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

// ---- series lifecycle (lifecycle.prop.test.ts and _lifecycle_worker.ts) ------------------

/** A metric of the lifecycle tests; `staleAfterSeconds` is read against the tests' fake clock. */
export interface LifecycleEntry extends CatalogEntry {
  staleAfterSeconds?: number;
}

/** Metrics of every type; some expire after 10 (fake) seconds without a change. */
export const LIFECYCLE_CATALOG: readonly LifecycleEntry[] = [
  { type: "counter", name: "jobs_total", labelNames: ["k"] },
  { type: "counter", name: "runs_total", labelNames: [] },
  { type: "counter", name: "hits_total", labelNames: ["k", "j"], staleAfterSeconds: 10 },
  { type: "gauge", name: "depth", labelNames: ["k"], staleAfterSeconds: 10 },
  { type: "gauge", name: "level", labelNames: [] },
  { type: "histogram", name: "latency_seconds", labelNames: ["k"], buckets: [0.25, 1, 4], staleAfterSeconds: 10 },
  { type: "summary", name: "wait_seconds", labelNames: ["k"], staleAfterSeconds: 10 },
];

/** How a lifecycle step writes. */
export type WriteAction = "inc" | "dec" | "set" | "observe";

/**
 * One thing one thread does to the registry. `bound` writes through the bound series the
 * thread holds for the label set (binding it first, a call into the registry, if it holds
 * none, or when `rebind` says to drop the one it holds); every other step calls into the
 * registry.
 */
export type LifecycleStep =
  | {
    do: "labelled" | "bound";
    metric: number;
    labels: string[];
    action: WriteAction;
    value: number;
    /** `bound`: drop the bound series held for the label set and bind again. */
    rebind?: boolean;
    /** `labelled`: call the metric object this thread got earlier, without registering it again. */
    cached?: boolean;
  }
  | { do: "bind"; metric: number; labels: string[] }
  | { do: "remove"; metric: number; labels: string[] }
  | { do: "clear"; metric: number; reset: boolean }
  | { do: "dropMetric"; metric: number }
  | { do: "clearRegistry" }
  | { do: "get" | "register"; metric: number }
  | { do: "render" };

/** What a thread keeps between lifecycle steps: its registry, the bound series and the metric objects it holds. */
export interface LifecycleThread {
  registry: Registry;
  // deno-lint-ignore no-explicit-any
  handles: Map<string, any>;
  // deno-lint-ignore no-explicit-any
  metrics?: Map<number, any>;
}

/** The key of a label set of a catalog metric. */
export function seriesKey(metric: number, labels: readonly string[]): string {
  return `${metric}|${labels.join("\u0001")}`;
}

function labelObject(entry: CatalogEntry, values: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  entry.labelNames.forEach((name, i) => (labels[name] = values[i]!));
  return labels;
}

/** Registers a lifecycle metric (or gets the one registered, by any thread). */
export function registerLifecycle(registry: Registry, entry: LifecycleEntry) {
  const options = {
    name: entry.name,
    help: `Help of ${entry.name}`,
    labelNames: entry.labelNames,
    ...(entry.staleAfterSeconds === undefined ? {} : { staleAfterSeconds: entry.staleAfterSeconds }),
  };
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

// deno-lint-ignore no-explicit-any
function write(target: any, action: WriteAction, value: number): void {
  if (action === "observe") target.observe(value);
  else if (action === "set") target.set(value);
  else if (action === "dec") target.dec(value);
  else target.inc(value);
}

/** Registers a catalog metric on a thread (or gets the one registered) and keeps the object for `cached` calls. */
// deno-lint-ignore no-explicit-any
function metricOf(thread: LifecycleThread, index: number): any {
  const metric = registerLifecycle(thread.registry, LIFECYCLE_CATALOG[index]!);
  (thread.metrics ??= new Map()).set(index, metric);
  return metric;
}

/**
 * Does one lifecycle step on a thread. Returns what the step reports: whether `remove` and
 * `dropMetric` found something, whether `get` found the metric, the renders for `render`, and
 * for `bound` whether the bound series said it was removed just before the write.
 */
export function applyLifecycleStep(thread: LifecycleThread, step: LifecycleStep): unknown {
  const { registry, handles } = thread;
  switch (step.do) {
    case "labelled": {
      const entry = LIFECYCLE_CATALOG[step.metric]!;
      const metric = step.cached === true ? thread.metrics?.get(step.metric) : metricOf(thread, step.metric);
      if (metric === undefined) throw new Error(`no metric object of ${entry.name} to call`);
      if (entry.labelNames.length === 0) {
        write(metric, step.action, step.value);
      } else {
        const labels = labelObject(entry, step.labels);
        if (step.action === "observe") metric.observe(labels, step.value);
        else if (step.action === "set") metric.set(labels, step.value);
        else if (step.action === "dec") metric.dec(labels, step.value);
        else metric.inc(labels, step.value);
      }
      return null;
    }
    case "bind":
    case "bound": {
      const entry = LIFECYCLE_CATALOG[step.metric]!;
      const key = seriesKey(step.metric, step.labels);
      if (step.do === "bind" || step.rebind === true) handles.delete(key);
      let series = handles.get(key);
      if (series === undefined) {
        series = metricOf(thread, step.metric).labels(labelObject(entry, step.labels));
        handles.set(key, series);
      }
      if (step.do === "bind") return null;
      const removed = series.removed as boolean;
      write(series, step.action, step.value);
      return { removed };
    }
    case "remove":
      return metricOf(thread, step.metric).remove(labelObject(LIFECYCLE_CATALOG[step.metric]!, step.labels));
    case "clear": {
      const metric = metricOf(thread, step.metric);
      if (step.reset) metric.reset();
      else metric.clear();
      return null;
    }
    case "dropMetric":
      return registry.remove(LIFECYCLE_CATALOG[step.metric]!.name);
    case "clearRegistry":
      registry.clear();
      return null;
    case "get":
      return registry.get(LIFECYCLE_CATALOG[step.metric]!.name) !== undefined;
    case "register":
      metricOf(thread, step.metric);
      return null;
    case "render":
      return { prometheus: registry.render(), openmetrics: registry.render("openmetrics") };
  }
}

/**
 * Stops the registry's once-a-second catch-up with removals, so that a test driving threads
 * step by step knows exactly when each thread syncs (a private field: a test seam only).
 */
export function stopRemovalTimer(registry: Registry): void {
  clearInterval((registry as unknown as { watch: ReturnType<typeof setInterval> }).watch);
}

/** The metrics of the concurrent stress in lifecycle.prop.test.ts, registered alike on every thread. */
export function stressMetrics(registry: Registry) {
  return {
    stable: registry.counter({ name: "stress_stable_total", help: "Never removed", labelNames: ["k"] }),
    churned: registry.counter({ name: "stress_churned_total", help: "Removed and made again", labelNames: ["k"] }),
    gauge: registry.gauge({ name: "stress_level", help: "Never removed", labelNames: ["w"] }),
    latency: registry.histogram({ name: "stress_seconds", help: "Never removed", buckets: [0.5, 1] }),
  };
}

/** The label values of the concurrent stress: series never removed, and series removed and made again. */
export interface StressPlan {
  stable: string[];
  churned: string[];
}

/**
 * A function that runs a full garbage collection, where the runtime offers one: Bun's
 * `Bun.gc(true)`, a `gc` exposed by flags, or V8's `gc` exposed at run time (Node and Deno).
 */
export async function forcedGc(): Promise<(() => void) | undefined> {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  if (bun !== undefined) return () => bun.gc(true);
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed !== undefined) return exposed;
  try {
    const v8 = await import("node:v8");
    const vm = await import("node:vm");
    v8.setFlagsFromString("--expose-gc");
    return vm.runInNewContext("gc") as () => void;
  } catch {
    return undefined;
  }
}

/** This thread's JS heap in use after a full collection, or undefined where it cannot be measured. */
export function heapAfterGc(gc: (() => void) | undefined): number | undefined {
  if (gc === undefined || typeof process === "undefined" || typeof process.memoryUsage !== "function") return undefined;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

// The registries the scrape benchmarks render and serve, built the same way in atomic-metrics,
// prom-client and @prometheus-io/client, and small helpers they share. Runs on Node, Deno and Bun.
import { readFileSync } from "node:fs";
import { Registry } from "../mod.ts";

/** The libraries compared. */
export type Lib = "ours" | "prom-client" | "prometheus-io";
/** The shapes of registry: counters with two labels, or a mix of counters, gauges and histograms. */
export type Shape = "counters" | "mixed";

// deno-lint-ignore no-explicit-any
export type PeerClient = any;

/** prom-client or @prometheus-io/client (the same API). */
export async function peerClient(lib: Exclude<Lib, "ours">): Promise<PeerClient> {
  const m = lib === "prom-client" ? await import("prom-client") : await import("@prometheus-io/client");
  return m.default ?? m;
}

/** 10 buckets, so a histogram series writes 13 lines. */
export const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The label values of series `i`: a route out of 100 and an id unique to the series. */
function labelsOf(i: number): { route: string; id: string } {
  return { route: "/api/v1/route" + (i % 100), id: "instance-" + i };
}

/**
 * What each library needs to build a registry of `series` series: one counter with labels
 * `route` and `id` ("counters"), or ("mixed") a third each of counter, gauge and 10-bucket
 * histogram series spread over 10 metrics of each type. Counters count integers, gauges hold
 * halves, histograms one observation per series.
 */
interface Maker {
  counter(name: string): (labels: { route: string; id: string }, value: number) => void;
  gauge(name: string): (labels: { route: string; id: string }, value: number) => void;
  histogram(name: string): (labels: { route: string; id: string }, value: number) => void;
}

function fill(maker: Maker, shape: Shape, series: number): void {
  if (shape === "counters") {
    const inc = maker.counter("http_requests_total");
    for (let i = 0; i < series; i++) inc(labelsOf(i), i);
    return;
  }
  const perType = [Math.ceil(series / 3), Math.ceil((series - Math.ceil(series / 3)) / 2)];
  perType.push(series - perType[0]! - perType[1]!);
  const FAMILIES = 10;
  for (let t = 0; t < 3; t++) {
    const count = perType[t]!;
    for (let f = 0; f < FAMILIES; f++) {
      const record = t === 0
        ? maker.counter(`app_events_${f}_total`)
        : t === 1
        ? maker.gauge(`app_level_${f}`)
        : maker.histogram(`app_latency_${f}_seconds`);
      const from = Math.floor((count * f) / FAMILIES);
      const to = Math.floor((count * (f + 1)) / FAMILIES);
      for (let i = from; i < to; i++) {
        record(labelsOf(i), t === 0 ? i : t === 1 ? i * 0.5 : (i % 1000) / 1000);
      }
    }
  }
}

/** An atomic-metrics registry of `series` series of `shape` (self-metrics off: the same series as the peers). */
export function oursRegistry(shape: Shape, series: number): Registry {
  const registry = new Registry({ maxSeries: series + 100, selfMetrics: false });
  const labelNames = ["route", "id"] as const;
  fill(
    {
      counter: (name) => {
        const c = registry.counter({ name, help: "Requests served.", labelNames });
        return (labels, value) => c.inc(labels, value);
      },
      gauge: (name) => {
        const g = registry.gauge({ name, help: "A level.", labelNames });
        return (labels, value) => g.set(labels, value);
      },
      histogram: (name) => {
        const h = registry.histogram({ name, help: "A latency.", labelNames, buckets: BUCKETS });
        return (labels, value) => h.observe(labels, value);
      },
    },
    shape,
    series,
  );
  return registry;
}

/** The same registry in prom-client or @prometheus-io/client. */
export function peerRegistry(client: PeerClient, shape: Shape, series: number): PeerClient {
  const registry = new client.Registry();
  const labelNames = ["route", "id"];
  const registers = [registry];
  fill(
    {
      counter: (name) => {
        const c = new client.Counter({ name, help: "Requests served.", labelNames, registers });
        return (labels, value) => c.inc(labels, value);
      },
      gauge: (name) => {
        const g = new client.Gauge({ name, help: "A level.", labelNames, registers });
        return (labels, value) => g.set(labels, value);
      },
      histogram: (name) => {
        const h = new client.Histogram({ name, help: "A latency.", labelNames, buckets: BUCKETS, registers });
        return (labels, value) => h.observe(labels, value);
      },
    },
    shape,
    series,
  );
  return registry;
}

/** Median of a list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The p-th percentile (nearest rank) of a list. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Formats milliseconds for a table. */
export function ms(value: number): string {
  return value >= 100 ? `${value.toFixed(0)} ms` : value >= 10 ? `${value.toFixed(1)} ms` : `${value.toFixed(2)} ms`;
}

/** Formats a ratio. */
export function ratio(value: number): string {
  return `${value.toFixed(2)}×`;
}

/** "met" or "**not met**". */
export function met(ok: boolean): string {
  return ok ? "met" : "**not met**";
}

/** The runtime this is. */
export const runtime: "node" | "deno" | "bun" = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "node";

/** A full collection where the runtime offers one (Node/Deno with --expose-gc, Bun always). */
export function collectGarbage(): void {
  const g = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  if (g.Bun !== undefined) g.Bun.gc(true);
  else g.gc?.();
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * CPU time this thread has run, in ms (Linux: /proc/thread-self/schedstat, in ns). The kernel
 * brings that figure up to date only at a scheduler tick (every 4 ms here) or when the thread
 * stops running, so a running thread reads a figure up to a tick old; `exact` first sleeps 50 µs
 * (Atomics.wait), which brings it up to date.
 */
export function threadCpuMs(exact = false): number {
  if (exact) Atomics.wait(pause, 0, 0, 0.05);
  return Number(readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]) / 1e6;
}

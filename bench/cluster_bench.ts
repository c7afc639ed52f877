// node:cluster aggregation with real worker processes: atomic-metrics' AggregatorRegistry against
// prom-client's, side by side in one run.
//
// 4 workers (bench/_cluster_worker.ts through tsx), each holding N series (two counters with 2
// labels and a histogram of 4 series), recorded alike into an atomic-metrics registry (opted in
// with `clusterWorker()`) and a prom-client registry (`AggregatorRegistry.setRegistries()`); the
// workers record before the scrapes and nothing during them, so the merged totals are exact. The
// primary scrapes with three variants, interleaved round by round (the first of each round
// rotating), after warm-ups:
//   - ours `await aggregator.clusterMetrics()` (a string, as prom-client's),
//   - ours `await aggregator.collectAsync()` then `aggregator.stream("prometheus")` read to its end,
//   - prom-client `await aggregatorRegistry.clusterMetrics()`.
// Each scrape is timed three ways: the wall clock, the primary's main-thread CPU time
// (/proc/thread-self/schedstat: IPC reads and JSON parsing run there too) and the primary's CPU
// time over all its threads (process.cpuUsage(): the collector's too). Then each variant scrapes a
// few more times, each after a full collection, sampling the primary's heap at every IPC message,
// every chunk read and once the result is in hand: the peak growth over the heap before the scrape
// (prometheus/client_js#628: giant strings in the primary). Finally the outputs are checked: the
// same sample names and sample count, and the exact total of `bench_requests_total`, in ours and
// prom-client's. Asserts no time.
//
// Run: node --import tsx bench/cluster_bench.ts [quick]
// Prints one JSON line per case and variant, one check line per case, and the table on stderr:
// {"bench":"cluster","workers":4,"series":N,"variant","scrapes","p50_ms","p95_ms","cpu_ms",
//  "cpu_p95_ms","all_threads_cpu_ms","peak_heap_growth","bytes","missed"}
// {"bench":"cluster","workers":4,"series":N,"check":{...},"load_average_1m"}
import cluster, { type Worker } from "node:cluster";
import { loadavg } from "node:os";
import { fileURLToPath, pathToFileURL } from "node:url";
import { runInNewContext } from "node:vm";
import { setFlagsFromString } from "node:v8";
import client from "prom-client";
import { AggregatorRegistry } from "../adapters/node.ts";
import { threadCpuMs } from "./_scrape_fixtures.ts";

/** Worker processes. */
export const WORKERS = 4;
/** Series of the histogram in each worker (the rest of N are the two counters'). */
export const HISTOGRAM_SERIES = 4;
/** prom-client's default buckets, given explicitly to both. */
export const BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** What each histogram series observes (binary-exact, so the merged sums are exact). */
export const OBSERVATIONS: readonly number[] = [0.0078125, 0.0625, 0.25, 0.75, 2];
const STATUS = ["200", "404", "500"];

/** The labels of the i-th series of each counter. */
export function labelsOf(i: number): { route: string; status: string } {
  return { route: `/route/${Math.floor(i / 3)}`, status: STATUS[i % 3]! };
}

/** What worker `worker` adds to the i-th series of `bench_requests_total` (an integer). */
export function expectedValue(worker: number, i: number): number {
  return (i % 5) + worker + 1;
}

/** Series per worker in each case: the threads bench's scrape case, and a large one. */
const SIZES = [1_100, 25_000];
const quick = process.argv.includes("quick");
const WARMUP = quick ? 1 : 3;
const SCRAPES = quick ? 5 : 20;
/** Scrapes per variant for the heap's peak, each after a full collection. */
const HEAP_SCRAPES = quick ? 1 : 3;

const OURS_STRING = "atomic-metrics `clusterMetrics()`";
const OURS_STREAM = "atomic-metrics `collectAsync()` + `stream()` read to the end";
const PEER = "prom-client `clusterMetrics()`";

/** One JSON line of this benchmark. */
export interface ClusterRow {
  bench: "cluster";
  workers: number;
  series: number;
  variant?: string;
  scrapes?: number;
  p50_ms?: number;
  p95_ms?: number;
  cpu_ms?: number;
  cpu_p95_ms?: number;
  all_threads_cpu_ms?: number;
  peak_heap_growth?: number;
  bytes?: number;
  missed?: number;
  check?: {
    sample_names: number;
    samples: number;
    same_sample_names: boolean;
    same_samples: boolean;
    requests_total_expected: number;
    requests_total_ours: number;
    requests_total_stream: number;
    requests_total_prom_client: number;
    exact: boolean;
  };
  load_average_1m?: number;
}

/** A full collection: that of --expose-gc when given, else one enabled at first use. */
let collect = (globalThis as { gc?: () => void }).gc;
function gc(): void {
  if (collect === undefined) {
    setFlagsFromString("--expose-gc");
    collect = runInNewContext("gc") as () => void;
  }
  collect();
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/** Sample names (series lines of `bench_*` metrics), their count, and the total of bench_requests_total. */
function inspect(text: string): { names: Set<string>; samples: number; requests: number } {
  const names = new Set<string>();
  let samples = 0;
  let requests = 0;
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const end = line.search(/[{ ]/);
    const name = line.slice(0, end);
    if (!name.startsWith("bench_")) continue;
    names.add(name);
    samples++;
    if (name === "bench_requests_total") requests += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return { names, samples, requests };
}

async function drainText(stream: ReadableStream<Uint8Array>, onChunk?: () => void): Promise<string> {
  const decoder = new TextDecoder();
  const reader = stream.getReader();
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text + decoder.decode();
    onChunk?.();
    text += decoder.decode(value, { stream: true });
  }
}

async function drain(stream: ReadableStream<Uint8Array>, onChunk?: () => void): Promise<number> {
  const reader = stream.getReader();
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return bytes;
    onChunk?.();
    bytes += value.byteLength;
  }
}

async function fork(series: number): Promise<Worker[]> {
  cluster.setupPrimary({
    exec: fileURLToPath(new URL("./_cluster_worker.ts", import.meta.url)),
    execArgv: ["--import", "tsx"],
  });
  const workers: Worker[] = [];
  const ready: Promise<void>[] = [];
  for (let index = 0; index < WORKERS; index++) {
    const worker = cluster.fork({ CLUSTER_BENCH_INDEX: String(index), CLUSTER_BENCH_SERIES: String(series) });
    workers.push(worker);
    ready.push(
      new Promise((resolve, reject) => {
        worker.on("message", (message: { benchReady?: number }) => {
          if (message?.benchReady === index) resolve();
        });
        worker.on("exit", (code) => reject(new Error(`Worker ${index} exited with code ${code} before it was ready`)));
      }),
    );
  }
  await Promise.all(ready);
  return workers;
}

async function stop(workers: Worker[]): Promise<void> {
  await Promise.all(workers.map((worker) =>
    new Promise<void>((resolve) => {
      worker.removeAllListeners("exit");
      if (worker.isDead()) return resolve();
      worker.once("exit", () => resolve());
      worker.kill();
    })
  ));
}

/** The unanswered workers at the aggregator's last scrape (0 when every worker answered in time). */
function unanswered(aggregator: AggregatorRegistry): number {
  const metric = aggregator.collect().find((m) => m.name === "atomic_metrics_cluster_workers_unanswered");
  return metric?.series[0]?.value ?? -1;
}

async function measureCase(
  series: number,
  peer: client.AggregatorRegistry<client.PrometheusContentType>,
): Promise<ClusterRow[]> {
  // A fresh aggregator per case (the previous case's workers exited, and their totals stay in
  // theirs), made before the workers, as an application does: each worker's first message then
  // tells it that the worker answers. (One made after the workers started asks them, and its
  // first scrape waits for their answer too.)
  const aggregator = new AggregatorRegistry({ timeout: 60_000 });
  let workers: Worker[] = [];
  try {
    workers = await fork(series);
    const sizes: Record<string, number> = {};
    /** Scrapes of ours in which a worker did not answer in time (0 is expected: the timeout is long). */
    const missed: Record<string, number> = {};
    const variants: Record<string, (onSample?: () => void) => Promise<string | number>> = {
      [OURS_STRING]: () => aggregator.clusterMetrics(),
      [OURS_STREAM]: async (onSample) => {
        await aggregator.collectAsync();
        return await drain(aggregator.stream("prometheus"), onSample);
      },
      [PEER]: () => peer.clusterMetrics(),
    };
    const names = Object.keys(variants);
    const wall: Record<string, number[]> = {};
    const cpu: Record<string, number[]> = {};
    const all: Record<string, number[]> = {};
    for (const name of names) {
      wall[name] = [];
      missed[name] = 0;
      cpu[name] = [];
      all[name] = [];
    }
    for (let round = 0; round < WARMUP + SCRAPES; round++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(round + k) % names.length]!;
        const cpuStart = threadCpuMs(true);
        const allStart = process.cpuUsage();
        const started = performance.now();
        const result = await variants[name]!();
        const elapsed = performance.now() - started;
        const used = process.cpuUsage(allStart);
        const cpuUsed = threadCpuMs(true) - cpuStart;
        sizes[name] = typeof result === "string" ? Buffer.byteLength(result) : result;
        if (name !== PEER && unanswered(aggregator) !== 0) missed[name]!++;
        if (round < WARMUP) continue;
        wall[name]!.push(elapsed);
        cpu[name]!.push(cpuUsed);
        all[name]!.push((used.user + used.system) / 1000);
      }
    }

    // The heap's peak, sampled at every IPC message, chunk and result, over the heap after a full collection.
    const peaks: Record<string, number> = {};
    for (const name of names) {
      peaks[name] = 0;
      for (let i = 0; i < HEAP_SCRAPES; i++) {
        gc();
        const base = process.memoryUsage().heapUsed;
        let peak = base;
        const sample = () => {
          const used = process.memoryUsage().heapUsed;
          if (used > peak) peak = used;
        };
        cluster.on("message", sample);
        try {
          const result = await variants[name]!(sample);
          sample();
          if (result === undefined) throw new Error("no result"); // keeps the result alive until sampled
        } finally {
          cluster.off("message", sample);
        }
        peaks[name] = Math.max(peaks[name]!, peak - base);
      }
    }

    // The outputs agree: the same sample names and count, the exact total of one counter.
    let expected = 0;
    const perCounter = (series - HISTOGRAM_SERIES) / 2;
    for (let w = 0; w < WORKERS; w++) for (let i = 0; i < perCounter; i++) expected += expectedValue(w, i);
    const ours = inspect(await aggregator.clusterMetrics());
    if (unanswered(aggregator) !== 0) missed[OURS_STRING]!++;
    await aggregator.collectAsync();
    if (unanswered(aggregator) !== 0) missed[OURS_STREAM]!++;
    const streamed = inspect(await drainText(aggregator.stream("prometheus")));
    const theirs = inspect(await peer.clusterMetrics());
    const sameNames = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((n) => b.has(n));
    const check: NonNullable<ClusterRow["check"]> = {
      sample_names: ours.names.size,
      samples: ours.samples,
      same_sample_names: sameNames(ours.names, theirs.names) && sameNames(ours.names, streamed.names),
      same_samples: ours.samples === theirs.samples && ours.samples === streamed.samples,
      requests_total_expected: expected,
      requests_total_ours: ours.requests,
      requests_total_stream: streamed.requests,
      requests_total_prom_client: theirs.requests,
      exact: ours.requests === expected && streamed.requests === expected && theirs.requests === expected,
    };

    const rows: ClusterRow[] = names.map((name) => ({
      bench: "cluster",
      workers: WORKERS,
      series,
      variant: name,
      scrapes: wall[name]!.length,
      p50_ms: round2(percentile(wall[name]!, 0.5)),
      p95_ms: round2(percentile(wall[name]!, 0.95)),
      cpu_ms: round2(percentile(cpu[name]!, 0.5)),
      cpu_p95_ms: round2(percentile(cpu[name]!, 0.95)),
      all_threads_cpu_ms: round2(percentile(all[name]!, 0.5)),
      peak_heap_growth: peaks[name]!,
      bytes: sizes[name]!,
      missed: missed[name]!,
    }));
    rows.push({
      bench: "cluster",
      workers: WORKERS,
      series,
      check,
      load_average_1m: round2(loadavg()[0]!),
    });
    return rows;
  } finally {
    aggregator.close();
    await stop(workers);
  }
}

const fmtMs = (
  ms: number,
) => (ms >= 100 ? `${ms.toFixed(0)} ms` : ms >= 10 ? `${ms.toFixed(1)} ms` : `${ms.toFixed(2)} ms`);
const fmtMiB = (bytes: number) =>
  bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(0)} KiB`;

/** The markdown table of this benchmark's rows (bench/run.ts appends it to bench/RESULTS.md). */
export function clusterTable(rows: readonly ClusterRow[]): string {
  const met = (m: boolean) => (m ? "met" : "**not met**");
  let md =
    "| series per worker | scrape | p50 | p95 | primary main-thread CPU (p50) | primary CPU, all threads (p50) | primary's peak heap growth | bytes | vs prom-client (p50 wall / main-thread CPU) | target | met |\n" +
    "|---|---|---|---|---|---|---|---|---|---|---|\n";
  const checks: string[] = [];
  for (const series of [...new Set(rows.map((r) => r.series))]) {
    const of = rows.filter((r) => r.series === series);
    const peer = of.find((r) => r.variant === PEER);
    for (const r of of) {
      if (r.variant === undefined) continue;
      const ours = r.variant !== PEER && peer !== undefined;
      md += `| ${series.toLocaleString("en")} | ${r.variant}${
        r.missed ? ` (${r.missed} scrapes missed a worker)` : ""
      } | ${fmtMs(r.p50_ms!)} | ${fmtMs(r.p95_ms!)} | ${fmtMs(r.cpu_ms!)} | ${fmtMs(r.all_threads_cpu_ms!)} | ${
        fmtMiB(r.peak_heap_growth!)
      } | ${r.bytes!.toLocaleString("en")} | ${
        ours ? `${(peer.p50_ms! / r.p50_ms!).toFixed(2)}× / ${(peer.cpu_ms! / r.cpu_ms!).toFixed(2)}×` : ""
      } | ${ours ? "faster than prom-client" : ""} | ${
        ours ? met(r.p50_ms! < peer.p50_ms! && r.missed === 0) : ""
      } |\n`;
    }
    const c = of.find((r) => r.check !== undefined)?.check;
    if (c !== undefined) {
      checks.push(
        `${series.toLocaleString("en")} series per worker: ${c.sample_names} sample names and ${
          c.samples.toLocaleString("en")
        } \`bench_*\` samples, ${
          c.same_sample_names && c.same_samples
            ? "the same in all three outputs"
            : "**not the same in all three outputs**"
        }; \`bench_requests_total\` sums to ${c.requests_total_ours} (ours), ${c.requests_total_stream} (streamed), ${c.requests_total_prom_client} (prom-client), expected ${c.requests_total_expected}: ${
          c.exact ? "exact" : "**not exact**"
        }.`,
      );
    }
  }
  const load = rows.find((r) => r.load_average_1m !== undefined)?.load_average_1m;
  md +=
    `\n${WORKERS} \`node:cluster\` workers, each with N series (two counters with labels \`route\`, \`status\` and a ` +
    `${HISTOGRAM_SERIES}-series histogram of ${BUCKETS.length} buckets), recorded alike in both libraries before the ` +
    `scrapes. ${SCRAPES} scrapes per variant after ${WARMUP} warm-ups, interleaved; CPU is the primary's per scrape ` +
    `(main thread from /proc/thread-self/schedstat; all threads from \`process.cpuUsage()\`); the heap's peak is ` +
    `sampled at every IPC message and chunk over the heap after a full collection, the largest of ${HEAP_SCRAPES} ` +
    `scrapes. "met": a lower p50 wall time than prom-client's, with every worker answered.` +
    (load === undefined ? "" : ` 1-minute load average: ${load}.`) + "\n\n" + checks.join("\n") + "\n";
  return md;
}

async function main(): Promise<void> {
  // prom-client's aggregator in the primary (it listens to every worker, ignoring ours' messages).
  const peer = new client.AggregatorRegistry<client.PrometheusContentType>();
  const rows: ClusterRow[] = [];
  for (const series of SIZES) {
    for (const row of await measureCase(series, peer)) {
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  }
  console.error(clusterTable(rows));
}

if (cluster.isPrimary && process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}

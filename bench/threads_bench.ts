// Recording across threads, with prom-client's cluster aggregation as the peer.
//
// atomic-metrics: every worker attaches to one shared registry and increments a bound
// counter (its own shard: a plain add, no lock); the main thread renders the one registry.
// prom-client: every worker has its own registry (what `cluster` mode gives), and a
// scrape gathers `getMetricsAsJSON()` from each worker by message and merges them with
// `AggregatorRegistry.aggregate()` — prom-client's cluster aggregator, on worker_threads.
//
// Measures recording throughput with 1, 2 and 4 worker threads (ops/s in total and per
// core: this machine may have fewer cores than threads) and scrape latency with 4 workers.
// Prints one JSON object on stdout and a markdown paragraph on stderr; asserts no time.
// Run: node --import tsx bench/threads_bench.ts [runs=5]
import { availableParallelism, loadavg } from "node:os";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import client from "prom-client";
import { Registry } from "../src/registry.ts";
import type { StoreHandle } from "../src/storage/store.ts";

const OURS_OPS = 20_000_000;
const PEER_OPS = 4_000_000;
const ROUTES = 1000;
const HISTOGRAM_ROUTES = 100;
const SCRAPES = 30;
/** Runs per configuration; the best is kept (the machine may be shared). */
const RUNS = Number(process.argv[2] ?? 5);

interface Job {
  peer: boolean;
  /** atomic-metrics with a registry of its own per worker: the control that shares nothing. */
  isolated?: boolean;
  ops: number;
  handle?: StoreHandle;
  barrier: SharedArrayBuffer;
}

/** The same metrics on both sides for the scrape: 1,000 counter series and 100 histograms per thread. */
function populate(counter: (route: string) => void, observe: (route: string, v: number) => void): void {
  for (let r = 0; r < ROUTES; r++) counter("/route/" + r);
  for (let r = 0; r < HISTOGRAM_ROUTES; r++) observe("/route/" + r, r / 1000);
}

function workerMain(job: Job): void {
  const port = parentPort!;
  let inc: () => void;
  let peerRegistry: client.Registry | undefined;
  if (job.peer) {
    peerRegistry = new client.Registry();
    const bound = new client.Counter({ name: "bench_total", help: "Bench", registers: [peerRegistry] });
    const requests = new client.Counter({
      name: "requests_total",
      help: "R",
      labelNames: ["route"],
      registers: [peerRegistry],
    });
    const latency = new client.Histogram({
      name: "latency_seconds",
      help: "L",
      labelNames: ["route"],
      registers: [peerRegistry],
    });
    populate((route) => requests.inc({ route }), (route, v) => latency.observe({ route }, v));
    inc = () => bound.inc();
  } else {
    const registry = job.isolated ? new Registry({ maxSeries: 20_000 }) : Registry.attach(job.handle!);
    const bound = registry.counter({ name: "bench_total", help: "Bench" }).labels({});
    const requests = registry.counter({ name: "requests_total", help: "R", labelNames: ["route"] });
    const latency = registry.histogram({ name: "latency_seconds", help: "L", labelNames: ["route"] });
    populate((route) => requests.inc({ route }), (route, v) => latency.observe({ route }, v));
    inc = () => bound.inc();
  }
  for (let i = 0; i < 100_000; i++) inc(); // warm-up
  const barrier = new Int32Array(job.barrier);
  Atomics.add(barrier, 1, 1);
  Atomics.notify(barrier, 1);
  Atomics.wait(barrier, 0, 0); // the main thread starts every worker at once
  const start = performance.now();
  for (let i = 0; i < job.ops; i++) inc();
  port.postMessage({ kind: "done", ms: performance.now() - start });
  port.on("message", async (message: { kind: string }) => {
    if (message.kind === "metrics") port.postMessage({ kind: "metrics", json: await peerRegistry!.getMetricsAsJSON() });
  });
}

interface Started {
  workers: Worker[];
  next: (
    w: Worker,
  ) => Promise<{ kind: string; ms?: number; json?: client.MetricObjectWithValues<client.MetricValue<string>>[] }>;
}

function spawn(
  count: number,
  job: Omit<Job, "barrier">,
): { started: Started; barrier: Int32Array; ready: Promise<void> } {
  const shared = new SharedArrayBuffer(8);
  const barrier = new Int32Array(shared);
  const tsx = import.meta.resolve("tsx/esm/api");
  const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${
    JSON.stringify(import.meta.url)
  }); })`;
  const workers = Array.from(
    { length: count },
    () => new Worker(bootstrap, { eval: true, workerData: { ...job, barrier: shared } }),
  );
  const queues = new Map<Worker, ((m: never) => void)[]>();
  for (const w of workers) {
    queues.set(w, []);
    w.on("message", (m: unknown) => queues.get(w)!.shift()?.(m as never));
    w.on("error", (e) => {
      console.error(e);
      process.exit(1);
    });
  }
  const next = (w: Worker) => new Promise<never>((resolve) => queues.get(w)!.push(resolve));
  const ready = (async () => {
    while (Atomics.load(barrier, 1) < count) await new Promise((r) => setTimeout(r, 5));
  })();
  return { started: { workers, next: next as Started["next"] }, barrier, ready };
}

interface Recording {
  threads: number;
  opsTotal: number;
  wallMs: number;
  opsPerSecond: number;
  opsPerSecondPerCore: number;
  nsPerOpPerThread: number;
}

async function record(
  threads: number,
  peer: boolean,
  keep = false,
  isolated = false,
): Promise<{ result: Recording; started: Started; registry?: Registry }> {
  const registry = peer || isolated ? undefined : new Registry({ maxSeries: 20_000 });
  const ops = peer ? PEER_OPS : OURS_OPS;
  const job: Omit<Job, "barrier"> = { peer, ops, isolated };
  if (registry !== undefined) job.handle = registry.share();
  const { started, barrier, ready } = spawn(threads, job);
  await ready;
  const done = started.workers.map((w) => started.next(w));
  const start = performance.now();
  Atomics.store(barrier, 0, 1);
  Atomics.notify(barrier, 0);
  const replies = await Promise.all(done);
  const wallMs = performance.now() - start;
  const opsTotal = threads * ops;
  if (
    registry !== undefined &&
    registry.counter({ name: "bench_total", help: "Bench" }).get() !== opsTotal + threads * 100_000
  ) {
    throw new Error("bench_total is not exact");
  }
  const cores = Math.min(threads, availableParallelism());
  const perThread = replies.reduce((sum, r) => sum + r.ms!, 0) / threads;
  const result: Recording = {
    threads,
    opsTotal,
    wallMs: +wallMs.toFixed(1),
    opsPerSecond: Math.round(opsTotal / (wallMs / 1000)),
    opsPerSecondPerCore: Math.round(opsTotal / (wallMs / 1000) / cores),
    nsPerOpPerThread: +((perThread * 1e6) / ops).toFixed(2),
  };
  if (!keep) { for (const w of started.workers) await w.terminate(); }
  return registry === undefined ? { result, started } : { result, started, registry };
}

async function best(threads: number, peer: boolean, isolated = false): Promise<Recording> {
  let top: Recording | undefined;
  for (let i = 0; i < RUNS; i++) {
    const { result } = await record(threads, peer, false, isolated);
    if (top === undefined || result.opsPerSecond > top.opsPerSecond) top = result;
  }
  return top!;
}

function stats(times: number[]): { p50: number; p95: number; mean: number } {
  times.sort((a, b) => a - b);
  const at = (p: number) => +times[Math.min(times.length - 1, Math.ceil(p * times.length) - 1)]!.toFixed(3);
  return { p50: at(0.5), p95: at(0.95), mean: +(times.reduce((s, t) => s + t, 0) / times.length).toFixed(3) };
}

async function mainThread(): Promise<void> {
  const cores = availableParallelism();
  const ours: Recording[] = [];
  const peer: Recording[] = [];
  const isolated: Recording[] = [];
  for (const threads of [1, 2, 4]) {
    ours.push(await best(threads, false));
    isolated.push(await best(threads, false, true));
    peer.push(await best(threads, true));
  }

  // Scrape latency with 4 workers that have recorded: one shared render vs gather + aggregate.
  const shared = await record(4, false, true);
  const oursTimes: number[] = [];
  let oursBytes = 0;
  for (let i = 0; i < SCRAPES + 5; i++) {
    const start = performance.now();
    const text = shared.registry!.render();
    if (i >= 5) oursTimes.push(performance.now() - start);
    oursBytes = text.length;
  }
  for (const w of shared.started.workers) await w.terminate();
  const gathered = await record(4, true, true);
  const peerTimes: number[] = [];
  let peerBytes = 0;
  for (let i = 0; i < SCRAPES + 5; i++) {
    const start = performance.now();
    const replies = await Promise.all(gathered.started.workers.map((w) => {
      const reply = gathered.started.next(w);
      w.postMessage({ kind: "metrics" });
      return reply;
    }));
    const text = await client.AggregatorRegistry.aggregate(replies.map((r) => r.json!)).metrics();
    if (i >= 5) peerTimes.push(performance.now() - start);
    peerBytes = text.length;
  }
  for (const w of gathered.started.workers) await w.terminate();

  const ratio = (threads: number) => +(ours[threads]!.opsPerSecond / peer[threads]!.opsPerSecond).toFixed(1);
  const oursScrape = stats(oursTimes);
  const peerScrape = stats(peerTimes);
  const out = {
    bench: "threads",
    runtime: `node ${process.version}`,
    cores,
    loadAverage1m: +loadavg()[0]!.toFixed(2),
    recording: {
      case: "bound counter inc() in every worker thread",
      "atomic-metrics (one shared registry)": ours,
      "atomic-metrics control (a registry per worker, nothing shared)": isolated,
      "prom-client (a registry per worker)": peer,
      // Sharing one registry costs nothing on the hot path if this stays near 1.
      "ratio ops/s shared / control": {
        1: +(ours[0]!.opsPerSecond / isolated[0]!.opsPerSecond).toFixed(2),
        2: +(ours[1]!.opsPerSecond / isolated[1]!.opsPerSecond).toFixed(2),
        4: +(ours[2]!.opsPerSecond / isolated[2]!.opsPerSecond).toFixed(2),
      },
      "ratio ops/s atomic-metrics / prom-client": { 1: ratio(0), 2: ratio(1), 4: ratio(2) },
    },
    scrape: {
      case:
        `4 workers, each ${ROUTES} counter series + ${HISTOGRAM_ROUTES} histograms (default buckets); ms per scrape`,
      "atomic-metrics registry.render() (sums the shards)": { ...oursScrape, bytes: oursBytes },
      "prom-client getMetricsAsJSON() per worker + AggregatorRegistry.aggregate().metrics()": {
        ...peerScrape,
        bytes: peerBytes,
      },
      "ratio p50 prom-client / atomic-metrics": +(peerScrape.p50 / oursScrape.p50).toFixed(1),
    },
  };
  const fmt = (n: number) => (n / 1e6).toFixed(0) + "M";
  const control = out.recording["ratio ops/s shared / control"];
  const paragraph = [
    `**Threads.** On this ${cores}-core machine (Node ${process.version}; 1-minute load average ${out.loadAverage1m}`,
    `while measuring, so absolute numbers are noisy), a bound counter \`inc()\` in worker threads that share one`,
    `registry records ${fmt(ours[0]!.opsPerSecond)} ops/s with 1 thread, ${fmt(ours[1]!.opsPerSecond)} with 2`,
    `(${fmt(ours[1]!.opsPerSecondPerCore)} per core) and ${fmt(ours[2]!.opsPerSecond)} with 4`,
    `(${fmt(ours[2]!.opsPerSecondPerCore)} per core; 4 threads share ${Math.min(4, cores)} cores). Each thread adds to`,
    `its own shard with a plain store (no lock, no atomic, no cache line written by two threads); against the`,
    `control, the same loop with a separate, unshared registry per worker, the shared registry's throughput is`,
    `${control[1]}x, ${control[2]}x and ${control[4]}x (1, 2 and 4 threads; 1 means sharing costs nothing, and the`,
    `spread between runs on this shared machine is of the same order).`,
    `prom-client with a registry per worker (its cluster mode) records ${fmt(peer[0]!.opsPerSecond)},`,
    `${fmt(peer[1]!.opsPerSecond)} and ${fmt(peer[2]!.opsPerSecond)} ops/s: atomic-metrics is ${ratio(0)}x, ${
      ratio(1)
    }x`,
    `and ${ratio(2)}x faster. A scrape of 4 workers' metrics (${ROUTES + HISTOGRAM_ROUTES} series each) is one`,
    `synchronous \`render()\` of the shared memory: p50 ${oursScrape.p50} ms (p95 ${oursScrape.p95} ms), against`,
    `p50 ${peerScrape.p50} ms (p95 ${peerScrape.p95} ms) for prom-client's cluster aggregation (a message round trip`,
    `to every worker, then \`AggregatorRegistry.aggregate()\`): ${
      out.scrape["ratio p50 prom-client / atomic-metrics"]
    }x`,
    `faster, and a busy or terminated worker neither delays the scrape nor takes its counts with it.`,
  ].join(" ");
  const row = (label: string, list: Recording[]) =>
    `| ${label} | ${list.map((r) => `${fmt(r.opsPerSecond)} (${fmt(r.opsPerSecondPerCore)}/core)`).join(" | ")} |`;
  const markdown = [
    "| bound counter `inc()`, ops/s (per core) | 1 thread | 2 threads | 4 threads |",
    "|---|---|---|---|",
    row("atomic-metrics, one shared registry", ours),
    row("atomic-metrics, a registry per worker (control)", isolated),
    row("prom-client, a registry per worker", peer),
    "",
    "| scrape of 4 workers (4 × 1,100 series) | p50 | p95 |",
    "|---|---|---|",
    `| atomic-metrics \`render()\` of the shared registry | ${oursScrape.p50} ms | ${oursScrape.p95} ms |`,
    `| prom-client \`getMetricsAsJSON()\` by message + \`AggregatorRegistry.aggregate()\` | ${peerScrape.p50} ms | ${peerScrape.p95} ms |`,
    "",
    paragraph,
  ].join("\n");
  // One JSON line on stdout (the bench runner reads lines starting with "{"); the markdown for humans on stderr.
  console.log(JSON.stringify({ ...out, markdown }));
  console.error(markdown);
}

if (isMainThread) await mainThread();
else workerMain(workerData as Job);

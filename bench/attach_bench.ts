// A worker attaching to a registry of 100,000 series: how long `Registry.attach(handle)` takes
// and how much heap the worker holds afterwards, before it touches a series (a thread
// materialises only what it uses); then the first write into one existing series.
//
// Run: node --expose-gc --import tsx bench/attach_bench.ts [series=100000] [runs=5]
// Prints one JSON line: {"series","attachMs","attachHeap","firstIncMs","afterIncHeap", ...} (medians).
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { Registry } from "../mod.ts";
import type { StoreHandle } from "../mod.ts";
import { heapUsed, median } from "./_memory.ts";

const COUNTER = { name: "requests_total", help: "Requests", labelNames: ["id", "route"] as const };

interface Job {
  handle: StoreHandle;
  series: number;
}

function workerMain(job: Job): void {
  // Everything the worker needs is loaded and compiled before the clock starts; what loading
  // left behind is collected (it takes more than one collection) before the baseline is read.
  for (let i = 0; i < 4; i++) heapUsed();
  const heap0 = heapUsed();
  const t0 = performance.now();
  const registry = Registry.attach(job.handle);
  const attachMs = performance.now() - t0;
  const attachHeap = heapUsed() - heap0;
  const t1 = performance.now();
  const counter = registry.counter(COUNTER);
  const registerMs = performance.now() - t1;
  const k = job.series >> 1;
  const t2 = performance.now();
  counter.inc({ id: "user-" + k, route: "/api/v1/route/" + (k % 100) });
  const firstIncMs = performance.now() - t2;
  const afterIncHeap = heapUsed() - heap0;
  // The next write into the same series takes the hot path.
  const t3 = performance.now();
  counter.inc({ id: "user-" + k, route: "/api/v1/route/" + (k % 100) });
  const secondIncMs = performance.now() - t3;
  registry.detach();
  parentPort!.postMessage({ attachMs, attachHeap, registerMs, firstIncMs, afterIncHeap, secondIncMs });
}

function runWorker(job: Job): Promise<Record<string, number>> {
  const tsx = import.meta.resolve("tsx/esm/api");
  const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${
    JSON.stringify(import.meta.url)
  }); })`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(bootstrap, { eval: true, workerData: job });
    worker.once("message", (m) => {
      resolve(m);
      void worker.terminate();
    });
    worker.once("error", reject);
  });
}

if (!isMainThread && (workerData as Job | undefined)?.handle !== undefined) {
  workerMain(workerData as Job);
} else if (isMainThread) {
  const series = Number(process.argv[2] ?? 100_000);
  const runs = Number(process.argv[3] ?? 5);
  const registry = new Registry({ maxSeries: series + 10 });
  const counter = registry.counter(COUNTER);
  for (let i = 0; i < series; i++) counter.inc({ id: "user-" + i, route: "/api/v1/route/" + (i % 100) });
  const handle = registry.share();
  const results: Record<string, number>[] = [];
  for (let r = 0; r < runs; r++) results.push(await runWorker({ handle, series }));
  const out: Record<string, number> = { series, bytes: registry.byteLength };
  for (const key of Object.keys(results[0]!)) {
    out[key] = median(results.map((x) => x[key]!));
    out[`max_${key}`] = Math.max(...results.map((x) => x[key]!));
  }
  const text = registry.render();
  const k = series >> 1;
  out.recorded = Number(
    new RegExp(`^requests_total\\{id="user-${k}",route="[^"]+"\\} (\\d+)$`, "m").exec(text)?.[1] ?? NaN,
  );
  console.log(JSON.stringify(out));
}

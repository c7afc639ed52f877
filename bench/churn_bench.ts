// Churn: create/remove cycles with at most 1,000 series alive, on one thread, and with workers
// recording into live series meanwhile (labelled `inc` of a series the main thread made a
// moment ago, so every worker holds rows that are then removed under it). Measures the
// registry's shared memory (`byteLength`) and the heap after 1,000 series and after every
// cycle; the store must reuse the room removed series took.
//
// Run: node --expose-gc --import tsx bench/churn_bench.ts [cycles=1000000] [workers=0]
// Prints one JSON line.
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { Registry } from "../mod.ts";
import type { StoreHandle } from "../mod.ts";
import { heapUsed, rss } from "./_memory.ts";

const ALIVE = 1000;
const WINDOW = 50;
const COUNTER = { name: "churn_total", help: "Churn", labelNames: ["id"] as const };

interface Job {
  handle: StoreHandle;
  /**
   * [0]: the newest series made by the main thread; [1]: 1 = stop; [2]: workers ready;
   * [3 + w]: the newest series worker w has seen (every series it writes is at most WINDOW older).
   */
  control: SharedArrayBuffer;
  index: number;
}

function workerMain(job: Job): void {
  const control = new Int32Array(job.control);
  const registry = Registry.attach(job.handle);
  const counter = registry.counter(COUNTER);
  let seed = 0x9e3779b9 ^ registry.seriesCount();
  let ops = 0;
  const heap0 = heapUsed();
  Atomics.add(control, 2, 1);
  while (Atomics.load(control, 1) === 0) {
    const newest = Atomics.load(control, 0);
    // Published before the write: the main thread removes no series this worker may still write.
    Atomics.store(control, 3 + job.index, newest);
    seed = (Math.imul(seed, 1664525) + 1013904223) | 0;
    // One of the newest few; the main thread removes the series ALIVE behind the newest.
    const id = newest - ((seed >>> 8) % WINDOW);
    if (id < 0) continue;
    counter.inc({ id: "s" + id });
    ops++;
  }
  registry.detach();
  parentPort!.postMessage({ ops, heapGrowth: heapUsed() - heap0 });
}

/** Bytes of each buffer: metrics log, table, labels, index, shared slots, then every shard. */
function buffers(r: Registry): string {
  const store = (r as unknown as { store: { buffers: ArrayBufferLike[]; shards: (ArrayBufferLike | undefined)[] } })
    .store;
  return [...store.buffers.map((b) => b.byteLength), ...store.shards.map((b) => b?.byteLength ?? 0)].join(" ");
}

function startWorker(job: Job): Promise<Record<string, number>> {
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
  const cycles = Number(process.argv[2] ?? 1_000_000);
  const workers = Number(process.argv[3] ?? 0);
  const registry = new Registry();
  const counter = registry.counter(COUNTER);
  const control = new Int32Array(new SharedArrayBuffer(4 * (3 + Math.max(1, workers))));
  const heapBase = heapUsed();
  const bytesBase = registry.byteLength;
  // The first ALIVE series: what 1,000 series take.
  for (let i = 0; i < ALIVE; i++) counter.inc({ id: "s" + i });
  Atomics.store(control, 0, ALIVE - 1);
  let done: Promise<Record<string, number>[]> = Promise.resolve([]);
  if (workers > 0) {
    const handle = registry.share();
    done = Promise.all(
      Array.from(
        { length: workers },
        (_, index) => startWorker({ handle, control: control.buffer as SharedArrayBuffer, index }),
      ),
    );
    while (Atomics.load(control, 2) < workers) await new Promise((r) => setTimeout(r, 5));
  }
  const heap1000 = heapUsed() - heapBase;
  const bytes1000 = registry.byteLength;
  const rss1000 = rss();
  const layout1000 = buffers(registry);
  const waitCell = new Int32Array(new SharedArrayBuffer(4));
  let waits = 0;
  const start = performance.now();
  for (let i = ALIVE; i < ALIVE + cycles; i++) {
    counter.inc({ id: "s" + i });
    Atomics.store(control, 0, i);
    // A worker that fell behind (descheduled) could still write into the series about to be
    // removed, which would bring it back: wait until every worker is past it.
    const removed = i - ALIVE;
    for (let w = 0; w < workers; w++) {
      while (Atomics.load(control, 3 + w) - WINDOW < removed) {
        Atomics.wait(waitCell, 0, 0, 0.05);
        waits++;
      }
    }
    counter.remove({ id: "s" + removed });
  }
  const ms = performance.now() - start;
  Atomics.store(control, 1, 1);
  const results = await done;
  // Before any render: a thread that records and removes but never renders (most workers).
  const heapEndUnrendered = heapUsed() - heapBase;
  // A render syncs, frees what the workers let go of, and compacts this thread's series lists.
  registry.render();
  const heapEnd = heapUsed() - heapBase;
  const bytesEnd = registry.byteLength;
  console.log(JSON.stringify({
    cycles,
    workers,
    ms,
    usPerCycle: (ms * 1000) / cycles,
    heap1000,
    heapEnd,
    heapRatio: heapEnd / heap1000,
    heapEndUnrendered,
    heapRatioUnrendered: heapEndUnrendered / heap1000,
    bytesBase,
    bytes1000,
    bytesEnd,
    bytesRatio: bytesEnd / bytes1000,
    rssGrowth: rss() - rss1000,
    live: registry.seriesCount(),
    waits,
    workerOps: results.reduce((n, r) => n + r.ops!, 0),
    layout1000,
    layoutEnd: buffers(registry),
    workerHeapGrowth: Math.max(0, ...results.map((r) => r.heapGrowth!)),
  }));
  process.exit(0);
}

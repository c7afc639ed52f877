// The worker of the streamed-scrape test (stream.prop.test.ts): attaches to the registry and
// records into many histogram and counter series, round robin, until the test raises the stop
// flag; then replies with how many observations it made. Speaks the protocol of
// tests/threads/_spawn.ts.
import { Registry } from "../../src/registry.ts";
import type { StoreHandle } from "../../src/storage/store.ts";

interface Task {
  id: number;
  handle: StoreHandle;
  stop: SharedArrayBuffer;
  worker: number;
  series: number;
}

interface Port {
  postMessage(message: unknown): void;
}

function record(task: Task): number {
  const registry = Registry.attach(task.handle);
  const stop = new Int32Array(task.stop);
  const latency = registry.histogram({
    name: "stream_latency_seconds",
    help: "Latency.",
    labelNames: ["k"],
    buckets: [0.001, 0.01, 0.1, 0.5, 1, 2, 5, 10],
  });
  const requests = registry.counter({ name: "stream_requests_total", help: "Requests.", labelNames: ["k"] });
  const own = registry.counter({ name: "stream_worker_total", help: "Per worker.", labelNames: ["worker"] })
    .labels({ worker: String(task.worker) });
  const bound = Array.from({ length: task.series }, (_, k) => ({
    latency: latency.labels({ k: String(k) }),
    requests: requests.labels({ k: String(k) }),
  }));
  let made = 0;
  while (Atomics.load(stop, 0) === 0) {
    for (let i = 0; i < 10_000; i++, made++) {
      const series = bound[made % bound.length]!;
      series.latency.observe((made & 1023) / 100);
      series.requests.inc();
      own.inc();
    }
  }
  return made;
}

const isWeb = "Deno" in globalThis || "Bun" in globalThis;
const port: Port = isWeb
  ? globalThis as unknown as Port
  : (await import("node:worker_threads")).parentPort as unknown as Port;
const onTask = (task: Task): void => {
  try {
    port.postMessage({ id: task.id, kind: "done", result: record(task) });
  } catch (error) {
    port.postMessage({ id: task.id, kind: "error", message: (error as Error).stack ?? String(error) });
  }
};
if (isWeb) (globalThis as unknown as { onmessage: (e: { data: Task }) => void }).onmessage = (e) => onTask(e.data);
else (port as unknown as { on(event: "message", fn: (task: Task) => void): void }).on("message", onTask);

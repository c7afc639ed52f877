// The server side of the HTTP scrape benchmarks: one process that builds a registry, serves it,
// and answers the benchmark's questions about itself over stdin/stdout. Runs on Node, Deno and
// Bun (atomic-metrics through its adapter for the runtime; the peers through node:http, Node
// only). Not a benchmark by itself: bench/http_scrape_bench.ts and bench/event_loop_bench.ts
// start it.
//
// Run: <runtime> bench/_scrape_server.ts <ours|prom-client|prometheus-io|static> <shape> <series> [record-worker|record-loop]
// Prints {"ready":true,"port","rss","heap","byteLength","buildMs"} once it listens, then reads
// one command a line on stdin and answers one JSON line each:
//   probe     starts a new window for the event-loop probe      → {"ok":true}
//   probe?    the window's longest gaps between probe ticks        → {"maxGapMs","maxCpuMs","ticks"}
//   ops       recording done so far (with record-…)               → {"ops","cpuMs","at"}
//   profile   (Node) starts the CPU profiler                      → {"ok":true}
//   profile> <file>  stops it and writes the .cpuprofile to <file> → {"ok":true}
//   exit      closes the server and exits
import { readFileSync } from "node:fs";
import process from "node:process";
import type { Lib, PeerClient, Shape } from "./_scrape_fixtures.ts";
import { collectGarbage, oursRegistry, peerClient, peerRegistry, runtime, threadCpuMs } from "./_scrape_fixtures.ts";
import type { Registry } from "../mod.ts";
import type { StoreHandle } from "../src/storage/store.ts";

function rss(): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]) * 1024;
}

const RECORD_CHUNK = 20_000;

/** The worker side of record-worker: attaches, then counts as fast as it can, publishing progress. */
async function recordInWorker(): Promise<void> {
  const { parentPort, workerData } = await import("node:worker_threads");
  const { Registry } = await import("../mod.ts");
  const { handle, progress } = workerData as { handle: StoreHandle; progress: SharedArrayBuffer };
  const registry = Registry.attach(handle);
  const bound = registry.counter({ name: "bench_recorded_total", help: "Recorded by the benchmark." }).labels({});
  const shared = new Float64Array(progress);
  parentPort!.postMessage("ready");
  for (let ops = 0;;) {
    for (let i = 0; i < RECORD_CHUNK; i++) bound.inc();
    ops += RECORD_CHUNK;
    shared[0] = ops;
    shared[1] = threadCpuMs();
  }
}

let session: import("node:inspector/promises").Session | undefined;

/** Starts the V8 CPU profiler, or stops it and writes the profile to `file`. */
async function profile(file: string | undefined): Promise<void> {
  if (file === undefined) {
    const { Session } = await import("node:inspector/promises");
    session = new Session();
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.start");
    return;
  }
  const { profile } = await session!.post("Profiler.stop");
  const { writeFileSync } = await import("node:fs");
  writeFileSync(file, JSON.stringify(profile));
  session!.disconnect();
  session = undefined;
}

async function main(): Promise<void> {
  const [lib, shape, seriesText, record] = process.argv.slice(2) as [
    Lib | "static",
    Shape,
    string,
    string | undefined,
  ];
  const series = Number(seriesText);
  const started = performance.now();
  let registry: Registry | PeerClient;
  if (lib === "ours" || lib === "static") registry = oursRegistry(shape, series);
  else registry = peerRegistry(await peerClient(lib), shape, series);
  const buildMs = performance.now() - started;

  // Recording alongside the scrapes.
  let ops = () => ({ ops: 0, cpuMs: 0 });
  if (record === "record-worker") {
    const { Worker } = await import("node:worker_threads");
    const ours = registry as Registry;
    ours.counter({ name: "bench_recorded_total", help: "Recorded by the benchmark." });
    const progress = new SharedArrayBuffer(16);
    const shared = new Float64Array(progress);
    const tsx = import.meta.resolve("tsx/esm/api");
    const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${
      JSON.stringify(import.meta.url)
    }); })`;
    const worker = new Worker(bootstrap, { eval: true, workerData: { handle: ours.share(), progress } });
    await new Promise((ready) => worker.once("message", ready));
    worker.unref();
    ops = () => ({ ops: shared[0]!, cpuMs: shared[1]! });
  } else if (record === "record-loop") {
    // The application's own work on the main thread: bursts of 1 ms of recording, one a task.
    const bound = (registry as Registry).counter({ name: "bench_recorded_total", help: "Recorded." }).labels({});
    let done = 0;
    const burst = () => {
      const until = performance.now() + 1;
      do {
        for (let i = 0; i < 2000; i++) bound.inc();
        done += 2000;
      } while (performance.now() < until);
      setImmediate(burst);
    };
    setImmediate(burst);
    ops = () => ({ ops: done, cpuMs: NaN });
  }

  collectGarbage();
  const memory = { rss: rss(), heap: process.memoryUsage().heapUsed };

  let port: number;
  let close: () => Promise<void>;
  if (lib === "ours") {
    const adapter = runtime === "node"
      ? await import("../adapters/node.ts")
      : runtime === "deno"
      ? await import("../adapters/deno.ts")
      : await import("../adapters/bun.ts");
    const server = await adapter.serve({ registry, port: 0, hostname: "127.0.0.1", selfMetrics: false });
    port = server.port;
    close = () => server.close();
  } else {
    // The peers as their users serve them: the whole text, gzipped by zlib.gzip when asked.
    // "static": atomic-metrics' text rendered and gzipped (level 1) once, then sent as it is:
    // what a scrape costs that renders nothing, the transfer alone.
    const { createServer } = await import("node:http");
    const zlib = await import("node:zlib");
    const text = lib === "static" ? (registry as Registry).render("prometheus") : "";
    const fixed = { identity: Buffer.from(text), gzip: zlib.gzipSync(text, { level: 1 }) };
    const server = createServer((request, response) => {
      const gzip = /\bgzip\b/.test(String(request.headers["accept-encoding"] ?? ""));
      if (lib === "static") {
        response.setHeader("content-type", "text/plain; version=0.0.4; charset=utf-8");
        if (gzip) response.setHeader("content-encoding", "gzip");
        return response.end(gzip ? fixed.gzip : fixed.identity);
      }
      void (registry as PeerClient).metrics().then((text: string) => {
        response.setHeader("content-type", registry.contentType);
        if (!gzip) return response.end(text);
        zlib.gzip(text, (error, body) => {
          if (error) {
            response.statusCode = 500;
            return response.end();
          }
          response.setHeader("content-encoding", "gzip");
          response.end(body);
        });
      });
    });
    await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
    port = (server.address() as { port: number }).port;
    close = () =>
      new Promise<void>((closed) => {
        server.close(() => closed());
        server.closeAllConnections();
      });
  }

  // The probe: a 1 ms interval; a gap between two ticks is how long the loop could not run it,
  // in wall time and in this thread's CPU time (what it spent working, not descheduled).
  // Started by the first "probe" command only, so the other benchmarks' servers do not pay for it.
  let lastWall = 0;
  let lastCpu = 0;
  let maxGap = 0;
  let maxCpu = 0;
  let ticks = 0;
  let probe: ReturnType<typeof setInterval> | undefined;
  const startProbe = () => {
    lastCpu = threadCpuMs(true);
    lastWall = performance.now();
    probe = setInterval(() => {
      const wall = performance.now();
      const cpu = threadCpuMs(true);
      maxGap = Math.max(maxGap, wall - lastWall);
      maxCpu = Math.max(maxCpu, cpu - lastCpu);
      ticks++;
      lastWall = wall;
      lastCpu = cpu;
    }, 1);
  };

  const say = (value: unknown) => process.stdout.write(JSON.stringify(value) + "\n");
  say({ ready: true, port, ...memory, byteLength: lib === "ours" ? (registry as Registry).byteLength : 0, buildMs });

  let pending = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (data: string) => {
    pending += data;
    for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
      const command = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (command === "probe") {
        if (probe === undefined) startProbe();
        maxGap = 0;
        maxCpu = 0;
        ticks = 0;
        say({ ok: true });
      } else if (command === "probe?") {
        say({ maxGapMs: maxGap, maxCpuMs: maxCpu, ticks });
      } else if (command === "profile" || command.startsWith("profile> ")) {
        // Node only: "profile" starts the CPU profiler, "profile> <file>" stops it and writes the profile.
        void profile(command === "profile" ? undefined : command.slice(9)).then(() => say({ ok: true }));
      } else if (command === "ops") {
        say({ ...ops(), at: performance.now() });
      } else if (command === "exit") {
        if (probe !== undefined) clearInterval(probe);
        void close().finally(() => process.exit(0));
      }
    }
  });
}

const { isMainThread } = await import("node:worker_threads");
if (isMainThread) await main();
else await recordInWorker();

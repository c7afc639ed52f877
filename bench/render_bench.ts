// In-process render, Prometheus 0.0.4 and OpenMetrics, of 10k, 100k and 1M counter series
// (two labels) and of 100k mixed series (counters, gauges, 10-bucket histograms), side by side
// in one process: atomic-metrics as `registry.stream(format)` read to its last byte and as
// `registry.render(format)` (a string), @prometheus-io/client's and prom-client's
// `registry.metrics()`. Each variant is warmed up (the first renders of a fresh registry are
// several times slower than the steady state), then the variants run interleaved, one after the
// other in each round, the first of each round rotating. Each run is timed twice: the main
// thread's CPU time (/proc/thread-self/schedstat: the time it ran, leaving out the time the OS
// gave the core to other processes, and the collector's background threads, which run beside it
// on an idle machine), the process's CPU time (every thread: the collector's too), and the wall
// clock. The figures are the median CPU times over the rounds and the fastest wall time.
// All three libraries' registries share the heap, so each library's collections also walk the
// others' objects: at 1M series this slows every variant that allocates much.
// (A full collection before each run was tried and dropped: on this machine it makes the next
// run several times slower, as the heap shrinks and sweeping competes with it.) Asserts no time.
//
// Run: node --import tsx bench/render_bench.ts [quick]
// Prints one JSON line per case, format and variant:
// {"bench":"render","shape","series","format","variant","bytes","cpu_ms","all_threads_cpu_ms","wall_ms","wall_median_ms"}
import { median, oursRegistry, peerClient, peerRegistry, type Shape, threadCpuMs } from "./_scrape_fixtures.ts";

const quick = process.argv.includes("quick");

interface Case {
  shape: Shape;
  series: number;
  warmup: number;
  rounds: number;
}

const CASES: Case[] = quick
  ? [
    { shape: "counters", series: 10_000, warmup: 3, rounds: 3 },
    { shape: "counters", series: 100_000, warmup: 2, rounds: 3 },
    { shape: "mixed", series: 100_000, warmup: 1, rounds: 2 },
  ]
  : [
    { shape: "counters", series: 10_000, warmup: 30, rounds: 21 },
    { shape: "counters", series: 100_000, warmup: 4, rounds: 7 },
    { shape: "counters", series: 1_000_000, warmup: 1, rounds: 3 },
    { shape: "mixed", series: 100_000, warmup: 2, rounds: 5 },
  ];

const promClient = await peerClient("prom-client");
const prometheusIo = await peerClient("prometheus-io");

/** Reads a stream to its end; returns the bytes it gave. */
async function drain(stream: ReadableStream<Uint8Array>): Promise<number> {
  const reader = stream.getReader();
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return bytes;
    bytes += value.byteLength;
  }
}

interface Timing {
  cpu: number;
  all: number;
  wall: number;
}

async function time(run: () => Promise<unknown> | unknown): Promise<Timing> {
  const cpu = threadCpuMs(true);
  const all = process.cpuUsage();
  const started = performance.now();
  await run();
  const wall = performance.now() - started;
  const used = process.cpuUsage(all);
  return { cpu: threadCpuMs(true) - cpu, all: (used.user + used.system) / 1000, wall };
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

for (const c of CASES) {
  const ours = oursRegistry(c.shape, c.series);
  const io = peerRegistry(prometheusIo, c.shape, c.series);
  const pc = peerRegistry(promClient, c.shape, c.series);
  for (const format of ["prometheus", "openmetrics"] as const) {
    const om = format === "openmetrics";
    const contentType = om ? "OPENMETRICS_CONTENT_TYPE" : "PROMETHEUS_CONTENT_TYPE";
    io.setContentType(prometheusIo.Registry[contentType]);
    pc.setContentType(promClient.Registry[contentType]);
    let bytes = 0;
    const variants: Record<string, () => Promise<unknown> | unknown> = {
      "ours stream()": async () => (bytes = await drain(ours.stream(format))),
      "ours render()": () => ours.render(format),
      "prometheus-io": () => io.metrics(),
      "prom-client": () => pc.metrics(),
    };
    // Sanity: the byte path and the string agree, and each peer writes as many samples.
    const text = ours.render(format);
    if (new TextEncoder().encode(text).byteLength !== await drain(ours.stream(format))) {
      throw new Error(`stream() and render() differ in length for ${c.shape} ${c.series} ${format}`);
    }
    const samples = (s: string) => s.split("\n").filter((l) => l !== "" && !l.startsWith("#")).length;
    for (const peer of [io, pc]) {
      const n = samples(await peer.metrics());
      if (n !== samples(text)) throw new Error(`A peer wrote ${n} samples, ours ${samples(text)}`);
    }
    const times: Record<string, Timing[]> = {};
    for (const name of Object.keys(variants)) {
      times[name] = [];
      for (let i = 0; i < c.warmup; i++) await time(variants[name]!);
    }
    for (let round = 0; round < c.rounds; round++) {
      // Rotate who goes first, so no variant always follows the same one.
      const names = Object.keys(variants);
      for (let k = 0; k < names.length; k++) {
        const name = names[(k + round) % names.length]!;
        times[name]!.push(await time(variants[name]!));
      }
    }
    for (const [variant, list] of Object.entries(times)) {
      console.log(JSON.stringify({
        bench: "render",
        shape: c.shape,
        series: c.series,
        format,
        variant,
        bytes,
        cpu_ms: round3(median(list.map((t) => t.cpu))),
        all_threads_cpu_ms: round3(median(list.map((t) => t.all))),
        wall_ms: round3(Math.min(...list.map((t) => t.wall))),
        wall_median_ms: round3(median(list.map((t) => t.wall))),
      }));
    }
  }
}

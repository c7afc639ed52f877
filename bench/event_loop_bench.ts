// How long a scrape blocks the server's event loop, on Node, Deno and Bun: the server (the
// runtime's atomic-metrics adapter, in a child process: bench/_scrape_server.ts) runs a 1 ms
// setInterval probe, and the longest gap between two of its ticks during a scrape is the longest
// block. Each gap is measured twice: in wall time, and in the main thread's own CPU time between
// the ticks (/proc/thread-self/schedstat), which leaves out the time the OS gave the core to
// other processes — on a busy machine the wall gap also counts those. An idle window of 1 s with
// no scrape shows the probe's floor. Sizes: 10k, 100k and 1M counter series; Prometheus' Accept
// (OpenMetrics), identity and gzip. @prometheus-io/client behind node:http alongside at 10k and
// 100k (its render is one block). Asserts no time.
//
// Run: node --import tsx bench/event_loop_bench.ts [quick]
// Prints one JSON line per runtime, library, size and encoding:
// {"bench":"event_loop","runtime","lib","series","encoding","scrapes","scrape_ms","gap_ms","gap_max_ms","cpu_ms","cpu_max_ms","idle_gap_ms","idle_cpu_ms"}
import { closeConnections, PROMETHEUS_ACCEPT, scrape, startServer } from "./_scrape_client.ts";
import { median } from "./_scrape_fixtures.ts";

const quick = process.argv.includes("quick");
const round3 = (x: number) => Math.round(x * 1000) / 1000;
const SIZES = quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000];
const RUNTIMES = ["node", "deno", "bun"] as const;

function plan(series: number): { warmup: number; scrapes: number } {
  if (series <= 10_000) return { warmup: 20, scrapes: quick ? 5 : 15 };
  if (series <= 100_000) return { warmup: 3, scrapes: quick ? 3 : 7 };
  return { warmup: 1, scrapes: quick ? 2 : 3 };
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

for (const runtime of RUNTIMES) {
  for (const series of SIZES) {
    const libs = runtime === "node" && series <= 100_000 ? ["ours", "prometheus-io"] as const : ["ours"] as const;
    for (const lib of libs) {
      const server = await startServer(runtime, lib, "counters", series);
      const { warmup, scrapes } = plan(series);
      for (const encoding of ["identity", "gzip"]) {
        const headers = { accept: PROMETHEUS_ACCEPT, "accept-encoding": encoding };
        for (let i = 0; i < warmup; i++) await scrape(server.port, headers);
        await server.ask("probe");
        await sleep(1000);
        const idle = await server.ask("probe?");
        const gaps: number[] = [];
        const cpus: number[] = [];
        const times: number[] = [];
        for (let i = 0; i < scrapes; i++) {
          await server.ask("probe");
          const result = await scrape(server.port, headers);
          const probed = await server.ask("probe?");
          if (result.status !== 200) throw new Error(`${runtime} ${lib} answered ${result.status}`);
          gaps.push(probed.maxGapMs!);
          cpus.push(probed.maxCpuMs!);
          times.push(result.ms);
        }
        console.log(JSON.stringify({
          bench: "event_loop",
          runtime,
          lib: lib === "ours" ? "atomic-metrics" : "@prometheus-io/client",
          series,
          encoding,
          scrapes,
          scrape_ms: round3(median(times)),
          gap_ms: round3(median(gaps)),
          gap_max_ms: round3(Math.max(...gaps)),
          cpu_ms: round3(median(cpus)),
          cpu_max_ms: round3(Math.max(...cpus)),
          idle_gap_ms: round3(idle.maxGapMs!),
          idle_cpu_ms: round3(idle.maxCpuMs!),
        }));
      }
      await server.stop();
    }
  }
}
closeConnections();

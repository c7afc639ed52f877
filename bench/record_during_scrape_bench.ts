// Recording throughput while scrapes run back to back, against the same with no scrape, on the
// Node server (bench/_scrape_server.ts in a child process, 100k counter series plus the one
// recorded into). Two ways to record:
// - worker: a worker thread attached to the registry increments a bound counter as fast as it
//   can, while the main thread serves the scrapes (the layout the library is built for);
// - main thread: the application's work on the server's own event loop, in tasks of 1 ms of
//   increments each, taking turns with the render's slices.
// Windows of 2 s with no scrape and 2 s of back-to-back scrapes (Prometheus' Accept: OpenMetrics;
// gzip, then identity) alternate, 3 of each. Throughput is counted per wall second and, for the
// worker, per second of its own CPU time (/proc/thread-self/schedstat): on a machine with fewer
// free cores than threads, the first also counts the cores the scrape takes away. Asserts no time.
//
// Run: node --import tsx bench/record_during_scrape_bench.ts [quick]
// Prints one JSON line per way and encoding:
// {"bench":"record","mode","encoding","series","idle_ops_s","scrape_ops_s","idle_ops_cpu_s","scrape_ops_cpu_s","scrapes"}
import { closeConnections, PROMETHEUS_ACCEPT, scrape, startServer } from "./_scrape_client.ts";
import { median } from "./_scrape_fixtures.ts";

const quick = process.argv.includes("quick");
const SERIES = 100_000;
const WINDOW_MS = quick ? 1000 : 2000;
const WINDOWS = quick ? 2 : 3;
for (const mode of ["record-worker", "record-loop"] as const) {
  const server = await startServer("node", "ours", "counters", SERIES, mode);
  for (const encoding of ["gzip", "identity"]) {
    const headers = { accept: PROMETHEUS_ACCEPT, "accept-encoding": encoding };
    for (let i = 0; i < 3; i++) await scrape(server.port, headers); // warm-up
    const idle: { wall: number; cpu: number }[] = [];
    const busy: { wall: number; cpu: number }[] = [];
    let scrapes = 0;
    for (let w = 0; w < WINDOWS; w++) {
      for (const scraping of [false, true]) {
        const before = await server.ask("ops");
        if (scraping) {
          const until = performance.now() + WINDOW_MS;
          while (performance.now() < until) {
            await scrape(server.port, headers);
            scrapes++;
          }
        } else await new Promise((done) => setTimeout(done, WINDOW_MS));
        const after = await server.ask("ops");
        const ops = after.ops! - before.ops!;
        (scraping ? busy : idle).push({
          wall: ops / ((after.at! - before.at!) / 1000),
          cpu: ops / ((after.cpuMs! - before.cpuMs!) / 1000),
        });
      }
    }
    console.log(JSON.stringify({
      bench: "record",
      mode: mode === "record-worker" ? "worker" : "main thread",
      encoding,
      series: SERIES,
      idle_ops_s: Math.round(median(idle.map((x) => x.wall))),
      scrape_ops_s: Math.round(median(busy.map((x) => x.wall))),
      // The main thread's bursts are too short for the kernel's CPU figure (see threadCpuMs).
      idle_ops_cpu_s: mode === "record-worker" ? Math.round(median(idle.map((x) => x.cpu))) : null,
      scrape_ops_cpu_s: mode === "record-worker" ? Math.round(median(busy.map((x) => x.cpu))) : null,
      scrapes,
    }));
  }
  await server.stop();
}
closeConnections();

// Scrapes over HTTP on loopback, atomic-metrics' Node server (adapters/node.ts: streamed, zlib
// gzip at level 1) against the peers served the way their users serve them with node:http
// (`res.end(await registry.metrics())`, gzipped with `zlib.gzip` when asked). Every server runs
// in a child process of its own (bench/_scrape_server.ts), so its memory is its own; this
// process is the scraper (node:http, keep-alive, body counted and dropped, not decoded).
//
// 1. 1M counter series, identity: time of a whole scrape, and the server's peak RSS during it
//    (VmHWM reset before each scrape, and VmRSS sampled every 2 ms) against its RSS once the
//    registry was built (after a full collection, before the first scrape).
// 2. gzip scrapes of 10k counter series, sequential: p50 and p95, ours against prom-client and
//    @prometheus-io/client; and the server's CPU time per scrape (all its threads: zlib's too).
// 3. 8 concurrent scrapers of 10k series (each scraping back to back) against one lone scraper:
//    p95 of a scrape, identity and gzip, and the server's CPU per scrape; alongside, prom-client,
//    and a server that sends atomic-metrics' exposition rendered (and gzipped) once, before: what
//    eight concurrent scrapes of that body cost with no render at all, on this machine.
// Peers and ours alternate scrape by scrape after a warm-up. Asserts no time.
//
// Run: node --import tsx bench/http_scrape_bench.ts [quick] [only=big|gzip|concurrent]
// Prints one JSON line per measurement: {"bench":"http","case",...}.
import { readFileSync } from "node:fs";
import {
  closeConnections,
  memoryOf,
  resetPeak,
  scrape,
  type ServerChild,
  startServer,
  TEXT_ACCEPT,
} from "./_scrape_client.ts";
import { median, percentile } from "./_scrape_fixtures.ts";

const quick = process.argv.includes("quick");
const say = (row: Record<string, unknown>) => console.log(JSON.stringify({ bench: "http", ...row }));
const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** CPU time (user + system, all threads) a process has used, in ms (/proc/<pid>/stat, 10 ms ticks). */
function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

// ---- 1. 1M counters, identity: time and peak RSS ----------------------------------------------

async function bigScrape(): Promise<void> {
  const series = quick ? 200_000 : 1_000_000;
  const rounds = quick ? 2 : 3;
  const servers: Record<string, ServerChild> = {
    "atomic-metrics": await startServer("node", "ours", "counters", series),
    "@prometheus-io/client": await startServer("node", "prometheus-io", "counters", series),
  };
  const results: Record<string, { ms: number[]; cpu: number[]; peak: number[]; bytes: number }> = {};
  for (const name of Object.keys(servers)) results[name] = { ms: [], cpu: [], peak: [], bytes: 0 };
  const headers = { accept: TEXT_ACCEPT, "accept-encoding": "identity" };
  for (let round = -1; round < rounds; round++) {
    for (const [name, server] of Object.entries(servers)) {
      resetPeak(server.pid);
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, memoryOf(server.pid).rss)), 2);
      const cpu0 = cpuOf(server.pid);
      const result = await scrape(server.port, headers);
      clearInterval(sampler);
      if (result.status !== 200) throw new Error(`${name} answered ${result.status}`);
      if (round < 0) continue; // the warm-up
      const r = results[name]!;
      r.ms.push(result.ms);
      r.cpu.push(cpuOf(server.pid) - cpu0);
      r.peak.push(Math.max(peak, memoryOf(server.pid).hwm));
      r.bytes = result.bytes;
    }
  }
  for (const [name, server] of Object.entries(servers)) {
    const r = results[name]!;
    say({
      case: "big",
      lib: name,
      series,
      bytes: r.bytes,
      ms: round3(median(r.ms)),
      ms_min: round3(Math.min(...r.ms)),
      cpu_ms: median(r.cpu),
      rss_before: server.info.rss,
      heap_before: server.info.heap,
      byte_length: server.info.byteLength,
      peak_rss: Math.max(...r.peak),
      rounds,
    });
    await server.stop();
  }
}

// ---- 2. gzip scrapes of 10k series -------------------------------------------------------------

async function gzipScrape(): Promise<void> {
  const series = 10_000;
  const warmup = quick ? 10 : 40;
  const scrapes = quick ? 30 : 200;
  const servers: Record<string, ServerChild> = {
    "atomic-metrics": await startServer("node", "ours", "counters", series),
    "prom-client": await startServer("node", "prom-client", "counters", series),
    "@prometheus-io/client": await startServer("node", "prometheus-io", "counters", series),
  };
  const headers = { accept: TEXT_ACCEPT, "accept-encoding": "gzip" };
  const times: Record<string, number[]> = {};
  const bytes: Record<string, number> = {};
  for (const name of Object.keys(servers)) times[name] = [];
  const cpu: Record<string, number> = {};
  for (let i = -warmup; i < scrapes; i++) {
    if (i === 0) { for (const [name, server] of Object.entries(servers)) cpu[name] = cpuOf(server.pid); }
    for (const [name, server] of Object.entries(servers)) {
      const result = await scrape(server.port, headers);
      if (result.status !== 200) throw new Error(`${name} answered ${result.status}`);
      if (i >= 0) times[name]!.push(result.ms);
      bytes[name] = result.bytes;
    }
  }
  for (const [name, server] of Object.entries(servers)) cpu[name] = (cpuOf(server.pid) - cpu[name]!) / scrapes;
  for (const [name, server] of Object.entries(servers)) {
    say({
      case: "gzip",
      cpu_ms: round3(cpu[name]!),
      lib: name,
      series,
      scrapes,
      bytes: bytes[name],
      p50: round3(percentile(times[name]!, 50)),
      p95: round3(percentile(times[name]!, 95)),
    });
    await server.stop();
  }
}

// ---- 3. 8 concurrent scrapers -----------------------------------------------------------------

async function concurrentScrapes(): Promise<void> {
  const series = 10_000;
  const scrapers = 8;
  const perScraper = quick ? 10 : 40;
  const lone = quick ? 40 : 200;
  for (const lib of ["ours", "static", "prom-client"] as const) {
    const server = await startServer("node", lib, "counters", series);
    for (const encoding of ["identity", "gzip"]) {
      const headers = { accept: TEXT_ACCEPT, "accept-encoding": encoding };
      for (let i = 0; i < 40; i++) await scrape(server.port, headers); // warm-up
      // Alternate lone and concurrent runs, so a change in the machine's load touches both.
      const alone: number[] = [];
      const together: number[] = [];
      let aloneCpu = 0;
      let togetherCpu = 0;
      for (let part = 0; part < 4; part++) {
        let cpu = cpuOf(server.pid);
        for (let i = 0; i < lone / 4; i++) alone.push((await scrape(server.port, headers)).ms);
        aloneCpu += cpuOf(server.pid) - cpu;
        cpu = cpuOf(server.pid);
        await Promise.all(Array.from({ length: scrapers }, async () => {
          for (let i = 0; i < perScraper / 4; i++) together.push((await scrape(server.port, headers)).ms);
        }));
        togetherCpu += cpuOf(server.pid) - cpu;
      }
      say({
        case: "concurrent",
        lib: lib === "ours" ? "atomic-metrics" : lib === "static" ? "static body" : "prom-client",
        encoding,
        series,
        scrapers,
        lone_p50: round3(percentile(alone, 50)),
        lone_p95: round3(percentile(alone, 95)),
        concurrent_p50: round3(percentile(together, 50)),
        concurrent_p95: round3(percentile(together, 95)),
        lone_cpu_ms: round3(aloneCpu / alone.length),
        concurrent_cpu_ms: round3(togetherCpu / together.length),
      });
    }
    await server.stop();
  }
}

const only = process.argv.find((a) => a.startsWith("only="))?.slice(5);
if (only === undefined || only === "big") await bigScrape();
if (only === undefined || only === "gzip") await gzipScrape();
if (only === undefined || only === "concurrent") await concurrentScrapes();
closeConnections();

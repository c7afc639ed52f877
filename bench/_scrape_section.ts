// The scrape section of bench/RESULTS.md (issue 13's targets): runs bench/render_bench.ts,
// bench/http_scrape_bench.ts, bench/event_loop_bench.ts and bench/record_during_scrape_bench.ts
// and returns their results as markdown, every figure with its target and whether this run met
// it. bench/run.ts appends it; `node --import tsx bench/_scrape_section.ts` prints it alone.
// SCRAPE_BENCH_SAVED=<dir> lays out saved outputs (<dir>/render_bench.jsonl, …) instead.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { met, ms, ratio } from "./_scrape_fixtures.ts";

/** One JSON line of a scrape benchmark (each benchmark fills its own fields). */
interface Row {
  case: string;
  encoding: string;
  format: string;
  lib: string;
  mode: string;
  runtime: string;
  shape: string;
  variant: string;
  byte_length: number;
  bytes: number;
  all_threads_cpu_ms: number;
  concurrent_cpu_ms: number;
  concurrent_p50: number;
  concurrent_p95: number;
  cpu_max_ms: number;
  cpu_ms: number;
  gap_max_ms: number;
  gap_ms: number;
  heap_before: number;
  idle_cpu_ms: number;
  idle_gap_ms: number;
  idle_ops_cpu_s: number;
  idle_ops_s: number;
  lone_cpu_ms: number;
  lone_p50: number;
  lone_p95: number;
  ms: number;
  ms_min: number;
  p50: number;
  p95: number;
  peak_rss: number;
  rounds: number;
  rss_before: number;
  scrape_ms: number;
  scrape_ops_cpu_s: number;
  scrape_ops_s: number;
  scrapes: number;
  series: number;
  wall_ms: number;
}

const ROOT = new URL("..", import.meta.url).pathname;
const MiB = 2 ** 20;

/**
 * Runs a benchmark and returns its JSON lines. With SCRAPE_BENCH_SAVED=<dir>, reads them from
 * <dir>/<name>.jsonl instead (to lay out saved results again without measuring again).
 */
function run(file: string, args: string[] = []): Row[] {
  const saved = process.env.SCRAPE_BENCH_SAVED;
  const out = saved
    ? readFileSync(`${saved}/${file.replace(/^.*\//, "").replace(/\.ts$/, "")}.jsonl`, "utf8")
    : execFileSync(process.execPath, ["--import", "tsx", file, ...args], {
      cwd: ROOT,
      encoding: "utf8",
      maxBuffer: 64 << 20,
      stdio: ["ignore", "pipe", "pipe"],
    });
  return out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

function version(pkg: string): string {
  return JSON.parse(readFileSync(`${ROOT}node_modules/${pkg}/package.json`, "utf8")).version;
}

function runtimeVersion(bin: string): string {
  try {
    return execFileSync(`${ROOT}node_modules/.bin/${bin}`, ["--version"], { encoding: "utf8" }).split("\n")[0]!;
  } catch {
    return `${bin} (not found)`;
  }
}

const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;
const count = (n: number) => n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`;
const failed = (what: string, e: unknown) =>
  `\nThe ${what} benchmark failed to run: ${(e as Error).message.split("\n").slice(0, 3).join(" ")}\n`;

function renderPart(): string {
  const rows = run("bench/render_bench.ts");
  const find = (shape: string, series: number, format: string, variant: string) =>
    rows.find((r) => r.shape === shape && r.series === series && r.format === format && r.variant === variant);
  let md = `\n## In-process render\n\n`;
  md +=
    `The exposition of counters with two labels (\`route\`, \`id\`) and of a mix of a third each of counter, gauge and 10-bucket histogram series (10 metrics of each), rendered in one process, the four variants interleaved after a warm-up. atomic-metrics as \`registry.stream(format)\` read to its last byte (what the HTTP handler sends) and as \`registry.render(format)\` (a string); the peers' \`registry.metrics()\`. Each cell is the median **CPU time of the main thread** over the rounds (/proc/thread-self/schedstat: the time the render ran, without the time the OS gave the core to other processes, nor the collector's background threads, which run beside it on an idle machine). Ratios are a peer's time divided by ours three ways: main-thread CPU (the verdict), the whole process's CPU (every thread: the peers' collections run largely on helper threads), and the fastest wall time (which on a machine busier than its cores counts waiting for a core). The three libraries' registries share one heap, so each one's collections also walk the others' objects, which weighs on whatever allocates much at 1M series.\n\n`;
  md +=
    `| series | format | bytes | ours \`stream()\` | ours \`render()\` | @prometheus-io/client | prom-client | @prometheus-io ÷ \`stream()\`: main thread · all threads · wall | @prometheus-io ÷ \`render()\` (main thread) | prom-client ÷ \`stream()\` (main thread) | target | met (\`stream()\` / \`render()\`) |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n`;
  const cases = [...new Set(rows.map((r) => `${r.shape} ${r.series}`))];
  for (const key of cases) {
    const [shape, seriesText] = key.split(" ") as [string, string];
    const series = Number(seriesText);
    for (const format of ["prometheus", "openmetrics"]) {
      const stream = find(shape, series, format, "ours stream()");
      const render = find(shape, series, format, "ours render()");
      const io = find(shape, series, format, "prometheus-io");
      const pc = find(shape, series, format, "prom-client");
      if (!stream || !render || !io || !pc) continue;
      const want = shape === "mixed" ? 3 : series >= 100_000 ? 4 : undefined;
      md += `| ${count(series)} ${shape === "mixed" ? "mixed" : "counters"} | ${
        format === "openmetrics" ? "OpenMetrics" : "0.0.4"
      } | ${(stream.bytes / MiB).toFixed(1)} MiB | ${ms(stream.cpu_ms)} | ${ms(render.cpu_ms)} | ${ms(io.cpu_ms)} | ${
        ms(pc.cpu_ms)
      } | **${ratio(io.cpu_ms / stream.cpu_ms)}** · ${ratio(io.all_threads_cpu_ms / stream.all_threads_cpu_ms)} · ${
        ratio(io.wall_ms / stream.wall_ms)
      } | ${ratio(io.cpu_ms / render.cpu_ms)} | ${ratio(pc.cpu_ms / stream.cpu_ms)} | ${
        want === undefined ? "" : `≥ ${want}×`
      } | ${
        want === undefined
          ? ""
          : `${met(io.cpu_ms / stream.cpu_ms >= want)} / ${met(io.cpu_ms / render.cpu_ms >= want)}`
      } |\n`;
    }
  }
  md +=
    `\nGrowth from 10k to 1M counters: exponent log(t1M / t10k) / log(100), on the main-thread CPU times above (1.00 is linear).\n\n| variant | 0.0.4 | OpenMetrics | target | met |\n|---|---|---|---|---|\n`;
  for (const variant of ["ours stream()", "ours render()", "prometheus-io", "prom-client"]) {
    const exponents = ["prometheus", "openmetrics"].map((format) => {
      const small = find("counters", 10_000, format, variant);
      const large = find("counters", 1_000_000, format, variant);
      return small && large ? Math.log(large.cpu_ms / small.cpu_ms) / Math.log(100) : NaN;
    });
    const ours = variant.startsWith("ours");
    const name = ours
      ? `atomic-metrics \`${variant.slice(5)}\``
      : variant === "prometheus-io"
      ? "@prometheus-io/client"
      : "prom-client";
    md += `| ${name} | ${exponents[0]!.toFixed(2)} | ${exponents[1]!.toFixed(2)} | ${ours ? "≤ 1.05" : ""} | ${
      ours ? met(exponents.every((e) => e <= 1.05)) : ""
    } |\n`;
  }
  return md;
}

function httpPart(): string {
  const rows = run("bench/http_scrape_bench.ts");
  let md = "";
  const big = rows.filter((r) => r.case === "big");
  const ours = big.find((r) => r.lib === "atomic-metrics");
  const io = big.find((r) => r.lib === "@prometheus-io/client");
  if (ours && io) {
    md += `\n## Over HTTP: ${count(ours.series)} counters, identity (Node, loopback)\n\n`;
    md +=
      `Each server in a child process of its own: atomic-metrics' \`serve()\` (adapters/node.ts, streamed), @prometheus-io/client behind node:http (\`res.end(await registry.metrics())\`). The scraper (node:http, this process) reads the body to its end; scrapes alternate between the servers after one warm-up each, ${ours.rounds} each. Server RSS: VmRSS once the registry is built (after a full collection, before any scrape), and the peak during each scrape (VmHWM reset before it, and VmRSS sampled every 2 ms). Server CPU is the whole process's (all threads) per scrape, from /proc/<pid>/stat.\n\n`;
    md += `| case | atomic-metrics | @prometheus-io/client | ratio | target | met |\n|---|---|---|---|---|---|\n`;
    md += `| scrape, wall (median; fastest) | ${ms(ours.ms)}; ${ms(ours.ms_min)} | ${ms(io.ms)}; ${ms(io.ms_min)} | ${
      ratio(io.ms / ours.ms)
    }; ${ratio(io.ms_min / ours.ms_min)} | ≥ 2× | ${met(io.ms / ours.ms >= 2)} |\n`;
    md += `| server CPU per scrape (median) | ${ms(ours.cpu_ms)} | ${ms(io.cpu_ms)} | ${
      ratio(io.cpu_ms / ours.cpu_ms)
    } |  |  |\n`;
    md += `| body | ${(ours.bytes / MiB).toFixed(1)} MiB | ${(io.bytes / MiB).toFixed(1)} MiB |  |  |  |\n`;
    md += `| server RSS with the registry built, before the first scrape | ${mib(ours.rss_before)} (byteLength ${
      mib(ours.byte_length)
    }, heap ${mib(ours.heap_before)}) | ${mib(io.rss_before)} (heap ${mib(io.heap_before)}) |  |  |  |\n`;
    md += `| server peak RSS during a scrape (the largest) | ${mib(ours.peak_rss)} (+${
      mib(ours.peak_rss - ours.rss_before)
    }) | ${mib(io.peak_rss)} (+${mib(io.peak_rss - io.rss_before)}) |  | ≤ the RSS before + 64 MiB | ${
      met(ours.peak_rss - ours.rss_before <= 64 * MiB)
    } |\n`;
  }
  const gzip = rows.filter((r) => r.case === "gzip");
  const oursGzip = gzip.find((r) => r.lib === "atomic-metrics");
  if (oursGzip) {
    md += `\n## gzip scrapes of ${count(oursGzip.series)} counters (Node, loopback, sequential)\n\n`;
    md +=
      `atomic-metrics' \`serve()\` (streamed, zlib gzip at level 1) against the peers behind node:http gzipping the whole text with \`zlib.gzip\` (its default level), each server in a child process; text format 0.0.4; the scraper alternates between the servers scrape by scrape, ${oursGzip.scrapes} each after a warm-up; the body is read, not decoded.\n\n`;
    md +=
      `| library | body (gzip) | p50 | p95 | p50 ÷ ours | server CPU per scrape (all threads) | ÷ ours | target (p50) | met |\n|---|---|---|---|---|---|---|---|---|\n`;
    for (const r of gzip) {
      const isPromClient = r.lib === "prom-client";
      const isOurs = r === oursGzip;
      md += `| ${r.lib} | ${(r.bytes / 1024).toFixed(0)} KiB | ${ms(r.p50)} | ${ms(r.p95)} | ${
        isOurs ? "" : ratio(r.p50 / oursGzip.p50)
      } | ${ms(r.cpu_ms)} | ${isOurs ? "" : ratio(r.cpu_ms / oursGzip.cpu_ms)} | ${isPromClient ? "≥ 3×" : ""} | ${
        isPromClient ? met(r.p50 / oursGzip.p50 >= 3) : ""
      } |\n`;
    }
  }
  const concurrent = rows.filter((r) => r.case === "concurrent");
  if (concurrent.length > 0) {
    md += `\n## 8 concurrent scrapers of ${count(concurrent[0]!.series)} counters (Node, loopback)\n\n`;
    md +=
      `One server in a child process; 8 scrapers in this process each scraping back to back, against one lone scraper; the lone and the concurrent runs alternate in 4 parts. Text format 0.0.4. atomic-metrics shares one render among the scrapes of a kind that arrive while it runs (single flight); prom-client alongside, rendering for each; and \"static body\": a node:http server sending atomic-metrics' exposition rendered (and gzipped at level 1) once beforehand, so no render at all — what eight concurrent transfers of that body cost on this machine (server and scraper share its cores).\n\n`;
    md +=
      `| library | encoding | lone p50 | lone p95 | 8 concurrent p50 | 8 concurrent p95 | server CPU per scrape, lone → concurrent | p95 ÷ lone p95 | target | met |\n|---|---|---|---|---|---|---|---|---|---|\n`;
    for (const r of concurrent) {
      const isOurs = r.lib === "atomic-metrics";
      md += `| ${r.lib} | ${r.encoding} | ${ms(r.lone_p50)} | ${ms(r.lone_p95)} | ${ms(r.concurrent_p50)} | ${
        ms(r.concurrent_p95)
      } | ${ms(r.lone_cpu_ms)} → ${ms(r.concurrent_cpu_ms)} | ${ratio(r.concurrent_p95 / r.lone_p95)} | ${
        isOurs ? "≤ 1.5×" : ""
      } | ${isOurs ? met(r.concurrent_p95 / r.lone_p95 <= 1.5) : ""} |\n`;
    }
  }
  return md;
}

function eventLoopPart(): string {
  const rows = run("bench/event_loop_bench.ts");
  let md = `\n## Longest event-loop block during a scrape (the server's own 1 ms interval probe)\n\n`;
  md +=
    `Each server in a child process (its runtime's adapter; @prometheus-io/client behind node:http alongside), scraped with Prometheus' headers (OpenMetrics) from this process after a warm-up. The probe is a 1 ms \`setInterval\` in the server; the longest gap between two ticks during a scrape is the longest block. Each gap is measured as the **main thread's CPU time** between the ticks (/proc/thread-self/schedstat: the time it worked) and as wall time, which on a machine busier than its cores also counts the time the OS gave the core to other processes: the idle floor (the longest gap in 1 s with no scrape) shows how much. Figures: median over the scrapes, then the worst.\n\n`;
  md +=
    `| runtime | library | series | encoding | scrape (median) | longest block, CPU | longest gap, wall | idle floor (CPU; wall) | target | met (CPU, worst) |\n|---|---|---|---|---|---|---|---|---|---|\n`;
  for (const r of rows) {
    const isOurs = r.lib === "atomic-metrics";
    md += `| ${r.runtime} | ${r.lib} | ${count(r.series)} | ${r.encoding} | ${ms(r.scrape_ms)} | ${ms(r.cpu_ms)}; ${
      ms(r.cpu_max_ms)
    } | ${ms(r.gap_ms)}; ${ms(r.gap_max_ms)} | ${ms(r.idle_cpu_ms)}; ${ms(r.idle_gap_ms)} | ${
      isOurs ? "≤ 10 ms" : ""
    } | ${isOurs ? met(r.cpu_max_ms <= 10) : ""} |\n`;
  }
  return md;
}

function recordPart(): string {
  const rows = run("bench/record_during_scrape_bench.ts");
  let md = `\n## Recording while scrapes run back to back (Node, ${count(rows[0]?.series ?? 0)} counters)\n\n`;
  md +=
    `The server in a child process also records: a worker thread attached to the registry increments a bound counter as fast as it can while the main thread serves the scrapes (the layout the library is built for; the target), or the application's own work on the main thread, tasks of 1 ms of increments taking turns with the render's slices. Windows of 2 s with no scrape and 2 s of back-to-back scrapes (Prometheus' Accept: OpenMetrics) alternate, 3 of each; medians. Throughput per wall second, and for the worker per second of its own CPU time, which leaves out the cores the scrape takes away on a machine with fewer free cores than threads. On a machine busier than its cores, a thread that sometimes waits (the main thread while zlib compresses) is given more of a core than one that never does, so a ratio above 100% is the scheduler's doing, not the library's.\n\n`;
  md +=
    `| recording | scrape encoding | no scrape | during scrapes (scrapes run) | during ÷ none, wall | during ÷ none, per CPU second | target | met |\n|---|---|---|---|---|---|---|---|\n`;
  for (const r of rows) {
    const wall = r.scrape_ops_s / r.idle_ops_s;
    const isWorker = r.mode === "worker";
    md += `| ${r.mode} | ${r.encoding} | ${(r.idle_ops_s / 1e6).toFixed(1)} M/s | ${
      (r.scrape_ops_s / 1e6).toFixed(1)
    } M/s (${r.scrapes}) | ${(wall * 100).toFixed(0)}% | ${
      isWorker ? `${(r.scrape_ops_cpu_s / r.idle_ops_cpu_s * 100).toFixed(0)}%` : ""
    } | ${isWorker ? "≥ 50%" : ""} | ${isWorker ? met(wall >= 0.5) : ""} |\n`;
  }
  return md;
}

/** Runs the scrape benchmarks and returns their section of bench/RESULTS.md. */
export function scrapeSection(): string {
  let md = `\n# Scrapes (vs prom-client ${version("prom-client")} and @prometheus-io/client ${
    version("@prometheus-io/client")
  })\n\n`;
  const saved = process.env.SCRAPE_BENCH_SAVED;
  const load = (when: string) => `1-minute load average when this section ${when}: ${loadavg()[0]!.toFixed(2)}.`;
  md += `Node ${process.version}, ${runtimeVersion("deno")}, Bun ${runtimeVersion("bun")}; ${cpus().length} cores. ${
    saved ? `Laid out from results saved in ${saved}.` : load("started")
  }\n`;
  for (
    const [name, part] of [
      ["render", renderPart],
      ["HTTP scrape", httpPart],
      ["event-loop", eventLoopPart],
      ["recording", recordPart],
    ] as const
  ) {
    try {
      md += part();
    } catch (e) {
      md += failed(name, e);
    }
  }
  if (!saved) md += `\n${load("ended")}\n`;
  return md;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(scrapeSection());

// `npm run bench`: runs every benchmark in one go and writes bench/RESULTS.md with the
// ratios against the peers (prom-client and @prometheus-io/client, measured side by side in
// the same run), and every memory and speed target with whether this run met it.
// BENCH_BASELINE=<git revision> also measures the recording cases on that revision's code, in
// this run, for the "today's speed" comparison (default: the figures recorded before the store
// redesign).
import { execFileSync } from "node:child_process";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fmtBytes } from "./_memory.ts";
import type { ClusterRow } from "./cluster_bench.ts";

function run(file: string, args: string[] = [], flags: string[] = [], cwd?: string): Record<string, unknown>[] {
  const out = execFileSync(process.execPath, [...flags, "--import", "tsx", file, ...args], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
    ...(cwd === undefined ? {} : { cwd }),
  });
  return out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

const started = performance.now();
const load = () => loadavg()[0]!.toFixed(2);
const met = (m: boolean | null | undefined) => (m === true ? "met" : m === false ? "**not met**" : "");
/** The commit measured, and whether the working tree differed from it. */
function revision(): string {
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "mod.ts"], { encoding: "utf8" }).trim();
    return dirty === "" ? `commit ${commit}` : `commit ${commit} with uncommitted changes in src/`;
  } catch {
    return "not a git checkout";
  }
}

const fmtNs = (ns: number) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : `${ns.toFixed(1)} ns`);
const machine = `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${
  (totalmem() / 2 ** 30).toFixed(0)
} GiB, Node ${process.version}`;

const core = run("bench/core_bench.ts");
let md = `# Benchmarks\n\nMeasured by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: ${machine}.\n`;
md +=
  `Each row runs both libraries in one process, interleaved, after the same warm-up; the figure is the median of 15 batches (best of 3 rounds). Ratios are prom-client's time divided by ours. These are benchmarks, not tests: nothing here fails a build.\n\n`;
md += `## Recording and rendering (vs prom-client ${
  JSON.parse(
    execFileSync(process.execPath, [
      "-e",
      "process.stdout.write(JSON.stringify(require('prom-client/package.json').version))",
    ], { encoding: "utf8" }),
  )
})\n\n`;
md += `| case | atomic-metrics | prom-client | ratio | target |\n|---|---|---|---|---|\n`;
for (const r of core) {
  const target = [r.target_ns ? `≤ ${fmtNs(r.target_ns as number)}` : "", r.target_ratio ? `≥ ${r.target_ratio}×` : ""]
    .filter(Boolean).join(", ");
  md += `| ${r.case} | ${fmtNs(r.ours_ns as number)} | ${
    fmtNs(r.prom_client_ns as number)
  } | ${r.ratio}× | ${target} |\n`;
}

try {
  // The scrape benchmark prints one pretty-printed JSON object.
  const out = execFileSync(process.execPath, ["--import", "tsx", "bench/scrape_bench.ts"], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  const scrape = JSON.parse(out.slice(out.indexOf("{")));
  md += `\n## HTTP scrape of ${scrape.series.toLocaleString("en")} series (Node adapter, loopback, sequential)\n\n`;
  md += `| case | scrapes | bytes | p50 | p95 | p99 |\n|---|---|---|---|---|---|\n`;
  for (const [name, r] of Object.entries<Record<string, number>>(scrape.results)) {
    md += `| ${name} | ${r.scrapes} | ${r.bytes} | ${r.p50} ms | ${r.p95} ms | ${r.p99} ms |\n`;
  }
  const [ratioName, ratio] = Object.entries(scrape.ratios)[0]!;
  md += `\n${ratioName}: ${ratio}×. Target: p95 < ${scrape.target["p95 ms"]} ms — ${
    scrape.target.met ? "met" : "NOT met"
  }.\n`;
} catch (e) {
  md += `\n## HTTP scrape\n\nThe scrape benchmark failed to run: ${(e as Error).message.split("\n")[0]}\n`;
}
try {
  const [threads] = run("bench/threads_bench.ts");
  md += `\n## Threads (recording throughput per core, and scrape vs prom-client's cluster aggregation)\n\n${
    threads!.markdown
  }\n`;
} catch (e) {
  md += `\n## Threads\n\nThe threads benchmark failed to run: ${(e as Error).message.split("\n")[0]}\n`;
}

// ---- today's speed: the recording cases against the figures before the store redesign ----
{
  // bench/RESULTS.md at 9226f4a (the fixed-layout store), measured on this machine.
  const before: Record<string, number> = {
    "counter.labels(l).inc() bound": 3.3,
    "counter.inc(labels) 2 labels": 46.3,
    "histogram.labels(l).observe() bound": 13.2,
  };
  let source = "bench/RESULTS.md at 9226f4a, before the store redesign";
  const revision = process.env.BENCH_BASELINE;
  if (revision !== undefined && revision !== "") {
    // That revision's code and bench, in a scratch directory sharing this node_modules.
    const dir = mkdtempSync(join(tmpdir(), "atomic-metrics-baseline-"));
    try {
      execFileSync("sh", ["-c", `git archive ${revision} mod.ts src bench | tar -x -C ${dir}`]);
      symlinkSync(join(process.cwd(), "node_modules"), join(dir, "node_modules"));
      for (const r of run("bench/core_bench.ts", [], [], dir)) {
        if ((r.case as string) in before) before[r.case as string] = r.ours_ns as number;
      }
      source = `revision ${revision}, measured in this run`;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  md += `\n## Recording keeps its speed (vs ${source})\n\n`;
  md += `| case | now | before | change | target | met |\n|---|---|---|---|---|---|\n`;
  for (const r of core) {
    const was = before[r.case as string];
    if (was === undefined) continue;
    const now = r.ours_ns as number;
    md += `| ${r.case} | ${fmtNs(now)} | ${fmtNs(was)} | ${now >= was ? "+" : ""}${
      ((now / was - 1) * 100).toFixed(0)
    }% | within 10% | ${met(now <= was * 1.1)} |\n`;
  }
}

// ---- the store: memory and speed side by side with both peers ----
const peerVersion = (name: string) =>
  JSON.parse(
    execFileSync(process.execPath, [
      "-e",
      `process.stdout.write(JSON.stringify(require('${name}/package.json').version))`,
    ], { encoding: "utf8" }),
  ) as string;
md += `\n# The store: memory and speed (vs prom-client ${peerVersion("prom-client")} and @prometheus-io/client ${
  peerVersion("@prometheus-io/client")
})\n\n`;
md +=
  `Memory is measured in child processes, one library per process (RSS from /proc/self/status, heap after a full collection, and the registry's \`byteLength\`: its shared memory); figures are medians over the processes named, with the largest in brackets where the target is about every run. Speed is measured in one process with the libraries interleaved. 1-minute load average when the store benchmarks started: ${load()} on ${cpus().length} cores. Code measured: ${revision()}.\n`;
try {
  interface Row {
    section: string;
    case: string;
    ours: string;
    prom_client?: string;
    prometheus_io?: string;
    target: string;
    met: boolean | null;
  }
  const rows = run("bench/storage_bench.ts") as unknown as Row[];
  let section = "";
  for (const r of rows) {
    if (r.section !== section) {
      section = r.section;
      md +=
        `\n## ${section}\n\n| case | atomic-metrics | prom-client | @prometheus-io/client | target | met |\n|---|---|---|---|---|---|\n`;
    }
    md += `| ${r.case} | ${r.ours} | ${r.prom_client ?? ""} | ${r.prometheus_io ?? ""} | ${r.target} | ${
      met(r.met)
    } |\n`;
  }
} catch (e) {
  md += `\nThe storage benchmark failed to run: ${(e as Error).message.split("\n").slice(0, 3).join(" ")}\n`;
}
const MiB = 2 ** 20;
const fmtB = fmtBytes;
try {
  const [w] = run("bench/workerd_bench.ts", ["3"]) as Record<string, number>[];
  md += `\n## A default registry in workerd (the workerd process's RSS, 3 processes)\n\n`;
  md += `| case | atomic-metrics | target | met |\n|---|---|---|---|\n`;
  md += `| first \`new Registry()\` on a request (includes compiling the library's code) | ${fmtB(w!.firstRss!)} (max ${
    fmtB(w!.max_firstRss!)
  }) | ≤ 1 MiB | ${met(w!.max_firstRss! <= MiB)} |\n`;
  md += `| 10 more, per registry | ${fmtB(w!.tenRss! / 10)} (max ${fmtB(w!.max_tenRss! / 10)}) | ≤ 1 MiB | ${
    met(w!.max_tenRss! / 10 <= MiB)
  } |\n`;
  md += `| byteLength of one | ${fmtB(w!.bytes!)} | ≤ 1 MiB | ${met(w!.bytes! <= MiB)} |\n`;
  md += `| control: 11 requests that make nothing | ${fmtB(w!.controlRss!)} |  |  |\n`;
} catch (e) {
  md += `\nThe workerd benchmark failed to run: ${(e as Error).message.split("\n").slice(0, 3).join(" ")}\n`;
}
try {
  const [a] = run("bench/attach_bench.ts", ["100000", "5"], ["--expose-gc"]) as Record<string, number>[];
  md += `\n## A worker attaching to a registry of 100,000 series (Node worker_threads, median of 5 workers)\n\n`;
  md += `| case | atomic-metrics | target | met |\n|---|---|---|---|\n`;
  md += `| \`Registry.attach(handle)\` returns | ${a!.attachMs!.toFixed(2)} ms (max ${
    a!.max_attachMs!.toFixed(2)
  }) | ≤ 50 ms | ${met(a!.max_attachMs! <= 50)} |\n`;
  md += `| heap the worker holds after attach, before it touches a series | ${fmtB(a!.attachHeap!)} | ≤ 5 MiB | ${
    met(a!.max_attachHeap! <= 5 * MiB)
  } |\n`;
  md += `| then: registering the counter, first \`inc(labels)\` of an existing series, the next | ${
    a!.registerMs!.toFixed(2)
  } ms, ${a!.firstIncMs!.toFixed(2)} ms, ${(a!.secondIncMs! * 1000).toFixed(0)} µs |  |  |\n`;
  md += `| heap after that first write | ${fmtB(a!.afterIncHeap!)} |  |  |\n`;
} catch (e) {
  md += `\nThe attach benchmark failed to run: ${(e as Error).message.split("\n").slice(0, 3).join(" ")}\n`;
}
try {
  md += `\n## Churn: 1,000,000 create/remove cycles, at most 1,000 series alive\n\n`;
  md +=
    `| case | byteLength: 1,000 series → after | heap growth: 1,000 series → after (before a render / after it) | µs per cycle | live series at the end | target | met |\n|---|---|---|---|---|---|---|\n`;
  for (const workers of [0, 4]) {
    const [c] = run("bench/churn_bench.ts", ["1000000", String(workers)], ["--expose-gc"]) as Record<string, number>[];
    const ok = c!.bytesRatio! <= 2 && c!.heapRatioUnrendered! <= 2 && c!.heapRatio! <= 2;
    md += `| ${workers === 0 ? "one thread" : `${workers} workers recording into live series`} | ${
      fmtB(c!.bytes1000!)
    } → ${fmtB(c!.bytesEnd!)} (${c!.bytesRatio!.toFixed(2)}×) | ${fmtB(c!.heap1000!)} → ${
      fmtB(c!.heapEndUnrendered!)
    } (${c!.heapRatioUnrendered!.toFixed(2)}×) / ${fmtB(c!.heapEnd!)} (${c!.heapRatio!.toFixed(2)}×)${
      workers > 0 ? `; each worker's heap grew ${fmtB(c!.workerHeapGrowth!)}` : ""
    } | ${c!.usPerCycle!.toFixed(1)} | ${c!.live} | within 2× | ${met(ok)} |\n`;
  }
  md +=
    `\nEach worker writes, by label, into one of the 50 newest series (so it holds rows the main thread then removes under it), and publishes how far it got; the main thread removes a series only once every worker is past it, so no late write brings a removed series back. Heap growth is measured before the main thread's first render (a thread that records but never renders, as most workers) and after it; each worker never renders.\n`;
} catch (e) {
  md += `\nThe churn benchmark failed to run: ${(e as Error).message.split("\n").slice(0, 3).join(" ")}\n`;
}
md += (await import("./_scrape_section.ts")).scrapeSection(); // issue 13: render, HTTP, event loop, recording
try { // issue 14: a native histogram's bound observe() against a classic one's and OpenTelemetry's
  md += `\n## Native histograms: bound \`observe()\`\n\n${run("bench/native_bench.ts")[0]!.markdown}\n`;
} catch (e) {
  md += `\nThe native histogram benchmark failed to run: ${(e as Error).message.split("\n")[0]}\n`;
}
md += protobufSection();
try { // issue 15: node:cluster aggregation, ours against prom-client's, with real worker processes
  const rows = run("bench/cluster_bench.ts") as unknown as ClusterRow[];
  md += `\n## node:cluster aggregation (4 worker processes)\n\n${
    (await import("./cluster_bench.ts")).clusterTable(rows)
  }`;
} catch (e) {
  md += `\nThe node:cluster benchmark failed to run: ${(e as Error).message.split("\n")[0]}\n`;
}
md += `\nThe whole run took ${((performance.now() - started) / 60_000).toFixed(1)} minutes.\n`;
writeFileSync("bench/RESULTS.md", md);
console.log(md);

/** Issue 14: the protobuf exposition against the text formats, in one process (bench/protobuf_bench.ts). */
function protobufSection(): string {
  try {
    const rows = run("bench/protobuf_bench.ts");
    let out = "\n## Protobuf exposition against the text formats (`registry.render()`, one process, median of 7)\n\n";
    out += "| registry | text 0.0.4 | OpenMetrics | protobuf | bytes, text → protobuf |\n|---|---|---|---|---|\n";
    for (const r of rows) {
      out +=
        `| ${r.case} | ${r.text_ms} ms | ${r.openmetrics_ms} ms | ${r.protobuf_ms} ms | ${r.text_bytes} → ${r.protobuf_bytes} |\n`;
    }
    out +=
      "\ncounters: 100k with 2 labels; mixed: 100k of counters, gauges and 10-bucket histograms; native: 10k native " +
      "histograms of 20 observations each (the text formats show no native buckets, only `+Inf`, `_sum`, `_count`).\n";
    return out;
  } catch (e) {
    return `\nThe protobuf benchmark failed to run: ${(e as Error).message.split("\n")[0]}\n`;
  }
}

// `npm run bench`: runs every benchmark in one go and writes bench/RESULTS.md with the
// ratios against the peers (prom-client, measured side by side in the same process).
import { execFileSync } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { writeFileSync } from "node:fs";

function run(file: string, args: string[] = []): Record<string, unknown>[] {
  const out = execFileSync(process.execPath, ["--import", "tsx", file, ...args], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  return out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
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
writeFileSync("bench/RESULTS.md", md);
console.log(md);

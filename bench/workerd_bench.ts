// A default registry in workerd (Cloudflare's runtime, npm package `workerd`): the RSS change of
// the workerd process when a worker creates `new Registry()` on a request, read from
// /proc/<pid>/status, and the registries' byteLength. The worker is bundled by esbuild from
// mod.ts as a user's bundler would (neutral platform, ESM), as in tests/package/workerd.test.ts.
//
// Run: node --import tsx bench/workerd_bench.ts [runs=3]
// Prints one JSON line: {"firstRss","tenRss","bytes", "max_…"} (medians over `runs` workerd processes).
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, getResponse, sleep, startProcess, stopProcess, waitFor } from "../tests/support/process.ts";
import { median } from "./_memory.ts";

const ROOT = new URL("..", import.meta.url).pathname;

const WORKER = `
import { Registry } from ${JSON.stringify(join(ROOT, "mod.ts"))};

const keep = [];
export default {
  async fetch(request) {
    const n = Number(new URL(request.url).searchParams.get("n") ?? 0);
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const registry = new Registry();
      keep.push(registry);
      bytes += registry.byteLength;
    }
    return Response.json({ n, bytes, kept: keep.length });
  },
};
`;

function workerdBinary(): string {
  const arch = process.arch === "x64" ? "64" : process.arch;
  const native = join(ROOT, "node_modules", "@cloudflare", `workerd-${process.platform}-${arch}`, "bin", "workerd");
  return existsSync(native) ? native : join(ROOT, "node_modules", ".bin", "workerd");
}

function rssOf(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024;
}

const runs = Number(process.argv[2] ?? 3);
const dir = mkdtempSync(join(tmpdir(), "atomic-metrics-workerd-bench-"));
const results: Record<string, number>[] = [];
try {
  writeFileSync(join(dir, "worker.js"), WORKER);
  execFileSync(join(ROOT, "node_modules", ".bin", "esbuild"), [
    "worker.js",
    "--bundle",
    "--format=esm",
    "--platform=neutral",
    "--main-fields=module,main",
    "--outfile=dist/worker.js",
    "--log-level=warning",
  ], { cwd: dir });
  for (let r = 0; r < runs; r++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    writeFileSync(
      join(dir, "config.capnp"),
      `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "bench", worker = .benchWorker)],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "bench")],
);
const benchWorker :Workerd.Worker = (
  modules = [(name = "worker", esModule = embed "dist/worker.js")],
  compatibilityDate = "2025-01-01",
);
`,
    );
    const workerd = startProcess(workerdBinary(), ["serve", "config.capnp"], dir);
    try {
      await waitFor(
        "workerd to serve",
        async () => (await getResponse(`${url}/?n=0`)).status === 200,
        30_000,
        workerd.log,
      );
      const pid = workerd.child.pid!;
      for (let i = 0; i < 20; i++) await getResponse(`${url}/?n=0`); // warm the request path
      await sleep(200);
      const rss0 = rssOf(pid);
      const first = JSON.parse((await getResponse(`${url}/?n=1`)).text);
      await sleep(200);
      const rss1 = rssOf(pid);
      await getResponse(`${url}/?n=10`);
      await sleep(200);
      const rss2 = rssOf(pid);
      // A control: requests that make nothing, to show the noise of the request path itself.
      for (let i = 0; i < 11; i++) await getResponse(`${url}/?n=0`);
      await sleep(200);
      const rss3 = rssOf(pid);
      results.push({ firstRss: rss1 - rss0, tenRss: rss2 - rss1, bytes: first.bytes, controlRss: rss3 - rss2 });
    } finally {
      await stopProcess(workerd.child);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const out: Record<string, number> = { runs };
for (const key of Object.keys(results[0]!)) {
  out[key] = median(results.map((x) => x[key]!));
  out[`max_${key}`] = Math.max(...results.map((x) => x[key]!));
}
console.log(JSON.stringify(out));

// The edge: Cloudflare's workerd (npm package `workerd`) runs workers bundled by esbuild from the
// packed npm package. Each records a counter per request and serves the fetch-style
// metricsHandler; the test drives requests over loopback, reads the scraped values, lets a real
// Prometheus scrape the worker, and checks what degrades there: SharedArrayBuffer sharing (no
// threads to share with), a runtime without SharedArrayBuffer, timers at module scope, clocks.
// Node only: node scripts/test.mjs node package   (or node --import tsx --test tests/package/workerd.test.ts)
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { gunzipSync } from "node:zlib";
import { dirname, join } from "node:path";
import { consumerProject, pack, ROOT, run, type Tarball } from "./_pack.ts";

const PROMETHEUS = process.env.PROMETHEUS_BIN ?? "/usr/bin/prometheus";
const STARTUP_TIMEOUT_MS = 30_000;

// The worker a user would write: one registry per isolate, a counter per request, the handler on /metrics.
const WORKER = `
import { metricsHandler, Registry } from "atomic-metrics";
import { systemMetrics } from "atomic-metrics/catalog";

// One thread and a small shared region: the defaults (16 threads, 16 MiB) take about 40 MB of
// the isolate's 128 MB. Module scope allows no timers, so the catalog's event-loop-lag timer is off.
const registry = new Registry({ maxSeries: 1000, maxThreads: 1, sharedBytes: 1 << 20 });
const system = systemMetrics(registry, { eventLoopLagIntervalMs: false });
const requests = registry.counter({ name: "worker_requests_total", help: "Requests served", labelNames: ["method", "path"] });
const latency = registry.histogram({ name: "worker_request_seconds", help: "Request latency", buckets: [0.01, 0.1, 1] });
const metrics = metricsHandler(registry);

export default {
  async fetch(request) {
    const { pathname } = new URL(request.url);
    if (pathname === "/metrics") return metrics(request);
    if (pathname === "/env") return Response.json(environment());
    const end = latency.startTimer();
    requests.inc({ method: request.method, path: pathname });
    await new Promise((done) => setTimeout(done, 5)); // timers work inside a handler
    end();
    return new Response("ok " + pathname);
  },
};

function environment() {
  const facts = {
    sharedArrayBuffer: typeof SharedArrayBuffer,
    buffer: registry.store.buffer.constructor.name,
    bufferBytes: registry.store.buffer.byteLength,
    processMetrics: typeof system.memoryBytes,
  };
  try {
    const handle = registry.share();
    facts.share = "handle " + typeof handle;
  } catch (error) {
    facts.share = error.constructor.name + ": " + error.message;
  }
  facts.threadedAfterShare = registry.store.threaded;
  return facts;
}
`;

// The same worker where the runtime offers no SharedArrayBuffer (as in browsers without
// cross-origin isolation): removed before the library's module is evaluated.
const NO_SHARED_MEMORY = `delete globalThis.SharedArrayBuffer;\n`;
const WORKER_WITHOUT_SHARED_MEMORY = `import "./no_shared_memory.js";\n${WORKER}`;

const children: ChildProcess[] = [];
let tarball: Tarball;
let project = "";
let dataDirectory = "";
let workerUrl = "";
let plainWorkerUrl = "";
let prometheusUrl = "";

function workerdBinary(): string {
  // The platform package holds the real binary; node_modules/.bin/workerd may be a JS launcher
  // whose child a signal would not reach.
  const arch = process.arch === "x64" ? "64" : process.arch;
  const native = join(ROOT, "node_modules", "@cloudflare", `workerd-${process.platform}-${arch}`, "bin", "workerd");
  return existsSync(native) ? native : join(ROOT, "node_modules", ".bin", "workerd");
}

interface Reply {
  status: number;
  headers: Record<string, unknown>;
  bytes: Buffer;
  text: string;
}

// node:http without keep-alive and without decompression, so the test sees the bytes as sent.
function request(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((done, fail) => {
    httpGet(url, { agent: false, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        const bytes = Buffer.concat(chunks);
        done({ status: response.statusCode ?? 0, headers: response.headers, bytes, text: bytes.toString("utf8") });
      });
    }).on("error", fail);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === "string") throw new Error("No port from a loopback listener");
  return address.port;
}

// Detached, so the child leads a process group that stop() can end as a whole.
function start(command: string, args: string[], cwd: string): { child: ChildProcess; log: () => string } {
  const child = spawn(command, args, { cwd, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let log = "";
  child.stdout?.on("data", (chunk: Buffer) => (log += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (log += chunk.toString()));
  return { child, log: () => log };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const signal = (name: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, name);
    } catch {
      // Already gone.
    }
  };
  signal("SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ended = await Promise.race([
    exited.then(() => true),
    new Promise<boolean>((done) => (timer = setTimeout(() => done(false), 5_000))),
  ]);
  clearTimeout(timer);
  if (!ended) {
    signal("SIGKILL");
    await exited;
  }
}

async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  log: () => string,
  timeoutMs = STARTUP_TIMEOUT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(200);
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}\n${log()}`);
}

function capnpConfig(port: number, plainPort: number): string {
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "metrics", worker = .metricsWorker),
    (name = "plain", worker = .plainWorker),
  ],
  sockets = [
    (name = "http", address = "127.0.0.1:${port}", http = (), service = "metrics"),
    (name = "plain", address = "127.0.0.1:${plainPort}", http = (), service = "plain"),
  ],
);

const metricsWorker :Workerd.Worker = (
  modules = [(name = "worker", esModule = embed "dist/worker.js")],
  compatibilityDate = "2025-01-01",
);

const plainWorker :Workerd.Worker = (
  modules = [(name = "worker", esModule = embed "dist/worker_without_shared_memory.js")],
  compatibilityDate = "2025-01-01",
);
`;
}

function sampleValue(text: string, series: string): number | undefined {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1).split(" ")[0]);
}

describe("workerd serves a worker built from the npm package", () => {
  before(async () => {
    tarball = pack();
    project = consumerProject(tarball);
    writeFileSync(join(project, "worker.js"), WORKER);
    writeFileSync(join(project, "no_shared_memory.js"), NO_SHARED_MEMORY);
    writeFileSync(join(project, "worker_without_shared_memory.js"), WORKER_WITHOUT_SHARED_MEMORY);
    // What a user's bundler does: resolve atomic-metrics through its exports map, ESM condition.
    const esbuild = join(ROOT, "node_modules", ".bin", "esbuild");
    for (const name of ["worker", "worker_without_shared_memory"]) {
      run(esbuild, [
        `${name}.js`,
        "--bundle",
        "--format=esm",
        "--platform=neutral",
        "--main-fields=module,main",
        `--outfile=dist/${name}.js`,
        "--log-level=warning",
      ], {
        cwd: project,
      });
    }
    const [port, plainPort] = [await freePort(), await freePort()];
    workerUrl = `http://127.0.0.1:${port}`;
    plainWorkerUrl = `http://127.0.0.1:${plainPort}`;
    writeFileSync(join(project, "config.capnp"), capnpConfig(port, plainPort));
    const workerd = start(workerdBinary(), ["serve", "config.capnp", "--verbose"], project);
    await waitFor("workerd to serve both workers", async () => {
      return (await request(`${workerUrl}/metrics`)).status === 200 &&
        (await request(`${plainWorkerUrl}/metrics`)).status === 200;
    }, workerd.log);
  });

  after(async () => {
    await Promise.all(children.map(stop));
    if (project) rmSync(project, { recursive: true, force: true });
    if (tarball) rmSync(dirname(tarball.path), { recursive: true, force: true });
    if (dataDirectory) rmSync(dataDirectory, { recursive: true, force: true });
  });

  it("metricsHandler in workerd serves the counter recorded per request", async () => {
    for (const path of ["/", "/", "/", "/orders"]) {
      assert.equal((await request(`${workerUrl}${path}`)).text, `ok ${path}`);
    }
    const scraped = await request(`${workerUrl}/metrics`);
    assert.equal(scraped.status, 200);
    assert.match(String(scraped.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
    assert.equal(sampleValue(scraped.text, 'worker_requests_total{method="GET",path="/"}'), 3);
    assert.equal(sampleValue(scraped.text, 'worker_requests_total{method="GET",path="/orders"}'), 1);
    assert.equal(sampleValue(scraped.text, "worker_request_seconds_count"), 4);
  });

  it("metricsHandler in workerd negotiates OpenMetrics and gzips the exposition once", async () => {
    const scraped = await request(`${workerUrl}/metrics`, { accept: "application/openmetrics-text; version=1.0.0" });
    assert.match(String(scraped.headers["content-type"]), /^application\/openmetrics-text; version=1\.0\.0/);
    assert.ok(scraped.text.endsWith("# EOF\n"));
    const compressed = await request(`${workerUrl}/metrics`, { "accept-encoding": "gzip" });
    assert.equal(compressed.headers["content-encoding"], "gzip");
    // Once: workerd must not compress the already gzipped body again (encodeBody: "manual").
    assert.match(gunzipSync(compressed.bytes).toString("utf8"), /^worker_requests_total\{method="GET",path="\/"\} 3$/m);
  });

  it("Registry in workerd keeps SharedArrayBuffer storage and share() returns a handle no thread can use", async () => {
    const facts = JSON.parse((await request(`${workerUrl}/env`)).text);
    assert.equal(facts.sharedArrayBuffer, "function");
    assert.equal(facts.buffer, "SharedArrayBuffer");
    assert.ok(facts.bufferBytes < 2 * 1024 * 1024, `${facts.bufferBytes} bytes with one thread and sharedBytes 1 MiB`);
    assert.equal(facts.share, "handle object");
    assert.equal(facts.threadedAfterShare, true);
    assert.equal(facts.processMetrics, "object");
  });

  it("Registry without SharedArrayBuffer records into an ArrayBuffer and share() throws a clear error", async () => {
    for (const path of ["/a", "/a"]) assert.equal((await request(`${plainWorkerUrl}${path}`)).status, 200);
    const scraped = await request(`${plainWorkerUrl}/metrics`);
    assert.equal(sampleValue(scraped.text, 'worker_requests_total{method="GET",path="/a"}'), 2);
    const facts = JSON.parse((await request(`${plainWorkerUrl}/env`)).text);
    assert.equal(facts.sharedArrayBuffer, "undefined");
    assert.equal(facts.buffer, "ArrayBuffer");
    assert.equal(facts.share, "Error: Registry.share() needs SharedArrayBuffer, which this runtime does not offer");
    assert.equal(facts.threadedAfterShare, false);
  });

  it("Prometheus scrapes the worker in workerd and reads the recorded counter", async () => {
    dataDirectory = mkdtempSync(join(tmpdir(), "atomic-metrics-workerd-prometheus-"));
    const configFile = join(dataDirectory, "prometheus.yml");
    const host = workerUrl.replace("http://", "");
    writeFileSync(
      configFile,
      `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: workerd\n    static_configs:\n      - targets: ["${host}"]\n`,
    );
    const port = await freePort();
    prometheusUrl = `http://127.0.0.1:${port}`;
    const prometheus = start(PROMETHEUS, [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dataDirectory, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ], dataDirectory);
    for (let i = 0; i < 5; i++) await request(`${workerUrl}/prometheus`);
    const query = async (promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
      const body = JSON.parse(
        (await request(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`)).text,
      );
      assert.equal(body.status, "success");
      return body.data.result;
    };
    const series = 'worker_requests_total{job="workerd",path="/prometheus"}';
    await waitFor(
      "Prometheus to scrape the worker",
      async () => (await query(series)).length === 1,
      prometheus.log,
      60_000,
    );
    assert.equal(Number((await query('up{job="workerd"}'))[0]!.value[1]), 1);
    assert.equal(Number((await query(series))[0]!.value[1]), 5);
  });
});

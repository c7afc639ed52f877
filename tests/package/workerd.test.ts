// The edge: Cloudflare's workerd (npm package `workerd`) runs workers bundled by esbuild from the
// packed npm package. Each records a counter per request and serves the fetch-style
// metricsHandler; the test drives requests over loopback, reads the scraped values, lets a real
// Prometheus scrape the worker, and checks what degrades there: SharedArrayBuffer sharing (no
// threads to share with), a runtime without SharedArrayBuffer, timers at module scope, clocks.
// Node only: node scripts/test.mjs node package   (or node --import tsx --test tests/package/workerd.test.ts)
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { dirname, join } from "node:path";
import { freePort, getResponse, startProcess, stopProcess, waitFor } from "../support/process.ts";
import { startPrometheus } from "../support/prometheus.ts";
import { consumerProject, pack, ROOT, run, type Tarball } from "./_pack.ts";

const STARTUP_TIMEOUT_MS = 30_000;

// The worker a user would write: one registry per isolate, a counter per request, the handler on /metrics.
const WORKER = `
import { metricsHandler, Registry } from "atomic-metrics";
import { systemMetrics } from "atomic-metrics/catalog";

// The defaults: the store grows with the series created. Module scope allows no timers, so the
// catalog's event-loop-lag timer is off.
const registry = new Registry();
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
    buffer: registry.store.control.constructor.name,
    bufferBytes: registry.byteLength,
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

function workerdBinary(): string {
  // The platform package holds the real binary; node_modules/.bin/workerd may be a JS launcher
  // whose child a signal would not reach.
  const arch = process.arch === "x64" ? "64" : process.arch;
  const native = join(ROOT, "node_modules", "@cloudflare", `workerd-${process.platform}-${arch}`, "bin", "workerd");
  return existsSync(native) ? native : join(ROOT, "node_modules", ".bin", "workerd");
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
    const workerd = startProcess(workerdBinary(), ["serve", "config.capnp", "--verbose"], project);
    children.push(workerd.child);
    await waitFor(
      "workerd to serve both workers",
      async () => {
        return (await getResponse(`${workerUrl}/metrics`)).status === 200 &&
          (await getResponse(`${plainWorkerUrl}/metrics`)).status === 200;
      },
      STARTUP_TIMEOUT_MS,
      workerd.log,
    );
  });

  after(async () => {
    await Promise.all(children.map(stopProcess));
    if (project) rmSync(project, { recursive: true, force: true });
    if (tarball) rmSync(dirname(tarball.path), { recursive: true, force: true });
    if (dataDirectory) rmSync(dataDirectory, { recursive: true, force: true });
  });

  it("metricsHandler in workerd serves the counter recorded per request", async () => {
    for (const path of ["/", "/", "/", "/orders"]) {
      assert.equal((await getResponse(`${workerUrl}${path}`)).text, `ok ${path}`);
    }
    const scraped = await getResponse(`${workerUrl}/metrics`);
    assert.equal(scraped.status, 200);
    assert.match(String(scraped.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
    assert.equal(sampleValue(scraped.text, 'worker_requests_total{method="GET",path="/"}'), 3);
    assert.equal(sampleValue(scraped.text, 'worker_requests_total{method="GET",path="/orders"}'), 1);
    assert.equal(sampleValue(scraped.text, "worker_request_seconds_count"), 4);
  });

  it("metricsHandler in workerd negotiates OpenMetrics and gzips the exposition once", async () => {
    const scraped = await getResponse(`${workerUrl}/metrics`, {
      accept: "application/openmetrics-text; version=1.0.0",
    });
    assert.match(String(scraped.headers["content-type"]), /^application\/openmetrics-text; version=1\.0\.0/);
    assert.ok(scraped.text.endsWith("# EOF\n"));
    const compressed = await getResponse(`${workerUrl}/metrics`, { "accept-encoding": "gzip" });
    assert.equal(compressed.headers["content-encoding"], "gzip");
    // Once: workerd must not compress the already gzipped body again (encodeBody: "manual").
    assert.match(gunzipSync(compressed.bytes).toString("utf8"), /^worker_requests_total\{method="GET",path="\/"\} 3$/m);
  });

  it("Registry in workerd keeps SharedArrayBuffer storage and share() returns a handle no thread can use", async () => {
    const facts = JSON.parse((await getResponse(`${workerUrl}/env`)).text);
    assert.equal(facts.sharedArrayBuffer, "function");
    assert.equal(facts.buffer, "SharedArrayBuffer");
    assert.ok(facts.bufferBytes < 1024 * 1024, `${facts.bufferBytes} bytes with the default options`);
    assert.equal(facts.share, "handle object");
    assert.equal(facts.threadedAfterShare, true);
    assert.equal(facts.processMetrics, "object");
  });

  it("Registry without SharedArrayBuffer records into an ArrayBuffer and share() throws a clear error", async () => {
    for (const path of ["/a", "/a"]) assert.equal((await getResponse(`${plainWorkerUrl}${path}`)).status, 200);
    const scraped = await getResponse(`${plainWorkerUrl}/metrics`);
    assert.equal(sampleValue(scraped.text, 'worker_requests_total{method="GET",path="/a"}'), 2);
    const facts = JSON.parse((await getResponse(`${plainWorkerUrl}/env`)).text);
    assert.equal(facts.sharedArrayBuffer, "undefined");
    assert.equal(facts.buffer, "ArrayBuffer");
    assert.equal(facts.share, "Error: Registry.share() needs SharedArrayBuffer, which this runtime does not offer");
    assert.equal(facts.threadedAfterShare, false);
  });

  it("Prometheus scrapes the worker in workerd and reads the recorded counter", async () => {
    const prometheus = await startPrometheus([{ job: "workerd", target: workerUrl.replace("http://", "") }]);
    dataDirectory = prometheus.dataDirectory;
    children.push(prometheus.process.child);
    for (let i = 0; i < 5; i++) await getResponse(`${workerUrl}/prometheus`);
    const query = prometheus.query;
    const series = 'worker_requests_total{job="workerd",path="/prometheus"}';
    await waitFor(
      "Prometheus to scrape the worker",
      async () => (await query(series)).length === 1,
      60_000,
      prometheus.process.log,
    );
    assert.equal(Number((await query('up{job="workerd"}'))[0]!.value[1]), 1);
    assert.equal(Number((await query(series))[0]!.value[1]), 5);
  });
});

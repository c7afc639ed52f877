// End to end: a real Prometheus (Debian's /usr/bin/prometheus) scrapes the
// metrics endpoint of each runtime — Node in-process, Deno and Bun as child
// processes — once negotiating (Prometheus 2.x asks for OpenMetrics) and once
// forced to the text format 0.0.4, then the test reads back through
// Prometheus' HTTP API `up` and the exact values of the recorded series.
// Node only: node --import tsx --test tests/e2e/prometheus.test.ts
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { serve } from "../../adapters/node.ts";
import { EXPECTED, knownRegistry } from "./known_values.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const PROMETHEUS = process.env.PROMETHEUS_BIN ?? "/usr/bin/prometheus";
const STARTUP_TIMEOUT_MS = 60_000;
const SCRAPE_TIMEOUT_MS = 30_000;

type Format = "openmetrics" | "prometheus";
interface Target {
  job: string;
  port: number;
  format: Format;
}

const children: ChildProcess[] = [];
const closers: (() => Promise<void>)[] = [];
const targets: Target[] = [];
let prometheusUrl = "";
let dataDirectory = "";

// Prometheus writes the last bound as "+Inf", which Number() does not read.
function parseBound(le: string | undefined): number {
  return le === "+Inf" ? Infinity : Number(le);
}

// node:http without keep-alive, so no idle socket to Prometheus holds the test
// process open after it ends (fetch keeps them for seconds).
function getText(url: string): Promise<{ status: number; text: string }> {
  return new Promise((done, fail) => {
    httpGet(url, { agent: false }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (text += chunk));
      response.on("end", () => done({ status: response.statusCode ?? 0, text }));
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

// A detached child leads its own process group, so killing the group also
// ends anything it started.
function start(command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { cwd: ROOT, detached: true, stdio: ["pipe", "pipe", "pipe"] });
  children.push(child);
  return child;
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
  child.stdin?.end();
  signal("SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const killed = await Promise.race([
    exited.then(() => true),
    new Promise<boolean>((done) => (timer = setTimeout(() => done(false), 5_000))),
  ]);
  clearTimeout(timer);
  if (!killed) {
    signal("SIGKILL");
    await exited;
  }
}

function firstLine(child: ChildProcess, what: string): Promise<string> {
  return new Promise((done, fail) => {
    let output = "";
    let errors = "";
    const timer = setTimeout(
      () => fail(new Error(`${what} printed no line in ${STARTUP_TIMEOUT_MS} ms: ${errors}`)),
      STARTUP_TIMEOUT_MS,
    );
    child.stderr?.on("data", (chunk: Buffer) => (errors += chunk.toString()));
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const newline = output.indexOf("\n");
      if (newline !== -1) {
        clearTimeout(timer);
        done(output.slice(0, newline));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`${what} exited with ${String(code)}: ${errors}`));
    });
  });
}

async function startFixture(runtime: "deno" | "bun"): Promise<void> {
  const binary = join(ROOT, "node_modules", ".bin", runtime);
  const args = runtime === "deno" ? ["run", "-A", "tests/e2e/serve_fixture.ts"] : ["tests/e2e/serve_fixture.ts"];
  const line = await firstLine(start(binary, args), `${runtime} fixture`);
  const ports = JSON.parse(line) as { runtime: string; negotiated: number; text: number };
  assert.equal(ports.runtime, runtime);
  targets.push({ job: `${runtime}_negotiated`, port: ports.negotiated, format: "openmetrics" });
  targets.push({ job: `${runtime}_text`, port: ports.text, format: "prometheus" });
}

async function startNode(): Promise<void> {
  const negotiated = await serve({ registry: knownRegistry(), port: 0, hostname: "127.0.0.1" });
  const text = await serve({ registry: knownRegistry(), port: 0, hostname: "127.0.0.1", format: "prometheus" });
  closers.push(() => negotiated.close(), () => text.close());
  targets.push({ job: "node_negotiated", port: negotiated.port, format: "openmetrics" });
  targets.push({ job: "node_text", port: text.port, format: "prometheus" });
}

function prometheusConfig(): string {
  const jobs = targets.map((target) =>
    [
      `  - job_name: ${target.job}`,
      `    static_configs:`,
      `      - targets: ["127.0.0.1:${target.port}"]`,
    ].join("\n")
  );
  return ["global:", "  scrape_interval: 1s", "  scrape_timeout: 1s", "scrape_configs:", ...jobs, ""].join("\n");
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(promql: string): Promise<Sample[]> {
  const response = await getText(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = JSON.parse(response.text) as { status: string; data: { resultType: string; result: Sample[] } };
  assert.equal(body.status, "success", `query ${promql}`);
  return body.data.result;
}

async function valueOf(promql: string): Promise<number> {
  const result = await query(promql);
  assert.equal(result.length, 1, `one series for ${promql}, got ${JSON.stringify(result)}`);
  return Number(result[0]!.value[1]);
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(250);
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
}

describe("Prometheus scrapes every runtime's metrics endpoint", () => {
  before(async () => {
    await startNode();
    await Promise.all([startFixture("deno"), startFixture("bun")]);
    dataDirectory = mkdtempSync(join(tmpdir(), "atomic-metrics-prometheus-"));
    const configFile = join(dataDirectory, "prometheus.yml");
    writeFileSync(configFile, prometheusConfig());
    const port = await freePort();
    prometheusUrl = `http://127.0.0.1:${port}`;
    const prometheus = start(PROMETHEUS, [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dataDirectory, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ]);
    let log = "";
    prometheus.stderr?.on("data", (chunk: Buffer) => (log += chunk.toString()));
    await waitFor(
      "Prometheus to be ready",
      async () => (await getText(`${prometheusUrl}/-/ready`)).status === 200,
      STARTUP_TIMEOUT_MS,
    )
      .catch((error: Error) => {
        throw new Error(`${error.message}\n${log}`);
      });
    // Two successful scrapes of every target, so each series has a sample.
    await waitFor("every target up with the known series", async () => {
      const up = await query("up == 1");
      const counts = await query("count by (job) (e2e_latency_seconds_bucket)");
      return up.length === targets.length && counts.length === targets.length;
    }, SCRAPE_TIMEOUT_MS);
  });

  after(async () => {
    await Promise.all(children.map(stop));
    await Promise.all(closers.map((close) => close()));
    if (dataDirectory !== "") rmSync(dataDirectory, { recursive: true, force: true });
  });

  it("Prometheus reports up == 1 for the node, deno and bun targets in both formats", async () => {
    assert.deepEqual(targets.map((target) => target.job).sort(), [
      "bun_negotiated",
      "bun_text",
      "deno_negotiated",
      "deno_text",
      "node_negotiated",
      "node_text",
    ]);
    for (const target of targets) assert.equal(await valueOf(`up{job="${target.job}"}`), 1, target.job);
  });

  it("Prometheus scraped the negotiated targets over OpenMetrics and the text targets over 0.0.4", async () => {
    for (const target of targets) {
      const formats = await query(`atomic_metrics_scrapes_total{job="${target.job}"} > 0`);
      assert.deepEqual(formats.map((sample) => sample.metric.format), [target.format], target.job);
    }
  });

  it("Prometheus holds the exact counter and gauge values of every target", async () => {
    for (const target of targets) {
      for (const counter of EXPECTED.counters) {
        const selector = counter.selector.replace("{", `{job="${target.job}",`);
        assert.equal(await valueOf(selector), counter.value, `${target.job} ${selector}`);
      }
      assert.equal(await valueOf(`${EXPECTED.gauge.selector}{job="${target.job}"}`), EXPECTED.gauge.value, target.job);
    }
  });

  it("Prometheus holds the exact histogram buckets, count and sum of every target", async () => {
    for (const target of targets) {
      const buckets = await query(`e2e_latency_seconds_bucket{job="${target.job}"}`);
      const byBound = new Map(buckets.map((sample) => [parseBound(sample.metric.le), Number(sample.value[1])]));
      assert.deepEqual(byBound, EXPECTED.buckets, target.job);
      assert.equal(await valueOf(`e2e_latency_seconds_count{job="${target.job}"}`), EXPECTED.histogramCount);
      const sum = await valueOf(`e2e_latency_seconds_sum{job="${target.job}"}`);
      assert.ok(Math.abs(sum - EXPECTED.histogramSum) < 1e-9, `${target.job} sum ${sum}`);
    }
  });
});

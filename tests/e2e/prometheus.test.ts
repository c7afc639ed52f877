// End to end: a real Prometheus (Debian's /usr/bin/prometheus) scrapes the
// metrics endpoint of each runtime — Node in-process, Deno and Bun as child
// processes — once negotiating (Prometheus 2.x asks for OpenMetrics) and once
// forced to the text format 0.0.4, then the test reads back through
// Prometheus' HTTP API `up` and the exact values of the recorded series.
// Node only: node --import tsx --test tests/e2e/prometheus.test.ts
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { serve } from "../../adapters/node.ts";
import { getText, startProcess, stopProcess, waitFor } from "../support/process.ts";
import { type PrometheusServer, type Sample, startPrometheus } from "../support/prometheus.ts";
import { EXPECTED, knownRegistry } from "./known_values.ts";

const ROOT = resolve(import.meta.dirname, "../..");
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

// Prometheus writes the last bound as "+Inf", which Number() does not read.
function parseBound(le: string | undefined): number {
  return le === "+Inf" ? Infinity : Number(le);
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
  const fixture = startProcess(binary, args, ROOT);
  children.push(fixture.child);
  const line = await firstLine(fixture.child, `${runtime} fixture`);
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

let prometheus: PrometheusServer | undefined;

function query(promql: string): Promise<Sample[]> {
  return prometheus!.query(promql);
}

async function valueOf(promql: string): Promise<number> {
  const result = await query(promql);
  assert.equal(result.length, 1, `one series for ${promql}, got ${JSON.stringify(result)}`);
  return Number(result[0]!.value[1]);
}

describe("Prometheus scrapes every runtime's metrics endpoint", () => {
  before(async () => {
    await startNode();
    await Promise.all([startFixture("deno"), startFixture("bun")]);
    const server = await startPrometheus(
      targets.map((target) => ({ job: target.job, target: `127.0.0.1:${target.port}` })),
    );
    prometheus = server;
    children.push(server.process.child);
    await waitFor(
      "Prometheus to be ready",
      async () => (await getText(`${server.url}/-/ready`)).status === 200,
      STARTUP_TIMEOUT_MS,
      server.process.log,
    );
    // Two successful scrapes of every target, so each series has a sample.
    await waitFor("every target up with the known series", async () => {
      const up = await query("up == 1");
      const counts = await query("count by (job) (e2e_latency_seconds_bucket)");
      return up.length === targets.length && counts.length === targets.length;
    }, SCRAPE_TIMEOUT_MS);
  });

  after(async () => {
    await Promise.all(children.map(stopProcess));
    await Promise.all(closers.map((close) => close()));
    if (prometheus !== undefined) rmSync(prometheus.dataDirectory, { recursive: true, force: true });
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

// End to end at scale: a real Prometheus (Debian's /usr/bin/prometheus; 1 s interval and 1 s
// scrape timeout) scrapes 100k series through the streaming handler of each runtime — Node
// in-process, Deno and Bun as child processes (tests/e2e/stream_fixture.ts) — and must find
// every target up, every sample scraped, and the values recorded.
// Node only: node --import tsx --test tests/e2e/stream_scrape.test.ts
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { serve } from "../../adapters/node.ts";
import { getResponse, getText, startProcess, stopProcess, waitFor } from "../support/process.ts";
import { type PrometheusServer, startPrometheus } from "../support/prometheus.ts";
import { LARGE_EXPECTED, LARGE_SAMPLES, largeRegistry } from "./large_values.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const STARTUP_TIMEOUT_MS = 60_000;
const SCRAPE_TIMEOUT_MS = 40_000;
const RUNTIMES = ["node", "deno", "bun"] as const;

const children: ChildProcess[] = [];
const closers: (() => Promise<void>)[] = [];
const ports = new Map<string, number>();
let prometheus: PrometheusServer | undefined;
let registry: ReturnType<typeof largeRegistry> | undefined;

/** The fixture's first line of output, its JSON port announcement. */
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
  const args = runtime === "deno" ? ["run", "-A", "tests/e2e/stream_fixture.ts"] : ["tests/e2e/stream_fixture.ts"];
  const fixture = startProcess(binary, args, ROOT);
  children.push(fixture.child);
  const announced = JSON.parse(await firstLine(fixture.child, `${runtime} fixture`)) as {
    runtime: string;
    port: number;
  };
  assert.equal(announced.runtime, runtime);
  ports.set(runtime, announced.port);
}

/** Sample lines (not comments) of an exposition. */
function sampleLines(text: string): number {
  return text.split("\n").filter((line) => line !== "" && !line.startsWith("#")).length;
}

async function valueOf(promql: string): Promise<number> {
  const result = await prometheus!.query(promql);
  assert.equal(result.length, 1, `one series for ${promql}, got ${JSON.stringify(result).slice(0, 500)}`);
  return Number(result[0]!.value[1]);
}

describe("Prometheus scrapes 100k series streamed by every runtime", () => {
  let expectedSamples = 0;

  before(async () => {
    const fixtures = Promise.all([startFixture("deno"), startFixture("bun")]);
    registry = largeRegistry();
    const node = await serve({ registry, port: 0, hostname: "127.0.0.1" });
    closers.push(() => node.close());
    ports.set("node", node.port);
    await fixtures;
    // One scrape of each before Prometheus starts: a cold first scrape (code not yet compiled)
    // can take most of a second on a busy machine, and the test is about the steady state.
    for (const job of RUNTIMES) {
      const warm = await getResponse(`http://127.0.0.1:${ports.get(job)}/metrics`, {
        accept: "application/openmetrics-text;version=1.0.0",
        "accept-encoding": "gzip",
      });
      assert.equal(warm.status, 200, job);
    }
    const server = await startPrometheus(RUNTIMES.map((job) => ({ job, target: `127.0.0.1:${ports.get(job)}` })));
    prometheus = server;
    children.push(server.process.child);
    await waitFor(
      "Prometheus to be ready",
      async () => (await getText(`${server.url}/-/ready`)).status === 200,
      STARTUP_TIMEOUT_MS,
      server.process.log,
    );
    // Once scraped, a target's self-metrics have all their series: its sample count stands still.
    // Every runtime serves the same registry with the same self-metrics, so the same count.
    await waitFor(
      "a first scrape of the node target",
      async () => (await valueOf('up{job="node"}')) === 1,
      SCRAPE_TIMEOUT_MS,
    );
    expectedSamples = sampleLines(registry.render("openmetrics"));
    await waitFor(
      "every target up with every sample scraped, 3 times",
      async () => {
        for (const job of RUNTIMES) {
          if ((await valueOf(`up{job="${job}"}`)) !== 1) return false;
          if ((await valueOf(`scrape_samples_scraped{job="${job}"}`)) !== expectedSamples) return false;
          if ((await valueOf(`count_over_time(up{job="${job}"}[15s])`)) < 3) return false;
        }
        return true;
      },
      SCRAPE_TIMEOUT_MS,
      () => prometheus!.process.log(),
    );
  });

  after(async () => {
    await Promise.all(children.map(stopProcess));
    await Promise.all(closers.map((close) => close()));
    if (prometheus !== undefined) rmSync(prometheus.dataDirectory, { recursive: true, force: true });
  });

  it("Prometheus scrapes every sample of the 100k series from node, deno and bun within its 1 s scrape timeout", async () => {
    assert.ok(expectedSamples > LARGE_SAMPLES, `${expectedSamples} samples, ${LARGE_SAMPLES} of them recorded`);
    for (const job of RUNTIMES) {
      assert.equal(await valueOf(`up{job="${job}"}`), 1, job);
      assert.equal(await valueOf(`scrape_samples_scraped{job="${job}"}`), expectedSamples, job);
      // Several scrapes in the last 15 s, none of them failed or over the timeout. (Prometheus'
      // scrape_duration_seconds also counts storing the samples, so it is no measure of ours.)
      const history = JSON.stringify(await prometheus!.query(`up{job="${job}"}[15s]`));
      assert.equal(await valueOf(`min_over_time(up{job="${job}"}[15s])`), 1, `${job}: ${history}`);
      assert.ok((await valueOf(`count_over_time(up{job="${job}"}[15s])`)) >= 3, `${job}: ${history}`);
    }
  });

  it("Prometheus holds the recorded values of the 100k series of every runtime", async () => {
    for (const job of RUNTIMES) {
      for (const { selector, value } of LARGE_EXPECTED) {
        const scoped = selector.replace("{", `{job="${job}",`);
        assert.equal(await valueOf(scoped), value, `${job} ${scoped}`);
      }
      assert.equal(await valueOf(`count({job="${job}",__name__=~"e2e_stream_.+"})`), LARGE_SAMPLES, job);
    }
  });

  it("Prometheus scraped every runtime over OpenMetrics, through renders the handler counted", async () => {
    for (const job of RUNTIMES) {
      const renders = await prometheus!.query(`atomic_metrics_scrape_renders_total{job="${job}"} > 0`);
      assert.deepEqual(renders.map((sample) => sample.metric.format), ["openmetrics"], job);
    }
  });
});

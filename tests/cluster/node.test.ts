// Cluster mode with real node:cluster workers (tests/cluster/_worker.ts through tsx): exact totals
// across 4 workers, gauge aggregators, the formats judged by promtool and the OpenMetrics judge,
// protobuf with native histograms, metricsHandler() over HTTP, a worker stuck in a busy loop at
// scrape time, and a worker killed mid-run and replaced.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import cluster, { type Worker } from "node:cluster";
import { fileURLToPath } from "node:url";
import { AggregatorRegistry, clusterWorker, serve } from "../../adapters/node.ts";
import { Registry } from "../../mod.ts";
import type { MetricsServer } from "../../adapters/node.ts";
import { OPENMETRICS_CONTENT_TYPE, PROTOBUF_CONTENT_TYPE } from "../../src/exposition/negotiate.ts";
import { type ParsedFamily, parseExposition } from "../_parse.ts";
import { promtoolCheck } from "../_promtool.ts";
import { openMetricsCheck } from "../_openmetrics_judge.ts";
import { decodeFamilies } from "../exposition/_protobuf_decoder.ts";

const NATIVE_ACCEPT = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited," +
  "application/openmetrics-text;version=1.0.0;q=0.8,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
const QUOTED_KIND = 'quote" back\\slash\nnewline';

const workers = new Map<number, Worker>();
let aggregator: AggregatorRegistry;
let server: MetricsServer;
const errors: unknown[] = [];

/** The next app message of a worker that satisfies `test` (the library's own messages pass by). */
function nextMessage(worker: Worker, test: (message: Record<string, unknown>) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const listener = (message: Record<string, unknown>) => {
      if (message !== null && typeof message === "object" && test(message)) {
        worker.off("message", listener);
        resolve();
      }
    };
    worker.on("message", listener);
  });
}

async function fork(index: number, env: Record<string, string> = {}): Promise<Worker> {
  const worker = cluster.fork({ CLUSTER_TEST_INDEX: String(index), ...env });
  worker.on("message", (message) => {
    if (message?.error !== undefined) errors.push(message.error);
  });
  await nextMessage(worker, (message) => message.ready === index);
  workers.set(index, worker);
  return worker;
}

async function command(index: number, message: Record<string, unknown>, reply: string): Promise<void> {
  const worker = workers.get(index)!;
  const done = nextMessage(worker, (m) => m.done === reply);
  worker.send(message);
  await done;
}

function family(families: Map<string, ParsedFamily>, name: string): ParsedFamily {
  const found = families.get(name);
  assert.ok(found !== undefined, `no ${name} in ${[...families.keys()].join(", ")}`);
  return found;
}

function sample(
  families: Map<string, ParsedFamily>,
  family: string,
  name: string,
  labels: Record<string, string> = {},
) {
  const found = families.get(family)?.samples.find((s) =>
    s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(Object.entries(labels).sort())
  );
  assert.ok(found !== undefined, `no sample ${name}${JSON.stringify(labels)}`);
  return found.value;
}

async function scrape(): Promise<Map<string, ParsedFamily>> {
  return parseExposition(await aggregator.clusterMetrics(), false);
}

describe("cluster mode's checks", () => {
  it("clusterWorker() refuses to run outside a node:cluster worker and names what to use there", () => {
    assert.throws(
      () => clusterWorker(new Registry()),
      /must be called in a node:cluster worker; in the primary, use new AggregatorRegistry\(\)/,
    );
  });

  it("AggregatorRegistry refuses an unknown aggregator, naming the metric, and a timeout that is not milliseconds > 0", () => {
    assert.throws(
      () => new AggregatorRegistry({ aggregators: { depth: "mean" as "sum" } }),
      /gives metric "depth" the aggregator "mean"; it must be one of sum, first, min, max, average, omit/,
    );
    assert.throws(() => new AggregatorRegistry({ timeout: 0 }), /option "timeout" must be milliseconds > 0, got 0/);
  });

  it("AggregatorRegistry.setContentType() chooses the format of clusterMetrics(), as prom-client's", async () => {
    const aggregator = new AggregatorRegistry({ timeout: 100 });
    aggregator.setContentType(OPENMETRICS_CONTENT_TYPE);
    assert.equal(aggregator.contentType, OPENMETRICS_CONTENT_TYPE);
    assert.ok((await aggregator.clusterMetrics()).endsWith("# EOF\n"));
    assert.throws(() => aggregator.setContentType("application/json"), RangeError);
    aggregator.close();
  });
});

describe("an AggregatorRegistry made after its workers started", () => {
  const early: Worker[] = [];

  before(async () => {
    cluster.setupPrimary({
      exec: fileURLToPath(new URL("./_worker.ts", import.meta.url)),
      execArgv: ["--import", "tsx"],
      silent: false,
    });
    // Forked, and answering with clusterWorker(), before any aggregator exists.
    await Promise.all([0, 1, 2, 3].map(async (index) => {
      const worker = cluster.fork({ CLUSTER_TEST_INDEX: String(index) });
      early.push(worker);
      await nextMessage(worker, (message) => message.ready === index);
    }));
  });

  after(async () => {
    await Promise.all(early.map((worker) =>
      new Promise<void>((resolve) => {
        if (worker.isDead()) return resolve();
        worker.once("exit", () => resolve());
        worker.process.kill("SIGKILL");
      })
    ));
  });

  it("AggregatorRegistry's first scrape, right after it is made, waits for the workers already running and adds them exactly", async () => {
    const late = new AggregatorRegistry({ timeout: 5000 });
    try {
      const families = parseExposition(await late.clusterMetrics(), false);
      assert.equal(sample(families, "jobs_total", "jobs_total", { kind: "email" }), 1 + 2 + 3 + 4);
      assert.equal(sample(families, "latency_seconds", "latency_seconds_count"), 22);
      assert.equal(sample(families, "atomic_metrics_cluster_workers", "atomic_metrics_cluster_workers"), 4);
      assert.equal(
        sample(families, "atomic_metrics_cluster_workers_unanswered", "atomic_metrics_cluster_workers_unanswered"),
        0,
      );
      assert.equal(
        sample(families, "atomic_metrics_cluster_workers_missed_total", "atomic_metrics_cluster_workers_missed_total"),
        0,
      );
    } finally {
      late.close();
    }
  });
});

describe("node:cluster mode", () => {
  before(async () => {
    cluster.setupPrimary({
      exec: fileURLToPath(new URL("./_worker.ts", import.meta.url)),
      execArgv: ["--import", "tsx"],
      silent: false,
    });
    aggregator = new AggregatorRegistry({
      timeout: 5000,
      aggregators: { depth_first: "first", depth_min: "min", depth_average: "average", payload_bytes: "max" },
      onError: (error) => errors.push(error),
    });
    await Promise.all([0, 1, 2, 3].map((index) => fork(index)));
    server = await serve({ registry: aggregator, port: 0, hostname: "127.0.0.1" });
  });

  after(async () => {
    await server?.close();
    aggregator?.close();
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGKILL");
  });

  it("AggregatorRegistry.clusterMetrics() adds the counters and histograms of 4 workers exactly", async () => {
    const families = await scrape();
    assert.equal(sample(families, "jobs_total", "jobs_total", { kind: "email" }), 1 + 2 + 3 + 4);
    assert.equal(sample(families, "jobs_total", "jobs_total", { kind: QUOTED_KIND }), 4);
    // Each worker: 0.0625, 0.25, 0.75, 2, and `index` more 0.0625.
    const le = (bound: string) => sample(families, "latency_seconds", "latency_seconds_bucket", { le: bound });
    assert.deepEqual([le("0.1"), le("0.5"), le("1"), le("+Inf")], [4 + 6, 14, 18, 22]);
    assert.equal(sample(families, "latency_seconds", "latency_seconds_count"), 22);
    assert.equal(sample(families, "latency_seconds", "latency_seconds_sum"), 4 * 3.0625 + 6 * 0.0625);
    assert.equal(sample(families, "atomic_metrics_cluster_workers", "atomic_metrics_cluster_workers"), 4);
    assert.equal(
      sample(families, "atomic_metrics_cluster_workers_unanswered", "atomic_metrics_cluster_workers_unanswered"),
      0,
    );
    assert.deepEqual(errors, []);
  });

  it("AggregatorRegistry merges gauges by sum, first, min, max, average and omit, from either side's option", async () => {
    const families = await scrape();
    const depth = (name: string) => sample(families, `depth_${name}`, `depth_${name}`);
    // Worker index + 1 in each worker: 1, 2, 3, 4 (the first is the lowest worker id: index 0).
    assert.equal(depth("sum"), 10);
    assert.equal(depth("first"), 1);
    assert.equal(depth("min"), 1);
    assert.equal(depth("max"), 4);
    assert.equal(depth("average"), 2.5);
    assert.equal(families.has("depth_omit"), false);
    assert.equal(sample(families, "limit_bytes", "limit_bytes"), Infinity);
  });

  it("AggregatorRegistry adds a summary's counts and sums and takes its quantiles by its aggregator", async () => {
    const families = await scrape();
    assert.equal(sample(families, "payload_bytes", "payload_bytes_count"), 12);
    assert.equal(sample(families, "payload_bytes", "payload_bytes_sum"), 3 * (10 + 20 + 30 + 40));
    // "max" of each worker's median: worker 3's, 40 within the sketch's 1%.
    const median = sample(families, "payload_bytes", "payload_bytes", { quantile: "0.5" });
    assert.ok(Math.abs(median - 40) <= 0.4, `median ${median}`);
    // A summary with the default aggregator shows no quantiles: none can be computed from the workers'.
    const self = family(families, "atomic_metrics_cluster_workers_missed_total");
    assert.equal(self.type, "counter");
  });

  it("AggregatorRegistry's merged exposition passes promtool and the OpenMetrics judge", async () => {
    await aggregator.collectAsync({ deadlineMs: 5000 });
    const text = aggregator.render();
    const checked = promtoolCheck(text);
    assert.ok(checked.ok, checked.output);
    const om = aggregator.render("openmetrics");
    const judged = openMetricsCheck(om);
    assert.ok(judged.ok, judged.output);
    assert.ok(om.endsWith("# EOF\n"));
    parseExposition(om, true);
  });

  it("AggregatorRegistry.stream('protobuf') adds the workers' native buckets at the lowest schema", async () => {
    await aggregator.collectAsync({ deadlineMs: 5000 });
    const bytes = new Uint8Array(await new Response(aggregator.stream("protobuf")).arrayBuffer());
    const latency = decodeFamilies(bytes).find((f) => f.name === "latency_seconds")!;
    const histogram = latency.metric![0]!.histogram!;
    assert.equal(histogram.sampleCount, 22);
    assert.equal(histogram.sampleSum, 12.625);
    // Worker 0 recorded at schema 3, the others at schema 0 (bucketFactor 2).
    assert.equal(histogram.schema ?? 0, 0);
    let count = 0;
    let total = histogram.zeroCount ?? 0;
    for (const delta of histogram.positiveDelta ?? []) total += count += delta;
    assert.equal(total, 22);
  });

  it("metricsHandler(aggregator) serves the merged exposition over HTTP in the format asked for", async () => {
    const url = `http://127.0.0.1:${server.port}/metrics`;
    const text = await (await fetch(url)).text();
    assert.equal(sample(parseExposition(text, false), "jobs_total", "jobs_total", { kind: "email" }), 10);
    const om = await fetch(url, { headers: { accept: "application/openmetrics-text; version=1.0.0" } });
    assert.equal(om.headers.get("content-type"), OPENMETRICS_CONTENT_TYPE);
    const judged = openMetricsCheck(await om.text());
    assert.ok(judged.ok, judged.output);
    const protobuf = await fetch(url, { headers: { accept: NATIVE_ACCEPT, "accept-encoding": "gzip" } });
    assert.equal(protobuf.headers.get("content-type"), PROTOBUF_CONTENT_TYPE);
    const families = decodeFamilies(new Uint8Array(await protobuf.arrayBuffer()));
    assert.equal(families.find((f) => f.name === "jobs_total")!.metric!.length, 2);
  });

  it("A scrape answers within its deadline while a worker is stuck in a busy loop, with its last snapshot and the miss counted", async () => {
    const before = await scrape();
    const missedBefore = sample(
      before,
      "atomic_metrics_cluster_workers_missed_total",
      "atomic_metrics_cluster_workers_missed_total",
    );
    const jobsBefore = sample(before, "jobs_total", "jobs_total", { kind: "email" });
    await command(2, { cmd: "busy", ms: 4000 }, "busy-start");
    await command(0, { cmd: "inc", n: 5 }, "inc");
    const started = performance.now();
    const response = await fetch(`http://127.0.0.1:${server.port}/metrics`, {
      headers: { "x-prometheus-scrape-timeout-seconds": "1" },
    });
    const families = parseExposition(await response.text(), false);
    const elapsed = performance.now() - started;
    // The deadline: 1 s less a tenth.
    assert.ok(elapsed < 1500, `the scrape took ${elapsed} ms`);
    // The busy worker's last snapshot stands in for it: nothing goes backwards, the others are fresh.
    assert.equal(sample(families, "jobs_total", "jobs_total", { kind: "email" }), jobsBefore + 5);
    assert.equal(
      sample(families, "atomic_metrics_cluster_workers_unanswered", "atomic_metrics_cluster_workers_unanswered"),
      1,
    );
    assert.equal(
      sample(families, "atomic_metrics_cluster_workers_missed_total", "atomic_metrics_cluster_workers_missed_total"),
      missedBefore + 1,
    );
  });

  it("A worker killed with SIGKILL keeps its counted totals in later scrapes, and its replacement adds to them", async () => {
    await command(1, { cmd: "inc", n: 7 }, "inc");
    const before = await scrape();
    const jobs = sample(before, "jobs_total", "jobs_total", { kind: "email" });
    const count = sample(before, "latency_seconds", "latency_seconds_count");
    const killed = workers.get(1)!;
    const exited = new Promise((resolve) => killed.once("exit", resolve));
    killed.process.kill("SIGKILL");
    await exited;
    const after = await scrape();
    assert.equal(sample(after, "jobs_total", "jobs_total", { kind: "email" }), jobs);
    assert.equal(sample(after, "latency_seconds", "latency_seconds_count"), count);
    assert.equal(sample(after, "atomic_metrics_cluster_workers", "atomic_metrics_cluster_workers"), 3);
    assert.equal(
      sample(after, "atomic_metrics_cluster_workers_exited_total", "atomic_metrics_cluster_workers_exited_total"),
      1,
    );
    // Its gauges go with it.
    assert.equal(sample(after, "depth_sum", "depth_sum"), 1 + 3 + 4);
    await fork(1);
    const replaced = await scrape();
    // The replacement starts from its own 2 (index 1 records index + 1).
    assert.equal(sample(replaced, "jobs_total", "jobs_total", { kind: "email" }), jobs + 2);
    assert.equal(sample(replaced, "latency_seconds", "latency_seconds_count"), count + 5);
    assert.equal(sample(replaced, "atomic_metrics_cluster_workers", "atomic_metrics_cluster_workers"), 4);
  });

  it("A worker that never calls clusterWorker() is counted as missed at each scrape and holds no scrape up", async () => {
    const before = await scrape();
    const missed = sample(
      before,
      "atomic_metrics_cluster_workers_missed_total",
      "atomic_metrics_cluster_workers_missed_total",
    );
    const plain = cluster.fork({ CLUSTER_TEST_INDEX: "9", CLUSTER_TEST_PLAIN: "1" });
    await nextMessage(plain, (message) => message.ready === 9);
    for (const scrapeNumber of [1, 2]) {
      const started = performance.now();
      const families = await scrape();
      assert.ok(performance.now() - started < 2000, `scrape ${scrapeNumber} took ${performance.now() - started} ms`);
      assert.equal(sample(families, "atomic_metrics_cluster_workers", "atomic_metrics_cluster_workers"), 5);
      assert.equal(
        sample(families, "atomic_metrics_cluster_workers_missed_total", "atomic_metrics_cluster_workers_missed_total"),
        missed + scrapeNumber,
      );
    }
    assert.deepEqual(errors, []);
  });
});

// The protobuf exposition format and created timestamps, by example: negotiation as Prometheus
// asks, the HTTP answer, what client_golang writes in the corners, and `_created` samples.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "../../mod.ts";
import { metricsHandler } from "../../src/http/handler.ts";
import { negotiateFormat, PROTOBUF_CONTENT_TYPE, TEXT_FORMATS } from "../../src/exposition/negotiate.ts";
import { openMetricsCheck } from "../_openmetrics_judge.ts";
import { parseExposition } from "../_parse.ts";
import { type DecodedFamily, decodeFamilies, millis } from "./_protobuf_decoder.ts";

/** What Prometheus 2.42 started with `--enable-feature=native-histograms` sends. */
const NATIVE_ACCEPT = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited," +
  "application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75," +
  "text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

function family(families: DecodedFamily[], name: string): DecodedFamily {
  const found = families.find((f) => f.name === name);
  assert.ok(found !== undefined, `no family ${name} in ${families.map((f) => f.name).join(", ")}`);
  return found;
}

describe("protobuf negotiation", () => {
  it("negotiateFormat() picks protobuf for the Accept header of Prometheus with native histograms", () => {
    assert.equal(negotiateFormat(NATIVE_ACCEPT), "protobuf");
    assert.equal(negotiateFormat(NATIVE_ACCEPT, TEXT_FORMATS), "openmetrics");
  });

  it("negotiateFormat() picks protobuf only by its own range naming MetricFamily and the delimited encoding", () => {
    const range = "application/vnd.google.protobuf";
    assert.equal(negotiateFormat("*/*"), "prometheus");
    assert.equal(negotiateFormat("application/*, text/plain;q=0.5"), "openmetrics");
    assert.equal(negotiateFormat(`application/openmetrics-text;q=0, application/*`), "prometheus");
    assert.equal(negotiateFormat(`${range};proto=io.prometheus.client.MetricFamily`), "prometheus");
    assert.equal(negotiateFormat(`${range};proto=io.prometheus.client.MetricFamily;encoding=text`), "prometheus");
    assert.equal(negotiateFormat(`${range};proto=other.Message;encoding=delimited`), "prometheus");
    assert.equal(
      negotiateFormat(`${range};proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.4,text/plain;q=0.5`),
      "prometheus",
    );
  });
});

describe("metricsHandler() and protobuf", () => {
  it("metricsHandler() answers Prometheus' native-histogram Accept with protobuf and its exact Content-Type", async () => {
    const registry = new Registry();
    registry.histogram({ name: "latency_seconds", help: "Latency", native: {} }).observe(0.3);
    const handler = metricsHandler(registry, { selfMetrics: false });
    const response = await handler(new Request("http://localhost/metrics", { headers: { accept: NATIVE_ACCEPT } }));
    assert.equal(response.status, 200);
    assert.equal(
      response.headers.get("content-type"),
      "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
    );
    assert.equal(response.headers.get("content-type"), PROTOBUF_CONTENT_TYPE);
    const decoded = decodeFamilies(new Uint8Array(await response.arrayBuffer()));
    assert.equal(family(decoded, "latency_seconds").metric![0]!.histogram!.sampleCount, 1);
  });

  it("metricsHandler() gzips protobuf into bytes that gunzip to the render", async () => {
    const registry = new Registry({ selfMetrics: false });
    registry.counter({ name: "jobs_total", help: "Jobs" }).inc(3);
    const handler = metricsHandler(registry, { selfMetrics: false });
    const response = await handler(
      new Request("http://localhost/metrics", { headers: { accept: NATIVE_ACCEPT, "accept-encoding": "gzip" } }),
    );
    assert.equal(response.headers.get("content-encoding"), "gzip");
    const body = new Blob([await response.arrayBuffer()]).stream().pipeThrough(new DecompressionStream("gzip"));
    assert.deepEqual(new Uint8Array(await new Response(body).arrayBuffer()), registry.render("protobuf"));
  });

  it("metricsHandler() with format 'protobuf' serves protobuf whatever the client asks for", async () => {
    const registry = new Registry({ selfMetrics: false });
    registry.gauge({ name: "depth", help: "Depth" }).set(4);
    const handler = metricsHandler(registry, { format: "protobuf", selfMetrics: false });
    const response = await handler(new Request("http://localhost/metrics", { headers: { accept: "text/plain" } }));
    assert.equal(response.headers.get("content-type"), PROTOBUF_CONTENT_TYPE);
    assert.equal(decodeFamilies(new Uint8Array(await response.arrayBuffer()))[0]!.metric![0]!.gauge!.value, 4);
  });

  it("metricsHandler() serves a source that only renders text OpenMetrics for the native-histogram Accept", async () => {
    const handler = metricsHandler({ render: () => "up 1\n" }, { selfMetrics: false });
    const response = await handler(new Request("http://localhost/metrics", { headers: { accept: NATIVE_ACCEPT } }));
    assert.equal(response.headers.get("content-type"), "application/openmetrics-text; version=1.0.0; charset=utf-8");
  });

  it("metricsHandler() refuses format 'protobuf' for a source that only renders text, naming the option", () => {
    assert.throws(
      () => metricsHandler({ render: () => "up 1\n" }, { format: "protobuf" }),
      /Option "format".*protobuf/,
    );
  });
});

describe("Registry.render('protobuf')", () => {
  it("Registry.render('protobuf') names a counter as the text format 0.0.4 does, _total included", () => {
    const registry = new Registry({ selfMetrics: false });
    registry.counter({ name: "jobs_total", help: "Jobs" }).inc();
    registry.counter({ name: "retries", help: "Retries" }).inc(2);
    const decoded = decodeFamilies(registry.render("protobuf"));
    assert.deepEqual(decoded.map((f) => [f.name, f.type]), [["jobs_total", 0], ["retries", 0]]);
    assert.equal(family(decoded, "retries").metric![0]!.counter!.value, 2);
  });

  it("Registry.render('protobuf') writes a metric too large for one 64 KiB message as several of the same name", async () => {
    const registry = new Registry({ selfMetrics: false, maxSeries: 20_000 });
    const c = registry.counter({ name: "paths_total", help: "Paths", labelNames: ["path"] as const });
    for (let i = 0; i < 5000; i++) c.inc({ path: `/items/${i}/details` }, i);
    const bytes = registry.render("protobuf");
    const decoded = decodeFamilies(bytes);
    assert.ok(decoded.length > 1, `${decoded.length} message(s)`);
    for (const f of decoded) assert.deepEqual([f.name, f.help, f.type], ["paths_total", "Paths", 0]);
    const values = decoded.flatMap((f) => f.metric!.map((m) => [m.label![0]!.value, m.counter!.value]));
    assert.deepEqual(values, Array.from({ length: 5000 }, (_, i) => [`/items/${i}/details`, i]));
    // Streamed in chunks of at most 64 KiB, the same bytes.
    const chunks: Uint8Array[] = [];
    const reader = registry.stream("protobuf").getReader();
    for (let read = await reader.read(); !read.done; read = await reader.read()) chunks.push(read.value);
    assert.ok(chunks.length > 1 && chunks.every((chunk) => chunk.length <= 65536));
    assert.deepEqual(new Uint8Array(await new Blob(chunks as Uint8Array<ArrayBuffer>[]).arrayBuffer()), bytes);
  });

  it("Registry.render('protobuf') labels the overflow series otel_metric_overflow=\"true\", as the text does", () => {
    const registry = new Registry({ selfMetrics: false, maxSeries: 2 });
    const c = registry.counter({ name: "hits_total", help: "Hits", labelNames: ["user"] as const });
    for (const user of ["a", "b", "c", "d"]) c.inc({ user });
    const metrics = family(decodeFamilies(registry.render("protobuf")), "hits_total").metric!;
    const text = parseExposition(registry.render(), false).get("hits_total")!.samples;
    assert.deepEqual(
      metrics.map((m) => [Object.fromEntries(m.label!.map((l) => [l.name, l.value])), m.counter!.value]),
      text.map((s) => [s.labels, s.value]),
    );
    assert.deepEqual(metrics[metrics.length - 1]!.label, [{ name: "otel_metric_overflow", value: "true" }]);
  });

  it("Registry.render('protobuf') marks an empty native histogram with a zero threshold of 0 by one empty span", () => {
    const registry = new Registry({ selfMetrics: false });
    registry.histogram({ name: "exact", help: "", native: { zeroThreshold: 0 } });
    registry.histogram({ name: "usual", help: "", native: {} });
    const decoded = decodeFamilies(registry.render("protobuf"));
    const exact = family(decoded, "exact").metric![0]!.histogram!;
    assert.deepEqual(exact.positiveSpan, [{ offset: 0, length: 0 }]);
    assert.equal(exact.zeroThreshold, 0);
    const usual = family(decoded, "usual").metric![0]!.histogram!;
    assert.equal(usual.positiveSpan, undefined);
    assert.equal(usual.zeroThreshold, 2 ** -128);
    assert.equal(usual.schema, 3);
    assert.equal(usual.bucket, undefined, "a native histogram without classic buckets writes none");
  });

  it("Registry.render('protobuf') puts a native-only histogram's exemplar on a +Inf bucket and in its exemplars", () => {
    const registry = new Registry({ selfMetrics: false });
    const h = registry.histogram({ name: "rpc_seconds", help: "", native: {} });
    h.observe(0.5, { trace_id: "abc" });
    h.observe(2, { trace_id: "def" });
    const histogram = family(decodeFamilies(registry.render("protobuf")), "rpc_seconds").metric![0]!.histogram!;
    // Prometheus 2.42 reads the exemplars of a native histogram from its buckets only.
    assert.equal(histogram.bucket?.length, 1);
    assert.equal(histogram.bucket![0]!.upperBound, Infinity);
    assert.equal(histogram.bucket![0]!.cumulativeCount, 2);
    assert.deepEqual(histogram.bucket![0]!.exemplar!.label, [{ name: "trace_id", value: "def" }]);
    assert.deepEqual(histogram.exemplars!.map((e) => [e.label![0]!.value, e.value]), [["abc", 0.5], ["def", 2]]);
    assert.deepEqual(histogram.positiveSpan, [{ offset: -8, length: 1 }, { offset: 15, length: 1 }]);
    assert.deepEqual(histogram.positiveDelta, [1, 0]);
  });

  it("Registry.render('protobuf') writes a created timestamp past 2038 (a varint above 2^31) exactly", () => {
    const now = Date.now;
    const at = 3_000_000_000_123; // 2065
    Date.now = () => at;
    try {
      const registry = new Registry({ selfMetrics: false, createdTimestamps: true });
      registry.counter({ name: "later_total", help: "" }).inc();
      const counter = family(decodeFamilies(registry.render("protobuf")), "later_total").metric![0]!.counter!;
      assert.deepEqual(counter.createdTimestamp, { seconds: 3_000_000_000, nanos: 123_000_000 });
    } finally {
      Date.now = now;
    }
  });
});

describe("Registry createdTimestamps", () => {
  function registryWithEverything(options: { createdTimestamps?: boolean }): Registry {
    const registry = new Registry({ selfMetrics: false, ...options });
    registry.counter({ name: "jobs_total", help: "Jobs", labelNames: ["kind"] as const }).inc({ kind: "a" }, 2, {
      trace_id: "t1",
    });
    registry.counter({ name: "retries", help: "Retries" }).inc();
    registry.gauge({ name: "depth", help: "Depth" }).set(3);
    registry.histogram({ name: "size_bytes", help: "Size", unit: "bytes", buckets: [10, 100] }).observe(50);
    registry.histogram({ name: "delta", help: "Delta", buckets: [-1, 0, 1] }).observe(-2);
    registry.histogram({ name: "native_seconds", help: "Native", native: {} }).observe(0.1);
    registry.summary({ name: "latency", help: "Latency", quantiles: [0.5] }).observe(1);
    registry.summary({ name: "loss", help: "Loss", quantiles: [0.5] }).observe(0);
    return registry;
  }

  it("Registry createdTimestamps off writes OpenMetrics and protobuf without created timestamps, as by default", () => {
    const off = registryWithEverything({ createdTimestamps: false });
    const text = off.render("openmetrics");
    assert.ok(!text.includes("_created"), text);
    assert.equal(
      text.replace(/ \d+\.\d{3}\n/g, "\n"),
      registryWithEverything({}).render("openmetrics").replace(/ \d+\.\d{3}\n/g, "\n"),
    );
    for (const f of decodeFamilies(off.render("protobuf"))) {
      for (const m of f.metric!) {
        assert.equal(
          m.counter?.createdTimestamp ?? m.histogram?.createdTimestamp ?? m.summary?.createdTimestamp,
          undefined,
        );
      }
    }
  });

  it("Registry createdTimestamps shows _created for counters, histograms and summaries, which the strict parser accepts", () => {
    const before = Date.now();
    const registry = registryWithEverything({ createdTimestamps: true });
    const text = registry.render("openmetrics");
    const verdict = openMetricsCheck(text);
    assert.ok(verdict.ok, `${verdict.output}\n${text}`);
    const created = text.split("\n").filter((line) => line.includes("_created"));
    assert.deepEqual(created.map((line) => line.replace(/ [\d.]+$/, "")), [
      "delta_created",
      'jobs_created{kind="a"}',
      "latency_created",
      "loss_created",
      "native_seconds_created",
      "retries_created",
      "size_bytes_created",
    ]);
    for (const line of created) {
      const seconds = Number(line.slice(line.lastIndexOf(" ") + 1));
      assert.ok(seconds * 1000 >= before && seconds * 1000 <= Date.now(), line);
    }
    // The text format 0.0.4 has no place for them.
    assert.ok(!registry.render().includes("_created"));
    // Protobuf carries the same instants.
    const decoded = decodeFamilies(registry.render("protobuf"));
    const om = parseExposition(text, true);
    const instant = (name: string) =>
      Math.round(om.get(name)!.samples.find((s) => s.name.endsWith("_created"))!.value * 1000);
    assert.equal(millis(family(decoded, "jobs_total").metric![0]!.counter!.createdTimestamp!), instant("jobs"));
    assert.equal(millis(family(decoded, "size_bytes").metric![0]!.histogram!.createdTimestamp!), instant("size_bytes"));
    assert.equal(
      millis(family(decoded, "native_seconds").metric![0]!.histogram!.createdTimestamp!),
      instant("native_seconds"),
    );
    assert.equal(millis(family(decoded, "latency").metric![0]!.summary!.createdTimestamp!), instant("latency"));
    assert.equal(family(decoded, "depth").metric![0]!.gauge!.value, 3);
  });

  it("Registry createdTimestamps moves a series' _created to when it was cleared and recorded again", async () => {
    const registry = new Registry({ selfMetrics: false, createdTimestamps: true });
    const jobs = registry.counter({ name: "jobs_total", help: "Jobs" });
    jobs.inc();
    const created = () => parseExposition(registry.render("openmetrics"), true).get("jobs")!.samples[1]!.value;
    const first = created();
    await new Promise((done) => setTimeout(done, 20));
    jobs.clear();
    jobs.inc();
    assert.ok(created() > first, `${created()} after ${first}`);
  });

  it("Registry refuses a createdTimestamps option that is not a boolean, naming it", () => {
    assert.throws(
      () => new Registry({ createdTimestamps: "yes" as unknown as boolean }),
      /Registry option createdTimestamps must be a boolean/,
    );
  });
});

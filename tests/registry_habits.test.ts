// prom-client's registry habits: default labels, a name prefix, getSingleMetric(), metrics(),
// contentType, getMetricsAsJSON(), Registry.merge() and the shared default registry.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as promClient from "prom-client";
import { metricsHandler, register, Registry } from "../mod.ts";
import { parseExposition } from "./_parse.ts";
import { promtoolCheck } from "./_promtool.ts";
import { openMetricsCheck } from "./_openmetrics_judge.ts";
import { decodeFamilies } from "./exposition/_protobuf_decoder.ts";
import { spawnWorker } from "./threads/_spawn.ts";

/** A registry with one metric of each type, recorded into. */
function filled(registry: Registry): Registry {
  registry.counter({ name: "jobs_total", help: "Jobs", labelNames: ["queue"] }).inc({ queue: "a" }, 2);
  registry.gauge({ name: "depth", help: "Depth" }).set(3);
  registry.histogram({ name: "latency_seconds", help: "Latency", buckets: [0.1, 1] }).observe(0.5);
  registry.summary({ name: "size_bytes", help: "Size", labelNames: ["kind"], quantiles: [0.5] })
    .observe({ kind: "x" }, 10);
  return registry;
}

describe("Registry default labels", () => {
  it("new Registry({ defaultLabels }) shows them on every series of every type, before the series' own", () => {
    const registry = filled(new Registry({ defaultLabels: { service: "api", region: "eu" }, selfMetrics: false }));
    const text = registry.render();
    assert.match(text, /^jobs_total\{service="api",region="eu",queue="a"\} 2$/m);
    assert.match(text, /^depth\{service="api",region="eu"\} 3$/m);
    assert.match(text, /^latency_seconds_bucket\{service="api",region="eu",le="1"\} 1$/m);
    assert.match(text, /^latency_seconds_sum\{service="api",region="eu"\} 0.5$/m);
    assert.match(text, /^size_bytes_count\{service="api",region="eu",kind="x"\} 1$/m);
    const families = parseExposition(text, false);
    for (const family of families.values()) {
      for (const sample of family.samples) {
        assert.equal(sample.labels.service, "api", `${sample.name} lacks service`);
        assert.equal(sample.labels.region, "eu", `${sample.name} lacks region`);
      }
    }
    const check = promtoolCheck(text);
    assert.ok(check.ok, check.output);
    const om = openMetricsCheck(registry.render("openmetrics"));
    assert.ok(om.ok, om.output);
  });

  it("A metric's own label of the same name wins over a default label, as in prom-client", () => {
    const registry = new Registry({ defaultLabels: { service: "api", env: "prod" }, selfMetrics: false });
    registry.counter({ name: "calls_total", help: "Calls", labelNames: ["service"] }).inc({ service: "db" });
    const text = registry.render();
    assert.match(text, /^calls_total\{env="prod",service="db"\} 1$/m);
    assert.equal(promtoolCheck(text).ok, true);
  });

  it("Default labels reach the protobuf format and collect() snapshots", () => {
    const registry = filled(new Registry({ defaultLabels: { service: "api" }, selfMetrics: false }));
    const families = decodeFamilies(registry.render("protobuf"));
    assert.equal(families.length, 4);
    for (const family of families) {
      for (const metric of family.metric ?? []) {
        assert.deepEqual(metric.label?.[0], { name: "service", value: "api" }, family.name);
      }
    }
    for (const metric of registry.collect()) {
      for (const series of metric.series) assert.equal(series.labels.service, "api", metric.name);
    }
  });

  it("Registry.setDefaultLabels() replaces the default labels for the renders that follow", () => {
    const registry = new Registry({ defaultLabels: { a: "1" }, selfMetrics: false });
    registry.gauge({ name: "g", help: "G" }).set(1);
    assert.match(registry.render(), /^g\{a="1"\} 1$/m);
    registry.setDefaultLabels({ b: "2" });
    assert.match(registry.render(), /^g\{b="2"\} 1$/m);
    registry.setDefaultLabels({});
    assert.match(registry.render(), /^g 1$/m);
  });

  it("Default labels that are not valid are refused, naming the label, and change nothing", () => {
    const registry = new Registry({ defaultLabels: { a: "1" }, selfMetrics: false });
    registry.gauge({ name: "g", help: "G" }).set(1);
    assert.throws(() => registry.setDefaultLabels({ "bad-name": "x" }), /label name "bad-name"/);
    assert.throws(() => registry.setDefaultLabels({ le: "x" }), /label name "le"/);
    assert.throws(() => registry.setDefaultLabels({ __x: "x" }), /label name "__x"/);
    assert.throws(() => registry.setDefaultLabels({ n: 5 as unknown as string }), /label "n" must be a string/);
    assert.throws(() => registry.setDefaultLabels({ n: "x".repeat(1025) }), /1025 code units/);
    assert.throws(() => registry.setDefaultLabels(null as never), /must be an object/);
    assert.throws(() => new Registry({ defaultLabels: { quantile: "x" } }), /defaultLabels has label name "quantile"/);
    assert.match(registry.render(), /^g\{a="1"\} 1$/m);
  });

  it("A thread that attaches shows the registry's default labels and takes its prefix", async () => {
    const registry = new Registry({ defaultLabels: { service: "api" }, prefix: "app_", selfMetrics: false });
    const worker = await spawnWorker(new URL("./threads/_worker.ts", import.meta.url));
    try {
      const handle = registry.share();
      const made = await worker.run({
        task: "register",
        handle,
        definition: { type: "counter", name: "jobs_total", labelNames: ["queue"], value: 3 },
      }) as { ok: boolean };
      assert.equal(made.ok, true);
      const rendered = await worker.run({ task: "render", handle }) as { prometheus: string };
      assert.match(rendered.prometheus, /^app_jobs_total\{service="api",queue="w"\} 3$/m);
      assert.match(registry.render(), /^app_jobs_total\{service="api",queue="w"\} 3$/m);
    } finally {
      await worker.terminate();
    }
  });
});

describe("Registry prefix", () => {
  it("new Registry({ prefix }) prefixes every metric name but the self-metrics'", () => {
    const registry = new Registry({ prefix: "myapp_" });
    const jobs = registry.counter({ name: "jobs_total", help: "Jobs" });
    jobs.inc();
    assert.equal(jobs.name, "myapp_jobs_total");
    const text = registry.render();
    assert.match(text, /^myapp_jobs_total 1$/m);
    assert.match(text, /^atomic_metrics_series /m);
    assert.equal(registry.get("myapp_jobs_total"), jobs);
    assert.equal(registry.counter({ name: "jobs_total", help: "Jobs" }), jobs);
    assert.equal(registry.remove("myapp_jobs_total"), true);
  });

  it("A prefix that cannot start a metric name is refused, naming it", () => {
    assert.throws(() => new Registry({ prefix: "9lives_" }), /option prefix .* got "9lives_"/);
    assert.throws(() => new Registry({ prefix: "a-b" }), /option prefix/);
    assert.throws(() => new Registry({ prefix: 7 as unknown as string }), /option prefix .* got number/);
    assert.throws(() => new Registry({ prefix: 8n as unknown as string }), /option prefix .* got bigint/);
  });

  it("Errors name the prefixed metric", () => {
    const registry = new Registry({ prefix: "app_" });
    registry.counter({ name: "x_total", help: "X" });
    assert.throws(() => registry.gauge({ name: "x_total", help: "X" }), /Gauge "app_x_total" is already registered/);
    assert.throws(() => registry.histogram({ name: "h", help: "H", buckets: [2, 1] }), /Histogram "app_h" buckets/);
  });
});

describe("Registry reading API of prom-client", () => {
  it("Registry.getSingleMetric() finds a metric by its full name or its name without the prefix", () => {
    const registry = new Registry({ prefix: "app_" });
    const depth = registry.gauge({ name: "depth", help: "Depth" });
    assert.equal(registry.getSingleMetric("app_depth"), depth);
    assert.equal(registry.getSingleMetric("depth"), depth);
    assert.equal(registry.getSingleMetric("missing"), undefined);
  });

  it("Registry.metrics() awaits async collectors and renders the format contentType names", async () => {
    const registry = new Registry();
    registry.gauge({
      name: "queue_depth",
      help: "Depth",
      collect: async (g) => g.set(await new Promise<number>((resolve) => setTimeout(() => resolve(9), 5))),
    });
    assert.equal(registry.contentType, "text/plain; version=0.0.4; charset=utf-8");
    assert.equal(registry.contentType, Registry.PROMETHEUS_CONTENT_TYPE);
    assert.equal(registry.contentType, promClient.Registry.PROMETHEUS_CONTENT_TYPE);
    const text = await registry.metrics();
    assert.match(text, /^queue_depth 9$/m);
    assert.equal(promtoolCheck(text).ok, true);
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    assert.equal(registry.contentType, promClient.Registry.OPENMETRICS_CONTENT_TYPE);
    const om = await registry.metrics();
    assert.ok(om.endsWith("# EOF\n"));
    assert.ok(openMetricsCheck(om).ok);
    assert.throws(() => registry.setContentType("text/html"), /setContentType\(\) takes .* got "text\/html"/);
  });

  it("A collect callback gets its metric as this, as prom-client's collect() { this.set() } expects", () => {
    const registry = new Registry({ selfMetrics: false });
    registry.gauge({
      name: "heap_ratio",
      help: "Ratio",
      collect() {
        this.set(0.5);
      },
    });
    registry.counter({
      name: "reads_total",
      help: "Reads",
      collect() {
        this.inc();
      },
    });
    assert.match(registry.render(), /^heap_ratio 0.5$/m);
    assert.match(registry.render(), /^reads_total 2$/m);
  });

  it("Registry.getMetricsAsJSON() gives prom-client's JSON for the same metrics and values", async () => {
    const ours = new Registry({ selfMetrics: false, defaultLabels: { app: "a" } });
    const theirs = new promClient.Registry();
    theirs.setDefaultLabels({ app: "a" });
    ours.counter({ name: "jobs_total", help: "Jobs", labelNames: ["queue"] }).inc({ queue: "q" }, 2);
    new promClient.Counter({ name: "jobs_total", help: "Jobs", labelNames: ["queue"], registers: [theirs] })
      .inc({ queue: "q" }, 2);
    ours.gauge({ name: "depth", help: "Depth" }).set(3);
    new promClient.Gauge({ name: "depth", help: "Depth", registers: [theirs] }).set(3);
    const hOurs = ours.histogram({
      name: "latency_seconds",
      help: "Latency",
      labelNames: ["route"],
      buckets: [0.1, 1],
    });
    const hTheirs = new promClient.Histogram({
      name: "latency_seconds",
      help: "Latency",
      labelNames: ["route"],
      buckets: [0.1, 1],
      registers: [theirs],
    });
    for (const v of [0.05, 0.5, 5]) {
      hOurs.observe({ route: "/" }, v);
      hTheirs.observe({ route: "/" }, v);
    }
    const normalise = (metrics: { name: string; help: string; type: unknown; values: unknown[] }[]) =>
      metrics
        .map((m) => ({
          name: m.name,
          help: m.help,
          type: String(m.type),
          values: (m.values as { labels: object; value: number; metricName?: string }[])
            .map((v) => ({ labels: v.labels, value: v.value, metricName: v.metricName }))
            .sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1),
        }))
        .sort((a, b) => a.name < b.name ? -1 : 1);
    assert.deepEqual(normalise(await ours.getMetricsAsJSON()), normalise(await theirs.getMetricsAsJSON()));
  });
});

describe("Registry.merge()", () => {
  it("Registry.merge() renders the metrics of every registry once, sorted, with one self-metric set", async () => {
    const a = new Registry();
    const b = new Registry({ defaultLabels: { part: "b" } });
    a.counter({ name: "b_first_total", help: "From a" }).inc();
    b.gauge({ name: "a_second", help: "From b" }).set(2);
    const merged = Registry.merge([a, b]);
    const text = merged.render();
    assert.match(text, /^b_first_total 1$/m);
    assert.match(text, /^a_second\{part="b"\} 2$/m);
    assert.equal(text.match(/^# TYPE atomic_metrics_series gauge$/gm)?.length, 1);
    assert.ok(text.indexOf("a_second") < text.indexOf("b_first_total"));
    assert.ok(promtoolCheck(text).ok);
    const om = merged.render("openmetrics");
    assert.equal(om.match(/# EOF/g)?.length, 1);
    assert.ok(openMetricsCheck(om).ok);
    assert.equal(decodeFamilies(merged.render("protobuf")).filter((f) => f.name === "a_second").length, 1);
    assert.equal(merged.getSingleMetric("a_second"), b.get("a_second"));
    assert.match(await merged.metrics(), /^b_first_total 1$/m);
    assert.equal((await merged.getMetricsAsJSON()).some((m) => m.name === "a_second"), true);
  });

  it("Registry.merge() refuses two registries with the same metric, naming it, also when it comes later", () => {
    const a = new Registry();
    const b = new Registry();
    a.counter({ name: "x_total", help: "X" });
    b.counter({ name: "x_total", help: "X" });
    assert.throws(() => Registry.merge([a, b]), /metric "x_total" is in registry 0 and registry 1/);
    const c = new Registry();
    const merged = Registry.merge([a, c]);
    c.counter({ name: "x_total", help: "X" });
    assert.throws(() => merged.render(), /metric "x_total"/);
    assert.throws(() => Registry.merge([a, {} as Registry]), /argument 1 is not a Registry/);
    assert.throws(() => Registry.merge([]), /non-empty array/);
  });

  it("metricsHandler() serves merged registries, streamed, in every format", async () => {
    const a = new Registry();
    const b = new Registry({ selfMetrics: false });
    a.counter({ name: "requests_total", help: "Requests" }).inc(5);
    b.gauge({ name: "pool_size", help: "Pool", collect: async (g) => g.set(await Promise.resolve(4)) });
    const handler = metricsHandler(Registry.merge([a, b]));
    const text = await (await handler(new Request("http://localhost/metrics"))).text();
    assert.match(text, /^requests_total 5$/m);
    assert.match(text, /^pool_size 4$/m);
    const om = await handler(
      new Request("http://localhost/metrics", { headers: { accept: "application/openmetrics-text; version=1.0.0" } }),
    );
    assert.ok((await om.text()).endsWith("# EOF\n"));
  });
});

describe("The default registry", () => {
  it("register is one Registry shared by every importer, with prom-client's reading API", async () => {
    const again = await import("../mod.ts");
    assert.equal(again.register, register);
    assert.ok(register instanceof Registry);
    const jobs = register.counter({ name: "default_registry_test_total", help: "Jobs" });
    jobs.inc(2);
    try {
      assert.match(await register.metrics(), /^default_registry_test_total 2$/m);
      assert.equal(register.getSingleMetric("default_registry_test_total"), jobs);
    } finally {
      register.remove("default_registry_test_total");
    }
  });
});

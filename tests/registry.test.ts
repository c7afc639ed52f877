import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { OVERFLOW_LABEL, Registry } from "../mod.ts";
import { parseExposition } from "./_parse.ts";

describe("Registry registration", () => {
  it("Registry.counter() gives back the same metric for the same definition", () => {
    const registry = new Registry();
    const a = registry.counter({ name: "jobs_total", help: "Jobs", labelNames: ["kind"] as const });
    const b = registry.counter({ name: "jobs_total", help: "Jobs", labelNames: ["kind"] as const });
    assert.equal(a, b);
    a.inc({ kind: "x" });
    b.inc({ kind: "x" });
    assert.equal(a.get({ kind: "x" }), 2);
  });

  it("Registry.gauge() throws on a name registered as another type, naming both", () => {
    const registry = new Registry();
    registry.counter({ name: "jobs_total", help: "Jobs" });
    assert.throws(
      () => registry.gauge({ name: "jobs_total", help: "Jobs" }),
      /Gauge "jobs_total" is already registered as a counter/,
    );
  });

  it("Registry.counter() throws on the same name with other labels, help or unit", () => {
    const registry = new Registry();
    registry.counter({ name: "a_total", help: "A", labelNames: ["x"] as const });
    assert.throws(
      () => registry.counter({ name: "a_total", help: "A", labelNames: ["y"] as const }),
      /already registered with labels \[x\]/,
    );
    assert.throws(
      () => registry.counter({ name: "a_total", help: "B", labelNames: ["x"] as const }),
      /already registered with help/,
    );
  });

  it("Registry.histogram() throws on the same name with other buckets", () => {
    const registry = new Registry();
    registry.histogram({ name: "h", help: "h", buckets: [1, 2] });
    assert.throws(
      () => registry.histogram({ name: "h", help: "h", buckets: [1, 3] }),
      /already registered with buckets/,
    );
  });

  it("Registry rejects a family whose sample names would clash with another's (a_total and a, h and h_bucket)", () => {
    const registry = new Registry();
    registry.counter({ name: "a_total", help: "a" });
    assert.throws(() => registry.gauge({ name: "a", help: "a" }), /clashes with metric "a_total"/);
    registry.histogram({ name: "h", help: "h" });
    assert.throws(() => registry.gauge({ name: "h_bucket", help: "h" }), /clashes with metric "h"/);
    assert.throws(() => registry.summary({ name: "h_count", help: "h" }), /clashes/);
  });

  it("Registry.counter() refuses a unit the name does not end with", () => {
    const registry = new Registry();
    assert.throws(() => registry.counter({ name: "size_total", help: "s", unit: "bytes" }), /must end with "_bytes"/);
    registry.counter({ name: "size_bytes_total", help: "s", unit: "bytes" });
  });

  it("Registry.summary() refuses quantiles outside [0, 1] and a non-positive window", () => {
    const registry = new Registry();
    assert.throws(
      () => registry.summary({ name: "s", help: "s", quantiles: [1.5] }),
      /quantile 1.5 is not in \[0, 1\]/,
    );
    assert.throws(
      () => registry.summary({ name: "s", help: "s", maxAgeSeconds: 0 }),
      /maxAgeSeconds must be a positive number/,
    );
    assert.throws(() => registry.summary({ name: "s", help: "s", ageBuckets: 0 }), /ageBuckets must be an integer/);
  });

  it("new Registry() refuses a maxSeries that is not a positive integer", () => {
    assert.throws(() => new Registry({ maxSeries: 0 }), /maxSeries must be a positive integer/);
    assert.throws(() => new Registry({ maxSeries: 1.5 }), /maxSeries/);
  });
});

describe("Recording with bad input", () => {
  it("Counter.inc() throws on a negative or NaN increment and keeps what was recorded", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "c_total", help: "c" });
    c.inc(2);
    assert.throws(() => c.inc(-1), /Counter "c_total" increment must be a finite number >= 0, got -1/);
    assert.throws(() => c.inc(NaN), /got NaN/);
    assert.throws(() => c.inc(Infinity), /got Infinity/);
    assert.equal(c.get(), 2);
  });

  it("Counter.labels() names the unknown label and the labels the metric has", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "jobs_total", help: "Jobs", labelNames: ["kind"] as const });
    c.inc({ kind: "a" });
    assert.throws(
      () => c.inc({ kind: "a", kind2: "b" } as never),
      /Counter "jobs_total" has no label "kind2"; its labels are: kind/,
    );
    assert.throws(() => c.inc({} as never), /Counter "jobs_total" is missing label "kind"/);
    assert.throws(() => c.inc(), /missing label "kind"/);
    assert.equal(c.get({ kind: "a" }), 1);
  });

  it("Counter.labels() on a metric without labels returns its one series and refuses any label", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "plain_total", help: "p" });
    assert.equal(c.labels({}), c.labels({}));
    assert.throws(
      () => c.labels({ x: "1" } as never),
      /Counter "plain_total" has no label "x"; its labels are: \(none\)/,
    );
    c.labels({}).inc();
    assert.equal(c.get(), 1);
  });

  it("Histogram.observe() throws on NaN and records nothing", () => {
    const registry = new Registry();
    const h = registry.histogram({ name: "h", help: "h" });
    h.observe(1);
    assert.throws(() => h.observe(NaN), /Histogram "h" observation must not be NaN/);
    assert.equal(h.labels({}).count(), 1);
  });

  it("Counter.labels() refuses a label value that is not well-formed Unicode", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["v"] as const });
    assert.throws(() => c.inc({ v: "\uD800" }), /not well-formed Unicode/);
  });
});

describe("Cardinality limit", () => {
  it("Registry folds label sets past maxSeries into the overflow series and counts the folds", () => {
    const registry = new Registry({ maxSeries: 5 });
    const c = registry.counter({ name: "req_total", help: "r", labelNames: ["user"] as const });
    for (let i = 0; i < 100; i++) c.inc({ user: `u${i}` }, 2);
    const families = parseExposition(registry.render(), false);
    const samples = families.get("req_total")!.samples;
    const total = samples.reduce((s, x) => s + x.value, 0);
    assert.equal(total, 200, "totals stay exact");
    assert.equal(samples.length, 6, "5 series and the overflow series");
    const overflow = samples.find((s) => s.labels[OVERFLOW_LABEL] === "true");
    assert.deepEqual(overflow?.labels, { [OVERFLOW_LABEL]: "true" }, "the overflow series has only its marker label");
    assert.equal(overflow?.value, 190);
    const folds = families.get("atomic_metrics_overflow_observations_total")!.samples.find((s) =>
      s.labels.metric === "req_total"
    );
    assert.equal(folds?.value, 95);
    assert.equal(families.get("atomic_metrics_series")!.samples[0]!.value, 5);
  });

  it("a bound overflow series counts every observation it folds", () => {
    const registry = new Registry({ maxSeries: 1 });
    const h = registry.histogram({ name: "h", help: "h", labelNames: ["k"] as const });
    h.observe({ k: "a" }, 1);
    const folded = h.labels({ k: "b" });
    folded.observe(1);
    folded.observe(2);
    const text = registry.render();
    assert.match(text, /atomic_metrics_overflow_observations_total\{metric="h"\} 2/);
    assert.match(text, /h_count\{otel_metric_overflow="true"\} 2/);
  });

  it("an unused overflow series is not rendered", () => {
    const registry = new Registry();
    registry.counter({ name: "c_total", help: "c", labelNames: ["k"] as const }).inc({ k: "a" });
    assert.doesNotMatch(registry.render(), /otel_metric_overflow/);
  });
});

describe("Rendering", () => {
  it("Registry.render() sorts families by name and keeps series in creation order", () => {
    const registry = new Registry({ selfMetrics: false });
    const b = registry.counter({ name: "b_total", help: "b", labelNames: ["k"] as const });
    registry.gauge({ name: "a", help: "a" }).set(1);
    b.inc({ k: "z" });
    b.inc({ k: "y" });
    const names = [...parseExposition(registry.render(), false).keys()];
    assert.deepEqual(names, ["a", "b_total"]);
    assert.match(registry.render(), /b_total\{k="z"\} 1\nb_total\{k="y"\} 1/);
  });

  it("Registry.render() writes NaN, +Inf and -Inf gauge values", () => {
    const registry = new Registry({ selfMetrics: false });
    const g = registry.gauge({ name: "g", help: "g", labelNames: ["v"] as const });
    g.set({ v: "nan" }, NaN);
    g.set({ v: "inf" }, Infinity);
    g.set({ v: "minf" }, -Infinity);
    const text = registry.render();
    assert.match(text, /g\{v="nan"\} NaN/);
    assert.match(text, /g\{v="inf"\} \+Inf/);
    assert.match(text, /g\{v="minf"\} -Inf/);
  });

  it("Registry.render('openmetrics') types counters without _total, adds UNIT and ends with # EOF", () => {
    const registry = new Registry({ selfMetrics: false });
    registry.counter({ name: "sent_bytes_total", help: "Sent", unit: "bytes" }).inc(3);
    const text = registry.render("openmetrics");
    assert.equal(
      text,
      "# HELP sent_bytes Sent\n# TYPE sent_bytes counter\n# UNIT sent_bytes bytes\nsent_bytes_total 3\n# EOF\n",
    );
  });

  it("Registry.render() escapes HELP per format: 0.0.4 leaves quotes, OpenMetrics escapes them", () => {
    const registry = new Registry({ selfMetrics: false });
    registry.gauge({ name: "g", help: 'a\\b\n"c"' });
    assert.match(registry.render(), /# HELP g a\\\\b\\n"c"\n/);
    assert.match(registry.render("openmetrics"), /# HELP g a\\\\b\\n\\"c\\"\n/);
  });

  it("Counter exemplars render on _total samples only in OpenMetrics, and over-long ones are dropped and counted", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "c_total", help: "c" });
    c.labels({}).inc(1, { trace_id: "abc" });
    assert.match(registry.render("openmetrics"), /c_total 1 # \{trace_id="abc"\} 1 \d+\.\d{3}\n/);
    assert.doesNotMatch(registry.render(), /#\s*\{/);
    c.labels({}).inc(1, { trace_id: "x".repeat(130) });
    assert.match(registry.render(), /atomic_metrics_exemplars_dropped_total 1/);
    assert.match(registry.render("openmetrics"), /c_total 2 # \{trace_id="abc"\} 1/);
  });

  it("an exemplar provider supplies exemplars for calls that pass none", () => {
    const registry = new Registry({ exemplars: () => ({ trace_id: "from-provider" }) });
    const h = registry.histogram({ name: "h", help: "h", buckets: [1] });
    h.observe(0.5);
    assert.match(registry.render("openmetrics"), /h_bucket\{le="1"\} 1 # \{trace_id="from-provider"\} 0.5/);
    const off = registry.histogram({ name: "h2", help: "h", buckets: [1], exemplars: false });
    off.observe(0.5);
    assert.match(registry.render("openmetrics"), /h2_bucket\{le="1"\} 1\n/);
  });

  it("Registry.render() throws what a collect hook throws, and renders again once it stops", () => {
    const registry = new Registry();
    let fail = true;
    registry.beforeCollect(() => {
      if (fail) throw new Error("collector down");
    });
    assert.throws(() => registry.render(), /collector down/);
    fail = false;
    assert.match(registry.render(), /atomic_metrics_series/);
  });

  it("Registry.collect() snapshots match the recorded values", () => {
    const registry = new Registry({ selfMetrics: false });
    registry.counter({ name: "c_total", help: "c", labelNames: ["k"] as const }).inc({ k: "a" }, 4);
    registry.histogram({ name: "h", help: "h", buckets: [1, 2] }).observe(1.5);
    const [c, h] = registry.collect();
    assert.deepEqual(c!.series[0]!.labels, { k: "a" });
    assert.equal(c!.series[0]!.value, 4);
    assert.deepEqual(h!.series[0]!.buckets, [{ le: 1, count: 0 }, { le: 2, count: 1 }, { le: Infinity, count: 1 }]);
    assert.equal(h!.series[0]!.sum, 1.5);
  });
});

describe("Registry.detach()", () => {
  it("Registry.detach() frees the thread slot for the next attach, and what it recorded stays", () => {
    const main = new Registry({ maxThreads: 2 });
    const handle = main.share();
    for (let i = 0; i < 5; i++) {
      const worker = Registry.attach(handle);
      worker.counter({ name: "done_total", help: "Done" }).inc();
      worker.detach();
    }
    assert.match(main.render(), /\ndone_total 5\n/);
    const last = Registry.attach(handle);
    assert.throws(() => Registry.attach(handle), /all 2 are taken/);
    last.detach();
    assert.throws(() => last.counter({ name: "x_total", help: "x" }), /after detach\(\)/);
  });
});

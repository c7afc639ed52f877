// Issue 11, points 1–8 and the label-length cap of 15: every recording entry point refuses
// what is not a number before anything is recorded, a call that throws leaves nothing behind,
// exemplars never make a recording throw, and the messages name the metric.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as api from "../../mod.ts";
import { MAX_LABEL_VALUE_LENGTH, OVERFLOW_LABEL, Registry } from "../../mod.ts";
import { parseExposition } from "../_parse.ts";

// deno-lint-ignore no-explicit-any
type Loose = any;

const NOT_NUMBERS: [string, unknown][] = [
  ["a digit string", "5"],
  ["a hex string", "0x10"],
  ["null", null],
  ["a boolean", true],
  ["a bigint", 8n],
  ["an object", {}],
  ["an array", [1]],
  ["a symbol", Symbol("s")],
];

function seriesOf(registry: Registry, name: string): number {
  const family = parseExposition(registry.render(), false).get(name);
  return family === undefined ? 0 : family.samples.length;
}

describe("Recording refuses values that are not numbers", () => {
  it("Counter.inc() with a string after a number keeps the number (no concatenation)", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "req_total", help: "r", labelNames: ["route"] as const });
    c.inc({ route: "/a" }, 10);
    assert.throws(() => (c as Loose).inc({ route: "/a" }, "5"), TypeError);
    assert.equal(c.get({ route: "/a" }), 10);
    assert.match(registry.render(), /req_total\{route="\/a"\} 10\n/);
  });

  it("Counter.inc('0x10') throws a TypeError naming the metric and the value, and the series stays a number", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "c_total", help: "c" });
    c.inc(1);
    assert.throws(
      () => (c as Loose).inc("0x10"),
      /Counter "c_total" increment must be a number, got the string "0x10"/,
    );
    assert.equal(c.get(), 1);
  });

  it("CounterSeries.inc(null, exemplar) throws and records neither the value nor the exemplar", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["k"] as const });
    const s = c.labels({ k: "a" });
    assert.throws(() => (s as Loose).inc(null, { trace_id: "abc" }), TypeError);
    assert.equal(s.get(), 0);
    assert.equal(s.exemplar, undefined);
    assert.doesNotMatch(registry.render("openmetrics"), /null/);
  });

  for (const [what, value] of NOT_NUMBERS) {
    it(`every recording entry point refuses ${what} with a TypeError and records nothing`, () => {
      const registry = new Registry();
      const c = registry.counter({ name: "c_total", help: "c", labelNames: ["k"] as const });
      const cu = registry.counter({ name: "cu_total", help: "c" });
      const g = registry.gauge({ name: "g", help: "g", labelNames: ["k"] as const });
      const gu = registry.gauge({ name: "gu", help: "g" });
      const h = registry.histogram({ name: "h", help: "h", labelNames: ["k"] as const, buckets: [1] });
      const hu = registry.histogram({ name: "hu", help: "h", buckets: [1] });
      const s = registry.summary({ name: "s", help: "s", labelNames: ["k"] as const });
      const su = registry.summary({ name: "su", help: "s" });
      const before = registry.render();
      const calls: [string, () => void][] = [
        ["counter.inc(labels, v)", () => (c as Loose).inc({ k: "new" }, value)],
        ["counter.inc(v)", () => (cu as Loose).inc(value)],
        ["counter series.inc(v)", () => (cu.labels({}) as Loose).inc(value)],
        ["gauge.set(labels, v)", () => (g as Loose).set({ k: "new" }, value)],
        ["gauge.inc(labels, v)", () => (g as Loose).inc({ k: "new" }, value)],
        ["gauge.dec(labels, v)", () => (g as Loose).dec({ k: "new" }, value)],
        ["gauge.set(v)", () => (gu as Loose).set(value)],
        ["gauge.inc(v)", () => (gu as Loose).inc(value)],
        ["gauge.dec(v)", () => (gu as Loose).dec(value)],
        ["gauge series.set(v)", () => (gu.labels({}) as Loose).set(value)],
        ["histogram.observe(labels, v)", () => (h as Loose).observe({ k: "new" }, value)],
        ["histogram.observe(v)", () => (hu as Loose).observe(value)],
        ["histogram series.observe(v)", () => (hu.labels({}) as Loose).observe(value)],
        ["summary.observe(labels, v)", () => (s as Loose).observe({ k: "new" }, value)],
        ["summary.observe(v)", () => (su as Loose).observe(value)],
        ["summary series.observe(v)", () => (su.labels({}) as Loose).observe(value)],
      ];
      // An object in the first place is a label set ({} for a metric without labels), not a value.
      const labelForms = ["counter.inc(v)", "gauge.inc(v)", "gauge.dec(v)"];
      for (const [call, fn] of calls) {
        if (what === "an object" && labelForms.includes(call)) continue;
        assert.throws(
          fn,
          (e: unknown) => e instanceof TypeError && /"(c_total|cu_total|g|gu|h|hu|s|su)"/.test(e.message),
          call,
        );
      }
      assert.equal(registry.render(), before, "nothing was recorded and no series was created");
    });
  }

  it("gauge.set() and observe() need a value: undefined is refused, and a gauge takes NaN and infinities", () => {
    const registry = new Registry();
    const g = registry.gauge({ name: "g", help: "g" });
    const h = registry.histogram({ name: "h", help: "h" });
    assert.throws(() => (g as Loose).set(undefined), /Gauge "g" value must be a number, got undefined/);
    assert.throws(() => (h as Loose).observe(undefined), /Histogram "h" observation must be a number, got undefined/);
    g.set(NaN);
    assert.ok(Number.isNaN(g.get()));
    g.set(-Infinity);
    assert.equal(g.get(), -Infinity);
  });

  it("the function startTimer() returns refuses labels that are not an object and records nothing", () => {
    const registry = new Registry();
    const h = registry.histogram({ name: "h_seconds", help: "h", labelNames: ["code"] as const });
    const end = h.startTimer();
    assert.throws(() => (end as Loose)("200"), /Histogram "h_seconds" expects a labels object, got string/);
    assert.equal(seriesOf(registry, "h_seconds"), 0);
  });
});

describe("A call that throws creates no series", () => {
  it("150 refused inc(-1) calls with new label sets leave maxSeries room for valid label sets", () => {
    const registry = new Registry({ maxSeries: 100 });
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["k"] as const });
    for (let i = 0; i < 150; i++) assert.throws(() => c.inc({ k: `bad${i}` }, -1), RangeError);
    for (let i = 0; i < 150; i++) assert.throws(() => (c as Loose).inc({ k: `str${i}` }, "1"), TypeError);
    assert.equal(registry.seriesCount(), 0);
    c.inc({ k: "good" });
    const text = registry.render();
    assert.match(text, /c_total\{k="good"\} 1\n/);
    assert.doesNotMatch(text, new RegExp(OVERFLOW_LABEL));
  });

  it("histogram.observe(labels, NaN) and gauge.set(labels, 'x') create no series", () => {
    const registry = new Registry();
    const h = registry.histogram({ name: "h", help: "h", labelNames: ["k"] as const });
    const g = registry.gauge({ name: "g", help: "g", labelNames: ["k"] as const });
    assert.throws(() => h.observe({ k: "a" }, NaN), RangeError);
    assert.throws(() => (g as Loose).set({ k: "a" }, "x"), TypeError);
    assert.equal(registry.seriesCount(), 0);
  });
});

describe("Exemplars never make a recording throw", () => {
  it("Counter.inc(labels, value, exemplar) keeps the exemplar", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["k"] as const });
    c.inc({ k: "a" }, 2, { trace_id: "abc" });
    assert.match(registry.render("openmetrics"), /c_total\{k="a"\} 2 # \{trace_id="abc"\} 2 /);
  });

  it("an invalid exemplar is dropped and counted; the value is recorded once", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["k"] as const });
    const h = registry.histogram({ name: "h", help: "h", buckets: [1] });
    const bad: Loose[] = [{ trace_id: "x".repeat(200) }, { trace_id: 5 }, { "bad-name": "x" }, "x", null, 7];
    for (const exemplar of bad) {
      c.inc({ k: "a" }, 1, exemplar);
      h.observe(0.5, exemplar);
    }
    assert.equal(c.get({ k: "a" }), bad.length);
    assert.equal(h.get().count, bad.length);
    // null means "no exemplar" for the histogram's unlabelled form only when it is undefined
    const dropped = parseExposition(registry.render(), false).get("atomic_metrics_exemplars_dropped_total");
    assert.ok(dropped!.samples[0]!.value >= 2 * bad.length - 2, `dropped: ${dropped!.samples[0]!.value}`);
  });

  it("an exemplar provider that throws drops the exemplar, counts it, and the value is recorded", () => {
    const registry = new Registry({
      exemplars: () => {
        throw new Error("provider broke");
      },
    });
    const c = registry.counter({ name: "c_total", help: "c" });
    const h = registry.histogram({ name: "h", help: "h" });
    c.inc();
    h.observe(1);
    assert.equal(c.get(), 1);
    assert.equal(h.get().count, 1);
    assert.match(registry.render(), /atomic_metrics_exemplars_dropped_total 2\n/);
  });
});

describe("Clear messages", () => {
  it("labels(null) names the metric", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["k"] as const });
    assert.throws(() => c.labels(null as Loose), /Counter "c_total" expects a labels object, got null/);
    assert.throws(() => c.inc(null as Loose), /Counter "c_total" expects a labels object, got null/);
  });

  it("inc(8n) says a bigint is not a number", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "c_total", help: "c" });
    assert.throws(() => (c as Loose).inc(8n), /Counter "c_total" increment must be a number, got the bigint 8n/);
  });

  it("a missing label named constructor or toString is reported missing, not as a function", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["constructor", "toString"] as const });
    assert.throws(() => c.inc({} as Loose), /Counter "c_total" is missing label "constructor"/);
    assert.throws(() => c.inc({ constructor: "a" } as Loose), /Counter "c_total" is missing label "toString"/);
    c.inc({ constructor: "a", toString: "b" });
    assert.equal(c.get({ constructor: "a", toString: "b" }), 1);
  });

  it(`a label value longer than ${MAX_LABEL_VALUE_LENGTH} characters is refused, naming the metric and label`, () => {
    const registry = new Registry();
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["path"] as const });
    c.inc({ path: "x".repeat(MAX_LABEL_VALUE_LENGTH) });
    assert.throws(
      () => c.inc({ path: "x".repeat(MAX_LABEL_VALUE_LENGTH + 1) }),
      /Counter "c_total" label "path" is 1025 characters long; label values are at most 1024/,
    );
    assert.equal(registry.seriesCount(), 1);
  });
});

describe("The overflow series cannot be forged", () => {
  it("a real label value __overflow__ is an ordinary series, far from maxSeries", () => {
    const registry = new Registry({ maxSeries: 100 });
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["k"] as const });
    c.inc({ k: "__overflow__" }, 3);
    const text = registry.render();
    assert.match(text, /c_total\{k="__overflow__"\} 3\n/);
    assert.doesNotMatch(text, /atomic_metrics_overflow_observations_total\{metric="c_total"\} [1-9]/);
    assert.doesNotMatch(text, new RegExp(OVERFLOW_LABEL));
    assert.equal(registry.seriesCount(), 1);
  });

  it(`registration refuses the label name ${OVERFLOW_LABEL}`, () => {
    const registry = new Registry();
    assert.throws(
      () => registry.counter({ name: "c_total", help: "c", labelNames: [OVERFLOW_LABEL] }),
      /Counter "c_total" cannot have a label named "otel_metric_overflow"/,
    );
  });
});

describe("get() reads without creating", () => {
  it("counter.get() and histogram.get() of a label set never recorded return zero and create no series", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["k"] as const });
    const h = registry.histogram({ name: "h", help: "h", labelNames: ["k"] as const, buckets: [1] });
    const g = registry.gauge({ name: "g", help: "g", labelNames: ["k"] as const });
    const s = registry.summary({ name: "s", help: "s", labelNames: ["k"] as const });
    assert.equal(c.get({ k: "nope" }), 0);
    assert.deepEqual(h.get({ k: "nope" }), { count: 0, sum: 0, buckets: [0, 0] });
    assert.equal(g.get({ k: "nope" }), 0);
    assert.equal(s.get({ k: "nope" }).count, 0);
    assert.equal(registry.seriesCount(), 0);
    assert.doesNotMatch(registry.render(), /nope/);
  });

  it("get() past maxSeries returns 0 for an unknown label set, not the overflow's total", () => {
    const registry = new Registry({ maxSeries: 1 });
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["k"] as const });
    c.inc({ k: "a" });
    c.inc({ k: "b" }, 5); // folds into overflow
    assert.equal(c.get({ k: "b" }), 0);
    assert.equal(c.get({ k: "a" }), 1);
  });

  it("get() sees a series another thread made", () => {
    const registry = new Registry();
    const other = Registry.attach(registry.share());
    other.counter({ name: "c_total", help: "c", labelNames: ["k"] as const }).inc({ k: "a" }, 4);
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["k"] as const });
    assert.equal(c.get({ k: "a" }), 4);
    other.detach();
  });
});

describe("startTimer() with labels at the start and the end", () => {
  it("histogram.startTimer({ method }) then end({ code }) records one observation under both labels", () => {
    const registry = new Registry();
    const h = registry.histogram({ name: "req_seconds", help: "r", labelNames: ["method", "code"] as const });
    const end = h.startTimer({ method: "GET" });
    const seconds = end({ code: "200" });
    assert.ok(seconds >= 0);
    assert.equal(h.get({ method: "GET", code: "200" }).count, 1);
  });

  it("a label missing at the end is a clear error and records nothing; an unknown one fails at the start", () => {
    const registry = new Registry();
    const h = registry.histogram({ name: "req_seconds", help: "r", labelNames: ["method", "code"] as const });
    const end = h.startTimer({ method: "GET" });
    assert.throws(() => end(), /Histogram "req_seconds" is missing label "code"/);
    assert.throws(() => h.startTimer({ nope: "x" } as Loose), /Histogram "req_seconds" has no label "nope"/);
    assert.equal(registry.seriesCount(), 0);
  });

  it("summary and gauge timers take labels at the end too", () => {
    const registry = new Registry();
    const s = registry.summary({ name: "s_seconds", help: "s", labelNames: ["a", "b"] as const });
    const g = registry.gauge({ name: "g_seconds", help: "g", labelNames: ["a", "b"] as const });
    s.startTimer({ a: "1" })({ b: "2" });
    g.startTimer({ a: "1" })({ b: "2" });
    assert.equal(s.get({ a: "1", b: "2" }).count, 1);
    assert.ok(g.get({ a: "1", b: "2" }) >= 0);
    assert.equal(registry.seriesCount(), 2);
  });
});

describe("Metric classes", () => {
  it("mod.ts exports the metric classes as types only: metrics come from a registry", () => {
    for (const name of ["Counter", "Gauge", "Histogram", "Summary", "CounterSeries", "HistogramSeries"]) {
      assert.equal(name in api, false, `${name} is exported as a value`);
    }
  });

  it("constructing a metric class directly throws a clear error", () => {
    const registry = new Registry();
    const Ctor = registry.counter({ name: "c_total", help: "c" }).constructor as Loose;
    assert.throws(
      () => new Ctor({ name: "x_total", help: "x" }),
      /Metrics are made by a registry: use registry.counter\(\)/,
    );
  });
});

describe("The definitions journal grows", () => {
  it("2,000 series with four 1,024-character label values of escaped characters leave the registry usable", () => {
    const registry = new Registry({ maxSeries: 2_001 });
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["a", "b", "c", "d"] as const });
    // A control character takes 6 bytes in a journal record: about 24 KiB a series, 49 MB in all.
    const long = (i: number) => `${i}`.padEnd(MAX_LABEL_VALUE_LENGTH, "\u0001");
    for (let i = 0; i < 2_000; i++) c.inc({ a: long(i), b: long(i), c: long(i), d: long(i) });
    assert.equal(registry.seriesCount(), 2_000);
    const later = registry.counter({ name: "later_total", help: "l", labelNames: ["k"] as const });
    later.inc({ k: "x" });
    assert.equal(later.get({ k: "x" }), 1);
    assert.doesNotMatch(registry.render(), /atomic_metrics_overflow_observations_total\{metric="c_total"\} [1-9]/);
  });
});

describe("Registry.collect()", () => {
  it("shows the overflow series with its one marker label, as the text formats do", () => {
    const registry = new Registry({ maxSeries: 1 });
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["k"] as const });
    c.inc({ k: "a" });
    c.inc({ k: "b" }, 2);
    const series = registry.collect().find((m) => m.name === "c_total")!.series;
    assert.deepEqual(series.map((s) => [s.labels, s.value]), [[{ k: "a" }, 1], [{ [OVERFLOW_LABEL]: "true" }, 2]]);
  });
});

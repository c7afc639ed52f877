// Series lifecycle on one thread: remove, clear, reset, registry.remove and clear, expiry,
// stale handles, and the room removed series leave for new ones.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "../mod.ts";
import { parseExposition } from "./_parse.ts";

function values(registry: Registry, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of parseExposition(registry.render(), false).get(name)?.samples ?? []) {
    out[JSON.stringify(s.labels)] = s.value;
  }
  return out;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("metric.remove()", () => {
  it("Counter.remove() takes one series out of the render, says whether it existed, and leaves the others", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["k"] as const });
    c.inc({ k: "a" }, 1);
    c.inc({ k: "b" }, 2);
    assert.equal(c.remove({ k: "a" }), true);
    assert.equal(c.remove({ k: "a" }), false);
    assert.equal(c.remove({ k: "never" }), false);
    assert.deepEqual(values(registry, "c_total"), { '{"k":"b"}': 2 });
    assert.equal(c.get({ k: "a" }), 0);
    assert.equal(registry.seriesCount(), 1);
  });

  it("remove() frees room under maxSeries: a new label set gets its own series, not the overflow", () => {
    const registry = new Registry({ maxSeries: 2 });
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["k"] as const });
    c.inc({ k: "a" });
    c.inc({ k: "b" });
    c.remove({ k: "a" });
    c.inc({ k: "c" }, 3);
    assert.deepEqual(values(registry, "c_total"), { '{"k":"b"}': 1, '{"k":"c"}': 3 });
  });

  it("a labelled call after remove() starts the series again from zero", () => {
    const registry = new Registry();
    const h = registry.histogram({ name: "h", help: "h", labelNames: ["k"] as const, buckets: [1] });
    h.observe({ k: "a" }, 0.5);
    h.remove({ k: "a" });
    h.observe({ k: "a" }, 2);
    assert.deepEqual(h.get({ k: "a" }), { count: 1, sum: 2, buckets: [0, 1] });
  });

  it("a bound series held across remove() brings its series back from zero at its next write", () => {
    const registry = new Registry();
    const g = registry.gauge({ name: "g", help: "g", labelNames: ["k"] as const });
    const bound = g.labels({ k: "a" });
    bound.set(10);
    g.remove({ k: "a" });
    assert.equal(bound.removed, true);
    assert.equal(bound.get(), 0);
    bound.inc(2);
    assert.equal(bound.removed, false);
    assert.equal(g.get({ k: "a" }), 2);
  });

  it("a stale bound series never writes into the series that reuses its memory", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["k"] as const });
    const a = c.labels({ k: "a" });
    a.inc(1);
    c.remove({ k: "a" });
    const b = c.labels({ k: "b" }); // takes the row and slots "a" left
    b.inc(100);
    a.inc(5); // revives "a" elsewhere
    assert.deepEqual(values(registry, "c_total"), { '{"k":"b"}': 100, '{"k":"a"}': 5 });
  });
});

describe("metric.clear() and reset()", () => {
  it("clear() takes every series of a metric out; its overflow series starts again too", () => {
    const registry = new Registry({ maxSeries: 1 });
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["k"] as const });
    c.inc({ k: "a" });
    c.inc({ k: "b" }); // folds
    c.clear();
    assert.deepEqual(values(registry, "c_total"), {});
    assert.equal(registry.seriesCount(), 0);
    c.inc({ k: "c" }, 2);
    assert.deepEqual(values(registry, "c_total"), { '{"k":"c"}': 2 });
  });

  it("reset() of a metric without labels shows it at zero again", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "c_total", help: "c" });
    c.inc(4);
    c.reset();
    assert.deepEqual(values(registry, "c_total"), { "{}": 0 });
    c.inc();
    assert.equal(c.get(), 1);
  });
});

describe("registry.remove() and clear()", () => {
  it("registry.remove() takes a metric out and frees its name for another type", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "jobs", help: "c", labelNames: ["k"] as const });
    c.inc({ k: "a" });
    assert.equal(registry.remove("jobs"), true);
    assert.equal(registry.remove("jobs"), false);
    assert.doesNotMatch(registry.render(), /^jobs/m);
    const g = registry.gauge({ name: "jobs", help: "now a gauge" });
    g.set(3);
    assert.match(registry.render(), /# TYPE jobs gauge\njobs 3\n/);
  });

  it("registry.clear() takes every metric out but the self-metrics", () => {
    const registry = new Registry();
    registry.counter({ name: "a_total", help: "a" }).inc();
    registry.histogram({ name: "h", help: "h", labelNames: ["k"] as const }).observe({ k: "x" }, 1);
    registry.clear();
    const text = registry.render();
    assert.doesNotMatch(text, /^(a_total|h_)/m);
    assert.match(text, /atomic_metrics_series 0\n/);
  });
});

describe("staleAfterSeconds", () => {
  it("a series nothing recorded into for staleAfterSeconds is removed at collection; a busy one stays", async () => {
    const registry = new Registry();
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["k"] as const, staleAfterSeconds: 0.05 });
    const g = registry.gauge({ name: "g", help: "g", labelNames: ["k"] as const, staleAfterSeconds: 0.05 });
    c.inc({ k: "idle" });
    c.inc({ k: "busy" });
    g.set({ k: "same" }, 1);
    registry.render();
    for (let i = 0; i < 4; i++) {
      await sleep(20);
      c.inc({ k: "busy" });
      g.set({ k: "same" }, 1); // the same value, but written: not stale
      registry.render();
    }
    assert.deepEqual(Object.keys(values(registry, "c_total")), ['{"k":"busy"}']);
    assert.deepEqual(values(registry, "g"), { '{"k":"same"}': 1 });
    c.inc({ k: "idle" }, 3); // comes back from zero
    assert.equal(c.get({ k: "idle" }), 3);
  });

  it("the registry's staleAfterSeconds applies to metrics that set none; metrics without labels never expire", async () => {
    const registry = new Registry({ staleAfterSeconds: 0.02 });
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["k"] as const });
    const plain = registry.counter({ name: "plain_total", help: "p" });
    c.inc({ k: "a" });
    plain.inc();
    registry.render();
    await sleep(40);
    const text = registry.render();
    assert.doesNotMatch(text, /c_total\{/);
    assert.match(text, /plain_total 1\n/);
  });
});

describe("Memory in proportion to use", () => {
  it("a new Registry() takes at most 1 MiB, and maxSeries is a limit, not a reservation", () => {
    assert.ok(new Registry().byteLength <= 1 << 20, `${new Registry().byteLength} bytes`);
    const big = new Registry({ maxSeries: 1_000_000 });
    const c = big.counter({ name: "c_total", help: "c", labelNames: ["k"] as const });
    for (let i = 0; i < 10; i++) c.inc({ k: String(i) });
    assert.ok(big.byteLength <= 1 << 20, `${big.byteLength} bytes for 10 series`);
  });

  it("100,000 create/remove cycles with at most 100 series alive keep the store within 2× of 100 series", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["k"] as const });
    const g = registry.gauge({ name: "g", help: "g", labelNames: ["k"] as const });
    for (let i = 0; i < 100; i++) c.inc({ k: String(i) }), g.set({ k: String(i) }, i);
    registry.render();
    const base = registry.byteLength;
    let total = 0;
    for (let i = 100; i < 100_100; i++) {
      c.remove({ k: String(i - 100) });
      g.remove({ k: String(i - 100) });
      c.inc({ k: String(i) }, 2);
      g.set({ k: String(i) }, 1);
      total += 2;
      if (i % 10_000 === 0) registry.render();
    }
    const text = registry.render();
    assert.ok(registry.byteLength <= 2 * base, `${registry.byteLength} bytes after churn, ${base} before`);
    const live = parseExposition(text, false).get("c_total")!.samples;
    assert.equal(live.length, 100);
    assert.equal(live.reduce((s, x) => s + x.value, 0), 200);
    assert.ok(total > 0);
  });
});

describe("A removed metric", () => {
  it("records nowhere after registry.remove(): no hidden series, the series count unchanged", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["k"] as const });
    const g = registry.gauge({ name: "g", help: "g" });
    const bound = c.labels({ k: "a" });
    bound.inc();
    registry.remove("c_total");
    registry.remove("g");
    const before = registry.seriesCount();
    bound.inc(5);
    c.inc({ k: "b" }, 2);
    g.set(3);
    assert.equal(registry.seriesCount(), before);
    assert.equal(bound.get(), 0);
    assert.doesNotMatch(registry.render(), /^(c_total|g) /m);
  });
});

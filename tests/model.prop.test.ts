import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Registry } from "../mod.ts";

// Dyadic values keep float sums exact whatever the order, so the model compares with ===.
const dyadic = fc.integer({ min: 0, max: 4000 }).map((n) => n / 8);
const label = fc.constantFrom("a", "b", "c");
const op = fc.oneof(
  fc.record({ kind: fc.constant("inc" as const), label, value: dyadic }),
  fc.record({
    kind: fc.constant("set" as const),
    label,
    value: fc.integer({ min: -1000, max: 1000 }).map((n) => n / 4),
  }),
  fc.record({
    kind: fc.constant("ginc" as const),
    label,
    value: fc.integer({ min: -1000, max: 1000 }).map((n) => n / 4),
  }),
  fc.record({
    kind: fc.constant("observe" as const),
    label,
    value: fc.integer({ min: -100, max: 4000 }).map((n) => n / 4),
  }),
);

describe("recording against a naive model", () => {
  it("counters, gauges and histograms equal a naive model after any operation sequence", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), fc.boolean(), (ops, shared) => {
        const registry = new Registry();
        if (shared) registry.share();
        const c = registry.counter({ name: "c_total", help: "c", labelNames: ["l"] as const });
        const g = registry.gauge({ name: "g", help: "g", labelNames: ["l"] as const });
        // A negative lowest bound: this histogram takes negative observations.
        const buckets = [-10, 0, 1, 10, 100];
        const h = registry.histogram({ name: "h", help: "h", labelNames: ["l"] as const, buckets });
        const model = { c: new Map<string, number>(), g: new Map<string, number>(), h: new Map<string, number[]>() };
        for (const o of ops) {
          const l = { l: o.label };
          if (o.kind === "inc") c.inc(l, o.value), model.c.set(o.label, (model.c.get(o.label) ?? 0) + o.value);
          else if (o.kind === "set") g.set(l, o.value), model.g.set(o.label, o.value);
          else if (o.kind === "ginc") g.inc(l, o.value), model.g.set(o.label, (model.g.get(o.label) ?? 0) + o.value);
          else h.observe(l, o.value), model.h.set(o.label, [...(model.h.get(o.label) ?? []), o.value]);
        }
        for (const [k, v] of model.c) assert.equal(c.get({ l: k }), v);
        for (const [k, v] of model.g) assert.equal(g.get({ l: k }), v);
        for (const [k, obs] of model.h) {
          const series = h.labels({ l: k });
          assert.deepEqual(series.buckets(), [...buckets, Infinity].map((b) => obs.filter((o) => o <= b).length));
          assert.equal(series.count(), obs.length);
          assert.equal(series.sum(), obs.reduce((a, b) => a + b, 0));
        }
      }),
      { numRuns: 200 },
    );
  });
});

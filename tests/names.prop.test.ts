import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { isValidLabelName, isValidMetricName, Registry } from "../mod.ts";

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const nameish = fc.string({
  unit: fc.constantFrom("a", "Z", "_", ":", "0", "9", "-", " ", ".", "é", "{"),
  maxLength: 8,
});

describe("name validation", () => {
  it("Registry.counter() accepts every valid metric name and rejects every invalid one, naming it", () => {
    fc.assert(
      fc.property(fc.oneof(nameish, fc.stringMatching(metricName)), (name) => {
        const registry = new Registry({ selfMetrics: false });
        const valid = metricName.test(name);
        assert.equal(isValidMetricName(name), valid);
        if (valid) registry.counter({ name, help: "h" });
        else {assert.throws(() =>
            registry.counter({ name, help: "h" }), (e: Error) =>
            e.message.includes(JSON.stringify(name)));}
      }),
      { numRuns: 500 },
    );
  });

  it("Registry.gauge() accepts every valid label name and rejects invalid or __-prefixed ones, naming it", () => {
    fc.assert(
      fc.property(fc.oneof(nameish, fc.stringMatching(labelName)), (label) => {
        const registry = new Registry({ selfMetrics: false });
        const valid = labelName.test(label) && !label.startsWith("__");
        assert.equal(isValidLabelName(label), valid);
        if (valid) registry.gauge({ name: "g", help: "h", labelNames: [label] });
        else {
          assert.throws(
            () => registry.gauge({ name: "g", help: "h", labelNames: [label] }),
            (e: Error) => e.message.includes(JSON.stringify(label)),
          );
        }
      }),
      { numRuns: 500 },
    );
  });

  it("Registry.histogram() rejects a label named le and Registry.summary() one named quantile", () => {
    const registry = new Registry();
    assert.throws(() => registry.histogram({ name: "h", help: "h", labelNames: ["le"] }), /label named "le"/);
    assert.throws(() => registry.summary({ name: "s", help: "h", labelNames: ["quantile"] }), /label named "quantile"/);
  });

  it("Registry.histogram() rejects buckets that are not strictly increasing", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { minLength: 2, maxLength: 6 }),
        (buckets) => {
          const increasing = buckets.every((b, i) => i === 0 || b > buckets[i - 1]!);
          const registry = new Registry();
          if (increasing) registry.histogram({ name: "h", help: "h", buckets });
          else assert.throws(() => registry.histogram({ name: "h", help: "h", buckets }), /strictly increasing/);
        },
      ),
    );
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Registry } from "../mod.ts";

/** How far (as a fraction of n) the estimate's rank is from the asked rank q·n. */
function rankError(sorted: number[], estimate: number, q: number): number {
  let below = 0;
  while (below < sorted.length && sorted[below]! < estimate) below++;
  let atOrBelow = below;
  while (atOrBelow < sorted.length && sorted[atOrBelow]! <= estimate) atOrBelow++;
  const target = q * sorted.length;
  if (target >= below && target <= atOrBelow) return 0;
  return Math.min(Math.abs(target - below), Math.abs(target - atOrBelow)) / sorted.length;
}

/** A standard normal draw (Box-Muller). */
const normal = (): number => Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());

const distributions: Record<string, () => number> = {
  uniform: () => Math.random() * 1000,
  exponential: () => -Math.log(1 - Math.random()) * 50,
  lognormal: () => Math.exp(normal()),
  "latency-like": () => (Math.random() < 0.95 ? 5 + Math.random() * 20 : 100 + Math.random() * 900),
  // Distributions that span more decades than one window of bins holds.
  "log-uniform (1e-6 to 1e6)": () => Math.pow(10, -6 + 12 * Math.random()),
  "bimodal (1 ms and 10 s modes)": () => (Math.random() < 0.7 ? 0.001 : 10) * Math.exp(0.3 * normal()),
  // Signed data is the sketch's concern (tests/storage/quantile_sketch.test.ts): summaries take no negative values.
};

describe("Summary quantiles", () => {
  for (const [name, sample] of Object.entries(distributions)) {
    it(`Summary quantiles have rank error at most 1% on 10,000 ${name} samples`, () => {
      const registry = new Registry();
      const quantiles = [0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999];
      const s = registry.summary({ name: "s", help: "s", quantiles }).labels({});
      const values: number[] = [];
      for (let i = 0; i < 10_000; i++) {
        const v = sample();
        values.push(v);
        s.observe(v);
      }
      values.sort((a, b) => a - b);
      s.quantiles().forEach((estimate, i) => {
        const error = rankError(values, estimate, quantiles[i]!);
        assert.ok(error <= 0.01, `q=${quantiles[i]} estimate ${estimate}: rank error ${error}`);
      });
      assert.equal(s.count(), 10_000);
    });
  }

  it("Summary count and sum are exact for dyadic values whatever the order", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1000 }).map((n) => n / 4), { maxLength: 300 }), (values) => {
        const s = new Registry().summary({ name: "s", help: "s" }).labels({});
        for (const v of values) s.observe(v);
        assert.equal(s.count(), values.length);
        assert.equal(s.sum(), values.reduce((a, b) => a + b, 0));
      }),
    );
  });

  it("Summary.observe() refuses a negative value with a RangeError naming the summary, recording nothing", () => {
    const registry = new Registry();
    const s = registry.summary({ name: "s", help: "s", labelNames: ["k"] as const });
    assert.throws(() => s.observe({ k: "a" }, -0.7), /Summary "s" observation must be >= 0, got -0.7/);
    assert.equal(registry.seriesCount(), 0);
    s.observe({ k: "a" }, 0.5);
    assert.equal(s.get({ k: "a" }).count, 1);
  });

  it("Summary quantiles forget observations older than maxAgeSeconds", () => {
    const registry = new Registry();
    const s = registry.summary({ name: "s", help: "s", quantiles: [0.5], maxAgeSeconds: 10, ageBuckets: 5 }).labels({});
    for (let i = 0; i < 100; i++) s.observe(1000);
    const now = Date.now();
    assert.ok(Math.abs(s.quantiles(now)[0]! - 1000) < 20);
    assert.ok(Number.isNaN(s.quantiles(now + 11_000)[0]!), "the window has moved past every observation");
    assert.equal(s.count(), 100, "count is cumulative, not windowed");
  });

  it("Summary renders NaN quantiles for an empty window and exact _count", () => {
    const registry = new Registry({ selfMetrics: false });
    registry.summary({ name: "s", help: "s", quantiles: [0.5] });
    assert.equal(registry.render(), '# HELP s s\n# TYPE s summary\ns{quantile="0.5"} NaN\ns_sum 0\ns_count 0\n');
  });
});

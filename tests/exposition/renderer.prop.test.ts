// The byte renderer writes exactly what the string renderer it replaced wrote, for both
// formats, whatever slices the output is cut in.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Registry } from "../../mod.ts";
import { ByteRenderer } from "../../src/exposition/_renderer.ts";
import { renderText } from "./_reference_text.ts";

const labelValue = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 8 }),
  fc.string({ unit: fc.constantFrom("\\", '"', "\n", "é", "😀", "a", "{", ","), maxLength: 6 }),
);
const number = fc.oneof(
  fc.integer({ min: 0, max: 2000 }),
  fc.double({ min: 0, max: 1e16, noNaN: true }),
  fc.constantFrom(0.1, 1e-7, 123456789012345, 1e15, 2 ** 53),
);
const signed = fc.oneof(number, number.map((n) => -n), fc.constantFrom(NaN, Infinity, -Infinity, -0));
const metric = fc.record({
  type: fc.constantFrom("counter", "gauge", "histogram", "negative", "summary"),
  labels: fc.integer({ min: 0, max: 2 }),
  help: fc.string({ maxLength: 10 }),
  unit: fc.boolean(),
  series: fc.array(
    fc.record({
      values: fc.array(labelValue, { minLength: 2, maxLength: 2 }),
      numbers: fc.array(signed, { maxLength: 4 }),
    }),
    { maxLength: 5 },
  ),
  exemplar: fc.option(fc.string({ unit: fc.constantFrom("a", "0", "é"), minLength: 1, maxLength: 8 })),
});

type MetricCase = typeof metric extends fc.Arbitrary<infer T> ? T : never;

function build(metrics: MetricCase[], maxSeries: number): Registry {
  const registry = new Registry({ maxSeries });
  metrics.forEach((m, i) => {
    const labelNames = ["a", "b"].slice(0, m.labels);
    const unit = m.unit ? "seconds" : undefined;
    const name = `m${i}_${m.type}${unit ? "_seconds" : ""}`;
    const base = { name, help: m.help, labelNames, ...(unit ? { unit } : {}) };
    // deno-lint-ignore no-explicit-any
    const family: any = m.type === "counter"
      ? registry.counter({ ...base, name: name + "_total" })
      : m.type === "gauge"
      ? registry.gauge(base)
      : m.type === "summary"
      ? registry.summary({ ...base, quantiles: [0.5, 0.9] })
      : registry.histogram({ ...base, buckets: m.type === "negative" ? [-1, 0, 2.5] : [0.5, 10] });
    for (const s of m.series) {
      const labels = Object.fromEntries(labelNames.map((n, k) => [n, s.values[k]!]));
      const exemplar = m.exemplar === null ? undefined : { trace_id: m.exemplar };
      for (const v of s.numbers) {
        try {
          if (m.type === "counter") family.inc(labels, Math.abs(v), exemplar);
          else if (m.type === "gauge") family.set(labels, v);
          else if (m.type === "summary") family.observe(labels, v);
          else family.observe(labels, m.type === "negative" ? v : Math.abs(v), exemplar);
        } catch {
          // NaN and infinities some types refuse: nothing recorded
        }
      }
    }
  });
  return registry;
}

const decoder = new TextDecoder();

function sliced(registry: Registry, om: boolean, budgets: number[]): string {
  // deno-lint-ignore no-explicit-any
  const renderer = new ByteRenderer((registry as any).families(), om);
  let out = "";
  let k = 0;
  for (
    let chunks = renderer.next(budgets[k++ % budgets.length]!);
    chunks;
    chunks = renderer.next(budgets[k++ % budgets.length]!)
  ) {
    for (const chunk of chunks) out += decoder.decode(chunk, { stream: true });
  }
  return out + decoder.decode();
}

describe("ByteRenderer", () => {
  it("writes byte for byte what the string renderer wrote, in both formats, cut in any slices", () => {
    fc.assert(
      fc.property(
        fc.array(metric, { maxLength: 6 }),
        fc.integer({ min: 1, max: 30 }),
        fc.array(fc.integer({ min: 1, max: 200_000 }), { minLength: 1, maxLength: 4 }),
        (metrics, maxSeries, budgets) => {
          const registry = build(metrics, maxSeries);
          for (const om of [false, true]) {
            // deno-lint-ignore no-explicit-any
            const reference = renderText((registry as any).families(), om);
            assert.equal(registry.render(om ? "openmetrics" : "prometheus"), reference);
            assert.equal(sliced(registry, om, budgets), reference);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("ByteRenderer chunks", () => {
  it("fills 64 KiB chunks across many series and long label values, and matches the string renderer", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["path"] as const });
    for (let i = 0; i < 2000; i++) c.inc({ path: `${i}/` + 'é\\"'.repeat(300) }, i);
    // deno-lint-ignore no-explicit-any
    const reference = renderText((registry as any).families(), false);
    assert.ok(reference.length > 4 * 65536);
    assert.equal(sliced(registry, false, [1, 70_000, 5]), reference);
    // deno-lint-ignore no-explicit-any
    const renderer = new ByteRenderer((registry as any).families(), false);
    const first = renderer.next(100_000)!;
    assert.ok(first.every((chunk) => chunk.length <= 65536));
    assert.ok(first.reduce((n, chunk) => n + chunk.length, 0) >= 100_000);
  });
});

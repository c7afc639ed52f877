// Random registries for the exposition property tests: metrics of every type with awkward
// label values (escapes, multibyte characters), signed and special values, units and
// exemplars. The same generators as tests/exposition/renderer.prop.test.ts.
import fc from "fast-check";
import { Registry } from "../../mod.ts";

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

/** One metric: its type, label count, help, unit, series with their recorded values, an exemplar. */
export const metric = fc.record({
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

/** A value of {@link metric}. */
export type MetricCase = typeof metric extends fc.Arbitrary<infer T> ? T : never;

/** A registry holding `metrics` (named `m<i>_<type>`), with room for `maxSeries` series a metric. */
export function build(metrics: readonly MetricCase[], maxSeries: number): Registry {
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

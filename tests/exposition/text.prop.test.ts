import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Registry } from "../../mod.ts";
import { type ParsedSample, parseExposition } from "../_parse.ts";
import { promtoolCheck } from "../_promtool.ts";

// Any well-formed Unicode, with the characters the formats must escape made likely.
const labelValue = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 12 }),
  fc.string({
    unit: fc.constantFrom("\\", '"', "\n", "\t", "\0", "{", "}", ",", "=", "#", " ", "a", "é", "😀"),
    maxLength: 10,
  }),
);
const help = fc.string({
  unit: fc.oneof(
    fc.constantFrom("\\", '"', "\n", "#", " "),
    fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }),
  ),
  maxLength: 20,
});
const value = fc.oneof(fc.double({ min: 0, max: 1e15, noNaN: true }), fc.integer({ min: 0, max: 1000 }));
const gaugeValue = fc.oneof(fc.double(), fc.constantFrom(NaN, Infinity, -Infinity, 0, -0));

const definition = fc.record({
  type: fc.constantFrom("counter", "gauge", "histogram", "summary"),
  labelNames: fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9_]{0,6}$/), { maxLength: 3 }),
  help,
  series: fc.array(
    fc.record({
      values: fc.array(labelValue, { minLength: 3, maxLength: 3 }),
      values2: fc.array(value, { minLength: 1, maxLength: 5 }),
      g: gaugeValue,
    }),
    { maxLength: 4 },
  ),
});

type Definition = {
  type: string;
  labelNames: string[];
  help: string;
  series: { values: string[]; values2: number[]; g: number }[];
};

interface Expected {
  type: string;
  help: string;
  series: Map<string, { labels: Record<string, string>; value: number; observations: number[] }>;
}

function record(defs: Definition[]): { registry: Registry; expected: Map<string, Expected> } {
  const registry = new Registry({ selfMetrics: false });
  const expected = new Map<string, Expected>();
  defs.forEach((def, i) => {
    const name = `m${i}_${def.type}`;
    const labelNames = def.labelNames.filter((l: string) => l !== "le" && l !== "quantile");
    const exp: Expected = { type: def.type, help: def.help, series: new Map() };
    expected.set(name, exp);
    const opts = { name, help: def.help, labelNames };
    const metric = def.type === "counter"
      ? registry.counter(opts)
      : def.type === "gauge"
      ? registry.gauge(opts)
      : def.type === "histogram"
      ? registry.histogram({ ...opts, buckets: [0.5, 10, 1000] })
      : registry.summary({ ...opts, quantiles: [0.5] });
    const seriesList = labelNames.length === 0 ? def.series.slice(0, 1) : def.series;
    for (const s of seriesList) {
      const labels: Record<string, string> = {};
      labelNames.forEach((n: string, k: number) => (labels[n] = s.values[k]!));
      const key = JSON.stringify(labels);
      let e = exp.series.get(key);
      if (!e) exp.series.set(key, e = { labels, value: 0, observations: [] });
      // deno-lint-ignore no-explicit-any
      const bound = (metric as any).labels(labels);
      for (const v of s.values2) {
        if (def.type === "counter") bound.inc(v), e.value += v;
        else if (def.type === "gauge") bound.set(s.g), e.value = s.g;
        else bound.observe(v), e.observations.push(v);
      }
    }
  });
  return { registry, expected };
}

function same(a: number, b: number): boolean {
  return Object.is(a, b) || (a === 0 && b === 0) || (Number.isNaN(a) && Number.isNaN(b));
}

function check(text: string, om: boolean, expected: Map<string, Expected>): void {
  const families = parseExposition(text, om);
  for (const [name, exp] of expected) {
    const familyName = om && exp.type === "counter" ? name : name;
    const f = families.get(familyName);
    assert.ok(f, `family ${familyName} missing`);
    assert.equal(f.type, exp.type);
    if (exp.help !== "") assert.equal(f.help, exp.help);
    for (const e of exp.series.values()) {
      const match = (extra: Record<string, string>, sample: string): ParsedSample | undefined =>
        f.samples.find((s) =>
          s.name === sample && JSON.stringify(s.labels) === JSON.stringify({ ...e.labels, ...extra })
        );
      if (exp.type === "counter") {
        const s = match({}, om ? name + "_total" : name);
        assert.ok(s, `counter sample of ${name} ${JSON.stringify(e.labels)} missing`);
        // Float sums may round differently from the model's order only if the order differed; it does not.
        assert.ok(same(s.value, e.value), `${name}: ${s.value} != ${e.value}`);
      } else if (exp.type === "gauge") {
        const s = match({}, name);
        assert.ok(s && same(s.value, e.value), `gauge ${name}: ${s?.value} != ${e.value}`);
      } else if (exp.type === "histogram") {
        const bounds = [0.5, 10, 1000, Infinity];
        for (const le of bounds) {
          const s = match({ le: le === Infinity ? "+Inf" : String(le) }, name + "_bucket");
          assert.equal(s?.value, e.observations.filter((o) => o <= le).length, `bucket ${le} of ${name}`);
        }
        assert.equal(match({}, name + "_count")?.value, e.observations.length);
        const sum = e.observations.reduce((a, b) => a + b, 0);
        assert.ok(same(match({}, name + "_sum")!.value, sum));
      } else {
        assert.equal(match({}, name + "_count")?.value, e.observations.length);
        assert.ok(match({ quantile: "0.5" }, name), `quantile of ${name}`);
      }
    }
  }
}

describe("Registry.render() round trip", () => {
  it("Registry.render() text parses back to exactly what was recorded, in both formats", () => {
    fc.assert(
      fc.property(fc.array(definition, { maxLength: 5 }), (defs) => {
        const { registry, expected } = record(defs);
        check(registry.render(), false, expected);
        check(registry.render("openmetrics"), true, expected);
      }),
      { numRuns: 200 },
    );
  });

  it("Registry.render() output is accepted by promtool check metrics", () => {
    const texts: string[] = [];
    fc.assert(
      fc.property(fc.array(definition, { minLength: 1, maxLength: 5 }), (defs) => {
        texts.push(record(defs).registry.render());
      }),
      { numRuns: 25 },
    );
    for (const text of texts) {
      const result = promtoolCheck(text);
      assert.ok(result.ok, `promtool rejected:\n${result.output}\n---\n${text}`);
    }
  });
});

// UTF-8 names, for random names: they round-trip through the quoted text formats (read back by
// the strict parser), every escaping scheme turns them into names the legacy parser reads, the
// values scheme is undone by Prometheus' own unescaping, and a legacy registry writes the same
// bytes whatever the escaping.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Registry } from "../mod.ts";
import { escapeLabelName, escapeMetricName, type EscapingScheme } from "../src/exposition/escaping.ts";
import { isWellFormed } from "../src/labels.ts";
import { type ParsedFamily, type ParsedSample, parseExposition } from "./_parse.ts";

const SCHEMES: readonly EscapingScheme[] = ["allow-utf-8", "underscores", "dots", "values"];

// Characters that matter to the formats and the schemes, and any code point at all.
const nameChar = fc.oneof(
  fc.constantFrom(".", "_", ":", "a", "Z", "0", " ", '"', "\\", "\n", "{", "}", ",", "=", "#", "é", "😀", "花", "/"),
  fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
);
const utf8Name = fc.string({ unit: nameChar, minLength: 1, maxLength: 8 }).filter(isWellFormed);
const labelName = utf8Name.filter((n) => !n.startsWith("__") && n !== "le" && n !== "quantile");
const labelValue = fc.string({ unit: "grapheme", maxLength: 6 });

const metric = fc.record({
  type: fc.constantFrom("counter", "gauge", "histogram", "summary"),
  name: utf8Name,
  total: fc.boolean(),
  // Label names that no scheme escapes alike (the registry refuses those alike with underscores).
  labelNames: fc.uniqueArray(labelName, { maxLength: 2 }).filter((list) =>
    SCHEMES.every((scheme) => new Set(list.map((n) => escapeLabelName(n, scheme))).size === list.length)
  ),
  series: fc.array(fc.tuple(fc.array(labelValue, { minLength: 2, maxLength: 2 }), fc.integer({ min: 0, max: 100 })), {
    maxLength: 3,
  }),
});
type MetricCase = typeof metric extends fc.Arbitrary<infer T> ? T : never;

interface Model {
  type: string;
  name: string;
  help: string;
  labelNames: readonly string[];
  /** Label values (joined by NUL) to the counter's or gauge's value, or a histogram's or summary's count. */
  values: Map<string, { labels: string[]; value: number }>;
}

/** Registers what it can (a name may clash with another metric's) and records; returns the model. */
function build(cases: MetricCase[]): [Registry, Model[]] {
  const registry = new Registry({ names: "utf8", selfMetrics: false });
  const models: Model[] = [];
  for (const c of cases) {
    const name = c.type === "counter" && c.total ? c.name + "_total" : c.name;
    const options = { name, help: `help of ${c.name}`, labelNames: c.labelNames };
    // deno-lint-ignore no-explicit-any
    let family: any;
    try {
      family = c.type === "counter"
        ? registry.counter(options)
        : c.type === "gauge"
        ? registry.gauge(options)
        : c.type === "histogram"
        ? registry.histogram({ ...options, buckets: [10] })
        : registry.summary({ ...options, quantiles: [0.5] });
    } catch (error) {
      assert.match((error as Error).message, /clashes with|already registered/);
      continue;
    }
    if (models.some((m) => m.name === name)) continue;
    const model: Model = { type: c.type, name, help: options.help, labelNames: c.labelNames, values: new Map() };
    models.push(model);
    for (const [values, n] of c.series) {
      const labels = c.labelNames.map((_, i) => values[i]!);
      const set = Object.fromEntries(c.labelNames.map((l, i) => [l, labels[i]!]));
      const key = labels.join("\0");
      const had = model.values.get(key)?.value ?? 0;
      if (c.type === "counter") family.inc(set, n);
      else if (c.type === "gauge") family.set(set, n);
      else family.observe(set, n);
      model.values.set(key, { labels, value: c.type === "gauge" ? n : c.type === "counter" ? had + n : had + 1 });
    }
  }
  return [registry, models];
}

/** The family name and the sample carrying a series' value (or count) in a format, names as written. */
function names(model: Model, om: boolean, write: (name: string) => string): { family: string; sample: string } {
  const name = write(model.name);
  const family = om && model.type === "counter" && name.endsWith("_total") ? name.slice(0, -6) : name;
  const sample = model.type === "counter"
    ? (om ? family + "_total" : name)
    : model.type === "gauge"
    ? name
    : name + "_count";
  return { family, sample };
}

/** Checks parsed families against the model, names and label names as `write` and `writeLabel` give them. */
function check(
  parsed: Map<string, ParsedFamily>,
  models: Model[],
  om: boolean,
  write: (name: string) => string,
  writeLabel: (name: string) => string,
): void {
  assert.equal(parsed.size, models.length);
  for (const model of models) {
    const { family, sample } = names(model, om, write);
    const found = parsed.get(family);
    assert.ok(found, `family ${JSON.stringify(family)} of ${JSON.stringify(model.name)} is missing`);
    assert.equal(found.type, model.type);
    assert.equal(found.help, model.help);
    for (const { labels, value } of model.values.values()) {
      const want = Object.fromEntries(model.labelNames.map((l, i) => [writeLabel(l), labels[i]!]));
      const got: ParsedSample | undefined = found.samples.find((s) =>
        s.name === sample && JSON.stringify(s.labels) === JSON.stringify(want)
      );
      assert.ok(got, `no ${sample}${JSON.stringify(want)} in ${JSON.stringify(found.samples)}`);
      assert.equal(got.value, value);
    }
  }
}

/** Prometheus' UnescapeName for the values scheme (prometheus/common model/metric.go), or undefined where it gives up. */
function unescapeValues(escaped: string): string | undefined {
  if (!escaped.startsWith("U__")) return escaped;
  const text = escaped.slice(3);
  let out = "";
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== "_") {
      out += text[i];
      continue;
    }
    i++;
    if (i >= text.length) return undefined;
    if (text[i] === "_") {
      out += "_";
      continue;
    }
    const end = text.indexOf("_", i);
    if (end < 0 || end - i > 6 || !/^[0-9a-fA-F]+$/.test(text.slice(i, end))) return undefined;
    const code = parseInt(text.slice(i, end), 16);
    if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return undefined;
    out += String.fromCodePoint(code);
    i = end;
  }
  return out;
}

const LEGACY_METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LEGACY_LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

describe("UTF-8 names: properties", () => {
  it("Registry.render() with allow-utf-8 round-trips random UTF-8 names through both text formats", () => {
    fc.assert(
      fc.property(fc.array(metric, { maxLength: 5 }), (cases) => {
        const [registry, models] = build(cases);
        for (const om of [false, true]) {
          const text = registry.render(om ? "openmetrics" : "prometheus", { escaping: "allow-utf-8" });
          check(parseExposition(text, om, { utf8Names: true }), models, om, (n) => n, (n) => n);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("Registry.render() with each escaping scheme writes only legacy names, escaped by the scheme", () => {
    fc.assert(
      fc.property(fc.array(metric, { maxLength: 5 }), fc.constantFrom(...SCHEMES.slice(1)), (cases, escaping) => {
        const [registry, models] = build(cases);
        for (const om of [false, true]) {
          const text = registry.render(om ? "openmetrics" : "prometheus", { escaping });
          // Two metric names may escape alike (a.b and a_b): their families then merge, as in
          // client_golang; such registries are checked for legacy names only.
          // Sample names count too: one metric's `x_total` or `x_bucket` may escape like another's name.
          const used = models.map((m) => {
            const family = names(m, om, (n) => escapeMetricName(n, escaping)).family;
            const base = family.replace(/_total$/, "");
            return [family, base, ...["_total", "_bucket", "_sum", "_count", "_created"].map((x) => base + x)];
          });
          const all = used.flatMap((list) => [...new Set(list)]);
          if (new Set(all).size !== all.length) {
            for (const line of text.split("\n")) {
              // No quoted name: in a sample line a quote after { or , opens one (values escape theirs).
              if (line.startsWith("#")) assert.doesNotMatch(line, /^# \w+ "/);
              else assert.doesNotMatch(line, /[{,]"/);
            }
            continue;
          }
          // The legacy parser: no quoted name anywhere.
          const parsed = parseExposition(text, om);
          check(parsed, models, om, (n) => escapeMetricName(n, escaping), (n) => escapeLabelName(n, escaping));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("escapeMetricName() and escapeLabelName() give legacy names that Prometheus' unescaping turns back (values)", () => {
    fc.assert(
      fc.property(utf8Name, fc.constantFrom(...SCHEMES.slice(1)), (name, scheme) => {
        const metricName = escapeMetricName(name, scheme);
        const label = escapeLabelName(name, scheme);
        assert.match(metricName, LEGACY_METRIC);
        assert.match(label, LEGACY_LABEL);
        if (LEGACY_METRIC.test(name)) assert.equal(metricName, name);
        if (LEGACY_LABEL.test(name)) assert.equal(label, name);
        if (scheme === "values" && !LEGACY_METRIC.test(name)) assert.equal(unescapeValues(metricName), name);
        if (scheme === "values" && !LEGACY_LABEL.test(name)) assert.equal(unescapeValues(label), name);
      }),
      { numRuns: 2000 },
    );
  });

  it("Registry.render() of a registry with legacy names is byte for byte the same under every escaping", () => {
    const legacyName = fc.stringMatching(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,6}$/);
    const legacyLabel = fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9_]{0,4}$/).filter((n) => n !== "le");
    fc.assert(
      fc.property(
        fc.uniqueArray(legacyName, { maxLength: 4 }),
        fc.uniqueArray(legacyLabel, { maxLength: 2 }),
        fc.array(labelValue, { minLength: 2, maxLength: 2 }),
        fc.boolean(),
        (metricNames, labelNames, values, utf8) => {
          const registry = new Registry({ names: utf8 ? "utf8" : "legacy" });
          const labels = Object.fromEntries(labelNames.map((l, i) => [l, values[i]!]));
          for (const [i, name] of metricNames.entries()) {
            try {
              if (i % 2 === 0) registry.counter({ name, help: "h", labelNames }).inc(labels, i + 1);
              else registry.histogram({ name, help: "h", labelNames }).observe(labels, i);
            } catch (error) {
              assert.match((error as Error).message, /clashes with/);
            }
          }
          for (const format of ["prometheus", "openmetrics"] as const) {
            const text = registry.render(format);
            for (const escaping of SCHEMES) assert.equal(registry.render(format, { escaping }), text);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

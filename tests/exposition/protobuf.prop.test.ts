// The protobuf exposition, decoded by an independent decoder (protobufjs on the official
// metrics.proto), holds exactly the values of the text renders of the same registry, field by
// field; its native histograms hold exactly the buckets of a naive model of what was recorded.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Registry } from "../../mod.ts";
import { openMetricsCheck } from "../_openmetrics_judge.ts";
import { type ParsedFamily, type ParsedSample, parseExposition } from "../_parse.ts";
import {
  type DecodedExemplar,
  type DecodedFamily,
  type DecodedHistogram,
  type DecodedLabel,
  type DecodedMetric,
  decodeFamilies,
  millis,
} from "./_protobuf_decoder.ts";

const labelValue = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 8 }),
  fc.string({ unit: fc.constantFrom("\\", '"', "\n", "é", "😀", "a", "{", ","), maxLength: 6 }),
);
const number = fc.oneof(
  fc.integer({ min: 0, max: 2000 }),
  fc.double({ min: 0, max: 1e16, noNaN: true }),
  fc.constantFrom(0.1, 1e-7, 123456789012345, 1e15, 2 ** 53),
);
// What native histograms must bucket: any magnitude, zeros, subnormals, powers of two, infinities.
const wide = fc.oneof(
  fc.double({ noNaN: true }),
  fc.double({ min: -1e6, max: 1e6, noNaN: true }),
  fc.constantFrom(0, -0, 5e-324, -5e-324, 2 ** -1060, 1, 2, 0.5, 1024, -8, 2 ** -128, Infinity, -Infinity),
);
const signed = fc.oneof(number, number.map((n) => -n), fc.constantFrom(NaN, Infinity, -Infinity, -0));

const KINDS = ["counter", "plain", "gauge", "summary", "histogram", "negative", "native", "both"] as const;
type Kind = typeof KINDS[number];

const metric = fc.record({
  kind: fc.constantFrom(...KINDS),
  labels: fc.integer({ min: 0, max: 2 }),
  help: fc.string({ maxLength: 10 }),
  unit: fc.boolean(),
  series: fc.array(
    fc.record({
      values: fc.array(labelValue, { minLength: 2, maxLength: 2 }),
      numbers: fc.array(fc.oneof(signed, wide), { maxLength: 12 }),
    }),
    { maxLength: 4 },
  ),
  exemplar: fc.option(fc.string({ unit: fc.constantFrom("a", "0", "é"), minLength: 1, maxLength: 8 })),
  native: fc.record({
    bucketFactor: fc.constantFrom(1.001, 1.01, 1.1, 1.5, 2, 4, 300, 1e10),
    maxBuckets: fc.integer({ min: 1, max: 24 }),
    zeroThreshold: fc.constantFrom(0, 2 ** -128, 1e-3, 0.5),
  }),
});
type MetricCase = typeof metric extends fc.Arbitrary<infer T> ? T : never;

/** The settings of a native histogram, and what the test recorded into each of its series. */
interface NativeModel {
  maxBuckets: number;
  schema: number;
  zeroThreshold: number;
  /** By the JSON of the label values. */
  series: Map<string, { values: number[]; exemplars: { value: number; trace: string }[] }>;
}

/**
 * The schema for a bucket factor, found by trying each (client_golang's definition): the
 * largest whose factor is at most the one asked for, the finest (8) for a factor below its.
 */
function schemaOf(factor: number): number {
  if (factor < 2 ** (2 ** -8)) return 8;
  for (let n = 8; n > -4; n--) if (2 ** (2 ** -n) <= factor) return n;
  return -4;
}

/** The bucket of a magnitude at a schema by the definition: v in (2^((k-1)/2^s), 2^(k/2^s)]. */
function naiveKey(v: number, schema: number): number {
  if (v === Infinity) return naiveKey(Number.MAX_VALUE, schema) + 1;
  return Math.ceil(Math.log2(v) * 2 ** schema);
}

function build(
  metrics: readonly MetricCase[],
  created: boolean,
): { registry: Registry; natives: Map<string, NativeModel> } {
  const registry = new Registry({ createdTimestamps: created });
  const natives = new Map<string, NativeModel>();
  metrics.forEach((m, i) => {
    const labelNames = ["a", "b"].slice(0, m.labels);
    const unit = m.unit ? "seconds" : undefined;
    const name = `m${i}_${m.kind}${unit ? "_seconds" : ""}`;
    const base = { name, help: m.help, labelNames, ...(unit ? { unit } : {}) };
    const native = { ...m.native };
    const model: NativeModel = {
      maxBuckets: native.maxBuckets,
      schema: schemaOf(native.bucketFactor),
      zeroThreshold: native.zeroThreshold,
      series: new Map(),
    };
    if (m.kind === "native" || m.kind === "both") natives.set(name, model);
    // deno-lint-ignore no-explicit-any
    const family: any = m.kind === "counter"
      ? registry.counter({ ...base, name: name + "_total" })
      : m.kind === "plain"
      ? registry.counter(base)
      : m.kind === "gauge"
      ? registry.gauge(base)
      : m.kind === "summary"
      ? registry.summary({ ...base, quantiles: [0.5, 0.9] })
      : m.kind === "native"
      ? registry.histogram({ ...base, native })
      : m.kind === "both"
      ? registry.histogram({ ...base, buckets: [-1, 0, 0.5, 10], native })
      : registry.histogram({ ...base, buckets: m.kind === "negative" ? [-1, 0, 2.5] : [0.5, 10] });
    for (const s of m.series) {
      const labels = Object.fromEntries(labelNames.map((n, k) => [n, s.values[k]!]));
      const key = JSON.stringify(labelNames.map((n) => labels[n]));
      const trace = m.exemplar ?? undefined;
      const exemplar = trace === undefined ? undefined : { trace_id: trace };
      for (const v of s.numbers) {
        try {
          if (m.kind === "counter" || m.kind === "plain") family.inc(labels, Math.abs(v), exemplar);
          else if (m.kind === "gauge") family.set(labels, v);
          else if (m.kind === "summary") family.observe(labels, v);
          else if (m.kind === "histogram") family.observe(labels, Math.abs(v), exemplar);
          else family.observe(labels, v, exemplar);
        } catch {
          continue; // NaN and infinities some types refuse: nothing recorded
        }
        if (m.kind === "native" || m.kind === "both") {
          let recorded = model.series.get(key);
          if (recorded === undefined) model.series.set(key, recorded = { values: [], exemplars: [] });
          recorded.values.push(v);
          if (trace !== undefined) recorded.exemplars = [...recorded.exemplars, { value: v, trace }].slice(-10);
        }
      }
    }
  });
  return { registry, natives };
}

const TYPES: Record<string, number> = { counter: 0, gauge: 1, summary: 2, histogram: 4 };

function same(actual: number | undefined, expected: number, what: string): void {
  // The text formats write -0 as 0; protobuf keeps the sign.
  if (Number.isNaN(expected)) assert.ok(Number.isNaN(actual), `${what}: ${actual} is not NaN`);
  else assert.ok(actual === expected, `${what}: ${actual} !== ${expected}`);
}

function labelsOf(pairs: DecodedLabel[] | undefined): Record<string, string> {
  return Object.fromEntries((pairs ?? []).map((p) => [p.name, p.value]));
}

function sameExemplar(decoded: DecodedExemplar | undefined, text: ParsedSample["exemplar"], what: string): void {
  if (text === undefined) return assert.equal(decoded, undefined, `${what}: an exemplar the text has not`);
  assert.ok(decoded !== undefined, `${what}: no exemplar`);
  assert.deepEqual(labelsOf(decoded.label), text.labels, `${what} exemplar labels`);
  same(decoded.value, text.value, `${what} exemplar value`);
  assert.equal(millis(decoded.timestamp!), Math.round(text.timestamp! * 1000), `${what} exemplar timestamp`);
}

/** The text series of a family in order: label set (without le/quantile) and its samples. */
function textSeries(family: ParsedFamily): { labels: Record<string, string>; samples: ParsedSample[] }[] {
  const out = new Map<string, { labels: Record<string, string>; samples: ParsedSample[] }>();
  for (const sample of family.samples) {
    const { le: _le, quantile: _quantile, ...labels } = sample.labels;
    const key = JSON.stringify(labels);
    let series = out.get(key);
    if (series === undefined) out.set(key, series = { labels, samples: [] });
    series.samples.push(sample);
  }
  return [...out.values()];
}

/** Decoded families merged by name (a large metric comes as several messages). */
function merged(decoded: DecodedFamily[]): Map<string, DecodedFamily> {
  const out = new Map<string, DecodedFamily>();
  for (const family of decoded) {
    assert.ok((family.metric?.length ?? 0) > 0, `family ${family.name} without metrics`);
    const had = out.get(family.name!);
    if (had === undefined) out.set(family.name!, { ...family, metric: [...family.metric!] });
    else {
      assert.equal(family.help, had.help);
      assert.equal(family.type, had.type);
      had.metric!.push(...family.metric!);
    }
  }
  return out;
}

/** Expands spans and deltas to bucket key → count. */
function expand(spans: DecodedHistogram["positiveSpan"], deltas: number[] | undefined): Map<number, number> {
  const out = new Map<number, number>();
  let key = 0;
  let count = 0;
  let at = 0;
  for (const span of spans ?? []) {
    key += span.offset ?? 0;
    for (let i = 0; i < (span.length ?? 0); i++) {
      count += deltas![at++]!;
      if (count !== 0) out.set(key, count);
      key++;
    }
  }
  assert.equal(at, deltas?.length ?? 0, "as many deltas as the spans cover");
  return out;
}

function checkNative(
  h: DecodedHistogram,
  model: NativeModel,
  recorded: { values: number[]; exemplars: { value: number; trace: string }[] },
  what: string,
  since: number,
): void {
  const schema = h.schema ?? 0;
  assert.ok(schema <= model.schema && schema >= -4, `${what}: schema ${schema} from ${model.schema}`);
  assert.equal(h.zeroThreshold, model.zeroThreshold, `${what} zero threshold`);
  const positive = new Map<number, number>();
  const negative = new Map<number, number>();
  let zero = 0;
  for (const v of recorded.values) {
    const magnitude = Math.abs(v);
    if (magnitude <= model.zeroThreshold) zero++;
    else {
      const side = v > 0 ? positive : negative;
      const key = naiveKey(magnitude, schema);
      side.set(key, (side.get(key) ?? 0) + 1);
    }
  }
  assert.equal(h.zeroCount ?? 0, zero, `${what} zero count`);
  assert.deepEqual(expand(h.positiveSpan, h.positiveDelta), positive, `${what} positive buckets`);
  assert.deepEqual(expand(h.negativeSpan, h.negativeDelta), negative, `${what} negative buckets`);
  // Past maxBuckets only at the lowest schema, which cannot halve any more.
  assert.ok(positive.size + negative.size <= model.maxBuckets || schema === -4, `${what}: more than maxBuckets`);
  // Prometheus refuses a negative offset after the first span of a side.
  for (const side of [h.positiveSpan ?? [], h.negativeSpan ?? []]) {
    side.slice(1).forEach((span) => assert.ok((span.offset ?? 0) >= 0, `${what}: negative offset`));
  }
  if (positive.size + negative.size + zero === 0 && model.zeroThreshold === 0) {
    // As client_golang: one empty span marks an empty native histogram with no zero bucket.
    assert.deepEqual(h.positiveSpan, [{ offset: 0, length: 0 }], `${what} empty marker`);
  }
  const exemplars = h.exemplars ?? [];
  assert.deepEqual(
    exemplars.map((e) => ({ value: e.value, trace: labelsOf(e.label).trace_id })),
    recorded.exemplars,
    `${what} native exemplars`,
  );
  for (const e of exemplars) {
    const at = millis(e.timestamp!);
    assert.ok(at >= since && at <= Date.now(), `${what} native exemplar time ${at}`);
  }
}

function checkRender(registry: Registry, natives: Map<string, NativeModel>, created: boolean, since: number): void {
  const text = parseExposition(registry.render(), false);
  const om = parseExposition(registry.render("openmetrics"), true);
  const decoded = merged(decodeFamilies(registry.render("protobuf")));
  const shown = [...text.values()].filter((f) => f.samples.length > 0);
  assert.deepEqual([...decoded.keys()], shown.map((f) => f.name), "the families with series, in order");
  for (const family of shown) {
    const name = family.name;
    const got = decoded.get(name)!;
    const omName = family.type === "counter" && name.endsWith("_total") ? name.slice(0, -6) : name;
    const omFamily = om.get(omName)!;
    assert.equal(got.type, TYPES[family.type], `${name} type`);
    assert.equal(got.help ?? "", family.help ?? "", `${name} help`);
    assert.equal(got.unit ?? "", omFamily.unit ?? "", `${name} unit`);
    const series = textSeries(family);
    // OpenMetrics leaves some samples out (negative summary values): its series by label set.
    const omSeries = new Map(textSeries(omFamily).map((x) => [JSON.stringify(x.labels), x.samples]));
    assert.equal(got.metric!.length, series.length, `${name}: as many series as the text`);
    got.metric!.forEach((metric: DecodedMetric, i) => {
      const { labels, samples } = series[i]!;
      const omSamples = omSeries.get(JSON.stringify(labels)) ?? [];
      const what = `${name}${JSON.stringify(labels)}`;
      assert.deepEqual(labelsOf(metric.label), labels, `${what} labels`);
      const value = (suffix: string) => samples.find((s) => s.name === name + suffix)!.value;
      const createdSample = omSamples.find((s) => s.name === omName + "_created");
      const createdAt = family.type === "gauge" ? undefined : metric[family.type as "counter"]?.createdTimestamp;
      if (created && family.type !== "gauge") {
        assert.ok(createdSample !== undefined && createdAt !== undefined, `${what}: a created timestamp in both`);
        assert.equal(millis(createdAt), Math.round(createdSample.value * 1000), `${what} created`);
        assert.ok(millis(createdAt) >= since - 1 && millis(createdAt) <= Date.now(), `${what} created time`);
      } else {
        assert.equal(createdSample, undefined, `${what}: _created without the option`);
        assert.equal(createdAt, undefined, `${what}: created_timestamp without the option`);
      }
      switch (family.type) {
        case "counter": {
          same(metric.counter?.value, value(""), `${what} value`);
          const omSample = omSamples.find((s) => s.name === omName + "_total")!;
          sameExemplar(metric.counter?.exemplar, omSample.exemplar, what);
          break;
        }
        case "gauge":
          same(metric.gauge?.value, value(""), `${what} value`);
          break;
        case "summary": {
          const s = metric.summary!;
          assert.equal(s.sampleCount, value("_count"), `${what} count`);
          same(s.sampleSum, value("_sum"), `${what} sum`);
          const quantiles = samples.filter((x) => x.name === name);
          assert.equal(s.quantile?.length, quantiles.length, `${what} quantiles`);
          s.quantile!.forEach((q, k) => {
            same(q.quantile, Number(quantiles[k]!.labels.quantile), `${what} quantile`);
            same(q.value, quantiles[k]!.value, `${what} quantile ${q.quantile}`);
          });
          break;
        }
        case "histogram": {
          const h = metric.histogram!;
          const buckets = samples.filter((x) => x.name === name + "_bucket");
          const omBuckets = omSamples.filter((x) => x.name === name + "_bucket");
          const inf = buckets[buckets.length - 1]!;
          assert.equal(inf.labels.le, "+Inf");
          assert.equal(h.sampleCount, inf.value, `${what} count is the +Inf bucket`);
          assert.equal(h.sampleCount, value("_count"), `${what} count`);
          same(h.sampleSum, value("_sum"), `${what} sum`);
          const infExemplar = omBuckets[omBuckets.length - 1]!.exemplar;
          // The +Inf bucket is written only to carry its exemplar, as client_golang does.
          const expected = infExemplar === undefined ? buckets.slice(0, -1) : buckets;
          assert.equal(h.bucket?.length ?? 0, expected.length, `${what} buckets`);
          expected.forEach((b, k) => {
            const got = h.bucket![k]!;
            assert.equal(got.upperBound, b.labels.le === "+Inf" ? Infinity : Number(b.labels.le), `${what} bound`);
            assert.equal(got.cumulativeCount, b.value, `${what} bucket le=${b.labels.le}`);
            sameExemplar(got.exemplar, omBuckets[k]!.exemplar, `${what} bucket le=${b.labels.le}`);
          });
          const model = natives.get(name);
          if (model === undefined) {
            assert.equal(h.schema, undefined, `${what}: native fields in a classic histogram`);
            assert.equal(h.zeroThreshold, undefined, `${what}: native fields in a classic histogram`);
          } else {
            const recorded = model.series.get(JSON.stringify(Object.values(labels)));
            checkNative(h, model, recorded ?? { values: [], exemplars: [] }, what, since);
          }
          break;
        }
      }
    });
  }
}

describe("Registry.render('protobuf')", () => {
  it("decodes with the official metrics.proto to exactly the values of the text renders, field by field", () => {
    fc.assert(
      fc.property(fc.array(metric, { maxLength: 6 }), fc.boolean(), (metrics, created) => {
        const since = Date.now();
        const { registry, natives } = build(metrics, created);
        checkRender(registry, natives, created, since);
      }),
      { numRuns: 150 },
    );
  });

  it("stream('protobuf') writes the bytes render('protobuf') returns", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(metric, { maxLength: 6 }), fc.boolean(), async (metrics, created) => {
        const { registry } = build(metrics, created);
        // stream() runs no collect hooks (the self-metrics' gauges are set by one).
        await registry.collectAsync();
        const streamed = new Uint8Array(await new Response(registry.stream("protobuf")).arrayBuffer());
        assert.deepEqual(streamed, registry.render("protobuf"));
      }),
      { numRuns: 40 },
    );
  });
});

describe("Registry createdTimestamps", () => {
  it("Registry.render('openmetrics') with created timestamps passes the strict OpenMetrics parser", () => {
    fc.assert(
      fc.property(fc.array(metric, { maxLength: 6 }), (metrics) => {
        const text = build(metrics, true).registry.render("openmetrics");
        const verdict = openMetricsCheck(text);
        assert.ok(verdict.ok, `${verdict.output}\n${text}`);
      }),
      { numRuns: 15 },
    );
  });
});

// The operations the API fuzzer runs, as plain data (so a worker can run them too), their
// arbitraries, and the executor that runs one on a registry view and reports what happened.
// The executor judges nothing: the model (_model.ts) does, from the operation and its outcome.

import fc from "fast-check";
import type { Registry } from "../../mod.ts";
import {
  dyadic,
  exemplarArg,
  finiteish,
  labelValue,
  materialize,
  nastyString,
  nonNegativeDyadic,
  numberish,
  strayKey,
  type V,
} from "./_values.ts";

export type MetricType = "counter" | "gauge" | "histogram" | "summary";

/** A metric the operations know by name, with its usual definition. */
export interface Base {
  type: MetricType;
  name: string;
  help: string;
  labelNames: string[];
  unit?: string;
  buckets?: number[];
  quantiles?: number[];
  ageBuckets?: number;
}

/** Every type, with and without labels, label names that live on Object.prototype, units, negative buckets. */
export const POOL: readonly Base[] = [
  { type: "counter", name: "fz_requests_total", help: "Requests.", labelNames: ["route", "code"] },
  { type: "counter", name: "fz_jobs_total", help: "Jobs.", labelNames: [] },
  { type: "counter", name: "fz_proto_total", help: "Prototype-named labels.", labelNames: ["constructor", "toString"] },
  {
    type: "counter",
    name: "fz_events",
    help: 'Events, no "_total"; a \\ and a\nline.',
    labelNames: ["hasOwnProperty"],
  },
  { type: "gauge", name: "fz_depth", help: "Depth.", labelNames: ["queue"] },
  { type: "gauge", name: "fz_temperature_celsius", help: "Temperature.", labelNames: [], unit: "celsius" },
  {
    type: "histogram",
    name: "fz_latency_seconds",
    help: "Latency.",
    labelNames: ["method", "code"],
    buckets: [0.1, 1, 10],
    unit: "seconds",
  },
  { type: "histogram", name: "fz_delta", help: "Signed.", labelNames: ["valueOf"], buckets: [-1, 0, 1] },
  { type: "histogram", name: "fz_size_bytes", help: "Sizes.", labelNames: [] },
  {
    type: "summary",
    name: "fz_wait_seconds",
    help: "Wait.",
    labelNames: ["kind"],
    quantiles: [0.5, 0.9],
    ageBuckets: 2,
  },
  { type: "summary", name: "fz_payload", help: "Payload.", labelNames: [] },
];

/** Names that clash with a pool metric's sample names, and the type they are registered as. */
const CLASHES: readonly { type: MetricType; name: string }[] = [
  { type: "gauge", name: "fz_requests" },
  { type: "gauge", name: "fz_latency_seconds_count" },
  { type: "counter", name: "fz_jobs" },
  { type: "gauge", name: "fz_size_bytes_bucket" },
  { type: "counter", name: "fz_payload_sum" },
];

/** What an exemplar provider does when called. */
export type ProviderName = "ok" | "none" | "throws" | "long" | "nonstring" | "badname" | "surrogate";
export const PROVIDER_NAMES: readonly ProviderName[] = [
  "ok",
  "none",
  "throws",
  "long",
  "nonstring",
  "badname",
  "surrogate",
];
/** The labels the "ok" provider returns. */
export const PROVIDED = { trace_id: "0af7651916cd43dd8448eb211c80319c" } as const;

/** An exemplar provider that behaves as named. */
export function provider(name: ProviderName): () => Record<string, string> | undefined {
  switch (name) {
    case "ok":
      return () => ({ ...PROVIDED });
    case "none":
      return () => undefined;
    case "throws":
      return () => {
        throw new Error("the exemplar provider failed");
      };
    case "long":
      return () => ({ trace_id: "x".repeat(200) });
    case "nonstring":
      return () => ({ trace_id: 5 }) as unknown as Record<string, string>;
    case "badname":
      return () => ({ "bad-name": "x" });
    case "surrogate":
      return () => ({ trace_id: "\uD800" });
  }
}

/** The value a collect hook (a metric's `collect` option or `beforeCollect`) records, by type. */
export const HOOK_VALUE: Record<MetricType, number> = { counter: 1, gauge: 7, histogram: 0.5, summary: 1 };

/** Label values a hook records with: every label set to this. */
export const HOOK_LABEL = "hook";

export type Op =
  | {
    t: "reg";
    view: number;
    type: MetricType;
    options: V;
    exemplars?: ProviderName | false;
    collect?: boolean;
  }
  | { t: "rec"; view: number; metric: string; method: "inc" | "dec" | "set" | "observe"; args: V[] }
  | { t: "bind"; view: number; metric: string; labels: V; slot: number }
  | { t: "ser"; view: number; slot: number; method: SeriesMethod; args: V[] }
  | { t: "tstart"; view: number; metric: string; labels?: V; slot: number; bound?: number }
  | { t: "tend"; view: number; slot: number; labels?: V }
  | { t: "get"; view: number; metric: string; labels?: V }
  | { t: "now"; view: number; metric: string; labels?: V }
  | { t: "render"; view: number; format: "prometheus" | "openmetrics" }
  /** `collectAsync()` (when `collect`) then `stream()` read to the end: the HTTP handler's way. */
  | { t: "stream"; view: number; format: "prometheus" | "openmetrics"; collect: boolean }
  | { t: "collect"; view: number }
  | { t: "hook"; view: number; metric: string }
  | { t: "unhook"; view: number; index: number }
  | { t: "regget"; view: number; name: V }
  | { t: "share" }
  | { t: "attach"; exemplars?: ProviderName }
  | { t: "detach"; view: number }
  | { t: "burst"; view: number; metric: string; count: number; long: boolean }
  | { t: "remove"; view: number; metric: string; labels?: V }
  | { t: "clear"; view: number; metric: string; reset: boolean }
  | { t: "regremove"; view: number; name: V }
  | { t: "regclear"; view: number }
  | { t: "worker"; worker: number; exemplars?: ProviderName; detach: boolean; ops: Op[] };

export type SeriesMethod = "inc" | "dec" | "set" | "observe" | "setToCurrentTime" | "get";

/** What running an operation did: returned (with a result), threw, or did not apply. */
export type Outcome =
  | { ok: true; result?: unknown }
  | { ok: false; name: string; message: string }
  | { skipped: string };

/** The labels object for label names `names`, built from generated parts, possibly wrong on purpose. */
const labelsPlan = fc.record({
  values: fc.array(labelValue, { minLength: 3, maxLength: 3 }),
  drop: fc.option(fc.nat(2), { freq: 10 }),
  stray: fc.option(fc.tuple(strayKey, labelValue), { freq: 10 }),
  proto: fc.option(fc.constantFrom("null" as const, "inherit" as const), { freq: 10 }),
  shape: fc.option(fc.constantFrom<V>({ $: "null" }, { $: "arr", items: [] }, { $: "s", v: "a" }), { freq: 40 }),
});
type LabelsPlan = typeof labelsPlan extends fc.Arbitrary<infer T> ? T : never;

function buildLabels(names: readonly string[], plan: LabelsPlan): V {
  if (plan.shape !== null) return plan.shape;
  const entries: [V, V][] = [];
  let inherited: [V, V][] | undefined;
  names.forEach((name, i) => {
    const entry: [V, V] = [{ $: "s", v: name }, plan.values[i]!];
    if (plan.drop === i) {
      if (plan.proto === "inherit") inherited = [entry];
    } else entries.push(entry);
  });
  if (plan.stray !== null) entries.push(plan.stray);
  if (inherited !== undefined) return { $: "o", entries, proto: { entries: inherited } };
  return plan.proto === "null" ? { $: "o", entries, proto: "null" } : { $: "o", entries };
}

/** Partial labels for a timer's start or end: a subset of the names, or something wrong. */
function partialLabels(names: readonly string[], plan: LabelsPlan, keep: number): V | undefined {
  if (keep === 0) return undefined;
  // Not an array: what a timer makes of one is left open by the contract.
  if (plan.shape !== null && keep === 1) return plan.shape.$ === "arr" ? { $: "null" } : plan.shape;
  const subset = names.filter((_, i) => ((keep >> i) & 1) === 1);
  return buildLabels(subset, { ...plan, shape: null, drop: null });
}

function metricArb(): fc.Arbitrary<{ base: Base; other: boolean }> {
  return fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(...POOL).map((base) => ({ base, other: false })) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(...CLASHES).map((c) => ({
        base: { ...c, help: "Clash.", labelNames: [] },
        other: true,
      })),
    },
  );
}

const view = fc.nat(3);

/** A registration: a pool definition, often as is, sometimes changed or broken. */
const registration: fc.Arbitrary<Op> = fc.record({
  view,
  metric: metricArb(),
  mutation: fc.oneof(
    { weight: 12, arbitrary: fc.constant("same") },
    {
      weight: 5,
      arbitrary: fc.constantFrom(
        "help",
        "labels",
        "type",
        "buckets",
        "quantiles",
        "unit",
        "badName",
        "badLabel",
        "badBuckets",
        "badQuantiles",
        "badWindow",
        "badHelp",
        "nullOptions",
        "labelsNotArray",
        "window",
      ),
    },
  ),
  pick: fc.nat(100),
  nasty: nastyString,
  exemplars: fc.option(fc.oneof(fc.constant(false as const), fc.constantFrom(...PROVIDER_NAMES)), { freq: 3 }),
  collect: fc.boolean(),
  collectFreq: fc.nat(5),
}).map(({ view, metric, mutation, pick, nasty, exemplars, collect, collectFreq }): Op => {
  const base = metric.base;
  let type = base.type;
  const s = (v: string): V => ({ $: "s", v });
  const numbers = (list: readonly unknown[]): V => ({
    $: "arr",
    items: list.map((x): V => typeof x === "number" ? { $: "n", v: x } : typeof x === "string" ? s(x) : { $: "null" }),
  });
  const fields: Record<string, V> = {
    name: s(base.name),
    help: s(base.help),
    labelNames: { $: "arr", items: base.labelNames.map(s) },
  };
  if (base.unit !== undefined) fields.unit = s(base.unit);
  if (base.buckets !== undefined) fields.buckets = numbers(base.buckets);
  if (base.quantiles !== undefined) fields.quantiles = numbers(base.quantiles);
  if (base.ageBuckets !== undefined) fields.ageBuckets = { $: "n", v: base.ageBuckets };
  const choose = <T>(list: readonly T[]): T => list[pick % list.length]!;
  switch (mutation) {
    case "help":
      fields.help = s(choose(["Other help.", "", "x".repeat(70_000), 'é "q" \\ \n']));
      break;
    case "labels":
      fields.labelNames = { $: "arr", items: choose([[], ["route"], ["constructor"], ["a", "b", "c"]]).map(s) };
      break;
    case "type":
      type = choose(["counter", "gauge", "histogram", "summary"] as const);
      break;
    case "buckets":
      fields.buckets = numbers(choose([[1, 2], [0.1, 1, 10, Infinity], [-5, 5], [Infinity]]));
      break;
    case "quantiles":
      fields.quantiles = numbers(choose([[0.5], [0.99, 0.5], [0, 1]]));
      break;
    case "unit":
      fields.unit = s(choose(["bytes", "seconds", "", "celsius"]));
      break;
    case "window":
      fields.maxAgeSeconds = { $: "n", v: choose([60, 600, 0.5]) };
      fields.ageBuckets = { $: "n", v: choose([1, 5, 10]) };
      break;
    case "badName":
      fields.name = pick % 3 === 0 ? nasty : choose<V>([
        s(""),
        s("1abc"),
        s("a-b"),
        s("fz requests"),
        s("fz_é"),
        { $: "null" },
        { $: "n", v: 5 },
        { $: "u" },
        { $: "o", entries: [] },
        { $: "rep", s: "a", n: 70_000 },
      ]);
      break;
    case "badLabel":
      fields.labelNames = {
        $: "arr",
        items: [
          ...base.labelNames.map(s),
          choose<V>([
            s("le"),
            s("quantile"),
            s("__x"),
            s("__proto__"),
            s("otel_metric_overflow"),
            s("a-b"),
            s(""),
            s("1a"),
            s(base.labelNames[0] ?? "dup"),
            s("dup"),
            { $: "n", v: 1 },
            { $: "null" },
          ]),
          ...(pick % 7 === 0 ? [s("dup")] : []),
        ],
      };
      break;
    case "badBuckets":
      type = "histogram";
      fields.buckets = choose<V>([
        numbers([]),
        numbers([1, 1]),
        numbers([2, 1]),
        numbers([NaN]),
        numbers(["1"]),
        numbers([1, -Infinity]),
        numbers([null]),
        s("1,2"),
        { $: "n", v: 5 },
      ]);
      break;
    case "badQuantiles":
      type = "summary";
      fields.quantiles = choose<V>([
        numbers([1.5]),
        numbers([-0.1]),
        numbers(["0.5"]),
        numbers([NaN]),
        numbers([null]),
      ]);
      break;
    case "badWindow":
      type = "summary";
      if (pick % 2 === 0) {
        fields.maxAgeSeconds = choose<V>([{ $: "n", v: 0 }, { $: "n", v: -1 }, { $: "n", v: Infinity }, s("600"), {
          $: "n",
          v: NaN,
        }]);
      } else fields.ageBuckets = choose<V>([{ $: "n", v: 0 }, { $: "n", v: 1.5 }, { $: "n", v: 101 }, s("5")]);
      break;
    case "badHelp":
      fields.help = choose<V>([{ $: "null" }, { $: "n", v: 1 }, { $: "u" }, { $: "o", entries: [] }]);
      break;
    case "labelsNotArray":
      fields.labelNames = choose<V>([s("route"), { $: "n", v: 1 }, { $: "o", entries: [] }]);
      break;
  }
  const options: V = mutation === "nullOptions"
    ? choose<V>([{ $: "null" }, { $: "u" }, s("fz_x"), { $: "n", v: 1 }])
    : { $: "o", entries: Object.entries(fields).map(([k, v]): [V, V] => [s(k), v]) };
  const op: Op = { t: "reg", view, type, options };
  if (exemplars !== null) op.exemplars = exemplars;
  if (collect && collectFreq === 0) op.collect = true;
  return op;
});

/** The registration of a pool metric as defined, in view 0. */
export function register(base: Base): Op {
  const s = (v: string): V => ({ $: "s", v });
  const entries: [V, V][] = [
    [s("name"), s(base.name)],
    [s("help"), s(base.help)],
    [s("labelNames"), { $: "arr", items: base.labelNames.map(s) }],
  ];
  const numbers = (list: number[]): V => ({ $: "arr", items: list.map((v): V => ({ $: "n", v })) });
  if (base.unit !== undefined) entries.push([s("unit"), s(base.unit)]);
  if (base.buckets !== undefined) entries.push([s("buckets"), numbers(base.buckets)]);
  if (base.quantiles !== undefined) entries.push([s("quantiles"), numbers(base.quantiles)]);
  if (base.ageBuckets !== undefined) entries.push([s("ageBuckets"), { $: "n", v: base.ageBuckets }]);
  return { t: "reg", view: 0, type: base.type, options: { $: "o", entries } };
}

/** Registrations a run starts with: most of the pool, so that most operations reach a metric. */
export const preregistration: fc.Arbitrary<Op[]> = fc.subarray([...POOL], { minLength: POOL.length - 3 }).map((
  bases,
) => bases.map(register));

/** Arguments of a family-level recording call, by method. */
function familyArgs(
  method: "inc" | "dec" | "set" | "observe",
  shape: number,
  labels: V,
  value: V,
  exemplar: V,
): V[] {
  const shapes: Record<typeof method, V[][]> = {
    inc: [[], [value], [value, exemplar], [labels], [labels, value], [labels, value, exemplar], [
      labels,
      { $: "u" },
      exemplar,
    ]],
    dec: [[], [value], [labels], [labels, value]],
    set: [[value], [labels, value], [labels], []],
    observe: [[value], [value, exemplar], [labels, value], [labels, value, exemplar], [labels], []],
  };
  const list = shapes[method];
  // Labelled shapes most of the time: they are the ones that reach series.
  return list[shape % list.length]!;
}

const METHODS: Record<MetricType, ("inc" | "dec" | "set" | "observe")[]> = {
  counter: ["inc"],
  gauge: ["set", "inc", "dec"],
  histogram: ["observe"],
  summary: ["observe"],
};

/** A recording through the family: `inc`, `dec`, `set`, `observe`, in every argument shape. */
const recording: fc.Arbitrary<Op> = fc.record({
  view,
  metric: metricArb(),
  methodPick: fc.nat(5),
  wrongMethod: fc.nat(30),
  shape: fc.nat(20),
  plan: labelsPlan,
  value: numberish(),
  positive: numberish(nonNegativeDyadic),
  observation: finiteish(dyadic, false),
  size: fc.oneof({ weight: 5, arbitrary: finiteish(nonNegativeDyadic, true) }, {
    weight: 1,
    arbitrary: finiteish(dyadic, false),
  }),
  exemplar: exemplarArg,
}).map(({ view, metric, methodPick, wrongMethod, shape, plan, value, positive, observation, size, exemplar }): Op => {
  const base = metric.base;
  const all = ["inc", "dec", "set", "observe"] as const;
  const method = wrongMethod === 0 ? all[methodPick % 4]! : METHODS[base.type][methodPick % METHODS[base.type].length]!;
  // Counters get mostly values they accept, gauges any number; histograms and summaries finite
  // ones (or NaN), so that their sums stay finite; summaries mostly values >= 0.
  const v = base.type === "counter"
    ? positive
    : base.type === "gauge"
    ? value
    : base.type === "histogram"
    ? observation
    : size;
  const labels = buildLabels(base.labelNames, plan);
  // Bias towards the labelled shapes for labelled metrics and the bare ones otherwise.
  const labelled = base.labelNames.length > 0;
  const args = familyArgs(method, labelled ? shape : shape, labels, v, exemplar);
  return { t: "rec", view, metric: base.name, method, args };
});

const binding: fc.Arbitrary<Op> = fc.record({ view, metric: metricArb(), plan: labelsPlan, slot: fc.nat(1) }).map((
  { view, metric, plan, slot },
): Op => ({ t: "bind", view, metric: metric.base.name, labels: buildLabels(metric.base.labelNames, plan), slot }));

const seriesCall: fc.Arbitrary<Op> = fc.record({
  view,
  slot: fc.nat(1),
  method: fc.constantFrom<SeriesMethod>("inc", "inc", "dec", "set", "observe", "observe", "setToCurrentTime", "get"),
  shape: fc.nat(2),
  value: numberish(),
  positive: numberish(nonNegativeDyadic),
  size: fc.oneof({ weight: 5, arbitrary: finiteish(nonNegativeDyadic, true) }, {
    weight: 1,
    arbitrary: finiteish(dyadic, false),
  }),
  exemplar: exemplarArg,
}).map(({ view, slot, method, shape, value, positive, size, exemplar }): Op => {
  const v = method === "inc" ? positive : method === "observe" ? size : value;
  const args: V[] = method === "setToCurrentTime" || method === "get"
    ? []
    : shape === 0
    ? [v]
    : shape === 1
    ? (method === "set" || method === "observe" ? [v, exemplar] : [])
    : [v, exemplar];
  return { t: "ser", view, slot, method, args };
});

const timerStart: fc.Arbitrary<Op> = fc.record({
  view,
  metric: metricArb(),
  plan: labelsPlan,
  keep: fc.nat(3),
  slot: fc.nat(2),
  bound: fc.option(fc.nat(1), { freq: 4 }),
}).map(({ view, metric, plan, keep, slot, bound }): Op => {
  const op: Op = { t: "tstart", view, metric: metric.base.name, slot };
  const labels = partialLabels(metric.base.labelNames, plan, keep);
  if (labels !== undefined) op.labels = labels;
  if (bound !== null) op.bound = bound;
  return op;
});

const timerEnd: fc.Arbitrary<Op> = fc.record({
  view,
  slot: fc.nat(2),
  metric: metricArb(),
  plan: labelsPlan,
  keep: fc.nat(3),
}).map(({ view, slot, metric, plan, keep }): Op => {
  const op: Op = { t: "tend", view, slot };
  // The names of any pool metric: right for the timer's metric often enough.
  const labels = partialLabels(metric.base.labelNames, plan, keep === 0 ? 0 : 3);
  if (labels !== undefined) op.labels = labels;
  return op;
});

const getting: fc.Arbitrary<Op> = fc.record({ view, metric: metricArb(), plan: labelsPlan, none: fc.nat(5) }).map((
  { view, metric, plan, none },
): Op => {
  const op: Op = { t: "get", view, metric: metric.base.name };
  if (none !== 0) op.labels = buildLabels(metric.base.labelNames, plan);
  return op;
});

const nowOp: fc.Arbitrary<Op> = fc.record({
  view,
  plan: labelsPlan,
  which: fc.constantFrom("fz_depth", "fz_temperature_celsius"),
})
  .map(({ view, plan, which }): Op => {
    const op: Op = { t: "now", view, metric: which };
    if (which === "fz_depth") op.labels = buildLabels(["queue"], plan);
    return op;
  });

/** Options for {@link operations}. */
export interface OperationOptions {
  /** Include shares, attaches and detaches of in-thread views. */
  threads: boolean;
  /** Include remove(), clear(), reset(), registry.remove() and registry.clear() (single-view runs only). */
  lifecycle: boolean;
  /** Include collect hooks (off where renders must be stable, as under a real scrape). */
  hooks: boolean;
  /** Include timers and setToCurrentTime (values known only after the call). */
  clocks: boolean;
}

/** One operation on the main thread or an attached view. */
export function operation(options: OperationOptions): fc.Arbitrary<Op> {
  const items: fc.WeightedArbitrary<Op>[] = [
    { weight: 14, arbitrary: registration },
    { weight: 36, arbitrary: recording },
    { weight: 9, arbitrary: binding },
    { weight: 12, arbitrary: seriesCall },
    { weight: 5, arbitrary: getting },
    {
      weight: 3,
      arbitrary: fc.record({ view, format: fc.constantFrom("prometheus" as const, "openmetrics" as const) }).map((
        r,
      ): Op => ({ t: "render", ...r })),
    },
    { weight: 1, arbitrary: view.map((v): Op => ({ t: "collect", view: v })) },
    {
      weight: 2,
      arbitrary: fc.record({
        view,
        format: fc.constantFrom("prometheus" as const, "openmetrics" as const),
        collect: fc.boolean(),
      }).map((r): Op => ({ t: "stream", ...r })),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        view,
        name: fc.oneof(
          fc.constantFrom(...POOL.map((b) => b.name), "atomic_metrics_series", "nope").map((v): V => ({ $: "s", v })),
          nastyString,
        ),
      }).map((r): Op => ({ t: "regget", ...r })),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        view,
        metric: fc.constantFrom(...POOL.map((b) => b.name)),
        count: fc.integer({ min: 1, max: 300 }),
        long: fc.boolean(),
      }).map((r): Op => ({ t: "burst", ...r })),
    },
  ];
  if (options.clocks) {
    items.push({ weight: 3, arbitrary: timerStart }, { weight: 3, arbitrary: timerEnd }, {
      weight: 1,
      arbitrary: nowOp,
    });
  }
  if (options.hooks) {
    items.push(
      {
        weight: 1,
        arbitrary: fc.record({ view, metric: fc.constantFrom(...POOL.map((b) => b.name)) }).map((r): Op => ({
          t: "hook",
          ...r,
        })),
      },
      { weight: 1, arbitrary: fc.record({ view, index: fc.nat(2) }).map((r): Op => ({ t: "unhook", ...r })) },
    );
  }
  if (options.lifecycle) {
    const name = fc.constantFrom(...POOL.map((b) => b.name));
    items.push(
      {
        weight: 2,
        arbitrary: fc.record({ view, metric: metricArb(), plan: labelsPlan, none: fc.nat(6) }).map((
          { view, metric, plan, none },
        ): Op => {
          const op: Op = { t: "remove", view, metric: metric.base.name };
          if (none !== 0) op.labels = buildLabels(metric.base.labelNames, plan);
          return op;
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({ view, metric: name, reset: fc.boolean() }).map((r): Op => ({ t: "clear", ...r })),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          view,
          name: fc.oneof(
            { weight: 6, arbitrary: name.map((v): V => ({ $: "s", v })) },
            {
              weight: 1,
              arbitrary: fc.constantFrom<V>(
                { $: "s", v: "atomic_metrics_series" },
                { $: "s", v: "nope" },
                { $: "null" },
                { $: "n", v: 1 },
              ),
            },
          ),
        }).map((r): Op => ({ t: "regremove", ...r })),
      },
      {
        weight: 1,
        arbitrary: fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7, 8, 9).map((k): Op =>
          k === 0 ? { t: "regclear", view: 0 } : { t: "collect", view: 0 }
        ),
      },
    );
  }
  if (options.threads) {
    items.push(
      { weight: 1, arbitrary: fc.constant<Op>({ t: "share" }) },
      {
        weight: 2,
        arbitrary: fc.option(fc.constantFrom(...PROVIDER_NAMES), { freq: 2 }).map((p): Op =>
          p === null ? { t: "attach" } : { t: "attach", exemplars: p }
        ),
      },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }).map((v): Op => ({ t: "detach", view: v })) },
    );
  }
  return fc.oneof(...items);
}

/** A batch for a worker: registrations and recordings, run in the worker's own attached view. */
export function workerTask(): fc.Arbitrary<Op> {
  const inWorker = fc.oneof(
    { weight: 2, arbitrary: registration },
    { weight: 6, arbitrary: recording },
    { weight: 2, arbitrary: binding },
    { weight: 3, arbitrary: seriesCall },
    { weight: 1, arbitrary: getting },
  ).map((op): Op => ("view" in op ? { ...op, view: 0 } : op) as Op);
  return fc.record({
    worker: fc.nat(1),
    exemplars: fc.option(fc.constantFrom(...PROVIDER_NAMES), { freq: 2 }),
    detach: fc.boolean(),
    ops: fc.array(inWorker, { maxLength: 25 }),
  }).map(({ worker, exemplars, detach, ops }): Op => {
    const op: Op = { t: "worker", worker, detach, ops };
    if (exemplars !== null) op.exemplars = exemplars;
    return op;
  });
}

// --- Running operations -------------------------------------------------------------

/** One registry view (the main registry or one attached to it) and what operations kept from it. */
export interface Env {
  registry: Registry;
  /** Families this view got from a registration, by name. */
  families: Map<string, unknown>;
  handles: (unknown | undefined)[];
  timers: (((labels?: unknown) => number) | undefined)[];
  removers: (() => void)[];
}

export function newEnv(registry: Registry): Env {
  return { registry, families: new Map(), handles: [], timers: [], removers: [] };
}

// deno-lint-ignore no-explicit-any
type Any = any;

/** The family of a metric as this view sees it, or undefined. */
function familyOf(env: Env, name: string): Any {
  return env.families.get(name) ?? env.registry.get(name);
}

/** The collect hook a registration installs: records the hook value on the label set "hook". */
export function collectHook(type: MetricType, labelNames: readonly string[]): (family: Any) => void {
  const labels = Object.fromEntries(labelNames.map((n) => [n, HOOK_LABEL]));
  const value = HOOK_VALUE[type];
  switch (type) {
    case "counter":
      return (family) => family.inc(labels, value);
    case "gauge":
      return (family) => family.set(labels, value);
    default:
      return (family) => family.observe(labels, value);
  }
}

/** Registration options from the descriptor, with the functions a descriptor cannot carry. */
export function registrationOptions(op: Extract<Op, { t: "reg" }>): unknown {
  const options = materialize(op.options);
  if (options === null || typeof options !== "object") return options;
  const record = options as Record<string, unknown>;
  if (op.exemplars !== undefined) record.exemplars = op.exemplars === false ? false : provider(op.exemplars);
  if (op.collect) {
    const names = Array.isArray(record.labelNames) ? record.labelNames.map(String) : [];
    record.collect = collectHook(op.type, names);
  }
  return options;
}

/** Runs one operation (not share, attach, detach or worker: the caller does those). */
export function execute(env: Env, op: Op): Outcome {
  try {
    return run(env, op);
  } catch (error) {
    if (error instanceof Error) return { ok: false, name: error.name, message: error.message };
    return { ok: false, name: "(not an Error)", message: String(error) };
  }
}

function run(env: Env, op: Op): Outcome {
  switch (op.t) {
    case "reg": {
      const options = registrationOptions(op);
      const known = env.families.get(typeof (options as Any)?.name === "string" ? (options as Any).name : "");
      const family = (env.registry as Any)[op.type](options);
      env.families.set(family.name, family);
      return { ok: true, result: { same: known === undefined ? undefined : known === family, name: family.name } };
    }
    case "rec": {
      const family = familyOf(env, op.metric);
      if (family === undefined) return { skipped: "not registered" };
      if (typeof family[op.method] !== "function") return { skipped: "no such method" };
      family[op.method](...op.args.map(materialize));
      return { ok: true };
    }
    case "bind": {
      const family = familyOf(env, op.metric);
      if (family === undefined) return { skipped: "not registered" };
      env.handles[op.slot] = family.labels(materialize(op.labels));
      return { ok: true };
    }
    case "ser": {
      const handle = env.handles[op.slot] as Any;
      if (handle === undefined) return { skipped: "no handle" };
      if (op.method === "get") {
        if (typeof handle.count === "function") {
          return { ok: true, result: { count: handle.count(), sum: handle.sum() } };
        }
        return { ok: true, result: handle.get() };
      }
      if (typeof handle[op.method] !== "function") return { skipped: "no such method" };
      const before = Date.now() / 1000;
      handle[op.method](...op.args.map(materialize));
      if (op.method === "setToCurrentTime") {
        return { ok: true, result: { before, after: Date.now() / 1000, read: handle.get() } };
      }
      return { ok: true };
    }
    case "tstart": {
      let end: (labels?: unknown) => number;
      if (op.bound !== undefined) {
        const handle = env.handles[op.bound] as Any;
        if (handle === undefined) return { skipped: "no handle" };
        if (typeof handle.startTimer !== "function") return { skipped: "no such method" };
        end = handle.startTimer();
      } else {
        const family = familyOf(env, op.metric);
        if (family === undefined) return { skipped: "not registered" };
        if (typeof family.startTimer !== "function") return { skipped: "no such method" };
        end = op.labels === undefined ? family.startTimer() : family.startTimer(materialize(op.labels));
      }
      env.timers[op.slot] = end;
      return { ok: true };
    }
    case "tend": {
      const end = env.timers[op.slot];
      if (end === undefined) return { skipped: "no timer" };
      env.timers[op.slot] = undefined;
      return { ok: true, result: op.labels === undefined ? end() : end(materialize(op.labels)) };
    }
    case "get": {
      const family = familyOf(env, op.metric);
      if (family === undefined) return { skipped: "not registered" };
      return { ok: true, result: op.labels === undefined ? family.get() : family.get(materialize(op.labels)) };
    }
    case "now": {
      const family = familyOf(env, op.metric);
      if (family === undefined) return { skipped: "not registered" };
      if (typeof family.setToCurrentTime !== "function") return { skipped: "no such method" };
      const before = Date.now() / 1000;
      const labels = op.labels === undefined ? undefined : materialize(op.labels);
      family.setToCurrentTime(labels);
      const after = Date.now() / 1000;
      return { ok: true, result: { before, after, read: family.get(labels) } };
    }
    case "render":
      return { ok: true, result: env.registry.render(op.format) };
    case "collect":
      return { ok: true, result: env.registry.collect() };
    case "hook": {
      const family = familyOf(env, op.metric);
      if (family === undefined) return { skipped: "not registered" };
      const type = family.definition?.type as MetricType;
      const hook = collectHook(type, family.labelNames);
      env.removers.push(env.registry.beforeCollect(() => hook(family)));
      return { ok: true };
    }
    case "unhook": {
      const remove = env.removers[op.index];
      if (remove === undefined) return { skipped: "no hook" };
      remove();
      env.removers.splice(op.index, 1);
      return { ok: true };
    }
    case "regget": {
      const family = env.registry.get(materialize(op.name) as string) as Any;
      return {
        ok: true,
        result: family === undefined ? undefined : { name: family.name, type: family.definition?.type },
      };
    }
    case "remove": {
      const family = familyOf(env, op.metric);
      if (family === undefined) return { skipped: "not registered" };
      return { ok: true, result: op.labels === undefined ? family.remove() : family.remove(materialize(op.labels)) };
    }
    case "clear": {
      const family = familyOf(env, op.metric);
      if (family === undefined) return { skipped: "not registered" };
      if (op.reset) family.reset();
      else family.clear();
      return { ok: true };
    }
    case "regremove":
      return { ok: true, result: env.registry.remove(materialize(op.name) as string) };
    case "regclear":
      env.registry.clear();
      return { ok: true };
    case "burst": {
      const family = familyOf(env, op.metric);
      if (family === undefined) return { skipped: "not registered" };
      const names: string[] = family.labelNames;
      if (names.length === 0) return { skipped: "no labels" };
      const type = family.definition?.type as MetricType;
      for (let i = 0; i < op.count; i++) {
        const labels = Object.fromEntries(names.map((n, j) => [n, burstValue(i, j, op.long)]));
        if (type === "counter") family.inc(labels, 1);
        else if (type === "gauge") family.set(labels, 1);
        else if (type === "histogram") family.observe(labels, 0.5);
        else family.observe(labels, 1);
      }
      return { ok: true };
    }
    default:
      return { skipped: `${op.t} is run by the caller` };
  }
}

/** The value of label `j` in a burst's `i`-th label set: unique in the first label. */
export function burstValue(i: number, j: number, long: boolean): string {
  const stem = long ? "b".repeat(1000) : "b";
  return j === 0 ? `${stem}${i}` : "b";
}

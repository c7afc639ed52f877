// The API fuzzer's model: the contract of the public API written as plainly as possible.
// It judges each operation's outcome (did the call succeed as the contract says, or throw
// a clear error of the right class?), then applies a success to its own state, so that a
// render, a collect() or a get() can be compared with what the registry must hold.

import assert from "node:assert/strict";
import { type ParsedFamily, parseExposition } from "../_parse.ts";
import {
  type Base,
  burstValue,
  HOOK_LABEL,
  HOOK_VALUE,
  type MetricType,
  type Op,
  type Outcome,
  PROVIDED,
  type ProviderName,
} from "./_ops.ts";
import { isWellFormed, materialize, show, type V } from "./_values.ts";

/** The registry options a run starts from. */
export interface Config {
  maxSeries: number;
  maxThreads: number;
  exemplars?: ProviderName;
  selfMetrics: boolean;
}

interface Def {
  type: MetricType;
  name: string;
  help: string;
  unit: string;
  labelNames: string[];
  buckets?: number[];
  quantiles?: number[];
  maxAgeSeconds?: number;
  ageBuckets?: number;
}

/** A series as the model keeps it. */
interface SeriesModel {
  metric: MetricModel;
  values: string[];
  overflow: boolean;
  /** Removed (remove, clear, the metric removed): handles to it revive or go nowhere. */
  dead: boolean;
  /** Counter or gauge value; undefined once it is not known (a clock was read into an overflow series). */
  value: number | undefined;
  /** Histogram: observations per bucket (not cumulative), `+Inf` last. */
  buckets: number[];
  count: number;
  sum: number;
  /** Views that recorded into it: with more than one, float sums depend on the order of shards. */
  writers: Set<number>;
  /** Sum of magnitudes recorded, the scale of the rounding another order may cause. */
  scale: number;
  /** The last exemplar kept, by view, then by bucket (-1 for a counter). */
  exemplars: Map<number, Map<number, { labels: Record<string, string>; value: number }>>;
}

/** A registered metric: one instance per registration (a name removed and registered again is another). */
interface MetricModel {
  def: Def;
  self: boolean;
  removed: boolean;
  series: Map<string, SeriesModel>;
  overflow: SeriesModel | undefined;
  /** Folds into the current overflow series (it shows once this is not 0). */
  folds: number;
  /** Folds since registration, as the overflow self-metric counts them. */
  foldsTotal: number;
}

/** A bound series as a view holds it: the metric, the series it points at, the label values it was bound with. */
interface Handle {
  metric: MetricModel;
  ref: SeriesModel;
  values: string[];
}

interface Timer {
  metric: MetricModel;
  /** Labels given at the start (materialized), for a family's timer. */
  start: unknown;
  /** The start labels were wrong: the end must throw (if the start did not). */
  startInvalid: boolean;
  /** A bound series' timer. */
  bound?: Handle;
}

interface ViewModel {
  id: number;
  defaultProvider: ProviderName | undefined;
  /** The exemplar provider of each metric in this view, once a registration here set it. */
  providers: Map<MetricModel, ProviderName | undefined>;
  /** The family objects this view got from registrations, by name (the executor's `families`). */
  families: Map<string, MetricModel>;
  collectHooks: Map<MetricModel, string[]>;
  registryHooks: MetricModel[];
  handles: (Handle | undefined)[];
  timers: (Timer | undefined)[];
}

type Kind = "type" | "range" | "error";

/** A sample a render must show (or, when optional, may leave out for good). */
interface Expected {
  /** Undefined: any value. */
  value: number | undefined;
  series: SeriesModel | undefined;
  optional: boolean;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const DEFAULT_QUANTILES = [0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999];
const MAX_LABEL_VALUE = 1024;
const SELF = {
  series: "atomic_metrics_series",
  maxSeries: "atomic_metrics_max_series",
  overflow: "atomic_metrics_overflow_observations_total",
  dropped: "atomic_metrics_exemplars_dropped_total",
};
/** Self-metrics the model checks; any other `atomic_metrics_*` metric is the registry's business. */
const CHECKED_SELF = new Set(Object.values(SELF));
/** What an error from the engine rather than from the library looks like. */
const ENGINE_ERROR =
  /Cannot read propert|Cannot convert|is not a function|Cannot mix BigInt|is not iterable|Maximum call stack|call stack size|\(evaluating '|Invalid array length|Cannot create property|is not a constructor|Invalid time value|\[object |BigInt value can't/;

function isValidLabelName(name: unknown): boolean {
  return typeof name === "string" && LABEL_NAME.test(name) && !name.startsWith("__");
}

function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

function formatValue(value: number): string {
  return value === Infinity ? "+Inf" : value === -Infinity ? "-Inf" : String(value);
}

/** The key of a sample: its name and its labels, sorted. */
export function sampleKey(name: string, labels: Record<string, string>): string {
  return name + JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}

function namesOf(type: MetricType, name: string): string[] {
  const suffixes: Record<MetricType, string[]> = {
    counter: ["_total", "_created"],
    gauge: [],
    histogram: ["_bucket", "_count", "_sum", "_created"],
    summary: ["_count", "_sum", "_created"],
  };
  const base = type === "counter" && name.endsWith("_total") ? name.slice(0, -6) : name;
  return [name, base, ...suffixes[type].map((s) => base + s)];
}

function sameList(a: readonly unknown[] | undefined, b: readonly unknown[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
}

const METHODS: Record<MetricType, string[]> = {
  counter: ["inc", "get"],
  gauge: ["set", "inc", "dec", "setToCurrentTime", "get", "startTimer"],
  histogram: ["observe", "get", "startTimer"],
  summary: ["observe", "get", "startTimer"],
};

/**
 * A value a recording adds or sets, or the classes of error the call may throw. `mayRefuse`: the
 * contract leaves the library free to refuse it instead, with that class of error.
 */
type Verdict<T> = { ok: T; mayRefuse?: Kind } | { fail: Set<Kind>; missingProto?: boolean };

type Action = "add" | "set" | "observe";

export class Model {
  readonly config: Config;
  /** Registered metrics by name (the current instance of each name). */
  readonly metrics = new Map<string, MetricModel>();
  /** Every instance in registration order (journal order): the order collect hooks run in. */
  private readonly order: MetricModel[] = [];
  private readonly taken = new Map<string, string>();
  seriesCount = 0;
  dropped = 0;
  private readonly views: (ViewModel | undefined)[] = [];
  threadsUsed = 1;
  released = 0;
  /** The series the last recording or binding aimed at, for a probe through get(). */
  lastTarget: { metric: string; values: string[] } | undefined;
  /** The last value of every counter, bucket and count sample rendered. */
  private readonly previous = new Map<string, number>();
  /** Whether `_sum`/`_count` showed in earlier OpenMetrics renders, by series. */
  private readonly omPresence = new Map<string, boolean>();
  /** What the self-metric gauges' collect hooks last set (stream() alone runs no hooks). */
  private seriesAtSelfHook = 0;
  private maxSeriesAtSelfHook = 0;

  constructor(config: Config) {
    this.config = config;
    this.addView(config.exemplars);
    if (config.selfMetrics) {
      this.define({ type: "gauge", name: SELF.series, help: "", unit: "", labelNames: [] }, true);
      this.define({ type: "gauge", name: SELF.maxSeries, help: "", unit: "", labelNames: [] }, true);
      this.define({ type: "counter", name: SELF.overflow, help: "", unit: "", labelNames: ["metric"] }, true);
      this.define({ type: "counter", name: SELF.dropped, help: "", unit: "", labelNames: [] }, true);
    }
  }

  /** A new view (the main registry first, then attached ones); returns its id. */
  addView(defaultProvider: ProviderName | undefined): number {
    const id = this.views.length;
    this.views.push({
      id,
      defaultProvider,
      providers: new Map(),
      families: new Map(),
      collectHooks: new Map(),
      registryHooks: [],
      handles: [],
      timers: [],
    });
    return id;
  }

  private view(id: number): ViewModel {
    const v = this.views[id];
    if (v === undefined) throw new Error(`no view ${id}`);
    return v;
  }

  /** The metric instance an operation in a view reaches by name: the one it registered, else the registry's. */
  private reach(view: ViewModel, name: string): MetricModel | undefined {
    return view.families.get(name) ?? this.metrics.get(name);
  }

  // --- Judging outcomes ----------------------------------------------------------------

  private succeeded(outcome: Outcome, what: string): asserts outcome is { ok: true; result?: unknown } {
    if ("skipped" in outcome) assert.fail(`${what}: expected the call to run, but it was skipped (${outcome.skipped})`);
    if (!outcome.ok) assert.fail(`${what}: expected success, got ${outcome.name}: ${outcome.message}`);
  }

  /** The outcome must be a clear error of one of the kinds, naming the metric. */
  private failed(
    outcome: Outcome,
    what: string,
    kinds: Set<Kind>,
    metric: string | undefined,
    missingProto = false,
  ): void {
    if ("skipped" in outcome) assert.fail(`${what}: expected an error, but the call was skipped (${outcome.skipped})`);
    if (outcome.ok) assert.fail(`${what}: expected ${[...kinds].join(" or ")} error, but the call succeeded`);
    const allowed = new Set<string>();
    if (kinds.has("type")) allowed.add("TypeError");
    if (kinds.has("range")) allowed.add("RangeError");
    if (kinds.has("error")) ["Error", "TypeError", "RangeError"].forEach((n) => allowed.add(n));
    assert.ok(
      allowed.has(outcome.name),
      `${what}: expected ${[...allowed].join(" or ")}, got ${outcome.name}: ${outcome.message}`,
    );
    assertClear(outcome.message, what, metric);
    if (missingProto) {
      assert.ok(
        !/function/.test(outcome.message),
        `${what}: a missing label named after an Object.prototype key must be reported as missing: ${outcome.message}`,
      );
    }
  }

  private skipped(outcome: Outcome, what: string): void {
    assert.ok("skipped" in outcome, `${what}: expected the call to be skipped, got ${JSON.stringify(outcome)}`);
  }

  /** Whether the call refused, as the verdict allows, a value it may also take (then nothing changed). */
  private refusedAsAllowed(outcome: Outcome, verdict: { mayRefuse?: Kind }, what: string, metric: string): boolean {
    if (verdict.mayRefuse === undefined || "skipped" in outcome || outcome.ok) return false;
    this.failed(outcome, what, new Set([verdict.mayRefuse]), metric);
    return true;
  }

  /** A call on a metric that was removed from the registry: it may refuse (clearly) or do nothing. */
  private orphanCall(outcome: Outcome, what: string, metric: MetricModel): void {
    if ("skipped" in outcome) assert.fail(`${what}: a call on a removed metric was skipped (${outcome.skipped})`);
    if (!outcome.ok) assertClear(outcome.message, what, metric.def.name);
  }

  /** Judges one operation's outcome and applies it. `viewId` is the view it ran in. */
  judge(viewId: number, op: Op, outcome: Outcome): void {
    this.lastTarget = undefined;
    const view = this.view(viewId);
    const what = `${describe(op)} (view ${viewId})`;
    switch (op.t) {
      case "reg":
        return this.judgeRegistration(view, op, outcome, what);
      case "rec":
        return this.judgeRecord(view, op, outcome, what);
      case "bind":
        return this.judgeBind(view, op, outcome, what);
      case "ser":
        return this.judgeSeries(view, op, outcome, what);
      case "tstart":
        return this.judgeTimerStart(view, op, outcome, what);
      case "tend":
        return this.judgeTimerEnd(view, op, outcome, what);
      case "get":
        return this.judgeGet(view, op, outcome, what);
      case "now":
        return this.judgeNow(view, op, outcome, what);
      case "remove":
        return this.judgeRemove(view, op, outcome, what);
      case "clear": {
        const metric = this.reach(view, op.metric);
        if (metric === undefined) return this.skipped(outcome, what);
        if (metric.removed) return this.orphanCall(outcome, what, metric);
        this.succeeded(outcome, what);
        this.clearMetric(metric);
        return;
      }
      case "regremove": {
        this.succeeded(outcome, what);
        const name = materialize(op.name);
        const metric = typeof name === "string" ? this.metrics.get(name) : undefined;
        const removable = metric !== undefined && !metric.self && !metric.def.name.startsWith("atomic_metrics_");
        assert.equal(outcome.result, removable, `${what}: registry.remove() says whether it removed a metric`);
        if (removable) this.removeMetric(metric);
        return;
      }
      case "regclear":
        this.succeeded(outcome, what);
        for (const metric of [...this.metrics.values()]) if (!metric.self) this.removeMetric(metric);
        return;
      case "hook": {
        const metric = this.reach(view, op.metric);
        if (metric === undefined) return this.skipped(outcome, what);
        this.succeeded(outcome, what);
        view.registryHooks.push(metric);
        return;
      }
      case "unhook":
        if (op.index >= view.registryHooks.length) return this.skipped(outcome, what);
        this.succeeded(outcome, what);
        view.registryHooks.splice(op.index, 1);
        return;
      case "regget": {
        this.succeeded(outcome, what);
        const name = materialize(op.name);
        const metric = typeof name === "string" ? this.metrics.get(name) : undefined;
        assert.deepEqual(
          outcome.result,
          metric === undefined ? undefined : { name: metric.def.name, type: metric.def.type },
          what,
        );
        return;
      }
      case "burst": {
        const metric = this.reach(view, op.metric);
        if (metric === undefined || metric.def.labelNames.length === 0) return this.skipped(outcome, what);
        if (metric.removed) return this.orphanCall(outcome, what, metric);
        this.succeeded(outcome, what);
        const type = metric.def.type;
        for (let i = 0; i < op.count; i++) {
          const values = metric.def.labelNames.map((_, j) => burstValue(i, j, op.long));
          const action: Action = type === "gauge" ? "set" : type === "counter" ? "add" : "observe";
          this.recordValues(view, metric, values, action, type === "histogram" ? 0.5 : 1, undefined);
        }
        return;
      }
      case "stream":
        this.succeeded(outcome, what);
        // stream() runs no hooks; collectAsync() before it runs them all.
        if (op.collect) this.runHooks(view);
        this.checkRender(view, outcome.result as string, op.format === "openmetrics", what);
        return;
      case "render":
      case "collect":
        this.succeeded(outcome, what);
        this.runHooks(view);
        if (op.t === "render") this.checkRender(view, outcome.result as string, op.format === "openmetrics", what);
        else this.checkCollect(outcome.result, what);
        return;
      default:
        throw new Error(`the model does not judge ${op.t}`);
    }
  }

  // --- Registration and removal ---------------------------------------------------------------

  private judgeRegistration(view: ViewModel, op: Extract<Op, { t: "reg" }>, outcome: Outcome, what: string): void {
    const options = materialize(op.options);
    const verdict = validateDefinition(op.type, options);
    const rawName = (options as { name?: unknown } | null)?.name;
    const simpleName = typeof rawName === "string" && /^[a-zA-Z0-9_:]{1,200}$/.test(rawName) ? rawName : undefined;
    if ("fail" in verdict) return this.failed(outcome, what, verdict.fail, simpleName);
    const def = verdict.ok;
    const existing = this.metrics.get(def.name);
    let refusal: string | undefined;
    if (existing !== undefined) {
      if (!sameDefinition(existing.def, def)) refusal = "is already registered with another definition";
    } else {
      for (const taken of namesOf(def.type, def.name)) {
        const owner = this.taken.get(taken);
        if (owner !== undefined) refusal = `clashes with ${owner}`;
      }
    }
    if (refusal !== undefined) return this.failed(outcome, `${what} (${refusal})`, new Set(["error"]), simpleName);
    this.succeeded(outcome, what);
    const result = outcome.result as { same?: boolean; name: string };
    assert.equal(result.name, def.name, `${what}: the registration returned another metric`);
    const metric = existing ?? this.define(def, false);
    if (view.families.get(def.name) === metric) {
      assert.notEqual(result.same, false, `${what}: registering the same definition again returned another object`);
    }
    view.families.set(def.name, metric);
    view.providers.set(
      metric,
      op.exemplars === false ? undefined : op.exemplars === undefined ? view.defaultProvider : op.exemplars,
    );
    if (op.collect) view.collectHooks.set(metric, def.labelNames);
  }

  private define(def: Def, self: boolean): MetricModel {
    const metric: MetricModel = {
      def,
      self,
      removed: false,
      series: new Map(),
      overflow: undefined,
      folds: 0,
      foldsTotal: 0,
    };
    this.metrics.set(def.name, metric);
    this.order.push(metric);
    for (const name of namesOf(def.type, def.name)) this.taken.set(name, def.name);
    if (def.labelNames.length === 0) {
      metric.series.set(keyOf([]), this.newSeries(metric, [], false));
      if (!self) this.seriesCount++;
    } else {
      metric.overflow = this.newSeries(metric, def.labelNames.map(() => "__overflow__"), true);
    }
    return metric;
  }

  private newSeries(metric: MetricModel, values: string[], overflow: boolean): SeriesModel {
    const def = metric.def;
    return {
      metric,
      values,
      overflow,
      dead: false,
      value: 0,
      buckets: def.type === "histogram" ? new Array((def.buckets?.length ?? 0) + 1).fill(0) : [],
      count: 0,
      sum: 0,
      writers: new Set(),
      scale: 0,
      exemplars: new Map(),
    };
  }

  private killSeries(metric: MetricModel, key: string, series: SeriesModel): void {
    series.dead = true;
    this.forgetPrevious(metric);
    metric.series.delete(key);
    if (!metric.self) this.seriesCount--;
  }

  private judgeRemove(view: ViewModel, op: Extract<Op, { t: "remove" }>, outcome: Outcome, what: string): void {
    const metric = this.reach(view, op.metric);
    if (metric === undefined) return this.skipped(outcome, what);
    if (metric.removed) return this.orphanCall(outcome, what, metric);
    const labels = labelsRule(metric.def.labelNames, op.labels === undefined ? {} : materialize(op.labels));
    if ("fail" in labels) return this.failed(outcome, what, labels.fail, op.metric, labels.missingProto);
    this.succeeded(outcome, what);
    const key = keyOf(labels.ok);
    const series = metric.series.get(key);
    assert.equal(outcome.result, series !== undefined, `${what}: remove() says whether the series existed`);
    if (series !== undefined) this.killSeries(metric, key, series);
  }

  /** clear() and reset(): every series goes; a labelled metric gets a fresh overflow series, an unlabelled one its 0. */
  private clearMetric(metric: MetricModel): void {
    for (const [key, series] of [...metric.series]) this.killSeries(metric, key, series);
    if (metric.def.labelNames.length === 0) {
      metric.series.set(keyOf([]), this.newSeries(metric, [], false));
      if (!metric.self) this.seriesCount++;
    } else {
      metric.overflow!.dead = true;
      metric.overflow = this.newSeries(metric, metric.def.labelNames.map(() => "__overflow__"), true);
      metric.folds = 0;
      this.forgetPrevious(metric);
    }
  }

  private removeMetric(metric: MetricModel): void {
    for (const [key, series] of [...metric.series]) this.killSeries(metric, key, series);
    if (metric.overflow !== undefined) metric.overflow.dead = true;
    metric.removed = true;
    this.forgetPrevious(metric);
    this.metrics.delete(metric.def.name);
    for (const [name, owner] of [...this.taken]) if (owner === metric.def.name) this.taken.delete(name);
    for (const view of this.views) view?.collectHooks.delete(metric);
  }

  // --- Recording ---------------------------------------------------------------------------

  /**
   * The series a valid label set records into: its own, a new one, or the overflow series past
   * maxSeries (a metric without labels always gets its series).
   */
  private seriesFor(metric: MetricModel, values: string[]): SeriesModel {
    const key = keyOf(values);
    const found = metric.series.get(key);
    if (found !== undefined) return found;
    const labelled = values.length > 0;
    if (labelled && this.seriesCount >= this.config.maxSeries && !metric.self) return metric.overflow!;
    const series = this.newSeries(metric, values, false);
    metric.series.set(key, series);
    if (!metric.self) this.seriesCount++;
    return series;
  }

  /** A write through a bound series: into its series, brought back if it was removed; nowhere if the metric was. */
  private resolveHandle(handle: Handle): SeriesModel | undefined {
    if (handle.metric.removed) return undefined;
    if (handle.ref.dead) {
      handle.ref = handle.ref.overflow ? handle.metric.overflow! : this.seriesFor(handle.metric, handle.values);
    }
    return handle.ref;
  }

  /** Applies a checked recording to a series, with its exemplar (argument or provider). */
  private write(view: ViewModel, series: SeriesModel, action: Action, value: number, exemplar: unknown): void {
    const metric = series.metric;
    if (series.overflow) {
      metric.folds++;
      metric.foldsTotal++;
    }
    series.writers.add(view.id);
    series.scale += Math.abs(value);
    if (action === "set") series.value = value;
    else if (action === "add") series.value = series.value === undefined ? undefined : series.value + value;
    else {
      if (metric.def.type === "histogram") series.buckets[bucketOf(metric.def.buckets!, value)]!++;
      series.count++;
      series.sum += value;
    }
    if (metric.def.type === "counter" || metric.def.type === "histogram") {
      const bucket = metric.def.type === "histogram" ? bucketOf(metric.def.buckets!, value) : -1;
      this.exemplar(view, series, bucket, value, exemplar);
    }
  }

  private recordValues(
    view: ViewModel,
    metric: MetricModel,
    values: string[],
    action: Action,
    value: number,
    exemplar: unknown,
  ): SeriesModel | undefined {
    if (metric.removed) return undefined;
    const series = this.seriesFor(metric, values);
    this.write(view, series, action, value, exemplar);
    return series;
  }

  /** An exemplar argument or the provider's answer: kept when valid, otherwise dropped and counted. */
  private exemplar(view: ViewModel, series: SeriesModel, bucket: number, value: number, given: unknown): void {
    let labels: unknown = given;
    if (given === undefined) {
      const name = view.providers.has(series.metric) ? view.providers.get(series.metric) : view.defaultProvider;
      if (name === undefined || name === "none") return;
      if (name !== "ok") {
        this.dropped++;
        return;
      }
      labels = { ...PROVIDED };
    }
    const valid = validExemplar(labels);
    if (valid === undefined) {
      this.dropped++;
      return;
    }
    let byBucket = series.exemplars.get(view.id);
    if (byBucket === undefined) series.exemplars.set(view.id, byBucket = new Map());
    byBucket.set(bucket, { labels: valid, value });
  }

  /** What a call's arguments mean: the labels (or none), the value, the exemplar. */
  private callArgs(type: MetricType, args: unknown[]): { labels: unknown; value: unknown; exemplar: unknown } {
    const [a0, a1, a2] = args;
    const exemplars = type === "counter" || type === "histogram";
    if (typeof a0 === "object") return { labels: a0, value: a1, exemplar: exemplars ? a2 : undefined };
    return { labels: {}, value: a0, exemplar: exemplars ? a1 : undefined };
  }

  private judgeRecord(view: ViewModel, op: Extract<Op, { t: "rec" }>, outcome: Outcome, what: string): void {
    const metric = this.reach(view, op.metric);
    if (metric === undefined) return this.skipped(outcome, what);
    const type = metric.def.type;
    if (!METHODS[type].includes(op.method)) return this.skipped(outcome, what);
    if (metric.removed) return this.orphanCall(outcome, what, metric);
    // Parameters a call does not take are ignored (summary.observe's third, gauge.set's third).
    const call = this.callArgs(type, op.args.map(materialize));
    const value = valueRule(metric.def, op.method, call.value);
    const labels = labelsRule(metric.def.labelNames, call.labels);
    if ("fail" in value || "fail" in labels) {
      const kinds = new Set<Kind>([...("fail" in value ? value.fail : []), ...("fail" in labels ? labels.fail : [])]);
      const missingProto = "fail" in labels && labels.missingProto === true && !("fail" in value);
      return this.failed(outcome, what, kinds, op.metric, missingProto);
    }
    if (this.refusedAsAllowed(outcome, value, what, op.metric)) return;
    this.succeeded(outcome, what);
    const series = this.recordValues(view, metric, labels.ok, value.ok.action, value.ok.value, call.exemplar);
    if (series !== undefined && !series.overflow) this.lastTarget = { metric: op.metric, values: labels.ok };
  }

  private judgeBind(view: ViewModel, op: Extract<Op, { t: "bind" }>, outcome: Outcome, what: string): void {
    const metric = this.reach(view, op.metric);
    if (metric === undefined) return this.skipped(outcome, what);
    if (metric.removed) {
      this.orphanCall(outcome, what, metric);
      if ("ok" in outcome && outcome.ok) {
        view.handles[op.slot] = { metric, ref: metric.overflow ?? this.newSeries(metric, [], false), values: [] };
      }
      return;
    }
    const labels = labelsRule(metric.def.labelNames, materialize(op.labels));
    // The executor sets the slot only when labels() returns.
    if ("fail" in labels) return this.failed(outcome, what, labels.fail, op.metric, labels.missingProto);
    this.succeeded(outcome, what);
    const series = this.seriesFor(metric, labels.ok);
    view.handles[op.slot] = { metric, ref: series, values: labels.ok };
    if (!series.overflow) this.lastTarget = { metric: op.metric, values: labels.ok };
  }

  private judgeSeries(view: ViewModel, op: Extract<Op, { t: "ser" }>, outcome: Outcome, what: string): void {
    const handle = view.handles[op.slot];
    if (handle === undefined) return this.skipped(outcome, what);
    const metric = handle.metric;
    const type = metric.def.type;
    if (!METHODS[type].includes(op.method)) return this.skipped(outcome, what);
    if (op.method === "get") {
      this.succeeded(outcome, what);
      // A removed series reads 0 until its handle writes again; a removed metric's handle is not read.
      if (metric.removed) return;
      const series = handle.ref.dead ? this.newSeries(metric, handle.values, false) : handle.ref;
      if (type === "counter" || type === "gauge") {
        this.compareNumber(outcome.result as number, series.value, series, what);
      } else {
        const got = outcome.result as { count: number; sum: number };
        assert.equal(got.count, series.count, `${what}: count`);
        this.compareNumber(got.sum, series.sum, series, `${what}: sum`);
      }
      return;
    }
    const args = op.args.map(materialize);
    if (op.method === "setToCurrentTime") {
      this.succeeded(outcome, what);
      const series = this.resolveHandle(handle);
      if (series === undefined) return;
      const { before, after, read } = outcome.result as { before: number; after: number; read: number };
      assert.ok(read >= before && read <= after, `${what}: setToCurrentTime set ${read}, not in [${before}, ${after}]`);
      this.write(view, series, "set", read, undefined);
      return;
    }
    const value = valueRule(metric.def, op.method, args[0]);
    if ("fail" in value) return this.failed(outcome, what, value.fail, metric.def.name);
    if (this.refusedAsAllowed(outcome, value, what, metric.def.name)) return;
    this.succeeded(outcome, what);
    const series = this.resolveHandle(handle);
    if (series === undefined) return;
    if (!series.overflow) this.lastTarget = { metric: metric.def.name, values: series.values };
    const exemplar = type === "counter" || type === "histogram" ? args[1] : undefined;
    this.write(view, series, value.ok.action, value.ok.value, exemplar);
  }

  // --- Timers -----------------------------------------------------------------------------

  private judgeTimerStart(view: ViewModel, op: Extract<Op, { t: "tstart" }>, outcome: Outcome, what: string): void {
    if (op.bound !== undefined) {
      const handle = view.handles[op.bound];
      if (handle === undefined) return this.skipped(outcome, what);
      if (!METHODS[handle.metric.def.type].includes("startTimer")) return this.skipped(outcome, what);
      this.succeeded(outcome, what);
      view.timers[op.slot] = { metric: handle.metric, start: undefined, startInvalid: false, bound: handle };
      return;
    }
    const metric = this.reach(view, op.metric);
    if (metric === undefined || !METHODS[metric.def.type].includes("startTimer")) return this.skipped(outcome, what);
    const start = op.labels === undefined ? undefined : materialize(op.labels);
    if (metric.removed) {
      this.orphanCall(outcome, what, metric);
      if ("ok" in outcome && outcome.ok) view.timers[op.slot] = { metric, start, startInvalid: false };
      return;
    }
    const rule = start === undefined ? { ok: [] } : partialLabelsRule(metric.def.labelNames, start);
    if ("fail" in rule) {
      // Wrong labels at the start: refused now, or at the latest when the timer ends.
      if (!("skipped" in outcome) && !outcome.ok) return this.failed(outcome, what, rule.fail, op.metric);
      this.succeeded(outcome, what);
      view.timers[op.slot] = { metric, start, startInvalid: true };
      return;
    }
    this.succeeded(outcome, what);
    view.timers[op.slot] = { metric, start, startInvalid: false };
  }

  private judgeTimerEnd(view: ViewModel, op: Extract<Op, { t: "tend" }>, outcome: Outcome, what: string): void {
    const timer = view.timers[op.slot];
    if (timer === undefined) return this.skipped(outcome, what);
    view.timers[op.slot] = undefined;
    const metric = timer.metric;
    const action: Action = metric.def.type === "gauge" ? "set" : "observe";
    if (timer.bound !== undefined) {
      this.succeeded(outcome, what);
      const seconds = checkSeconds(outcome.result, what);
      const series = this.resolveHandle(timer.bound);
      if (series !== undefined) this.write(view, series, action, seconds, undefined);
      return;
    }
    if (metric.removed) return this.orphanCall(outcome, what, metric);
    const end = op.labels === undefined ? undefined : materialize(op.labels);
    let merged: unknown = timer.start ?? {};
    let kinds: Set<Kind> | undefined;
    let missingProto = false;
    if (end !== undefined) {
      if (end === null || typeof end !== "object") kinds = new Set(["type"]);
      else merged = { ...(timer.start as object), ...end };
    }
    if (kinds === undefined) {
      const rule = labelsRule(metric.def.labelNames, merged);
      if ("fail" in rule) {
        kinds = rule.fail;
        missingProto = rule.missingProto === true;
      } else if (!timer.startInvalid) {
        this.succeeded(outcome, what);
        const seconds = checkSeconds(outcome.result, what);
        const series = this.recordValues(view, metric, rule.ok, action, seconds, undefined);
        if (series !== undefined && !series.overflow) this.lastTarget = { metric: metric.def.name, values: rule.ok };
        return;
      }
    }
    this.failed(outcome, what, kinds ?? new Set(["error"]), metric.def.name, missingProto && !timer.startInvalid);
  }

  // --- Reads --------------------------------------------------------------------------------

  private judgeGet(view: ViewModel, op: Extract<Op, { t: "get" }>, outcome: Outcome, what: string): void {
    const metric = this.reach(view, op.metric);
    if (metric === undefined) return this.skipped(outcome, what);
    if (metric.removed) return this.orphanCall(outcome, what, metric);
    const labels = labelsRule(metric.def.labelNames, op.labels === undefined ? {} : materialize(op.labels));
    if ("fail" in labels) return this.failed(outcome, what, labels.fail, op.metric, labels.missingProto);
    this.succeeded(outcome, what);
    this.checkGet(op.metric, labels.ok, outcome.result, what);
  }

  /** What `get(labels)` returned must be the series' value, or zeros for a label set with no series of its own. */
  checkGet(name: string, values: string[], got: unknown, what: string): void {
    const metric = this.metrics.get(name)!;
    const series = metric.series.get(keyOf(values));
    const type = metric.def.type;
    if (type === "counter" || type === "gauge") {
      if (series === undefined) assert.equal(got, 0, `${what}: get() of a label set with no series`);
      else this.compareNumber(got as number, series.value, series, `${what}: get()`);
      return;
    }
    const value = got as { count: number; sum: number; buckets?: number[] };
    assert.equal(value.count, series?.count ?? 0, `${what}: get().count`);
    if (series === undefined) assert.equal(value.sum, 0, `${what}: get().sum of a label set with no series`);
    else this.compareNumber(value.sum, series.sum, series, `${what}: get().sum`);
    if (type === "histogram" && value.buckets !== undefined) {
      const zeros = new Array(metric.def.buckets!.length + 1).fill(0);
      assert.deepEqual(value.buckets, cumulative(series?.buckets ?? zeros), `${what}: get().buckets`);
    }
  }

  private judgeNow(view: ViewModel, op: Extract<Op, { t: "now" }>, outcome: Outcome, what: string): void {
    const metric = this.reach(view, op.metric);
    if (metric === undefined || metric.def.type !== "gauge") return this.skipped(outcome, what);
    if (metric.removed) return this.orphanCall(outcome, what, metric);
    const labels = labelsRule(metric.def.labelNames, op.labels === undefined ? {} : materialize(op.labels));
    if ("fail" in labels) return this.failed(outcome, what, labels.fail, op.metric, labels.missingProto);
    this.succeeded(outcome, what);
    const { before, after, read } = outcome.result as { before: number; after: number; read: number };
    const series = this.recordValues(view, metric, labels.ok, "set", 0, undefined)!;
    if (series.overflow) {
      // The time went into the overflow series, which get() does not read: its value is not known now.
      series.value = undefined;
      return;
    }
    assert.ok(read >= before && read <= after, `${what}: setToCurrentTime set ${read}, not in [${before}, ${after}]`);
    series.value = read;
  }

  // --- Threads --------------------------------------------------------------------------------

  /** Judges an attach; returns the new view's id, or undefined when it was (rightly) refused. */
  judgeAttach(outcome: Outcome, exemplars: ProviderName | undefined, what: string): number | undefined {
    if (this.released > 0 || this.threadsUsed < this.config.maxThreads) {
      this.succeeded(outcome, what);
      if (this.released > 0) this.released--;
      else this.threadsUsed++;
      return this.addView(exemplars);
    }
    if ("skipped" in outcome || outcome.ok) {
      assert.fail(`${what}: all ${this.config.maxThreads} thread slots are taken, yet attach() succeeded`);
    }
    assert.equal(outcome.name, "Error", `${what}: ${outcome.message}`);
    assertClear(outcome.message, what, undefined);
    return undefined;
  }

  /** A view detached: its thread slot is free again. */
  detach(viewId: number): void {
    this.views[viewId] = undefined;
    this.released++;
  }

  /** A view that ran a worker's batch is gone once the batch is done; its slot stays taken unless it detached. */
  dropView(viewId: number): void {
    this.views[viewId] = undefined;
  }

  // --- Hooks and renders ----------------------------------------------------------------------

  /** Before a render or collect in a view: its beforeCollect hooks, then every metric's collect hook. */
  private runHooks(view: ViewModel): void {
    for (const metric of view.registryHooks) this.hookRecord(view, metric);
    for (const metric of this.order) {
      if (!metric.removed && view.collectHooks.has(metric)) this.hookRecord(view, metric);
    }
    // The registry's own hooks run last: atomic_metrics_series counts what the users' hooks made.
    this.seriesAtSelfHook = this.seriesCount;
    this.maxSeriesAtSelfHook = this.config.maxSeries;
  }

  private hookRecord(view: ViewModel, metric: MetricModel): void {
    const type = metric.def.type;
    const action: Action = type === "counter" ? "add" : type === "gauge" ? "set" : "observe";
    this.recordValues(view, metric, metric.def.labelNames.map(() => HOOK_LABEL), action, HOOK_VALUE[type], undefined);
  }

  /** What a render made outside the fuzzer's loop (a scrape) does first: view 0's collect hooks. */
  scrape(): void {
    this.runHooks(this.view(0));
  }

  /** The samples a render must hold, by sample key; summary quantiles apart (any value). */
  expectedSamples(om: boolean): { samples: Map<string, Expected>; quantiles: Set<string> } {
    const samples = new Map<string, Expected>();
    const quantiles = new Set<string>();
    for (const metric of this.metrics.values()) {
      const { def } = metric;
      const shown = [...metric.series.values()];
      if (metric.overflow !== undefined && metric.folds > 0) shown.push(metric.overflow);
      for (const series of shown) {
        const labels = this.labelsOf(series);
        const put = (name: string, extra: Record<string, string>, value: number | undefined, optional = false) =>
          samples.set(sampleKey(name, { ...labels, ...extra }), { value, series, optional });
        let value = series.value;
        if (def.name === SELF.series) value = this.seriesAtSelfHook;
        else if (def.name === SELF.maxSeries) value = this.maxSeriesAtSelfHook;
        else if (def.name === SELF.dropped) value = this.dropped;
        switch (def.type) {
          case "counter": {
            const base = def.name.endsWith("_total") ? def.name.slice(0, -6) : def.name;
            put(om ? base + "_total" : def.name, {}, value);
            break;
          }
          case "gauge":
            put(def.name, {}, value);
            break;
          case "histogram": {
            const bounds = def.buckets!;
            cumulative(series.buckets).forEach((c, i) =>
              put(def.name + "_bucket", { le: i < bounds.length ? formatValue(bounds[i]!) : "+Inf" }, c)
            );
            put(def.name + "_sum", {}, series.sum, om);
            put(def.name + "_count", {}, series.count, om);
            break;
          }
          case "summary":
            for (const q of def.quantiles!) quantiles.add(sampleKey(def.name, { ...labels, quantile: formatValue(q) }));
            put(def.name + "_sum", {}, series.sum, om);
            put(def.name + "_count", {}, series.count, om);
            break;
        }
      }
      if (def.labelNames.length > 0 && !metric.self && this.config.selfMetrics && def.name.length <= 1024) {
        // Every labelled metric has its series in the overflow self-metric from registration on
        // (but one whose name is longer than a label value may be: it has no such series).
        const key = sampleKey(SELF.overflow, { metric: def.name });
        samples.set(key, { value: metric.foldsTotal, series: undefined, optional: false });
      }
    }
    return { samples, quantiles };
  }

  /** A sample of a self-metric the model leaves to the registry (one it does not check, or such a metric's fold count). */
  untracked(sampleName: string, labels: Record<string, string>): boolean {
    if (!sampleName.startsWith("atomic_metrics_")) return false;
    if (!this.config.selfMetrics || !CHECKED_SELF.has(sampleName)) return true;
    return sampleName === SELF.overflow && (labels.metric ?? "").startsWith("atomic_metrics_");
  }

  private labelsOf(series: SeriesModel): Record<string, string> {
    if (series.overflow) return { otel_metric_overflow: "true" };
    return Object.fromEntries(series.metric.def.labelNames.map((n, i) => [n, series.values[i]!]));
  }

  /** A render must parse, hold exactly the model's samples and values, and the model's exemplars. */
  checkRender(view: ViewModel, text: string, om: boolean, what: string): void {
    assert.ok(isWellFormed(text), `${what}: the render is not well-formed Unicode`);
    let families: Map<string, ParsedFamily>;
    try {
      families = parseExposition(text, om);
    } catch (error) {
      assert.fail(`${what}: the render does not parse: ${(error as Error).message}`);
    }
    const { samples, quantiles } = this.expectedSamples(om);
    const seen = new Set<string>();
    for (const family of families.values()) {
      const name = om && family.type === "counter" && this.metrics.has(family.name + "_total") &&
          !this.metrics.has(family.name)
        ? family.name + "_total"
        : family.name;
      const metric = this.metrics.get(name);
      if (metric === undefined && name.startsWith("atomic_metrics_")) continue; // a self-metric the model leaves alone
      assert.ok(metric !== undefined, `${what}: the render shows a metric not registered: ${family.name}`);
      assert.equal(family.type, metric.def.type, `${what}: TYPE of ${family.name}`);
      if (!metric.self) assert.equal(family.help ?? "", metric.def.help, `${what}: HELP of ${family.name}`);
      if (om && metric.def.unit !== "") assert.equal(family.unit, metric.def.unit, `${what}: UNIT of ${family.name}`);
      for (const sample of family.samples) {
        const key = sampleKey(sample.name, sample.labels);
        assert.ok(!seen.has(key), `${what}: sample ${key} appears twice`);
        seen.add(key);
        if (quantiles.has(key)) {
          if (om) this.present(key, true, what);
          continue;
        }
        if (this.untracked(sample.name, sample.labels)) continue;
        const expected = samples.get(key);
        assert.ok(
          expected !== undefined,
          `${what}: the render shows a sample the model does not have (a series created by a call that threw, ` +
            `by get(), or lost to the wrong series?): ${key} ${sample.value}`,
        );
        if (expected.optional) this.present(key, true, what);
        if (expected.series !== undefined) {
          this.compareNumber(sample.value, expected.value, expected.series, `${what}: ${key}`);
        } else if (expected.value !== undefined) {
          assert.equal(sample.value, expected.value, `${what}: ${key}`);
        }
        this.checkMonotonic(metric.def.type, sample.name, key, sample.value, what);
        if (om && !metric.self) this.checkExemplar(view, metric, sample, what);
      }
    }
    for (const key of quantiles) {
      if (om && !seen.has(key)) this.present(key, false, what);
      else assert.ok(seen.has(key), `${what}: quantile sample ${key} is missing`);
    }
    this.checkInfEqualsCount(families, what);
    for (const [key, expected] of samples) {
      if (seen.has(key)) continue;
      if (expected.optional) {
        this.present(key, false, what);
        continue;
      }
      assert.fail(`${what}: the render lacks ${key} (model value ${expected.value})`);
    }
  }

  /**
   * A sample OpenMetrics may leave out (a histogram's or summary's _sum and _count, a summary's
   * quantiles) must show in every render or in none: that depends on the definition, never on the values.
   */
  private present(key: string, shown: boolean, what: string): void {
    const before = this.omPresence.get(key);
    if (before !== undefined && before !== shown) {
      assert.fail(
        `${what}: ${key} ${
          shown
            ? "was hidden in an earlier OpenMetrics render and shows now"
            : "was shown in an earlier OpenMetrics render and is gone now"
        } (it flaps with the values)`,
      );
    }
    this.omPresence.set(key, shown);
  }

  /** Counters, buckets and counts never go down from one render to the next, in any view. */
  private checkMonotonic(type: MetricType, sampleName: string, key: string, value: number, what: string): void {
    if (type !== "counter" && (type === "gauge" || !/_(bucket|count)$/.test(sampleName))) return;
    const before = this.previous.get(key) ?? 0;
    assert.ok(!(value < before), `${what}: ${key} went down from ${before} to ${value}`);
    this.previous.set(key, value);
  }

  /** A removed series or metric may come back from zero: its cumulative samples start again. */
  private forgetPrevious(metric: MetricModel): void {
    const base = metric.def.name.endsWith("_total") ? metric.def.name.slice(0, -6) : metric.def.name;
    const names = new Set([metric.def.name, base + "_total", base + "_bucket", base + "_count", base + "_sum"]);
    const own = sampleKey(SELF.overflow, { metric: metric.def.name });
    for (const key of [...this.previous.keys()]) {
      if (names.has(key.slice(0, key.indexOf("["))) || (metric.removed && key === own)) this.previous.delete(key);
    }
  }

  private checkInfEqualsCount(families: Map<string, ParsedFamily>, what: string): void {
    for (const family of families.values()) {
      if (family.type !== "histogram") continue;
      for (const sample of family.samples) {
        if (sample.name !== family.name + "_count") continue;
        const inf = family.samples.find((s) =>
          s.name === family.name + "_bucket" && s.labels.le === "+Inf" &&
          sampleKey("", { ...s.labels, le: "" }) === sampleKey("", { ...sample.labels, le: "" })
        );
        assert.equal(
          inf?.value,
          sample.value,
          `${what}: the +Inf bucket differs from _count: ${sampleKey(sample.name, sample.labels)}`,
        );
      }
    }
  }

  private checkExemplar(
    view: ViewModel,
    metric: MetricModel,
    sample: {
      name: string;
      labels: Record<string, string>;
      exemplar?: { labels: Record<string, string>; value: number };
    },
    what: string,
  ): void {
    const def = metric.def;
    let bucket: number;
    const labels = { ...sample.labels };
    if (def.type === "counter") bucket = -1;
    else if (def.type === "histogram" && sample.name === def.name + "_bucket") {
      const le = labels.le!;
      delete labels.le;
      bucket = le === "+Inf" ? def.buckets!.length : def.buckets!.findIndex((b) => formatValue(b) === le);
    } else {
      assert.equal(sample.exemplar, undefined, `${what}: ${sample.name} carries an exemplar`);
      return;
    }
    const overflow = labels.otel_metric_overflow === "true" && Object.keys(labels).length === 1;
    const series = overflow ? metric.overflow : metric.series.get(keyOf(def.labelNames.map((n) => labels[n]!)));
    const stored = series?.exemplars.get(view.id)?.get(bucket);
    // The text formats write -0 as 0.
    const expected = stored === undefined
      ? undefined
      : { labels: stored.labels, value: stored.value === 0 ? 0 : stored.value };
    const got = sample.exemplar === undefined
      ? undefined
      : { labels: sample.exemplar.labels, value: sample.exemplar.value };
    assert.deepEqual(got, expected, `${what}: exemplar of ${sampleKey(sample.name, sample.labels)}`);
  }

  /** collect() must hold the model's series and values, with the overflow series labelled as in a render. */
  checkCollect(result: unknown, what: string): void {
    const snapshots = result as {
      name: string;
      type: string;
      series: {
        labels: Record<string, string>;
        value: number;
        count: number;
        sum: number;
        buckets: { le: number; count: number }[];
      }[];
    }[];
    const names = snapshots.map((s) => s.name).filter((n) => this.metrics.has(n) || !/^atomic_metrics_/.test(n));
    assert.deepEqual(names.sort(), [...this.metrics.keys()].sort(), `${what}: collect() metrics`);
    for (const snapshot of snapshots) {
      const metric = this.metrics.get(snapshot.name);
      if (metric === undefined || metric.self) continue;
      const shown = [...metric.series.values()];
      if (metric.overflow !== undefined && metric.folds > 0) shown.push(metric.overflow);
      const byLabels = new Map(shown.map((s) => [sampleKey("", this.labelsOf(s)), s]));
      assert.equal(snapshot.series.length, byLabels.size, `${what}: collect() series of ${snapshot.name}`);
      for (const s of snapshot.series) {
        const key = sampleKey("", s.labels);
        const series = byLabels.get(key);
        assert.ok(
          series !== undefined,
          `${what}: collect() shows ${snapshot.name}${key}, which the model does not have`,
        );
        if (metric.def.type === "counter" || metric.def.type === "gauge") {
          this.compareNumber(s.value, series.value, series, `${what}: collect() ${snapshot.name}${key}`);
        } else {
          assert.equal(s.count, series.count, `${what}: collect() count of ${snapshot.name}${key}`);
          this.compareNumber(s.sum, series.sum, series, `${what}: collect() sum of ${snapshot.name}${key}`);
          if (metric.def.type === "histogram") {
            assert.deepEqual(s.buckets.map((b) => b.count), cumulative(series.buckets), `${what}: collect() buckets`);
          }
        }
      }
    }
  }

  /** Equal, or (for a sum recorded from several views) equal but for rounding in another order. */
  compareNumber(got: number, expected: number | undefined, series: SeriesModel, what: string): void {
    if (expected === undefined || Object.is(got, expected)) return;
    if (Number.isNaN(got) && Number.isNaN(expected)) return;
    if (got === 0 && expected === 0) return;
    if (series.writers.size > 1) {
      if (!Number.isFinite(series.scale)) return;
      if (Math.abs(got - expected) <= 1e-9 * series.scale + 1e-12) return;
    }
    // A gauge keeps its last set and the sum of its adds since apart (per thread), so its value
    // is set + (a + b) where the model has (set + a) + b: equal but for rounding.
    if (Number.isFinite(series.scale) && Math.abs(got - expected) <= 1e-12 * series.scale + 1e-300) return;
    assert.fail(`${what}: got ${got}, the model has ${expected}`);
  }
}

// --- The contract's rules -------------------------------------------------------------------

function keyOf(values: readonly string[]): string {
  return JSON.stringify(values);
}

function bucketOf(bounds: readonly number[], value: number): number {
  let i = 0;
  while (i < bounds.length && !(value <= bounds[i]!)) i++;
  return i;
}

function cumulative(counts: readonly number[]): number[] {
  let running = 0;
  return counts.map((c) => (running += c));
}

function checkSeconds(result: unknown, what: string): number {
  assert.ok(
    typeof result === "number" && result >= 0 && result < 3600,
    `${what}: a timer must return the seconds it recorded, got ${String(result)}`,
  );
  return result;
}

/** An error message must say what went wrong in the library's words, naming the metric. */
function assertClear(message: string, what: string, metric: string | undefined): void {
  assert.ok(message.length > 0, `${what}: the error has no message`);
  assert.ok(!ENGINE_ERROR.test(message), `${what}: the error is the engine's, not a clear one: ${message}`);
  if (metric !== undefined) {
    assert.ok(message.includes(metric), `${what}: the error does not name the metric "${metric}": ${message}`);
  }
}

/** The value rule of a recording call: what it records, or the errors it must throw. */
function valueRule(
  def: Def,
  method: string,
  value: unknown,
): Verdict<{ action: "add" | "set" | "observe"; value: number }> {
  const type = def.type;
  const type_ = (): Verdict<never> => ({ fail: new Set<Kind>(["type"]) });
  if (type === "counter") {
    if (value === undefined) return { ok: { action: "add", value: 1 } };
    if (typeof value !== "number") return type_();
    if (!(value >= 0 && value < Infinity)) return { fail: new Set<Kind>(["range"]) };
    return { ok: { action: "add", value } };
  }
  if (type === "gauge") {
    if (method === "set") return typeof value === "number" ? { ok: { action: "set", value } } : type_();
    const v = value === undefined ? 1 : value;
    if (typeof v !== "number") return type_();
    return { ok: { action: "add", value: method === "dec" ? -v : v } };
  }
  if (typeof value !== "number") return type_();
  if (Number.isNaN(value)) return { fail: new Set<Kind>(["range"]) };
  // A histogram takes negative values only if its lowest bucket bound is negative: whether
  // OpenMetrics shows its _sum and _count then depends on the definition, not on the values.
  if (type === "histogram" && value < 0 && !(def.buckets!.length > 0 && def.buckets![0]! < 0)) {
    return { fail: new Set<Kind>(["range"]) };
  }
  // OpenMetrics cannot show a summary's negative sum or quantiles: summaries refuse negative values.
  if (type === "summary" && value < 0) return { fail: new Set<Kind>(["range"]) };
  return { ok: { action: "observe", value } };
}

/** The label rule: the values in label-name order, or the errors a label set must throw. */
function labelsRule(names: readonly string[], labels: unknown): Verdict<string[]> {
  if (labels === null || typeof labels !== "object" || Array.isArray(labels)) return { fail: new Set(["type"]) };
  const fail = new Set<Kind>();
  let missingProto = false;
  const record = labels as Record<string, unknown>;
  for (const key of Object.keys(record)) if (!names.includes(key)) fail.add("error");
  const values: string[] = [];
  for (const name of names) {
    const value = Object.hasOwn(record, name) ? record[name] : undefined;
    if (value === undefined) {
      fail.add("error");
      if (name in Object.prototype) missingProto = true;
      continue;
    }
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      fail.add("type");
      continue;
    }
    const text = String(value);
    if (text.length > MAX_LABEL_VALUE || !isWellFormed(text)) fail.add("error");
    values.push(text);
  }
  if (fail.size > 0) return missingProto && fail.size === 1 ? { fail, missingProto } : { fail };
  return { ok: values };
}

/** The rule for labels given when a timer starts: those given must be right; the rest may come at the end. */
function partialLabelsRule(names: readonly string[], labels: unknown): Verdict<string[]> {
  if (labels === null || typeof labels !== "object" || Array.isArray(labels)) return { fail: new Set(["type"]) };
  const given = Object.keys(labels).filter((k) => names.includes(k));
  if (given.length !== Object.keys(labels).length) return { fail: new Set(["error"]) };
  const rule = labelsRule(given, labels);
  return "fail" in rule ? { fail: rule.fail } : rule;
}

/** An exemplar's labels if it is valid (an object of valid names to well-formed strings, 128 characters at most). */
function validExemplar(labels: unknown): Record<string, string> | undefined {
  if (labels === null || typeof labels !== "object" || Array.isArray(labels)) return undefined;
  let chars = 0;
  const out: Record<string, string> = {};
  for (const key of Object.keys(labels)) {
    const value = (labels as Record<string, unknown>)[key];
    if (!isValidLabelName(key) || typeof value !== "string" || !isWellFormed(value)) return undefined;
    chars += codePoints(key) + codePoints(value);
    out[key] = value;
  }
  return chars > 128 ? undefined : out;
}

/** The registration rules: the definition, or the error (always a clear Error). */
function validateDefinition(type: MetricType, options: unknown): Verdict<Def> {
  const fail: Verdict<Def> = { fail: new Set(["error"]) };
  if (options === null || typeof options !== "object") return fail;
  const o = options as Record<string, unknown>;
  if (o.labelNames !== undefined && !Array.isArray(o.labelNames)) return fail;
  const labelNames = [...((o.labelNames as unknown[] | undefined) ?? [])];
  const unit = o.unit ?? "";
  if (typeof o.name !== "string" || !METRIC_NAME.test(o.name)) return fail;
  const name = o.name;
  if (typeof o.help !== "string") return fail;
  if (!labelNames.every(isValidLabelName)) return fail;
  if (new Set(labelNames).size !== labelNames.length) return fail;
  if (labelNames.includes("otel_metric_overflow")) return fail;
  if (typeof unit !== "string") return fail;
  if (unit !== "") {
    if (!/^[a-zA-Z0-9_:]+$/.test(unit)) return fail;
    const stem = type === "counter" && name.endsWith("_total") ? name.slice(0, -6) : name;
    if (!stem.endsWith("_" + unit)) return fail;
  }
  const def: Def = { type, name, help: o.help, unit, labelNames: labelNames as string[] };
  if (type === "histogram") {
    const buckets = o.buckets ?? DEFAULT_BUCKETS;
    if (!Array.isArray(buckets) || buckets.length === 0) return fail;
    const bounds = buckets.filter((b) => b !== Infinity);
    for (let i = 0; i < bounds.length; i++) {
      const b = bounds[i];
      if (typeof b !== "number" || !Number.isFinite(b)) return fail;
      if (i > 0 && !(b > bounds[i - 1])) return fail;
    }
    if (labelNames.includes("le")) return fail;
    def.buckets = bounds as number[];
  }
  if (type === "summary") {
    const quantiles = o.quantiles ?? DEFAULT_QUANTILES;
    if (!Array.isArray(quantiles)) return fail;
    for (const q of quantiles) if (typeof q !== "number" || !(q >= 0 && q <= 1)) return fail;
    const maxAgeSeconds = o.maxAgeSeconds ?? 600;
    const ageBuckets = o.ageBuckets ?? 5;
    if (typeof maxAgeSeconds !== "number" || !(maxAgeSeconds > 0 && maxAgeSeconds < Infinity)) return fail;
    if (!Number.isInteger(ageBuckets) || (ageBuckets as number) < 1 || (ageBuckets as number) > 100) return fail;
    if (labelNames.includes("quantile")) return fail;
    def.quantiles = [...(quantiles as number[])].sort((a, b) => a - b);
    def.maxAgeSeconds = maxAgeSeconds;
    def.ageBuckets = ageBuckets as number;
  }
  return { ok: def };
}

function sameDefinition(had: Def, want: Def): boolean {
  return had.type === want.type && sameList(had.labelNames, want.labelNames) && had.help === want.help &&
    had.unit === want.unit && sameList(had.buckets, want.buckets) && sameList(had.quantiles, want.quantiles) &&
    had.maxAgeSeconds === want.maxAgeSeconds && had.ageBuckets === want.ageBuckets;
}

/** A short description of an operation, for messages. */
export function describe(op: Op): string {
  switch (op.t) {
    case "reg":
      return `registry.${op.type}(${show(op.options)}${
        op.exemplars === undefined ? "" : `, exemplars: ${op.exemplars}`
      }${op.collect ? ", collect" : ""})`;
    case "rec":
      return `${op.metric}.${op.method}(${op.args.map(show).join(", ")})`;
    case "bind":
      return `handle[${op.slot}] = ${op.metric}.labels(${show(op.labels)})`;
    case "ser":
      return `handle[${op.slot}].${op.method}(${op.args.map(show).join(", ")})`;
    case "tstart":
      return `timer[${op.slot}] = ${op.bound === undefined ? op.metric : `handle[${op.bound}]`}.startTimer(${
        show(op.labels)
      })`;
    case "tend":
      return `timer[${op.slot}](${show(op.labels)})`;
    case "get":
      return `${op.metric}.get(${show(op.labels)})`;
    case "now":
      return `${op.metric}.setToCurrentTime(${show(op.labels)})`;
    case "render":
      return `registry.render("${op.format}")`;
    case "stream":
      return `${op.collect ? "await registry.collectAsync(); " : ""}registry.stream("${op.format}") read`;
    case "collect":
      return "registry.collect()";
    case "hook":
      return `registry.beforeCollect(() => record ${op.metric})`;
    case "unhook":
      return `remove beforeCollect hook ${op.index}`;
    case "regget":
      return `registry.get(${show(op.name)})`;
    case "burst":
      return `${op.count} new label sets on ${op.metric}${op.long ? " (1000-character values)" : ""}`;
    case "remove":
      return `${op.metric}.remove(${show(op.labels)})`;
    case "clear":
      return `${op.metric}.${op.reset ? "reset" : "clear"}()`;
    case "regremove":
      return `registry.remove(${show(op.name)})`;
    case "regclear":
      return "registry.clear()";
    default:
      return op.t;
  }
}

export type { Base, V };

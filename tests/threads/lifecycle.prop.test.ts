// Series lifecycle across threads: random interleavings of create, record, remove, clear,
// expire, attach and detach on the main thread and workers, against a single-threaded model;
// then a concurrent stress of removal while workers record.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Counter } from "../../src/counter.ts";
import { Registry } from "../../src/registry.ts";
import { type ParsedFamily, parseExposition } from "../_parse.ts";
import { promtoolCheck } from "../_promtool.ts";
import { openMetricsCheck } from "../_openmetrics_judge.ts";
import {
  applyLifecycleStep,
  LIFECYCLE_CATALOG,
  type LifecycleStep,
  type LifecycleThread,
  registerLifecycle,
  seriesKey,
  stopRemovalTimer,
  stressMetrics,
  type StressPlan,
  type WriteAction,
} from "./_operations.ts";
import { spawnWorker, type ThreadWorker } from "./_spawn.ts";

const WORKER = new URL("./_lifecycle_worker.ts", import.meta.url);
// One pool for the file: starting a worker is the slow part.
const pool: ThreadWorker[] = await Promise.all([1, 2, 3, 4].map(() => spawnWorker(WORKER)));
after(async () => {
  for (const worker of pool) await worker.terminate();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---- the single-threaded model ---------------------------------------------------------------

/** How often the runs met each rule, to check that the property exercises them all. */
const met = { dropped: 0, revived: 0, expired: 0, removed: 0, metricRemoved: 0, detached: 0 };

/** What a series holds, for every type (each type uses its part). */
interface SeriesData {
  value: number;
  writes: number;
  count: number;
  sum: number;
  /** Observations per bucket (not cumulative), `+Inf` last. */
  buckets: number[];
  min: number;
  max: number;
}

/** One life of a series: from its creation to its removal. */
interface ModelSeries {
  readonly serial: number;
  readonly metric: number;
  /** The life of the metric it belongs to (a metric removed and registered again is a new one). */
  readonly generation: number;
  readonly labels: readonly string[];
  live: boolean;
  data: SeriesData;
  /** What the last render saw (expiry), and the (fake) time it changed. */
  fingerprint: number;
  changedAt: number;
}

/** A bound series a thread holds: the life it writes into, and whether the thread knows it was removed. */
interface ModelHandle {
  series: ModelSeries;
  dead: boolean;
}

/** What a thread knows: the series it has met (its label index), and the bound series it holds. */
interface ModelThread {
  known: Map<string, ModelSeries>;
  handles: Map<string, ModelHandle>;
  /** The life of each metric whose object the thread got last. */
  metrics: Map<number, number>;
}

/**
 * The registry as one thread would see it if every thread's call happened in order, with the
 * lifecycle rules spelled out: a thread learns of removals (a sync) at every call into the
 * registry; a write through a bound series goes into the life it was bound to, so after a
 * removal it is dropped until its thread syncs, and then brings the series back from zero.
 */
class Model {
  now = 1_700_000_000_000;
  readonly metrics = LIFECYCLE_CATALOG.map(() => ({ generation: 0, registered: false }));
  readonly live = new Map<string, ModelSeries>();
  readonly threads: (ModelThread | undefined)[] = [];
  private serials = 0;

  attach(t: number): void {
    this.threads[t] = { known: new Map(), handles: new Map(), metrics: new Map() };
  }

  detach(t: number): void {
    met.detached++;
    this.sync(t);
    this.threads[t] = undefined;
  }

  /** The series of the bound series a thread holds; only the removed ones if `removed` and there are some. */
  held(t: number, removed: boolean): ModelSeries[] {
    const all = [...this.thread(t).handles.values()].map((h) => h.series);
    const gone = all.filter((s) => !s.live);
    return removed && gone.length > 0 ? gone : all;
  }

  /** The series a thread has met and not yet learnt were removed. */
  knownBy(t: number): ModelSeries[] {
    return [...this.thread(t).known.values()];
  }

  /** The live series another thread than `t` holds a bound series of (else every live series). */
  heldElsewhere(t: number): ModelSeries[] {
    const held = new Set<ModelSeries>();
    this.threads.forEach((thread, u) => {
      if (u === t) return;
      for (const h of thread?.handles.values() ?? []) if (h.series.live) held.add(h.series);
    });
    return held.size > 0 ? [...held] : [...this.live.values()];
  }

  /** Whether thread `t` holds the object of metric `m` as it is now (not of a life removed since). */
  holdsMetric(t: number, metric: number): boolean {
    const state = this.metrics[metric]!;
    return state.registered && this.thread(t).metrics.get(metric) === state.generation;
  }

  /** Whether a `bound` step must bind again: the thread knows its series died with its metric. */
  mustRebind(t: number, metric: number, labels: readonly string[]): boolean {
    const handle = this.thread(t).handles.get(seriesKey(metric, labels));
    return handle !== undefined && handle.dead && handle.series.generation !== this.metrics[metric]!.generation;
  }

  /** Does a step as thread `t`; returns what the thread must report. */
  apply(t: number, step: LifecycleStep): unknown {
    const thread = this.thread(t);
    switch (step.do) {
      case "labelled":
        this.sync(t);
        if (step.cached !== true) this.register(t, step.metric);
        this.write(this.ensureLive(t, step.metric, step.labels), step.action, step.value);
        return null;
      case "bind":
        this.sync(t);
        this.register(t, step.metric);
        thread.handles.set(seriesKey(step.metric, step.labels), {
          series: this.ensureLive(t, step.metric, step.labels),
          dead: false,
        });
        return null;
      case "bound": {
        const key = seriesKey(step.metric, step.labels);
        let handle = thread.handles.get(key);
        if (handle === undefined || step.rebind === true) {
          this.apply(t, { do: "bind", metric: step.metric, labels: step.labels });
          handle = thread.handles.get(key)!;
        }
        const removed = handle.dead;
        if (handle.dead) {
          // Revived: the series this thread's label index has (perhaps removed since its last
          // sync), else found or made again after a sync.
          met.revived++;
          const known = thread.known.get(key);
          if (known !== undefined) handle.series = known;
          else {
            this.sync(t);
            handle.series = this.ensureLive(t, step.metric, step.labels);
          }
          handle.dead = false;
        }
        this.write(handle.series, step.action, step.value);
        return { removed };
      }
      case "remove": {
        this.sync(t);
        this.register(t, step.metric);
        const series = this.live.get(seriesKey(step.metric, step.labels));
        if (series !== undefined) this.removeSeries(t, series);
        return series !== undefined;
      }
      case "clear":
        this.sync(t);
        this.register(t, step.metric);
        for (const series of this.seriesOf(step.metric)) this.removeSeries(t, series);
        // A metric without labels shows 0 again at once.
        if (LIFECYCLE_CATALOG[step.metric]!.labelNames.length === 0) this.ensureLive(t, step.metric, []);
        return null;
      case "dropMetric":
        this.sync(t);
        return this.dropMetric(t, step.metric);
      case "clearRegistry":
        this.sync(t);
        for (let m = 0; m < this.metrics.length; m++) this.dropMetric(t, m);
        return null;
      case "get":
        this.sync(t);
        return this.metrics[step.metric]!.registered;
      case "register":
        this.sync(t);
        this.register(t, step.metric);
        return null;
      case "render":
        this.sync(t);
        for (const [key, series] of this.live) thread.known.set(key, series);
        this.expire(t);
        return undefined;
    }
  }

  private thread(t: number): ModelThread {
    const thread = this.threads[t];
    if (thread === undefined) throw new Error(`thread ${t} is not attached`);
    return thread;
  }

  /** The thread learns of every removal: its bound series of removed lives die, its index forgets them. */
  private sync(t: number): void {
    const thread = this.thread(t);
    for (const handle of thread.handles.values()) if (!handle.series.live) handle.dead = true;
    for (const [key, series] of thread.known) if (!series.live) thread.known.delete(key);
  }

  /** Registration of a metric not registered; one without labels is born with its series. */
  private register(t: number, metric: number): void {
    const state = this.metrics[metric]!;
    this.thread(t).metrics.set(metric, state.generation);
    if (state.registered) return;
    state.registered = true;
    if (LIFECYCLE_CATALOG[metric]!.labelNames.length === 0) this.ensureLive(t, metric, []);
  }

  private ensureLive(t: number, metric: number, labels: readonly string[]): ModelSeries {
    const key = seriesKey(metric, labels);
    let series = this.live.get(key);
    if (series === undefined) {
      series = {
        serial: ++this.serials,
        metric,
        generation: this.metrics[metric]!.generation,
        labels: [...labels],
        live: true,
        data: { value: 0, writes: 0, count: 0, sum: 0, buckets: [0, 0, 0, 0], min: Infinity, max: -Infinity },
        fingerprint: 0,
        changedAt: this.now,
      };
      this.live.set(key, series);
    }
    this.thread(t).known.set(key, series);
    return series;
  }

  private seriesOf(metric: number): ModelSeries[] {
    return [...this.live.values()].filter((s) => s.metric === metric);
  }

  /** Removal by thread `t`: it lets go at once; other threads when they sync. */
  private removeSeries(t: number, series: ModelSeries): void {
    met.removed++;
    series.live = false;
    const key = seriesKey(series.metric, series.labels);
    this.live.delete(key);
    const thread = this.thread(t);
    if (thread.known.get(key) === series) thread.known.delete(key);
    for (const handle of thread.handles.values()) if (handle.series === series) handle.dead = true;
  }

  private dropMetric(t: number, metric: number): boolean {
    const state = this.metrics[metric]!;
    if (!state.registered) return false;
    for (const series of this.seriesOf(metric)) this.removeSeries(t, series);
    met.metricRemoved++;
    state.registered = false;
    state.generation++;
    return true;
  }

  /** A write lands only in a live series; into a removed one it is dropped. */
  private write(series: ModelSeries, action: WriteAction, value: number): void {
    if (!series.live) return void met.dropped++;
    const data = series.data;
    data.writes++;
    if (action === "set") data.value = value;
    else if (action === "dec") data.value -= value;
    else if (action === "inc") data.value += value;
    else {
      const bounds = LIFECYCLE_CATALOG[series.metric]!.buckets ?? [];
      let bucket = 0;
      while (bucket < bounds.length && value > bounds[bucket]!) bucket++;
      data.buckets[bucket]!++;
      data.count++;
      data.sum += value;
      data.min = Math.min(data.min, value);
      data.max = Math.max(data.max, value);
    }
  }

  /** Expiry at a render: a series whose fingerprint stayed the same for staleAfterSeconds goes. */
  private expire(t: number): void {
    const stale: ModelSeries[] = [];
    for (const series of this.live.values()) {
      const entry = LIFECYCLE_CATALOG[series.metric]!;
      if (entry.staleAfterSeconds === undefined || entry.labelNames.length === 0) continue;
      const fingerprint = entry.type === "counter"
        ? series.data.value
        : entry.type === "gauge"
        ? series.data.writes
        : series.data.count;
      if (fingerprint !== series.fingerprint) {
        series.fingerprint = fingerprint;
        series.changedAt = this.now;
      } else if (this.now - series.changedAt >= entry.staleAfterSeconds * 1000) stale.push(series);
    }
    for (const series of stale) this.removeSeries(t, series);
    met.expired += stale.length;
  }

  /** The samples a render must show (summary quantiles apart), keyed as `sampleKey` keys them. */
  expectedSamples(): Map<string, number> {
    const out = new Map<string, number>();
    for (const series of this.live.values()) {
      const entry = LIFECYCLE_CATALOG[series.metric]!;
      const labels: Record<string, string> = {};
      entry.labelNames.forEach((name, i) => (labels[name] = series.labels[i]!));
      const data = series.data;
      switch (entry.type) {
        case "counter":
        case "gauge":
          out.set(sampleKey(entry.name, labels), data.value);
          break;
        case "histogram": {
          let running = 0;
          [...entry.buckets!, Infinity].forEach((bound, i) => {
            running += data.buckets[i]!;
            out.set(sampleKey(`${entry.name}_bucket`, { ...labels, le: String(bound) }), running);
          });
          out.set(sampleKey(`${entry.name}_sum`, labels), data.sum);
          out.set(sampleKey(`${entry.name}_count`, labels), data.count);
          break;
        }
        case "summary":
          out.set(sampleKey(`${entry.name}_sum`, labels), data.sum);
          out.set(sampleKey(`${entry.name}_count`, labels), data.count);
          break;
      }
    }
    return out;
  }
}

/** A sample's name and labels as one string; `le` as a number, so "1" and "1.0" agree. */
function sampleKey(name: string, labels: Record<string, string>): string {
  const sorted = Object.keys(labels).sort().map((k) => {
    const v = labels[k]!;
    return [k, k === "le" ? String(v === "+Inf" ? Infinity : Number(v)) : v];
  });
  return name + JSON.stringify(sorted);
}

// ---- checking a render against the model -------------------------------------------------------

/**
 * Parses a render strictly and checks it against the model: the metrics registered and no
 * other, exactly the live series with the model's values, the series count, summary quantiles
 * within what was observed, and no counter (or bucket or count) of a series below what an
 * earlier render of the same life showed (`seen`, updated here).
 */
function checkRender(
  text: string,
  om: boolean,
  model: Model,
  seen: Map<string, { serial: number; value: number }>,
  where: string,
): void {
  let families: Map<string, ParsedFamily>;
  try {
    families = parseExposition(text, om);
  } catch (error) {
    throw new Error(`${where}: the render does not parse: ${(error as Error).message}\n${text}`);
  }
  const names = [...families.keys()].filter((n) => !n.startsWith("atomic_metrics_")).sort();
  const registered = LIFECYCLE_CATALOG.filter((_, m) => model.metrics[m]!.registered)
    .map((e) => (om && e.type === "counter" ? e.name.slice(0, -"_total".length) : e.name)).sort();
  assert.deepEqual(names, registered, `${where}: the metrics shown`);
  const actual = new Map<string, number>();
  const quantiles = new Map<string, number[]>();
  for (const name of names) {
    const family = families.get(name)!;
    for (const s of family.samples) {
      if (s.name.endsWith("_created")) continue;
      if (family.type === "summary" && s.labels.quantile !== undefined) {
        const { quantile: _, ...rest } = s.labels;
        const key = sampleKey(s.name, rest);
        quantiles.set(key, [...(quantiles.get(key) ?? []), s.value]);
        continue;
      }
      const key = sampleKey(s.name, s.labels);
      assert.ok(!actual.has(key), `${where}: ${key} shown twice`);
      actual.set(key, s.value);
    }
  }
  const expected = model.expectedSamples();
  const missing = [...expected.keys()].filter((k) => !actual.has(k));
  const extra = [...actual.keys()].filter((k) => !expected.has(k));
  assert.deepEqual(
    { missing, extra },
    { missing: [], extra: [] },
    `${where}: removed series shown or live ones missing`,
  );
  for (const [key, value] of expected) assert.equal(actual.get(key), value, `${where}: value of ${key}`);
  if (!om) {
    const count = families.get("atomic_metrics_series")?.samples[0]?.value;
    assert.equal(count, model.live.size, `${where}: atomic_metrics_series`);
  }
  for (const series of model.live.values()) {
    const entry = LIFECYCLE_CATALOG[series.metric]!;
    const labels: Record<string, string> = {};
    entry.labelNames.forEach((name, i) => (labels[name] = series.labels[i]!));
    if (entry.type === "summary") {
      const shown = quantiles.get(sampleKey(entry.name, labels)) ?? [];
      assert.equal(shown.length, 7, `${where}: quantiles of ${entry.name}${JSON.stringify(labels)}`);
      const { count, min, max } = series.data;
      for (const q of shown) {
        if (count === 0) assert.ok(Number.isNaN(q), `${where}: quantile ${q} of an empty summary`);
        else {assert.ok(
            q >= min * 0.98 - 1e-9 && q <= max * 1.02 + 1e-9,
            `${where}: quantile ${q} outside [${min}, ${max}]`,
          );}
      }
    }
    // Counters never go down within one life of a series.
    const counted = entry.type === "counter"
      ? [entry.name]
      : entry.type === "histogram"
      ? [`${entry.name}_count`]
      : entry.type === "summary"
      ? [`${entry.name}_count`]
      : [];
    for (const name of counted) {
      const key = sampleKey(name, labels);
      const value = actual.get(key)!;
      const before = seen.get(key);
      if (before !== undefined && before.serial === series.serial) {
        assert.ok(value >= before.value, `${where}: ${key} went down from ${before.value} to ${value}`);
      }
      seen.set(key, { serial: series.serial, value });
    }
  }
}

/**
 * Many renders as one text for one promtool or parser run: each render's metric names get their
 * own prefix so the families stay distinct.
 */
function combine(texts: readonly string[], om: boolean): string {
  let out = "";
  texts.forEach((text, i) => {
    const body = om ? text.slice(0, -"# EOF\n".length) : text;
    out += body.replace(/^(# (?:HELP|TYPE|UNIT) )?(?=[a-zA-Z_:])/gm, `$1r${i}_`);
  });
  return om ? out + "# EOF\n" : out;
}

function judge(prometheus: readonly string[], openmetrics: readonly string[]): void {
  if (prometheus.length > 0) {
    const check = promtoolCheck(combine(prometheus, false));
    assert.ok(check.ok, `promtool rejects a render: ${check.output}`);
  }
  if (openmetrics.length > 0) {
    const check = openMetricsCheck(combine(openmetrics, true));
    assert.ok(check.ok, `the OpenMetrics parser rejects a render: ${check.output}`);
  }
}

// ---- the property ------------------------------------------------------------------------------

const K_VALUES = ["a", 'é "q" \\ \n'];
const J_VALUES = ["x", "y"];
const WORKERS = 3;

type Kind = LifecycleStep["do"] | "toggle";

/** One generated step: what to do, on which thread, who renders after it, and how far the clock moves. */
interface Generated {
  kind: Kind;
  thread: number;
  metric: number;
  a: number;
  b: number;
  action: number;
  k: number;
  reset: boolean;
  observer: number;
  wait: number;
  /** Whether a write or removal picks (with `pick`) a series the thread holds or a live one, not `metric`, `a`, `b`. */
  reuse: boolean;
  pick: number;
}

const weighted = <T>(pairs: [T, number][]): fc.Arbitrary<T> =>
  fc.oneof(...pairs.map(([value, weight]) => ({ arbitrary: fc.constant(value), weight })));

const generated: fc.Arbitrary<Generated> = fc.record({
  kind: weighted<Kind>([
    ["bound", 20],
    ["labelled", 10],
    ["bind", 3],
    ["remove", 8],
    ["clear", 2],
    ["dropMetric", 2],
    ["clearRegistry", 1],
    ["get", 2],
    ["register", 1],
    ["render", 2],
    ["toggle", 3],
  ]),
  thread: fc.nat(WORKERS),
  metric: fc.nat(LIFECYCLE_CATALOG.length - 1),
  a: fc.nat(K_VALUES.length - 1),
  b: fc.nat(J_VALUES.length - 1),
  action: fc.nat(2),
  k: fc.integer({ min: -16, max: 16 }),
  reset: fc.boolean(),
  // Mostly the main thread renders: a worker that renders syncs, and stale bound series get fewer.
  observer: weighted([[0, 8], [1, 1], [2, 1], [3, 1]]),
  // The clock moves 1 ms a step, now and then past half or all of the 10 s of staleAfterSeconds.
  wait: weighted([[1, 10], [6_000, 1], [11_000, 1]]),
  reuse: weighted([[true, 2], [false, 1]]),
  pick: fc.nat(1000),
});

/** A generated step aimed at a given series instead. */
function aimedAt(g: Generated, metric: number, labels: readonly string[]): Generated {
  const entry = LIFECYCLE_CATALOG[metric]!;
  const a = entry.labelNames.indexOf("k");
  const b = entry.labelNames.indexOf("j");
  return {
    ...g,
    metric,
    a: a < 0 ? 0 : K_VALUES.indexOf(labels[a]!),
    b: b < 0 ? 0 : J_VALUES.indexOf(labels[b]!),
  };
}

/** The step a generated one stands for (a write's action and value fit its metric's type). */
function stepOf(g: Generated): LifecycleStep {
  const entry = LIFECYCLE_CATALOG[g.metric]!;
  const labels = entry.labelNames.map((name) => (name === "j" ? J_VALUES[g.b]! : K_VALUES[g.a]!));
  const metric = g.metric;
  switch (g.kind) {
    case "labelled":
    case "bound": {
      const [action, value]: [WriteAction, number] = entry.type === "counter"
        ? ["inc", Math.abs(g.k) / 4]
        : entry.type === "gauge"
        ? [(["inc", "dec", "set"] as const)[g.action]!, g.k / 4]
        : ["observe", Math.abs(g.k) / 4];
      return { do: g.kind, metric, labels, action, value };
    }
    case "bind":
    case "remove":
      return { do: g.kind, metric, labels };
    case "clear":
      return { do: "clear", metric, reset: g.reset };
    case "dropMetric":
    case "get":
    case "register":
      return { do: g.kind, metric };
    case "clearRegistry":
    case "render":
      return { do: g.kind };
    case "toggle":
      throw new Error("a toggle is not a registry step");
  }
}

/** Runs generated steps on the main thread and `WORKERS` workers, checking every render against the model. */
async function runSteps(steps: readonly Generated[]): Promise<void> {
  const model = new Model();
  const clockBuffer = new SharedArrayBuffer(8);
  const clock = new Float64Array(clockBuffer);
  clock[0] = model.now;
  const realNow = Date.now;
  // Every thread reads the same fake clock: expiry happens exactly at the steps that move it.
  Date.now = () => clock[0]!;
  const attached = new Set<number>();
  try {
    const registry = new Registry({ maxSeries: 1000 });
    const handle = registry.share();
    // Each thread syncs only when a step calls into the registry (never on a timer).
    stopRemovalTimer(registry);
    const main: LifecycleThread = { registry, handles: new Map() };
    model.attach(0);
    const attach = async (w: number): Promise<void> => {
      await pool[w - 1]!.run({ task: "attach", handle, clock: clockBuffer, stopTimer: true });
      model.attach(w);
      attached.add(w);
    };
    for (let w = 1; w <= WORKERS; w++) await attach(w);
    const exec = (t: number, step: LifecycleStep): Promise<unknown> =>
      t === 0 ? Promise.resolve(applyLifecycleStep(main, step)) : pool[t - 1]!.run({ task: "step", step });
    const seen = new Map<string, { serial: number; value: number }>();
    const prometheus: string[] = [];
    const openmetrics: string[] = [];
    const history: string[] = [];
    for (const g of steps) {
      model.now += g.wait;
      clock[0] = model.now;
      const active = [0, ...[...attached].sort()];
      if (g.kind === "toggle") {
        const w = 1 + (g.thread % WORKERS);
        if (attached.has(w)) {
          await pool[w - 1]!.run({ task: "detach" });
          model.detach(w);
          attached.delete(w);
          history.push(`worker ${w} detaches`);
        } else {
          await attach(w);
          history.push(`worker ${w} attaches`);
        }
      } else {
        const t = active[g.thread % active.length]!;
        // Writes aim at the bound series the thread holds, often at removed ones; removals at series other threads hold.
        const aim = g.reuse && g.kind === "bound"
          ? model.held(t, g.pick % 2 === 0)
          : g.reuse && g.kind === "labelled"
          ? model.knownBy(t)
          : g.reuse && g.kind === "remove"
          ? model.heldElsewhere(t)
          : [];
        const target = aim[g.pick % Math.max(1, aim.length)];
        const step = stepOf(target === undefined ? g : aimedAt(g, target.metric, target.labels));
        if (step.do === "bound" && model.mustRebind(t, step.metric, step.labels)) step.rebind = true;
        // Half the labelled calls go through the metric object the thread got before, as code does.
        if (step.do === "labelled" && g.reset && model.holdsMetric(t, step.metric)) step.cached = true;
        history.push(`thread ${t}: ${JSON.stringify(step)}`);
        const expected = model.apply(t, step);
        const got = await exec(t, step);
        if (step.do !== "render") {
          assert.deepEqual(got, expected, `the reply to ${history.at(-1)}\n${history.join("\n")}`);
        }
      }
      const observers = [0, ...[...attached].sort()];
      const o = observers[g.observer % observers.length]!;
      model.apply(o, { do: "render" });
      const texts = await exec(o, { do: "render" }) as { prometheus: string; openmetrics: string };
      const where = `after ${history.length} steps, rendered by thread ${o}\n${history.join("\n")}\n`;
      checkRender(texts.prometheus, false, model, seen, where);
      checkRender(texts.openmetrics, true, model, seen, where);
      if (prometheus.at(-1) !== texts.prometheus) prometheus.push(texts.prometheus);
      if (openmetrics.at(-1) !== texts.openmetrics) openmetrics.push(texts.openmetrics);
    }
    judge(prometheus, openmetrics);
  } finally {
    Date.now = realNow;
    for (let w = 1; w <= WORKERS; w++) await pool[w - 1]!.run({ task: "forget" });
  }
}

describe("Series lifecycle across threads, property", () => {
  it("random create, record, remove, clear, expire, attach and detach on 4 threads render what a single-threaded model holds", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(generated, { minLength: 1, maxLength: 40, size: "max" }), (steps) => runSteps(steps)),
      { numRuns: 30, includeErrorInReport: true },
    );
    // The runs met every rule: writes dropped and series revived through stale bound series, expiry, detach.
    for (const [rule, times] of Object.entries(met)) {
      assert.ok(times > 0, `no run met "${rule}": ${JSON.stringify(met)}`);
    }
  });
});

// ---- examples, one rule each ---------------------------------------------------------------------

const JOBS = 0; // jobs_total{k}, never expires
const RUNS = 1; // runs_total, no labels
const HITS = 2; // hits_total{k,j}, never registered by the examples
const DEPTH = 3; // depth{k}, a gauge that expires after 10 s

/** The samples of one metric in the main thread's render, by label set. */
function shown(registry: Registry, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of parseExposition(registry.render(), false).get(name)?.samples ?? []) {
    out[JSON.stringify(s.labels)] = s.value;
  }
  return out;
}

const A = '{"k":"a"}';
const B = '{"k":"b"}';
const C = '{"k":"c"}';

/**
 * A registry with `jobs_total` registered, shared with pool worker 0. `timer: false` stops the
 * worker's once-a-second catch-up so that it syncs only when a step calls into the registry;
 * `clock` gives every thread the same fake clock.
 */
async function sharedWithWorker(
  options: { timer: boolean; clock?: SharedArrayBuffer },
): Promise<{ registry: Registry; step: (step: LifecycleStep) => Promise<unknown> }> {
  const registry = new Registry();
  registerLifecycle(registry, LIFECYCLE_CATALOG[JOBS]!);
  const handle = registry.share();
  const worker = pool[0]!;
  await worker.run({ task: "attach", handle, stopTimer: !options.timer, clock: options.clock });
  return { registry, step: (step) => worker.run({ task: "step", step }) };
}

/** A write of `value` through the bound series the worker holds for `labels` (bound first if it holds none). */
const write = (metric: number, labels: string[], value: number): LifecycleStep => ({
  do: "bound",
  metric,
  labels,
  action: "inc",
  value,
});

describe("Series lifecycle across threads", () => {
  it("a worker's bound series drops what it writes between a removal and its next call into the registry, then brings the series back from zero", async () => {
    const { registry, step } = await sharedWithWorker({ timer: true });
    try {
      const jobs = registry.get("jobs_total") as Counter<"k">;
      await step({ do: "bind", metric: JOBS, labels: ["a"] });
      // The worker writes, then blocks (no timer runs) while the main thread removes the series.
      const gate = new SharedArrayBuffer(4);
      let written!: () => void;
      const ready = new Promise<void>((resolve) => (written = resolve));
      const held = pool[0]!.run(
        { task: "hold", key: seriesKey(JOBS, ["a"]), gate, before: 1, after: 5 },
        () => written(),
      );
      await ready;
      assert.deepEqual(shown(registry, "jobs_total"), { [A]: 1 });
      assert.equal(jobs.remove({ k: "a" }), true);
      jobs.inc({ k: "b" }, 100);
      Atomics.store(new Int32Array(gate), 0, 1);
      Atomics.notify(new Int32Array(gate), 0);
      // The worker had not synced: its handle did not know, and its write of 5 was dropped.
      assert.deepEqual(await held, { removedBefore: false, removedAfter: false });
      assert.deepEqual(shown(registry, "jobs_total"), { [B]: 100 });
      await step({ do: "render" }); // a call into the registry: the worker syncs
      assert.deepEqual(await step(write(JOBS, ["a"], 7)), { removed: true });
      assert.deepEqual(shown(registry, "jobs_total"), { [A]: 7, [B]: 100 });
      // A new series may take the memory "a" had; the worker's handle writes only into "a".
      jobs.inc({ k: "c" }, 1000);
      assert.deepEqual(await step(write(JOBS, ["a"], 1)), { removed: false });
      assert.deepEqual(shown(registry, "jobs_total"), { [A]: 8, [B]: 100, [C]: 1000 });
    } finally {
      await pool[0]!.run({ task: "forget" });
    }
  });

  it("a bound series a worker revives through a series removed since its last call still drops the write, and comes back at its next sync", async () => {
    const { registry, step } = await sharedWithWorker({ timer: false });
    try {
      const jobs = registry.get("jobs_total") as Counter<"k">;
      await step(write(JOBS, ["a"], 1)); // binds "a", writes 1
      jobs.remove({ k: "a" });
      await step({ do: "labelled", metric: JOBS, labels: ["a"], action: "inc", value: 2 }); // syncs; "a" again
      assert.deepEqual(shown(registry, "jobs_total"), { [A]: 2 });
      jobs.remove({ k: "a" });
      // The handle knows its first series went; it finds the second in its thread, not knowing it went too.
      assert.deepEqual(await step(write(JOBS, ["a"], 3)), { removed: true });
      assert.deepEqual(shown(registry, "jobs_total"), {});
      await step({ do: "render" });
      assert.deepEqual(await step(write(JOBS, ["a"], 4)), { removed: true });
      assert.deepEqual(shown(registry, "jobs_total"), { [A]: 4 });
    } finally {
      await pool[0]!.run({ task: "forget" });
    }
  });

  it("a worker that only writes through a bound series learns of a removal from its once-a-second timer", async () => {
    const { registry, step } = await sharedWithWorker({ timer: true });
    try {
      await step(write(JOBS, ["a"], 1));
      (registry.get("jobs_total") as Counter<"k">).remove({ k: "a" });
      await sleep(1300); // the worker calls nothing meanwhile; its timer catches up
      assert.deepEqual(await step(write(JOBS, ["a"], 5)), { removed: true });
      assert.deepEqual(shown(registry, "jobs_total"), { [A]: 5 });
    } finally {
      await pool[0]!.run({ task: "forget" });
    }
  });

  for (
    const [call, sync] of [
      ["registry.get()", { do: "get", metric: RUNS }],
      ["registering a metric", { do: "register", metric: RUNS }],
      ["registry.remove()", { do: "dropMetric", metric: RUNS }],
      ["registry.remove() of a name never registered", { do: "dropMetric", metric: HITS }],
    ] as [string, LifecycleStep][]
  ) {
    it(`${call} in a worker is a call into the registry: its bound series of a removed series comes back at the next write`, async () => {
      const { registry, step } = await sharedWithWorker({ timer: false });
      try {
        registerLifecycle(registry, LIFECYCLE_CATALOG[RUNS]!);
        await step(write(JOBS, ["a"], 1));
        (registry.get("jobs_total") as Counter<"k">).remove({ k: "a" });
        await step(sync);
        assert.deepEqual(await step(write(JOBS, ["a"], 5)), { removed: true });
        assert.deepEqual(shown(registry, "jobs_total"), { [A]: 5 });
      } finally {
        await pool[0]!.run({ task: "forget" });
      }
    });
  }

  it("a labelled call in a worker, through the metric object it got before, writes into the series made again after a removal", async () => {
    const { registry, step } = await sharedWithWorker({ timer: false });
    try {
      const inc = (value: number, cached: boolean): LifecycleStep => ({
        do: "labelled",
        metric: JOBS,
        labels: ["a"],
        action: "inc",
        value,
        cached,
      });
      await step(inc(1, false));
      (registry.get("jobs_total") as Counter<"k">).remove({ k: "a" });
      await step(inc(5, true));
      assert.deepEqual(shown(registry, "jobs_total"), { [A]: 5 });
    } finally {
      await pool[0]!.run({ task: "forget" });
    }
  });

  it("a bound series a worker revived shows once in that worker's render", async () => {
    const { registry, step } = await sharedWithWorker({ timer: false });
    try {
      await step(write(JOBS, ["a"], 1));
      (registry.get("jobs_total") as Counter<"k">).remove({ k: "a" });
      await step({ do: "get", metric: JOBS }); // a sync, not a render
      await step(write(JOBS, ["a"], 5)); // revives "a"
      const { prometheus } = await step({ do: "render" }) as { prometheus: string };
      assert.deepEqual(prometheus.split("\n").filter((line) => line.startsWith("jobs_total{")), [
        'jobs_total{k="a"} 5',
      ]);
    } finally {
      await pool[0]!.run({ task: "forget" });
    }
  });

  it("a write through a bound series of a metric removed by registry.remove() is dropped: no hidden series, seriesCount() unchanged", async () => {
    const { registry, step } = await sharedWithWorker({ timer: false });
    try {
      await step(write(JOBS, ["a"], 1));
      assert.equal(registry.seriesCount(), 1);
      assert.equal(registry.remove("jobs_total"), true);
      await step({ do: "render" }); // the worker learns the metric is gone
      assert.deepEqual(await step(write(JOBS, ["a"], 5)), { removed: true });
      assert.equal(registry.seriesCount(), 0);
      assert.doesNotMatch(registry.render(), /^jobs_total/m);
      const again = registerLifecycle(registry, LIFECYCLE_CATALOG[JOBS]!) as Counter<"k">;
      assert.equal(again.get({ k: "a" }), 0);
    } finally {
      await pool[0]!.run({ task: "forget" });
    }
  });

  it("a new worker takes the thread slot a detached one gave back: what the old one recorded stays, what was removed meanwhile does not come back", async () => {
    const registry = new Registry({ maxThreads: 2 });
    const jobs = registerLifecycle(registry, LIFECYCLE_CATALOG[JOBS]!) as Counter<"k">;
    const handle = registry.share();
    const first = await spawnWorker(WORKER);
    try {
      await first.run({ task: "attach", handle });
      await first.run({ task: "step", step: write(JOBS, ["a"], 1) });
      await first.run({ task: "step", step: write(JOBS, ["b"], 2) });
      await first.run({ task: "detach" });
    } finally {
      await first.terminate();
    }
    // The slot's shard holds "a" and "b"; removing "a" now clears it there too.
    assert.equal(jobs.remove({ k: "a" }), true);
    const second = await spawnWorker(WORKER);
    try {
      assert.equal(await second.run({ task: "attach", handle }), 1, "the new worker takes the slot given back");
      await second.run({ task: "step", step: write(JOBS, ["a"], 10) });
      await second.run({ task: "step", step: write(JOBS, ["b"], 20) });
      assert.deepEqual(shown(registry, "jobs_total"), { [A]: 10, [B]: 22 });
      assert.equal(registry.seriesCount(), 2);
    } finally {
      await second.terminate();
    }
  });

  it("a series a worker stopped writing expires at a render on the main thread, one it keeps writing stays, and the series count agrees", async () => {
    const clockBuffer = new SharedArrayBuffer(8);
    const clock = new Float64Array(clockBuffer);
    clock[0] = 1_700_000_000_000;
    const realNow = Date.now;
    Date.now = () => clock[0]!;
    try {
      const { registry, step } = await sharedWithWorker({ timer: false, clock: clockBuffer });
      const set = (k: string, value: number): LifecycleStep => ({
        do: "labelled",
        metric: DEPTH,
        labels: [k],
        action: "set",
        value,
      });
      await step(set("a", 1));
      await step(set("b", 1));
      registry.render(); // the first render sees both change
      clock[0]! += 6_000;
      await step(set("b", 1)); // the same value, but a write: not stale
      registry.render();
      clock[0]! += 6_000; // "a": 12 s without a write, past its 10 s; "b": 6 s
      const text = registry.render();
      assert.deepEqual(shown(registry, "depth"), { [B]: 1 });
      assert.match(text, /^atomic_metrics_series 1$/m, "the render that expired a series counts what it shows");
      await step({ do: "labelled", metric: DEPTH, labels: ["a"], action: "inc", value: 2 }); // "a" comes back from zero
      assert.deepEqual(shown(registry, "depth"), { [A]: 2, [B]: 1 });
    } finally {
      Date.now = realNow;
      await pool[0]!.run({ task: "forget" });
    }
  });
});

// ---- concurrent stress ---------------------------------------------------------------------------

describe("Series lifecycle across threads, concurrent", () => {
  it("4 workers record through bound series and labelled calls while the main thread removes and makes series again: renders parse, series never removed are exact, memory stays bounded", async () => {
    const plan: StressPlan = {
      stable: ["s0", "s1", "s2"],
      churned: ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"],
    };
    const registry = new Registry();
    const metrics = stressMetrics(registry);
    const handle = registry.share();
    const control = new SharedArrayBuffer(8);
    const words = new Int32Array(control); // 0: stop, 1: workers ready
    try {
      for (const worker of pool) await worker.run({ task: "attach", handle });
      const running = pool.map((worker, i) => worker.run({ task: "stress", plan, control, worker: i }));
      while (Atomics.load(words, 1) < pool.length) await sleep(1);
      // Every worker holds every series now: what the store takes for them.
      const before = registry.byteLength;
      let most = before;
      const seen = new Map<string, number>();
      const prometheus: string[] = [];
      const openmetrics: string[] = [];
      let renders = 0;
      let cycles = 0;
      const until = Date.now() + 1000;
      while (Date.now() < until) {
        for (let i = 0; i < 20; i++, cycles++) {
          const k = plan.churned[(cycles * 5) % plan.churned.length]!;
          metrics.churned.remove({ k });
          metrics.churned.inc({ k });
        }
        const text = registry.render();
        renders++;
        const families = parseExposition(text, false);
        // Series never removed never go down; a histogram's +Inf bucket is its count.
        for (const s of families.get("stress_stable_total")!.samples) {
          const key = JSON.stringify(s.labels);
          assert.ok(s.value >= (seen.get(key) ?? 0), `stress_stable_total${key} went down`);
          seen.set(key, s.value);
        }
        const latency = families.get("stress_seconds")!.samples;
        const count = latency.find((s) => s.name === "stress_seconds_count")!.value;
        assert.ok(count >= (seen.get("count") ?? 0), "stress_seconds_count went down");
        seen.set("count", count);
        assert.equal(latency.find((s) => s.labels.le === "+Inf")!.value, count, "+Inf bucket differs from _count");
        if (renders % 25 === 1) {
          prometheus.push(text);
          const om = registry.render("openmetrics");
          parseExposition(om, true);
          openmetrics.push(om);
        }
        most = Math.max(most, registry.byteLength);
        await sleep(0);
      }
      Atomics.store(words, 0, 1);
      const results = await Promise.all(running) as {
        stable: number[];
        gauge: number;
        observations: number;
        iterations: number;
      }[];
      // Last, every churned series is removed; each worker syncs, then writes a known amount
      // through its bound series (which come back from zero) and through labelled calls.
      for (const k of plan.churned) metrics.churned.remove({ k });
      const finals = await Promise.all(
        pool.map((worker) => worker.run({ task: "stress-final", plan, bound: 10, labelled: 100 })),
      ) as { removed: boolean[] }[];
      for (const final of finals) assert.ok(final.removed.every(Boolean), "a worker's bound series missed the removal");
      const text = registry.render();
      prometheus.push(text);
      const families = parseExposition(text, false);
      const value = (family: string, name: string, labels: Record<string, string>) =>
        families.get(family)!.samples.find((s) =>
          s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels)
        )?.value;
      plan.stable.forEach((k, i) => {
        const total = results.reduce((sum, r) => sum + r.stable[i]!, 0);
        assert.equal(
          value("stress_stable_total", "stress_stable_total", { k }),
          total,
          `stress_stable_total{k="${k}"}`,
        );
      });
      for (const k of plan.churned) {
        assert.equal(value("stress_churned_total", "stress_churned_total", { k }), pool.length * 110, `churned ${k}`);
      }
      results.forEach((r, w) => assert.equal(value("stress_level", "stress_level", { w: String(w) }), r.gauge));
      const observations = results.reduce((sum, r) => sum + r.observations, 0);
      assert.equal(value("stress_seconds", "stress_seconds_count", {}), observations);
      assert.ok(renders >= 5 && cycles >= 100, `${renders} renders, ${cycles} cycles`);
      assert.ok(
        most <= 2 * before,
        `the store grew from ${before} to ${most} bytes over ${cycles} remove-and-create cycles`,
      );
      judge(prometheus, openmetrics);
    } finally {
      for (const worker of pool) await worker.run({ task: "forget" });
    }
  });
});

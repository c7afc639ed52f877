/**
 * Snapshots as JSON can carry them between processes (`node:cluster`'s IPC channel serializes
 * messages as JSON, which turns `Infinity` and `NaN` into `null`): every number that is not
 * finite is written as `"+Inf"`, `"-Inf"` or `"NaN"`, and a snapshot is cut into parts of a
 * bounded number of values, so no process builds one string of a whole registry.
 *
 * @module
 */

import type { MetricType } from "../_family.ts";
import { type AggregatedSnapshot, type Aggregator, isAggregator } from "./snapshot_merge.ts";
import type { SeriesSnapshot } from "./snapshot.ts";

/** @ignore @internal A number as JSON carries it: itself when finite, else its name in the text formats. */
export type WireNumber = number | "+Inf" | "-Inf" | "NaN";

/** @ignore @internal One series on the wire. */
export interface WireSeries {
  /** Labels. */
  l: Record<string, string>;
  /** Value (counters and gauges). */
  v?: WireNumber;
  /** Count (histograms and summaries). */
  c?: WireNumber;
  /** Sum (histograms and summaries). */
  s?: WireNumber;
  /** Cumulative buckets: `[le, count]`. */
  b?: [WireNumber, WireNumber][];
  /** Quantiles: `[quantile, value]`. */
  q?: [WireNumber, WireNumber][];
  /** Native buckets: schema, zero threshold, zero count, positive and negative `[key, count]`. */
  x?: { s: number; z: WireNumber; c: WireNumber; p: [number, WireNumber][]; n: [number, WireNumber][] };
}

/** @ignore @internal One metric (or some of its series: a metric may come in several parts) on the wire. */
export interface WireMetric {
  /** Name. */
  n: string;
  /** Help. */
  h: string;
  /** Type. */
  t: MetricType;
  /** Unit. */
  u: string;
  /** Label names. */
  l: string[];
  /** Aggregator, when the process sets one. */
  a?: Aggregator;
  /** Series. */
  s: WireSeries[];
}

function toWireNumber(value: number): WireNumber {
  if (Number.isFinite(value)) return value;
  return value === Infinity ? "+Inf" : value === -Infinity ? "-Inf" : "NaN";
}

function fromWireNumber(value: unknown, what: string): number {
  if (typeof value === "number") return value;
  if (value === "+Inf") return Infinity;
  if (value === "-Inf") return -Infinity;
  if (value === "NaN") return NaN;
  throw new TypeError(`Snapshot part has a ${what} that is not a number: ${JSON.stringify(value)}`);
}

function toWireSeries(type: MetricType, series: SeriesSnapshot): WireSeries {
  const out: WireSeries = { l: series.labels };
  if (type === "counter" || type === "gauge") {
    out.v = toWireNumber(series.value);
    return out;
  }
  out.c = toWireNumber(series.count);
  out.s = toWireNumber(series.sum);
  if (type === "histogram") {
    out.b = series.buckets.map((b) => [toWireNumber(b.le), toWireNumber(b.count)]);
    const native = series.native;
    if (native !== undefined) {
      out.x = {
        s: native.schema,
        z: toWireNumber(native.zeroThreshold),
        c: toWireNumber(native.zeroCount),
        p: native.positive.map(([k, c]) => [k, toWireNumber(c)]),
        n: native.negative.map(([k, c]) => [k, toWireNumber(c)]),
      };
    }
  } else {
    out.q = series.quantiles.map((q) => [toWireNumber(q.quantile), toWireNumber(q.value)]);
  }
  return out;
}

/** What a series costs in a part: roughly the numbers it carries. */
function costOf(series: SeriesSnapshot): number {
  return 1 + series.buckets.length + series.quantiles.length +
    (series.native === undefined ? 0 : series.native.positive.length + series.native.negative.length);
}

/**
 * @ignore @internal Cuts a snapshot into parts for the wire, each of about `budget` values at most (a series is
 * never cut; a metric with more series than fit in one part comes in several, each with its
 * definition).
 *
 * @param metrics The snapshot.
 * @param budget Values per part (a part holds at least one series).
 * @returns The parts, in order; none for an empty snapshot.
 *
 * @example Infinity survives JSON
 * ```ts
 * import { Registry } from "../registry.ts";
 * import { fromWire, toWire } from "./snapshot_wire.ts";
 *
 * const registry = new Registry({ selfMetrics: false });
 * registry.gauge({ name: "limit", help: "Limit" }).set(Infinity);
 * const parts = toWire(registry.collect());
 * const back = fromWire(JSON.parse(JSON.stringify(parts[0])));
 * if (back[0]!.series[0]!.value !== Infinity) throw new Error();
 * ```
 */
export function toWire(metrics: readonly AggregatedSnapshot[], budget = 4096): WireMetric[][] {
  const parts: WireMetric[][] = [];
  let part: WireMetric[] = [];
  let used = 0;
  for (const metric of metrics) {
    const head = (): WireMetric => {
      const out: WireMetric = {
        n: metric.name,
        h: metric.help,
        t: metric.type,
        u: metric.unit,
        l: [...metric.labelNames],
        s: [],
      };
      if (metric.aggregator !== undefined) out.a = metric.aggregator;
      return out;
    };
    let current = head();
    part.push(current);
    used++;
    for (const series of metric.series) {
      const cost = costOf(series);
      if (used + cost > budget && used > 1) {
        parts.push(part);
        current = head();
        part = [current];
        used = 1;
      }
      current.s.push(toWireSeries(metric.type, series));
      used += cost;
    }
  }
  if (part.length > 0) parts.push(part);
  return parts;
}

const TYPES: readonly string[] = ["counter", "gauge", "histogram", "summary"];

function isRecordOfStrings(value: unknown): value is Record<string, string> {
  return value !== null && typeof value === "object" && !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === "string");
}

function pairs(value: unknown, what: string): [number, number][] {
  if (!Array.isArray(value)) throw new TypeError(`Snapshot part has ${what} that are not a list`);
  return value.map((pair) => {
    if (!Array.isArray(pair) || pair.length !== 2) throw new TypeError(`Snapshot part has ${what} that are not pairs`);
    return [fromWireNumber(pair[0], what), fromWireNumber(pair[1], what)];
  });
}

function fromWireSeries(type: MetricType, wire: WireSeries): SeriesSnapshot {
  if (wire === null || typeof wire !== "object" || !isRecordOfStrings(wire.l)) {
    throw new TypeError("Snapshot part has a series without a labels object of strings");
  }
  const series: SeriesSnapshot = { labels: wire.l, value: 0, count: 0, sum: 0, buckets: [], quantiles: [] };
  if (type === "counter" || type === "gauge") {
    series.value = fromWireNumber(wire.v, "value");
    return series;
  }
  series.count = fromWireNumber(wire.c, "count");
  series.sum = fromWireNumber(wire.s, "sum");
  if (type === "histogram") {
    series.buckets = pairs(wire.b, "buckets").map(([le, count]) => ({ le, count }));
    const x = wire.x;
    if (x !== undefined) {
      if (x === null || typeof x !== "object" || !Number.isInteger(x.s)) {
        throw new TypeError("Snapshot part has native buckets without a schema");
      }
      series.native = {
        schema: x.s,
        zeroThreshold: fromWireNumber(x.z, "zero threshold"),
        zeroCount: fromWireNumber(x.c, "zero count"),
        positive: pairs(x.p, "native buckets"),
        negative: pairs(x.n, "native buckets"),
      };
    }
  } else {
    series.quantiles = pairs(wire.q, "quantiles").map(([quantile, value]) => ({ quantile, value }));
  }
  return series;
}

/**
 * @ignore @internal Reads a part from the wire back into snapshots, checking its shape (it came from another
 * process).
 *
 * @param part A part that {@linkcode toWire} made, after JSON.
 * @returns The metrics of the part.
 * @throws {TypeError} when the part is not one.
 *
 * @example
 * ```ts
 * import { fromWire } from "./snapshot_wire.ts";
 *
 * const [metric] = fromWire([{ n: "up", h: "Up", t: "gauge", u: "", l: [], s: [{ l: {}, v: "NaN" }] }]);
 * if (!Number.isNaN(metric!.series[0]!.value)) throw new Error();
 * let refused = false;
 * try {
 *   fromWire([{ n: "up", t: "clock" }]);
 * } catch {
 *   refused = true;
 * }
 * if (!refused) throw new Error();
 * ```
 */
export function fromWire(part: unknown): AggregatedSnapshot[] {
  if (!Array.isArray(part)) throw new TypeError("Snapshot part is not a list of metrics");
  return part.map((wire: WireMetric) => {
    if (wire === null || typeof wire !== "object") {
      throw new TypeError("Snapshot part has a metric that is not an object");
    }
    const { n, h, t, u, l, a, s } = wire;
    if (typeof n !== "string" || typeof h !== "string" || typeof u !== "string" || !TYPES.includes(t)) {
      throw new TypeError(`Snapshot part has a metric without a name, help, unit or type: ${JSON.stringify(n)}`);
    }
    if (!Array.isArray(l) || !l.every((name) => typeof name === "string") || !Array.isArray(s)) {
      throw new TypeError(`Snapshot part has metric ${JSON.stringify(n)} without label names or series`);
    }
    const metric: AggregatedSnapshot = {
      name: n,
      help: h,
      type: t,
      unit: u,
      labelNames: l,
      series: s.map((series) => fromWireSeries(t, series)),
    };
    if (isAggregator(a)) metric.aggregator = a;
    return metric;
  });
}

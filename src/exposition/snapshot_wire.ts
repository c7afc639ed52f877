/**
 * Snapshots as JSON can carry them between processes (`node:cluster`'s IPC channel serializes
 * messages as JSON, which turns `Infinity` and `NaN` into `null`): compact, with a metric's
 * label names written once and each series as its label values and numbers in one flat list
 * (no object, no repeated key per series); every number that is not finite written as
 * `"+Inf"`, `"-Inf"` or `"NaN"`; and a snapshot cut into parts of a bounded number of values,
 * so no process builds one string of a whole registry.
 *
 * @module
 */

import type { MetricType } from "../_family.ts";
import {
  type AggregatedSnapshot,
  type Aggregator,
  type CompactSnapshot,
  isAggregator,
  type NativeSnapshot,
  rowWidth,
  type SeriesBlock,
} from "./snapshot_merge.ts";
import type { SeriesSnapshot } from "./snapshot.ts";

/** @ignore @internal A number as JSON carries it: itself when finite, else its name in the text formats. */
export type WireNumber = number | "+Inf" | "-Inf" | "NaN";

/** @ignore @internal A series' native buckets: schema, zero threshold, zero count, positive and negative `key, count, …`. */
export type WireNative = [number, WireNumber, WireNumber, WireNumber[], WireNumber[]];

/**
 * @ignore @internal Some series of a metric that share their label names (a metric may come in several of
 * these, in one part or several), on the wire.
 */
export interface WireMetric {
  /** Name. */
  n: string;
  /** Help. */
  h: string;
  /** Type. */
  t: MetricType;
  /** Unit. */
  u: string;
  /** Label names of the metric. */
  l: string[];
  /** Aggregator, when the process sets one. */
  a?: Aggregator;
  /** The label names of the series here, in their order. */
  k: string[];
  /** A histogram's bucket bounds. */
  b?: WireNumber[];
  /** A summary's quantiles. */
  q?: WireNumber[];
  /** The series: each its label values (as many as `k`), then its numbers (see {@linkcode SeriesBlock}). */
  d: (string | WireNumber)[];
  /** A histogram's native buckets by series (0 for none), when any series has them. */
  x?: (WireNative | 0)[];
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

/** What a series costs in a part: roughly the numbers it carries. */
function costOf(series: SeriesSnapshot): number {
  return 1 + series.buckets.length + series.quantiles.length +
    (series.native === undefined ? 0 : series.native.positive.length + series.native.negative.length);
}

/** Whether `labels` has exactly the names `keys`, in that order. */
function hasKeys(labels: Record<string, string>, keys: readonly string[]): boolean {
  let i = 0;
  for (const name in labels) if (keys[i++] !== name) return false;
  return i === keys.length;
}

/** Whether a series fits a wire metric's shape: its label names, bucket bounds, quantiles and native buckets. */
function fits(wire: WireMetric, series: SeriesSnapshot): boolean {
  if (!hasKeys(series.labels, wire.k)) return false;
  if (wire.t === "histogram") {
    const b = wire.b!;
    if (b.length !== series.buckets.length || (wire.x !== undefined) !== (series.native !== undefined)) return false;
    for (let i = 0; i < b.length; i++) if (!Object.is(b[i], toWireNumber(series.buckets[i]!.le))) return false;
  } else if (wire.t === "summary") {
    const q = wire.q!;
    if (q.length !== series.quantiles.length) return false;
    for (let i = 0; i < q.length; i++) if (!Object.is(q[i], toWireNumber(series.quantiles[i]!.quantile))) return false;
  }
  return true;
}

function pushSeries(wire: WireMetric, series: SeriesSnapshot): void {
  const d = wire.d;
  for (const key of wire.k) d.push(series.labels[key]!);
  const type = wire.t;
  if (type === "counter" || type === "gauge") {
    d.push(toWireNumber(series.value));
    return;
  }
  d.push(toWireNumber(series.count), toWireNumber(series.sum));
  if (type === "histogram") {
    for (const b of series.buckets) d.push(toWireNumber(b.count));
    const native = series.native;
    if (wire.x !== undefined) {
      wire.x.push(
        native === undefined ? 0 : [
          native.schema,
          toWireNumber(native.zeroThreshold),
          toWireNumber(native.zeroCount),
          native.positive.flatMap(([k, c]) => [k, toWireNumber(c)]),
          native.negative.flatMap(([k, c]) => [k, toWireNumber(c)]),
        ],
      );
    }
  } else {
    for (const q of series.quantiles) d.push(toWireNumber(q.value));
  }
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
 * if (back[0]!.blocks[0]!.rows[0] !== Infinity) throw new Error();
 * ```
 */
export function toWire(metrics: readonly AggregatedSnapshot[], budget = 4096): WireMetric[][] {
  const parts: WireMetric[][] = [];
  let part: WireMetric[] = [];
  let used = 0;
  for (const metric of metrics) {
    const head = (series: SeriesSnapshot | undefined): WireMetric => {
      const out: WireMetric = {
        n: metric.name,
        h: metric.help,
        t: metric.type,
        u: metric.unit,
        l: [...metric.labelNames],
        k: series === undefined ? [...metric.labelNames] : Object.keys(series.labels),
        d: [],
      };
      if (metric.aggregator !== undefined) out.a = metric.aggregator;
      if (metric.type === "histogram") {
        out.b = series === undefined ? [] : series.buckets.map((b) => toWireNumber(b.le));
        if (series?.native !== undefined) out.x = [];
      } else if (metric.type === "summary") {
        out.q = series === undefined ? [] : series.quantiles.map((q) => toWireNumber(q.quantile));
      }
      return out;
    };
    let current = head(metric.series[0]);
    part.push(current);
    used++;
    for (const series of metric.series) {
      const cost = costOf(series);
      if (used + cost > budget && used > 1) {
        parts.push(part);
        current = head(series);
        part = [current];
        used = 1;
      } else if (!fits(current, series)) {
        current = head(series);
        part.push(current);
        used++;
      }
      pushSeries(current, series);
      used += cost;
    }
  }
  if (part.length > 0) parts.push(part);
  return parts;
}

const TYPES: readonly string[] = ["counter", "gauge", "histogram", "summary"];

function strings(value: unknown): value is string[] {
  if (!Array.isArray(value)) return false;
  for (const item of value) if (typeof item !== "string") return false;
  return true;
}

function numbers(value: unknown, what: string): number[] {
  if (!Array.isArray(value)) throw new TypeError(`Snapshot part has ${what} that are not a list`);
  const out = new Array<number>(value.length);
  for (let i = 0; i < value.length; i++) out[i] = fromWireNumber(value[i], what);
  return out;
}

function pairs(value: unknown, what: string): [number, number][] {
  const flat = numbers(value, what);
  if (flat.length % 2 !== 0) throw new TypeError(`Snapshot part has ${what} that are not pairs`);
  const out: [number, number][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

function nativeFromWire(x: unknown): NativeSnapshot | undefined {
  if (x === 0) return undefined;
  if (!Array.isArray(x) || x.length !== 5 || !Number.isInteger(x[0])) {
    throw new TypeError("Snapshot part has native buckets without a schema");
  }
  return {
    schema: x[0],
    zeroThreshold: fromWireNumber(x[1], "zero threshold"),
    zeroCount: fromWireNumber(x[2], "zero count"),
    positive: pairs(x[3], "native buckets"),
    negative: pairs(x[4], "native buckets"),
  };
}

/**
 * @ignore @internal Reads a part from the wire back into snapshots in blocks, checking its shape (it came from
 * another process); the part's lists are taken over, not copied.
 *
 * @param part A part that {@linkcode toWire} made, after JSON.
 * @returns The metrics of the part, a block each (a metric continued from the previous part, or
 * with series of other label names, comes again under its name).
 * @throws {TypeError} when the part is not one.
 *
 * @example
 * ```ts
 * import { fromWire } from "./snapshot_wire.ts";
 *
 * const [metric] = fromWire([{ n: "up", h: "Up", t: "gauge", u: "", l: ["job"], k: ["job"], d: ["a", "NaN"] }]);
 * if (!Number.isNaN(metric!.blocks[0]!.rows[1])) throw new Error();
 * let refused = false;
 * try {
 *   fromWire([{ n: "up", t: "clock" }]);
 * } catch {
 *   refused = true;
 * }
 * if (!refused) throw new Error();
 * ```
 */
export function fromWire(part: unknown): CompactSnapshot[] {
  if (!Array.isArray(part)) throw new TypeError("Snapshot part is not a list of metrics");
  return part.map((wire: WireMetric): CompactSnapshot => {
    if (wire === null || typeof wire !== "object") {
      throw new TypeError("Snapshot part has a metric that is not an object");
    }
    const { n, h, t, u, l, a, k, b, q, d, x } = wire;
    if (typeof n !== "string" || typeof h !== "string" || typeof u !== "string" || !TYPES.includes(t)) {
      throw new TypeError(`Snapshot part has a metric without a name, help, unit or type: ${JSON.stringify(n)}`);
    }
    if (!strings(l) || !strings(k) || !Array.isArray(d)) {
      throw new TypeError(`Snapshot part has metric ${JSON.stringify(n)} without label names or series`);
    }
    const les = t === "histogram" ? numbers(b, "bucket bounds") : [];
    const quantiles = t === "summary" ? numbers(q, "quantiles") : [];
    const labels = k.length;
    const stride = labels + rowWidth(t, { les, quantiles });
    if (d.length % stride !== 0) {
      throw new TypeError(`Snapshot part has metric ${JSON.stringify(n)} with series of the wrong length`);
    }
    // The numbers are read in place: the list is this part's own.
    for (let at = 0; at < d.length; at += stride) {
      for (let i = at; i < at + labels; i++) {
        if (typeof d[i] !== "string") {
          throw new TypeError(`Snapshot part has metric ${JSON.stringify(n)} with a label value that is not a string`);
        }
      }
      for (let i = at + labels; i < at + stride; i++) {
        const value = d[i];
        if (typeof value !== "number") d[i] = fromWireNumber(value, "value");
      }
    }
    let native: (NativeSnapshot | undefined)[] | undefined;
    if (t === "histogram" && x !== undefined) {
      if (!Array.isArray(x) || x.length !== d.length / stride) {
        throw new TypeError(`Snapshot part has metric ${JSON.stringify(n)} with native buckets not by series`);
      }
      native = x.map(nativeFromWire);
    }
    const block: SeriesBlock = { keys: k, les, quantiles, rows: d as (string | number)[], native };
    const metric: CompactSnapshot = { name: n, help: h, type: t, unit: u, labelNames: l, blocks: [block] };
    if (isAggregator(a)) metric.aggregator = a;
    return metric;
  });
}

/**
 * The OTLP/JSON encoding of a registry snapshot: an
 * `ExportMetricsServiceRequest` as the OTLP/HTTP JSON protocol defines it
 * (64-bit integers as decimal strings, enums as numbers, attributes as
 * `KeyValue` lists).
 *
 * @module
 */

import type { MetricSnapshot } from "../registry.ts";

/** Resource attributes: `service.name` and friends. */
export type ResourceAttributes = Record<string, string | number | boolean>;

/** Options of {@linkcode encodeMetricsRequest}. */
export interface MetricsEncodingOptions {
  /** Resource attributes of the pushing process, e.g. `{ "service.name": "api" }`. */
  resource?: ResourceAttributes;
  /**
   * Start of the cumulative period, Unix milliseconds.
   * @default {performance.timeOrigin} (when the process started)
   */
  startTimeMs?: number;
  /**
   * Time of the data points, Unix milliseconds.
   * @default {Date.now()}
   */
  timeMs?: number;
}

/** An OTLP `AnyValue` in JSON. */
export type OtlpAnyValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: string }
  | { doubleValue: number };

/** An OTLP `KeyValue` in JSON. */
export interface OtlpKeyValue {
  /** Attribute name. */
  key: string;
  /** Attribute value. */
  value: OtlpAnyValue;
}

/** A double as OTLP/JSON writes it: non-finite values as strings. */
export type OtlpDouble = number | "NaN" | "Infinity" | "-Infinity";

/** An OTLP `ExportMetricsServiceRequest` in JSON, as far as this encoder writes it. */
export interface OtlpMetricsRequest {
  /** One entry: this process. */
  resourceMetrics: {
    resource: { attributes: OtlpKeyValue[] };
    scopeMetrics: {
      scope: { name: string };
      metrics: OtlpMetric[];
    }[];
  }[];
}

/** What every OTLP data point in JSON carries. */
export interface OtlpDataPoint {
  /** The label set. */
  attributes: OtlpKeyValue[];
  /** Start of the cumulative period, Unix nanoseconds as a decimal string. */
  startTimeUnixNano: string;
  /** Time of the snapshot, Unix nanoseconds as a decimal string. */
  timeUnixNano: string;
}

/** One OTLP metric in JSON. */
export type OtlpMetric =
  & { name: string; description: string; unit: string }
  & (
    | {
      sum: { dataPoints: (OtlpDataPoint & { asDouble: OtlpDouble })[]; aggregationTemporality: 2; isMonotonic: true };
    }
    | { gauge: { dataPoints: (OtlpDataPoint & { asDouble: OtlpDouble })[] } }
    | {
      histogram: {
        dataPoints:
          (OtlpDataPoint & { count: string; sum?: OtlpDouble; bucketCounts: string[]; explicitBounds: number[] })[];
        aggregationTemporality: 2;
      };
    }
    | {
      exponentialHistogram: {
        dataPoints: (OtlpDataPoint & {
          count: string;
          sum?: OtlpDouble;
          scale: number;
          zeroCount: string;
          zeroThreshold: number;
          positive: { offset: number; bucketCounts: string[] };
          negative: { offset: number; bucketCounts: string[] };
        })[];
        aggregationTemporality: 2;
      };
    }
    | {
      summary: {
        dataPoints: (OtlpDataPoint & {
          count: string;
          sum: OtlpDouble;
          quantileValues: { quantile: number; value: OtlpDouble }[];
        })[];
      };
    }
  );

/**
 * A native histogram as OTLP exponential histogram points: the same scale (Prometheus'
 * schema) and buckets, OTLP's index being Prometheus' key minus one (OTLP's bucket i holds
 * `(base^i, base^(i+1)]`), dense from the lowest populated index; the sum only when no
 * negative value was recorded, as OTLP asks.
 */
function exponential(
  metric: MetricSnapshot,
  point: (labels: Record<string, string>) => OtlpDataPoint,
): Extract<OtlpMetric, { exponentialHistogram: unknown }>["exponentialHistogram"] {
  const dense = (buckets: [number, number][]): { offset: number; bucketCounts: string[] } => {
    if (buckets.length === 0) return { offset: 0, bucketCounts: [] };
    const offset = buckets[0]![0] - 1;
    const bucketCounts: string[] = new Array(buckets[buckets.length - 1]![0] - buckets[0]![0] + 1).fill("0");
    for (const [key, n] of buckets) bucketCounts[key - 1 - offset] = count(n);
    return { offset, bucketCounts };
  };
  return {
    dataPoints: metric.series.map((s) => {
      const native = s.native!;
      const data = {
        ...point(s.labels),
        count: count(s.count),
        scale: native.schema,
        zeroCount: count(native.zeroCount),
        zeroThreshold: native.zeroThreshold,
        positive: dense(native.positive),
        negative: dense(native.negative),
      };
      return native.negative.length === 0 ? { ...data, sum: double(s.sum) } : data;
    }),
    aggregationTemporality: CUMULATIVE,
  };
}

/** `AGGREGATION_TEMPORALITY_CUMULATIVE`: every value counts from the start time. */
const CUMULATIVE = 2;

// Prometheus base units to UCUM, as the OpenTelemetry Prometheus translator maps them.
const UCUM: Record<string, string> = {
  seconds: "s",
  milliseconds: "ms",
  bytes: "By",
  ratio: "1",
  percent: "%",
  celsius: "Cel",
  meters: "m",
  volts: "V",
  amperes: "A",
  joules: "J",
  grams: "g",
  hertz: "Hz",
};

function double(value: number): OtlpDouble {
  if (Number.isFinite(value)) return value;
  if (Number.isNaN(value)) return "NaN";
  return value > 0 ? "Infinity" : "-Infinity";
}

function count(value: number): string {
  return String(Math.max(0, Math.round(value)));
}

/** Unix milliseconds (possibly fractional) to nanoseconds as a decimal string, exactly. */
function unixNano(ms: number): string {
  const whole = Math.floor(ms);
  const nanos = Math.round((ms - whole) * 1e6);
  return (BigInt(whole) * 1_000_000n + BigInt(nanos)).toString();
}

function attributeValue(value: string | number | boolean): OtlpAnyValue {
  if (typeof value === "string") return { stringValue: value };
  if (typeof value === "boolean") return { boolValue: value };
  if (Number.isInteger(value)) return { intValue: String(value) };
  return { doubleValue: value };
}

function keyValues(attributes: Record<string, string | number | boolean>): OtlpKeyValue[] {
  return Object.entries(attributes).map(([key, value]) => ({ key, value: attributeValue(value) }));
}

function encodeMetric(metric: MetricSnapshot, start: string, time: string): OtlpMetric | undefined {
  if (metric.series.length === 0) return undefined;
  const head = { name: metric.name, description: metric.help, unit: UCUM[metric.unit] ?? metric.unit };
  const point = (labels: Record<string, string>): OtlpDataPoint => ({
    attributes: keyValues(labels),
    startTimeUnixNano: start,
    timeUnixNano: time,
  });
  switch (metric.type) {
    case "counter":
      return {
        ...head,
        sum: {
          dataPoints: metric.series.map((s) => ({ ...point(s.labels), asDouble: double(s.value) })),
          aggregationTemporality: CUMULATIVE,
          isMonotonic: true,
        },
      };
    case "gauge":
      return {
        ...head,
        gauge: { dataPoints: metric.series.map((s) => ({ ...point(s.labels), asDouble: double(s.value) })) },
      };
    case "histogram":
      if (metric.series.some((s) => s.native !== undefined)) {
        return { ...head, exponentialHistogram: exponential(metric, point) };
      }
      return {
        ...head,
        histogram: {
          dataPoints: metric.series.map((s) => {
            // Prometheus buckets are cumulative and end with +Inf; OTLP wants
            // per-bucket counts and the finite bounds only.
            const explicitBounds: number[] = [];
            const bucketCounts: string[] = [];
            let previous = 0;
            for (const bucket of s.buckets) {
              if (bucket.le !== Infinity) explicitBounds.push(bucket.le);
              bucketCounts.push(count(bucket.count - previous));
              previous = bucket.count;
            }
            const data = { ...point(s.labels), count: count(s.count), bucketCounts, explicitBounds };
            // OTLP: "sum should not be filled out" where negative values can be recorded, which
            // for our histograms is decided by a negative lowest bound.
            return explicitBounds[0]! < 0 ? data : { ...data, sum: double(s.sum) };
          }),
          aggregationTemporality: CUMULATIVE,
        },
      };
    case "summary":
      return {
        ...head,
        summary: {
          dataPoints: metric.series.map((s) => ({
            ...point(s.labels),
            count: count(s.count),
            sum: double(s.sum),
            quantileValues: s.quantiles.map((q) => ({ quantile: q.quantile, value: double(q.value) })),
          })),
        },
      };
  }
}

/**
 * Encodes a registry snapshot as an OTLP `ExportMetricsServiceRequest` in
 * JSON: counters as cumulative monotonic sums, gauges as gauges, histograms
 * as cumulative explicit-bucket histograms (per-bucket counts), summaries as
 * summaries; label sets as attributes. Metrics without series are left out.
 *
 * @param metrics What `registry.collect()` returns.
 * @param options Resource attributes and timestamps.
 * @returns The request, ready for `JSON.stringify`.
 *
 * @example Encode a counter
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * import { encodeMetricsRequest } from "@atomic/metrics/otel";
 *
 * const registry = new Registry();
 * registry.counter({ name: "jobs_total", help: "Jobs" }).inc(3);
 * const request = encodeMetricsRequest(registry.collect(), { resource: { "service.name": "worker" } });
 * const metrics = request.resourceMetrics[0]?.scopeMetrics[0]?.metrics ?? [];
 * const metric = metrics.find((m) => m.name === "jobs_total");
 * if (!metric || !("sum" in metric) || metric.sum.dataPoints[0]?.asDouble !== 3) throw new Error("not a sum of 3");
 * ```
 */
export function encodeMetricsRequest(
  metrics: readonly MetricSnapshot[],
  options: MetricsEncodingOptions = {},
): OtlpMetricsRequest {
  const start = unixNano(options.startTimeMs ?? performance.timeOrigin);
  const time = unixNano(options.timeMs ?? Date.now());
  const encoded: OtlpMetric[] = [];
  for (const metric of metrics) {
    const one = encodeMetric(metric, start, time);
    if (one !== undefined) encoded.push(one);
  }
  return {
    resourceMetrics: [{
      resource: { attributes: keyValues(options.resource ?? {}) },
      scopeMetrics: [{ scope: { name: "atomic-metrics" }, metrics: encoded }],
    }],
  };
}

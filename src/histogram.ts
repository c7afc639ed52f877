/**
 * Histograms: observations counted into cumulative buckets, with their count and sum.
 *
 * @module
 */

import {
  type ExemplarProvider,
  Family,
  type FamilyContext,
  SeriesBase,
  type SeriesPlace,
  type SeriesSize,
  type StoredExemplar,
} from "./_family.ts";
import type { Labels } from "./labels.ts";
import { checkObservation } from "./_values.ts";
import { mergeNative, type NativeBuckets, nativeObserve, nativeSlots } from "./storage/native_buckets.ts";

/** Prometheus' default buckets, in seconds. */
export const DEFAULT_BUCKETS: readonly number[] = Object.freeze([
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
]);

/**
 * `count` buckets starting at `start`, each `width` apart.
 *
 * @example
 * ```ts
 * import { linearBuckets } from "@atomic/metrics";
 * if (linearBuckets(1, 2, 3).join() !== "1,3,5") throw new Error();
 * ```
 */
export function linearBuckets(start: number, width: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + i * width);
}

/**
 * `count` buckets starting at `start`, each `factor` times the previous.
 *
 * @example
 * ```ts
 * import { exponentialBuckets } from "@atomic/metrics";
 * if (exponentialBuckets(1, 10, 3).join() !== "1,10,100") throw new Error();
 * ```
 */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start * Math.pow(factor, i));
}

/**
 * One series of a histogram, bound to its label values: the hot path.
 *
 * Layout in each shard: one count per bucket (not cumulative), the `+Inf` bucket, the
 * sum. `_count` is the sum of the buckets, so `+Inf` equals `_count` in every render.
 *
 * @example Observing latencies
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * const registry = new Registry();
 * const latency = registry.histogram({ name: "latency_seconds", help: "Latency", buckets: [0.1, 1] });
 * const series = latency.labels({});
 * series.observe(0.05);
 * series.observe(3);
 * if (series.count() !== 2 || series.sum() !== 3.05) throw new Error("wrong count or sum");
 * ```
 */
export class HistogramSeries extends SeriesBase {
  /** @ignore @internal Last exemplar per bucket (index as in the buckets, then `+Inf`), this thread's. */
  bucketExemplars: (StoredExemplar | undefined)[] | undefined;
  private readonly upper: Float64Array;
  private readonly minimum: number;
  /** Buckets per sign of the native part; 0 for a classic histogram. */
  private readonly width: number;
  /** @ignore @internal When this thread made the series (or last reset it), for `minResetDuration`. */
  bornAt: number;
  /** @ignore @internal The latest exemplars of the native buckets (this thread's; at most 10). */
  nativeExemplars: StoredExemplar[] | undefined;

  /** @ignore @internal Made by the histogram for each label set; use `Histogram.labels()`. */
  constructor(family: Histogram, values: readonly string[], place: SeriesPlace, overflow: boolean) {
    super(family, values, place, overflow);
    this.upper = family.upperBounds;
    this.minimum = family.minimum;
    this.width = family.native?.maxBuckets ?? 0;
    this.bornAt = family.native?.minResetMs ? Date.now() : 0;
  }

  /**
   * Records one observation, with an optional exemplar (labels such as a trace id).
   * Hot path: a linear scan of the (few) bucket bounds, then two plain adds to this
   * thread's shard slots (single writer). An invalid exemplar never makes the call throw:
   * it is dropped and counted.
   * @throws {TypeError} for a value that is not a number; {RangeError} for NaN, or a negative
   * value in a histogram whose lowest bucket bound is not negative; nothing is recorded then.
   */
  observe(value: number, exemplar?: Record<string, string>): void {
    // typeof first: a string would pass the range test and be concatenated into the sum.
    // One comparison refuses NaN and, where the buckets admit none, negative values.
    if (typeof value !== "number" || !(value >= this.minimum)) (this.family as Histogram).refuse(value);
    const upper = this.upper;
    const n = upper.length;
    let bucket = 0;
    while (bucket < n && value > upper[bucket]!) bucket++;
    // One compare on the hot path: an overflow series counts its folds, a removed one revives.
    if (this.flags !== 0) this.beforeWrite();
    const f64 = this.f64;
    const slot = this.offset;
    // The native buckets first: a reset (minResetDuration) starts the series again before counting.
    if (this.width !== 0 && !this.observeNative(value)) return this.observe(value, exemplar);
    f64[slot + bucket]!++;
    f64[slot + n + 1]! += value;
    if (exemplar !== undefined || this.family.exemplars !== undefined) {
      const stored = this.family.exemplarOf(value, exemplar);
      if (stored !== undefined) {
        (this.bucketExemplars ??= [])[bucket] = stored;
        if (this.width !== 0) {
          const kept = this.nativeExemplars ??= [];
          kept.push(stored);
          if (kept.length > 10) kept.shift();
        }
      }
    }
  }

  /** Records into this thread's native buckets; false after resetting the series (then record again). */
  private observeNative(value: number): boolean {
    const family = this.family as Histogram;
    const native = family.native!;
    const at = this.offset + this.upper.length + 2;
    const resetAfter = native.minResetMs > 0 ? this.bornAt + native.minResetMs : Infinity;
    if (nativeObserve(this.f64, at, value, native.schema, native.zeroThreshold, this.width, resetAfter)) return true;
    // client_golang's minResetDuration: past it, a histogram that would need a lower resolution
    // starts again from zero (at full resolution) instead.
    this.bornAt = Date.now();
    const labels = Object.fromEntries(family.labelNames.map((name, i) => [name, this.labelValues[i]!]));
    if (!this.overflow && family.remove(labels)) return false;
    // The overflow series is not reset: it lowers its resolution instead.
    nativeObserve(this.f64, at, value, native.schema, native.zeroThreshold, this.width, Infinity);
    return true;
  }

  /**
   * The native buckets of this series, merged over every thread (undefined for a classic
   * histogram): schema, zero threshold and count, positive and negative buckets by key.
   */
  native(): (NativeBuckets & { zeroThreshold: number; count: number; sum: number }) | undefined {
    const native = (this.family as Histogram).native;
    if (native === undefined) return undefined;
    const store = this.family.store;
    const blocks: (Float64Array | undefined)[] = [];
    if (!this.removed) { for (let t = 0; t < store.threads; t++) blocks.push(store.shard(t)); }
    const at = this.offset + this.upper.length + 2;
    const merged = mergeNative(blocks, at, native.maxBuckets, native.schema, native.maxBuckets);
    return { ...merged, zeroThreshold: native.zeroThreshold, count: this.count(), sum: this.sum() };
  }

  /**
   * Starts a timer; the returned function observes the elapsed seconds and returns them.
   */
  startTimer(): () => number {
    const start = performance.now();
    return () => {
      const seconds = (performance.now() - start) / 1000;
      this.observe(seconds);
      return seconds;
    };
  }

  /** Observations so far, over all threads. */
  count(): number {
    let total = 0;
    for (let i = 0; i <= this.upper.length; i++) total += this.slotSum(i);
    return total;
  }

  /** Sum of observations so far, over all threads. */
  sum(): number {
    return this.slotSum(this.upper.length + 1);
  }

  /** Cumulative bucket counts, ending with `+Inf`. */
  buckets(): number[] {
    const out: number[] = [];
    let running = 0;
    for (let i = 0; i <= this.upper.length; i++) {
      running += this.slotSum(i);
      out.push(running);
    }
    return out;
  }
}

/** What `Histogram.get()` reads of a series: its count, sum and cumulative buckets. */
export interface HistogramValue {
  /** Observations (all threads). */
  count: number;
  /** Sum of the observations. */
  sum: number;
  /** Cumulative bucket counts, one per upper bound, then `+Inf`. */
  buckets: number[];
}

/** The settings of a histogram's native buckets, as the registry keeps them. */
export interface NativeDefinition {
  /** Resolution: bucket boundaries at 2^(2^-schema) apart, from `bucketFactor`. */
  readonly schema: number;
  /** Most buckets exposed (positive and negative); more lower the resolution. */
  readonly maxBuckets: number;
  /** Observations with a magnitude at most this go to the zero bucket. */
  readonly zeroThreshold: number;
  /** Milliseconds after which a histogram that would need a lower resolution is reset instead (0: never). */
  readonly minResetMs: number;
}

/**
 * Native (sparse, exponential) buckets, with client_golang's meaning of each option
 * (`NativeHistogramBucketFactor`, `NativeHistogramMaxBucketNumber`,
 * `NativeHistogramZeroThreshold`, `NativeHistogramMinResetDuration`).
 */
export interface NativeHistogramOptions {
  /**
   * Largest ratio between the bounds of a bucket: the schema is the highest resolution whose
   * factor is at most this (1.1 gives schema 3, factor 2^(1/8) ≈ 1.09).
   * @default 1.1
   */
  bucketFactor?: number;
  /**
   * Most buckets (positive and negative). When more are populated the resolution is halved
   * (buckets merged pairwise) rather than data dropped.
   * @default 160
   */
  maxBuckets?: number;
  /**
   * Observations whose magnitude is at most this count in the zero bucket.
   * @default 2.938735877055719e-39 (2^-128)
   */
  zeroThreshold?: number;
  /**
   * Milliseconds: once this long has passed since the series was made or last reset, an
   * observation that would need a lower resolution resets the series (from zero, at full
   * resolution) instead; 0 never resets.
   * @default 0
   */
  minResetDuration?: number;
}

/** Options of `Registry.histogram()`. */
export interface HistogramOptions<L extends string = string> {
  /** Metric name. */
  name: string;
  /** Help text. */
  help: string;
  /** Label names; `le` is reserved. @default [] */
  labelNames?: readonly L[];
  /**
   * Bucket upper bounds, strictly increasing, finite. A lowest bound below 0 lets the histogram
   * take negative observations, and then OpenMetrics shows no `_sum` nor `_count` for it (the
   * spec forbids them there; the `+Inf` bucket still counts every observation); any other
   * histogram refuses a negative observation with a RangeError and shows `_sum` and `_count` in
   * every render. Prometheus 0.0.4 text always shows both.
   * @default DEFAULT_BUCKETS
   */
  buckets?: readonly number[];
  /** Unit; the name must end with `_<unit>`. @default "" */
  unit?: string;
  /** Exemplar provider for calls that pass no exemplar, or false. @default the registry's */
  exemplars?: ExemplarProvider | false;
  /**
   * Called before every render or collect, e.g. to read a value into the metric. It may be
   * async: `registry.collectAsync()` (and the HTTP handler) await it up to a deadline, counting
   * one that fails or is late; `registry.render()` runs it without waiting.
   */
  collect?: (this: Histogram<L>, histogram: Histogram<L>) => void | Promise<void>;
  /**
   * Seconds without a change after which a series is removed at the next render or collect
   * (it comes back from zero when recorded again); 0 for never. Metrics without labels never expire.
   * @default the registry's `staleAfterSeconds` (0)
   */
  staleAfterSeconds?: number;
  /**
   * Native (sparse, exponential) buckets as well as (or, without `buckets`, instead of) the
   * classic ones: exposed over Prometheus' protobuf format and OTLP (an exponential histogram);
   * the text formats show the classic buckets. Any quantile with a bounded relative error, no
   * bucket layout to choose, a fraction of the series.
   * @default none
   */
  native?: NativeHistogramOptions;
}

/**
 * A histogram: a family of series of bucketed observations.
 *
 * @example Timing a request
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * const registry = new Registry();
 * const duration = registry.histogram({ name: "request_seconds", help: "Requests", labelNames: ["route"] as const });
 * const end = duration.startTimer({ route: "/" });
 * const seconds = end();
 * if (!(seconds >= 0) || duration.labels({ route: "/" }).count() !== 1) throw new Error();
 * ```
 */
export class Histogram<L extends string = string> extends Family<HistogramSeries> {
  /** The bucket upper bounds, without `+Inf`. */
  readonly upperBounds: Float64Array;
  /** @ignore @internal The native (sparse, exponential) buckets' settings, for a native histogram. */
  readonly native: NativeDefinition | undefined;
  /**
   * The least value an observation may take: 0, or `-Infinity` when the lowest bucket bound is
   * negative. Whether a histogram takes negative values is so decided by its definition, and
   * with it which samples it shows: OpenMetrics forbids `_sum` in a histogram with negative
   * observations, so such a histogram shows no `_sum` nor `_count` there, in every render.
   */
  readonly minimum: number;

  /** @ignore @internal Made by the registry; use `Registry.histogram()`. */
  constructor(context: FamilyContext) {
    super(context);
    this.upperBounds = Float64Array.from(this.definition.buckets ?? DEFAULT_BUCKETS);
    this.native = this.definition.native;
    // A native histogram without classic buckets takes negative values, as Prometheus' do.
    const takesNegatives = this.upperBounds.length > 0 ? this.upperBounds[0]! < 0 : this.native !== undefined;
    this.minimum = takesNegatives ? -Infinity : 0;
  }

  /** @ignore @internal Throws the error for an observation the histogram does not take. */
  refuse(value: unknown): never {
    checkObservation(this.what, value);
    throw new RangeError(
      `${this.what} observation must be >= 0, got ${value}: its lowest bucket is ${this.upperBounds[0]}; ` +
        `give it a negative bucket bound to record negative values`,
    );
  }

  /** `"Histogram"`. */
  get kind(): string {
    return "Histogram";
  }

  /** @ignore @internal Buckets, `+Inf` and the sum, in every shard. */
  get size(): SeriesSize {
    // Made once: the size is asked for every series made.
    if (this.sizeOnce === undefined) {
      const native = this.native === undefined ? 0 : nativeSlots(this.native.maxBuckets);
      this.sizeOnce = Object.freeze({ shard: this.upperBounds.length + 2 + native, shared: 0 });
    }
    return this.sizeOnce;
  }
  private sizeOnce: SeriesSize | undefined;

  /** @ignore @internal */
  makeSeries(values: readonly string[], place: SeriesPlace, overflow: boolean): HistogramSeries {
    return new HistogramSeries(this, values, place, overflow);
  }

  /** @ignore @internal */
  fingerprint(series: HistogramSeries): number {
    return series.count();
  }

  /** The bound series of a label set. @throws {Error} on an unknown or missing label. */
  override labels(labels: Labels<L>): HistogramSeries {
    return super.labels(labels);
  }

  /**
   * Records an observation: `observe(v, exemplar?)` or `observe(labels, v, exemplar?)`. The
   * value is checked before the label set, so a call that throws creates no series.
   * @throws {TypeError} for a value that is not a number; {RangeError} for NaN.
   * @throws {Error} on an unknown, missing, too long or malformed label.
   */
  observe(labels: Labels<L>, value: number, exemplar?: Record<string, string>): void;
  /** Records into the series of a histogram without labels: `observe(v)`, `observe(v, exemplar)`. */
  observe(value: number, exemplar?: Record<string, string>): void;
  observe(
    labelsOrValue: Labels<L> | number,
    value?: number | Record<string, string>,
    exemplar?: Record<string, string>,
  ): void {
    if (typeof labelsOrValue === "object") {
      if (typeof value !== "number" || !(value >= this.minimum)) this.refuse(value);
      this.labels(labelsOrValue).observe(value as number, exemplar);
    } else {
      if (typeof labelsOrValue !== "number" || !(labelsOrValue >= this.minimum)) this.refuse(labelsOrValue);
      this.unlabelled().observe(labelsOrValue, value as Record<string, string> | undefined);
    }
  }

  /**
   * Starts a timer; the returned function observes the elapsed seconds and returns them.
   * Labels may be given in part at the start and the rest at the end, as prom-client allows.
   * @throws {Error} at the start on a label the histogram does not have; at the end on a missing label.
   *
   * @example Labels at the start and at the end
   * ```ts
   * import { Registry } from "@atomic/metrics";
   * const registry = new Registry();
   * const duration = registry.histogram({
   *   name: "http_request_seconds",
   *   help: "Requests",
   *   labelNames: ["method", "code"] as const,
   * });
   * const end = duration.startTimer({ method: "GET" });
   * end({ code: "200" });
   * if (duration.get({ method: "GET", code: "200" }).count !== 1) throw new Error();
   * ```
   */
  startTimer(labels?: Partial<Labels<L>>): (moreLabels?: Partial<Labels<L>>) => number {
    return this.timer(labels, (series, seconds) => series.observe(seconds));
  }

  /**
   * The count, sum and cumulative buckets of a series; zeros for a label set never recorded,
   * and no series is created by asking.
   * @throws {Error} on an unknown, missing or malformed label.
   */
  get(labels?: Labels<L>): HistogramValue {
    const series = this.existing(labels);
    if (series === undefined) return { count: 0, sum: 0, buckets: new Array(this.upperBounds.length + 1).fill(0) };
    const buckets = series.buckets();
    return { count: buckets[buckets.length - 1]!, sum: series.sum(), buckets };
  }
}

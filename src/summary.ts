/**
 * Summaries: streaming quantiles over a sliding window, with exact count and sum.
 *
 * @module
 */

import { DEAD, Family, type FamilyContext, SeriesBase, type SeriesPlace, type SeriesSize } from "./_family.ts";
import type { Labels } from "./labels.ts";
import { checkObservation } from "./_values.ts";
import { sketchAdd, sketchQuantiles, type SketchWindow, sketchWords } from "./storage/quantile_sketch.ts";

/** Default quantiles, as prom-client's. */
export const DEFAULT_QUANTILES: readonly number[] = Object.freeze([0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999]);

/**
 * One series of a summary, bound to its label values.
 *
 * Count and sum sit in this thread's shard (exact); the quantile sketch sits in the
 * shared region, its bins updated with `Atomics.add` by any thread.
 *
 * @example Observing sizes
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * const registry = new Registry();
 * const sizes = registry.summary({ name: "payload_bytes", help: "Sizes", quantiles: [0.5] });
 * const series = sizes.labels({});
 * for (let i = 1; i <= 100; i++) series.observe(i);
 * const [median] = series.quantiles();
 * if (Math.abs(median! - 50) > 2 || series.count() !== 100) throw new Error();
 * ```
 */
export class SummarySeries extends SeriesBase {
  /** @ignore @internal The shared sketches (Int32 words). */
  sketches: Int32Array;

  /** @ignore @internal Made by the summary for each label set; use `Summary.labels()`. */
  constructor(family: Summary, values: readonly string[], place: SeriesPlace, overflow: boolean) {
    super(family, values, place, overflow);
    this.sketches = family.store.sharedI32;
    this.shared = place.shared;
  }

  /** @ignore @internal Index of the series' shared slots (its sketch). */
  shared: number;

  /** @ignore @internal */
  override revived(live: SeriesBase | undefined): void {
    const window = (this.family as Summary).window;
    this.sketches = live === undefined
      ? new Int32Array(sketchWords(window.ageBuckets))
      : (live as SummarySeries).sketches;
    this.shared = live === undefined ? 0 : (live as SummarySeries).shared;
  }

  /**
   * Records one observation.
   * @throws {RangeError} for NaN; nothing is recorded then.
   */
  observe(value: number): void {
    // typeof first: a string would pass the NaN test and be concatenated into the sum.
    // One comparison refuses NaN and negative values (OpenMetrics summaries cannot show those).
    if (typeof value !== "number" || !(value >= 0)) (this.family as Summary).refuse(value);
    if (this.flags !== 0) this.beforeWrite();
    const family = this.family as Summary;
    const f64 = this.f64;
    f64[this.offset]!++;
    f64[this.offset + 1]! += value;
    sketchAdd(this.sketches, this.shared * 2, family.window, value, Date.now());
  }

  /** Starts a timer; the returned function observes the elapsed seconds and returns them. */
  startTimer(): () => number {
    const start = performance.now();
    return () => {
      const seconds = (performance.now() - start) / 1000;
      this.observe(seconds);
      return seconds;
    };
  }

  /** Observations so far (all time, all threads). */
  count(): number {
    return this.slotSum(0);
  }

  /** Sum of observations so far (all time, all threads). */
  sum(): number {
    return this.slotSum(1);
  }

  /** The configured quantiles over the window; NaN when the window is empty. */
  quantiles(now: number = Date.now()): number[] {
    const family = this.family as Summary;
    if ((this.flags & DEAD) !== 0) return family.quantileList.map(() => NaN);
    return sketchQuantiles(this.sketches, this.shared * 2, family.window, family.quantileList, now);
  }
}

/** Options of `Registry.summary()`. */
export interface SummaryOptions<L extends string = string> {
  /** Metric name. */
  name: string;
  /** Help text. */
  help: string;
  /** Label names; `quantile` is reserved. @default [] */
  labelNames?: readonly L[];
  /** Quantiles to report, each in [0, 1]. @default DEFAULT_QUANTILES */
  quantiles?: readonly number[];
  /** Length of the sliding window in seconds. @default 600 */
  maxAgeSeconds?: number;
  /** Number of rotating age buckets the window is split in. @default 5 */
  ageBuckets?: number;
  /** Unit; the name must end with `_<unit>`. @default "" */
  unit?: string;
  /**
   * Called before every render or collect, e.g. to read a value into the metric. It may be
   * async: `registry.collectAsync()` (and the HTTP handler) await it up to a deadline, counting
   * one that fails or is late; `registry.render()` runs it without waiting.
   */
  collect?: (this: Summary<L>, summary: Summary<L>) => void | Promise<void>;
  /**
   * Seconds without a change after which a series is removed at the next render or collect
   * (it comes back from zero when recorded again); 0 for never. Metrics without labels never expire.
   * @default the registry's `staleAfterSeconds` (0)
   */
  staleAfterSeconds?: number;
}

/**
 * A summary: a family of series reporting quantiles over a sliding window.
 * Quantiles have a rank error well under 1%; their relative error is 1% while an age bucket's
 * observations span less than about 3.4 decades, and doubles each time a wider span makes the
 * bins merge pairwise (4%, 8%, …). A series takes about 8 KiB of shared memory with the default
 * window.
 *
 * @example Request sizes by route
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * const registry = new Registry();
 * const sizes = registry.summary({ name: "request_bytes", help: "Sizes", labelNames: ["route"] as const });
 * sizes.observe({ route: "/" }, 512);
 * if (!registry.render().includes('request_bytes_count{route="/"} 1')) throw new Error();
 * ```
 */
export class Summary<L extends string = string> extends Family<SummarySeries> {
  /** The quantiles reported. */
  readonly quantileList: readonly number[];
  /** @ignore @internal The sliding window. */
  readonly window: SketchWindow;

  /** @ignore @internal Made by the registry; use `Registry.summary()`. */
  constructor(context: FamilyContext) {
    super(context);
    const d = this.definition;
    this.quantileList = d.quantiles ?? DEFAULT_QUANTILES;
    const ageBuckets = d.ageBuckets ?? 5;
    this.window = {
      ageBuckets,
      bucketMs: ((d.maxAgeSeconds ?? 600) * 1000) / ageBuckets,
      origin: this.store.createdAt,
    };
  }

  /**
   * @ignore @internal Throws the error for an observation a summary does not take: not a number, NaN,
   * or negative (OpenMetrics cannot carry a negative summary value, and whether a summary's
   * samples appear must not depend on its values).
   */
  refuse(value: unknown): never {
    checkObservation(this.what, value);
    throw new RangeError(`${this.what} observation must be >= 0, got ${value}: summaries take no negative values`);
  }

  /** `"Summary"`. */
  get kind(): string {
    return "Summary";
  }

  /** @ignore @internal Count and sum in every shard; the sketch (Int32 words, two per slot) in the shared region. */
  get size(): SeriesSize {
    // Made once: the size is asked for every series made.
    return this.sizeOnce ??= Object.freeze({ shard: 2, shared: Math.ceil(sketchWords(this.window.ageBuckets) / 2) });
  }
  private sizeOnce: SeriesSize | undefined;

  /** @ignore @internal */
  makeSeries(values: readonly string[], place: SeriesPlace, overflow: boolean): SummarySeries {
    return new SummarySeries(this, values, place, overflow);
  }

  /** @ignore @internal */
  fingerprint(series: SummarySeries): number {
    return series.count();
  }

  /** The bound series of a label set. @throws {Error} on an unknown or missing label. */
  override labels(labels: Labels<L>): SummarySeries {
    return super.labels(labels);
  }

  /**
   * Records an observation: `observe(v)` or `observe(labels, v)`. The value is checked before
   * the label set, so a call that throws creates no series.
   * @throws {TypeError} for a value that is not a number; {RangeError} for NaN.
   */
  observe(labels: Labels<L>, value: number): void;
  /** Records into the series of a summary without labels. */
  observe(value: number): void;
  observe(labelsOrValue: Labels<L> | number, value?: number): void {
    if (typeof labelsOrValue === "object") {
      if (typeof value !== "number" || !(value >= 0)) this.refuse(value);
      this.labels(labelsOrValue).observe(value as number);
    } else {
      if (typeof labelsOrValue !== "number" || !(labelsOrValue >= 0)) this.refuse(labelsOrValue);
      this.unlabelled().observe(labelsOrValue);
    }
  }

  /**
   * Starts a timer; the returned function observes the elapsed seconds and returns them.
   * Labels may be given in part at the start and the rest at the end.
   * @throws {Error} at the start on a label the summary does not have; at the end on a missing label.
   */
  startTimer(labels?: Partial<Labels<L>>): (moreLabels?: Partial<Labels<L>>) => number {
    return this.timer(labels, (series, seconds) => series.observe(seconds));
  }

  /**
   * The count and sum of a series (all time) and its quantiles (the window); zeros and NaN
   * quantiles for a label set never recorded, and no series is created by asking.
   * @throws {Error} on an unknown, missing or malformed label.
   */
  get(labels?: Labels<L>): { count: number; sum: number; quantiles: number[] } {
    const series = this.existing(labels);
    if (series === undefined) return { count: 0, sum: 0, quantiles: this.quantileList.map(() => NaN) };
    return { count: series.count(), sum: series.sum(), quantiles: series.quantiles() };
  }
}

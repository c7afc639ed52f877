/**
 * Counters: values that only go up, with fractional increments.
 *
 * @module
 */

import {
  type ExemplarProvider,
  Family,
  SeriesBase,
  type SeriesPlace,
  type SeriesSize,
  type StoredExemplar,
} from "./_family.ts";
import type { Labels } from "./labels.ts";
import { checkIncrement } from "./_values.ts";

/** One shard slot a series: the same object every time (a series is made often). */
const COUNTER_SIZE: SeriesSize = Object.freeze({ shard: 1, shared: 0 });

/**
 * One series of a counter, bound to its label values: the hot path.
 *
 * @example Counting with a bound series
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * const registry = new Registry();
 * const requests = registry.counter({ name: "requests_total", help: "Requests", labelNames: ["code"] as const });
 * const ok = requests.labels({ code: "200" });
 * ok.inc();
 * ok.inc(2);
 * if (ok.get() !== 3) throw new Error("expected 3");
 * ```
 */
export class CounterSeries extends SeriesBase {
  /**
   * @ignore @internal The last exemplar recorded on this series by this thread. A field, not a
   * map kept by the counter: with an exemplar provider (tracing) every `inc()` stores one.
   */
  exemplar: StoredExemplar | undefined = undefined;

  /**
   * Adds `value` (default 1), with an optional exemplar (labels such as a trace id).
   * Hot path: a plain add to this thread's shard slot (single writer, so no Atomics). The
   * `typeof` test comes first because `"5" >= 0` is true and `+=` would concatenate a string.
   * An invalid exemplar never makes the call throw: it is dropped and counted.
   * @throws {TypeError} for an increment that is not a number; nothing is recorded then.
   * @throws {RangeError} for a negative, NaN or infinite increment; nothing is recorded then.
   */
  inc(value: number = 1, exemplar?: Record<string, string>): void {
    if (typeof value !== "number" || !(value >= 0 && value < Infinity)) {
      checkIncrement(`Counter "${this.family.name}"`, value);
    }
    // One compare on the hot path: an overflow series counts its folds, a removed one revives.
    if (this.flags !== 0) this.beforeWrite();
    this.f64[this.offset]! += value;
    if (exemplar !== undefined || this.family.exemplars !== undefined) {
      const stored = this.family.exemplarOf(value, exemplar);
      if (stored !== undefined) this.exemplar = stored;
    }
  }

  /** The current value, summed over all threads. */
  get(): number {
    return this.slotSum(0);
  }
}

/** Options of `Registry.counter()`. */
export interface CounterOptions<L extends string = string> {
  /** Metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*`; conventionally ends in `_total`. */
  name: string;
  /** Help text. */
  help: string;
  /** Label names. @default [] */
  labelNames?: readonly L[];
  /** Unit; the name must end with `_<unit>` (before `_total`). @default "" */
  unit?: string;
  /** Exemplar provider for calls that pass no exemplar, or false for none. @default the registry's */
  exemplars?: ExemplarProvider | false;
  /**
   * Called before every render or collect, e.g. to read a value into the metric. It may be
   * async: `registry.collectAsync()` (and the HTTP handler) await it up to a deadline, counting
   * one that fails or is late; `registry.render()` runs it without waiting.
   */
  collect?: (this: Counter<L>, counter: Counter<L>) => void | Promise<void>;
  /**
   * Seconds without a change after which a series is removed at the next render or collect
   * (it comes back from zero when recorded again); 0 for never. Metrics without labels never expire.
   * @default the registry's `staleAfterSeconds` (0)
   */
  staleAfterSeconds?: number;
}

/**
 * A counter: a family of series that only go up.
 *
 * @example Counting jobs by kind
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * const registry = new Registry();
 * const jobs = registry.counter({ name: "jobs_total", help: "Jobs done", labelNames: ["kind"] as const });
 * jobs.inc({ kind: "email" });
 * jobs.inc({ kind: "email" }, 2);
 * if (!registry.render().includes('jobs_total{kind="email"} 3')) throw new Error("not rendered");
 * ```
 */
export class Counter<L extends string = string> extends Family<CounterSeries> {
  /** `"Counter"`. */
  get kind(): string {
    return "Counter";
  }

  /** @ignore @internal One shard slot per series. */
  get size(): SeriesSize {
    return COUNTER_SIZE;
  }

  /** @ignore @internal */
  makeSeries(values: readonly string[], place: SeriesPlace, overflow: boolean): CounterSeries {
    return new CounterSeries(this, values, place, overflow);
  }

  /** @ignore @internal */
  fingerprint(series: CounterSeries): number {
    return series.get();
  }

  /** The bound series of a label set. @throws {Error} on an unknown or missing label. */
  override labels(labels: Labels<L>): CounterSeries {
    return super.labels(labels);
  }

  /**
   * Adds to the counter: `inc()`, `inc(2.5)`, `inc(2.5, exemplar)`, `inc(labels)`,
   * `inc(labels, 2.5)`, `inc(labels, 2.5, exemplar)`. The increment is checked before the
   * label set, so a call that throws creates no series.
   * @throws {TypeError} for an increment that is not a number or labels that are not an object.
   * @throws {RangeError} for a negative or non-finite increment.
   * @throws {Error} on an unknown, missing, too long or malformed label.
   */
  inc(labels: Labels<L>, value?: number, exemplar?: Record<string, string>): void;
  /** Adds to the series of a metric without labels: `inc()`, `inc(2.5)`, `inc(2.5, exemplar)`. */
  inc(value?: number, exemplar?: Record<string, string>): void;
  inc(
    labelsOrValue?: Labels<L> | number,
    value?: number | Record<string, string>,
    exemplar?: Record<string, string>,
  ): void {
    if (typeof labelsOrValue === "object") {
      // Checked before the label lookup so that a call that throws creates no series.
      if (value !== undefined && (typeof value !== "number" || !(value >= 0 && value < Infinity))) {
        checkIncrement(this.what, value);
      }
      this.labels(labelsOrValue).inc(value as number | undefined, exemplar);
    } else if (value === undefined) {
      // Checked before the series is looked up: a call that throws makes no series (after a removal too).
      if (
        labelsOrValue !== undefined &&
        (typeof labelsOrValue !== "number" || !(labelsOrValue >= 0 && labelsOrValue < Infinity))
      ) {
        checkIncrement(this.what, labelsOrValue);
      }
      this.unlabelled().inc(labelsOrValue);
    } else {
      if (labelsOrValue !== undefined) checkIncrement(this.what, labelsOrValue);
      this.unlabelled().inc(labelsOrValue, value as Record<string, string>);
    }
  }

  /**
   * The value of a series (summed over threads); 0 for a label set never recorded, and no
   * series is created by asking.
   * @throws {Error} on an unknown, missing or malformed label.
   */
  get(labels?: Labels<L>): number {
    return this.existing(labels)?.get() ?? 0;
  }
}

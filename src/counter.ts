/**
 * Counters: values that only go up, with fractional increments.
 *
 * @module
 */

import { Family, SeriesBase, type SeriesSize, type StoredExemplar } from "./_family.ts";
import type { Labels } from "./labels.ts";

/**
 * One series of a counter, bound to its label values: the hot path.
 *
 * @example Counting with a bound series
 * ```ts
 * import { Registry } from "../mod.ts";
 * const registry = new Registry();
 * const requests = registry.counter({ name: "requests_total", help: "Requests", labelNames: ["code"] as const });
 * const ok = requests.labels({ code: "200" });
 * ok.inc();
 * ok.inc(2);
 * if (ok.get() !== 3) throw new Error("expected 3");
 * ```
 */
export class CounterSeries extends SeriesBase {
  /** The last exemplar recorded on this series by this thread. */
  exemplar: StoredExemplar | undefined;

  /**
   * Adds `value` (default 1).
   * Hot path: a plain add to this thread's shard slot (single writer, so no Atomics).
   * @throws {RangeError} for a negative, NaN or infinite increment; nothing is recorded then.
   */
  inc(value: number = 1, exemplar?: Record<string, string>): void {
    if (!(value >= 0 && value < Infinity)) throw this.badIncrement(value);
    this.f64[this.slot]! += value;
    if (this.foldSlot >= 0) this.f64[this.foldSlot]!++;
    if (exemplar !== undefined || this.exemplarProvider !== undefined) {
      const stored = this.family.exemplarOf(value, exemplar);
      if (stored !== undefined) this.exemplar = stored;
    }
  }

  /** The current value, summed over all threads. */
  get(): number {
    return this.store.sumShards(this.offset);
  }

  /** The error for an increment that is negative or not finite. */
  private badIncrement(value: unknown): Error {
    return new RangeError(
      `Counter "${this.family.name}" increment must be a finite number >= 0, got ${String(value)}`,
    );
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
  exemplars?: import("./_family.ts").ExemplarProvider | false;
  /** Called before every render or collect. */
  collect?: (counter: Counter<L>) => void;
}

/**
 * A counter: a family of series that only go up.
 *
 * @example Counting jobs by kind
 * ```ts
 * import { Registry } from "../mod.ts";
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

  /** @internal One shard slot per series. */
  get size(): SeriesSize {
    return { shard: 1, shared: 0 };
  }

  /** @internal */
  makeSeries(values: readonly string[], offset: number, shared: number, overflow: boolean): CounterSeries {
    return new CounterSeries(this, values, offset, shared, overflow);
  }

  /** The bound series of a label set. @throws {Error} on an unknown or missing label. */
  override labels(labels: Labels<L>): CounterSeries {
    return super.labels(labels);
  }

  /**
   * Adds to the counter: `inc()`, `inc(2.5)`, `inc(labels)`, `inc(labels, 2.5)`.
   * @throws {RangeError} for a negative or non-finite increment.
   */
  inc(labelsOrValue?: Labels<L> | number, value?: number): void {
    if (typeof labelsOrValue === "object") this.labels(labelsOrValue).inc(value);
    else this.unlabelled().inc(labelsOrValue);
  }

  /** The value of a series (summed over threads); 0 for a series never recorded. */
  get(labels?: Labels<L>): number {
    return labels === undefined ? this.unlabelled().get() : this.labels(labels).get();
  }
}

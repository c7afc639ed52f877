/**
 * Gauges: values that go up and down.
 *
 * @module
 */

import { type ExemplarProvider, Family, SeriesBase, type SeriesSize } from "./_family.ts";
import type { Labels } from "./labels.ts";
import { checkGaugeValue, notANumber } from "./_values.ts";
import { atomicAddFloat, atomicLoadFloat, atomicStoreFloat } from "./storage/atomic_float.ts";

/**
 * One series of a gauge, bound to its label values.
 *
 * A gauge has one value shared by all threads (a `set` in one thread is seen by all),
 * so it lives in the shared region: a plain store while the registry is private to
 * one thread, a compare-and-swap of the float's bits once it is shared.
 *
 * @example Tracking queue depth
 * ```ts
 * import { Registry } from "../mod.ts";
 * const registry = new Registry();
 * const depth = registry.gauge({ name: "queue_depth", help: "Items waiting" }).labels({});
 * depth.set(10);
 * depth.dec(3);
 * if (depth.get() !== 7) throw new Error("expected 7");
 * ```
 */
export class GaugeSeries extends SeriesBase {
  /** Sets the value (any number, NaN and infinities included). @throws {TypeError} when `value` is not a number. */
  set(value: number): void {
    if (typeof value !== "number") throw this.notANumber(value);
    if (this.foldSlot >= 0) this.f64[this.foldSlot]!++;
    if (this.store.threaded) atomicStoreFloat(this.store.i64, this.shared, value);
    else this.f64[this.shared] = value;
  }

  /** Adds `value` (default 1). @throws {TypeError} when `value` is not a number. */
  inc(value: number = 1): void {
    if (typeof value !== "number") throw this.notANumber(value);
    if (this.foldSlot >= 0) this.f64[this.foldSlot]!++;
    if (this.store.threaded) atomicAddFloat(this.store.i64, this.shared, value);
    else this.f64[this.shared]! += value;
  }

  /** Subtracts `value` (default 1). @throws {TypeError} when `value` is not a number. */
  dec(value: number = 1): void {
    if (typeof value !== "number") throw this.notANumber(value);
    this.inc(-value);
  }

  /** Sets the value to the current Unix time in seconds. */
  setToCurrentTime(): void {
    this.set(Date.now() / 1000);
  }

  /**
   * Starts a timer; the returned function sets the gauge to the elapsed seconds and returns them.
   */
  startTimer(): () => number {
    const start = performance.now();
    return () => {
      const seconds = (performance.now() - start) / 1000;
      this.set(seconds);
      return seconds;
    };
  }

  /** The current value. */
  get(): number {
    return this.store.threaded ? atomicLoadFloat(this.store.i64, this.shared) : this.f64[this.shared]!;
  }

  /** The error for a value that is not a number. */
  private notANumber(value: unknown): Error {
    return notANumber(`Gauge "${this.family.name}"`, "value", value);
  }
}

/** Options of `Registry.gauge()`. */
export interface GaugeOptions<L extends string = string> {
  /** Metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
  name: string;
  /** Help text. */
  help: string;
  /** Label names. @default [] */
  labelNames?: readonly L[];
  /** Unit; the name must end with `_<unit>`. @default "" */
  unit?: string;
  /** Called before every render or collect, e.g. to set the gauge from a reading. */
  collect?: (gauge: Gauge<L>) => void;
  /** Not used by gauges (OpenMetrics has no gauge exemplars); accepted for symmetry. */
  exemplars?: ExemplarProvider | false;
}

/**
 * A gauge: a family of series that go up and down.
 *
 * @example Setting a gauge with labels
 * ```ts
 * import { Registry } from "../mod.ts";
 * const registry = new Registry();
 * const temperature = registry.gauge({ name: "room_celsius", help: "Temperature", labelNames: ["room"] as const });
 * temperature.set({ room: "kitchen" }, 21.5);
 * temperature.inc({ room: "kitchen" }, 0.5);
 * if (temperature.get({ room: "kitchen" }) !== 22) throw new Error("expected 22");
 * ```
 */
export class Gauge<L extends string = string> extends Family<GaugeSeries> {
  /** `"Gauge"`. */
  get kind(): string {
    return "Gauge";
  }

  /** @internal One shared slot per series (and a fold counter slot for the overflow series). */
  get size(): SeriesSize {
    return { shard: 0, shared: 1 };
  }

  /** @internal */
  makeSeries(values: readonly string[], offset: number, shared: number, overflow: boolean): GaugeSeries {
    return new GaugeSeries(this, values, offset, shared, overflow);
  }

  /** The bound series of a label set. @throws {Error} on an unknown or missing label. */
  override labels(labels: Labels<L>): GaugeSeries {
    return super.labels(labels);
  }

  /**
   * Sets the gauge: `set(v)` or `set(labels, v)`. The value is checked before the label set,
   * so a call that throws creates no series.
   * @throws {TypeError} when the value is not a number.
   */
  set(labelsOrValue: Labels<L> | number, value?: number): void {
    if (typeof labelsOrValue === "object") {
      if (typeof value !== "number") checkGaugeValue(this.what, value, false);
      this.labels(labelsOrValue).set(value as number);
    } else this.unlabelled().set(labelsOrValue);
  }

  /** Adds: `inc()`, `inc(v)`, `inc(labels)`, `inc(labels, v)`. @throws {TypeError} when the value is not a number. */
  inc(labelsOrValue?: Labels<L> | number, value?: number): void {
    if (typeof labelsOrValue === "object") {
      if (typeof value !== "number") checkGaugeValue(this.what, value, true);
      this.labels(labelsOrValue).inc(value);
    } else this.unlabelled().inc(labelsOrValue);
  }

  /** Subtracts: `dec()`, `dec(v)`, `dec(labels)`, `dec(labels, v)`. @throws {TypeError} when the value is not a number. */
  dec(labelsOrValue?: Labels<L> | number, value?: number): void {
    if (typeof labelsOrValue === "object") {
      if (typeof value !== "number") checkGaugeValue(this.what, value, true);
      this.labels(labelsOrValue).dec(value);
    } else this.unlabelled().dec(labelsOrValue);
  }

  /** Sets a series to the current Unix time in seconds. */
  setToCurrentTime(labels?: Labels<L>): void {
    (labels === undefined ? this.unlabelled() : this.labels(labels)).setToCurrentTime();
  }

  /**
   * Starts a timer; the returned function sets the gauge to the elapsed seconds and returns
   * them. Labels may be given in part at the start and the rest at the end.
   * @throws {Error} at the start on a label the gauge does not have; at the end on a missing label.
   */
  startTimer(labels?: Partial<Labels<L>>): (moreLabels?: Partial<Labels<L>>) => number {
    const merge = this.timerLabels(labels);
    const start = performance.now();
    return (moreLabels?: Partial<Labels<L>>) => {
      const series = this.labels(merge(moreLabels) as Labels<L>);
      const seconds = (performance.now() - start) / 1000;
      series.set(seconds);
      return seconds;
    };
  }

  /**
   * The value of a series; 0 for a label set never recorded, and no series is created by asking.
   * @throws {Error} on an unknown, missing or malformed label.
   */
  get(labels?: Labels<L>): number {
    return this.existing(labels)?.get() ?? 0;
  }
}

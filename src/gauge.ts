/**
 * Gauges: values that go up and down.
 *
 * @module
 */

import { DEAD, type ExemplarProvider, Family, SeriesBase, type SeriesPlace, type SeriesSize } from "./_family.ts";
import type { Labels } from "./labels.ts";
import { checkGaugeValue, notANumber } from "./_values.ts";

/** Shard slots of a gauge series: the last set (clock, value), the sum of adds since a clock, writes. */
const SET_CLOCK = 0;
const SET_VALUE = 1;
const DELTA_CLOCK = 2;
const DELTA = 3;
const WRITES = 4;
const TWO_32 = 4294967296;

/**
 * One series of a gauge, bound to its label values.
 *
 * A gauge has one value for all threads (a `set` in one thread is seen by all), yet its
 * writes go to the writing thread's own shard, as a counter's do, so no write needs a
 * compare-and-swap of 64 bits (which JavaScript can only do through BigInts): each thread
 * keeps its last `set` with a clock taken from the series' shared clock, and the sum of its
 * adds since the clock it last saw. The value is the newest set, plus the adds of every
 * thread made since it. A `set` costs one atomic add on the clock; `inc` and `dec` a plain
 * read of it.
 *
 * @example Tracking queue depth
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * const registry = new Registry();
 * const depth = registry.gauge({ name: "queue_depth", help: "Items waiting" }).labels({});
 * depth.set(10);
 * depth.dec(3);
 * if (depth.get() !== 7) throw new Error("expected 7");
 * ```
 */
export class GaugeSeries extends SeriesBase {
  /** @ignore @internal The shared clocks (two Int32 words a series: low, high). */
  clocks: Int32Array;

  /** @ignore @internal Made by the gauge for each label set; use `Gauge.labels()`. */
  constructor(family: Gauge, values: readonly string[], place: SeriesPlace, overflow: boolean) {
    super(family, values, place, overflow);
    this.clocks = family.store.sharedI32;
    this.shared = place.shared;
  }

  /** @ignore @internal Index of the series' shared slot (its clock). */
  shared: number;

  /** @ignore @internal */
  override revived(live: SeriesBase | undefined): void {
    this.clocks = live === undefined ? new Int32Array(2) : (live as GaugeSeries).clocks;
    this.shared = live === undefined ? 0 : (live as GaugeSeries).shared;
  }

  /** Sets the value (any number, NaN and infinities included). @throws {TypeError} when `value` is not a number. */
  set(value: number): void {
    if (typeof value !== "number") throw this.notANumber(value);
    if (this.flags !== 0) this.beforeWrite();
    const clocks = this.clocks;
    const at = this.shared * 2;
    // The one atomic step of a set: a clock that orders it against every other thread's.
    const low = this.family.store.threaded ? Atomics.add(clocks, at, 1) : clocks[at]!++;
    if (low === -1) Atomics.add(clocks, at + 1, 1); // the low word wrapped: whoever wrapped it carries
    const clock = clocks[at + 1]! * TWO_32 + ((low + 1) >>> 0);
    const f64 = this.f64;
    const o = this.offset;
    f64[o + SET_VALUE] = value;
    f64[o + SET_CLOCK] = clock;
    f64[o + DELTA_CLOCK] = clock;
    f64[o + DELTA] = 0;
    f64[o + WRITES]!++;
  }

  /** Adds `value` (default 1). @throws {TypeError} when `value` is not a number. */
  inc(value: number = 1): void {
    if (typeof value !== "number") throw this.notANumber(value);
    if (this.flags !== 0) this.beforeWrite();
    const clocks = this.clocks;
    const at = this.shared * 2;
    // A plain read: an add that races a set in another thread is ordered before that set.
    const clock = clocks[at + 1]! * TWO_32 + (clocks[at]! >>> 0);
    const f64 = this.f64;
    const o = this.offset;
    if (f64[o + DELTA_CLOCK] !== clock) {
      f64[o + DELTA] = 0;
      f64[o + DELTA_CLOCK] = clock;
    }
    f64[o + DELTA]! += value;
    f64[o + WRITES]!++;
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

  /** The current value: the newest set of any thread, plus every thread's adds since. */
  get(): number {
    if ((this.flags & DEAD) !== 0) return 0;
    const store = this.family.store;
    const o = this.offset;
    const threads = store.threads;
    let newest = 0;
    let value = 0;
    for (let t = 0; t < threads; t++) {
      const shard = store.shard(t);
      if (o + WRITES >= shard.length) continue;
      const clock = shard[o + SET_CLOCK]!;
      if (clock > newest) {
        newest = clock;
        value = shard[o + SET_VALUE]!;
      }
    }
    for (let t = 0; t < threads; t++) {
      const shard = store.shard(t);
      if (o + WRITES < shard.length && shard[o + DELTA_CLOCK]! >= newest) value += shard[o + DELTA]!;
    }
    return value;
  }

  /** @ignore @internal Writes into the series from every thread, for expiry. */
  writes(): number {
    return this.slotSum(WRITES);
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
  /**
   * Called before every render or collect, e.g. to set the gauge from a reading. It may be
   * async: `registry.collectAsync()` (and the HTTP handler) await it up to a deadline, counting
   * one that fails or is late; `registry.render()` runs it without waiting. The gauge is both
   * its argument and `this`, so prom-client's `collect() { this.set(…) }` works as it is.
   */
  collect?: (this: Gauge<L>, gauge: Gauge<L>) => void | Promise<void>;
  /** Not used by gauges (OpenMetrics has no gauge exemplars); accepted for symmetry. */
  exemplars?: ExemplarProvider | false;
  /**
   * Seconds without a change after which a series is removed at the next render or collect
   * (it comes back from zero when recorded again); 0 for never. Metrics without labels never expire.
   * @default the registry's `staleAfterSeconds` (0)
   */
  staleAfterSeconds?: number;
}

/** A gauge series' slots: five in every shard (see GaugeSeries), one shared for the clock. */
const GAUGE_SIZE: SeriesSize = Object.freeze({ shard: 5, shared: 1 });

/**
 * A gauge: a family of series that go up and down.
 *
 * @example Setting a gauge with labels
 * ```ts
 * import { Registry } from "@atomic/metrics";
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

  /** @ignore @internal Five slots in every shard (see GaugeSeries) and one shared slot for the clock. */
  get size(): SeriesSize {
    return GAUGE_SIZE;
  }

  /** @ignore @internal */
  makeSeries(values: readonly string[], place: SeriesPlace, overflow: boolean): GaugeSeries {
    return new GaugeSeries(this, values, place, overflow);
  }

  /** @ignore @internal */
  fingerprint(series: GaugeSeries): number {
    return series.writes();
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
    } else {
      if (typeof labelsOrValue !== "number") checkGaugeValue(this.what, labelsOrValue, false);
      this.unlabelled().set(labelsOrValue);
    }
  }

  /** Adds: `inc()`, `inc(v)`, `inc(labels)`, `inc(labels, v)`. @throws {TypeError} when the value is not a number. */
  inc(labelsOrValue?: Labels<L> | number, value?: number): void {
    if (typeof labelsOrValue === "object") {
      if (typeof value !== "number") checkGaugeValue(this.what, value, true);
      this.labels(labelsOrValue).inc(value);
    } else {
      if (typeof labelsOrValue !== "number") checkGaugeValue(this.what, labelsOrValue, true);
      this.unlabelled().inc(labelsOrValue);
    }
  }

  /** Subtracts: `dec()`, `dec(v)`, `dec(labels)`, `dec(labels, v)`. @throws {TypeError} when the value is not a number. */
  dec(labelsOrValue?: Labels<L> | number, value?: number): void {
    if (typeof labelsOrValue === "object") {
      if (typeof value !== "number") checkGaugeValue(this.what, value, true);
      this.labels(labelsOrValue).dec(value);
    } else {
      if (typeof labelsOrValue !== "number") checkGaugeValue(this.what, labelsOrValue, true);
      this.unlabelled().dec(labelsOrValue);
    }
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
    return this.timer(labels, (series, seconds) => series.set(seconds));
  }

  /**
   * The value of a series; 0 for a label set never recorded, and no series is created by asking.
   * @throws {Error} on an unknown, missing or malformed label.
   */
  get(labels?: Labels<L>): number {
    return this.existing(labels)?.get() ?? 0;
  }
}

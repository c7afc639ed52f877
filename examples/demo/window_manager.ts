/**
 * Event-time windows with a watermark: tumbling windows per event type,
 * sliding windows over all events, and session windows per user. A window
 * fires once the watermark has passed its end plus the allowed lateness; its
 * aggregations are computed then.
 *
 * @module
 */

import type { StreamProcessorMetrics } from "../../src/catalog/mod.ts";
import type { DemoEvent } from "./event_source.ts";

/** The window kinds, the `window_type` label's values. */
export type WindowType = "tumbling" | "sliding" | "session";

/** The aggregations computed when a window fires, the `aggregation_type` label's values. */
export type AggregationType = "count" | "sum" | "avg" | "max" | "distinct_count";

/** A fired window and its aggregates: what the demo publishes downstream. */
export interface WindowResult {
  /** Kind of window. */
  readonly windowType: WindowType;
  /** Event type (tumbling), `"all"` (sliding) or user id (session). */
  readonly key: string;
  /** Event-time start, epoch ms. */
  readonly start: number;
  /** Event-time end, epoch ms (exclusive). */
  readonly end: number;
  /** The aggregates by name. */
  readonly aggregates: Readonly<Partial<Record<AggregationType, number>>>;
}

/** Options of {@link WindowManager}. */
export interface WindowManagerOptions {
  /** Tumbling window size, ms. @default 10000 */
  tumblingMs?: number;
  /** Sliding window size, ms. @default 60000 */
  slidingMs?: number;
  /** Sliding window step, ms. @default 10000 */
  slideMs?: number;
  /** Inactivity that closes a session, ms. @default 15000 */
  sessionGapMs?: number;
  /** How far behind the newest event time the watermark trails, ms. @default 2000 */
  outOfOrdernessMs?: number;
  /** How long after the watermark passes a window's end late events still count, ms. @default 1000 */
  allowedLatenessMs?: number;
  /** Without events for this long, the watermark follows the clock instead, ms. @default 10000 */
  idleMs?: number;
}

interface Accumulator {
  start: number;
  end: number;
  count: number;
  sum: number;
  max: number;
  users: Set<string> | undefined;
}

function accumulate(window: Accumulator, event: DemoEvent): void {
  window.count++;
  window.sum += event.amount;
  if (event.amount > window.max) window.max = event.amount;
  window.users?.add(event.userId);
}

/**
 * The open windows of the three kinds, and the watermark that closes them.
 *
 * @example A tumbling window fires after the watermark passes it
 * ```ts
 * import { Registry } from "../../src/registry.ts";
 * import { streamProcessorMetrics } from "../../src/catalog/mod.ts";
 * import { WindowManager } from "./window_manager.ts";
 * const metrics = streamProcessorMetrics(new Registry());
 * const windows = new WindowManager(metrics, { tumblingMs: 1000, outOfOrdernessMs: 0, allowedLatenessMs: 0 });
 * const event = { id: "1", type: "click", userId: "u1", amount: 2, eventTime: 500, createdAt: 500, partition: 0, malformed: false } as const;
 * windows.add(event);
 * windows.add({ ...event, id: "2", eventTime: 1500 });
 * const fired = windows.advance(1600);
 * if (!fired.some((w) => w.windowType === "tumbling" && w.aggregates.count === 1)) throw new Error("did not fire");
 * ```
 */
export class WindowManager {
  readonly #metrics: StreamProcessorMetrics;
  readonly #tumblingMs: number;
  readonly #slidingMs: number;
  readonly #slideMs: number;
  readonly #sessionGapMs: number;
  readonly #outOfOrdernessMs: number;
  readonly #allowedLatenessMs: number;
  readonly #idleMs: number;
  readonly #tumbling = new Map<string, Accumulator & { type: string }>();
  readonly #sliding = new Map<number, Accumulator>();
  readonly #sessions = new Map<string, Accumulator>();
  #maxEventTime = -Infinity;
  #lastEventAt = 0;
  #watermark = -Infinity;

  /**
   * @param metrics Where windows, triggers and aggregations are recorded.
   * @param options Window sizes, watermark and lateness.
   */
  constructor(metrics: StreamProcessorMetrics, options: WindowManagerOptions = {}) {
    this.#metrics = metrics;
    this.#tumblingMs = options.tumblingMs ?? 10_000;
    this.#slidingMs = options.slidingMs ?? 60_000;
    this.#slideMs = options.slideMs ?? 10_000;
    this.#sessionGapMs = options.sessionGapMs ?? 15_000;
    this.#outOfOrdernessMs = options.outOfOrdernessMs ?? 2_000;
    this.#allowedLatenessMs = options.allowedLatenessMs ?? 1_000;
    this.#idleMs = options.idleMs ?? 10_000;
  }

  /** The watermark: event times before it are considered complete (epoch ms). */
  get watermark(): number {
    return this.#watermark;
  }

  /**
   * Whether an event comes too late to be counted: every window it belongs to has fired.
   *
   * @param eventTime The event's time, epoch ms.
   * @returns True when it must be dropped.
   */
  isLate(eventTime: number): boolean {
    return eventTime < this.#watermark - this.#allowedLatenessMs;
  }

  /**
   * Adds an event to its windows and moves the watermark.
   *
   * @param event The event (not late: check {@link WindowManager.isLate} first).
   */
  add(event: DemoEvent): void {
    const time = event.eventTime;
    if (time > this.#maxEventTime) this.#maxEventTime = time;
    this.#lastEventAt = Date.now();
    this.#watermark = Math.max(this.#watermark, this.#maxEventTime - this.#outOfOrdernessMs);

    const tumblingStart = time - (time % this.#tumblingMs);
    const tumblingKey = `${event.type}|${tumblingStart}`;
    let tumbling = this.#tumbling.get(tumblingKey);
    if (tumbling === undefined) {
      tumbling = {
        type: event.type,
        start: tumblingStart,
        end: tumblingStart + this.#tumblingMs,
        count: 0,
        sum: 0,
        max: 0,
        users: undefined,
      };
      this.#tumbling.set(tumblingKey, tumbling);
    }
    accumulate(tumbling, event);

    // An event belongs to every sliding window whose [start, start + size) covers it.
    const lastStart = time - (time % this.#slideMs);
    for (let start = lastStart; start > time - this.#slidingMs; start -= this.#slideMs) {
      let sliding = this.#sliding.get(start);
      if (sliding === undefined) {
        sliding = { start, end: start + this.#slidingMs, count: 0, sum: 0, max: 0, users: new Set() };
        this.#sliding.set(start, sliding);
      }
      accumulate(sliding, event);
    }

    const session = this.#sessions.get(event.userId);
    if (session !== undefined && time < session.end) {
      session.start = Math.min(session.start, time);
      session.end = Math.max(session.end, time + this.#sessionGapMs);
      accumulate(session, event);
    } else {
      // A new session (a session already closed by the watermark starts afresh).
      const fresh = { start: time, end: time + this.#sessionGapMs, count: 0, sum: 0, max: 0, users: undefined };
      accumulate(fresh, event);
      this.#sessions.set(event.userId, fresh);
    }
  }

  /**
   * Fires every window the watermark has passed (plus the allowed lateness),
   * computes its aggregations and updates `stream_processor_active_windows`.
   *
   * @param now Epoch ms, to move an idle watermark with the clock.
   * @returns The fired windows.
   */
  advance(now: number = Date.now()): WindowResult[] {
    if (now - this.#lastEventAt > this.#idleMs) {
      this.#watermark = Math.max(this.#watermark, now - this.#idleMs - this.#outOfOrdernessMs);
    }
    const closedBefore = this.#watermark - this.#allowedLatenessMs;
    const fired: WindowResult[] = [];
    for (const [key, window] of this.#tumbling) {
      if (window.end > closedBefore) continue;
      this.#tumbling.delete(key);
      fired.push(this.#fire("tumbling", window.type, window, ["count", "sum", "avg", "max"]));
    }
    for (const [start, window] of this.#sliding) {
      if (window.end > closedBefore) continue;
      this.#sliding.delete(start);
      fired.push(this.#fire("sliding", "all", window, ["count", "distinct_count"]));
    }
    for (const [user, window] of this.#sessions) {
      if (window.end > closedBefore) continue;
      this.#sessions.delete(user);
      fired.push(this.#fire("session", user, window, ["count", "sum"]));
    }
    const active = this.#metrics.activeWindows;
    active.set({ window_type: "tumbling" }, this.#tumbling.size);
    active.set({ window_type: "sliding" }, this.#sliding.size);
    active.set({ window_type: "session" }, this.#sessions.size);
    return fired;
  }

  #fire(
    windowType: WindowType,
    key: string,
    window: Accumulator,
    aggregations: readonly AggregationType[],
  ): WindowResult {
    this.#metrics.windowTriggers.inc({ window_type: windowType });
    const aggregates: Partial<Record<AggregationType, number>> = {};
    for (const aggregation of aggregations) {
      aggregates[aggregation] = aggregation === "count"
        ? window.count
        : aggregation === "sum"
        ? window.sum
        : aggregation === "avg"
        ? window.sum / window.count
        : aggregation === "max"
        ? window.max
        : window.users?.size ?? 0;
      this.#metrics.aggregationsComputed.inc({ aggregation_type: aggregation });
    }
    return { windowType, key, start: window.start, end: window.end, aggregates };
  }
}

/**
 * The demo's in-memory event source: a web shop's click stream at a few
 * hundred events per second, with the imperfections a real source has —
 * traffic that swells and bursts, events that arrive out of order or far too
 * late, redelivered duplicates and the odd malformed record.
 *
 * @module
 */

import type { Random } from "./random.ts";

/** The kinds of event the shop emits, the `event_type` label's values. */
export const eventTypes = ["page_view", "click", "add_to_cart", "purchase"] as const;

/** One of {@link eventTypes}. */
export type EventType = (typeof eventTypes)[number];

/** One event of the stream. */
export interface DemoEvent {
  /** Unique per event; a redelivered duplicate repeats it. */
  readonly id: string;
  /** What happened. */
  readonly type: EventType;
  /** Who did it: the key of the per-user state and of session windows. */
  readonly userId: string;
  /** Money involved (purchases, carts), 0 otherwise. */
  readonly amount: number;
  /** When it happened (epoch ms): what windows are computed on. */
  readonly eventTime: number;
  /** When the upstream producer sent it (epoch ms): where end-to-end latency starts. */
  readonly createdAt: number;
  /** The source partition it was read from (the Kafka partition in Kafka mode). */
  readonly partition: number;
  /** A record that fails to deserialize. */
  readonly malformed: boolean;
}

/** Options of {@link EventSource}. */
export interface EventSourceOptions {
  /** Mean events per second before bursts and the slow swell. @default 300 */
  ratePerSecond?: number;
  /** Partitions events are spread over (by user). @default 6 */
  partitions?: number;
  /** Distinct users; a few of them are much more active than the rest. @default 10000 */
  users?: number;
}

const typeWeights: readonly (readonly [EventType, number])[] = [
  ["page_view", 60],
  ["click", 28],
  ["add_to_cart", 9],
  ["purchase", 3],
];

/** Share of events that are redeliveries of a recent event (at-least-once delivery). */
const duplicateShare = 0.01;
/** Share of events that arrive long after their event time (a phone that was offline). */
const lateShare = 0.0004;
/** Share of records that are not valid events. */
const malformedShare = 0.0002;

/**
 * Generates events by polling: each `poll(ms)` returns the events that arrived
 * during the last `ms` milliseconds, a Poisson draw around the current rate.
 *
 * @example Poll one second of events
 * ```ts
 * import { createRandom } from "./random.ts";
 * import { EventSource } from "./event_source.ts";
 * const source = new EventSource(createRandom(1), { ratePerSecond: 300 });
 * const events = source.poll(1000);
 * if (events.length < 100) throw new Error(`only ${events.length} events`);
 * ```
 */
export class EventSource {
  readonly #random: Random;
  readonly #rate: number;
  readonly #partitions: number;
  readonly #users: number;
  readonly #startedAt = Date.now();
  readonly #recent: DemoEvent[] = [];
  #sequence = 0;
  #burstUntil = 0;
  #burstFactor = 1;

  /**
   * @param random Where the randomness comes from.
   * @param options Rate, partitions and users.
   */
  constructor(random: Random, options: EventSourceOptions = {}) {
    this.#random = random;
    this.#rate = options.ratePerSecond ?? 300;
    this.#partitions = options.partitions ?? 6;
    this.#users = options.users ?? 10_000;
  }

  /** Number of distinct users; `u0` is the most active, the higher numbers the least. */
  get users(): number {
    return this.#users;
  }

  /** Number of partitions. */
  get partitions(): number {
    return this.#partitions;
  }

  /**
   * The current arrival rate: the mean, swelling ±25 % over two minutes, and
   * 2–3 × during a burst (one every minute or so, a few seconds long).
   *
   * @param now Epoch milliseconds.
   * @returns Events per second.
   */
  currentRate(now: number = Date.now()): number {
    const swell = 1 + 0.25 * Math.sin((2 * Math.PI * (now - this.#startedAt)) / 120_000);
    return this.#rate * swell * (now < this.#burstUntil ? this.#burstFactor : 1);
  }

  /**
   * The events that arrived in the last `elapsedMs` milliseconds.
   *
   * @param elapsedMs Time since the previous poll.
   * @returns New events, in arrival order.
   */
  poll(elapsedMs: number): DemoEvent[] {
    const random = this.#random;
    const now = Date.now();
    if (now >= this.#burstUntil && random.chance(elapsedMs / 60_000)) {
      this.#burstFactor = 2 + random.next();
      this.#burstUntil = now + 2_000 + random.int(6_000);
    }
    const count = random.poisson((this.currentRate(now) * elapsedMs) / 1000);
    const events: DemoEvent[] = [];
    for (let i = 0; i < count; i++) {
      const recent = this.#recent[random.int(this.#recent.length)];
      if (recent !== undefined && random.chance(duplicateShare)) {
        // The same event delivered again a little later, as at-least-once delivery does.
        events.push({ ...recent, createdAt: now - random.logNormal(8, 0.5) });
        continue;
      }
      const event = this.#newEvent(now);
      events.push(event);
      if (this.#recent.length < 512) this.#recent.push(event);
      else this.#recent[random.int(512)] = event;
    }
    return events;
  }

  #newEvent(now: number): DemoEvent {
    const random = this.#random;
    const type = random.weighted(typeWeights);
    // A uniform draw to the 4th power skews activity towards low user numbers: hot keys, a long cold tail.
    const user = Math.floor(this.#users * random.next() ** 4);
    // Time spent upstream (producer, broker) before the event reached us.
    const createdAt = now - random.logNormal(8, 0.5);
    let eventTime = createdAt - random.logNormal(30, 0.8);
    if (random.chance(lateShare)) eventTime -= 5_000 + random.int(10_000);
    const amount = type === "purchase"
      ? Math.round(random.logNormal(40, 0.7) * 100) / 100
      : type === "add_to_cart"
      ? Math.round(random.logNormal(25, 0.7) * 100) / 100
      : 0;
    return {
      id: `e${(++this.#sequence).toString(36)}-${random.int(1 << 30).toString(36)}`,
      type,
      userId: `u${user}`,
      amount,
      eventTime,
      createdAt,
      partition: user % this.#partitions,
      malformed: random.chance(malformedShare),
    };
  }
}

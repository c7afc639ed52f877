/**
 * Scheduled trouble, so the dashboards and alerts have something to show:
 * a minute or two after start, then every ten minutes or so, for 5–8
 * minutes, the demo's disk turns slow (latency climbs, the queue backs up,
 * events are dropped) or a bad deploy makes events fail.
 *
 * @module
 */

import type { Random } from "./random.ts";

/** The kinds of incident. */
export type IncidentKind = "slow_disk" | "bad_deploy";

/** Options of {@link Incidents}. */
export interface IncidentsOptions {
  /** Whether incidents happen at all. @default true */
  enabled?: boolean;
  /** Mean quiet time between incidents, in milliseconds (the first comes within 1.5–2.5 min at most). @default 600000 */
  meanIntervalMs?: number;
  /** Called when an incident starts or ends. */
  log?: (message: string) => void;
}

/**
 * The incident schedule. `tick()` advances it; the factors tell the
 * simulation how much worse things currently are.
 *
 * @example Without incidents every factor is 1
 * ```ts
 * import { createRandom } from "./random.ts";
 * import { Incidents } from "./incidents.ts";
 * const incidents = new Incidents(createRandom(1), { enabled: false });
 * incidents.tick();
 * if (incidents.diskFactor !== 1 || incidents.errorFactor !== 1) throw new Error("not quiet");
 * ```
 */
export class Incidents {
  readonly #random: Random;
  readonly #enabled: boolean;
  readonly #meanIntervalMs: number;
  readonly #log: (message: string) => void;
  #current: IncidentKind | undefined;
  #endsAt = 0;
  #nextAt: number;

  /**
   * @param random Where the randomness comes from.
   * @param options Schedule and logging.
   */
  constructor(random: Random, options: IncidentsOptions = {}) {
    this.#random = random;
    this.#enabled = options.enabled ?? true;
    this.#meanIntervalMs = options.meanIntervalMs ?? 600_000;
    this.#log = options.log ?? (() => {});
    // The first incident comes soon, so a newcomer sees one without waiting long.
    this.#nextAt = Date.now() + Math.min(this.#quietTime(), 90_000 + random.int(60_000));
  }

  /** The incident under way, if any. */
  get current(): IncidentKind | undefined {
    return this.#current;
  }

  /** How many times slower disk and remote state operations are (1 when healthy). */
  get diskFactor(): number {
    return this.#current === "slow_disk" ? 8 : 1;
  }

  /** How many times slower the event handler's own work is (1 when healthy). */
  get computeFactor(): number {
    return this.#current === "slow_disk" ? 3 : 1;
  }

  /** How many times more likely an event is to fail (1 when healthy). */
  get errorFactor(): number {
    return this.#current === "bad_deploy" ? 80 : 1;
  }

  /** Starts or ends an incident when its time has come. */
  tick(now: number = Date.now()): void {
    if (!this.#enabled) return;
    if (this.#current !== undefined && now >= this.#endsAt) {
      this.#log(`incident over: ${this.#current}`);
      this.#current = undefined;
      this.#nextAt = now + this.#quietTime();
    } else if (this.#current === undefined && now >= this.#nextAt) {
      this.#current = this.#random.chance(0.5) ? "slow_disk" : "bad_deploy";
      // Long enough for the alerts' `for:` durations (2–5 min) to elapse.
      const durationMs = 300_000 + this.#random.int(180_000);
      this.#endsAt = now + durationMs;
      const what = this.#current === "slow_disk"
        ? "the disk state tier turns slow: watch latency, the backlog and dropped events"
        : "a bad deploy makes events fail: watch the error rate and the error budget";
      this.#log(`incident started for ${Math.round(durationMs / 1000)} s: ${this.#current}: ${what}`);
    }
  }

  #quietTime(): number {
    return this.#meanIntervalMs * (0.5 + this.#random.next());
  }
}

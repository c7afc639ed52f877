/**
 * The demo's stream processor: a bounded queue in front of a fixed number of
 * concurrent handlers. Each event is deserialized, deduplicated, checked for
 * lateness, joined with its user's state (read-modify-write under a lock),
 * and added to its windows; failures are retried once, then dead-lettered.
 *
 * @module
 */

import type { StreamProcessorMetrics, SystemMetrics } from "../../src/catalog/mod.ts";
import type { DemoEvent } from "./event_source.ts";
import type { Incidents } from "./incidents.ts";
import type { Random } from "./random.ts";
import type { StateLocks } from "./state_locks.ts";
import type { TieredStateBackend } from "./tiered_state_backend.ts";
import type { WindowManager } from "./window_manager.ts";

/** Why processing an event failed, the `error_type` label's values. */
export type ProcessingErrorType = "deserialization" | "validation" | "timeout" | "state_backend";

/** Why an event was dropped, the `reason` label's values. */
export type DropReason = "invalid" | "late" | "backpressure" | "dead_letter";

class ProcessingError extends Error {
  readonly errorType: ProcessingErrorType;
  constructor(errorType: ProcessingErrorType, message: string) {
    super(message);
    this.errorType = errorType;
  }
}

/** What the processor works with. */
export interface StreamProcessorParts {
  /** The stream-processor kit. */
  readonly metrics: StreamProcessorMetrics;
  /** The system kit: each handled event is a tracked task. */
  readonly system: SystemMetrics;
  /** Per-user state. */
  readonly state: TieredStateBackend;
  /** Its locks. */
  readonly locks: StateLocks;
  /** The windows. */
  readonly windows: WindowManager;
  /** What goes wrong, and when. */
  readonly incidents: Incidents;
  /** Where randomness comes from. */
  readonly random: Random;
}

/** Options of {@link StreamProcessor}. */
export interface StreamProcessorOptions {
  /** Events handled at the same time. @default 16 */
  concurrency?: number;
  /** Events that may wait; more are dropped with reason `backpressure`. @default 5000 */
  maxQueue?: number;
  /** An attempt slower than this fails with `timeout`, ms. @default 250 */
  timeoutMs?: number;
  /** How long an event id is remembered for deduplication, ms. @default 60000 */
  dedupTtlMs?: number;
}

/** Chance that one attempt fails, when healthy (an incident multiplies it). */
const baseFailureChance = 0.0003;

interface Queued {
  event: DemoEvent;
  done: () => void;
}

function pause(ms: number): Promise<void> {
  return ms >= 1 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/**
 * The processor. `ingest` queues an event and resolves once it is handled
 * (processed, dropped or dead-lettered), which lets a Kafka consumer wait.
 * `examples/demo.ts` wires its parts.
 */
export class StreamProcessor {
  readonly #parts: StreamProcessorParts;
  readonly #concurrency: number;
  readonly #maxQueue: number;
  readonly #timeoutMs: number;
  readonly #dedupTtlMs: number;
  readonly #queue: Queued[] = [];
  readonly #pending = new Map<number, number>();
  readonly #seen = new Map<string, number>();
  #running = 0;
  #idle: (() => void) | undefined;

  /**
   * @param parts Metrics, state, windows and the incident schedule.
   * @param options Concurrency, queue bound, timeout and deduplication window.
   */
  constructor(parts: StreamProcessorParts, options: StreamProcessorOptions = {}) {
    this.#parts = parts;
    this.#concurrency = options.concurrency ?? 16;
    this.#maxQueue = options.maxQueue ?? 5_000;
    this.#timeoutMs = options.timeoutMs ?? 250;
    this.#dedupTtlMs = options.dedupTtlMs ?? 60_000;
  }

  /** Events waiting or being handled. */
  get backlog(): number {
    return this.#queue.length + this.#running;
  }

  /**
   * Events of one partition waiting or being handled.
   *
   * @param partition The partition.
   * @returns How many.
   */
  partitionBacklog(partition: number): number {
    return this.#pending.get(partition) ?? 0;
  }

  /**
   * Queues an event.
   *
   * @param event The event.
   * @returns A promise that resolves when the event has been handled, whatever the outcome.
   */
  ingest(event: DemoEvent): Promise<void> {
    this.#parts.metrics.eventsReceived.inc({ event_type: event.type });
    if (this.#queue.length >= this.#maxQueue) {
      this.#drop("backpressure");
      return Promise.resolve();
    }
    this.#pending.set(event.partition, this.partitionBacklog(event.partition) + 1);
    return new Promise<void>((done) => {
      this.#queue.push({ event, done });
      this.#pump();
    });
  }

  /** Forgets event ids older than the deduplication window; call now and then. */
  expireDedup(now: number = Date.now()): void {
    for (const [id, expiresAt] of this.#seen) {
      if (expiresAt > now) break; // Insertion order is expiry order.
      this.#seen.delete(id);
    }
  }

  /**
   * Resolves once nothing is queued or running (events keep arriving only if the source is still running).
   *
   * @returns When idle.
   */
  idle(): Promise<void> {
    if (this.backlog === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#idle = resolve));
  }

  #pump(): void {
    while (this.#running < this.#concurrency && this.#queue.length > 0) {
      const { event, done } = this.#queue.shift()!;
      this.#running++;
      void this.#parts.system.trackTask(() => this.#handle(event)).finally(() => {
        this.#running--;
        this.#pending.set(event.partition, this.partitionBacklog(event.partition) - 1);
        done();
        this.#pump();
        if (this.backlog === 0) this.#idle?.();
      });
    }
  }

  async #handle(event: DemoEvent): Promise<void> {
    const { metrics, windows } = this.#parts;
    const labels = { event_type: event.type };
    const started = performance.now();
    if (event.malformed) {
      metrics.errors.inc({ error_type: "deserialization" });
      this.#drop("invalid");
      return;
    }
    if (this.#seen.has(event.id)) {
      metrics.deduplicationHits.inc();
      return;
    }
    this.#seen.set(event.id, Date.now() + this.#dedupTtlMs);
    if (windows.isLate(event.eventTime)) {
      this.#drop("late");
      return;
    }
    for (let attempt = 1;; attempt++) {
      try {
        await this.#attempt(event);
        break;
      } catch (error) {
        metrics.errors.inc({ error_type: error instanceof ProcessingError ? error.errorType : "validation" });
        if (attempt === 2) {
          metrics.processingDuration.observe(labels, performance.now() - started);
          this.#drop("dead_letter");
          return;
        }
      }
    }
    metrics.eventsProcessed.inc(labels);
    metrics.processingDuration.observe(labels, performance.now() - started);
    metrics.endToEndLatency.observe(labels, Date.now() - event.createdAt);
  }

  async #attempt(event: DemoEvent): Promise<void> {
    const { state, locks, windows, incidents, random } = this.#parts;
    const started = performance.now();
    // Parsing, enrichment and business rules: a few milliseconds of work.
    await pause(random.logNormal(2, 0.5) * incidents.computeFactor);
    if (random.chance(baseFailureChance * incidents.errorFactor)) {
      const type = random.weighted<ProcessingErrorType>([["validation", 5], ["state_backend", 2], ["timeout", 3]]);
      throw new ProcessingError(type, `Event "${event.id}" failed: ${type}`);
    }
    await locks.write(event.userId, async () => {
      const previous = await state.get(event.userId);
      // Give up before writing, so a retried event is not counted twice.
      if (performance.now() - started > this.#timeoutMs) {
        throw new ProcessingError("timeout", `Event "${event.id}" took longer than ${this.#timeoutMs} ms`);
      }
      const profile = previous === undefined
        ? { events: 0, spent: 0, lastSeen: 0 }
        : (JSON.parse(previous) as { events: number; spent: number; lastSeen: number });
      profile.events++;
      profile.spent = Math.round((profile.spent + event.amount) * 100) / 100;
      profile.lastSeen = event.eventTime;
      await state.put(event.userId, JSON.stringify(profile));
    });
    windows.add(event);
  }

  #drop(reason: DropReason): void {
    this.#parts.metrics.eventsDropped.inc({ reason });
  }
}

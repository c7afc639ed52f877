/**
 * The demo's state backend: a small memory tier in front of a larger
 * disk-like tier in front of remote storage that keeps everything, with
 * write-back on eviction and periodic checkpoints. Operation times are drawn
 * from latency distributions typical of each tier; the backend waits for
 * them (when at least a millisecond) and records them as observed.
 *
 * @module
 */

import type { StateBackendMetrics } from "../../src/catalog/mod.ts";
import type { Incidents } from "./incidents.ts";
import type { Random } from "./random.ts";

/** The storage tiers, the `backend` label's values. */
export type Backend = "memory" | "disk" | "remote";

/** State operations, the `operation` label's values. */
export type StateOperation = "get" | "put" | "delete" | "checkpoint";

interface Entry {
  value: string;
  bytes: number;
  /** Changed since it was last written to the tier below. */
  dirty: boolean;
  /** When it was last written (epoch ms), for the time-to-live. */
  writtenAt: number;
}

// A Map keeps insertion order: re-inserting on access makes the first key the least recently used.
class Tier {
  readonly entries = new Map<string, Entry>();
  readonly capacity: number;
  bytes = 0;
  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    return entry;
  }

  /** Stores `entry`; returns the entries evicted to make room. */
  set(key: string, entry: Entry): [string, Entry][] {
    this.delete(key);
    this.entries.set(key, entry);
    this.bytes += entry.bytes;
    const evicted: [string, Entry][] = [];
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.entries().next().value as [string, Entry];
      this.delete(oldest[0]);
      evicted.push(oldest);
    }
    return evicted;
  }

  delete(key: string): boolean {
    const entry = this.entries.get(key);
    if (entry === undefined) return false;
    this.entries.delete(key);
    this.bytes -= entry.bytes;
    return true;
  }
}

/** Options of {@link TieredStateBackend}. */
export interface TieredStateBackendOptions {
  /** Keys the memory tier holds. @default 4000 */
  memoryCapacity?: number;
  /** Keys the disk tier holds. @default 8000 */
  diskCapacity?: number;
}

const keyOverheadBytes = 48;

/**
 * A three-tier key-value state store (memory → disk → remote).
 *
 * @example A value put is read back from memory
 * ```ts
 * import { Registry } from "../../src/registry.ts";
 * import { stateBackendMetrics } from "../../src/catalog/mod.ts";
 * import { createRandom } from "./random.ts";
 * import { Incidents } from "./incidents.ts";
 * import { TieredStateBackend } from "./tiered_state_backend.ts";
 * const random = createRandom(1);
 * const metrics = stateBackendMetrics(new Registry());
 * const state = new TieredStateBackend(metrics, random, new Incidents(random, { enabled: false }));
 * await state.put("user", "{}");
 * if ((await state.get("user")) !== "{}") throw new Error("not stored");
 * if (metrics.cacheHits.get({ cache_tier: "memory" }) !== 1) throw new Error("not a memory hit");
 * ```
 */
export class TieredStateBackend {
  readonly #metrics: StateBackendMetrics;
  readonly #random: Random;
  readonly #incidents: Incidents;
  readonly #memory: Tier;
  readonly #disk: Tier;
  readonly #remote = new Tier(Infinity);

  /**
   * @param metrics Where operations, cache hits and sizes are recorded.
   * @param random Where operation times are drawn from.
   * @param incidents Makes the disk and remote tiers slow during a `slow_disk` incident.
   * @param options Tier capacities.
   */
  constructor(
    metrics: StateBackendMetrics,
    random: Random,
    incidents: Incidents,
    options: TieredStateBackendOptions = {},
  ) {
    this.#metrics = metrics;
    this.#random = random;
    this.#incidents = incidents;
    this.#memory = new Tier(options.memoryCapacity ?? 4_000);
    this.#disk = new Tier(options.diskCapacity ?? 8_000);
  }

  /**
   * Reads `key`, from the fastest tier that has it; lower tiers' hits are promoted.
   *
   * @param key The key.
   * @returns The value, or undefined when no tier has it.
   */
  async get(key: string): Promise<string | undefined> {
    await this.#operation("memory", "get");
    const inMemory = this.#memory.get(key);
    if (inMemory !== undefined) {
      this.#metrics.cacheHits.inc({ cache_tier: "memory" });
      return inMemory.value;
    }
    this.#metrics.cacheMisses.inc({ cache_tier: "memory" });
    await this.#operation("disk", "get");
    let found = this.#disk.get(key);
    if (found !== undefined) {
      this.#metrics.cacheHits.inc({ cache_tier: "disk" });
    } else {
      this.#metrics.cacheMisses.inc({ cache_tier: "disk" });
      await this.#operation("remote", "get");
      found = this.#remote.get(key);
      if (found === undefined) return undefined;
      await this.#spillToDisk(key, { ...found, dirty: false });
    }
    await this.#spillToMemory(key, { ...found, dirty: false });
    return found.value;
  }

  /**
   * Writes `key` to the memory tier; it reaches disk on eviction or at the next checkpoint.
   *
   * @param key The key.
   * @param value The value.
   */
  async put(key: string, value: string): Promise<void> {
    await this.#operation("memory", "put");
    await this.#spillToMemory(key, {
      value,
      bytes: value.length + keyOverheadBytes,
      dirty: true,
      writtenAt: Date.now(),
    });
  }

  /**
   * Removes `key` from every tier.
   *
   * @param key The key.
   */
  async delete(key: string): Promise<void> {
    await this.#operation("memory", "delete");
    this.#memory.delete(key);
    if (this.#disk.delete(key)) await this.#operation("disk", "delete");
    if (this.#remote.delete(key)) await this.#operation("remote", "delete");
  }

  /**
   * Loads a checkpoint, as a restarted processor does: every entry into remote
   * storage and, as far as it holds them, the disk tier; the memory tier starts
   * cold. Nothing is timed or counted.
   *
   * @param entries Key, value and when it was written (epoch ms); the hottest keys last,
   *   so the disk tier keeps them.
   * @returns How many entries were loaded.
   */
  restore(entries: Iterable<readonly [key: string, value: string, writtenAt: number]>): number {
    let count = 0;
    for (const [key, value, writtenAt] of entries) {
      const entry = { value, bytes: value.length + keyOverheadBytes, dirty: false, writtenAt };
      this.#remote.set(key, entry);
      this.#disk.set(key, { ...entry });
      count++;
    }
    return count;
  }

  /**
   * The keys not written for `ttlMs` (state time-to-live), to pass to {@link TieredStateBackend.expire}.
   *
   * @param ttlMs The time-to-live, ms.
   * @returns The keys expired now.
   */
  expiredKeys(ttlMs: number): string[] {
    return [...new Set([this.#memory, this.#disk, this.#remote].flatMap((tier) => [...tier.entries.keys()]))]
      .filter((key) => this.#lastWritten(key) < Date.now() - ttlMs);
  }

  /**
   * Deletes `key` if it is still expired (it may have been written since {@link TieredStateBackend.expiredKeys}).
   *
   * @param key The key.
   * @param ttlMs The time-to-live, ms.
   * @returns Whether it was deleted.
   */
  async expire(key: string, ttlMs: number): Promise<boolean> {
    if (this.#lastWritten(key) >= Date.now() - ttlMs) return false;
    await this.delete(key);
    return true;
  }

  #lastWritten(key: string): number {
    let newest = -Infinity;
    for (const tier of [this.#memory, this.#disk, this.#remote]) {
      const entry = tier.entries.get(key);
      if (entry !== undefined && entry.writtenAt > newest) newest = entry.writtenAt;
    }
    return newest;
  }

  /** Writes every changed memory entry to disk, and the disk tier's changes to remote storage. */
  async checkpoint(): Promise<void> {
    let changed = 0;
    for (const [key, entry] of this.#memory.entries) {
      if (!entry.dirty) continue;
      entry.dirty = false;
      changed++;
      // Dirty on disk until the remote copy is written below.
      await this.#spillToDisk(key, { ...entry, dirty: true }, false);
    }
    for (const [key, entry] of this.#disk.entries) {
      if (!entry.dirty) continue;
      entry.dirty = false;
      this.#remote.set(key, { ...entry });
    }
    // One sequential write of everything that changed: a fixed cost plus a little per entry.
    await this.#operation("disk", "checkpoint", 0.002 * changed);
    await this.#operation("remote", "checkpoint", 0.001 * changed);
  }

  /** Sets `state_size_bytes{backend}` to what each tier holds. */
  reportSizes(): void {
    this.#metrics.sizeBytes.set({ backend: "memory" }, this.#memory.bytes);
    this.#metrics.sizeBytes.set({ backend: "disk" }, this.#disk.bytes);
    this.#metrics.sizeBytes.set({ backend: "remote" }, this.#remote.bytes);
  }

  async #spillToMemory(key: string, entry: Entry): Promise<void> {
    for (const [evictedKey, evicted] of this.#memory.set(key, entry)) {
      if (evicted.dirty) await this.#spillToDisk(evictedKey, evicted);
    }
  }

  async #spillToDisk(key: string, entry: Entry, timed = true): Promise<void> {
    if (timed) await this.#operation("disk", "put");
    for (const [evictedKey, evicted] of this.#disk.set(key, entry)) {
      if (!evicted.dirty) continue;
      await this.#operation("remote", "put");
      this.#remote.set(evictedKey, { ...evicted, dirty: false });
    }
  }

  // Draws the operation's time from its tier's distribution, waits for it, and records it.
  async #operation(backend: Backend, operation: StateOperation, extraMs = 0): Promise<void> {
    const random = this.#random;
    const slow = this.#incidents.diskFactor;
    let ms: number;
    if (backend === "memory") ms = random.logNormal(0.02, 0.5);
    else if (backend === "disk") {
      ms = random.logNormal(operation === "get" ? 0.6 : operation === "checkpoint" ? 15 : 1, 0.6) * slow;
    } else ms = random.logNormal(operation === "checkpoint" ? 40 : 6, 0.5) * slow;
    ms += extraMs;
    const labels = { backend, operation };
    this.#metrics.operations.inc(labels);
    this.#metrics.operationDuration.observe(labels, ms);
    // Timers cannot wait less than a millisecond: shorter operations are recorded but not waited for.
    if (ms >= 1) await new Promise((resolve) => setTimeout(resolve, ms));
  }
}

/**
 * The state backend's locks: a write lock per key (striped) and a checkpoint
 * lock that waits for running writes and holds new ones back while the
 * checkpoint runs — where lock contention comes from in a stream processor.
 *
 * @module
 */

import type { StateBackendMetrics } from "../../src/catalog/mod.ts";

type Release = () => void;

/**
 * Write and checkpoint locks, measured: `state_active_locks{lock_type}` while
 * held and `state_lock_wait_duration_ms{lock_type}` for the wait.
 *
 * @example Writes to one key run one at a time
 * ```ts
 * import { Registry } from "../../src/registry.ts";
 * import { stateBackendMetrics } from "../../src/catalog/mod.ts";
 * import { StateLocks } from "./state_locks.ts";
 * const locks = new StateLocks(stateBackendMetrics(new Registry()));
 * let running = 0;
 * let most = 0;
 * const write = () => locks.write("k", async () => { most = Math.max(most, ++running); await null; running--; });
 * await Promise.all([write(), write()]);
 * if (most !== 1) throw new Error("overlapped");
 * ```
 */
export class StateLocks {
  readonly #metrics: StateBackendMetrics;
  readonly #stripes: Promise<void>[];
  #writers = 0;
  #writersDrained: (() => void) | undefined;
  #checkpoint: Promise<void> | undefined;

  /**
   * @param metrics Where waits and held locks are recorded.
   * @param stripes Number of key stripes: keys hashing to one stripe share a lock. @default 64
   */
  constructor(metrics: StateBackendMetrics, stripes = 64) {
    this.#metrics = metrics;
    this.#stripes = Array.from({ length: stripes }, () => Promise.resolve());
  }

  /**
   * Runs `work` holding the write lock of `key`, once no checkpoint runs.
   *
   * @param key The state key.
   * @param work The read-modify-write to protect.
   * @returns What `work` returns.
   */
  async write<T>(key: string, work: () => Promise<T>): Promise<T> {
    const asked = performance.now();
    while (this.#checkpoint !== undefined) await this.#checkpoint;
    this.#writers++;
    const release = await this.#acquireStripe(key);
    this.#held("write", asked);
    try {
      return await work();
    } finally {
      release();
      this.#metrics.activeLocks.dec({ lock_type: "write" });
      if (--this.#writers === 0) this.#writersDrained?.();
    }
  }

  /**
   * Runs `work` holding the checkpoint lock: new writes wait, running ones finish first.
   *
   * @param work The checkpoint.
   * @returns What `work` returns.
   */
  async checkpoint<T>(work: () => Promise<T>): Promise<T> {
    const asked = performance.now();
    while (this.#checkpoint !== undefined) await this.#checkpoint;
    let done!: () => void;
    this.#checkpoint = new Promise<void>((resolve) => (done = resolve));
    if (this.#writers > 0) await new Promise<void>((resolve) => (this.#writersDrained = resolve));
    this.#writersDrained = undefined;
    this.#held("checkpoint", asked);
    try {
      return await work();
    } finally {
      this.#metrics.activeLocks.dec({ lock_type: "checkpoint" });
      this.#checkpoint = undefined;
      done();
    }
  }

  #held(lockType: "write" | "checkpoint", askedAt: number): void {
    this.#metrics.lockWaitDuration.observe({ lock_type: lockType }, performance.now() - askedAt);
    this.#metrics.activeLocks.inc({ lock_type: lockType });
  }

  async #acquireStripe(key: string): Promise<Release> {
    let hash = 0;
    for (let i = 0; i < key.length; i++) hash = (hash * 31 + key.charCodeAt(i)) | 0;
    const index = (hash >>> 0) % this.#stripes.length;
    const previous = this.#stripes[index]!;
    let release!: Release;
    this.#stripes[index] = new Promise<void>((resolve) => (release = resolve));
    await previous;
    return release;
  }
}

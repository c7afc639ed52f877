/**
 * Per-partition bookkeeping behind `kafka_consumer_lag`. Private.
 *
 * @module
 */

import type { Gauge } from "../gauge.ts";

interface PartitionState {
  /** Offset after the last message handled; -1 while none was. */
  position: number;
  /** Last high watermark seen; -1 while unknown. */
  high: number;
}

/**
 * Keeps, per topic and partition, the group's position (the offset after the
 * last message the application handled) and the last high watermark seen,
 * and sets the gauge to `max(0, high - position)` whenever both are known.
 */
export class LagTracker {
  private readonly partitions = new Map<string, PartitionState>();
  private readonly gauge: Gauge<"topic" | "partition">;

  constructor(gauge: Gauge<"topic" | "partition">) {
    this.gauge = gauge;
  }

  private state(topic: string, partition: number): PartitionState {
    const key = `${partition}\u0000${topic}`;
    let state = this.partitions.get(key);
    if (state === undefined) {
      state = { position: -1, high: -1 };
      this.partitions.set(key, state);
    }
    return state;
  }

  /** The position of a partition, or -1 when no message of it was handled. */
  position(topic: string, partition: number): number {
    return this.partitions.get(`${partition}\u0000${topic}`)?.position ?? -1;
  }

  /** A message at `offset` was handled; `high` is a watermark read with it, if any. */
  handled(topic: string, partition: number, offset: number, high?: number): void {
    const state = this.state(topic, partition);
    if (offset + 1 > state.position) state.position = offset + 1;
    if (high !== undefined && high >= 0) state.high = high;
    // The watermark read before this message cannot be below its end.
    if (state.high >= 0 && state.high < state.position) state.high = state.position;
    this.update(topic, partition, state);
  }

  /** A fresh high watermark and, when known, the group's position from the broker. */
  observed(topic: string, partition: number, high: number, position: number): void {
    const state = this.state(topic, partition);
    if (high >= 0) state.high = high;
    if (position >= 0 && position > state.position) state.position = position;
    this.update(topic, partition, state);
  }

  private update(topic: string, partition: number, state: PartitionState): void {
    if (state.high < 0 || state.position < 0) return;
    this.gauge.set({ topic, partition: String(partition) }, Math.max(0, state.high - state.position));
  }
}

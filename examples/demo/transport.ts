/**
 * Where the demo's events come from and its window results go: simulated
 * Kafka in memory, or a real broker when `KAFKA_BROKERS` is set.
 *
 * @module
 */

import type { DemoEvent } from "./event_source.ts";
import type { WindowResult } from "./window_manager.ts";

/** An event source and result sink. */
export interface Transport {
  /** `"simulated"` (in memory, Kafka metrics simulated) or `"kafka"` (a real broker). */
  readonly mode: "simulated" | "kafka";
  /** The topic events are read from. */
  readonly inputTopic: string;
  /** The topic window results are written to. */
  readonly outputTopic: string;
  /**
   * Starts delivering events.
   *
   * @param deliver Handles one event; resolves when it is handled.
   */
  start(deliver: (event: DemoEvent) => Promise<void>): Promise<void>;
  /**
   * Writes window results downstream.
   *
   * @param results The fired windows.
   */
  publish(results: readonly WindowResult[]): Promise<void>;
  /** Stops reading events (events being handled finish; `publish` still works). */
  stop(): Promise<void>;
  /** Lets go of connections, after the last `publish`. */
  close(): Promise<void>;
}

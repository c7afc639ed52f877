/**
 * Kafka, simulated in memory for when no broker is configured: events from
 * the in-memory source count as consumed from a topic's partitions, window
 * results as produced, and the 8 Kafka metrics are recorded with simulated
 * latencies and rare simulated client errors. Its topics are named
 * `simulated.*` so no dashboard mistakes them for a real broker's.
 *
 * @module
 */

import type { KafkaMetrics } from "../../src/kafka/kafka_metrics.ts";
import type { DemoEvent, EventSource } from "./event_source.ts";
import type { Incidents } from "./incidents.ts";
import type { Random } from "./random.ts";
import type { Transport } from "./transport.ts";
import type { WindowResult } from "./window_manager.ts";

/** Options of {@link SimulatedKafka}. */
export interface SimulatedKafkaOptions {
  /** Input topic name. @default "simulated.events" */
  inputTopic?: string;
  /** Output topic name. @default "simulated.aggregates" */
  outputTopic?: string;
  /** How often the simulated consumer polls, ms. @default 50 */
  pollIntervalMs?: number;
}

const encoder = new TextEncoder();

/** A {@link Transport} that simulates a Kafka consumer and producer in memory. */
export class SimulatedKafka implements Transport {
  readonly mode = "simulated" as const;
  readonly inputTopic: string;
  readonly outputTopic: string;
  readonly #metrics: KafkaMetrics;
  readonly #source: EventSource;
  readonly #random: Random;
  readonly #incidents: Incidents;
  readonly #backlog: (partition: number) => number;
  readonly #pollIntervalMs: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * @param metrics The Kafka kit's metrics.
   * @param source The event source standing in for the input topic.
   * @param random Where simulated latencies and errors come from.
   * @param incidents Slows produce acknowledgements during a `slow_disk` incident.
   * @param backlog Events of a partition not yet handled: the simulated consumer lag.
   * @param options Topic names and poll interval.
   */
  constructor(
    metrics: KafkaMetrics,
    source: EventSource,
    random: Random,
    incidents: Incidents,
    backlog: (partition: number) => number,
    options: SimulatedKafkaOptions = {},
  ) {
    this.#metrics = metrics;
    this.#source = source;
    this.#random = random;
    this.#incidents = incidents;
    this.#backlog = backlog;
    this.inputTopic = options.inputTopic ?? "simulated.events";
    this.outputTopic = options.outputTopic ?? "simulated.aggregates";
    this.#pollIntervalMs = options.pollIntervalMs ?? 50;
  }

  start(deliver: (event: DemoEvent) => Promise<void>): Promise<void> {
    const metrics = this.#metrics;
    const topic = this.inputTopic;
    let last = performance.now();
    this.#timer = setInterval(() => {
      const now = performance.now();
      // A failed fetch (about one a minute) delivers nothing; its events come with the next poll.
      if (this.#random.chance(this.#pollIntervalMs / 60_000)) {
        metrics.errors.inc({ operation: "consume", error_type: "ERR__TRANSPORT" });
      } else {
        for (const event of this.#source.poll(now - last)) {
          metrics.messagesReceived.inc({ topic, partition: String(event.partition) });
          metrics.bytesReceived.inc({ topic }, encoder.encode(JSON.stringify(event)).byteLength);
          const started = performance.now();
          void deliver(event).then(() => metrics.consumeLatency.observe({ topic }, performance.now() - started));
        }
        last = now;
      }
      for (let partition = 0; partition < this.#source.partitions; partition++) {
        metrics.consumerLag.set({ topic, partition: String(partition) }, this.#backlog(partition));
      }
    }, this.#pollIntervalMs);
    return Promise.resolve();
  }

  async publish(results: readonly WindowResult[]): Promise<void> {
    if (results.length === 0) return;
    const metrics = this.#metrics;
    const topic = this.outputTopic;
    let bytes = 0;
    for (const result of results) bytes += encoder.encode(JSON.stringify(result)).byteLength;
    const started = performance.now();
    // The broker's acknowledgement time; a rare delivery timeout is retried once.
    let ackMs = this.#random.logNormal(4, 0.6) * Math.sqrt(this.#incidents.diskFactor);
    if (this.#random.chance(0.002)) {
      metrics.errors.inc({ operation: "produce", error_type: "ERR__MSG_TIMED_OUT" });
      ackMs += 30;
    }
    await new Promise((resolve) => setTimeout(resolve, ackMs));
    metrics.messagesSent.inc({ topic }, results.length);
    metrics.bytesSent.inc({ topic }, bytes);
    metrics.produceLatency.observe({ topic }, performance.now() - started);
  }

  stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    return Promise.resolve();
  }

  close(): Promise<void> {
    return this.stop();
  }
}

/**
 * The demo on a real Kafka broker (`KAFKA_BROKERS`): the event source is
 * produced into an input topic, the processor consumes it, and window results
 * are produced to an output topic — all through
 * `@confluentinc/kafka-javascript`'s KafkaJS API, instrumented with
 * `atomic-metrics/kafka` (metrics, trace propagation, consumer lag).
 *
 * @module
 */

import type { Registry } from "../../src/registry.ts";
import { instrumentKafkaJsConsumer, instrumentKafkaJsProducer } from "../../src/kafka/mod.ts";
import type { DemoEvent, EventSource } from "./event_source.ts";
import type { Transport } from "./transport.ts";
import type { WindowResult } from "./window_manager.ts";

/** Options of {@link connectKafka}. */
export interface KafkaTransportOptions {
  /** Bootstrap servers, `host:port`. */
  readonly brokers: readonly string[];
  /** Receives the Kafka metrics. */
  readonly registry: Registry;
  /** Generates the events produced into the input topic. */
  readonly source: EventSource;
  /** Input topic. @default "demo.events" */
  readonly inputTopic?: string;
  /** Output topic. @default "demo.aggregates" */
  readonly outputTopic?: string;
  /** Consumer group. @default "atomic-metrics-demo" */
  readonly groupId?: string;
  /** Progress messages. */
  readonly log: (message: string) => void;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Connects to Kafka, creates the topics when missing, and instruments a
 * producer and a consumer.
 *
 * @param options Brokers, registry, source and names.
 * @returns The transport; `start` begins producing and consuming.
 * @throws {Error} When the client is not installed or the broker cannot be reached.
 */
export async function connectKafka(options: KafkaTransportOptions): Promise<Transport> {
  const { registry, source, log } = options;
  const inputTopic = options.inputTopic ?? "demo.events";
  const outputTopic = options.outputTopic ?? "demo.aggregates";
  const groupId = options.groupId ?? "atomic-metrics-demo";
  // Loaded only in Kafka mode: the client is a native addon the simulated demo does not need.
  let client: typeof import("@confluentinc/kafka-javascript");
  try {
    client = (await import("@confluentinc/kafka-javascript")).default;
  } catch (cause) {
    throw new Error(
      "KAFKA_BROKERS is set but @confluentinc/kafka-javascript cannot be loaded: it is a native addon built for " +
        `Node.js (run the Kafka mode with Node; unset KAFKA_BROKERS for the simulated demo): ${
          (cause as Error).message
        }`,
      { cause },
    );
  }
  const { KafkaJS } = client;
  const errorCodes = client.CODES.ERRORS as unknown as Record<string, number>;
  const kafka = new KafkaJS.Kafka({
    kafkaJS: { brokers: [...options.brokers], clientId: "atomic-metrics-demo", logLevel: KafkaJS.logLevel.NOTHING },
  });

  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const topics = [
      { topic: inputTopic, numPartitions: source.partitions, replicationFactor: 1 },
      { topic: outputTopic, numPartitions: 1, replicationFactor: 1 },
    ].filter((t) => !existing.has(t.topic));
    if (topics.length > 0) await admin.createTopics({ topics });
  } finally {
    await admin.disconnect();
  }

  const producer = kafka.producer();
  await producer.connect();
  instrumentKafkaJsProducer(producer, { registry, errorCodes });
  const consumer = kafka.consumer({ kafkaJS: { groupId, fromBeginning: false } });
  await consumer.connect();
  await consumer.subscribe({ topics: [inputTopic] });
  instrumentKafkaJsConsumer(consumer, { registry, errorCodes, groupId, lagRefreshIntervalMs: 5_000 });
  log(
    `kafka: connected to ${options.brokers.join(",")}; producing to "${inputTopic}", consuming as group "${groupId}"`,
  );

  let running = false;
  let producing: Promise<void> = Promise.resolve();

  // The load generator: what an upstream service would write into the input topic.
  const produceLoop = async (): Promise<void> => {
    let last = performance.now();
    while (running) {
      const now = performance.now();
      const events = source.poll(now - last);
      last = now;
      if (events.length > 0) {
        try {
          await producer.send({
            topic: inputTopic,
            messages: events.map((event) => ({ key: event.userId, value: JSON.stringify(event) })),
          });
        } catch (error) {
          // Counted in kafka_errors_total{operation="produce"} by the instrumentation.
          log(`kafka: producing events failed: ${String(error)}`);
          await sleep(1_000);
        }
      }
      await sleep(Math.max(0, 50 - (performance.now() - now)));
    }
  };

  return {
    mode: "kafka",
    inputTopic,
    outputTopic,
    async start(deliver: (event: DemoEvent) => Promise<void>): Promise<void> {
      running = true;
      producing = produceLoop();
      await consumer.run({
        partitionsConsumedConcurrently: source.partitions,
        // A batch's events are handled concurrently by the processor's workers; the batch's
        // offsets are committed once all of them are handled (at-least-once).
        eachBatch: async ({ batch }) => {
          await Promise.all(
            batch.messages.map((message) =>
              deliver({ ...(JSON.parse(String(message.value)) as DemoEvent), partition: batch.partition })
            ),
          );
        },
      });
    },
    async publish(results: readonly WindowResult[]): Promise<void> {
      if (results.length === 0) return;
      try {
        await producer.send({
          topic: outputTopic,
          messages: results.map((result) => ({ key: result.key, value: JSON.stringify(result) })),
        });
      } catch (error) {
        log(`kafka: producing window results failed: ${String(error)}`);
      }
    },
    async stop(): Promise<void> {
      running = false;
      await producing;
      await consumer.disconnect().catch(() => {});
    },
    async close(): Promise<void> {
      await producer.disconnect().catch(() => {});
    },
  };
}

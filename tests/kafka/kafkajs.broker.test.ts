/**
 * instrumentKafkaJsProducer / instrumentKafkaJsConsumer against a real
 * single-node Kafka broker, with @confluentinc/kafka-javascript's
 * KafkaJS-compatible API. Node only: the client is a native addon.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import kafkaJavascript from "@confluentinc/kafka-javascript";
import { Registry } from "../../src/registry.ts";
import { instrumentKafkaJsConsumer, instrumentKafkaJsProducer, kafkaMetrics } from "../../src/kafka/mod.ts";
import { type KafkaBroker, startKafkaBroker } from "../support/kafka_broker.ts";
import { histogramCount, payloads, spansNamed, startTracing, type Tracing, utf8Bytes, waitFor } from "./_fixture.ts";

const { KafkaJS } = kafkaJavascript;

let broker: KafkaBroker;
let kafka: InstanceType<typeof KafkaJS.Kafka>;
let tracing: Tracing;
const disconnects: (() => Promise<void>)[] = [];

before(async () => {
  broker = await startKafkaBroker();
  tracing = startTracing();
  kafka = new KafkaJS.Kafka({ kafkaJS: { brokers: [broker.bootstrap], logLevel: KafkaJS.logLevel.NOTHING } });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: ["kjs-roundtrip", "kjs-lag", "kjs-batch", "kjs-send-batch-a", "kjs-send-batch-b"].map((topic) => ({
      topic,
      numPartitions: 1,
      replicationFactor: 1,
    })),
  });
  await admin.disconnect();
});

after(async () => {
  for (const disconnect of disconnects.reverse()) await disconnect().catch(() => {});
  tracing?.stop();
  await broker?.stop();
});

async function connectedProducer(config: Record<string, unknown> = {}) {
  const producer = kafka.producer(config);
  await producer.connect();
  disconnects.push(() => producer.disconnect());
  return producer;
}

async function subscribedConsumer(groupId: string, ...topics: string[]) {
  const consumer = kafka.consumer({ kafkaJS: { groupId, fromBeginning: true } });
  await consumer.connect();
  await consumer.subscribe({ topics });
  disconnects.push(() => consumer.disconnect());
  return consumer;
}

describe("KafkaJS-compatible API against a real broker", () => {
  it("instrumentKafkaJsProducer/Consumer count N sent and received, match bytes, and parent consumer spans on the producer span", async () => {
    const registry = new Registry();
    const topic = "kjs-roundtrip";
    const values = payloads(5, "kjs");
    const producer = await connectedProducer();
    instrumentKafkaJsProducer(producer, { registry, tracer: tracing.tracer });
    const root = tracing.tracer.startSpan("request");
    await context.with(
      trace.setSpan(context.active(), root),
      () => producer.send({ topic, messages: values.map((value) => ({ value, headers: { app: "kept" } })) }),
    );
    root.end();

    const consumer = await subscribedConsumer("kjs-roundtrip-group", topic);
    instrumentKafkaJsConsumer(consumer, { registry, tracer: tracing.tracer, groupId: "kjs-roundtrip-group" });
    const received: { value: string; app: string; activeSpanId: string | undefined }[] = [];
    void consumer.run({
      eachMessage: async ({ message }) => {
        // Cross a timer: the CONSUMER span must stay active across awaits.
        await new Promise((resolve) => setTimeout(resolve, 1));
        received.push({
          value: String(message.value),
          app: String(message.headers?.["app"]),
          activeSpanId: trace.getActiveSpan()?.spanContext().spanId,
        });
      },
    });
    await waitFor("5 messages", () => received.length >= values.length);

    const kafkaSeries = kafkaMetrics(registry);
    const bytes = values.reduce((sum, value) => sum + utf8Bytes(value), 0);
    assert.deepEqual(received.map((r) => r.value), values);
    assert.ok(received.every((r) => r.app === "kept"), "application headers survive injection");
    assert.equal(kafkaSeries.messagesSent.get({ topic }), values.length);
    assert.equal(kafkaSeries.messagesReceived.get({ topic, partition: "0" }), values.length);
    assert.equal(kafkaSeries.bytesSent.get({ topic }), bytes);
    assert.equal(kafkaSeries.bytesReceived.get({ topic }), bytes);
    assert.equal(histogramCount(registry, "kafka_produce_latency_ms", { topic }), 1);
    await waitFor(
      "5 consume latencies",
      () => histogramCount(registry, "kafka_consume_latency_ms", { topic }) === values.length,
    );

    const [producerSpan] = spansNamed(tracing.exporter, `send ${topic}`);
    assert.ok(producerSpan, "a PRODUCER span was recorded");
    assert.equal(producerSpan.kind, SpanKind.PRODUCER);
    assert.equal(producerSpan.parentSpanContext?.spanId, root.spanContext().spanId);
    assert.equal(producerSpan.attributes["messaging.system"], "kafka");
    assert.equal(producerSpan.attributes["messaging.destination.name"], topic);
    assert.equal(producerSpan.attributes["messaging.batch.message_count"], values.length);
    const consumerSpans = spansNamed(tracing.exporter, `process ${topic}`);
    assert.equal(consumerSpans.length, values.length);
    for (const span of consumerSpans) {
      assert.equal(span.kind, SpanKind.CONSUMER);
      assert.equal(span.spanContext().traceId, root.spanContext().traceId);
      assert.equal(span.parentSpanContext?.spanId, producerSpan.spanContext().spanId);
      assert.equal(span.attributes["messaging.operation.type"], "process");
      assert.equal(span.attributes["messaging.consumer.group.name"], "kjs-roundtrip-group");
      assert.equal(span.attributes["messaging.destination.partition.id"], "0");
    }
    assert.deepEqual(
      received.map((r) => r.activeSpanId).sort(),
      consumerSpans.map((s) => s.spanContext().spanId).sort(),
      "each handler ran inside its CONSUMER span",
    );
    await consumer.disconnect();
  });

  it("instrumentKafkaJsProducer sendBatch to 2 topics counts each message once, opens one PRODUCER span per topic, and parents each topic's consumer spans on it", async () => {
    const registry = new Registry();
    const topics = ["kjs-send-batch-a", "kjs-send-batch-b"] as const;
    const values: Record<string, string[]> = {
      [topics[0]]: payloads(3, "batch-a"),
      [topics[1]]: payloads(4, "batch-b"),
    };
    const producer = await connectedProducer();
    instrumentKafkaJsProducer(producer, { registry, tracer: tracing.tracer });
    const root = tracing.tracer.startSpan("request");
    await context.with(
      trace.setSpan(context.active(), root),
      () =>
        producer.sendBatch({
          topicMessages: topics.map((topic) => ({ topic, messages: values[topic]!.map((value) => ({ value })) })),
        }),
    );
    root.end();

    const consumer = await subscribedConsumer("kjs-send-batch-group", ...topics);
    instrumentKafkaJsConsumer(consumer, { registry, tracer: tracing.tracer });
    const received: { topic: string; value: string }[] = [];
    void consumer.run({
      eachMessage: ({ topic, message }) => {
        received.push({ topic, value: String(message.value) });
        return Promise.resolve();
      },
    });
    await waitFor("7 messages", () => received.length >= 7);
    // A CONSUMER span ends after its handler returned: wait for all 7 before reading them.
    await waitFor(
      "7 consumer spans",
      () => topics.reduce((sum, topic) => sum + spansNamed(tracing.exporter, `process ${topic}`).length, 0) >= 7,
    );

    const metrics = kafkaMetrics(registry);
    for (const topic of topics) {
      const sent = values[topic]!;
      assert.deepEqual(received.filter((r) => r.topic === topic).map((r) => r.value), sent);
      assert.equal(metrics.messagesSent.get({ topic }), sent.length, `${topic}: each message counted once`);
      assert.equal(metrics.bytesSent.get({ topic }), sent.reduce((sum, value) => sum + utf8Bytes(value), 0));
      assert.equal(histogramCount(registry, "kafka_produce_latency_ms", { topic }), 1);
      assert.equal(metrics.messagesReceived.get({ topic, partition: "0" }), sent.length);

      const producerSpans = spansNamed(tracing.exporter, `send ${topic}`);
      assert.equal(producerSpans.length, 1, `${topic}: one PRODUCER span`);
      const producerSpan = producerSpans[0]!;
      assert.equal(producerSpan.kind, SpanKind.PRODUCER);
      assert.equal(producerSpan.parentSpanContext?.spanId, root.spanContext().spanId);
      assert.equal(producerSpan.attributes["messaging.batch.message_count"], sent.length);
      const consumerSpans = spansNamed(tracing.exporter, `process ${topic}`);
      assert.equal(consumerSpans.length, sent.length);
      for (const span of consumerSpans) {
        assert.equal(span.parentSpanContext?.spanId, producerSpan.spanContext().spanId, `${topic}: parent`);
        assert.equal(span.spanContext().traceId, root.spanContext().traceId);
      }
    }
    await consumer.disconnect();
  });

  it("instrumentKafkaJsConsumer sets kafka_consumer_lag to what is left while stopped behind, then back to 0", async () => {
    const registry = new Registry();
    const topic = "kjs-lag";
    const producer = await connectedProducer();
    instrumentKafkaJsProducer(producer, { registry, tracer: tracing.tracer });
    await producer.send({ topic, messages: payloads(4, "first").map((value) => ({ value })) });

    const consumer = await subscribedConsumer("kjs-lag-group", topic);
    const lagging = instrumentKafkaJsConsumer(consumer, { registry, tracer: tracing.tracer });
    let handled = 0;
    void consumer.run({
      eachMessage: () => {
        handled++;
        return Promise.resolve();
      },
    });
    await waitFor("first 4 messages", () => handled === 4);
    const lag = kafkaMetrics(registry).consumerLag;
    await lagging.refreshLag();
    assert.equal(lag.get({ topic, partition: "0" }), 0);

    consumer.pause([{ topic }]);
    await producer.send({ topic, messages: payloads(6, "second").map((value) => ({ value })) });
    await lagging.refreshLag();
    assert.equal(lag.get({ topic, partition: "0" }), 6, "6 messages left behind");
    assert.equal(handled, 4, "a paused consumer handles nothing");

    consumer.resume([{ topic }]);
    await waitFor("the other 6 messages", () => handled === 10);
    await lagging.refreshLag();
    assert.equal(lag.get({ topic, partition: "0" }), 0);
    await consumer.disconnect();
  });

  it("instrumentKafkaJsConsumer traces eachBatch in one CONSUMER span linked to the producer spans", async () => {
    const registry = new Registry();
    const topic = "kjs-batch";
    const producer = await connectedProducer();
    instrumentKafkaJsProducer(producer, { registry, tracer: tracing.tracer });
    await producer.send({ topic, messages: [{ value: "a" }, { value: "bb" }] });
    await producer.send({ topic, messages: [{ value: "ccc" }] });
    const producerSpanIds = spansNamed(tracing.exporter, `send ${topic}`).map((s) => s.spanContext().spanId);
    assert.equal(producerSpanIds.length, 2);

    const consumer = await subscribedConsumer("kjs-batch-group", topic);
    instrumentKafkaJsConsumer(consumer, { registry, tracer: tracing.tracer });
    let count = 0;
    void consumer.run({
      eachBatch: ({ batch }) => {
        count += batch.messages.length;
        return Promise.resolve();
      },
    });
    await waitFor("3 messages in batches", () => count === 3);
    await waitFor("batch spans", () => spansNamed(tracing.exporter, `process ${topic}`).length > 0);

    const metrics = kafkaMetrics(registry);
    assert.equal(metrics.messagesReceived.get({ topic, partition: "0" }), 3);
    assert.equal(metrics.bytesReceived.get({ topic }), 6);
    assert.equal(metrics.consumerLag.get({ topic, partition: "0" }), 0);
    const linked = spansNamed(tracing.exporter, `process ${topic}`).flatMap((s) =>
      s.links.map((l) => l.context.spanId)
    );
    assert.deepEqual([...new Set(linked)].sort(), [...producerSpanIds].sort());
    await consumer.disconnect();
  });

  it("instrumentKafkaJsProducer counts a send to an unknown topic under produce/ERR_UNKNOWN_TOPIC_OR_PART and re-throws it", async () => {
    const registry = new Registry();
    const producer = await connectedProducer({ "topic.metadata.propagation.max.ms": 1000 });
    instrumentKafkaJsProducer(producer, { registry, tracer: tracing.tracer });
    await assert.rejects(
      producer.send({ topic: "kjs-missing", messages: [{ value: "lost" }] }),
      (error: { type?: string }) => error instanceof KafkaJS.KafkaJSError && error.type === "ERR_UNKNOWN_TOPIC_OR_PART",
    );
    const metrics = kafkaMetrics(registry);
    assert.equal(metrics.errors.get({ operation: "produce", error_type: "ERR_UNKNOWN_TOPIC_OR_PART" }), 1);
    assert.equal(metrics.messagesSent.get({ topic: "kjs-missing" }), 0);
    const [span] = spansNamed(tracing.exporter, "send kjs-missing");
    assert.equal(span?.status.code, SpanStatusCode.ERROR);
    assert.equal(span?.attributes["error.type"], "ERR_UNKNOWN_TOPIC_OR_PART");
  });
});

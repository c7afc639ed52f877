/**
 * instrumentRdkafkaProducer / instrumentRdkafkaConsumer against a real
 * single-node Kafka broker, with @confluentinc/kafka-javascript's
 * rdkafka-style API (Producer, KafkaConsumer). Node only: the client is a
 * native addon.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import kafkaJavascript, { type Message } from "@confluentinc/kafka-javascript";
import { Registry } from "../../src/registry.ts";
import { instrumentRdkafkaConsumer, instrumentRdkafkaProducer, kafkaMetrics } from "../../src/kafka/mod.ts";
import { type KafkaBroker, startKafkaBroker } from "../support/kafka_broker.ts";
import { histogramCount, payloads, spansNamed, startTracing, type Tracing, utf8Bytes, waitFor } from "./_fixture.ts";

const { KafkaJS, Producer, KafkaConsumer, CODES } = kafkaJavascript;
type RdProducer = InstanceType<typeof Producer>;
type RdConsumer = InstanceType<typeof KafkaConsumer>;

let broker: KafkaBroker;
let tracing: Tracing;
const disconnects: (() => Promise<void>)[] = [];

before(async () => {
  broker = await startKafkaBroker();
  tracing = startTracing();
  const admin = new KafkaJS.Kafka({ kafkaJS: { brokers: [broker.bootstrap], logLevel: KafkaJS.logLevel.NOTHING } })
    .admin();
  await admin.connect();
  await admin.createTopics({
    topics: ["rd-roundtrip", "rd-lag"].map((topic) => ({ topic, numPartitions: 1, replicationFactor: 1 })),
  });
  await admin.disconnect();
});

after(async () => {
  for (const disconnect of disconnects.reverse()) await disconnect().catch(() => {});
  tracing?.stop();
  await broker?.stop();
});

function disconnected(client: { disconnect(cb: (error: unknown) => void): unknown }): Promise<void> {
  return new Promise((resolve) => client.disconnect(() => resolve()));
}

async function connectedProducer(config: Record<string, unknown> = {}): Promise<RdProducer> {
  const producer = new Producer({ "bootstrap.servers": broker.bootstrap, dr_cb: true, ...config });
  await new Promise<void>((resolve, reject) => producer.connect({}, (error) => (error ? reject(error) : resolve())));
  producer.setPollInterval(10);
  disconnects.push(() => disconnected(producer));
  return producer;
}

async function subscribedConsumer(groupId: string, topic: string): Promise<RdConsumer> {
  const consumer = new KafkaConsumer(
    { "bootstrap.servers": broker.bootstrap, "group.id": groupId, "enable.auto.commit": true },
    { "auto.offset.reset": "earliest" },
  );
  await new Promise<void>((resolve, reject) => consumer.connect({}, (error) => (error ? reject(error) : resolve())));
  consumer.subscribe([topic]);
  disconnects.push(() => disconnected(consumer));
  return consumer;
}

/** Produces each value and resolves when all delivery reports are in, with the opaques they carried. */
function produceAll(producer: RdProducer, topic: string, values: string[]): Promise<unknown[]> {
  const opaques: unknown[] = [];
  return new Promise((resolve, reject) => {
    const onReport = (error: unknown, report: { opaque?: unknown }): void => {
      if (error) {
        producer.removeListener("delivery-report", onReport);
        reject(error);
        return;
      }
      opaques.push(report.opaque);
      if (opaques.length === values.length) {
        producer.removeListener("delivery-report", onReport);
        resolve(opaques);
      }
    };
    producer.on("delivery-report", onReport);
    values.forEach((value, i) => producer.produce(topic, null, Buffer.from(value), null, Date.now(), { mine: i }));
  });
}

/** Calls consume(10, cb) until `total` messages arrived. */
async function consumeUntil(consumer: RdConsumer, total: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!total()) {
    if (Date.now() > deadline) throw new Error("Timed out consuming");
    await new Promise<unknown>((resolve, reject) =>
      consumer.consume(10, (error, messages) => (error ? reject(error) : resolve(messages)))
    );
  }
}

describe("rdkafka-style API against a real broker", () => {
  it("instrumentRdkafkaProducer/Consumer count N sent and received, match bytes, and parent consumer spans on the producer spans", async () => {
    const registry = new Registry();
    const topic = "rd-roundtrip";
    const values = payloads(5, "rd");
    const producer = await connectedProducer();
    instrumentRdkafkaProducer(producer, { registry, tracer: tracing.tracer, errorCodes: CODES.ERRORS });
    const root = tracing.tracer.startSpan("request");
    const opaques = await context.with(
      trace.setSpan(context.active(), root),
      () => produceAll(producer, topic, values),
    );
    root.end();
    assert.deepEqual(opaques, values.map((_, i) => ({ mine: i })), "delivery reports carry the application's opaque");

    const consumer = await subscribedConsumer("rd-roundtrip-group", topic);
    instrumentRdkafkaConsumer(consumer, { registry, tracer: tracing.tracer, groupId: "rd-roundtrip-group" });
    const received: { value: string; spanId: string | undefined }[] = [];
    consumer.on("data", (message: Message) => {
      received.push({ value: String(message.value), spanId: trace.getActiveSpan()?.spanContext().spanId });
    });
    await consumeUntil(consumer, () => received.length >= values.length);

    const metrics = kafkaMetrics(registry);
    const bytes = values.reduce((sum, value) => sum + utf8Bytes(value), 0);
    assert.deepEqual(received.map((r) => r.value), values);
    assert.equal(metrics.messagesSent.get({ topic }), values.length);
    assert.equal(metrics.messagesReceived.get({ topic, partition: "0" }), values.length);
    assert.equal(metrics.bytesSent.get({ topic }), bytes);
    assert.equal(metrics.bytesReceived.get({ topic }), bytes);
    assert.equal(histogramCount(registry, "kafka_produce_latency_ms", { topic }), values.length);
    assert.equal(histogramCount(registry, "kafka_consume_latency_ms", { topic }), values.length);

    const producerSpans = spansNamed(tracing.exporter, `send ${topic}`);
    assert.equal(producerSpans.length, values.length);
    for (const span of producerSpans) {
      assert.equal(span.kind, SpanKind.PRODUCER);
      assert.equal(span.parentSpanContext?.spanId, root.spanContext().spanId);
      assert.equal(span.attributes["messaging.destination.partition.id"], "0");
    }
    const consumerSpans = spansNamed(tracing.exporter, `process ${topic}`).filter((s) => s.links.length === 0);
    assert.equal(consumerSpans.length, values.length);
    const producerIds = new Set(producerSpans.map((s) => s.spanContext().spanId));
    for (const span of consumerSpans) {
      assert.equal(span.kind, SpanKind.CONSUMER);
      assert.equal(span.spanContext().traceId, root.spanContext().traceId);
      assert.ok(producerIds.has(span.parentSpanContext?.spanId ?? ""), "parent is a producer span");
      assert.equal(span.attributes["messaging.system"], "kafka");
    }
    // One message, one producer span, one child: pair them by offset.
    const parents = consumerSpans.map((s) => s.parentSpanContext?.spanId).sort();
    assert.deepEqual(parents, [...producerIds].sort());
    assert.deepEqual(
      received.map((r) => r.spanId).sort(),
      consumerSpans.map((s) => s.spanContext().spanId).sort(),
      "each data listener ran inside its CONSUMER span",
    );
  });

  it("instrumentRdkafkaConsumer sets kafka_consumer_lag to what is left while stopped behind, then back to 0", async () => {
    const registry = new Registry();
    const topic = "rd-lag";
    const producer = await connectedProducer();
    instrumentRdkafkaProducer(producer, { registry, tracer: tracing.tracer });
    await produceAll(producer, topic, payloads(4, "first"));

    const consumer = await subscribedConsumer("rd-lag-group", topic);
    const lagging = instrumentRdkafkaConsumer(consumer, { registry, tracer: tracing.tracer });
    const metrics = kafkaMetrics(registry);
    await consumeUntil(consumer, () => metrics.messagesReceived.get({ topic, partition: "0" }) >= 4);
    await lagging.refreshLag();
    assert.equal(metrics.consumerLag.get({ topic, partition: "0" }), 0);

    // The consumer stops calling consume() while 6 more arrive.
    await produceAll(producer, topic, payloads(6, "second"));
    await lagging.refreshLag();
    assert.equal(metrics.consumerLag.get({ topic, partition: "0" }), 6, "6 messages left behind");

    await consumeUntil(consumer, () => metrics.messagesReceived.get({ topic, partition: "0" }) >= 10);
    assert.equal(metrics.consumerLag.get({ topic, partition: "0" }), 0, "updated per message from cached watermarks");
    await lagging.refreshLag();
    assert.equal(metrics.consumerLag.get({ topic, partition: "0" }), 0);
  });

  it("instrumentRdkafkaProducer counts a failed delivery to an unknown topic under produce/ERR_UNKNOWN_TOPIC_OR_PART", async () => {
    const registry = new Registry();
    const producer = await connectedProducer({ "topic.metadata.propagation.max.ms": 1000, "message.timeout.ms": 5000 });
    // No errorCodes option: the built-in table names the common codes.
    instrumentRdkafkaProducer(producer, { registry, tracer: tracing.tracer });
    let reported: { code?: number } | undefined;
    let opaque: unknown;
    producer.on("delivery-report", (error: { code?: number }, report: { opaque?: unknown }) => {
      reported = error;
      opaque = report.opaque;
    });
    producer.produce("rd-missing", null, Buffer.from("lost"), null, Date.now(), "mine");
    await waitFor("the failed delivery report", () => reported !== undefined);

    assert.equal(reported?.code, CODES.ERRORS.ERR_UNKNOWN_TOPIC_OR_PART, "the listener gets the client's own error");
    assert.equal(opaque, "mine", "the failed report carries the application's opaque");
    const metrics = kafkaMetrics(registry);
    assert.equal(metrics.errors.get({ operation: "produce", error_type: "ERR_UNKNOWN_TOPIC_OR_PART" }), 1);
    assert.equal(metrics.messagesSent.get({ topic: "rd-missing" }), 0);
    const [span] = spansNamed(tracing.exporter, "send rd-missing");
    assert.equal(span?.status.code, SpanStatusCode.ERROR);
  });
});

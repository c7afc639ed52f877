/**
 * The Kafka instrument functions against fake clients (no broker, no native
 * addon): error pass-through, restore(), option checks, tracing without
 * headers. Runs on Node, Deno and Bun.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { Registry } from "../../src/registry.ts";
import {
  instrumentKafkaJsConsumer,
  instrumentKafkaJsProducer,
  instrumentRdkafkaConsumer,
  instrumentRdkafkaProducer,
  type KafkaHeaderObject,
  type KafkaJsEachMessagePayload,
  type KafkaJsRunConfig,
  kafkaMetrics,
} from "../../src/kafka/mod.ts";

function inMemoryTracer() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { exporter, tracer: provider.getTracer("test") };
}

function fakeKafkaJsProducer(outcome: () => Promise<unknown>) {
  const records: { topic: string; messages: { value?: unknown; headers?: KafkaHeaderObject | undefined }[] }[] = [];
  return {
    records,
    async send(record: { topic: string; messages: { value?: unknown; headers?: KafkaHeaderObject | undefined }[] }) {
      records.push(record);
      return await outcome();
    },
    async sendBatch(_batch: unknown) {
      return await outcome();
    },
  };
}

type FakeRecord = { topic: string; messages: { value?: unknown; headers?: KafkaHeaderObject | undefined }[] };

// Like @confluentinc/kafka-javascript's KafkaJS producer: sendBatch() calls this.send() once per topic, so an
// instrumented send() is reached from inside an instrumented sendBatch(). `outcome` answers each topic's send.
function delegatingKafkaJsProducer(outcome: (record: FakeRecord) => Promise<unknown>) {
  const records: FakeRecord[] = [];
  return {
    records,
    async send(record: FakeRecord) {
      records.push(record);
      return await outcome(record);
    },
    async sendBatch(batch: { topicMessages?: FakeRecord[] }) {
      const sent: Promise<unknown>[] = [];
      for (const topicMessage of batch.topicMessages ?? []) sent.push(this.send(topicMessage));
      return (await Promise.all(sent)).flat();
    },
  };
}

function histogramCount(registry: Registry, name: string, labels: Record<string, string>): number {
  const family = registry.collect().find((m) => m.name === name);
  const series = family?.series.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return series?.count ?? 0;
}

// A node-rdkafka KafkaConsumer with nothing assigned whose consume(n, callback) answers through `answer`.
function fakeRdkafkaConsumer(answer: (callback: (error: unknown, messages: unknown[]) => void) => void) {
  return {
    consume(_n: number, callback: (error: unknown, messages: unknown[]) => void) {
      answer(callback);
    },
    emit(): boolean {
      return true;
    },
    disconnect() {},
    listenerCount() {
      return 0;
    },
    assignments() {
      return [];
    },
    queryWatermarkOffsets() {},
  };
}

describe("Kafka instrumentation with fake clients", () => {
  it("instrumentKafkaJsProducer re-throws the client's error object unchanged and counts it", async () => {
    const registry = new Registry();
    const failure = Object.assign(new Error("Broker: Not enough replicas"), { type: "ERR_NOT_ENOUGH_REPLICAS" });
    const producer = fakeKafkaJsProducer(() => Promise.reject(failure));
    instrumentKafkaJsProducer(producer, { registry });
    await assert.rejects(producer.send({ topic: "t", messages: [{ value: "v" }] }), (error) => error === failure);
    assert.equal(kafkaMetrics(registry).errors.get({ operation: "produce", error_type: "ERR_NOT_ENOUGH_REPLICAS" }), 1);
  });

  it("instrumentKafkaJsProducer injects traceparent into copies and leaves the caller's messages alone", async () => {
    const registry = new Registry();
    const { exporter, tracer } = inMemoryTracer();
    const producer = fakeKafkaJsProducer(() => Promise.resolve([]));
    instrumentKafkaJsProducer(producer, { registry, tracer });
    const message = { value: "v", headers: { app: "1" } };
    await producer.send({ topic: "t", messages: [message] });
    assert.deepEqual(message, { value: "v", headers: { app: "1" } });
    const sent = producer.records[0]!.messages[0]!.headers!;
    const [span] = exporter.getFinishedSpans();
    assert.equal(span?.kind, SpanKind.PRODUCER);
    assert.equal(sent["app"], "1");
    assert.match(
      String(sent["traceparent"]),
      new RegExp(`^00-${span!.spanContext().traceId}-${span!.spanContext().spanId}-01$`),
    );
  });

  it("instrumentKafkaJsProducer sendBatch opens one PRODUCER span per topic and counts per topic when sendBatch does not call send", async () => {
    const registry = new Registry();
    const { exporter, tracer } = inMemoryTracer();
    const producer = fakeKafkaJsProducer(() => Promise.resolve([]));
    instrumentKafkaJsProducer(producer, { registry, tracer });
    await producer.sendBatch({
      topicMessages: [
        { topic: "a", messages: [{ value: "1" }, { value: "22" }] },
        { topic: "b", messages: [{ value: "333" }] },
      ],
    });
    const metrics = kafkaMetrics(registry);
    assert.equal(metrics.messagesSent.get({ topic: "a" }), 2);
    assert.equal(metrics.bytesSent.get({ topic: "a" }), 3);
    assert.equal(metrics.bytesSent.get({ topic: "b" }), 3);
    assert.deepEqual(exporter.getFinishedSpans().map((s) => s.name).sort(), ["send a", "send b"]);
  });

  it("instrumentKafkaJsProducer sendBatch counts each message once and opens one PRODUCER span per topic when sendBatch calls send", async () => {
    const registry = new Registry();
    const { exporter, tracer } = inMemoryTracer();
    const producer = delegatingKafkaJsProducer(() => Promise.resolve([]));
    instrumentKafkaJsProducer(producer, { registry, tracer });
    await producer.sendBatch({
      topicMessages: [
        { topic: "a", messages: [{ value: "1" }, { value: "22" }] },
        { topic: "b", messages: [{ value: "333" }] },
      ],
    });
    const metrics = kafkaMetrics(registry);
    assert.equal(metrics.messagesSent.get({ topic: "a" }), 2);
    assert.equal(metrics.messagesSent.get({ topic: "b" }), 1);
    assert.equal(metrics.bytesSent.get({ topic: "a" }), 3);
    assert.equal(metrics.bytesSent.get({ topic: "b" }), 3);
    assert.equal(histogramCount(registry, "kafka_produce_latency_ms", { topic: "a" }), 1);
    assert.equal(histogramCount(registry, "kafka_produce_latency_ms", { topic: "b" }), 1);
    const spans = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.PRODUCER);
    assert.deepEqual(spans.map((s) => s.name).sort(), ["send a", "send b"]);
    for (const span of spans) {
      assert.equal(span.parentSpanContext, undefined, `${span.name} is not nested in another PRODUCER span`);
      const record = producer.records.find((r) => `send ${r.topic}` === span.name)!;
      for (const message of record.messages) {
        assert.equal(
          message.headers?.["traceparent"],
          `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`,
        );
      }
    }
  });

  it("instrumentKafkaJsProducer sendBatch counts the topic that failed as an error and the other as sent when sendBatch calls send", async () => {
    const registry = new Registry();
    const { exporter, tracer } = inMemoryTracer();
    const failure = Object.assign(new Error("Broker: Unknown topic or partition"), { code: 3 });
    const producer = delegatingKafkaJsProducer((record) =>
      record.topic === "missing" ? Promise.reject(failure) : Promise.resolve([])
    );
    instrumentKafkaJsProducer(producer, { registry, tracer });
    await assert.rejects(
      producer.sendBatch({
        topicMessages: [
          { topic: "ok", messages: [{ value: "1" }] },
          { topic: "missing", messages: [{ value: "22" }] },
        ],
      }),
      (error) => error === failure,
    );
    const metrics = kafkaMetrics(registry);
    assert.equal(metrics.messagesSent.get({ topic: "ok" }), 1);
    assert.equal(metrics.messagesSent.get({ topic: "missing" }), 0);
    assert.equal(metrics.errors.get({ operation: "produce", error_type: "ERR_UNKNOWN_TOPIC_OR_PART" }), 1);
    const spans = exporter.getFinishedSpans();
    assert.deepEqual(spans.map((s) => s.name).sort(), ["send missing", "send ok"]);
    assert.equal(spans.find((s) => s.name === "send ok")?.status.code, SpanStatusCode.UNSET);
    assert.equal(spans.find((s) => s.name === "send missing")?.status.code, SpanStatusCode.ERROR);
  });

  it("instrumentKafkaJsConsumer re-throws a handler's error unchanged, counts it and marks the span", async () => {
    const registry = new Registry();
    const { exporter, tracer } = inMemoryTracer();
    const failure = new RangeError("bad order");
    let runError: unknown;
    const consumer = {
      async run(config?: KafkaJsRunConfig) {
        const payload: KafkaJsEachMessagePayload = { topic: "t", partition: 2, message: { value: "abc", offset: "7" } };
        try {
          await config?.eachMessage?.(payload);
        } catch (error) {
          runError = error;
        }
      },
      async disconnect() {},
      assignment() {
        return [];
      },
    };
    instrumentKafkaJsConsumer(consumer, { registry, tracer });
    await consumer.run({ eachMessage: () => Promise.reject(failure) });
    assert.equal(runError, failure);
    const metrics = kafkaMetrics(registry);
    assert.equal(metrics.errors.get({ operation: "consume", error_type: "RangeError" }), 1);
    assert.equal(metrics.messagesReceived.get({ topic: "t", partition: "2" }), 1);
    const [span] = exporter.getFinishedSpans();
    assert.equal(span?.kind, SpanKind.CONSUMER);
    assert.equal(span?.status.code, SpanStatusCode.ERROR);
    assert.equal(span?.attributes["messaging.kafka.offset"], 7);
  });

  it("instrumentKafkaJsConsumer runs the handler in a root CONSUMER span when the message has no trace headers", async () => {
    const registry = new Registry();
    const { exporter, tracer } = inMemoryTracer();
    const consumer = {
      async run(config?: KafkaJsRunConfig) {
        await config?.eachMessage?.({
          topic: "t",
          partition: 0,
          message: { value: null, offset: "0", headers: { traceparent: "garbage" } },
        });
      },
      async disconnect() {},
      assignment() {
        return [];
      },
    };
    instrumentKafkaJsConsumer(consumer, { registry, tracer });
    await consumer.run({ eachMessage: async () => {} });
    const [span] = exporter.getFinishedSpans();
    assert.equal(span?.parentSpanContext, undefined);
    assert.equal(kafkaMetrics(registry).bytesReceived.get({ topic: "t" }), 0);
  });

  it("restore() puts the client's own methods back", async () => {
    const registry = new Registry();
    const producer = fakeKafkaJsProducer(() => Promise.resolve([]));
    const ownSend = producer.send;
    const instrumentation = instrumentKafkaJsProducer(producer, { registry });
    assert.notEqual(producer.send, ownSend);
    instrumentation.restore();
    assert.equal(producer.send, ownSend);
    await producer.send({ topic: "t", messages: [{ value: "v" }] });
    assert.equal(kafkaMetrics(registry).messagesSent.get({ topic: "t" }), 0);
  });

  it("instrumentKafkaJsProducer refuses a client instrumented twice and a missing registry", () => {
    const registry = new Registry();
    const producer = fakeKafkaJsProducer(() => Promise.resolve([]));
    instrumentKafkaJsProducer(producer, { registry });
    assert.throws(() => instrumentKafkaJsProducer(producer, { registry }), /already instrumented/);
    assert.throws(
      () => instrumentKafkaJsProducer(fakeKafkaJsProducer(() => Promise.resolve([])), {} as never),
      /option registry must be a Registry/,
    );
    assert.throws(() => instrumentKafkaJsProducer({} as never, { registry }), /has no method "send"/);
  });

  it("instrumentRdkafkaProducer re-throws a synchronous produce error unchanged and counts it", () => {
    const registry = new Registry();
    const failure = Object.assign(new Error("Local: Queue full"), { code: -184 });
    const producer = {
      produce(_topic: string, _partition: number | null, _value: unknown): never {
        throw failure;
      },
      emit(): boolean {
        return true;
      },
    };
    instrumentRdkafkaProducer(producer, { registry });
    assert.throws(() => producer.produce("t", null, "v"), (error) => error === failure);
    assert.equal(kafkaMetrics(registry).errors.get({ operation: "produce", error_type: "ERR__QUEUE_FULL" }), 1);
  });

  it("instrumentRdkafkaProducer refuses a HighLevelProducer, whose produce takes a callback", () => {
    const highLevel = { produce() {}, emit: () => true, setValueSerializer() {} };
    assert.throws(() => instrumentRdkafkaProducer(highLevel, { registry: new Registry() }), /HighLevelProducer/);
  });

  it("instrumentRdkafkaProducer without delivery reports counts at produce and keeps the opaque", () => {
    const registry = new Registry();
    const { exporter, tracer } = inMemoryTracer();
    const calls: unknown[][] = [];
    const producer = {
      produce(...args: unknown[]) {
        calls.push(args);
        return true;
      },
      emit(): boolean {
        return true;
      },
    };
    instrumentRdkafkaProducer(producer, { registry, tracer });
    producer.produce("t", null, new Uint8Array(5), null, null, "opaque-1", [{ app: "x" }]);
    assert.equal(calls[0]![5], "opaque-1");
    const headers = calls[0]![6] as Record<string, unknown>[];
    assert.deepEqual(headers[0], { app: "x" });
    assert.ok(headers.some((h) => typeof h["traceparent"] === "string"));
    assert.equal(kafkaMetrics(registry).bytesSent.get({ topic: "t" }), 5);
    assert.equal(exporter.getFinishedSpans().length, 1);
  });

  it("instrumentRdkafkaConsumer counts a consume callback error and still calls the callback", () => {
    const registry = new Registry();
    const failure = Object.assign(new Error("Local: Broker transport failure"), { code: -195 });
    const seen: unknown[] = [];
    const consumer = fakeRdkafkaConsumer((callback) => callback(failure, []));
    instrumentRdkafkaConsumer(consumer, { registry });
    consumer.consume(10, (error) => seen.push(error));
    assert.deepEqual(seen, [failure]);
    assert.equal(kafkaMetrics(registry).errors.get({ operation: "consume", error_type: "ERR__TRANSPORT" }), 1);
  });

  it("instrumentRdkafkaConsumer runs a consume(n) callback in one CONSUMER span linked to each producer span", () => {
    const registry = new Registry();
    const { exporter, tracer } = inMemoryTracer();
    const parentA = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const parentB = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01";
    const consumer = fakeRdkafkaConsumer((callback) =>
      callback(null, [
        { topic: "t", partition: 0, offset: 0, value: new Uint8Array(1), headers: [{ traceparent: parentA }] },
        { topic: "t", partition: 0, offset: 1, value: new Uint8Array(1), headers: [{ traceparent: parentB }] },
      ])
    );
    instrumentRdkafkaConsumer(consumer, { registry, tracer });
    let calls = 0;
    consumer.consume(10, () => void calls++);
    assert.equal(calls, 1);
    const [span] = exporter.getFinishedSpans();
    assert.equal(span?.kind, SpanKind.CONSUMER);
    assert.deepEqual(span?.links.map((l) => l.context.spanId), ["b7ad6b7169203331", "00f067aa0ba902b7"]);
    assert.equal(span?.attributes["messaging.batch.message_count"], 2);
  });
  it("instrumentRdkafkaConsumer refreshes kafka_consumer_lag on its timer after the first consume() until disconnect()", async () => {
    const registry = new Registry();
    let queries = 0;
    const consumer = {
      consume() {},
      emit(): boolean {
        return true;
      },
      disconnect() {},
      listenerCount() {
        return 0;
      },
      assignments() {
        return [{ topic: "t", partition: 1 }];
      },
      position() {
        return [{ topic: "t", partition: 1, offset: 3 }];
      },
      queryWatermarkOffsets(
        _topic: string,
        _partition: number,
        _timeout: number,
        callback: (error: unknown, offsets: { highOffset: number; lowOffset: number }) => void,
      ) {
        queries++;
        callback(null, { highOffset: 10, lowOffset: 0 });
      },
    };
    instrumentRdkafkaConsumer(consumer, { registry, lagRefreshIntervalMs: 10 });
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.equal(queries, 0, "no refresh before consume()");
    consumer.consume();
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(kafkaMetrics(registry).consumerLag.get({ topic: "t", partition: "1" }), 7);
    consumer.disconnect();
    const after = queries;
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.equal(queries, after, "disconnect() stops the timer");
  });
});

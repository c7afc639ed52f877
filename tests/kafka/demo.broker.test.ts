// The demo in Kafka mode (KAFKA_BROKERS set) against a real single-node
// broker: events go through the topic demo.events, window results to
// demo.aggregates, and every catalog metric — the 8 Kafka metrics recorded by
// the Kafka instrumentation, not simulated — has samples. Node only: the
// Kafka client is a native addon. node --import tsx --test tests/kafka/demo.broker.test.ts
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { catalog } from "../../src/catalog/catalog.ts";
import { type ParsedFamily, parseExposition } from "../_parse.ts";
import { type DemoProcess, demoRuntimes, sampleSum, startDemo } from "../support/demo_process.ts";
import { type KafkaBroker, startKafkaBroker } from "../support/kafka_broker.ts";
import { getText, sleep } from "../support/process.ts";

let broker: KafkaBroker | undefined;
let demo: DemoProcess | undefined;

after(async () => {
  demo?.kill();
  await broker?.stop();
});

// Scrapes until events made the round trip through Kafka and results were produced.
async function scrapeWhenFlowing(base: string, timeoutMs = 60_000): Promise<Map<string, ParsedFamily>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const families = parseExposition((await getText(`${base}/metrics`)).text, false);
    const sent = families.get("kafka_messages_sent_total")?.samples ?? [];
    const flowing = sampleSum(families, "kafka_messages_received_total") > 0 &&
      sent.some((s) => s.labels["topic"] === "demo.aggregates" && s.value > 0);
    if (flowing || Date.now() > deadline) return families;
    await sleep(500);
  }
}

describe("examples/demo.ts with KAFKA_BROKERS", () => {
  let families: Map<string, ParsedFamily>;

  before(async () => {
    broker = await startKafkaBroker();
    demo = await startDemo(demoRuntimes[0]!, { KAFKA_BROKERS: broker.bootstrap });
    families = await scrapeWhenFlowing(demo.base);
  });

  it("reads events from demo.events and writes window results to demo.aggregates", () => {
    const received = families.get("kafka_messages_received_total")?.samples ?? [];
    assert.ok(received.some((s) => s.labels["topic"] === "demo.events" && s.value > 0), demo!.output());
    const sent = families.get("kafka_messages_sent_total")?.samples ?? [];
    assert.ok(sent.some((s) => s.labels["topic"] === "demo.events" && s.value > 0), "the load generator produced");
    assert.ok(sent.some((s) => s.labels["topic"] === "demo.aggregates" && s.value > 0), "window results produced");
    assert.ok(sampleSum(families, "kafka_produce_latency_ms", "kafka_produce_latency_ms_count") > 0);
    assert.ok(sampleSum(families, "kafka_consume_latency_ms", "kafka_consume_latency_ms_count") > 0);
    assert.deepEqual(families.get("demo_info")?.samples[0]?.labels, { runtime: "node", kafka: "kafka" });
  });

  it("serves every catalog metric with at least one sample", () => {
    const missing = catalog.filter((entry) => (families.get(entry.name)?.samples.length ?? 0) === 0).map((e) => e.name);
    assert.deepEqual(missing, [], demo!.output());
  });

  it("stops with exit code 0 on SIGTERM, disconnecting from the broker", async () => {
    demo!.child.kill("SIGTERM");
    assert.equal(await demo!.exited, 0, demo!.output());
    assert.match(demo!.output(), /\[demo\] stopped/);
  });
});

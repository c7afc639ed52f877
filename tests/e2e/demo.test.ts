// End to end: the demo (examples/demo.ts) runs as a child process on Node,
// Deno and Bun with PORT=0; the test reads its port from the
// "listening on http://…" line, scrapes /metrics and finds every metric of
// the catalog with at least one sample, checks /health, and stops it with
// SIGTERM. Node runner: node --import tsx --test tests/e2e/demo.test.ts
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { catalog, standardProcessCatalog } from "../../src/catalog/catalog.ts";
import { type ParsedFamily, parseExposition } from "../_parse.ts";
import { type DemoProcess, demoRuntimes, sampleSum, startDemo } from "../support/demo_process.ts";
import { getText, sleep } from "../support/process.ts";

const ACTIVITY_TIMEOUT_MS = 15_000;
const OPENMETRICS = "application/openmetrics-text; version=1.0.0";

// Scrapes until events have been processed end to end (or the timeout passes), then returns the last scrape.
async function scrapeWhenBusy(base: string): Promise<Map<string, ParsedFamily>> {
  const deadline = Date.now() + ACTIVITY_TIMEOUT_MS;
  for (;;) {
    const { status, text } = await getText(`${base}/metrics`);
    assert.equal(status, 200);
    const families = parseExposition(text, false);
    const busy = sampleSum(families, "stream_processor_events_processed_total") > 0 &&
      sampleSum(families, "stream_processor_end_to_end_latency_ms", "stream_processor_end_to_end_latency_ms_count") > 0;
    if (busy || Date.now() > deadline) return families;
    await sleep(250);
  }
}

for (const runtime of demoRuntimes) {
  describe(`examples/demo.ts on ${runtime.name}`, () => {
    let demo: DemoProcess | undefined;
    let families: Map<string, ParsedFamily>;

    before(async () => {
      demo = await startDemo(runtime);
      families = await scrapeWhenBusy(demo.base);
    });

    after(() => demo?.kill());

    it("prints a listening line with the port it chose for PORT=0", () => {
      assert.match(demo!.base, /^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
    });

    it("serves every catalog metric with its catalog type and at least one sample", () => {
      const missing: string[] = [];
      for (const entry of [...catalog, ...standardProcessCatalog]) {
        const family = families.get(entry.name);
        if (family === undefined || family.samples.length === 0) {
          missing.push(entry.name);
          continue;
        }
        assert.equal(family.type, entry.type, `type of ${entry.name}`);
      }
      assert.deepEqual(missing, [], `metrics without samples on ${runtime.name}:\n${demo!.output()}`);
    });

    // Window triggers and produced results need the first window to close (up to 13 s): not waited for here.
    it("records events flowing through processing, state, windows and simulated Kafka", () => {
      const positive = (family: string, sampleName = family): void =>
        assert.ok(sampleSum(families, family, sampleName) > 0, `${sampleName} > 0 on ${runtime.name}`);
      positive("stream_processor_events_received_total");
      positive("stream_processor_events_processed_total");
      positive("stream_processor_processing_duration_ms", "stream_processor_processing_duration_ms_count");
      positive("stream_processor_end_to_end_latency_ms", "stream_processor_end_to_end_latency_ms_count");
      positive("stream_processor_active_windows");
      positive("state_operations_total");
      positive("state_cache_hits_total");
      positive("state_size_bytes");
      positive("kafka_messages_received_total");
      positive("kafka_bytes_received_total");
      positive("process_tasks_spawned_total");
      positive("process_memory_bytes");
      const info = families.get("demo_info")?.samples[0];
      assert.deepEqual(info?.labels, { runtime: runtime.name, kafka: "simulated" });
      const topics = new Set(families.get("kafka_messages_received_total")?.samples.map((s) => s.labels["topic"]));
      assert.deepEqual([...topics], ["simulated.events"], "simulated Kafka is labelled as such");
    });

    it("serves valid OpenMetrics when asked for it", async () => {
      const { status, type, text } = await getText(`${demo!.base}/metrics`, OPENMETRICS);
      assert.equal(status, 200);
      assert.match(type, /^application\/openmetrics-text/);
      const openMetrics = parseExposition(text, true);
      assert.ok(openMetrics.has("stream_processor_events_received"), "counter family named without _total");
    });

    it("answers /health with 200 and status ok", async () => {
      const { status, text } = await getText(`${demo!.base}/health`);
      assert.equal(status, 200);
      assert.equal((JSON.parse(text) as { status: string }).status, "ok");
    });

    it("stops with exit code 0 on SIGTERM", async () => {
      demo!.child.kill("SIGTERM");
      assert.equal(await demo!.exited, 0, demo!.output());
      assert.match(demo!.output(), /\[demo\] stopped/);
    });
  });
}

describe("examples/demo.ts with DEMO_DURATION_MS", () => {
  let demo: DemoProcess | undefined;
  after(() => demo?.kill());

  it("exits by itself with code 0 after the given time", async () => {
    demo = await startDemo(demoRuntimes[0]!, { DEMO_DURATION_MS: "1500" });
    const started = Date.now();
    assert.equal(await demo.exited, 0, demo.output());
    assert.ok(Date.now() - started < 10_000, "exited within 10 s");
    assert.match(demo.output(), /stopping \(DEMO_DURATION_MS=1500 elapsed\)/);
  });
});

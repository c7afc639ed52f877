/**
 * A stream processor to watch: a simulated web-shop click stream (a few
 * hundred events per second) flows through deduplication, a tiered state
 * backend, tumbling, sliding and session windows and their aggregations,
 * every step instrumented with the catalog kits, so every metric of the
 * catalog has samples. It serves `/metrics` and `/health` and logs where to
 * look.
 *
 * Run it on any runtime (the adapter is chosen from the runtime):
 *
 * ```sh
 * npm run demo                 # node --import tsx examples/demo.ts
 * deno task demo               # deno run -A examples/demo.ts
 * bun run examples/demo.ts
 * ```
 *
 * Environment:
 * - `PORT`: port of `/metrics` and `/health` (default 9090; 0 picks a free port).
 * - `HOST`: interface to listen on (default 127.0.0.1; 0.0.0.0 for every interface).
 * - `DEMO_RATE`: mean events per second (default 300).
 * - `DEMO_DURATION_MS`: stop by itself after this long (default: run until SIGINT/SIGTERM).
 * - `DEMO_SEED`: seed of the simulation, to replay a run (default: random).
 * - `DEMO_INCIDENTS`: `off` disables the scheduled incidents (slow disk, bad deploy).
 * - `DEMO_INCIDENT_EVERY_MS`: mean quiet time between incidents (default 600000; the first
 *   comes within 1.5–2.5 minutes); incidents last 5–8 minutes.
 * - `KAFKA_BROKERS`: comma-separated bootstrap servers: events go through real Kafka topics
 *   (`demo.events` → `demo.aggregates`) with the Kafka instrumentation. Without it the
 *   Kafka metrics are simulated, on topics named `simulated.events` and `simulated.aggregates`.
 * - `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): export traces
 *   (Kafka produce/consume spans) over OTLP/HTTP, with trace ids as exemplars.
 *
 * @module
 */

import process from "node:process";
import { Registry } from "../src/registry.ts";
import { stateBackendMetrics, streamProcessorMetrics, systemMetrics } from "../src/catalog/mod.ts";
import type { StateBackendMetrics, StreamProcessorMetrics } from "../src/catalog/mod.ts";
import { type KafkaMetrics, kafkaMetrics } from "../src/kafka/kafka_metrics.ts";
import type { MetricsServer, ServeOptions } from "../src/http/serve_options.ts";
import { EventSource, eventTypes } from "./demo/event_source.ts";
import { Incidents } from "./demo/incidents.ts";
import { createRandom } from "./demo/random.ts";
import { StateLocks } from "./demo/state_locks.ts";
import { StreamProcessor } from "./demo/stream_processor.ts";
import { SimulatedKafka } from "./demo/simulated_kafka.ts";
import { TieredStateBackend } from "./demo/tiered_state_backend.ts";
import type { Transport } from "./demo/transport.ts";
import { WindowManager, type WindowResult } from "./demo/window_manager.ts";

type Runtime = "node" | "deno" | "bun";
type Serve = (options: ServeOptions) => Promise<MetricsServer>;

function detectRuntime(): Runtime {
  if ("Deno" in globalThis) return "deno";
  if ("Bun" in globalThis) return "bun";
  return "node";
}

// Only the running runtime's adapter is loaded: the others import modules it lacks.
async function loadServe(runtime: Runtime): Promise<Serve> {
  switch (runtime) {
    case "deno":
      return (await import("../adapters/deno.ts")).serve;
    case "bun":
      return (await import("../adapters/bun.ts")).serve;
    case "node":
      return (await import("../adapters/node.ts")).serve;
  }
}

function log(message: string): void {
  console.log(`[demo] ${message}`);
}

function integerVariable(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`Environment variable ${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

// Known label values start at 0, so every series exists from the first scrape
// and rate() sees the first increase (client_golang's advice for known labels).
function initializeSeries(
  processor: StreamProcessorMetrics,
  state: StateBackendMetrics,
  kafka: KafkaMetrics,
  transport: Transport,
  partitions: number,
): void {
  for (const event_type of eventTypes) {
    processor.eventsReceived.labels({ event_type });
    processor.eventsProcessed.labels({ event_type });
    processor.processingDuration.labels({ event_type });
    processor.endToEndLatency.labels({ event_type });
  }
  for (const error_type of ["deserialization", "validation", "timeout", "state_backend"]) {
    processor.errors.labels({ error_type });
  }
  for (const window_type of ["tumbling", "sliding", "session"]) {
    processor.activeWindows.labels({ window_type });
    processor.windowTriggers.labels({ window_type });
  }
  for (const aggregation_type of ["count", "sum", "avg", "max", "distinct_count"]) {
    processor.aggregationsComputed.labels({ aggregation_type });
  }
  processor.deduplicationHits.inc(0);
  for (const reason of ["invalid", "late", "backpressure", "dead_letter"]) processor.eventsDropped.labels({ reason });
  const operations = {
    memory: ["get", "put", "delete"],
    disk: ["get", "put", "delete", "checkpoint"],
    remote: ["get", "put", "delete", "checkpoint"],
  };
  for (const [backend, names] of Object.entries(operations)) {
    state.sizeBytes.labels({ backend });
    for (const operation of names) {
      state.operations.labels({ backend, operation });
      state.operationDuration.labels({ backend, operation });
    }
  }
  for (const cache_tier of ["memory", "disk"]) {
    state.cacheHits.labels({ cache_tier });
    state.cacheMisses.labels({ cache_tier });
  }
  for (const lock_type of ["write", "checkpoint"]) {
    state.activeLocks.labels({ lock_type });
    state.lockWaitDuration.labels({ lock_type });
  }
  // The processor consumes the input topic and produces window results to the output topic.
  kafka.bytesReceived.labels({ topic: transport.inputTopic });
  kafka.consumeLatency.labels({ topic: transport.inputTopic });
  kafka.bytesSent.labels({ topic: transport.outputTopic });
  kafka.messagesSent.labels({ topic: transport.outputTopic });
  kafka.produceLatency.labels({ topic: transport.outputTopic });
  for (let partition = 0; partition < partitions; partition++) {
    const labels = { topic: transport.inputTopic, partition: String(partition) };
    kafka.messagesReceived.labels(labels);
    kafka.consumerLag.labels(labels);
  }
  kafka.errors.labels({ operation: "produce", error_type: "ERR__MSG_TIMED_OUT" });
  kafka.errors.labels({ operation: "consume", error_type: "ERR__TRANSPORT" });
}

/** The upper bound of the bucket holding the `quantile` of a histogram's observations since the previous call. */
function recentQuantile(
  registry: Registry,
  name: string,
  previous: Map<number, number>,
  quantile: number,
): number | undefined {
  const family = registry.collect().find((metric) => metric.name === name);
  const totals = new Map<number, number>();
  for (const series of family?.series ?? []) {
    for (const { le, count } of series.buckets) totals.set(le, (totals.get(le) ?? 0) + count);
  }
  const bounds = [...totals.keys()].sort((a, b) => a - b);
  const deltas = bounds.map((le) => (totals.get(le) ?? 0) - (previous.get(le) ?? 0));
  for (const [le, count] of totals) previous.set(le, count);
  const total = deltas.at(-1) ?? 0;
  if (total === 0) return undefined;
  const index = deltas.findIndex((count) => count >= quantile * total);
  return bounds[index];
}

const runtime = detectRuntime();
const port = integerVariable("PORT", 9090, 0, 65_535);
const hostname = process.env.HOST || "127.0.0.1";
const rate = integerVariable("DEMO_RATE", 300, 1, 100_000);
const durationMs = integerVariable("DEMO_DURATION_MS", 0, 0, 2 ** 31 - 1);
const seed = integerVariable("DEMO_SEED", Math.floor(Math.random() * 2 ** 31), 0, 2 ** 32 - 1);
const brokers = (process.env.KAFKA_BROKERS ?? "").split(",").map((broker) => broker.trim()).filter(Boolean);
const tracingWanted = Boolean(
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
);

const otel = tracingWanted ? await import("../src/otel/mod.ts") : undefined;
const tracing = otel === undefined ? undefined : await otel.setupTracing({ serviceName: "atomic-metrics-demo" });
const registry = new Registry(otel === undefined ? {} : { exemplars: otel.traceExemplars() });
const processorMetrics = streamProcessorMetrics(registry);
const stateMetrics = stateBackendMetrics(registry);
const system = systemMetrics(registry);
const kafka = kafkaMetrics(registry);
const info = registry.gauge({
  name: "demo_info",
  help: "The demo's runtime and where its events come from (kafka: real or simulated).",
  labelNames: ["runtime", "kafka"] as const,
});

const random = createRandom(seed);
const incidents = new Incidents(random, {
  enabled: process.env.DEMO_INCIDENTS !== "off",
  meanIntervalMs: integerVariable("DEMO_INCIDENT_EVERY_MS", 600_000, 1_000, 2 ** 31 - 1),
  log,
});
const source = new EventSource(random, { ratePerSecond: rate });
const state = new TieredStateBackend(stateMetrics, random, incidents);
// Start from a checkpoint, as a restarted processor does: every user has a profile, written in the last 5 minutes.
const restored = state.restore(function* () {
  for (let user = source.users - 1; user >= 0; user--) {
    const profile = { events: 1 + random.int(50), spent: 0, lastSeen: Date.now() };
    yield [`u${user}`, JSON.stringify(profile), Date.now() - random.int(300_000)] as const;
  }
}());
const locks = new StateLocks(stateMetrics);
const windows = new WindowManager(processorMetrics);
const processor = new StreamProcessor({ metrics: processorMetrics, system, state, locks, windows, incidents, random });

async function connectTransport(): Promise<Transport> {
  if (brokers.length === 0) {
    return new SimulatedKafka(kafka, source, random, incidents, (partition) => processor.partitionBacklog(partition));
  }
  try {
    return await (await import("./demo/kafka_transport.ts")).connectKafka({ brokers, registry, source, log });
  } catch (error) {
    console.error(`[demo] ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
const transport = await connectTransport();
info.set({ runtime, kafka: transport.mode }, 1);
initializeSeries(processorMetrics, stateMetrics, kafka, transport, source.partitions);

let stopping: Promise<void> | undefined;
const serve = await loadServe(runtime);
const server = await serve({ registry, port, hostname, ready: () => stopping === undefined });
const base = `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${server.port}`;

// Window results go downstream one batch at a time, in order.
let publishing: Promise<void> = Promise.resolve();
const publish = (results: WindowResult[]): void => {
  if (results.length === 0) return;
  publishing = publishing.then(() => transport.publish(results)).catch((error: unknown) => {
    log(`publishing window results failed: ${String(error)}`);
  });
};

const ticker = setInterval(() => {
  incidents.tick();
  const fired = windows.advance();
  publish(fired);
  state.reportSizes();
  processor.expireDedup();
}, 250);
// Every 10 s a checkpoint; then, in the background, users not seen for 5 minutes lose their state
// (time-to-live), one key at a time under its write lock so processing is not held up.
const checkpointer = setInterval(() => {
  void locks.checkpoint(() => state.checkpoint()).then(async () => {
    for (const key of state.expiredKeys(300_000)) {
      if (stopping !== undefined) return;
      await locks.write(key, () => state.expire(key, 300_000));
    }
  });
}, 10_000);

const startedAt = Date.now();
const previousBuckets = new Map<number, number>();
let previous = { received: 0, processed: 0, errors: 0, dropped: 0 };
const sum = (read: (eventType: (typeof eventTypes)[number]) => number): number =>
  eventTypes.reduce((total, eventType) => total + read(eventType), 0);
const reporter = setInterval(() => {
  const now = {
    received: sum((event_type) => processorMetrics.eventsReceived.get({ event_type })),
    processed: sum((event_type) => processorMetrics.eventsProcessed.get({ event_type })),
    errors: ["deserialization", "validation", "timeout", "state_backend"]
      .reduce((total, error_type) => total + processorMetrics.errors.get({ error_type }), 0),
    dropped: ["invalid", "late", "backpressure", "dead_letter"]
      .reduce((total, reason) => total + processorMetrics.eventsDropped.get({ reason }), 0),
  };
  const p95 = recentQuantile(registry, "stream_processor_end_to_end_latency_ms", previousBuckets, 0.95);
  const seconds = 10;
  log(
    `t=${Math.round((Date.now() - startedAt) / 1000)}s received ${
      Math.round((now.received - previous.received) / seconds)
    }/s, ` +
      `processed ${Math.round((now.processed - previous.processed) / seconds)}/s, ` +
      `errors ${now.errors - previous.errors}, dropped ${
        now.dropped - previous.dropped
      }, backlog ${processor.backlog}, ` +
      `p95 end-to-end ≤ ${p95 === undefined ? "-" : p95} ms${
        incidents.current ? `, incident: ${incidents.current}` : ""
      }`,
  );
  previous = now;
}, 10_000);

let durationTimer: ReturnType<typeof setTimeout> | undefined;
function shutdown(reason: string, code = 0): Promise<void> {
  stopping ??= (async () => {
    log(`stopping (${reason})`);
    clearInterval(ticker);
    clearInterval(checkpointer);
    clearInterval(reporter);
    if (durationTimer !== undefined) clearTimeout(durationTimer);
    try {
      await transport.stop();
      // Let running events finish, but do not wait on a long backlog.
      await Promise.race([processor.idle(), new Promise((resolve) => setTimeout(resolve, 2_000))]);
      // Every open window fires: its partial results go downstream before the connections close.
      publish(windows.advance(Number.MAX_SAFE_INTEGER));
      await publishing;
      await transport.close();
      await server.close();
      system.stop();
      await tracing?.shutdown();
    } catch (error) {
      console.error("[demo] error while stopping:", error);
      code = 1;
    }
    log("stopped");
    process.exit(code);
  })();
  return stopping;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    // A second signal while stopping means: stop now.
    if (stopping !== undefined) process.exit(130);
    void shutdown(signal);
  });
}
if (durationMs > 0) {
  durationTimer = setTimeout(() => void shutdown(`DEMO_DURATION_MS=${durationMs} elapsed`), durationMs);
}

transport.start((event) => processor.ingest(event)).catch((error: unknown) => {
  console.error("[demo] the event transport failed:", error);
  void shutdown("transport failure", 1);
});

const kafkaNote = transport.mode === "kafka"
  ? `Kafka: real, brokers ${brokers.join(",")}, topics "${transport.inputTopic}" → "${transport.outputTopic}"`
  : `Kafka: SIMULATED (KAFKA_BROKERS unset): kafka_* metrics are simulated, on topics "${transport.inputTopic}" → "${transport.outputTopic}"`;
log(`atomic-metrics stream processor demo on ${runtime}, ${rate} events/s, seed ${seed}`);
log(`state: restored ${restored} user profiles from the last checkpoint (memory tier cold, disk and remote warm)`);
log(kafkaNote);
if (tracing !== undefined) log("tracing: exporting spans over OTLP/HTTP; OpenMetrics scrapes carry trace-id exemplars");
log(`listening on ${base}`);
log(`  metrics: ${base}/metrics    health: ${base}/health`);
log("Prometheus: monitoring/prometheus/prometheus.yml scrapes localhost:9090; run it on another port:");
log("  prometheus --config.file=monitoring/prometheus/prometheus.yml --web.listen-address=:9091");
log("Queries to try (http://localhost:9091/graph):");
log("  sum by (event_type) (rate(stream_processor_events_processed_total[1m]))");
log("  histogram_quantile(0.95, sum by (le) (rate(stream_processor_end_to_end_latency_ms_bucket[5m])))");
log("  sum(rate(stream_processor_errors_total[5m])) / sum(rate(stream_processor_events_received_total[5m]))");
log("  sum by (reason) (rate(stream_processor_events_dropped_total[5m]))");
log(
  "  sum by (cache_tier) (rate(state_cache_hits_total[5m])) / (sum by (cache_tier) (rate(state_cache_hits_total[5m])) + sum by (cache_tier) (rate(state_cache_misses_total[5m])))",
);
log("  sum by (topic, partition) (kafka_consumer_lag)");
log("Dashboards: monitoring/grafana/dashboards (see monitoring/README.md). Stop with Ctrl+C.");
log("Incidents (slow disk, bad deploy) start a minute or two in, then every ten minutes or so, and are logged here.");

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  catalog,
  type CatalogEntry,
  millisecondBuckets,
  stateBackendCatalog,
  streamProcessorCatalog,
} from "../../src/catalog/catalog.ts";
import { stateBackendMetrics } from "../../src/catalog/state_backend_metrics.ts";
import { streamProcessorMetrics } from "../../src/catalog/stream_processor_metrics.ts";
import { kafkaMetrics } from "../../src/kafka/kafka_metrics.ts";
import { systemMetrics } from "../../src/catalog/system_metrics.ts";
import { Registry } from "../../src/registry.ts";

function registered(
  registry: Registry,
  entries: readonly CatalogEntry[],
): [string, string, string[], string, string][] {
  const names = new Set(entries.map((e) => e.name));
  return registry.collect()
    .filter((s) => names.has(s.name))
    .map((s) => [s.name, s.type, [...s.labelNames], s.unit, s.help]);
}

function expected(entries: readonly CatalogEntry[]): [string, string, string[], string, string][] {
  return [...entries]
    .map((e): [string, string, string[], string, string] => [e.name, e.type, [...e.labelNames], e.unit ?? "", e.help])
    .sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

function sorted<T extends [string, ...unknown[]]>(rows: T[]): T[] {
  return [...rows].sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

describe("catalog kits", () => {
  it("streamProcessorMetrics() registers the 10 catalog metrics with their exact names, types, labels, units and help", () => {
    const registry = new Registry({ selfMetrics: false });
    streamProcessorMetrics(registry);
    assert.deepEqual(sorted(registered(registry, streamProcessorCatalog)), expected(streamProcessorCatalog));
    assert.equal(registry.collect().length, 10);
  });

  it("stateBackendMetrics() registers the 7 catalog metrics with their exact names, types, labels, units and help", () => {
    const registry = new Registry({ selfMetrics: false });
    stateBackendMetrics(registry);
    assert.deepEqual(sorted(registered(registry, stateBackendCatalog)), expected(stateBackendCatalog));
    assert.equal(registry.collect().length, 7);
  });

  it("streamProcessorMetrics() records through typed fields and renders every metric", () => {
    const registry = new Registry({ selfMetrics: false });
    const m = streamProcessorMetrics(registry);
    m.eventsReceived.inc({ event_type: "order" }, 3);
    m.eventsProcessed.inc({ event_type: "order" }, 2);
    m.processingDuration.observe({ event_type: "order" }, 12);
    m.errors.inc({ error_type: "timeout" });
    m.activeWindows.set({ window_type: "tumbling" }, 4);
    m.windowTriggers.inc({ window_type: "tumbling" });
    m.aggregationsComputed.inc({ aggregation_type: "sum" });
    m.deduplicationHits.inc();
    m.eventsDropped.inc({ reason: "late" });
    m.endToEndLatency.observe({ event_type: "order" }, 80);
    const text = registry.render();
    for (const entry of streamProcessorCatalog) {
      assert.ok(text.includes(`# TYPE ${entry.name} ${entry.type}`), entry.name);
    }
    assert.ok(text.includes('stream_processor_events_received_total{event_type="order"} 3'));
    assert.ok(text.includes("stream_processor_deduplication_hits_total 1"));
    assert.ok(text.includes('stream_processor_active_windows{window_type="tumbling"} 4'));
    assert.ok(text.includes('stream_processor_processing_duration_ms_bucket{event_type="order",le="25"} 1'));
    assert.ok(text.includes('stream_processor_end_to_end_latency_ms_bucket{event_type="order",le="50"} 0'));
    assert.ok(text.includes('stream_processor_end_to_end_latency_ms_bucket{event_type="order",le="100"} 1'));
    assert.ok(registry.render("openmetrics").includes("# UNIT stream_processor_processing_duration_ms ms"));
  });

  it("stateBackendMetrics() records through typed fields and renders every metric", () => {
    const registry = new Registry({ selfMetrics: false });
    const s = stateBackendMetrics(registry);
    s.operations.inc({ backend: "memory", operation: "get" });
    s.operationDuration.observe({ backend: "memory", operation: "get" }, 0.3);
    s.cacheHits.inc({ cache_tier: "l1" }, 9);
    s.cacheMisses.inc({ cache_tier: "l1" });
    s.sizeBytes.set({ backend: "memory" }, 2048);
    s.activeLocks.inc({ lock_type: "write" });
    s.lockWaitDuration.observe({ lock_type: "write" }, 1.5);
    const text = registry.render();
    for (const entry of stateBackendCatalog) {
      assert.ok(text.includes(`# TYPE ${entry.name} ${entry.type}`), entry.name);
    }
    assert.ok(text.includes('state_cache_hits_total{cache_tier="l1"} 9'));
    assert.ok(text.includes('state_size_bytes{backend="memory"} 2048'));
    assert.ok(text.includes('state_operation_duration_ms_bucket{backend="memory",operation="get",le="0.5"} 1'));
  });

  it("kits give histograms millisecondBuckets by default and the given buckets when overridden", () => {
    const defaults = new Registry({ selfMetrics: false });
    streamProcessorMetrics(defaults).processingDuration.observe({ event_type: "a" }, 1);
    stateBackendMetrics(defaults).lockWaitDuration.observe({ lock_type: "a" }, 1);
    const bounds = (registry: Registry, name: string): number[] =>
      registry.collect().find((s) => s.name === name)!.series[0]!.buckets.map((b) => b.le);
    assert.deepEqual(bounds(defaults, "stream_processor_processing_duration_ms"), [...millisecondBuckets, Infinity]);
    assert.deepEqual(bounds(defaults, "state_lock_wait_duration_ms"), [...millisecondBuckets, Infinity]);

    const custom = new Registry({ selfMetrics: false });
    streamProcessorMetrics(custom, { buckets: [1, 10] }).endToEndLatency.observe({ event_type: "a" }, 5);
    stateBackendMetrics(custom, { buckets: [2, 20] }).operationDuration.observe({ backend: "b", operation: "o" }, 5);
    assert.deepEqual(bounds(custom, "stream_processor_end_to_end_latency_ms"), [1, 10, Infinity]);
    assert.deepEqual(bounds(custom, "state_operation_duration_ms"), [2, 20, Infinity]);
  });

  it("kits return the same metrics when called again, and throw naming the metric when the buckets differ", () => {
    const registry = new Registry({ selfMetrics: false });
    const first = streamProcessorMetrics(registry);
    first.eventsReceived.inc({ event_type: "a" });
    const again = streamProcessorMetrics(registry);
    assert.equal(again.eventsReceived, first.eventsReceived);
    assert.equal(again.eventsReceived.get({ event_type: "a" }), 1);
    assert.throws(
      () => streamProcessorMetrics(registry, { buckets: [1, 2] }),
      /stream_processor_processing_duration_ms/,
    );
    stateBackendMetrics(registry);
    assert.throws(() => stateBackendMetrics(registry, { buckets: [1, 2] }), /state_operation_duration_ms/);
  });

  it("the four kits together register all 29 catalog metrics exactly as catalogued", () => {
    const registry = new Registry({ selfMetrics: false });
    streamProcessorMetrics(registry);
    kafkaMetrics(registry);
    stateBackendMetrics(registry);
    using _system = systemMetrics(registry, { eventLoopLagIntervalMs: false });
    assert.deepEqual(sorted(registered(registry, catalog)), expected(catalog));
  });
});

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  catalog,
  catalogEntry,
  kafkaCatalog,
  millisecondBuckets,
  standardProcessCatalog,
  stateBackendCatalog,
  streamProcessorCatalog,
  systemCatalog,
} from "../../src/catalog/catalog.ts";

const designPath = new URL("../../../shared/seed/METRICS_DELIVERY_SUMMARY.md", import.meta.url);

/** The "Metrics Catalog" tables of the design: name → [type, labels]. */
function designCatalog(): Map<string, [string, string[]]> {
  const text = readFileSync(designPath, "utf8");
  const section = text.slice(text.indexOf("## Metrics Catalog"), text.indexOf("**Total: 29 metrics**"));
  const out = new Map<string, [string, string[]]>();
  for (const [, name, type, rest] of section.matchAll(/^\| `(\w+)` \| (\w+) \|(.*)$/gm)) {
    const cells = rest!.split("|").map((c) => c.trim());
    // The system table has no Labels column: its second cell is the purpose.
    const labels = cells.length === 3 ? [...cells[0]!.matchAll(/`(\w+)`/g)].map((m) => m[1]!) : [];
    out.set(name!, [type!.toLowerCase(), labels]);
  }
  return out;
}

describe("catalog", () => {
  it("catalog lists the design's 29 metrics in groups of 10, 8, 7 and 4 with unique names", () => {
    assert.equal(catalog.length, 29);
    assert.equal(new Set(catalog.map((m) => m.name)).size, 29);
    assert.equal(streamProcessorCatalog.length, 10);
    assert.equal(kafkaCatalog.length, 8);
    assert.equal(stateBackendCatalog.length, 7);
    assert.equal(systemCatalog.length, 4);
    assert.ok(streamProcessorCatalog.every((m) => m.group === "stream_processor"));
    assert.ok(kafkaCatalog.every((m) => m.group === "kafka"));
    assert.ok(stateBackendCatalog.every((m) => m.group === "state"));
    assert.ok(systemCatalog.every((m) => m.group === "system"));
  });

  it("catalog matches the names, types and labels of the design's Metrics Catalog tables", () => {
    assert.ok(existsSync(designPath), `design not found at ${designPath.pathname}`);
    const design = designCatalog();
    assert.equal(design.size, 29);
    for (const m of catalog) {
      assert.deepEqual([m.type, [...m.labelNames]], design.get(m.name), m.name);
    }
  });

  it("catalog entries follow the naming rules: counters end in _total, units end the name, help is set", () => {
    for (const m of [...catalog, ...standardProcessCatalog]) {
      assert.equal(m.type === "counter", m.name.endsWith("_total"), m.name);
      if (m.unit !== undefined) assert.ok(m.name.replace(/_total$/, "").endsWith(`_${m.unit}`), m.name);
      if (m.name.endsWith("_ms")) assert.equal(m.unit, "ms", m.name);
      assert.ok(m.help.length > 5, m.name);
    }
  });

  it("standardProcessCatalog holds the community names, none clashing with the catalog", () => {
    assert.deepEqual(standardProcessCatalog.map((m) => m.name), [
      "process_cpu_seconds_total",
      "process_resident_memory_bytes",
      "process_start_time_seconds",
      "nodejs_eventloop_lag_seconds",
    ]);
    for (const m of standardProcessCatalog) assert.ok(!catalog.some((c) => c.name === m.name));
  });

  it("millisecondBuckets increase strictly and include the 100 ms SLO threshold", () => {
    assert.ok(millisecondBuckets.every((b, i) => i === 0 || b > millisecondBuckets[i - 1]!));
    assert.ok(millisecondBuckets.includes(100));
    assert.equal(millisecondBuckets[0], 0.1);
    assert.equal(millisecondBuckets.at(-1), 10000);
  });

  it("catalogEntry() finds catalog and standard metrics and names an unknown one in its error", () => {
    assert.equal(catalogEntry("kafka_consumer_lag").group, "kafka");
    assert.equal(catalogEntry("process_start_time_seconds").type, "gauge");
    assert.throws(() => catalogEntry("nope_total"), { message: 'Metric "nope_total" is not in the catalog' });
  });

  it("catalog arrays are frozen", () => {
    assert.ok(Object.isFrozen(catalog));
    assert.ok(Object.isFrozen(kafkaCatalog));
    assert.ok(Object.isFrozen(millisecondBuckets));
  });
});

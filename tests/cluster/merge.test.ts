// The runtime-neutral half of cluster mode, on every runtime: snapshots rendered as the registry
// renders itself, merged by metric type and aggregator, and carried as JSON in bounded parts.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "../../mod.ts";
import type { MetricSnapshot } from "../../src/exposition/snapshot.ts";
import { renderSnapshots, streamSnapshots } from "../../src/exposition/snapshot_stream.ts";
import {
  type AggregatedSnapshot,
  type CompactSnapshot,
  expandSnapshot,
  mergeSnapshots,
} from "../../src/exposition/snapshot_merge.ts";
import { fromWire, toWire } from "../../src/exposition/snapshot_wire.ts";
import { ESCAPING_SCHEMES } from "../../src/exposition/escaping.ts";

/** A registry with every shape the writers distinguish, in UTF-8 names. */
function everyShape(): Registry {
  const registry = new Registry({ selfMetrics: false, names: "utf8" });
  const jobs = registry.counter({ name: "jobs_total", help: 'Jobs "done"\\ here\nand there', labelNames: ["kind"] });
  jobs.inc({ kind: 'a"b\\c\nd' }, 3);
  jobs.inc({ kind: "é" }, 0.5);
  registry.counter({ name: "bytes_sent", help: "", unit: "sent" }).inc(7);
  registry.gauge({ name: "http.server.active", help: "Active", labelNames: ["http.route", "code"] })
    .set({ "http.route": "/a", code: "200" }, -2);
  registry.gauge({ name: "limit", help: "Limit" }).set(Infinity);
  const temperature = registry.histogram({
    name: "temperature_celsius",
    help: "T",
    buckets: [-10, 0, 10],
    unit: "celsius",
  });
  temperature.observe(-5);
  temperature.observe(20);
  registry.histogram({ name: "latency_seconds", help: "Latency", buckets: [0.25, 1] }).observe(0.5);
  registry.histogram({ name: "native_only_seconds", help: "Native", native: {} }).observe(0.3);
  const sizes = registry.summary({ name: "payload_bytes", help: "Sizes", quantiles: [0.5, 0.99], labelNames: ["q"] });
  sizes.observe({ q: "x" }, 100);
  sizes.observe({ q: "x" }, 300);
  registry.summary({ name: "empty_bytes", help: "Empty" });
  return registry;
}

function snapshot(build: (registry: Registry) => void): MetricSnapshot[] {
  const registry = new Registry({ selfMetrics: false });
  build(registry);
  return registry.collect();
}

describe("snapshot writers", () => {
  it("renderSnapshots() writes what Registry.render() writes, in both text formats and every escaping", () => {
    const registry = everyShape();
    const metrics = registry.collect();
    for (const format of ["prometheus", "openmetrics"] as const) {
      for (const escaping of ESCAPING_SCHEMES) {
        assert.equal(
          renderSnapshots(metrics, format, { escaping }),
          registry.render(format, { escaping }),
          `${format} ${escaping}`,
        );
      }
    }
  });

  it("streamSnapshots() streams protobuf byte for byte as Registry.render('protobuf'), native histograms included", async () => {
    const registry = everyShape();
    for (const escaping of ESCAPING_SCHEMES) {
      const streamed = new Uint8Array(
        await new Response(streamSnapshots(registry.collect(), "protobuf", { escaping })).arrayBuffer(),
      );
      assert.deepEqual(streamed, registry.render("protobuf", { escaping }), escaping);
    }
  });

  it("streamSnapshots() writes a metric whose series have different label names as one family per set of names", async () => {
    const merged = mergeSnapshots([
      [{
        name: "up",
        help: "Up",
        type: "gauge",
        unit: "",
        labelNames: [],
        series: [{ labels: { pid: "1" }, value: 1, count: 0, sum: 0, buckets: [], quantiles: [] }],
      }],
      [{
        name: "up",
        help: "Up",
        type: "gauge",
        unit: "",
        labelNames: [],
        series: [{ labels: {}, value: 1, count: 0, sum: 0, buckets: [], quantiles: [] }],
      }],
    ]);
    const text = await new Response(streamSnapshots(merged, "prometheus")).text();
    assert.equal(text, '# HELP up Up\n# TYPE up gauge\nup{pid="1"} 1\nup 1\n');
    const bytes = new Uint8Array(await new Response(streamSnapshots(merged, "protobuf")).arrayBuffer());
    // Two length-delimited MetricFamily messages.
    assert.equal(bytes[0]! + 1 < bytes.length, true);
    assert.equal(bytes[bytes[0]! + 1]! + bytes[0]! + 2, bytes.length);
  });
});

describe("mergeSnapshots()", () => {
  it("mergeSnapshots() adds counters and histograms by label set and keeps the first source's help", () => {
    const a = snapshot((r) => {
      r.counter({ name: "jobs_total", help: "Jobs", labelNames: ["kind"] }).inc({ kind: "a" }, 2);
      r.histogram({ name: "latency_seconds", help: "Latency", buckets: [1] }).observe(0.5);
    });
    const b = snapshot((r) => {
      const jobs = r.counter({ name: "jobs_total", help: "Jobs, newer help", labelNames: ["kind"] });
      jobs.inc({ kind: "a" }, 3);
      jobs.inc({ kind: "b" }, 1);
      r.histogram({ name: "latency_seconds", help: "Latency", buckets: [1] }).observe(4);
    });
    const merged = mergeSnapshots([a, b]);
    const jobs = merged.find((m) => m.name === "jobs_total")!;
    assert.equal(jobs.help, "Jobs");
    assert.deepEqual(jobs.series.map((s) => [s.labels.kind, s.value]), [["a", 5], ["b", 1]]);
    const latency = merged.find((m) => m.name === "latency_seconds")!.series[0]!;
    assert.deepEqual(latency.buckets, [{ le: 1, count: 1 }, { le: Infinity, count: 2 }]);
    assert.equal(latency.count, 2);
    assert.equal(latency.sum, 4.5);
  });

  it("mergeSnapshots() adds native buckets recorded at different schemas at the lowest of them", () => {
    const values = [0.3, 1.7, 5, 100];
    const fine = snapshot((r) => {
      const h = r.histogram({ name: "x_seconds", help: "X", native: { bucketFactor: 1.1 } });
      for (const v of values) h.observe(v);
    });
    const coarse = snapshot((r) => {
      const h = r.histogram({ name: "x_seconds", help: "X", native: { bucketFactor: 2 } });
      for (const v of values) h.observe(v);
    });
    const [merged] = mergeSnapshots([fine, coarse]);
    const native = merged!.series[0]!.native!;
    // What one registry at schema 0 would hold for every value twice.
    const expected = snapshot((r) => {
      const h = r.histogram({ name: "x_seconds", help: "X", native: { bucketFactor: 2 } });
      for (const v of [...values, ...values]) h.observe(v);
    })[0]!.series[0]!.native!;
    assert.equal(native.schema, 0);
    assert.deepEqual(native.positive, expected.positive);
    assert.equal(merged!.series[0]!.count, 8);
  });

  it("mergeSnapshots() leaves out a source's metric whose definition differs and tells onConflict why", () => {
    const a = snapshot((r) => r.histogram({ name: "latency_seconds", help: "L", buckets: [1] }).observe(0.5));
    const b = snapshot((r) => r.histogram({ name: "latency_seconds", help: "L", buckets: [2] }).observe(0.5));
    const c = snapshot((r) => r.gauge({ name: "latency_seconds", help: "L" }).set(1));
    const told: string[] = [];
    const merged = mergeSnapshots([a, b, c], {
      onConflict: (metric, source, reason) => told.push(`${metric} ${source}: ${reason}`),
    });
    assert.equal(merged[0]!.series[0]!.count, 1);
    assert.deepEqual(told, [
      "latency_seconds 1: its buckets are [2, Infinity] here and [1, Infinity] before",
      "latency_seconds 2: it is a gauge here and a histogram before",
    ]);
  });

  it("mergeSnapshots() leaves out a metric whose samples would clash with another's", () => {
    const a = snapshot((r) => r.gauge({ name: "jobs", help: "J" }).set(1));
    const b = snapshot((r) => r.counter({ name: "jobs_total", help: "J" }).inc());
    const told: string[] = [];
    const merged = mergeSnapshots([a, b], { onConflict: (metric) => told.push(metric) });
    assert.deepEqual(merged.map((m) => m.name), ["jobs"]);
    assert.deepEqual(told, ["jobs_total"]);
  });

  it("mergeSnapshots() merges gauges by each aggregator over the sources that have the series", () => {
    const sources = [3, 1, 2].map((n) => snapshot((r) => r.gauge({ name: "depth", help: "D" }).set(n)));
    const value = (aggregator: "sum" | "first" | "min" | "max" | "average") =>
      mergeSnapshots(sources, { aggregators: { depth: aggregator } })[0]!.series[0]!.value;
    assert.deepEqual(
      (["sum", "first", "min", "max", "average"] as const).map(value),
      [6, 3, 1, 3, 2],
    );
    assert.deepEqual(mergeSnapshots(sources, { aggregators: { depth: "omit" } }), []);
    // A worker's own choice, unless the primary's option says otherwise.
    const hinted: AggregatedSnapshot[][] = sources.map((s) => s.map((m) => ({ ...m, aggregator: "max" })));
    assert.equal(mergeSnapshots(hinted)[0]!.series[0]!.value, 3);
    assert.equal(mergeSnapshots(hinted, { aggregators: { depth: "min" } })[0]!.series[0]!.value, 1);
  });

  it("mergeSnapshots() omits prom-client's process_start_time_seconds and takes nodejs_version_info's first, as prom-client", () => {
    const sources = [1, 2].map((n) =>
      snapshot((r) => {
        r.gauge({ name: "process_start_time_seconds", help: "Start" }).set(n);
        r.gauge({ name: "nodejs_version_info", help: "Version", labelNames: ["version"] }).set({ version: "v20" }, 1);
      })
    );
    const merged = mergeSnapshots(sources);
    assert.deepEqual(merged.map((m) => [m.name, m.series[0]!.value]), [["nodejs_version_info", 1]]);
  });

  it("mergeSnapshots() shows a summary's quantiles only by min, max, average or first, ignoring empty windows", () => {
    const sources = [10, 30].map((n) =>
      snapshot((r) => {
        const s = r.summary({ name: "size_bytes", help: "S", quantiles: [0.5] });
        s.observe(n);
      })
    );
    const empty = snapshot((r) => r.summary({ name: "size_bytes", help: "S", quantiles: [0.5] }).labels({}));
    const merged = (aggregator?: "max" | "min" | "average") =>
      mergeSnapshots([...sources, empty], aggregator ? { aggregators: { size_bytes: aggregator } } : {})[0]!.series[0]!;
    assert.deepEqual(merged().quantiles, []);
    assert.equal(merged().count, 2);
    assert.equal(merged().sum, 40);
    assert.ok(Math.abs(merged("max").quantiles[0]!.value - 30) < 0.3);
    assert.ok(Math.abs(merged("min").quantiles[0]!.value - 10) < 0.1);
    assert.ok(Math.abs(merged("average").quantiles[0]!.value - 20) < 0.2);
  });

  it("mergeSnapshots() with cumulative keeps only what grows: no gauges, no quantiles, and omit not applied", () => {
    const source = snapshot((r) => {
      r.gauge({ name: "depth", help: "D" }).set(4);
      r.counter({ name: "jobs_total", help: "J" }).inc(2);
      r.summary({ name: "size_bytes", help: "S", quantiles: [0.5] }).observe(8);
    }).map((m): AggregatedSnapshot => m.name === "jobs_total" ? { ...m, aggregator: "omit" } : m);
    const kept = mergeSnapshots([source, source], { cumulative: true });
    assert.deepEqual(kept.map((m) => m.name), ["jobs_total", "size_bytes"]);
    assert.equal(kept[0]!.series[0]!.value, 4);
    assert.equal(kept[0]!.aggregator, "omit");
    assert.deepEqual(kept[1]!.series[0]!.quantiles, []);
    assert.equal(kept[1]!.series[0]!.sum, 16);
    // Shown later with the live workers, where omit applies again.
    assert.deepEqual(mergeSnapshots([kept]).map((m) => m.name), ["size_bytes"]);
  });
});

describe("snapshots on the wire", () => {
  it("toWire() cuts a large snapshot into parts of bounded size that fromWire() reads back whole, Infinity and NaN included", () => {
    const metrics = snapshot((r) => {
      const g = r.gauge({ name: "depth", help: "D", labelNames: ["i"] });
      for (let i = 0; i < 9000; i++) g.set({ i: String(i) }, i === 0 ? NaN : i === 1 ? -Infinity : i);
      r.histogram({ name: "x_seconds", help: "X", native: {}, buckets: [1] }).observe(0.5);
      r.summary({ name: "empty_bytes", help: "E" }).labels({});
    });
    const parts = toWire(metrics, 4096);
    assert.ok(parts.length >= 3, `${parts.length} parts`);
    for (const part of parts) {
      const values = part.reduce((n, m) => n + 1 + m.d.length / (m.k.length + 1), 0);
      assert.ok(values <= 4096 + 20, `${values} values in a part`);
    }
    const back: CompactSnapshot[] = [];
    for (const part of parts) {
      for (const metric of fromWire(JSON.parse(JSON.stringify(part)))) {
        const previous = back[back.length - 1];
        if (previous?.name === metric.name) previous.blocks.push(...metric.blocks);
        else back.push(metric);
      }
    }
    assert.deepEqual(back.map(expandSnapshot), metrics.map((m) => ({ ...m, labelNames: [...m.labelNames] })));
  });

  it("toWire() writes a metric's label names once, and each series as its label values and numbers", () => {
    const metrics = snapshot((r) => {
      const jobs = r.counter({ name: "jobs_total", help: "Jobs", labelNames: ["kind", "code"] });
      jobs.inc({ kind: "a", code: "200" }, 2);
      jobs.inc({ kind: "b", code: "500" }, 0.25);
      r.gauge({ name: "limit", help: "L" }).set(-Infinity);
      r.histogram({ name: "x_seconds", help: "X", buckets: [1] }).observe(0.5);
    });
    const [part] = toWire(metrics);
    assert.deepEqual(part!.map(({ n, k, b, d }) => ({ n, k, b, d })), [
      { n: "jobs_total", k: ["kind", "code"], b: undefined, d: ["a", "200", 2, "b", "500", 0.25] },
      { n: "limit", k: [], b: undefined, d: ["-Inf"] },
      { n: "x_seconds", k: [], b: [1, "+Inf"], d: [1, 0.5, 1, 1] },
    ]);
  });

  it("fromWire() refuses a part that is not one with a TypeError", () => {
    const gauge = { n: "a", h: "", t: "gauge", u: "", l: ["x"], k: ["x"] };
    assert.throws(() => fromWire({}), TypeError);
    assert.throws(() => fromWire([{ ...gauge, d: [1, 1] }]), /label value that is not a string/);
    assert.throws(() => fromWire([{ ...gauge, d: ["y", "Infinity"] }]), TypeError);
    assert.throws(() => fromWire([{ ...gauge, d: ["y", 1, "z"] }]), /series of the wrong length/);
    assert.throws(() => fromWire([{ ...gauge, k: [1], d: [] }]), /without label names or series/);
    assert.throws(
      () => fromWire([{ n: "a", h: "", t: "histogram", u: "", l: [], k: [], d: [1, 1] }]),
      TypeError,
    );
  });
});

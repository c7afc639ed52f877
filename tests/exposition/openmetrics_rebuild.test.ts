import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Registry } from "../../mod.ts";

// The OpenMetrics project's valid cases, rebuilt through the registry and rendered again:
// the strict parser must read the same families, samples and exemplar labels.
const casesRoot = process.env.OPENMETRICS_TESTDATA ??
  fileURLToPath(new URL("../../../shared/openmetrics-testdata/parsers/", import.meta.url));
const dump = fileURLToPath(new URL("../support/om_dump.py", import.meta.url));

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number | string;
  timestamp: string | null;
  exemplar: { labels: Record<string, string>; value: number | string } | null;
}
interface Family {
  name: string;
  type: string;
  unit: string;
  help: string;
  samples: Sample[];
}

function parse(text: string): Family[] {
  const run = spawnSync("/usr/bin/python3", [dump], { input: text, encoding: "utf8" });
  if (run.status !== 0) throw new Error(`parser rejected: ${run.stderr}\n${text}`);
  return JSON.parse(run.stdout);
}
const num = (
  v: number | string,
): number => (v === "NaN" ? NaN : v === "+Inf" ? Infinity : v === "-Inf" ? -Infinity : Number(v));
const rebuildable = (f: Family) =>
  ["counter", "gauge", "histogram"].includes(f.type) &&
  f.samples.every((s) => s.timestamp === null && !s.name.endsWith("_created") && !s.name.endsWith("_gsum")) &&
  (f.type !== "histogram" || f.samples.every((s) => s.exemplar === null));

function rebuild(families: Family[]): Registry {
  const registry = new Registry({ selfMetrics: false });
  for (const f of families) {
    const labelNames = [...new Set(f.samples.flatMap((s) => Object.keys(s.labels)).filter((l) => l !== "le"))];
    const unit = f.unit;
    if (f.type === "counter") {
      const c = registry.counter({ name: f.name + "_total", help: f.help, labelNames, unit });
      for (const s of f.samples) c.labels(s.labels).inc(num(s.value), s.exemplar?.labels);
    } else if (f.type === "gauge") {
      const g = registry.gauge({ name: f.name, help: f.help, labelNames, unit });
      for (const s of f.samples) g.labels(s.labels).set(num(s.value));
    } else {
      const buckets = f.samples.filter((s) => s.name.endsWith("_bucket"));
      const bounds = [...new Set(buckets.map((s) => num(s.labels.le!)))].filter((b) => b !== Infinity);
      const h = registry.histogram({ name: f.name, help: f.help, labelNames, unit, buckets: bounds });
      const bySeries = new Map<string, Sample[]>();
      for (const s of buckets) {
        const { le: _, ...rest } = s.labels;
        const key = JSON.stringify(rest);
        bySeries.set(key, [...(bySeries.get(key) ?? []), s]);
      }
      for (const [key, list] of bySeries) {
        const series = h.labels(JSON.parse(key));
        let before = 0;
        for (const s of list) {
          const le = num(s.labels.le!);
          const count = num(s.value) - before;
          // An observation equal to the bound lands in that bucket (le is inclusive).
          for (let i = 0; i < count; i++) series.observe(le === Infinity ? (bounds.at(-1) ?? 0) + 1 : le);
          before = num(s.value);
        }
      }
    }
  }
  return registry;
}

describe("OpenMetrics valid cases rebuilt", () => {
  const cases = readdirSync(casesRoot).filter((name) => {
    const spec = JSON.parse(readFileSync(`${casesRoot}/${name}/test.json`, "utf8"));
    return spec.shouldParse;
  });

  it("the project's valid cases that use counters, gauges and histograms render back to the same families", () => {
    let rebuilt = 0;
    for (const name of cases) {
      const original = parse(readFileSync(`${casesRoot}/${name}/metrics`, "utf8"));
      if (original.length === 0 || !original.every(rebuildable)) continue;
      rebuilt++;
      const again = parse(rebuild(original).render("openmetrics"));
      const byName = new Map(again.map((f) => [f.name, f]));
      for (const f of original) {
        const g = byName.get(f.name);
        assert.ok(g, `${name}: family ${f.name} missing`);
        assert.equal(g.type, f.type, `${name}: type of ${f.name}`);
        assert.equal(g.unit, f.unit, `${name}: unit of ${f.name}`);
        assert.equal(g.help, f.help, `${name}: help of ${f.name}`);
        for (const s of f.samples) {
          if (s.name.endsWith("_sum") || s.name.endsWith("_count")) continue;
          // le is compared as a number: "1e-11" and "0.00000000001" are the same bound.
          const key = (l: Record<string, string>) => JSON.stringify({ ...l, ...(l.le ? { le: num(l.le) } : {}) });
          const twin: Sample | undefined = g.samples.find((t) => t.name === s.name && key(t.labels) === key(s.labels));
          assert.ok(twin, `${name}: sample ${s.name}${JSON.stringify(s.labels)} missing`);
          assert.ok(
            Object.is(num(twin.value), num(s.value)) || num(twin.value) === num(s.value),
            `${name}: ${s.name} ${twin.value} != ${s.value}`,
          );
          assert.deepEqual(twin.exemplar?.labels, s.exemplar?.labels, `${name}: exemplar of ${s.name}`);
        }
      }
    }
    console.log(`# rebuilt ${rebuilt} of ${cases.length} valid cases`);
    assert.ok(rebuilt >= 15, `only ${rebuilt} cases rebuilt`);
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { Registry } from "../../mod.ts";
import { openMetricsCheck } from "../_openmetrics_judge.ts";

const casesDir = fileURLToPath(new URL("../../../shared/openmetrics-testdata/parsers/", import.meta.url));
const casesRoot = process.env.OPENMETRICS_TESTDATA ?? casesDir;

describe("OpenMetrics conformance", () => {
  it("the judge classifies all 211 OpenMetrics parser cases as the project does", () => {
    const cases = readdirSync(casesRoot);
    assert.equal(cases.length, 211);
    const wrong: string[] = [];
    for (const name of cases) {
      const spec = JSON.parse(readFileSync(`${casesRoot}/${name}/test.json`, "utf8"));
      const text = readFileSync(`${casesRoot}/${name}/${spec.file}`, "utf8");
      if (openMetricsCheck(text).ok !== spec.shouldParse) wrong.push(name);
    }
    assert.deepEqual(wrong, []);
  });

  it("Registry.render('openmetrics') is accepted by the judge for arbitrary metrics, values and exemplars", () => {
    const texts: string[] = [];
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: "grapheme", maxLength: 8 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 8 }),
        fc.string({ unit: "grapheme", maxLength: 20 }),
        (values, observations, help) => {
          const registry = new Registry();
          const c = registry.counter({ name: "c_total", help, labelNames: ["v"] as const });
          const g = registry.gauge({ name: "g_bytes", help, unit: "bytes", labelNames: ["v"] as const });
          const h = registry.histogram({
            name: "h_seconds",
            help,
            unit: "seconds",
            labelNames: ["v"] as const,
            buckets: [-1, 0, 1, 100],
          });
          const p = registry.histogram({ name: "p", help, buckets: [1, 100] });
          const s = registry.summary({ name: "s", help, labelNames: ["v"] as const });
          for (const v of values) {
            for (const o of observations) {
              c.labels({ v }).inc(Math.abs(o), { trace_id: v.slice(0, 30) });
              g.set({ v }, o);
              h.labels({ v }).observe(o, { span_id: v.slice(0, 30) });
              p.observe(Math.abs(o), { x: "y" });
              s.observe({ v }, o);
            }
          }
          texts.push(registry.render("openmetrics"));
        },
      ),
      { numRuns: 20 },
    );
    for (const text of texts) {
      const result = openMetricsCheck(text);
      assert.ok(result.ok, `judge rejected: ${result.output}\n---\n${text}`);
    }
  });
});

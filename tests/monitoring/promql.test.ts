import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { catalog, standardProcessCatalog } from "../../src/catalog/catalog.ts";
import { SELF_METRICS } from "../../src/registry.ts";
import { allExpressions, checkExpressions, familyName, metricNames, substituteVariables } from "./_monitoring.ts";

// Names an expression may read besides the catalog: the registry's self-metrics and
// Prometheus's own `up` series.
const known = new Set<string>([
  ...catalog.map((m) => m.name),
  ...standardProcessCatalog.map((m) => m.name),
  ...Object.values(SELF_METRICS),
  "up",
]);
const histograms = new Set(
  [...catalog, ...standardProcessCatalog].filter((m) => m.type === "histogram").map((m) => m.name),
);

describe("monitoring PromQL", () => {
  it("metricNames() finds selected metrics and skips functions, labels, keywords and durations", () => {
    const names = metricNames(
      'histogram_quantile(0.95, sum by (le, topic) (rate(kafka_produce_latency_ms_bucket{topic="a b", le!="1e3"}[5m] offset 1h)))' +
        " > 1.5 * on (topic) group_left (x) kafka_consumer_lag and bool 2e-3 unless up or vector(1)",
    );
    assert.deepEqual(names.sort(), ["kafka_consumer_lag", "kafka_produce_latency_ms_bucket", "up"]);
  });

  it("substituteVariables() turns Grafana variables into valid PromQL", () => {
    assert.equal(
      substituteVariables('rate(x{instance=~"$instance"}[$__rate_interval]) + increase(y[${__range}])'),
      'rate(x{instance=~".*"}[1m]) + increase(y[1h])',
    );
  });

  it("every dashboard, alert and runbook expression parses with promtool", { timeout: 60_000 }, () => {
    const expressions = allExpressions();
    assert.ok(expressions.length > 100, `only ${expressions.length} expressions found`);
    const result = checkExpressions(expressions);
    assert.equal(result.status, 0, result.output);
  });

  it("promtool rejects a broken expression, so the parse check can fail", () => {
    const result = checkExpressions([{ source: "test", expr: "sum(rate(stream_processor_errors_total[5m])" }]);
    assert.notEqual(result.status, 0);
  });

  it("every metric an expression reads is in the catalog, a standard process metric or a self-metric", () => {
    const unknown: string[] = [];
    const used = new Set<string>();
    for (const { source, expr } of allExpressions()) {
      for (const name of metricNames(expr)) {
        const family = familyName(name, histograms);
        used.add(family);
        if (!known.has(family)) unknown.push(`${source}: ${name}`);
      }
    }
    assert.deepEqual(unknown, []);
    // The dashboards and alerts cover the whole catalog.
    assert.deepEqual(catalog.map((m) => m.name).filter((n) => !used.has(n)), []);
  });
});

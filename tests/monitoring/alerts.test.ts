import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { alertRules, alertsFile, alertTestsFile, promtool, readYaml, root } from "./_monitoring.ts";

interface AlertTest {
  name: string;
  alert_rule_test: { alertname: string; exp_alerts: unknown[] }[];
}

describe("monitoring/prometheus/alerts.yaml", () => {
  it("passes promtool check rules", { timeout: 60_000 }, () => {
    const result = promtool("check", "rules", alertsFile);
    assert.equal(result.status, 0, result.output);
    assert.match(result.output, /SUCCESS: 15 rules found/);
  });

  it("passes its promtool unit tests (alerts.test.yaml)", { timeout: 60_000 }, () => {
    const result = promtool("test", "rules", alertTestsFile);
    assert.equal(result.status, 0, result.output);
  });

  it("has the design's 5 critical and 10 warning alerts with unique names", () => {
    const rules = alertRules();
    assert.equal(rules.filter((r) => r.labels.severity === "critical").length, 5);
    assert.equal(rules.filter((r) => r.labels.severity === "warning").length, 10);
    assert.equal(rules.length, 15);
    assert.equal(new Set(rules.map((r) => r.alert)).size, 15);
  });

  it("uses the design's thresholds", () => {
    const expr = (name: string): string =>
      alertRules().find((r) => r.alert === name)?.expr.replaceAll(/\s+/g, " ") ?? "";
    assert.match(expr("StreamProcessorHighErrorRate"), /> 10$/);
    assert.match(expr("StreamProcessorLatencySLOBreach"), /histogram_quantile\(0\.95,.*> 100$/);
    assert.match(expr("KafkaConsumerLagCritical"), /> 100000$/);
    assert.match(expr("MetricsCardinalityCritical"), /atomic_metrics_series\) > 9500/);
    assert.match(expr("ErrorBudgetBurnRateFast"), /14\.4 \* 0\.001/);
    assert.match(expr("StreamProcessorErrorRateSpike"), /> 0\.01$/);
    assert.match(expr("KafkaConsumerLagHigh"), /> 10000$/);
    assert.match(expr("StateCacheHitRateLow"), /< 0\.5$/);
    assert.match(expr("MetricsCardinalityHigh"), /> 8000$/);
    assert.match(expr("StreamProcessorLowThroughput"), /< 100$/);
    assert.match(expr("ProcessMemoryHigh"), /> 450 \* 1024 \* 1024$/);
    assert.match(expr("ErrorBudgetBurnRateSlow"), /6 \* 0\.001/);
    assert.match(expr("ErrorBudgetLow"), /< 0\.1$/);
  });

  it("gives every alert a severity, summary, description and a runbook_url to a file in the repo", () => {
    for (const rule of alertRules()) {
      assert.ok(["critical", "warning"].includes(rule.labels.severity ?? ""), `${rule.alert} severity`);
      assert.ok((rule.annotations.summary ?? "").length > 10, `${rule.alert} summary`);
      assert.ok((rule.annotations.description ?? "").length > 20, `${rule.alert} description`);
      const url = rule.annotations.runbook_url ?? "";
      assert.match(url, /^monitoring\/runbooks\/[a-z-]+\.md$/, `${rule.alert} runbook_url`);
      assert.ok(existsSync(join(root, url)), `${rule.alert}: ${url} does not exist`);
    }
  });

  it("unit-tests every alert with a case that fires and a case that stays silent", () => {
    const doc = readYaml(alertTestsFile) as { tests: AlertTest[] };
    for (const rule of alertRules()) {
      const cases = doc.tests.flatMap((t) => t.alert_rule_test).filter((c) => c.alertname === rule.alert);
      assert.ok(cases.some((c) => c.exp_alerts.length > 0), `${rule.alert} has no firing case`);
      assert.ok(cases.some((c) => c.exp_alerts.length === 0), `${rule.alert} has no silent case`);
    }
  });
});

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { alertRules, markdownQueries, root, runbooksDir } from "./_monitoring.ts";

const required = ["high-error-rate", "consumer-lag", "cache-performance", "latency-slo-breach", "cardinality-limit"];
const sections = ["Symptoms", "Impact", "Diagnosis", "Resolution", "Escalation"];

describe("monitoring/runbooks", () => {
  it("include the runbooks the issue asks for", () => {
    for (const name of required) assert.ok(existsSync(join(runbooksDir, `${name}.md`)), `${name}.md is missing`);
  });

  it("every runbook has symptoms, impact, diagnosis queries, resolution and escalation", () => {
    for (const file of readdirSync(runbooksDir)) {
      const text = readFileSync(join(runbooksDir, file), "utf8");
      for (const section of sections) {
        assert.match(text, new RegExp(`^## ${section}$`, "m"), `${file}: no "## ${section}"`);
      }
      assert.ok(markdownQueries(text).length >= 3, `${file}: fewer than 3 diagnosis queries`);
    }
  });

  it("every runbook is linked from an alert and names the alerts that link it", () => {
    const linked = new Map<string, string[]>();
    for (const rule of alertRules()) {
      const file = rule.annotations.runbook_url!.replace("monitoring/runbooks/", "");
      linked.set(file, [...(linked.get(file) ?? []), rule.alert]);
    }
    for (const file of readdirSync(runbooksDir)) {
      const alerts = linked.get(file);
      assert.ok(alerts !== undefined, `${file} is linked from no alert`);
      const text = readFileSync(join(runbooksDir, file), "utf8");
      for (const alert of alerts) assert.ok(text.includes(`**${alert}**`), `${file} does not name ${alert}`);
    }
  });

  it("relative links between runbooks point at existing files", () => {
    for (const file of readdirSync(runbooksDir)) {
      const text = readFileSync(join(runbooksDir, file), "utf8");
      for (const [, target] of text.matchAll(/\]\(([^)#:]+\.md)\)/g)) {
        assert.ok(existsSync(join(runbooksDir, target!)), `${file} links to missing ${target}`);
      }
    }
    assert.ok(existsSync(join(root, "monitoring", "runbooks")));
  });
});

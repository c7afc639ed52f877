import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { describe, it } from "node:test";
import { allPanels, dashboardFiles, dashboardsDir, readDashboard } from "./_monitoring.ts";

describe("monitoring/grafana/dashboards", () => {
  it("holds exactly the design's four dashboards", () => {
    assert.deepEqual(readdirSync(dashboardsDir).sort(), [...dashboardFiles].sort());
  });

  it("are valid JSON with unique uids and titles", () => {
    const dashboards = dashboardFiles.map(readDashboard);
    assert.equal(new Set(dashboards.map((d) => d.uid)).size, dashboardFiles.length);
    assert.equal(new Set(dashboards.map((d) => d.title)).size, dashboardFiles.length);
  });

  for (const file of dashboardFiles) {
    it(`${file} has unique panel ids`, () => {
      const ids = allPanels(readDashboard(file)).map((p) => p.id);
      assert.ok(ids.every((id) => Number.isInteger(id) && id > 0), `ids: ${ids.join(",")}`);
      assert.equal(new Set(ids).size, ids.length, `duplicate ids: ${ids.join(",")}`);
    });

    it(`${file} uses core panel types laid out inside the 24-column grid`, () => {
      for (const panel of allPanels(readDashboard(file))) {
        assert.ok(
          ["row", "timeseries", "stat", "gauge", "heatmap"].includes(panel.type),
          `panel ${panel.id}: ${panel.type}`,
        );
        const { x, w, h } = panel.gridPos;
        assert.ok(
          x >= 0 && w > 0 && h > 0 && x + w <= 24,
          `panel ${panel.id} gridPos ${JSON.stringify(panel.gridPos)}`,
        );
      }
    });

    it(`${file} has a Prometheus datasource variable that every panel and query uses`, () => {
      const dashboard = readDashboard(file);
      const variable = dashboard.templating.list.find((v) => v.name === "datasource");
      assert.equal(variable?.type, "datasource");
      assert.equal(variable?.query, "prometheus");
      for (const panel of allPanels(dashboard).filter((p) => p.type !== "row")) {
        assert.equal(panel.datasource?.uid, "${datasource}", `panel ${panel.id}`);
        assert.ok((panel.targets ?? []).length > 0, `panel ${panel.id} "${panel.title}" has no query`);
        for (const target of panel.targets ?? []) {
          assert.equal(target.datasource?.uid, "${datasource}", `panel ${panel.id} target ${target.refId}`);
          assert.ok((target.expr ?? "").length > 0, `panel ${panel.id} target ${target.refId} has no expr`);
        }
      }
    });
  }

  it("slo-dashboard.json shows the 99.9% availability and 100 ms p95 targets and the error-budget burn", () => {
    const text = JSON.stringify(readDashboard("slo-dashboard.json"));
    assert.match(text, /"value":0\.999/);
    assert.match(text, /"value":100\}/);
    assert.match(text, /histogram_quantile\(0\.95/);
    assert.match(text, /\/ 0\.001/);
    assert.match(text, /"value":14\.4/);
  });
});

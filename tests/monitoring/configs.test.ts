import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { monitoring, promtool, readYaml } from "./_monitoring.ts";

describe("monitoring configuration files", () => {
  it("prometheus.yml passes promtool check config and scrapes localhost:9090", () => {
    const file = join(monitoring, "prometheus", "prometheus.yml");
    const result = promtool("check", "config", file);
    assert.equal(result.status, 0, result.output);
    const config = readYaml(file) as {
      scrape_configs: { static_configs: { targets: string[] }[] }[];
      rule_files: string[];
    };
    assert.deepEqual(config.scrape_configs[0]?.static_configs[0]?.targets, ["localhost:9090"]);
    assert.deepEqual(config.rule_files, ["alerts.yaml"]);
  });

  it("Grafana provisioning declares a Prometheus datasource and a file dashboard provider", () => {
    const datasources = readYaml(join(monitoring, "grafana", "provisioning", "datasources", "prometheus.yaml")) as {
      apiVersion: number;
      datasources: { type: string; url: string }[];
    };
    assert.equal(datasources.apiVersion, 1);
    assert.equal(datasources.datasources[0]?.type, "prometheus");
    const dashboards = readYaml(join(monitoring, "grafana", "provisioning", "dashboards", "dashboards.yaml")) as {
      apiVersion: number;
      providers: { type: string; folder: string; options: { path: string } }[];
    };
    assert.equal(dashboards.apiVersion, 1);
    assert.equal(dashboards.providers[0]?.type, "file");
    assert.equal(dashboards.providers[0]?.folder, "Stream Processor");
    assert.equal(dashboards.providers[0]?.options.path, "/etc/grafana/dashboards");
  });

  it("otel-collector-config.yaml receives OTLP over gRPC (4317) and HTTP (4318) and wires only defined components", () => {
    const config = readYaml(join(monitoring, "otel-collector-config.yaml")) as {
      receivers: Record<string, { protocols: { grpc: { endpoint: string }; http: { endpoint: string } } }>;
      processors: Record<string, unknown>;
      exporters: Record<string, unknown>;
      service: { pipelines: Record<string, { receivers: string[]; processors?: string[]; exporters: string[] }> };
    };
    assert.equal(config.receivers.otlp?.protocols.grpc.endpoint, "0.0.0.0:4317");
    assert.equal(config.receivers.otlp?.protocols.http.endpoint, "0.0.0.0:4318");
    assert.deepEqual(Object.keys(config.service.pipelines).sort(), ["metrics", "traces"]);
    assert.ok("prometheus" in config.exporters);
    for (const [name, pipeline] of Object.entries(config.service.pipelines)) {
      for (const r of pipeline.receivers) assert.ok(r in config.receivers, `${name}: unknown receiver ${r}`);
      for (const p of pipeline.processors ?? []) assert.ok(p in config.processors, `${name}: unknown processor ${p}`);
      for (const e of pipeline.exporters) assert.ok(e in config.exporters, `${name}: unknown exporter ${e}`);
    }
  });
});

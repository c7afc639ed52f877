/**
 * A real Prometheus (Debian's /usr/bin/prometheus, or PROMETHEUS_BIN) for the
 * end-to-end and package tests: scrapes the given loopback targets every
 * second and answers PromQL over its HTTP API.
 * Node-only test support; not part of the package.
 *
 * @module
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, getText, type StartedProcess, startProcess } from "./process.ts";

const PROMETHEUS = process.env.PROMETHEUS_BIN ?? "/usr/bin/prometheus";

/** One scrape job: its name and the `host:port` it scrapes. */
export interface ScrapeJob {
  readonly job: string;
  readonly target: string;
  /** Keep the target's own `job` and `instance` labels (a Pushgateway's). */
  readonly honorLabels?: boolean;
}

/** One series of an instant query's answer. */
export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** A Prometheus started by {@link startPrometheus}; the caller stops `process.child` and removes `dataDirectory`. */
export interface PrometheusServer {
  /** `http://127.0.0.1:<port>` of its HTTP API. */
  readonly url: string;
  /** Holds prometheus.yml and the TSDB. */
  readonly dataDirectory: string;
  readonly process: StartedProcess;
  /** Runs an instant query and asserts that Prometheus answered "success". */
  query(promql: string): Promise<Sample[]>;
}

/** Starts Prometheus on a free loopback port with a fresh data directory, scraping `jobs` every second (it may not be ready yet). */
export async function startPrometheus(jobs: readonly ScrapeJob[]): Promise<PrometheusServer> {
  const dataDirectory = mkdtempSync(join(tmpdir(), "atomic-metrics-prometheus-"));
  const configFile = join(dataDirectory, "prometheus.yml");
  const scrapeConfigs = jobs.map(({ job, target, honorLabels }) =>
    [
      `  - job_name: ${job}`,
      ...(honorLabels === true ? ["    honor_labels: true"] : []),
      `    static_configs:`,
      `      - targets: ["${target}"]`,
    ].join("\n")
  );
  writeFileSync(
    configFile,
    ["global:", "  scrape_interval: 1s", "  scrape_timeout: 1s", "scrape_configs:", ...scrapeConfigs, ""].join("\n"),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const started = startProcess(PROMETHEUS, [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${join(dataDirectory, "data")}`,
    `--web.listen-address=127.0.0.1:${port}`,
    "--log.level=warn",
  ], dataDirectory);
  const query = async (promql: string): Promise<Sample[]> => {
    const response = await getText(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = JSON.parse(response.text) as { status: string; data: { resultType: string; result: Sample[] } };
    assert.equal(body.status, "success", `query ${promql}`);
    return body.data.result;
  };
  return { url, dataDirectory, process: started, query };
}

// End to end: pushToGateway() against a real Pushgateway (Debian's
// /usr/bin/prometheus-pushgateway 1.5, or PUSHGATEWAY_BIN) on a free loopback
// port without persistence, scraped every second by a real Prometheus with
// `honor_labels: true`; each test reads the result back through Prometheus'
// HTTP API (and the Pushgateway's own API where Prometheus cannot show it).
// Node only: node --import tsx --test tests/e2e/pushgateway.test.ts
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "../../src/registry.ts";
import { PushgatewayError, pushToGateway } from "../../src/push/pushgateway.ts";
import { freePort, getText, startProcess, stopProcess, waitFor } from "../support/process.ts";
import { type PrometheusServer, type Sample, startPrometheus } from "../support/prometheus.ts";

const PUSHGATEWAY = process.env.PUSHGATEWAY_BIN ?? "/usr/bin/prometheus-pushgateway";
const STARTUP_TIMEOUT_MS = 30_000;
const SCRAPE_TIMEOUT_MS = 15_000;

const children: ChildProcess[] = [];
const directories: string[] = [];
let gatewayUrl = "";
let prometheus: PrometheusServer | undefined;

function query(promql: string): Promise<Sample[]> {
  return prometheus!.query(promql);
}

/** The value of each series `promql` selects, keyed by the series' labels without __name__ and job. */
async function valuesOf(promql: string, key: string): Promise<Record<string, number>> {
  const values: Record<string, number> = {};
  for (const sample of await query(promql)) values[sample.metric[key] ?? ""] = Number(sample.value[1]);
  return values;
}

/** Waits until the series of `promql`, keyed by label `key`, are exactly `expected` in Prometheus. */
async function untilPrometheusHas(promql: string, key: string, expected: Record<string, number>): Promise<void> {
  let seen: Record<string, number> = {};
  await waitFor(
    `${promql} to be ${JSON.stringify(expected)}`,
    async () => {
      seen = await valuesOf(promql, key);
      return JSON.stringify(seen, Object.keys(seen).sort()) === JSON.stringify(expected, Object.keys(expected).sort());
    },
    SCRAPE_TIMEOUT_MS,
    () => `last seen: ${JSON.stringify(seen)}`,
  );
}

function gaugeRegistry(values: Readonly<Record<string, number>>, selfMetrics = false): Registry {
  const registry = new Registry({ selfMetrics });
  for (const [name, value] of Object.entries(values)) registry.gauge({ name, help: `${name} help.` }).set(value);
  return registry;
}

describe("pushToGateway() against a real Pushgateway scraped by a real Prometheus", () => {
  before(async () => {
    const directory = mkdtempSync(join(tmpdir(), "atomic-metrics-pushgateway-"));
    directories.push(directory);
    const port = await freePort();
    gatewayUrl = `http://127.0.0.1:${port}`;
    // An empty --persistence.file keeps the metrics in memory only (the Debian default is a file in /var/lib).
    const gateway = startProcess(PUSHGATEWAY, [
      `--web.listen-address=127.0.0.1:${port}`,
      "--persistence.file=",
      "--log.level=warn",
    ], directory);
    children.push(gateway.child);
    await waitFor(
      "the Pushgateway to be ready",
      async () => (await getText(`${gatewayUrl}/-/ready`)).status === 200,
      STARTUP_TIMEOUT_MS,
      gateway.log,
    );
    const server = await startPrometheus([{ job: "pushgateway", target: `127.0.0.1:${port}`, honorLabels: true }]);
    prometheus = server;
    children.push(server.process.child);
    directories.push(server.dataDirectory);
    await waitFor(
      "Prometheus to be ready",
      async () => (await getText(`${server.url}/-/ready`)).status === 200,
      STARTUP_TIMEOUT_MS,
      server.process.log,
    );
    await waitFor(
      "Prometheus to scrape the Pushgateway",
      async () => {
        const up = await query('up{job="pushgateway"} == 1');
        return up.length === 1;
      },
      SCRAPE_TIMEOUT_MS,
      server.process.log,
    );
  });

  after(async () => {
    await Promise.all(children.map(stopProcess));
    for (const directory of directories) rmSync(directory, { recursive: true, force: true });
  });

  it("pushToGateway() PUT replaces the group: a metric left out of the second push disappears from Prometheus", async () => {
    const first = gaugeRegistry({ e2e_put_records: 3, e2e_put_last_success_seconds: 100 });
    await pushToGateway({ url: gatewayUrl, job: "e2e_put", registry: first });
    await untilPrometheusHas('{job="e2e_put",__name__=~"e2e_put_.*"}', "__name__", {
      e2e_put_records: 3,
      e2e_put_last_success_seconds: 100,
    });

    await pushToGateway({ url: gatewayUrl, job: "e2e_put", registry: gaugeRegistry({ e2e_put_records: 5 }) });
    await untilPrometheusHas('{job="e2e_put",__name__=~"e2e_put_.*"}', "__name__", { e2e_put_records: 5 });
  });

  it("pushToGateway() POST replaces only the metrics of the names pushed: the group's others stay", async () => {
    await pushToGateway({
      url: gatewayUrl,
      job: "e2e_post",
      registry: gaugeRegistry({ e2e_post_a: 1, e2e_post_b: 2 }),
    });
    await untilPrometheusHas('{job="e2e_post",__name__=~"e2e_post_.*"}', "__name__", { e2e_post_a: 1, e2e_post_b: 2 });

    await pushToGateway({
      url: gatewayUrl,
      job: "e2e_post",
      registry: gaugeRegistry({ e2e_post_a: 10, e2e_post_c: 3 }),
      method: "POST",
    });
    await untilPrometheusHas('{job="e2e_post",__name__=~"e2e_post_.*"}', "__name__", {
      e2e_post_a: 10,
      e2e_post_b: 2,
      e2e_post_c: 3,
    });
  });

  it("pushToGateway() DELETE removes its group from Prometheus and leaves the job's other groups", async () => {
    // With the registries' self-metrics: the same atomic_metrics_* names in two groups are consistent.
    const one = gaugeRegistry({ e2e_delete_value: 1 }, true);
    const two = gaugeRegistry({ e2e_delete_value: 2 }, true);
    await pushToGateway({ url: gatewayUrl, job: "e2e_delete", groupings: { instance: "one" }, registry: one });
    await pushToGateway({ url: gatewayUrl, job: "e2e_delete", groupings: { instance: "two" }, registry: two });
    await untilPrometheusHas('e2e_delete_value{job="e2e_delete"}', "instance", { one: 1, two: 2 });
    assert.deepEqual(await valuesOf('atomic_metrics_series{job="e2e_delete"}', "instance"), { one: 1, two: 1 });

    await pushToGateway({ url: gatewayUrl, job: "e2e_delete", groupings: { instance: "one" }, method: "DELETE" });
    await untilPrometheusHas('e2e_delete_value{job="e2e_delete"}', "instance", { two: 2 });
    assert.deepEqual(await valuesOf('atomic_metrics_series{job="e2e_delete"}', "instance"), { two: 1 });
  });

  it("pushToGateway() grouping labels with / in the value, a job with /, . and .. arrive as those label values", async () => {
    const groupings = { path: "/var/tmp", up: "..", here: ".", name: "Προμηθεύς", query: "a?b#c%d", empty: "" };
    await pushToGateway({
      url: gatewayUrl,
      job: "e2e/grouped",
      groupings,
      registry: gaugeRegistry({ e2e_grouped: 7 }),
    });
    await untilPrometheusHas('e2e_grouped{job="e2e/grouped"}', "path", { "/var/tmp": 7 });
    const [sample] = await query('e2e_grouped{job="e2e/grouped"}');
    // Prometheus drops empty labels (and the Pushgateway's instance="" that keeps Prometheus' own out).
    assert.deepEqual(sample!.metric, {
      __name__: "e2e_grouped",
      job: "e2e/grouped",
      path: "/var/tmp",
      up: "..",
      here: ".",
      name: "Προμηθεύς",
      query: "a?b#c%d",
    });
    // The empty value reached the gateway as a label of the group.
    const groups = JSON.parse((await getText(`${gatewayUrl}/api/v1/metrics`)).text) as {
      data: { labels: Record<string, string> }[];
    };
    assert.deepEqual(groups.data.map((group) => group.labels).filter((labels) => labels.job === "e2e/grouped"), [
      { job: "e2e/grouped", ...groupings },
    ]);
  });

  it("pushToGateway() rejects with status 400 when the gateway refuses a metric whose type conflicts with another group's", async () => {
    const counter = new Registry({ selfMetrics: false });
    counter.counter({ name: "e2e_conflict_total", help: "A counter." }).inc(2);
    await pushToGateway({ url: gatewayUrl, job: "e2e_conflict_a", registry: counter });
    const gauge = gaugeRegistry({ e2e_conflict_total: 5 });
    await assert.rejects(
      pushToGateway({ url: gatewayUrl, job: "e2e_conflict_b", registry: gauge }),
      (error: unknown) => {
        assert.ok(error instanceof PushgatewayError, String(error));
        assert.equal(error.status, 400);
        assert.match(
          error.message,
          new RegExp(
            `^Pushgateway answered 400 Bad Request to PUT ${gatewayUrl}/metrics/job/e2e_conflict_b: ` +
              "pushed metrics are invalid or inconsistent with existing metrics: .*e2e_conflict_total",
          ),
        );
        return true;
      },
    );
    await untilPrometheusHas('e2e_conflict_total{job=~"e2e_conflict_.*"}', "job", { e2e_conflict_a: 2 });
  });
});

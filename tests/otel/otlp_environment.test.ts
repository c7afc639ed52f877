// The OTLP metrics push honours the standard OTEL_* variables exactly as
// setupTracing does (one resolution for both), options winning, and gives
// every push a stable service.instance.id.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { Registry } from "../../src/registry.ts";
import { pushMetrics, startMetricsPush } from "../../src/otel/otlp_metrics.ts";
import { resolveTracingOptions } from "../../src/otel/tracing_options.ts";
import type { OtlpMetricsRequest } from "../../src/otel/otlp_metrics_encoding.ts";
import { attributesOf, type ReceivedRequest, startOtlpReceiver } from "./_otlp_receiver.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function resourceOf(request: ReceivedRequest | undefined): Record<string, unknown> {
  const body = request?.body as OtlpMetricsRequest | undefined;
  return attributesOf(body?.resourceMetrics[0]?.resource.attributes as never);
}

describe("OTLP metrics push and the OTEL_* variables", () => {
  it("pushMetrics() posts to OTEL_EXPORTER_OTLP_ENDPOINT with /v1/metrics appended when no url is given", async () => {
    const receiver = await startOtlpReceiver();
    try {
      await pushMetrics(new Registry(), { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url("/otlp/") } });
      assert.deepEqual(receiver.requests.map((r) => r.path), ["/otlp/v1/metrics"]);
    } finally {
      await receiver.close();
    }
  });

  it("pushMetrics() takes OTEL_EXPORTER_OTLP_METRICS_ENDPOINT as is, over the generic one, and the url option over both", async () => {
    const receiver = await startOtlpReceiver();
    try {
      const env = {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url("/generic"),
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: receiver.url("/custom/metrics"),
      };
      await pushMetrics(new Registry(), { env });
      await pushMetrics(new Registry(), { env, url: receiver.url("/from-option") });
      assert.deepEqual(receiver.requests.map((r) => r.path), ["/custom/metrics", "/from-option"]);
    } finally {
      await receiver.close();
    }
  });

  it("pushMetrics() sends OTEL_EXPORTER_OTLP_HEADERS URL-decoded, the headers option winning", async () => {
    const receiver = await startOtlpReceiver();
    try {
      const env = { OTEL_EXPORTER_OTLP_HEADERS: "x-api-key=s%20ecret, Authorization=Bearer%20env" };
      const url = receiver.url("/v1/metrics");
      await pushMetrics(new Registry(), { env, url });
      await pushMetrics(new Registry(), { env, url, headers: { authorization: "Bearer option" } });
      const [first, second] = receiver.requests;
      assert.equal(first?.headers["x-api-key"], "s ecret");
      assert.equal(first?.headers["authorization"], "Bearer env");
      assert.equal(second?.headers["x-api-key"], "s ecret");
      assert.equal(second?.headers["authorization"], "Bearer option");
      assert.equal(second?.headers["content-type"], "application/json");
    } finally {
      await receiver.close();
    }
  });

  it("pushMetrics() takes resource attributes from OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, the resource option winning", async () => {
    const receiver = await startOtlpReceiver();
    try {
      const env = {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url(""),
        OTEL_RESOURCE_ATTRIBUTES: "service.name=from-attributes,deployment.environment=prod,team=a%2Cb",
        OTEL_SERVICE_NAME: "checkout",
      };
      await pushMetrics(new Registry(), { env });
      await pushMetrics(new Registry(), { env, resource: { "service.name": "option", team: "c" } });
      const [first, second] = receiver.requests.map(resourceOf);
      assert.equal(first?.["service.name"], "checkout", "OTEL_SERVICE_NAME wins over OTEL_RESOURCE_ATTRIBUTES");
      assert.equal(first?.["deployment.environment"], "prod");
      assert.equal(first?.["team"], "a,b");
      assert.equal(second?.["service.name"], "option");
      assert.equal(second?.["deployment.environment"], "prod");
      assert.equal(second?.["team"], "c");
    } finally {
      await receiver.close();
    }
  });

  it("every push of a process carries the same random service.instance.id, overridable by option or variable", async () => {
    const receiver = await startOtlpReceiver();
    try {
      const url = receiver.url("/v1/metrics");
      await pushMetrics(new Registry(), { url, env: {} });
      await pushMetrics(new Registry(), { url, env: {}, resource: { "service.name": "other" } });
      const push = startMetricsPush(new Registry(), { url, env: {}, intervalMs: 60_000 });
      await push.stop();
      await pushMetrics(new Registry(), { url, env: {}, resource: { "service.instance.id": "pod-7" } });
      await pushMetrics(new Registry(), { url, env: { OTEL_RESOURCE_ATTRIBUTES: "service.instance.id=pod-8" } });
      const ids = receiver.requests.map((r) => resourceOf(r)["service.instance.id"]);
      assert.match(String(ids[0]), UUID);
      assert.deepEqual(ids, [ids[0], ids[0], ids[0], "pod-7", "pod-8"]);
    } finally {
      await receiver.close();
    }
  });

  it("pushMetrics() falls back to the process environment without an env option", async () => {
    const receiver = await startOtlpReceiver();
    const names = ["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_SERVICE_NAME"] as const;
    const original = names.map((name) => process.env[name]);
    try {
      process.env["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"] = receiver.url("/from-process/metrics");
      process.env["OTEL_SERVICE_NAME"] = "from-process";
      await pushMetrics(new Registry(), {});
      assert.equal(receiver.requests[0]?.path, "/from-process/metrics");
      assert.equal(resourceOf(receiver.requests[0])["service.name"], "from-process");
    } finally {
      names.forEach((name, i) => {
        if (original[i] === undefined) delete process.env[name];
        else process.env[name] = original[i];
      });
      await receiver.close();
    }
  });

  it("pushMetrics() and startMetricsPush() refuse a bad variable with an error naming it", async () => {
    await assert.rejects(
      pushMetrics(new Registry(), { env: { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "collector:4318" } }),
      /Variable OTEL_EXPORTER_OTLP_METRICS_ENDPOINT must be an http\(s\) URL/,
    );
    await assert.rejects(
      pushMetrics(new Registry(), { url: "http://c/v1/metrics", env: { OTEL_EXPORTER_OTLP_HEADERS: "novalue" } }),
      /Variable OTEL_EXPORTER_OTLP_HEADERS must hold comma-separated key=value pairs/,
    );
    assert.throws(
      () =>
        startMetricsPush(new Registry(), {
          url: "http://c/v1/metrics",
          intervalMs: 1000,
          env: { OTEL_RESOURCE_ATTRIBUTES: "=x" },
        }),
      /Variable OTEL_RESOURCE_ATTRIBUTES must hold comma-separated key=value pairs/,
    );
  });

  it("resolveTracingOptions() reads OTEL_RESOURCE_ATTRIBUTES too, with the resourceAttributes option winning", () => {
    const env = { OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=prod,team=a" };
    assert.deepEqual(resolveTracingOptions({ env }).resourceAttributes, {
      "deployment.environment": "prod",
      team: "a",
    });
    assert.deepEqual(
      resolveTracingOptions({ env, resourceAttributes: { team: "b" } }).resourceAttributes,
      { "deployment.environment": "prod", team: "b" },
    );
  });
});

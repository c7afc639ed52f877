import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { resolveTracingOptions } from "../../src/otel/tracing_options.ts";

describe("resolveTracingOptions", () => {
  it("resolveTracingOptions() defaults to localhost, parentbased_always_on, ratio 1 and global", () => {
    const resolved = resolveTracingOptions({ env: {} });
    assert.deepEqual(resolved, {
      serviceName: undefined,
      resourceAttributes: {},
      url: "http://localhost:4318/v1/traces",
      headers: {},
      sampler: "parentbased_always_on",
      samplerRatio: 1,
      global: true,
      scheduledDelayMillis: 5000,
      exportTimeoutMillis: 30000,
    });
  });

  it("resolveTracingOptions() appends /v1/traces to OTEL_EXPORTER_OTLP_ENDPOINT", () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: "https://collector:4318/" };
    assert.equal(resolveTracingOptions({ env }).url, "https://collector:4318/v1/traces");
  });

  it("resolveTracingOptions() takes OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is, over the generic one", () => {
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318",
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://b:4318/custom",
    };
    assert.equal(resolveTracingOptions({ env }).url, "http://b:4318/custom");
    assert.equal(resolveTracingOptions({ env, url: "http://c/x" }).url, "http://c/x");
  });

  it("resolveTracingOptions() URL-decodes OTEL_EXPORTER_OTLP_HEADERS and lets options win", () => {
    const env = { OTEL_EXPORTER_OTLP_HEADERS: "api-key=a%20b%2Cc, x-tenant = acme ,," };
    assert.deepEqual(resolveTracingOptions({ env }).headers, { "api-key": "a b,c", "x-tenant": "acme" });
    assert.deepEqual(
      resolveTracingOptions({ env, headers: { "x-tenant": "other" } }).headers,
      { "api-key": "a b,c", "x-tenant": "other" },
    );
  });

  it("resolveTracingOptions() reads OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG", () => {
    const env = {
      OTEL_SERVICE_NAME: "svc",
      OTEL_TRACES_SAMPLER: "ParentBased_TraceIdRatio",
      OTEL_TRACES_SAMPLER_ARG: "0.5",
    };
    const resolved = resolveTracingOptions({ env });
    assert.equal(resolved.serviceName, "svc");
    assert.equal(resolved.sampler, "parentbased_traceidratio");
    assert.equal(resolved.samplerRatio, 0.5);
    assert.equal(resolveTracingOptions({ env, serviceName: "opt" }).serviceName, "opt");
  });

  it("resolveTracingOptions() accepts every supported sampler name", () => {
    for (
      const sampler of [
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
      ]
    ) {
      assert.equal(resolveTracingOptions({ env: { OTEL_TRACES_SAMPLER: sampler } }).sampler, sampler);
    }
  });

  it("resolveTracingOptions() throws an error naming each bad variable", () => {
    const cases: [Record<string, string>, RegExp][] = [
      [
        { OTEL_TRACES_SAMPLER: "sometimes" },
        /^Error: Variable OTEL_TRACES_SAMPLER must be one of always_on, .*; got "sometimes"$/,
      ],
      [{ OTEL_TRACES_SAMPLER_ARG: "abc" }, /Variable OTEL_TRACES_SAMPLER_ARG must be a ratio in \[0, 1\]; got "abc"/],
      [{ OTEL_TRACES_SAMPLER_ARG: "1.5" }, /Variable OTEL_TRACES_SAMPLER_ARG must be a ratio/],
      [{ OTEL_TRACES_SAMPLER_ARG: "-0.1" }, /Variable OTEL_TRACES_SAMPLER_ARG must be a ratio/],
      [
        { OTEL_EXPORTER_OTLP_ENDPOINT: "not a url" },
        /Variable OTEL_EXPORTER_OTLP_ENDPOINT must be an http\(s\) URL; got "not a url"/,
      ],
      [
        { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "ftp://x/y" },
        /Variable OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be an http\(s\) URL/,
      ],
      [
        { OTEL_EXPORTER_OTLP_HEADERS: "novalue" },
        /Variable OTEL_EXPORTER_OTLP_HEADERS must hold comma-separated key=value pairs; got "novalue"/,
      ],
      [{ OTEL_EXPORTER_OTLP_HEADERS: "=v" }, /Variable OTEL_EXPORTER_OTLP_HEADERS must hold/],
      [{ OTEL_EXPORTER_OTLP_HEADERS: "k=%E0%A4%A" }, /Variable OTEL_EXPORTER_OTLP_HEADERS has a bad percent-encoding/],
    ];
    for (const [env, message] of cases) {
      assert.throws(() => resolveTracingOptions({ env }), (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.match(String(error), message);
        return true;
      });
    }
  });

  it("resolveTracingOptions() throws an error naming each bad option", () => {
    const cases: [Parameters<typeof resolveTracingOptions>[0], RegExp][] = [
      [{ sampler: "never" as never }, /Option "sampler" must be one of/],
      [{ samplerRatio: 2 }, /Option "samplerRatio" must be a ratio in \[0, 1\]; got "2"/],
      [{ samplerRatio: Number.NaN }, /Option "samplerRatio"/],
      [{ url: "localhost:4318" }, /Option "url" must be an http\(s\) URL; got "localhost:4318"/],
      [{ serviceName: " " }, /Option "serviceName" must not be empty/],
      [{ headers: { a: 1 as never } }, /Option "headers" must map names to strings; "a" is number/],
      [{ scheduledDelayMillis: 0 }, /Option "scheduledDelayMillis" must be a positive number/],
      [{ exportTimeoutMillis: -1 }, /Option "exportTimeoutMillis"/],
    ];
    for (const [options, message] of cases) {
      assert.throws(() => resolveTracingOptions({ env: {}, ...options }), message);
    }
  });

  it("resolveTracingOptions() falls back to the process environment without an env option", () => {
    const original = process.env["OTEL_SERVICE_NAME"];
    process.env["OTEL_SERVICE_NAME"] = "from-process-env";
    try {
      assert.equal(resolveTracingOptions({}).serviceName, "from-process-env");
      process.env["OTEL_SERVICE_NAME"] = "changed";
      assert.equal(resolveTracingOptions({}).serviceName, "changed");
    } finally {
      if (original === undefined) delete process.env["OTEL_SERVICE_NAME"];
      else process.env["OTEL_SERVICE_NAME"] = original;
    }
  });
});

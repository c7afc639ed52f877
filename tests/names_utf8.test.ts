// UTF-8 metric and label names (Prometheus 3): the registry option, the quoted text formats,
// the escaping schemes checked against Prometheus' own documentation and tests, and the
// negotiation of both over HTTP.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "../mod.ts";
import { escapeLabelName, escapeMetricName, type EscapingScheme } from "../src/exposition/escaping.ts";
import { contentTypeWithNames, negotiateFormat, negotiateNames } from "../src/exposition/negotiate.ts";
import { metricsHandler } from "../src/http/handler.ts";
import { parseExposition } from "./_parse.ts";

// The Accept headers Prometheus 3 sends, from its documentation of content negotiation
// (docs/instrumenting/content_negotiation.md); `*/*` as Prometheus writes it.
const PROMETHEUS_3_ACCEPT = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5," +
  "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3," +
  "text/plain;version=0.0.4;q=0.2,*/*;q=0.1";

function otelRegistry(): Registry {
  const registry = new Registry({ names: "utf8", selfMetrics: false });
  registry.histogram({
    name: "http.server.request.duration",
    help: "Duration of HTTP server requests.",
    labelNames: ["http.route"],
    buckets: [0.1],
  }).observe({ "http.route": "/a" }, 0.05);
  registry.counter({ name: "http.requests_total", help: "Requests.", labelNames: ["http.route", "code"] })
    .inc({ "http.route": "/a", code: "200" });
  return registry;
}

describe("UTF-8 names: the registry option", () => {
  it('Registry({ names: "utf8" }) accepts OpenTelemetry metric and label names', () => {
    const registry = new Registry({ names: "utf8", selfMetrics: false });
    const duration = registry.gauge({ name: "http.server.request.duration", help: "h", labelNames: ["http.route"] });
    duration.set({ "http.route": "/a" }, 1);
    registry.counter({ name: "名前_total", help: "h", labelNames: ["ラベル", "with space", 'q"\\\n'] });
    assert.equal(registry.get("http.server.request.duration"), duration);
  });

  it("Registry() keeps legacy names by default and refuses a dotted name, naming it and the option", () => {
    for (const registry of [new Registry(), new Registry({ names: "legacy" })]) {
      assert.throws(
        () => registry.counter({ name: "http.requests_total", help: "h" }),
        /Counter name "http\.requests_total" is not valid: .*names: "utf8"/,
      );
      assert.throws(
        () => registry.gauge({ name: "g", help: "h", labelNames: ["http.route"] }),
        /Gauge "g" label name "http\.route" is not valid: it must match/,
      );
    }
  });

  it('Registry({ names: "utf8" }) refuses the empty name, lone surrogates and label names starting with __', () => {
    const registry = new Registry({ names: "utf8", selfMetrics: false });
    assert.throws(
      () => registry.counter({ name: "", help: "h" }),
      /Counter name "" is not valid: .*well-formed Unicode/,
    );
    assert.throws(() => registry.gauge({ name: "a\uD800", help: "h" }), /Gauge name "a\\ud800" is not valid/);
    assert.throws(() => registry.gauge({ name: "\uDC00b", help: "h" }), /Gauge name "\\udc00b" is not valid/);
    for (const label of ["", "__name__", "__x.y", "a\uDBFF"]) {
      assert.throws(
        () => registry.gauge({ name: "g", help: "h", labelNames: [label] }),
        (error: Error) => error.message.startsWith(`Gauge "g" label name ${JSON.stringify(label)} is not valid`),
      );
    }
    // Nothing was registered by the refused calls.
    assert.equal(registry.render(), "");
  });

  it('Registry({ names: "utf8" }) refuses two label names that escape to the same one with underscores', () => {
    const registry = new Registry({ names: "utf8", selfMetrics: false });
    assert.throws(
      () => registry.gauge({ name: "g", help: "h", labelNames: ["http.route", "http_route"] }),
      /Gauge "g" label names "http\.route" and "http_route" both escape to "http_route"/,
    );
    assert.equal(registry.get("g"), undefined);
  });

  it("Registry() refuses a names option that is neither legacy nor utf8", () => {
    assert.throws(
      () => new Registry({ names: "UTF-8" as unknown as "utf8" }),
      /Registry option names must be "legacy" or "utf8", got "UTF-8"/,
    );
  });

  it("Registry.attach() takes the names option of the registry it attaches to", () => {
    const registry = new Registry({ names: "utf8", selfMetrics: false });
    const attached = Registry.attach(registry.share());
    attached.counter({ name: "jobs.done_total", help: "h" }).inc();
    assert.ok(registry.render("prometheus", { escaping: "allow-utf-8" }).includes('{"jobs.done_total"} 1\n'));
    const legacy = Registry.attach(new Registry().share());
    assert.throws(() => legacy.counter({ name: "jobs.done_total", help: "h" }), /is not valid/);
  });
});

describe("UTF-8 names: the quoted text formats", () => {
  it("Registry.render() quotes UTF-8 names as Prometheus 3 reads them when asked with allow-utf-8", () => {
    const text = otelRegistry().render("prometheus", { escaping: "allow-utf-8" });
    assert.equal(
      text,
      [
        '# HELP "http.requests_total" Requests.',
        '# TYPE "http.requests_total" counter',
        '{"http.requests_total","http.route"="/a",code="200"} 1',
        '# HELP "http.server.request.duration" Duration of HTTP server requests.',
        '# TYPE "http.server.request.duration" histogram',
        '{"http.server.request.duration_bucket","http.route"="/a",le="0.1"} 1',
        '{"http.server.request.duration_bucket","http.route"="/a",le="+Inf"} 1',
        '{"http.server.request.duration_sum","http.route"="/a"} 0.05',
        '{"http.server.request.duration_count","http.route"="/a"} 1',
        "",
      ].join("\n"),
    );
    const families = parseExposition(text, false, { utf8Names: true });
    assert.deepEqual(families.get("http.server.request.duration")?.samples[0], {
      name: "http.server.request.duration_bucket",
      labels: { "http.route": "/a", le: "0.1" },
      value: 1,
    });
  });

  it("Registry.render() quotes UTF-8 names in OpenMetrics too, the counter's family without _total", () => {
    const text = otelRegistry().render("openmetrics", { escaping: "allow-utf-8" });
    assert.ok(text.startsWith('# HELP "http.requests" Requests.\n# TYPE "http.requests" counter\n'), text);
    assert.ok(text.includes('{"http.requests_total","http.route"="/a",code="200"} 1\n'), text);
    const families = parseExposition(text, true, { utf8Names: true });
    assert.equal(families.get("http.requests")?.type, "counter");
  });

  it("Registry.render() writes a legacy metric name bare and quotes only its UTF-8 label names", () => {
    const registry = new Registry({ names: "utf8", selfMetrics: false });
    registry.gauge({ name: "queue_depth", help: "h", labelNames: ["queue.name", "zone"] }).set(
      { "queue.name": 'a"b', zone: "z" },
      4,
    );
    const text = registry.render("prometheus", { escaping: "allow-utf-8" });
    assert.ok(text.includes('queue_depth{"queue.name"="a\\"b",zone="z"} 4\n'), text);
  });

  it("Registry.render() escapes backslash, double quote and line feed inside quoted names", () => {
    const registry = new Registry({ names: "utf8", selfMetrics: false });
    registry.gauge({ name: 'a\\b"c\nd', help: "h", labelNames: ['e"f'] }).set({ 'e"f': "v" }, 1);
    const text = registry.render("prometheus", { escaping: "allow-utf-8" });
    assert.ok(text.includes('{"a\\\\b\\"c\\nd","e\\"f"="v"} 1\n'), text);
    const family = parseExposition(text, false, { utf8Names: true }).get('a\\b"c\nd');
    assert.deepEqual(family?.samples[0]?.labels, { 'e"f': "v" });
  });

  it("Registry.render() escapes UTF-8 names with underscores by default", () => {
    const text = otelRegistry().render();
    assert.ok(text.includes('http_server_request_duration_bucket{http_route="/a",le="0.1"} 1\n'), text);
    assert.ok(text.includes('http_requests_total{http_route="/a",code="200"} 1\n'), text);
    parseExposition(text, false);
    assert.equal(text, otelRegistry().render("prometheus", { escaping: "underscores" }));
  });

  it("Registry.render() escapes names by the dots and values schemes when asked", () => {
    const dots = otelRegistry().render("prometheus", { escaping: "dots" });
    assert.ok(dots.includes('http_dot_server_dot_request_dot_duration_sum{http_dot_route="/a"} 0.05\n'), dots);
    const values = otelRegistry().render("openmetrics", { escaping: "values" });
    assert.ok(values.includes('U__http_2e_server_2e_request_2e_duration_count{U__http_2e_route="/a"} 1\n'), values);
    parseExposition(dots, false);
    parseExposition(values, true);
  });

  it("Registry.render() and stream() refuse an unknown escaping", async () => {
    const registry = otelRegistry();
    const bad = { escaping: "utf8" as unknown as "dots" };
    assert.throws(
      () => registry.render("prometheus", bad),
      /Registry\.render\(\) option escaping must be .*got "utf8"/,
    );
    assert.throws(() => registry.stream("prometheus", bad), /Registry\.stream\(\) option escaping must be/);
    const streamed = await new Response(registry.stream("prometheus", { escaping: "allow-utf-8" })).text();
    assert.equal(streamed, registry.render("prometheus", { escaping: "allow-utf-8" }));
  });

  it("Registry.render() of a legacy registry is the same under every escaping", () => {
    const registry = new Registry();
    registry.counter({ name: "jobs_total", help: "Jobs", labelNames: ["kind"] }).inc({ kind: "a" });
    const text = registry.render();
    for (const escaping of ["allow-utf-8", "underscores", "dots", "values"] as const) {
      assert.equal(registry.render("prometheus", { escaping }), text);
    }
  });
});

describe("UTF-8 names: the escaping schemes of Prometheus' documentation", () => {
  // docs/instrumenting/escaping_schemes.md of prometheus/docs: one example per scheme.
  it("escapeMetricName() underscores: metric.name/with/slashes becomes metric_name_with_slashes", () => {
    assert.equal(escapeMetricName("metric.name/with/slashes", "underscores"), "metric_name_with_slashes");
  });

  it("escapeMetricName() dots: metric.name.with.dots becomes metric_dot_name_dot_with_dot_dots", () => {
    assert.equal(escapeMetricName("metric.name.with.dots", "dots"), "metric_dot_name_dot_with_dot_dots");
  });

  it("escapeMetricName() values: metric.name becomes U__metric_2E_name, hex digits in lower case as Prometheus writes them", () => {
    // The document writes `2E`; prometheus/common's EscapeName (what client_golang sends) writes
    // `2e`, and its UnescapeName reads either.
    const escaped = escapeMetricName("metric.name", "values");
    assert.equal(escaped, "U__metric_2e_name");
    assert.equal(escaped.replace(/_([0-9a-f]+)_/g, (_, hex: string) => `_${hex.toUpperCase()}_`), "U__metric_2E_name");
  });

  it("escapeMetricName() allow-utf-8 leaves every name as it is", () => {
    for (const name of ["metric.name", "花火", "a b"]) assert.equal(escapeMetricName(name, "allow-utf-8"), name);
  });

  // prometheus/common model/metric_test.go TestEscapeName: the same inputs, the same outputs.
  const table: [string, string, string, string][] = [
    [
      "mysystem.prod.west.cpu.load",
      "mysystem_prod_west_cpu_load",
      "mysystem_dot_prod_dot_west_dot_cpu_dot_load",
      "U__mysystem_2e_prod_2e_west_2e_cpu_2e_load",
    ],
    [
      "mysystem.prod.west.cpu.load_total",
      "mysystem_prod_west_cpu_load_total",
      "mysystem_dot_prod_dot_west_dot_cpu_dot_load__total",
      "U__mysystem_2e_prod_2e_west_2e_cpu_2e_load__total",
    ],
    ["http.status:sum", "http_status:sum", "http_dot_status:sum", "U__http_2e_status:sum"],
    ["label with 😱", "label_with__", "label__with____", "U__label_20_with_20__1f631_"],
    ["花火", "__", "____", "U___82b1__706b_"],
    ["label with \u0100", "label_with__", "label__with____", "U__label_20_with_20__100_"],
  ];

  it("escapeMetricName() gives prometheus/common's EscapeName outputs for its test table", () => {
    for (const [input, underscores, dots, values] of table) {
      assert.equal(escapeMetricName(input, "underscores"), underscores, input);
      assert.equal(escapeMetricName(input, "dots"), dots, input);
      assert.equal(escapeMetricName(input, "values"), values, input);
    }
  });

  it("escapeMetricName() leaves a legacy name unchanged in every scheme, as EscapeMetricFamily does", () => {
    // EscapeName alone would give no:escaping__required under dots; Prometheus' family escaping
    // never passes it a legacy name.
    for (const scheme of ["allow-utf-8", "underscores", "dots", "values"] as const) {
      assert.equal(escapeMetricName("no:escaping_required", scheme), "no:escaping_required");
    }
  });

  it("escapeMetricName() treats a leading digit as outside the legacy set", () => {
    assert.equal(escapeMetricName("2xx.rate", "underscores"), "_xx_rate");
    assert.equal(escapeMetricName("2xx", "dots"), "__xx");
    assert.equal(escapeMetricName("2xx", "values"), "U___32_xx");
  });

  it("escapeLabelName() escapes a colon, which label names never had", () => {
    const expected: Record<EscapingScheme, string> = {
      "allow-utf-8": "a:b",
      underscores: "a_b",
      dots: "a__b",
      values: "U__a_3a_b",
    };
    for (const [scheme, name] of Object.entries(expected)) {
      assert.equal(escapeLabelName("a:b", scheme as EscapingScheme), name);
    }
    assert.equal(escapeLabelName("http_route", "dots"), "http_route");
  });
});

describe("UTF-8 names: negotiation", () => {
  it("negotiateNames() gives Prometheus 3's default header OpenMetrics 1.0.0 with allow-utf-8", () => {
    assert.equal(negotiateFormat(PROMETHEUS_3_ACCEPT), "openmetrics");
    assert.deepEqual(negotiateNames(PROMETHEUS_3_ACCEPT, "openmetrics"), {
      version: "1.0.0",
      escaping: "allow-utf-8",
      stated: true,
    });
  });

  it("negotiateFormat() and negotiateNames() serve the text format 1.0.0 when asked for it by version", () => {
    const accept = "application/openmetrics-text;version=1.0.0;q=0.2,text/plain;version=1.0.0;escaping=dots;q=0.3";
    assert.equal(negotiateFormat(accept), "prometheus");
    assert.deepEqual(negotiateNames(accept, "prometheus"), { version: "1.0.0", escaping: "dots", stated: true });
    // Without an escaping, 1.0.0 still states the default one.
    assert.deepEqual(negotiateNames("text/plain;version=1.0.0", "prometheus"), {
      version: "1.0.0",
      escaping: "underscores",
      stated: true,
    });
  });

  it("negotiateNames() keeps 0.0.4, underscores and today's header for scrapers that name no escaping", () => {
    for (const accept of [null, "", "*/*", "text/plain", "text/plain;version=0.0.4", "text/plain;escaping=bogus"]) {
      assert.deepEqual(negotiateNames(accept, "prometheus"), {
        version: "0.0.4",
        escaping: "underscores",
        stated: false,
      });
    }
  });

  it("contentTypeWithNames() states the version and the escaping", () => {
    assert.equal(
      contentTypeWithNames("text/plain; version=0.0.4; charset=utf-8", {
        version: "1.0.0",
        escaping: "underscores",
        stated: true,
      }),
      "text/plain; version=1.0.0; charset=utf-8; escaping=underscores",
    );
    assert.equal(
      contentTypeWithNames("text/plain; version=0.0.4; charset=utf-8", {
        version: "0.0.4",
        escaping: "underscores",
        stated: false,
      }),
      "text/plain; version=0.0.4; charset=utf-8",
    );
  });
});

describe("UTF-8 names: the metrics endpoint", () => {
  async function scrape(registry: Registry, accept: string | undefined): Promise<[string | null, string]> {
    const handler = metricsHandler(registry, { selfMetrics: false, compression: false });
    const headers: Record<string, string> = accept === undefined ? {} : { accept };
    const response = await handler(new Request("http://localhost/metrics", { headers }));
    return [response.headers.get("content-type"), await response.text()];
  }

  it("metricsHandler() answers Prometheus 3 with quoted names and says escaping=allow-utf-8", async () => {
    const registry = otelRegistry();
    const [type, body] = await scrape(registry, PROMETHEUS_3_ACCEPT);
    assert.equal(type, "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8");
    assert.equal(body, registry.render("openmetrics", { escaping: "allow-utf-8" }));
  });

  it("metricsHandler() serves text 1.0.0 escaped as asked and says which escaping", async () => {
    const registry = otelRegistry();
    for (const escaping of ["underscores", "dots", "values", "allow-utf-8"] as const) {
      const [type, body] = await scrape(registry, `text/plain;version=1.0.0;escaping=${escaping}`);
      assert.equal(type, `text/plain; version=1.0.0; charset=utf-8; escaping=${escaping}`);
      assert.equal(body, registry.render("prometheus", { escaping }));
    }
  });

  it("metricsHandler() escapes with underscores for a scraper that names no escaping, with today's header", async () => {
    const registry = otelRegistry();
    const [type, body] = await scrape(registry, undefined);
    assert.equal(type, "text/plain; version=0.0.4; charset=utf-8");
    assert.equal(body, registry.render());
    assert.ok(body.includes("http_server_request_duration_count"));
  });

  it("metricsHandler() does not share one render between concurrent scrapes that ask for different escapings", async () => {
    const registry = otelRegistry();
    const handler = metricsHandler(registry, { selfMetrics: false, compression: false });
    const ask = (escaping: string) =>
      handler(
        new Request("http://localhost/metrics", {
          headers: { accept: `text/plain;version=1.0.0;escaping=${escaping}` },
        }),
      );
    const [quoted, escaped] = await Promise.all([ask("allow-utf-8"), ask("underscores")]);
    assert.equal(await quoted.text(), registry.render("prometheus", { escaping: "allow-utf-8" }));
    assert.equal(await escaped.text(), registry.render("prometheus", { escaping: "underscores" }));
  });
});

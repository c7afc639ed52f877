import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "../../src/registry.ts";
import { metricsHandler } from "../../src/http/handler.ts";
import { failingRegistry, PROMETHEUS_ACCEPT } from "./suite.ts";

const OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT = "text/plain; version=0.0.4; charset=utf-8";

function request(path: string, init: RequestInit = {}): Request {
  return new Request(`http://localhost${path}`, init);
}

async function gunzip(bytes: ArrayBuffer): Promise<string> {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return await new Response(stream).text();
}

describe("metricsHandler()", () => {
  it("metricsHandler() gzips the exposition into bytes that gunzip to the render", async () => {
    const registry = new Registry();
    registry.counter({ name: "zip_total", help: "Zipped." }).inc(7);
    const handler = metricsHandler(registry, { selfMetrics: false });
    const response = await handler(request("/metrics", { headers: { "accept-encoding": "br, gzip;q=0.5" } }));
    assert.equal(response.headers.get("content-encoding"), "gzip");
    const bytes = await response.arrayBuffer();
    assert.deepEqual([...new Uint8Array(bytes).subarray(0, 2)], [0x1f, 0x8b]);
    assert.equal(await gunzip(bytes), registry.render());
  });

  it("metricsHandler() does not gzip when compression is false", async () => {
    const handler = metricsHandler({ render: () => "up 1\n" }, { compression: false });
    const response = await handler(request("/metrics", { headers: { "accept-encoding": "gzip" } }));
    assert.equal(response.headers.get("content-encoding"), null);
    assert.equal(await response.text(), "up 1\n");
  });

  it("metricsHandler() serves a plain { render } object and passes the format to it", async () => {
    const formats: unknown[] = [];
    const handler = metricsHandler({
      render: (format?: "openmetrics") => {
        formats.push(format);
        return format === "openmetrics" ? "up 1\n# EOF\n" : "up 1\n";
      },
    });
    const text = await handler(request("/metrics"));
    const open = await handler(request("/metrics", { headers: { accept: PROMETHEUS_ACCEPT } }));
    assert.equal(await text.text(), "up 1\n");
    assert.equal(await open.text(), "up 1\n# EOF\n");
    assert.deepEqual(formats, [undefined, "openmetrics"]);
  });

  it('metricsHandler() with format "prometheus" serves 0.0.4 even to an OpenMetrics Accept', async () => {
    const handler = metricsHandler(new Registry(), { format: "prometheus" });
    const response = await handler(request("/metrics", { headers: { accept: PROMETHEUS_ACCEPT } }));
    assert.equal(response.headers.get("content-type"), TEXT);
    assert.doesNotMatch(await response.text(), /# EOF/);
  });

  it('metricsHandler() with format "openmetrics" serves OpenMetrics without an Accept header', async () => {
    const handler = metricsHandler(new Registry(), { format: "openmetrics" });
    const response = await handler(request("/metrics"));
    assert.equal(response.headers.get("content-type"), OPENMETRICS);
    assert.ok((await response.text()).endsWith("# EOF\n"));
  });

  it("metricsHandler() answers HEAD with headers and a null body", async () => {
    const handler = metricsHandler(new Registry());
    const response = await handler(request("/metrics", { method: "HEAD", headers: { accept: PROMETHEUS_ACCEPT } }));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), OPENMETRICS);
    assert.equal(response.body, null);
  });

  it("metricsHandler() marks the exposition Vary: Accept, Accept-Encoding and no-store", async () => {
    const response = await metricsHandler(new Registry())(request("/metrics"));
    assert.equal(response.headers.get("vary"), "Accept, Accept-Encoding");
    assert.equal(response.headers.get("cache-control"), "no-store");
    await response.text();
  });

  it("metricsHandler() answers 405 to DELETE on the health path and 404 on a query-less other path", async () => {
    const handler = metricsHandler(new Registry());
    const deleted = await handler(request("/health", { method: "DELETE" }));
    assert.equal(deleted.status, 405);
    assert.equal(deleted.headers.get("allow"), "GET, HEAD");
    assert.equal((await handler(request("/"))).status, 404);
    assert.equal((await handler(request("/metrics?debug=1"))).status, 200);
  });

  it("metricsHandler() counts scrapes by format in atomic_metrics_scrapes_total", async () => {
    const registry = new Registry();
    const handler = metricsHandler(registry);
    await (await handler(request("/metrics"))).text();
    await (await handler(request("/metrics", { headers: { accept: PROMETHEUS_ACCEPT } }))).text();
    const text = await (await handler(request("/metrics"))).text();
    assert.match(text, /^atomic_metrics_scrapes_total\{format="prometheus"\} 2$/m);
    assert.match(text, /^atomic_metrics_scrapes_total\{format="openmetrics"\} 1$/m);
    assert.match(text, /^atomic_metrics_scrape_duration_seconds_count 2$/m);
  });

  it("metricsHandler() shares its self-metrics between two handlers on one registry", async () => {
    const registry = new Registry();
    const first = metricsHandler(registry);
    const second = metricsHandler(registry, { path: "/other" });
    await (await first(request("/metrics"))).text();
    const text = await (await second(request("/other"))).text();
    assert.match(text, /^atomic_metrics_scrapes_total\{format="prometheus"\} 2$/m);
  });

  it("metricsHandler() with selfMetrics false registers no metric", async () => {
    const registry = new Registry();
    const handler = metricsHandler(registry, { selfMetrics: false });
    await (await handler(request("/metrics"))).text();
    assert.doesNotMatch(registry.render(), /atomic_metrics_scrape/);
  });

  it("metricsHandler() answers 500 and calls onError when a source's render throws, and serves it again after", async () => {
    let failing = true;
    const source = {
      render(): string {
        if (failing) throw new Error("render failed");
        return "up 1\n";
      },
    };
    const errors: unknown[] = [];
    const handler = metricsHandler(source, { onError: (error) => errors.push(error) });
    const failed = await handler(request("/metrics"));
    assert.equal(failed.status, 500);
    assert.equal(await failed.text(), "Metrics render failed\n");
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /render failed/);
    failing = false;
    assert.equal(await (await handler(request("/metrics"))).text(), "up 1\n");
  });

  it("metricsHandler() answers 200 when a registry's collect hook throws, and counts it", async () => {
    const failing = failingRegistry();
    failing.failing = true;
    const errors: unknown[] = [];
    const handler = metricsHandler(failing.registry, { onError: (error) => errors.push(error) });
    const response = await handler(request("/metrics"));
    assert.equal(response.status, 200);
    assert.match(await response.text(), /^atomic_metrics_collect_errors_total\{metric="beforeCollect"\} 1$/m);
    assert.match(String(errors[0]), /collect callback failed/);
  });

  it("metricsHandler() reports not ready when ready() throws", async () => {
    const handler = metricsHandler(new Registry(), {
      ready: () => {
        throw new Error("database down");
      },
    });
    const response = await handler(request("/health"));
    assert.equal(response.status, 503);
    assert.equal((await response.json() as { ready: boolean }).ready, false);
  });

  it("metricsHandler() accepts a lower-case bearer scheme and rejects a bearer sent as basic", async () => {
    const handler = metricsHandler(new Registry(), { auth: { bearer: "token" } });
    assert.equal((await handler(request("/metrics", { headers: { authorization: "bearer token" } }))).status, 200);
    assert.equal((await handler(request("/metrics", { headers: { authorization: "Basic token" } }))).status, 401);
    assert.equal((await handler(request("/metrics", { headers: { authorization: "Bearer " } }))).status, 401);
  });

  it("metricsHandler() rejects malformed basic credentials with 401", async () => {
    const handler = metricsHandler(new Registry(), { auth: { username: "u", password: "p" } });
    const answers = await Promise.all(
      ["Basic %%%", "Basic " + btoa("u:p:"), "Basic " + btoa("u"), "Basic"].map((authorization) =>
        handler(request("/metrics", { headers: { authorization } }))
      ),
    );
    assert.deepEqual(answers.map((answer) => answer.status), [401, 401, 401, 401]);
    const ok = await handler(request("/metrics", { headers: { authorization: "Basic " + btoa("u:p") } }));
    assert.equal(ok.status, 200);
  });

  it("metricsHandler() refuses a path no request's URL pathname can equal, naming the option and the value", () => {
    const registry = { render: () => "" };
    const cases: [string, string][] = [
      ["/métriques", "/m%C3%A9triques"],
      ["/a b", "/a%20b"],
      ["/metrics?x=1", "/metrics"],
      ["/metrics#x", "/metrics"],
      ["/a/../metrics", "/metrics"],
      ["/a/./metrics", "/a/metrics"],
      ["/a\\b", "/a/b"],
      ["/a\tb", "/ab"],
      ['/"x"', "/%22x%22"],
    ];
    for (const [path, arrives] of cases) {
      assert.throws(
        () => metricsHandler(registry, { path }),
        (error: Error) =>
          error.message.includes('Option "path"') && error.message.includes(JSON.stringify(path)) &&
          error.message.includes(JSON.stringify(arrives)),
        path,
      );
      assert.throws(() => metricsHandler(registry, { healthPath: path }), /Option "healthPath"/, path);
    }
    for (const path of ["metrics", "", "http://x/metrics"]) {
      assert.throws(() => metricsHandler(registry, { path }), /Option "path" must be a path starting with "\/"/);
    }
    assert.throws(
      () => metricsHandler(registry, { path: 7 as unknown as string }),
      /Option "path" must be a path starting with "\/"; got 7/,
    );
  });

  it("metricsHandler() serves every accepted path, percent-encoded ones included", async () => {
    const paths = ["/m%C3%A9triques", "/a%20b", "/metrics/", "//metrics", "/a%zz", "/x;y=1", "/~user/metrics"];
    for (const path of paths) {
      const handler = metricsHandler({ render: () => "up 1\n" }, { path, healthPath: "/h" });
      const response = await handler(request(path));
      assert.equal(response.status, 200, path);
      assert.equal(await response.text(), "up 1\n");
    }
    const unicode = metricsHandler({ render: () => "up 1\n" }, { path: "/m%C3%A9triques" });
    assert.equal((await unicode(request("/métriques"))).status, 200);
  });

  it("metricsHandler() throws on a path without a leading slash, an empty token or a colon in the user name", () => {
    const registry = { render: () => "" };
    assert.throws(
      () => metricsHandler(registry, { path: "metrics" }),
      /Option "path" must be a path starting with "\/"/,
    );
    assert.throws(() => metricsHandler(registry, { healthPath: "" }), /Option "healthPath"/);
    assert.throws(() => metricsHandler(registry, { auth: { bearer: "" } }), /Option "auth.bearer"/);
    assert.throws(
      () => metricsHandler(registry, { auth: { username: "a:b", password: "" } }),
      /Option "auth.username"/,
    );
  });
});

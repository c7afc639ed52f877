import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "../../src/registry.ts";
import { instrumentFetch, instrumentNodeListener } from "../../src/http/middleware.ts";

function sample(registry: Registry, name: string, labels: string): number | undefined {
  const line = registry.render().split("\n").find((text) => text.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

function routeValues(registry: Registry): Set<string> {
  const routes = new Set<string>();
  for (const line of registry.render().split("\n")) {
    const match = /^http_requests_total\{.*route="((?:[^"\\]|\\.)*)"/.exec(line);
    if (match !== null) routes.add(match[1] ?? "");
  }
  return routes;
}

function randomPath(length: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_";
  let path = "/";
  for (let index = 1; index < length; index++) path += alphabet[Math.floor(Math.random() * alphabet.length)];
  return path;
}

/** A registry stand-in whose metrics throw on every recording, as a broken or detached registry would. */
function throwingRegistry(): { counter(): unknown; histogram(): unknown } {
  const broken = {
    inc(): void {
      throw new Error("registry broke");
    },
    observe(): void {
      throw new Error("registry broke");
    },
  };
  return { counter: () => broken, histogram: () => broken };
}

const ERRORS = "atomic_metrics_middleware_errors_total";

function errorCount(registry: Registry): number | undefined {
  const line = registry.render().split("\n").find((text) => text.startsWith(`${ERRORS} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

/** A stand-in for node's ServerResponse: `end()` emits "finish". */
class FakeResponse {
  statusCode = 200;
  private listeners = new Map<string, (() => void)[]>();
  once(event: "finish" | "close", listener: () => void): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return this;
  }
  emit(event: "finish" | "close"): void {
    const listeners = this.listeners.get(event) ?? [];
    this.listeners.delete(event);
    for (const listener of listeners) listener();
  }
  end(): void {
    this.emit("finish");
    this.emit("close");
  }
}

describe("instrumentFetch()", () => {
  it('instrumentFetch() with routes "path" counts requests and observes durations by method, path and status', async () => {
    const registry = new Registry();
    const handler = instrumentFetch(
      (request) => new Response("x", { status: new URL(request.url).pathname === "/missing" ? 404 : 200 }),
      { registry, routes: "path" },
    );
    await handler(new Request("http://localhost/users"));
    await handler(new Request("http://localhost/users", { method: "POST" }));
    await handler(new Request("http://localhost/users?page=2"));
    await handler(new Request("http://localhost/missing"));
    assert.equal(sample(registry, "http_requests_total", 'method="GET",route="/users",status="200"'), 2);
    assert.equal(sample(registry, "http_requests_total", 'method="POST",route="/users",status="200"'), 1);
    assert.equal(sample(registry, "http_requests_total", 'method="GET",route="/missing",status="404"'), 1);
    assert.equal(
      sample(registry, "http_request_duration_seconds_count", 'method="GET",route="/users",status="200"'),
      2,
    );
  });

  it("instrumentFetch() records 'unmatched' when routes() returns undefined or throws", async () => {
    const registry = new Registry();
    const handler = instrumentFetch(() => new Response(null, { status: 204 }), {
      registry,
      routes: (request) => {
        const path = new URL(request.url).pathname;
        if (path === "/boom") throw new Error("bad route table");
        return path.startsWith("/users/") ? "/users/:id" : undefined;
      },
    });
    await handler(new Request("http://localhost/users/1"));
    await handler(new Request("http://localhost/users/2"));
    await handler(new Request("http://localhost/nowhere"));
    await handler(new Request("http://localhost/boom"));
    assert.equal(sample(registry, "http_requests_total", 'method="GET",route="/users/:id",status="204"'), 2);
    assert.equal(sample(registry, "http_requests_total", 'method="GET",route="unmatched",status="204"'), 2);
  });

  it("instrumentFetch() records routes past maxRoutes as 'other'", async () => {
    const registry = new Registry();
    const handler = instrumentFetch(() => new Response("ok"), { registry, routes: "path", maxRoutes: 2 });
    for (const id of [1, 2, 3, 4, 1]) await handler(new Request(`http://localhost/item/${id}`));
    assert.equal(sample(registry, "http_requests_total", 'method="GET",route="/item/1",status="200"'), 2);
    assert.equal(sample(registry, "http_requests_total", 'method="GET",route="/item/2",status="200"'), 1);
    assert.equal(sample(registry, "http_requests_total", 'method="GET",route="other",status="200"'), 2);
    assert.equal(sample(registry, "http_requests_total", 'method="GET",route="/item/3",status="200"'), undefined);
  });

  it("instrumentFetch() records a throwing handler as status 500 and rethrows", async () => {
    const registry = new Registry();
    const handler = instrumentFetch(() => {
      throw new Error("handler broke");
    }, { registry, routes: "path" });
    await assert.rejects(handler(new Request("http://localhost/x")), /handler broke/);
    assert.equal(sample(registry, "http_requests_total", 'method="GET",route="/x",status="500"'), 1);
  });

  it("instrumentFetch() records a non-standard method as 'other'", async () => {
    const registry = new Registry();
    const handler = instrumentFetch(() => new Response("ok"), { registry, routes: "path" });
    await handler(new Request("http://localhost/x", { method: "PROPFIND" }));
    assert.equal(sample(registry, "http_requests_total", 'method="other",route="/x",status="200"'), 1);
  });

  it("instrumentFetch() shares its metrics between two instrumented handlers on one registry", async () => {
    const registry = new Registry();
    const first = instrumentFetch(() => new Response("1"), { registry, routes: "path" });
    const second = instrumentFetch(() => new Response("2"), { registry, routes: "path" });
    await first(new Request("http://localhost/a"));
    await second(new Request("http://localhost/a"));
    assert.equal(sample(registry, "http_requests_total", 'method="GET",route="/a",status="200"'), 2);
  });

  it("instrumentFetch() throws on a maxRoutes that is not a positive integer", () => {
    const registry = new Registry();
    assert.throws(() => instrumentFetch(() => new Response(), { registry, maxRoutes: 0 }), /Option "maxRoutes"/);
    assert.throws(() => instrumentFetch(() => new Response(), { registry, maxRoutes: 1.5 }), /Option "maxRoutes"/);
    assert.throws(
      () => instrumentFetch(() => new Response(), { registry, routes: "paths" as "path" }),
      /Option "routes" must be a function or "path"; got paths/,
    );
  });
});

describe("instrumentFetch() never throws into the application", () => {
  it('instrumentFetch() without routes records every request under the one route "unmatched"', async () => {
    const registry = new Registry();
    const handler = instrumentFetch(() => new Response("ok"), { registry });
    for (const path of ["/users/1", "/users/2", "/a/very/long/path", "/"]) {
      await handler(new Request(`http://localhost${path}`));
    }
    assert.deepEqual([...routeValues(registry)], ["unmatched"]);
    assert.equal(sample(registry, "http_requests_total", 'method="GET",route="unmatched",status="200"'), 4);
  });

  it('instrumentFetch() returns the app\'s response and records "unmatched" when routes() returns a non-string or throws, counting each', async () => {
    const registry = new Registry();
    const answers: unknown[] = [null, 7, { path: "/x" }, ["/x"], /x/, Symbol("x"), true, "throw", undefined, "/ok"];
    let next = 0;
    const handler = instrumentFetch(() => new Response("app", { status: 200 }), {
      registry,
      routes: () => {
        const answer = answers[next++];
        if (answer === "throw") throw new Error("route table broke");
        return answer as string | undefined;
      },
    });
    for (let index = 0; index < answers.length; index++) {
      const response = await handler(new Request("http://localhost/somewhere"));
      assert.equal(response.status, 200);
      assert.equal(await response.text(), "app");
    }
    assert.equal(sample(registry, "http_requests_total", 'method="GET",route="unmatched",status="200"'), 9);
    assert.equal(sample(registry, "http_requests_total", 'method="GET",route="/ok",status="200"'), 1);
    // undefined is the documented "no route", not a failure.
    assert.equal(errorCount(registry), 8);
  });

  it('instrumentFetch() records "unmatched" and counts the failure when the registry refuses the route label value', async () => {
    const registry = new Registry();
    const long = "/" + "x".repeat(5000);
    const handler = instrumentFetch(() => new Response("app"), { registry, routes: () => long });
    const response = await handler(new Request("http://localhost/x"));
    assert.equal(await response.text(), "app");
    assert.equal(sample(registry, "http_requests_total", 'method="GET",route="unmatched",status="200"'), 1);
    assert.equal(
      sample(registry, "http_request_duration_seconds_count", 'method="GET",route="unmatched",status="200"'),
      1,
    );
    assert.equal(errorCount(registry), 1);
    assert.ok(!registry.render().includes("xxxxxxxx"));
  });

  it("instrumentFetch() answers with the app's response when every recording throws", async () => {
    const handler = instrumentFetch(() => new Response("app", { status: 201 }), {
      registry: throwingRegistry(),
      routes: () => "/r",
    });
    const response = await handler(new Request("http://localhost/r"));
    assert.equal(response.status, 201);
    assert.equal(await response.text(), "app");
  });

  it("instrumentFetch() rethrows the app's own error even when recording throws", async () => {
    const handler = instrumentFetch(() => {
      throw new Error("app broke");
    }, { registry: throwingRegistry() });
    await assert.rejects(handler(new Request("http://localhost/r")), /app broke/);
  });

  it("instrumentFetch() leaves the registry usable after 700 requests with 8 KB random paths", async () => {
    for (const routes of [undefined, "path" as const]) {
      const registry = new Registry({ maxSeries: 10_000 });
      const handler = instrumentFetch(
        (request) => new Response("no", { status: new URL(request.url).pathname === "/" ? 200 : 404 }),
        routes === undefined ? { registry } : { registry, routes },
      );
      for (let index = 0; index < 700; index++) {
        const response = await handler(new Request(`http://localhost${randomPath(8192)}`));
        assert.equal(response.status, 404);
      }
      assert.ok(routeValues(registry).size <= 102, `${routeValues(registry).size} route values`);
      for (const route of routeValues(registry)) assert.ok(route.length <= 1024, `route of ${route.length} characters`);
      const later = registry.counter({ name: "later_total", help: "Registered after the flood.", labelNames: ["k"] });
      for (let index = 0; index < 50; index++) later.inc({ k: `v${index}` });
      assert.equal(sample(registry, "later_total", 'k="v49"'), 1);
      await handler(new Request("http://localhost/"));
      const known = routes === undefined ? "unmatched" : "/";
      assert.equal(
        sample(registry, "http_requests_total", `method="GET",route="${known}",status="200"`),
        1,
        String(routes),
      );
    }
  });
});

describe("instrumentNodeListener()", () => {
  it('instrumentNodeListener() records "unmatched" and throws nothing from "finish" when routes() returns a non-string or throws', () => {
    const registry = new Registry();
    const answers: unknown[] = [null, 404, "throw", undefined];
    let next = 0;
    const listener = instrumentNodeListener((_request: { url?: string }, response: FakeResponse) => {
      response.statusCode = 404;
      response.end();
    }, {
      registry,
      routes: () => {
        const answer = answers[next++];
        if (answer === "throw") throw new Error("route table broke");
        return answer as string | undefined;
      },
    });
    for (let index = 0; index < answers.length; index++) listener({ url: "/nowhere" }, new FakeResponse());
    assert.equal(sample(registry, "http_requests_total", 'method="GET",route="unmatched",status="404"'), 4);
    assert.equal(errorCount(registry), 3);
  });

  it('instrumentNodeListener() throws nothing from "finish" when every recording throws or the method is not a string', () => {
    const listener = instrumentNodeListener((_request: { method?: string }, response: FakeResponse) => {
      response.end();
    }, { registry: throwingRegistry() });
    listener({ method: "GET" }, new FakeResponse());
    const registry = new Registry();
    const other = instrumentNodeListener((_request: { method?: string }, response: FakeResponse) => {
      response.end();
    }, { registry });
    other({ method: 7 as unknown as string }, new FakeResponse());
    assert.equal(sample(registry, "http_requests_total", 'method="other",route="unmatched",status="200"'), 1);
  });

  it('instrumentNodeListener() with routes "path" records method, path and the status when the response finishes', () => {
    const registry = new Registry();
    const listener = instrumentNodeListener((request: { method?: string; url?: string }, response: FakeResponse) => {
      response.statusCode = request.url === "/teapot?x=1" ? 418 : 200;
      response.end();
    }, { registry, routes: "path" });
    listener({ method: "get", url: "/teapot?x=1" }, new FakeResponse());
    listener({ method: "DELETE", url: "http://example.com/thing#frag" }, new FakeResponse());
    assert.equal(sample(registry, "http_requests_total", 'method="GET",route="/teapot",status="418"'), 1);
    assert.equal(sample(registry, "http_requests_total", 'method="DELETE",route="/thing",status="200"'), 1);
    assert.equal(
      sample(registry, "http_request_duration_seconds_count", 'method="GET",route="/teapot",status="418"'),
      1,
    );
  });

  it("instrumentNodeListener() records nothing until the response finishes, then once", () => {
    const registry = new Registry();
    let pending: FakeResponse | undefined;
    const listener = instrumentNodeListener((_request: { url?: string }, response: FakeResponse) => {
      pending = response;
    }, { registry, routes: () => "/slow" });
    listener({ url: "/slow" }, new FakeResponse());
    assert.equal(sample(registry, "http_requests_total", 'method="GET",route="/slow",status="200"'), undefined);
    pending?.end();
    assert.equal(sample(registry, "http_requests_total", 'method="GET",route="/slow",status="200"'), 1);
  });
});

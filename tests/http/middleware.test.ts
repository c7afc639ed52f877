import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "../../src/registry.ts";
import { instrumentFetch, instrumentNodeListener } from "../../src/http/middleware.ts";

function sample(registry: Registry, name: string, labels: string): number | undefined {
  const line = registry.render().split("\n").find((text) => text.startsWith(`${name}{${labels}} `));
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
  it("instrumentFetch() counts requests and observes durations by method, route and status", async () => {
    const registry = new Registry();
    const handler = instrumentFetch(
      (request) => new Response("x", { status: new URL(request.url).pathname === "/missing" ? 404 : 200 }),
      { registry },
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
    const handler = instrumentFetch(() => new Response("ok"), { registry, maxRoutes: 2 });
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
    }, { registry });
    await assert.rejects(handler(new Request("http://localhost/x")), /handler broke/);
    assert.equal(sample(registry, "http_requests_total", 'method="GET",route="/x",status="500"'), 1);
  });

  it("instrumentFetch() records a non-standard method as 'other'", async () => {
    const registry = new Registry();
    const handler = instrumentFetch(() => new Response("ok"), { registry });
    await handler(new Request("http://localhost/x", { method: "PROPFIND" }));
    assert.equal(sample(registry, "http_requests_total", 'method="other",route="/x",status="200"'), 1);
  });

  it("instrumentFetch() shares its metrics between two instrumented handlers on one registry", async () => {
    const registry = new Registry();
    const first = instrumentFetch(() => new Response("1"), { registry });
    const second = instrumentFetch(() => new Response("2"), { registry });
    await first(new Request("http://localhost/a"));
    await second(new Request("http://localhost/a"));
    assert.equal(sample(registry, "http_requests_total", 'method="GET",route="/a",status="200"'), 2);
  });

  it("instrumentFetch() throws on a maxRoutes that is not a positive integer", () => {
    const registry = new Registry();
    assert.throws(() => instrumentFetch(() => new Response(), { registry, maxRoutes: 0 }), /Option "maxRoutes"/);
    assert.throws(() => instrumentFetch(() => new Response(), { registry, maxRoutes: 1.5 }), /Option "maxRoutes"/);
  });
});

describe("instrumentNodeListener()", () => {
  it("instrumentNodeListener() records method, path route and the status when the response finishes", () => {
    const registry = new Registry();
    const listener = instrumentNodeListener((request: { method?: string; url?: string }, response: FakeResponse) => {
      response.statusCode = request.url === "/teapot?x=1" ? 418 : 200;
      response.end();
    }, { registry });
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

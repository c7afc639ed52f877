// pushToGateway() against a small in-process HTTP server that records each request and reads
// its path the way the Pushgateway 1.5 does (handler/push.go: the path is percent-decoded, then
// split at "/"; a name ending in "@base64" marks a base64url value). The real Pushgateway and
// Prometheus are in tests/e2e/pushgateway.test.ts. Runs under Node, Deno and Bun.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import fc from "fast-check";
import { Registry } from "../../src/registry.ts";
import { PushgatewayError, pushToGateway, type PushToGatewayOptions } from "../../src/push/pushgateway.ts";

const TEXT = "text/plain; version=0.0.4; charset=utf-8";

interface Received {
  method: string;
  /** The path as sent, still percent-encoded. */
  rawPath: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** How the fake gateway answers a request; by default 200 with an empty body. */
type Answer = (request: Received, response: ServerResponse) => void;

interface FakeGateway {
  url: string;
  received: Received[];
  /** Resolves when the server saw the client close the connection of an unfinished answer. */
  abandoned: Promise<void>;
  close(): Promise<void>;
}

async function startGateway(answer: Answer = (_request, response) => response.end()): Promise<FakeGateway> {
  const received: Received[] = [];
  const sockets = new Set<Socket>();
  let onAbandoned!: () => void;
  const abandoned = new Promise<void>((resolve) => (onAbandoned = resolve));
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const record: Received = {
        method: request.method ?? "",
        rawPath: request.url ?? "",
        headers: request.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      received.push(record);
      response.on("close", () => {
        if (!response.writableFinished) onAbandoned();
      });
      response.setHeader("connection", "close");
      answer(record, response);
    });
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("No port for the fake gateway");
  return {
    url: `http://127.0.0.1:${address.port}`,
    received,
    abandoned,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Runs `test` against a fresh fake gateway and closes it afterwards. */
async function withGateway(answer: Answer | undefined, test: (gateway: FakeGateway) => Promise<void>): Promise<void> {
  const gateway = await startGateway(answer);
  try {
    await test(gateway);
  } finally {
    await gateway.close();
  }
}

function decodeBase64url(value: string): string {
  const binary = atob(value.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/"));
  return new TextDecoder().decode(Uint8Array.from(binary, (char) => char.charCodeAt(0)));
}

/** The grouping key the Pushgateway reads from a push path (its handler/push.go, splitLabels). */
function groupingKey(rawPath: string): Record<string, string> {
  const path = decodeURIComponent(rawPath);
  const match = /^\/metrics\/job(@base64)?\/([^/]+)(\/.*)?$/s.exec(path);
  assert.ok(match, `not a push path: ${path}`);
  const job = match[1] === undefined ? match[2]! : decodeBase64url(match[2]!);
  const key: Record<string, string> = {};
  const parts = match[3] === undefined ? [] : match[3].slice(1).split("/");
  assert.equal(parts.length % 2, 0, `odd number of components in ${path}`);
  for (let i = 0; i < parts.length; i += 2) {
    const name = parts[i]!;
    const plain = name.replace(/@base64$/, "");
    assert.match(plain, /^[a-zA-Z_][a-zA-Z0-9_]*$/, `improper label name in ${path}`);
    key[plain] = plain === name ? parts[i + 1]! : decodeBase64url(parts[i + 1]!);
  }
  key.job = job; // as the Pushgateway does: the job wins
  return key;
}

function batchRegistry(): Registry {
  const registry = new Registry({ selfMetrics: false });
  registry.counter({ name: "batch_records_total", help: "Records.", labelNames: ["kind"] as const }).inc(
    { kind: "a" },
    3,
  );
  registry.gauge({ name: "batch_last_success_seconds", help: "Last success." }).set(1700000000);
  return registry;
}

/** A free loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const gateway = await startGateway();
  await gateway.close();
  return Number(new URL(gateway.url).port);
}

describe("pushToGateway()", () => {
  it("pushToGateway() PUTs the registry's Prometheus text 0.0.4 to /metrics/job/<job> with its content type", async () => {
    await withGateway(undefined, async (gateway) => {
      const registry = batchRegistry();
      await pushToGateway({ url: gateway.url, job: "batch", registry });
      assert.equal(gateway.received.length, 1);
      const [request] = gateway.received;
      assert.equal(request!.method, "PUT");
      assert.equal(request!.rawPath, "/metrics/job/batch");
      assert.equal(request!.headers["content-type"], TEXT);
      assert.equal(request!.body, registry.render("prometheus"));
      assert.match(request!.body, /batch_records_total\{kind="a"\} 3/);
    });
  });

  it('pushToGateway() with method "POST" sends the same body with POST', async () => {
    await withGateway(undefined, async (gateway) => {
      const registry = batchRegistry();
      await pushToGateway({ url: gateway.url, job: "batch", registry, method: "POST" });
      assert.equal(gateway.received[0]!.method, "POST");
      assert.equal(gateway.received[0]!.body, registry.render("prometheus"));
    });
  });

  it('pushToGateway() with method "DELETE" sends no body and needs no registry', async () => {
    await withGateway((_request, response) => {
      response.statusCode = 202;
      response.end();
    }, async (gateway) => {
      await pushToGateway({ url: gateway.url, job: "batch", groupings: { instance: "a" }, method: "DELETE" });
      const [request] = gateway.received;
      assert.equal(request!.method, "DELETE");
      assert.equal(request!.rawPath, "/metrics/job/batch/instance/a");
      assert.equal(request!.body, "");
      assert.equal(request!.headers["content-type"], undefined);
    });
  });

  it('pushToGateway() with method "DELETE" runs no collect hook of a registry it is given', async () => {
    await withGateway(undefined, async (gateway) => {
      const registry = batchRegistry();
      let hooks = 0;
      registry.beforeCollect(() => void hooks++);
      await pushToGateway({ url: gateway.url, job: "batch", registry, method: "DELETE" });
      assert.equal(hooks, 0);
      assert.equal(gateway.received[0]!.body, "");
    });
  });

  it("pushToGateway() writes grouping labels as /<name>/<value> pairs after the job, URI-encoding plain values", async () => {
    await withGateway(undefined, async (gateway) => {
      await pushToGateway({
        url: gateway.url,
        job: "batch job",
        groupings: { instance: "host 1", name: "Προμηθεύς", query: "a?b#c%d" },
        registry: batchRegistry(),
      });
      const { rawPath } = gateway.received[0]!;
      assert.equal(
        rawPath,
        "/metrics/job/batch%20job/instance/host%201/name/%CE%A0%CF%81%CE%BF%CE%BC%CE%B7%CE%B8%CE%B5%CF%8D%CF%82" +
          "/query/a%3Fb%23c%25d",
      );
      assert.deepEqual(groupingKey(rawPath), {
        job: "batch job",
        instance: "host 1",
        name: "Προμηθεύς",
        query: "a?b#c%d",
      });
    });
  });

  it("pushToGateway() sends a grouping value with / as <name>@base64/<base64url>, as the Pushgateway README's /var/tmp example", async () => {
    await withGateway(undefined, async (gateway) => {
      await pushToGateway({
        url: gateway.url,
        job: "directory_cleaner",
        groupings: { path: "/var/tmp" },
        registry: batchRegistry(),
      });
      assert.equal(gateway.received[0]!.rawPath, "/metrics/job/directory_cleaner/path@base64/L3Zhci90bXA");
    });
  });

  it("pushToGateway() sends an empty grouping value as <name>@base64/=, as the Pushgateway README asks", async () => {
    await withGateway(undefined, async (gateway) => {
      await pushToGateway({
        url: gateway.url,
        job: "example",
        groupings: { first_label: "", second_label: "foobar" },
        registry: batchRegistry(),
      });
      assert.equal(gateway.received[0]!.rawPath, "/metrics/job/example/first_label@base64/=/second_label/foobar");
    });
  });

  it("pushToGateway() sends a job with / as job@base64, and the values . and .. (dot segments to a URL) in base64", async () => {
    await withGateway(undefined, async (gateway) => {
      await pushToGateway({
        url: gateway.url,
        job: "jobs/nightly",
        groupings: { here: ".", up: ".." },
        registry: batchRegistry(),
      });
      const { rawPath } = gateway.received[0]!;
      assert.equal(rawPath, "/metrics/job@base64/am9icy9uaWdodGx5/here@base64/Lg/up@base64/Li4");
      assert.deepEqual(groupingKey(rawPath), { job: "jobs/nightly", here: ".", up: ".." });
    });
  });

  it("pushToGateway() sends any job and grouping values so that the Pushgateway's decoding gives them back", async () => {
    const value = fc.oneof(
      fc.string({ unit: "binary", maxLength: 12 }),
      fc.constantFrom("", ".", "..", "/", "//", "%2F", "%2e%2e", "a/../b", "=", "@base64", "\\", " ", "+", "?#"),
    );
    const name = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,8}$/).filter((n) => n !== "job" && !n.startsWith("__"));
    await withGateway(undefined, async (gateway) => {
      await fc.assert(
        fc.asyncProperty(
          value.filter((job) => job !== ""),
          fc.dictionary(name, value, { maxKeys: 4 }),
          async (job, groupings) => {
            gateway.received.length = 0;
            await pushToGateway({ url: gateway.url, job, groupings, method: "DELETE" });
            assert.deepEqual(groupingKey(gateway.received[0]!.rawPath), { ...groupings, job });
          },
        ),
        { numRuns: 150 },
      );
    });
  });

  it("pushToGateway() appends the push path to a url with a path prefix, with or without a trailing slash", async () => {
    await withGateway(undefined, async (gateway) => {
      await pushToGateway({ url: `${gateway.url}/gateway`, job: "a", method: "DELETE" });
      await pushToGateway({ url: new URL(`${gateway.url}/gateway/`), job: "b", method: "DELETE" });
      assert.deepEqual(gateway.received.map((request) => request.rawPath), [
        "/gateway/metrics/job/a",
        "/gateway/metrics/job/b",
      ]);
    });
  });

  it("pushToGateway() sends the headers option and keeps its own content type", async () => {
    await withGateway(undefined, async (gateway) => {
      await pushToGateway({
        url: gateway.url,
        job: "batch",
        registry: batchRegistry(),
        headers: { authorization: "Bearer token", "content-type": "application/json", "x-team": "data" },
      });
      const { headers } = gateway.received[0]!;
      assert.equal(headers.authorization, "Bearer token");
      assert.equal(headers["x-team"], "data");
      assert.equal(headers["content-type"], TEXT);
    });
  });

  it("pushToGateway() sends user:password in the url as basic authentication and leaves it out of the URL", async () => {
    await withGateway(undefined, async (gateway) => {
      const url = new URL(gateway.url);
      url.username = "pusher";
      url.password = "sécret:1";
      await pushToGateway({ url, job: "batch", method: "DELETE" });
      const { headers, rawPath } = gateway.received[0]!;
      assert.equal(headers.authorization, `Basic ${Buffer.from("pusher:sécret:1").toString("base64")}`);
      assert.equal(rawPath, "/metrics/job/batch");
    });
  });

  it("pushToGateway() runs the registry's async collect hooks before the push", async () => {
    await withGateway(undefined, async (gateway) => {
      const registry = new Registry({ selfMetrics: false });
      registry.gauge({
        name: "queue_depth",
        help: "Items waiting.",
        collect: async (gauge) => gauge.set(await new Promise<number>((resolve) => setTimeout(() => resolve(7), 20))),
      });
      await pushToGateway({ url: gateway.url, job: "batch", registry });
      assert.match(gateway.received[0]!.body, /^queue_depth 7$/m);
    });
  });

  it("pushToGateway() streams a registry's exposition (stream) instead of rendering it to a string", async () => {
    await withGateway(undefined, async (gateway) => {
      const registry = batchRegistry();
      const expected = registry.render("prometheus");
      const formats: string[] = [];
      const source = {
        render(): string {
          throw new Error("render() called");
        },
        collectAsync: (options: { deadlineMs?: number }) => registry.collectAsync(options),
        stream(format: "prometheus"): ReadableStream<Uint8Array> {
          formats.push(format);
          return registry.stream(format);
        },
      };
      await pushToGateway({ url: gateway.url, job: "batch", registry: source });
      assert.deepEqual(formats, ["prometheus"]);
      assert.equal(gateway.received[0]!.headers["transfer-encoding"], "chunked");
      assert.equal(gateway.received[0]!.body, expected);
    });
  });

  it("pushToGateway() sends render() of a source that cannot stream", async () => {
    await withGateway(undefined, async (gateway) => {
      await pushToGateway({ url: gateway.url, job: "batch", registry: { render: () => "up 1\n" } });
      assert.equal(gateway.received[0]!.body, "up 1\n");
      assert.equal(gateway.received[0]!.headers["content-length"], "5");
    });
  });

  it("pushToGateway() rejects with a PushgatewayError naming the status and quoting the gateway's answer", async () => {
    const explanation =
      'pushed metrics are invalid or inconsistent with existing metrics: collected metric "x" is a gauge';
    await withGateway((_request, response) => {
      response.statusCode = 400;
      response.end(`${explanation}\n`);
    }, async (gateway) => {
      const push = pushToGateway({ url: gateway.url, job: "batch", registry: batchRegistry() });
      await assert.rejects(push, (error: unknown) => {
        assert.ok(error instanceof PushgatewayError);
        assert.equal(error.status, 400);
        assert.equal(error.body, explanation);
        assert.equal(
          error.message,
          `Pushgateway answered 400 Bad Request to PUT ${gateway.url}/metrics/job/batch: ${explanation}`,
        );
        return true;
      });
    });
  });

  it("pushToGateway() quotes at most 512 bytes of an endless error answer and stops reading it", async () => {
    let written = 0;
    await withGateway((_request, response) => {
      response.statusCode = 500;
      const chunk = "e".repeat(16 * 1024);
      const write = (): void => {
        if (response.destroyed || written > 64 * 1024 * 1024) {
          response.end();
          return;
        }
        written += chunk.length;
        response.write(chunk, () => setTimeout(write, 1));
      };
      write();
    }, async (gateway) => {
      await assert.rejects(
        pushToGateway({ url: gateway.url, job: "batch", registry: batchRegistry() }),
        (error: unknown) => {
          assert.ok(error instanceof PushgatewayError);
          assert.equal(error.status, 500);
          assert.equal(error.body, "e".repeat(512));
          assert.ok(error.message.length < 700, error.message);
          return true;
        },
      );
      await gateway.abandoned;
      assert.ok(written < 64 * 1024 * 1024, `the whole answer was read: ${written} bytes`);
    });
  });

  it("pushToGateway() rejects naming the timeout when the gateway does not answer in time", async () => {
    await withGateway(() => {/* never answers */}, async (gateway) => {
      const started = Date.now();
      await assert.rejects(
        pushToGateway({ url: gateway.url, job: "batch", registry: batchRegistry(), timeout: 200 }),
        new RegExp(
          `^Error: pushToGateway\\(\\) PUT ${gateway.url}/metrics/job/batch timed out after 200 ms \\(option timeout\\)$`,
        ),
      );
      assert.ok(Date.now() - started < 5_000);
    });
  });

  it("pushToGateway() waits for a collect hook that never settles half the timeout, then pushes the last values", async () => {
    await withGateway(undefined, async (gateway) => {
      const registry = new Registry();
      const depth = registry.gauge({ name: "queue_depth", help: "Items waiting." });
      depth.set(4);
      registry.beforeCollect(() => new Promise<void>(() => {}));
      const started = Date.now();
      await pushToGateway({ url: gateway.url, job: "batch", registry, timeout: 400 });
      assert.ok(Date.now() - started >= 190, `pushed after ${Date.now() - started} ms`);
      assert.match(gateway.received[0]!.body, /^queue_depth 4$/m);
      assert.match(gateway.received[0]!.body, /^atomic_metrics_collect_timeouts_total\{metric="beforeCollect"\} 1$/m);
    });
  });

  it("pushToGateway() does not follow a redirect: it rejects naming the 3xx status and the location", async () => {
    await withGateway((_request, response) => {
      response.writeHead(301, { location: "/elsewhere" });
      response.end();
    }, async (gateway) => {
      await assert.rejects(
        pushToGateway({ url: gateway.url, job: "batch", registry: batchRegistry() }),
        (error: unknown) => {
          assert.ok(error instanceof PushgatewayError);
          assert.equal(error.status, 301);
          assert.match(
            error.message,
            /^Pushgateway answered 301 Moved Permanently to PUT .*\(a redirect to \/elsewhere, not followed\)$/,
          );
          return true;
        },
      );
      assert.equal(gateway.received.length, 1);
    });
  });

  it("pushToGateway() rejects naming the method and URL when nothing listens there", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    await assert.rejects(
      pushToGateway({ url, job: "batch", registry: batchRegistry() }),
      (error: unknown) => {
        assert.ok(error instanceof Error && !(error instanceof PushgatewayError));
        assert.ok(error.message.startsWith(`pushToGateway() PUT ${url}/metrics/job/batch failed: `), error.message);
        return true;
      },
    );
  });

  it("pushToGateway() uses the fetch option instead of the global fetch", async () => {
    const calls: string[] = [];
    const fake: typeof fetch = (input, init) => {
      calls.push(`${init?.method} ${String(input)}`);
      return Promise.resolve(new Response(null, { status: 202 }));
    };
    await pushToGateway({ url: "http://gateway.invalid:9091", job: "batch", method: "DELETE", fetch: fake });
    assert.deepEqual(calls, ["DELETE http://gateway.invalid:9091/metrics/job/batch"]);
  });

  const base = { url: "http://127.0.0.1:9", job: "batch", registry: new Registry({ selfMetrics: false }) };
  const badOptions: [string, unknown, RegExp][] = [
    ["an empty job", { ...base, job: "" }, /^Error: pushToGateway\(\) option job must not be empty/],
    [
      "a job that is not a string",
      { ...base, job: 7 },
      /^TypeError: pushToGateway\(\) option job must be a string, got 7/,
    ],
    [
      "a missing job",
      { ...base, job: undefined },
      /^TypeError: pushToGateway\(\) option job must be a string, got undefined/,
    ],
    [
      "a grouping label name with a dash",
      { ...base, groupings: { "bad-name": "x" } },
      /^Error: pushToGateway\(\) option groupings has an invalid label name "bad-name"/,
    ],
    [
      "a grouping label name starting with __",
      { ...base, groupings: { __name__: "x" } },
      /^Error: pushToGateway\(\) option groupings has an invalid label name "__name__"/,
    ],
    [
      "a grouping label named job",
      { ...base, groupings: { job: "x" } },
      /must not have a "job" label: use the job option/,
    ],
    [
      "a grouping value that is not a string",
      { ...base, groupings: { instance: 1 } },
      /^TypeError: pushToGateway\(\) option groupings\.instance must be a string, got 1/,
    ],
    [
      "a grouping value with a lone surrogate",
      { ...base, groupings: { instance: "a\uD800" } },
      /option groupings\.instance has a lone surrogate/,
    ],
    ["groupings that are an array", { ...base, groupings: [] }, /option groupings must be an object .*got an array/],
    [
      "a url that is not a URL",
      { ...base, url: "pushgateway:9091/x y" },
      /^TypeError: pushToGateway\(\) option url must be an/,
    ],
    ["a relative url", { ...base, url: "/metrics" }, /option url must be an absolute http\(s\) URL, got "\/metrics"/],
    [
      "a url that is not http",
      { ...base, url: "ftp://gateway/" },
      /option url must be an http: or https: URL, got "ftp:\/\/gateway\/"/,
    ],
    ["the method GET", { ...base, method: "GET" }, /option method must be "PUT", "POST" or "DELETE", got "GET"/],
    ["a lower-case method", { ...base, method: "put" }, /option method must be "PUT", "POST" or "DELETE", got "put"/],
    [
      "a timeout of 0",
      { ...base, timeout: 0 },
      /^RangeError: pushToGateway\(\) option timeout must be a number .*got 0/,
    ],
    ["a timeout that is a string", { ...base, timeout: "100" }, /option timeout must be a number .*got "100"/],
    ["an infinite timeout", { ...base, timeout: Infinity }, /option timeout must be a number .*got Infinity/],
    [
      "a timeout setTimeout cannot wait",
      { ...base, timeout: 2 ** 31 },
      /option timeout must be a number .*at most 2147483647/,
    ],
    [
      "a PUT without a registry",
      { ...base, registry: undefined },
      /option registry is required for PUT, got undefined/,
    ],
    [
      "a POST without a registry",
      { ...base, method: "POST", registry: null },
      /option registry is required for POST, got null/,
    ],
    [
      "headers that are not headers",
      { ...base, headers: [["a"]] },
      /^TypeError: pushToGateway\(\) option headers is not valid/,
    ],
    ["no options", undefined, /^TypeError: pushToGateway\(\) expects an options object, got undefined/],
  ];
  for (const [what, options, message] of badOptions) {
    it(`pushToGateway() throws at once, before any request, for ${what}`, () => {
      let requests = 0;
      const fake: typeof fetch = () => {
        requests++;
        return Promise.resolve(new Response(null));
      };
      const withFetch = options === undefined ? undefined : { ...options as object, fetch: fake };
      assert.throws(() => pushToGateway(withFetch as PushToGatewayOptions), message);
      assert.equal(requests, 0);
    });
  }
});

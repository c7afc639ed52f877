// The one HTTP behaviour suite, run against every runtime adapter inside its
// own runtime (tests/http/node.test.ts, deno.test.ts, bun.test.ts), as
// crossws runs test/tests.ts against each of its adapters.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { Registry } from "../../src/registry.ts";
import type { MetricsHandlerOptions } from "../../src/http/handler.ts";

/** What each adapter's `serve` gives back, as far as the suite needs. */
export interface StartedServer {
  port: number;
  close(): Promise<void>;
}

/** An adapter's `serve`, narrowed to what the suite passes. */
export type Serve = (
  options: MetricsHandlerOptions & { registry: Registry; port: number; hostname: string },
) => Promise<StartedServer>;

/**
 * A registry whose render throws while `failing` is set, through a collect
 * hook as a user's broken callback would.
 */
export function failingRegistry(): { registry: Registry; failing: boolean } {
  const state = { registry: new Registry(), failing: false };
  state.registry.beforeCollect(() => {
    if (state.failing) throw new Error("collect callback failed");
  });
  return state;
}

/** Prometheus 2.42's scrape `Accept` header. */
export const PROMETHEUS_ACCEPT =
  "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

function knownRegistry(registry: Registry = new Registry()): Registry {
  const jobs = registry.counter({ name: "suite_jobs_total", help: "Jobs done.", labelNames: ["kind"] as const });
  jobs.inc({ kind: "a" }, 3);
  registry.gauge({ name: "suite_temperature_celsius", help: "Temperature." }).set(-4.5);
  return registry;
}

async function withServer(
  serve: Serve,
  options: MetricsHandlerOptions & { registry?: Registry },
  run: (base: string) => Promise<void>,
): Promise<void> {
  const { registry = knownRegistry(), ...handlerOptions } = options;
  const server = await serve({ registry, port: 0, hostname: "127.0.0.1", ...handlerOptions });
  try {
    await run(`http://127.0.0.1:${server.port}`);
  } finally {
    await server.close();
  }
}

async function get(url: string, headers: Record<string, string> = {}, method = "GET"): Promise<{
  status: number;
  headers: Headers;
  text: string;
}> {
  const response = await fetch(url, { method, headers });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/**
 * Sends raw bytes on a TCP connection and resolves with everything received
 * until the server closes it (or a second passes: a kept-alive answer).
 */
function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((done, fail) => {
    let answer = "";
    const socket = connect(port, "127.0.0.1", () => socket.write(bytes));
    const timer = setTimeout(() => socket.destroy(), 1000);
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (answer += chunk));
    socket.on("close", () => {
      clearTimeout(timer);
      done(answer);
    });
    socket.on("error", (error) => {
      clearTimeout(timer);
      if (answer === "") fail(error);
    });
  });
}

/** Replaces the console's output methods while `run` runs, and resolves with what they were given. */
async function consoleOutput(run: () => Promise<void>): Promise<unknown[][]> {
  const methods = ["error", "warn", "log", "info", "debug", "trace"] as const;
  const saved = methods.map((name) => console[name]);
  const calls: unknown[][] = [];
  for (const name of methods) console[name] = (...args: unknown[]) => void calls.push([name, ...args]);
  try {
    await run();
  } finally {
    methods.forEach((name, index) => (console[name] = saved[index] as typeof console.log));
  }
  return calls;
}

/**
 * Registers the HTTP behaviour suite for one adapter.
 *
 * @param runtime Name shown in the test names ("node", "deno", "bun").
 * @param serve The adapter's `serve`.
 */
export function httpSuite(runtime: string, serve: Serve): void {
  describe(`serve() on ${runtime}`, () => {
    it("serve() rejects a port that is not an integer in [0, 65535] or an empty hostname, naming the option", async () => {
      const registry = new Registry();
      for (const port of [-1, 65536, 1.5, "9090" as unknown as number]) {
        await assert.rejects(
          serve({ registry, port, hostname: "127.0.0.1" }),
          /Option "port" must be an integer in \[0, 65535\]/,
        );
      }
      await assert.rejects(serve({ registry, port: 0, hostname: "" }), /Option "hostname" must be a non-empty string/);
    });

    it("serve() answers text format 0.0.4 when Accept is absent", async () => {
      await withServer(serve, {}, async (base) => {
        const answer = await get(`${base}/metrics`, { "accept-encoding": "identity" });
        assert.equal(answer.status, 200);
        assert.equal(answer.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
        assert.match(answer.text, /^suite_jobs_total\{kind="a"\} 3$/m);
        assert.match(answer.text, /^suite_temperature_celsius -4\.5$/m);
        assert.doesNotMatch(answer.text, /# EOF/);
      });
    });

    it("serve() answers OpenMetrics 1.0.0 to Prometheus' Accept header", async () => {
      await withServer(serve, {}, async (base) => {
        const answer = await get(`${base}/metrics`, { accept: PROMETHEUS_ACCEPT });
        assert.equal(answer.status, 200);
        assert.equal(answer.headers.get("content-type"), "application/openmetrics-text; version=1.0.0; charset=utf-8");
        assert.match(answer.text, /^suite_jobs_total\{kind="a"\} 3$/m);
        assert.ok(answer.text.endsWith("# EOF\n"), "OpenMetrics ends with # EOF");
      });
    });

    it("serve() follows q-values: text preferred over OpenMetrics gets text", async () => {
      await withServer(serve, {}, async (base) => {
        const answer = await get(`${base}/metrics`, {
          accept: "application/openmetrics-text;version=1.0.0;q=0.2, text/plain;version=0.0.4;q=0.9",
        });
        assert.equal(answer.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
      });
    });

    it("serve() gzips when Accept-Encoding allows it and not when gzip;q=0", async () => {
      await withServer(serve, {}, async (base) => {
        const zipped = await get(`${base}/metrics`, { "accept-encoding": "gzip" });
        assert.equal(zipped.status, 200);
        assert.equal(zipped.headers.get("content-encoding"), "gzip");
        assert.match(zipped.text, /^suite_jobs_total\{kind="a"\} 3$/m);
        const plain = await get(`${base}/metrics`, { "accept-encoding": "gzip;q=0, identity" });
        assert.equal(plain.headers.get("content-encoding"), null);
        const known = (text: string): string[] => text.split("\n").filter((line) => line.startsWith("suite_"));
        assert.deepEqual(known(plain.text), known(zipped.text));
        assert.equal(known(plain.text).length, 2);
      });
    });

    it("serve() answers HEAD with the GET headers and no body", async () => {
      await withServer(serve, {}, async (base) => {
        const answer = await get(`${base}/metrics`, { "accept-encoding": "identity" }, "HEAD");
        assert.equal(answer.status, 200);
        assert.equal(answer.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
        assert.equal(answer.text, "");
      });
    });

    it("serve() answers 405 with Allow to POST on the metrics path", async () => {
      await withServer(serve, {}, async (base) => {
        const answer = await get(`${base}/metrics`, {}, "POST");
        assert.equal(answer.status, 405);
        assert.equal(answer.headers.get("allow"), "GET, HEAD");
      });
    });

    it("serve() answers 404 outside the metrics and health paths", async () => {
      await withServer(serve, {}, async (base) => {
        assert.equal((await get(`${base}/nothing-here`)).status, 404);
        assert.equal((await get(`${base}/metrics/extra`)).status, 404);
      });
    });

    it("serve() answers the health path with JSON status, uptime and readiness", async () => {
      await withServer(serve, { healthPath: "/healthz" }, async (base) => {
        const answer = await get(`${base}/healthz`);
        assert.equal(answer.status, 200);
        assert.equal(answer.headers.get("content-type"), "application/json");
        const body = JSON.parse(answer.text) as { status: string; uptimeSeconds: number; ready: boolean };
        assert.equal(body.status, "ok");
        assert.equal(body.ready, true);
        assert.equal(typeof body.uptimeSeconds, "number");
        assert.ok(body.uptimeSeconds >= 0);
      });
    });

    it("serve() answers 503 on the health path while ready() is false", async () => {
      let ready = false;
      await withServer(serve, { ready: () => Promise.resolve(ready) }, async (base) => {
        const waiting = await get(`${base}/health`);
        assert.equal(waiting.status, 503);
        assert.deepEqual({ ...JSON.parse(waiting.text), uptimeSeconds: 0 }, {
          status: "unavailable",
          uptimeSeconds: 0,
          ready: false,
        });
        ready = true;
        assert.equal((await get(`${base}/health`)).status, 200);
      });
    });

    it("serve() with bearer auth answers 401 with WWW-Authenticate unless the token matches", async () => {
      await withServer(serve, { auth: { bearer: "s3cret" } }, async (base) => {
        const missing = await get(`${base}/metrics`);
        assert.equal(missing.status, 401);
        assert.match(missing.headers.get("www-authenticate") ?? "", /^Bearer /);
        assert.equal((await get(`${base}/metrics`, { authorization: "Bearer s3creT" })).status, 401);
        assert.equal((await get(`${base}/metrics`, { authorization: "Bearer s3cret2" })).status, 401);
        const allowed = await get(`${base}/metrics`, { authorization: "Bearer s3cret" });
        assert.equal(allowed.status, 200);
        assert.match(allowed.text, /suite_jobs_total/);
      });
    });

    it("serve() with basic auth answers 401 unless user and password match", async () => {
      await withServer(serve, { auth: { username: "prom", password: "pässword" } }, async (base) => {
        const encode = (text: string): string => btoa(String.fromCharCode(...new TextEncoder().encode(text)));
        const missing = await get(`${base}/metrics`);
        assert.equal(missing.status, 401);
        assert.match(missing.headers.get("www-authenticate") ?? "", /^Basic /);
        assert.equal((await get(`${base}/metrics`, { authorization: `Basic ${encode("prom:password")}` })).status, 401);
        assert.equal((await get(`${base}/metrics`, { authorization: `Basic ${encode("prom:pässword")}` })).status, 200);
        assert.equal((await get(`${base}/health`)).status, 200, "health stays open");
      });
    });

    it("serve() answers 200 when a collect hook throws, counts it, tells onError, and the metrics keep their values", async () => {
      const failing = failingRegistry();
      knownRegistry(failing.registry);
      const errors: unknown[] = [];
      await withServer(serve, { registry: failing.registry, onError: (e) => errors.push(e) }, async (base) => {
        failing.failing = true;
        const scraped = await get(`${base}/metrics`);
        assert.equal(scraped.status, 200);
        assert.match(scraped.text, /^atomic_metrics_collect_errors_total\{metric="beforeCollect"\} 1$/m);
        assert.match(scraped.text, /^suite_jobs_total\{kind="a"\} 3$/m);
        assert.match(String(errors[0]), /collect callback failed/);
      });
    });

    it("serve() answers 400 with a short plain body to a missing, empty or malformed Host, logging nothing", async () => {
      const heads = [
        "GET /metrics HTTP/1.1\r\n",
        "GET /metrics HTTP/1.1\r\nHost: a b\r\n",
        "GET /metrics HTTP/1.1\r\nHost: [::\r\n",
        "GET /metrics HTTP/1.1\r\nHost: \r\n",
        "GET /health HTTP/1.1\r\nHost: a b\r\n",
        "GET /metrics HTTP/1.0\r\n",
      ];
      const logged = await consoleOutput(async () => {
        await withServer(serve, { auth: { bearer: "s3cret" } }, async (base) => {
          const port = Number(new URL(base).port);
          for (const head of heads) {
            const answer = await rawExchange(port, `${head}Connection: close\r\n\r\n`);
            const split = answer.indexOf("\r\n\r\n");
            const body = split === -1 ? "" : answer.slice(split + 4);
            assert.match(answer, /^HTTP\/1\.[01] 400 /, JSON.stringify(head));
            assert.ok(body.length < 200, `${JSON.stringify(head)}: ${body.length} bytes of body`);
            assert.doesNotMatch(body, /[/\\<]/, `${JSON.stringify(head)}: ${JSON.stringify(body)}`);
          }
          const fine = await get(`${base}/metrics`, { authorization: "Bearer s3cret" });
          assert.equal(fine.status, 200, "the server keeps serving");
        });
      });
      assert.deepEqual(logged, []);
    });

    it("serve() answers a plain 500 and tells onError, logging nothing, when answering fails outside the render", async () => {
      const errors: unknown[] = [];
      // A render result whose encoding throws: the failure comes after render() returned.
      const broken = {
        toString: (): string => {
          throw new Error("/secret/source/path.ts failed");
        },
      };
      const registry = { render: () => broken as unknown as string } as unknown as Registry;
      const logged = await consoleOutput(async () => {
        await withServer(
          serve,
          { registry, selfMetrics: false, onError: (error) => errors.push(error) },
          async (base) => {
            const failed = await get(`${base}/metrics`);
            assert.equal(failed.status, 500);
            assert.ok(failed.text.length < 200, `${failed.text.length} bytes of body`);
            assert.doesNotMatch(failed.text, /secret|[/<]/);
            assert.equal((await get(`${base}/health`)).status, 200, "the server keeps serving");
          },
        );
      });
      assert.deepEqual(logged, []);
      assert.match(String(errors[0]), /secret/);
    });

    it("serve() answers 100 concurrent scrapes all with 200 and the known series", async () => {
      await withServer(serve, {}, async (base) => {
        const answers = await Promise.all(
          Array.from(
            { length: 100 },
            (_, index) =>
              get(`${base}/metrics`, index % 2 === 0 ? { accept: PROMETHEUS_ACCEPT } : { "accept-encoding": "gzip" }),
          ),
        );
        assert.deepEqual(answers.map((answer) => answer.status), Array.from({ length: 100 }, () => 200));
        for (const answer of answers) assert.match(answer.text, /^suite_jobs_total\{kind="a"\} 3$/m);
      });
    });
  });
}

// The streamed scrape through the real server of the runtime running the tests (Node, Deno or
// Bun): byte for byte the render in every content coding, rendered only as fast as the client
// reads, and never blocking the event loop for long.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { get, type IncomingMessage, request as httpRequest } from "node:http";
import { readFileSync } from "node:fs";
import * as zlib from "node:zlib";
import { Registry } from "../../src/registry.ts";
import { runtime, serve } from "./_runtime_serve.ts";
import { zlibCompressors } from "../../adapters/_zlib.ts";
import { ByteRenderer } from "../../src/exposition/_renderer.ts";

const next = ByteRenderer.prototype.next;
import type { StartedServer } from "./suite.ts";

const encoder = new TextEncoder();

/** A GET over node:http, without keep-alive or decompression; resolves once the headers came. */
function request(port: number, headers: Record<string, string>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path: "/metrics", agent: false, headers }, resolve).on("error", reject);
  });
}

/** The whole body of a response, as sent. */
function bodyOf(response: IncomingMessage): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    response.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    response.on("end", () => {
      const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
      let at = 0;
      for (const chunk of chunks) {
        bytes.set(chunk, at);
        at += chunk.byteLength;
      }
      resolve(bytes);
    });
    response.on("error", reject);
  });
}

const zstdDecompressSync = (zlib as unknown as { zstdDecompressSync?: (b: Uint8Array) => Uint8Array })
  .zstdDecompressSync;
const hasZstd = typeof (zlib as unknown as { createZstdCompress?: unknown }).createZstdCompress === "function";

function decode(bytes: Uint8Array, coding: string | undefined): Uint8Array {
  if (coding === undefined) return bytes;
  if (coding === "gzip") return new Uint8Array(zlib.gunzipSync(bytes));
  if (coding === "deflate") return new Uint8Array(zlib.inflateSync(bytes));
  if (coding === "zstd") return new Uint8Array(zstdDecompressSync!(bytes));
  throw new Error(`unexpected content coding ${coding}`);
}

function sameBytes(actual: Uint8Array, expected: Uint8Array): boolean {
  if (actual.byteLength !== expected.byteLength) return false;
  for (let i = 0; i < actual.byteLength; i++) if (actual[i] !== expected[i]) return false;
  return true;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * CPU time of the thread running JavaScript, in ms: Linux's per-thread schedstat (nanoseconds on
 * a CPU) where there is one, so compression threads and GC helpers do not count; else the
 * process's CPU time.
 */
function mainThreadCpuMs(): number {
  try {
    return Number(readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]) / 1e6;
  } catch {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  }
}

/**
 * Watches the event loop with a 1 ms interval. A gap counts as the shorter of the wall time and
 * the main thread's CPU time between two ticks: the loop blocked by our work burns CPU the whole
 * time, while a thread the OS does not schedule on a busy machine does not.
 */
function eventLoopProbe(): { stop(): { longestMs: number; wallMs: number; ticks: number } } {
  let last = performance.now();
  let lastCpu = mainThreadCpuMs();
  let longestMs = 0;
  let wallMs = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    const cpu = mainThreadCpuMs();
    longestMs = Math.max(longestMs, Math.min(now - last, cpu - lastCpu));
    wallMs = Math.max(wallMs, now - last);
    ticks++;
    last = now;
    lastCpu = cpu;
  }, 1);
  return {
    stop() {
      clearInterval(timer);
      return { longestMs, wallMs, ticks };
    },
  };
}

describe(`Streamed scrapes on ${runtime}`, () => {
  it(
    `serve() on ${runtime} answers byte for byte registry.render() in identity, gzip, deflate${
      hasZstd ? " and zstd" : ""
    }, in both formats`,
    async () => {
      const registry = new Registry({ maxSeries: 40_000 });
      const counter = registry.counter({ name: "coded_total", help: "Coded é.", labelNames: ["path"] as const });
      for (let i = 0; i < 30_000; i++) counter.inc({ path: `/${i}/` + 'é😀\\"'.repeat(i % 7) }, i * 0.5);
      const latency = registry.histogram({ name: "coded_seconds", help: "Latency.", labelNames: ["k"] as const });
      for (let i = 0; i < 500; i++) latency.observe({ k: String(i % 50) }, i / 100);
      const server = await serve({ registry, port: 0, hostname: "127.0.0.1", selfMetrics: false });
      try {
        for (const format of ["prometheus", "openmetrics"] as const) {
          const expected = encoder.encode(registry.render(format));
          const accept = format === "openmetrics" ? "application/openmetrics-text;version=1.0.0" : "text/plain";
          for (const coding of ["identity", "gzip", "deflate", "zstd"]) {
            const response = await request(server.port, { accept, "accept-encoding": coding });
            assert.equal(response.statusCode, 200);
            const sent = response.headers["content-encoding"];
            assert.equal(sent, coding === "identity" || (coding === "zstd" && !hasZstd) ? undefined : coding);
            const body = decode(await bodyOf(response), sent);
            assert.ok(
              sameBytes(body, expected),
              `${format} ${coding}: ${body.byteLength} bytes, expected ${expected.byteLength}`,
            );
          }
        }
      } finally {
        await server.close();
      }
    },
  );
});

/** Runs `run` and resolves with the uncaught exceptions it caused (waiting `settleMs` after it for late ones). */
async function uncaughtDuring(run: () => Promise<void>, settleMs = 300): Promise<unknown[]> {
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown): void => void uncaught.push(error);
  process.on("uncaughtException", onUncaught);
  try {
    await run();
    await sleep(settleMs);
  } finally {
    process.off("uncaughtException", onUncaught);
  }
  return uncaught;
}

describe(`Scrapes cut short on ${runtime}`, () => {
  it(`serve() on ${runtime} raises nothing and keeps serving when clients go away in the middle of compressed scrapes`, async () => {
    const registry = new Registry({ maxSeries: 100_000 });
    const counter = registry.counter({ name: "cut_total", help: "Cut.", labelNames: ["n"] as const });
    // Random values compress badly: the compressor is still producing when the client leaves.
    for (let i = 0; i < 60_000; i++) counter.inc({ n: String(i) }, Math.random());
    const server = await serve({ registry, port: 0, hostname: "127.0.0.1" });
    try {
      const codings = ["gzip", "deflate", ...(hasZstd ? ["zstd"] : [])];
      const uncaught = await uncaughtDuring(async () => {
        for (const coding of codings) {
          for (let i = 0; i < 3; i++) {
            await new Promise<void>((resolve, reject) => {
              const outgoing = httpRequest({
                host: "127.0.0.1",
                port: server.port,
                path: "/metrics",
                agent: false,
                headers: { "accept-encoding": coding },
              }, (response) => {
                response.once("data", () => {
                  outgoing.destroy();
                  resolve();
                });
              });
              outgoing.on("error", (error) => (outgoing.destroyed ? resolve() : reject(error)));
              outgoing.end();
            });
          }
        }
      });
      assert.deepEqual(uncaught.map(String), []);
      const whole = await request(server.port, { "accept-encoding": "gzip" });
      assert.match(new TextDecoder().decode(zlib.gunzipSync(await bodyOf(whole))), /^cut_total\{n="59999"\} /m);
    } finally {
      await server.close();
    }
  });

  it("zlibCompressors() compressors whose reader cancels mid-way raise nothing", async () => {
    const compressors = zlibCompressors();
    const random = new Uint8Array(256 * 1024).map(() => Math.floor(Math.random() * 256));
    const uncaught = await uncaughtDuring(async () => {
      for (const [coding, make] of Object.entries(compressors)) {
        const { readable, writable } = make(undefined);
        const writer = writable.getWriter();
        const reader = readable.getReader();
        const writes = [writer.write(random), writer.write(random), writer.write(random)];
        await reader.read();
        await reader.cancel(new Error(`${coding} reader went away`));
        await Promise.allSettled([...writes, writer.close()]);
      }
    });
    assert.deepEqual(uncaught.map(String), []);
  });
});

describe(`A large streamed scrape on ${runtime}`, () => {
  const SERIES = 200_000;
  const registry = new Registry({ maxSeries: SERIES + 100 });
  const counter = registry.counter({
    name: "large_requests_total",
    help: "Requests.",
    labelNames: ["route", "n"] as const,
  });
  let rendered = 0;
  let server: StartedServer | undefined;
  before(async () => {
    const routes = Array.from({ length: 97 }, (_, i) => `/api/v1/tenants/${i}/` + "items/".repeat(30));
    for (let i = 0; i < SERIES; i++) counter.inc({ route: routes[i % 97]!, n: String(i) }, i);
    // Counts the bytes the renderer writes (for any registry: this file's tests run one at a time).
    ByteRenderer.prototype.next = function (this: ByteRenderer, budget: number) {
      const chunks = next.call(this, budget);
      for (const chunk of chunks ?? []) rendered += chunk.byteLength;
      return chunks;
    };
    server = await serve({ registry, port: 0, hostname: "127.0.0.1" });
    // A first scrape, so the code is warm and what follows measures the steady state.
    await bodyOf(await request(server.port, { "accept-encoding": "identity" }));
  });
  after(async () => {
    ByteRenderer.prototype.next = next;
    await server?.close();
  });

  it(`serve() on ${runtime} renders a ${SERIES / 1000}k-series scrape only as fast as a slow client reads it, and the event loop keeps turning`, async () => {
    counter.inc({ route: "/new", n: "0" }); // a series born since the last scrape, as in a live process
    rendered = 0;
    const probe = eventLoopProbe();
    const response = await request(server!.port, { "accept-encoding": "identity" });
    let received = 0;
    let mostAhead = 0;
    const ended = new Promise<void>((resolve) => response.on("end", resolve));
    response.on("data", (chunk: Uint8Array) => {
      received += chunk.byteLength;
      mostAhead = Math.max(mostAhead, rendered - received);
    });
    // Read 2 MB, then stop reading until the render stands still.
    while (received < 2_000_000) await sleep(5);
    response.pause();
    let still = 0;
    for (let previous = -1, waited = 0; still < 3 && waited < 10_000; waited += 100) {
      await sleep(100);
      still = rendered === previous ? still + 1 : 0;
      previous = rendered;
    }
    const stalledAt = { rendered, received };
    assert.equal(still, 3, `the render never stood still while the client did not read (${rendered} bytes rendered)`);
    // Slowly, then at full speed, to the end.
    response.resume();
    for (let i = 0; i < 20; i++) {
      await sleep(10);
      response.pause();
      await sleep(10);
      response.resume();
    }
    await ended;
    const loop = probe.stop();
    const total = encoder.encode(registry.render()).byteLength;
    assert.ok(total > 40_000_000, `${total} bytes in the exposition`);
    assert.ok(received >= total - 2000, `received ${received} of about ${total} bytes`);
    // What the socket buffers (the kernel's, on both sides) and a few chunks can hold: far from the whole.
    const bound = 16 * 1024 * 1024;
    assert.ok(
      stalledAt.rendered - stalledAt.received <= bound,
      `${stalledAt.rendered} bytes rendered while the client had read ${stalledAt.received} and stopped`,
    );
    assert.ok(mostAhead <= bound, `the render ran up to ${mostAhead} bytes ahead of the client`);
    assert.ok(loop.ticks > 50, `${loop.ticks} ticks of a 1 ms interval during the scrape`);
    assert.ok(loop.longestMs <= 50, `the event loop stood still for ${loop.longestMs} ms (wall ${loop.wallMs} ms)`);
  });

  it(`serve() on ${runtime} keeps the event loop turning through a gzip scrape of ${SERIES / 1000}k series`, async () => {
    counter.inc({ route: "/new", n: "1" });
    const probe = eventLoopProbe();
    const response = await request(server!.port, { "accept-encoding": "gzip" });
    assert.equal(response.headers["content-encoding"], "gzip");
    const body = await bodyOf(response);
    const loop = probe.stop();
    const text = new TextDecoder().decode(zlib.gunzipSync(body));
    assert.match(text, /^large_requests_total\{route="\/new",n="1"\} 1$/m);
    assert.ok(loop.longestMs <= 50, `the event loop stood still for ${loop.longestMs} ms (wall ${loop.wallMs} ms)`);
  });
});

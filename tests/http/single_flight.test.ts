// One render for concurrent scrapers: scrapes of the same format, encoding and credentials that
// arrive while a render is in progress share its bytes; any other kind renders on its own.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Registry } from "../../src/registry.ts";
import { metricsHandler, type MetricsHandlerOptions } from "../../src/http/handler.ts";
import { SharedRender } from "../../src/http/_single_flight.ts";
import { zlibCompressors } from "../../adapters/_zlib.ts";
import { PROMETHEUS_ACCEPT } from "./suite.ts";
import { runtime, serve } from "./_runtime_serve.ts";

const decoder = new TextDecoder();

/** A registry whose collect hook waits at a gate the test opens, counting its calls. */
function gatedRegistry(series = 100): { registry: Registry; open(): void; calls(): number } {
  const registry = new Registry();
  const counter = registry.counter({ name: "flight_total", help: "Shared.", labelNames: ["n"] as const });
  for (let i = 0; i < series; i++) counter.inc({ n: String(i) }, i);
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let calls = 0;
  registry.beforeCollect(() => {
    calls++;
    return gate;
  });
  return { registry, open, calls: () => calls };
}

function renders(registry: Registry, format: "prometheus" | "openmetrics"): number {
  const metric = registry.get("atomic_metrics_scrape_renders_total") as { get(labels: object): number } | undefined;
  return metric?.get({ format }) ?? 0;
}

async function bytesOf(response: Response): Promise<Uint8Array> {
  return new Uint8Array(await response.arrayBuffer());
}

function request(headers: Record<string, string> = {}): Request {
  return new Request("http://localhost/metrics", { headers });
}

/** The body's text, decoded from its content coding. */
async function textOf(response: Response): Promise<string> {
  const coding = response.headers.get("content-encoding") as "gzip" | "deflate" | null;
  const body = coding === null ? response.body! : response.body!.pipeThrough(new DecompressionStream(coding));
  return await new Response(body).text();
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const tick = (): Promise<void> => sleep(5);

describe("metricsHandler() single flight", () => {
  it("metricsHandler() serves 8 concurrent scrapes of one kind from one render, with identical bodies", async () => {
    const { registry, open, calls } = gatedRegistry();
    const handler = metricsHandler(registry, { compressors: zlibCompressors() });
    for (const [format, accept] of [["prometheus", "text/plain"], ["openmetrics", PROMETHEUS_ACCEPT]] as const) {
      for (const encoding of ["identity", "gzip"]) {
        const before = renders(registry, format);
        const callsBefore = calls();
        const headers = { accept, "accept-encoding": encoding };
        const bodies = Promise.all(
          Array.from({ length: 8 }, async () => {
            const response = await handler(request(headers));
            assert.equal(response.headers.get("content-encoding"), encoding === "gzip" ? "gzip" : null);
            return bytesOf(response);
          }),
        );
        await tick();
        open();
        const all = await bodies;
        assert.equal(renders(registry, format) - before, 1, `${format} ${encoding}: one render for 8 scrapes`);
        assert.equal(calls() - callsBefore, 1, `${format} ${encoding}: the collect hook ran once`);
        for (const body of all) assert.deepEqual(body, all[0]);
        assert.ok(all[0]!.byteLength > 1000);
      }
    }
  });

  it("metricsHandler() starts a render of its own for a scrape with another Accept, Accept-Encoding or Authorization", async () => {
    const { registry, open, calls } = gatedRegistry();
    const handler = metricsHandler(registry, { compressors: zlibCompressors() });
    const base = { accept: "text/plain", "accept-encoding": "identity" };
    const kinds: Record<string, string>[] = [
      base,
      base,
      { ...base, accept: PROMETHEUS_ACCEPT },
      { ...base, "accept-encoding": "gzip" },
      { ...base, "accept-encoding": "deflate" },
      { ...base, authorization: "Bearer one" },
      { ...base, authorization: "Bearer two" },
      { ...base, authorization: "Bearer two" },
    ];
    const bodies = Promise.all(kinds.map(async (headers) => textOf(await handler(request(headers)))));
    await tick();
    open();
    const texts = await bodies;
    // base (2 scrapes), gzip, deflate, "Bearer one", "Bearer two" (2 scrapes): 5 text renders; 1 OpenMetrics.
    assert.equal(renders(registry, "prometheus"), 5);
    assert.equal(renders(registry, "openmetrics"), 1);
    assert.equal(calls(), 6);
    assert.equal(texts[0], texts[1]);
    assert.equal(texts[6], texts[7]);
    assert.ok(texts[2]!.endsWith("# EOF\n"));
    for (const text of texts) assert.match(text, /^flight_total\{n="99"\} 99$/m);
  });

  it("metricsHandler() with auth never shares a render between scrapes that send different credentials", async () => {
    const { registry, open } = gatedRegistry();
    const handler = metricsHandler(registry, { auth: { bearer: "s3cret" } });
    const answers = Promise.all(
      ["Bearer s3cret", "bearer s3cret", "Bearer  s3cret", "Bearer s3cret"].map(async (authorization) => {
        const response = await handler(request({ authorization }));
        assert.equal(response.status, 200);
        return response.text();
      }),
    );
    await tick();
    open();
    await answers;
    assert.equal(renders(registry, "prometheus"), 3);
  });

  it("metricsHandler() renders afresh for a scrape that arrives after the last render ended", async () => {
    const registry = new Registry();
    const counter = registry.counter({ name: "fresh_total", help: "Fresh." });
    const handler = metricsHandler(registry);
    counter.inc();
    const first = await (await handler(request())).text();
    counter.inc();
    const second = await (await handler(request())).text();
    assert.match(first, /^fresh_total 1$/m);
    assert.match(second, /^fresh_total 2$/m);
    assert.equal(renders(registry, "prometheus"), 2);
  });

  it("metricsHandler() lets a scrape join a render already streaming, from its first byte, and renders afresh once the render kept more than singleFlightBytes", async () => {
    const registry = new Registry({ maxSeries: 30_000 });
    const counter = registry.counter({ name: "wide_total", help: "Wide.", labelNames: ["n"] as const });
    for (let i = 0; i < 20_000; i++) counter.inc({ n: `${i}`.padStart(40, "x") }, i);
    const check = async (options: MetricsHandlerOptions, joins: boolean) => {
      const handler = metricsHandler(registry, options);
      const before = renders(registry, "prometheus");
      const first = (await handler(request())).body!.getReader();
      const head: Uint8Array[] = [];
      for (let read = 0; read < 200_000;) {
        const { value } = await first.read();
        head.push(value!);
        read += value!.byteLength;
      }
      const late = await handler(request());
      const lateText = await late.text();
      let firstText = head.map((chunk) => decoder.decode(chunk, { stream: true })).join("");
      for (let chunk = await first.read(); !chunk.done; chunk = await first.read()) {
        firstText += decoder.decode(chunk.value, { stream: true });
      }
      assert.ok(lateText.startsWith("# HELP "), "the late scrape reads from the first byte");
      assert.match(lateText, /^wide_total\{n="x+19999"\} 19999$/m);
      assert.equal(renders(registry, "prometheus") - before, joins ? 1 : 2);
      if (joins) assert.equal(lateText, firstText);
    };
    await check({}, true);
    await check({ singleFlightBytes: 100_000 }, false);
  });
});

describe("SharedRender", () => {
  it("SharedRender gives every reader the whole render, whatever the order they read in and the bytes kept", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 200 }),
        fc.integer({ min: 1, max: 5 }),
        async (count, keepBytes, schedule, readerCount) => {
          const chunks = Array.from({ length: count }, (_, i) => new Uint8Array(1 + (i * 37) % 900).fill(i));
          let at = 0;
          let ends = 0;
          const shared = new SharedRender(
            new ReadableStream<Uint8Array>({
              pull: (controller) => (at === count ? controller.close() : controller.enqueue(chunks[at++]!)),
            }, { highWaterMark: 0 }),
            keepBytes,
            () => void ends++,
          );
          // Readers join while the render still takes them; each reads in the scheduled turns.
          const readers: {
            reader: ReadableStreamDefaultReader<Uint8Array>;
            got: Uint8Array[];
            done: boolean;
            cut: boolean;
          }[] = [];
          const join = () => readers.push({ reader: shared.reader().getReader(), got: [], done: false, cut: false });
          // A reader that fell more than twice keepBytes behind another is cut off (an error): memory stays bounded.
          const read = async (r: (typeof readers)[number]) => {
            try {
              const { done, value } = await r.reader.read();
              if (done) r.done = true;
              else r.got.push(value);
            } catch {
              r.done = r.cut = true;
            }
          };
          join();
          for (const turn of schedule) {
            if (readers.length < readerCount && turn % 3 === 0 && shared.joinable) join();
            const r = readers[turn % readers.length]!;
            if (!r.done) await read(r);
          }
          for (const r of readers) {
            while (!r.done) await read(r);
            // Every reader got the render from its first byte: whole, or a prefix before it was cut off.
            if (r.cut) assert.deepEqual(r.got, chunks.slice(0, r.got.length));
            else assert.deepEqual(r.got, chunks);
          }
          assert.ok(readers.some((r) => !r.cut), "the front reader is never cut off");
          assert.equal(ends, 1);
          assert.equal(shared.joinable, false);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe(`serve() single flight on ${runtime}`, () => {
  it(`serve() on ${runtime} answers 8 concurrent scrapes of one kind with one render and identical bodies, and one with another Accept with its own`, async () => {
    const registry = new Registry({ maxSeries: 20_000 });
    const counter = registry.counter({ name: "flight_total", help: "Shared.", labelNames: ["n"] as const });
    for (let i = 0; i < 10_000; i++) counter.inc({ n: String(i) }, i);
    const scrapes = () =>
      (registry.get("atomic_metrics_scrapes_total") as { get(labels: object): number } | undefined)?.get({
        format: "prometheus",
      }) ?? 0;
    // The render waits until the 8 text scrapes have arrived (or 5 s), so they overlap whatever the load.
    let waiting = 0;
    registry.beforeCollect(async () => {
      waiting++;
      for (let waited = 0; scrapes() < 8 && waited < 5000; waited += 10) await sleep(10);
    });
    const server = await serve({ registry, port: 0, hostname: "127.0.0.1" });
    try {
      const base = `http://127.0.0.1:${server.port}/metrics`;
      const text = Array.from(
        { length: 8 },
        () => fetch(base, { headers: { "accept-encoding": "identity" } }).then((r) => r.text()),
      );
      const open = fetch(base, { headers: { accept: PROMETHEUS_ACCEPT, "accept-encoding": "identity" } }).then((r) =>
        r.text()
      );
      const bodies = await Promise.all(text);
      const openBody = await open;
      assert.equal(renders(registry, "prometheus"), 1, "one render for the 8 text scrapes");
      assert.equal(renders(registry, "openmetrics"), 1, "the OpenMetrics scrape rendered on its own");
      assert.equal(waiting, 2);
      for (const body of bodies) assert.equal(body, bodies[0]);
      assert.match(bodies[0]!, /^flight_total\{n="9999"\} 9999$/m);
      assert.match(bodies[0]!, /^atomic_metrics_scrapes_total\{format="prometheus"\} 8$/m);
      assert.ok(openBody.endsWith("# EOF\n"));
    } finally {
      await server.close();
    }
  });
});

describe("SharedRender bounds", () => {
  it("SharedRender holds at most about twice keepBytes when its readers go at different speeds: the slowest is cut off", async () => {
    let pulled = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled === 100) return controller.close();
        pulled++;
        controller.enqueue(new Uint8Array(65536));
      },
    }, { highWaterMark: 0 });
    const shared = new SharedRender(source, 1 << 20, () => {});
    const fast = shared.reader().getReader();
    const slow = shared.reader().getReader();
    await slow.read();
    let peak = 0;
    while (!(await fast.read()).done) peak = Math.max(peak, (shared as unknown as { held: number }).held);
    assert.ok(peak <= 2 * (1 << 20) + 65536, `held ${peak} bytes`);
    await assert.rejects(slow.read(), /fell too far behind/);
  });

  it("metricsHandler() forgets a render every reader of which went away: the next scrape of that kind renders anew", async () => {
    const registry = new Registry();
    registry.counter({ name: "c_total", help: "c" }).inc();
    const handler = metricsHandler(registry);
    for (let i = 0; i < 3; i++) {
      const reader = (await handler(request({ authorization: "Bearer x" }))).body!.getReader();
      await reader.read();
      await reader.cancel();
    }
    assert.equal(renders(registry, "prometheus"), 3, "each abandoned render was let go, so none was joined");
  });
});

// Registry.stream() and the handler's streamed answer are byte for byte registry.render(),
// whatever the slice length, the chunking and the content coding; and while workers record,
// every streamed scrape is a valid exposition with no counter going backwards.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as zlib from "node:zlib";
import fc from "fast-check";
import type { Registry } from "../../mod.ts";
import { type Compressors, metricsHandler } from "../../src/http/handler.ts";
import { zlibCompressors } from "../../adapters/_zlib.ts";
import { build, metric } from "./_random_registry.ts";
import { renderText } from "./_reference_text.ts";
import { parseExposition } from "../_parse.ts";
import { promtoolCheck } from "../_promtool.ts";
import { openMetricsCheck } from "../_openmetrics_judge.ts";
import { spawnWorker, type ThreadWorker } from "../threads/_spawn.ts";
import { PROMETHEUS_ACCEPT } from "../http/suite.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Many series with long label values of one (maybe multibyte) character: output across many
 * chunks. The registry gets room for them besides the random metrics' `maxSeries`.
 */
const bulk = fc.record({
  series: fc.integer({ min: 0, max: 2500 }),
  width: fc.integer({ min: 0, max: 150 }),
  character: fc.constantFrom("a", "é", "😀", '\\"', "\n"),
});

function withBulk(
  registry: Registry,
  { series, width, character }: typeof bulk extends fc.Arbitrary<infer T> ? T : never,
) {
  if (series === 0) return registry;
  const counter = registry.counter({ name: "bulk_total", help: "Bulk é.", labelNames: ["path"] as const });
  for (let i = 0; i < series; i++) counter.inc({ path: `${i}/` + character.repeat(width) }, i * 1.5);
  return registry;
}

/** Every byte of a stream, with the chunks it came in. */
async function readAll(stream: ReadableStream<Uint8Array>): Promise<{ bytes: Uint8Array; chunks: number }> {
  const parts: Uint8Array[] = [];
  let length = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    // Copied as a socket write would: a chunk's bytes must not change once it was handed out.
    parts.push(value.slice());
    length += value.byteLength;
  }
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.byteLength;
  }
  return { bytes, chunks: parts.length };
}

/** Cuts a byte stream into pieces of the given sizes, in turn. */
function rechunk(sizes: readonly number[]): TransformStream<Uint8Array, Uint8Array> {
  let k = 0;
  return new TransformStream({
    transform(chunk, controller) {
      for (let at = 0; at < chunk.byteLength;) {
        const size = sizes[k++ % sizes.length]!;
        controller.enqueue(chunk.slice(at, at + size));
        at += size;
      }
    },
  });
}

/** Asserts two byte strings are equal, naming the first differing offset and the text around it. */
function assertSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  const length = Math.min(actual.byteLength, expected.byteLength);
  let i = 0;
  while (i < length && actual[i] === expected[i]) i++;
  if (i === length && actual.byteLength === expected.byteLength) return;
  const around = (bytes: Uint8Array) => JSON.stringify(decoder.decode(bytes.subarray(Math.max(0, i - 40), i + 40)));
  assert.fail(
    `${what}: ${actual.byteLength} bytes, expected ${expected.byteLength}; first difference at ${i}: ` +
      `${around(actual)} vs ${around(expected)}`,
  );
}

type Coding = "identity" | "gzip" | "deflate" | "zstd";

/** The body decoded from its content coding (after cutting the coded bytes anew). */
async function decoded(
  body: ReadableStream<Uint8Array>,
  coding: Coding,
  sizes: readonly number[],
): Promise<Uint8Array> {
  const recut = body.pipeThrough(rechunk(sizes));
  if (coding === "identity") return (await readAll(recut)).bytes;
  if (coding === "zstd") {
    const unzstd = (zlib as unknown as { zstdDecompressSync: (bytes: Uint8Array) => Uint8Array }).zstdDecompressSync;
    return new Uint8Array(unzstd((await readAll(recut)).bytes));
  }
  return (await readAll(recut.pipeThrough(new DecompressionStream(coding) as unknown as TransformStream))).bytes;
}

const zlibs = zlibCompressors();
const web: Compressors = {}; // the handler's default: CompressionStream
const hasZstd = zlibs.zstd !== undefined;
const variants: { name: string; compressors: Compressors; coding: Coding }[] = [
  { name: "identity", compressors: zlibs, coding: "identity" },
  { name: "zlib gzip", compressors: zlibs, coding: "gzip" },
  { name: "zlib deflate", compressors: zlibs, coding: "deflate" },
  ...(hasZstd ? [{ name: "zlib zstd", compressors: zlibs, coding: "zstd" as const }] : []),
  { name: "CompressionStream gzip", compressors: web, coding: "gzip" },
  { name: "CompressionStream deflate", compressors: web, coding: "deflate" },
];

const formats = ["prometheus", "openmetrics"] as const;

describe("Registry.stream()", () => {
  it("Registry.stream() writes byte for byte registry.render(), in both formats, at any slice length", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(metric, { maxLength: 6 }),
        fc.integer({ min: 1, max: 30 }),
        bulk,
        fc.constantFrom(0, 0.001, 2, 1000),
        async (metrics, maxSeries, filler, sliceMs) => {
          const registry = withBulk(build(metrics, maxSeries + filler.series), filler);
          for (const format of formats) {
            const text = registry.render(format);
            // render() is itself the string renderer the byte renderer replaced, byte for byte.
            // deno-lint-ignore no-explicit-any
            assert.equal(text, renderText((registry as any).families(), format === "openmetrics"));
            const expected = encoder.encode(text);
            const { bytes, chunks } = await readAll(registry.stream(format, { sliceMs }));
            assertSameBytes(bytes, expected, `stream("${format}", { sliceMs: ${sliceMs} })`);
            assert.ok(chunks >= Math.ceil(expected.byteLength / 65536), `${chunks} chunks of at most 64 KiB`);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("metricsHandler() streamed answer", () => {
  it(
    `metricsHandler() answers byte for byte registry.render() in both formats, identity, gzip, deflate${
      hasZstd ? " and zstd" : ""
    } decoded, however the coded bytes are cut`,
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(metric, { maxLength: 6 }),
          fc.integer({ min: 1, max: 30 }),
          bulk,
          fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 4 }),
          fc.constantFrom(1, 65_536, 8 * 1024 * 1024),
          async (metrics, maxSeries, filler, sizes, singleFlightBytes) => {
            const registry = withBulk(build(metrics, maxSeries + filler.series), filler);
            for (const variant of variants) {
              const handler = metricsHandler(registry, {
                selfMetrics: false,
                compressors: variant.compressors,
                singleFlightBytes,
              });
              for (const format of formats) {
                const response = await handler(
                  new Request("http://localhost/metrics", {
                    headers: {
                      accept: format === "openmetrics" ? PROMETHEUS_ACCEPT : "text/plain",
                      "accept-encoding": variant.coding,
                    },
                  }),
                );
                assert.equal(response.status, 200);
                assert.equal(
                  response.headers.get("content-encoding"),
                  variant.coding === "identity" ? null : variant.coding,
                );
                const bytes = await decoded(response.body!, variant.coding, sizes);
                assertSameBytes(bytes, encoder.encode(registry.render(format)), `${variant.name} ${format}`);
              }
            }
          },
        ),
        { numRuns: 25 },
      );
    },
  );
});

/**
 * Checks one scrape taken while workers write: it parses strictly, shows each sample once, every
 * histogram's `+Inf` bucket equals its `_count`, and no counter, bucket or count is below its
 * value in `previous` (the values of the earlier scrapes, updated here).
 */
function checkScrape(text: string, om: boolean, previous: Map<string, number>, what: string): number {
  const families = parseExposition(text, om);
  const seen = new Set<string>();
  let samples = 0;
  for (const family of families.values()) {
    const counts = new Map<string, number>();
    for (const s of family.samples) {
      if (s.name.endsWith("_count")) counts.set(JSON.stringify(s.labels), s.value);
    }
    for (const s of family.samples) {
      samples++;
      const key = s.name + JSON.stringify(s.labels);
      assert.ok(!seen.has(key), `${what}: ${key} appears twice`);
      seen.add(key);
      if (family.type === "counter" || s.name.endsWith("_bucket") || s.name.endsWith("_count")) {
        const before = previous.get(key) ?? 0;
        assert.ok(s.value >= before, `${what}: ${key} went backwards: ${before} then ${s.value}`);
        previous.set(key, s.value);
      }
      if (family.type === "histogram" && s.labels.le === "+Inf") {
        const { le: _, ...rest } = s.labels;
        assert.equal(s.value, counts.get(JSON.stringify(rest)), `${what}: ${key} differs from its _count`);
      }
    }
  }
  return samples;
}

const WORKER = new URL("./_stream_worker.ts", import.meta.url);
const workers: ThreadWorker[] = [];
after(async () => {
  for (const worker of workers.splice(0)) await worker.terminate();
});

describe("Streamed scrapes while workers record", () => {
  it("metricsHandler() streams, while 3 workers record, scrapes that promtool and the strict OpenMetrics parser accept, with no counter lower than in the scrape before and +Inf equal to _count", async () => {
    workers.push(...await Promise.all([1, 2, 3].map(() => spawnWorker(WORKER))));
    const SERIES = 300;
    const registry = build([], 20_000);
    // Enough series that a scrape takes many slices, so the workers write between them.
    const filler = registry.counter({ name: "filler_total", help: "Filler.", labelNames: ["n"] as const });
    for (let i = 0; i < 10_000; i++) filler.inc({ n: String(i) }, i);
    const handle = registry.share();
    const stop = new SharedArrayBuffer(4);
    const recorded = Promise.all(
      workers.map((worker, i) => worker.run({ handle, stop, worker: i, series: SERIES }) as Promise<number>),
    );
    const handler = metricsHandler(registry, { compressors: zlibs });
    const scrapes: { text: string; om: boolean; coding: Coding }[] = [];
    const codings: Coding[] = ["identity", "gzip", ...(hasZstd ? ["zstd" as const] : [])];
    // Scrapes until at least 8 saw the workers recording.
    for (let midway = 0; midway < 8 && scrapes.length < 200;) {
      const om = scrapes.length % 2 === 1;
      const coding = codings[scrapes.length % codings.length]!;
      const response = await handler(
        new Request("http://localhost/metrics", {
          headers: { accept: om ? PROMETHEUS_ACCEPT : "text/plain", "accept-encoding": coding },
        }),
      );
      const text = decoder.decode(await decoded(response.body!, coding, [65_536]));
      scrapes.push({ text, om, coding });
      if (/^stream_latency_seconds_count\{k="0"\} [1-9]/m.test(text)) midway++;
    }
    Atomics.store(new Int32Array(stop), 0, 1);
    const made = (await recorded).reduce((a, b) => a + b, 0);
    const previous = new Map<string, number>();
    for (const [i, { text, om, coding }] of scrapes.entries()) {
      const what = `scrape ${i} (${om ? "OpenMetrics" : "0.0.4"}, ${coding})`;
      checkScrape(text, om, previous, what);
      const judged = om ? openMetricsCheck(text) : promtoolCheck(text);
      assert.ok(judged.ok, `${what}: ${judged.output.slice(0, 2000)}`);
    }
    // The last word: once the workers stopped, the totals are exact.
    const last = parseExposition(registry.render(), false);
    const total = (family: string, name: string) =>
      last.get(family)!.samples.filter((s) => s.name === name).reduce((n, s) => n + s.value, 0);
    assert.equal(total("stream_latency_seconds", "stream_latency_seconds_count"), made);
    assert.equal(total("stream_requests_total", "stream_requests_total"), made);
    assert.equal(total("stream_worker_total", "stream_worker_total"), made);
  });
});

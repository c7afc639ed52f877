// defaultMetrics() against prom-client 15's collectDefaultMetrics() in the same Node process: the
// same metric names, types and label names, and values that agree.
import assert from "node:assert/strict";
import { readFile } from "node:fs";
import { createServer } from "node:net";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, it } from "node:test";
import client from "prom-client";
import { defaultMetrics } from "../../adapters/default_metrics.ts";
import { Registry } from "../../src/registry.ts";
import { type ParsedFamily, parseExposition } from "../_parse.ts";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** prom-client separates families with blank lines, which the strict parser refuses. */
function parseProm(text: string): Map<string, ParsedFamily> {
  return parseExposition(text.split("\n").filter((line) => line !== "").join("\n") + "\n", false);
}

/** The label names a family's samples carry, together (`le` included). */
function labelNames(family: ParsedFamily): string[] {
  return [...new Set(family.samples.flatMap((s) => Object.keys(s.labels)))].sort();
}

function only(families: Map<string, ParsedFamily>, name: string): number {
  const samples = families.get(name)?.samples ?? [];
  assert.equal(samples.length, 1, `${name}: ${samples.length} samples`);
  return samples[0]!.value;
}

/** A full garbage collection, which both GC observers see. */
function collectGarbage(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

describe("defaultMetrics() on Node, next to prom-client", () => {
  it("defaultMetrics() exposes the metric names, types and label names prom-client 15's collectDefaultMetrics() does", async () => {
    const theirs = new client.Registry();
    client.collectDefaultMetrics({ register: theirs, labels: { service: "api" } });
    const registry = new Registry({ selfMetrics: false });
    using _ours = defaultMetrics(registry, { labels: { service: "api" } });

    // Every conditional series present in both: a handle (a server), a pending request (a read),
    // and a garbage collection each observer has seen.
    const server = createServer();
    await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
    let ourText = "";
    let theirText = "";
    try {
      for (let tries = 0; tries < 100; tries++) {
        collectGarbage();
        await sleep(20);
        let done!: () => void;
        const read = new Promise<void>((resolve) => (done = resolve));
        readFile(fileURLToPath(import.meta.url), () => done());
        // prom-client runs every collect synchronously at the start of metrics(): both see the read pending.
        const pending = theirs.metrics();
        ourText = registry.render();
        theirText = await pending;
        await read;
        // From the second scrape on: the lag each measures after a scrape shows in the next one.
        const collected = (text: string) => /^nodejs_gc_duration_seconds_count/m.test(text);
        if (tries > 0 && collected(ourText) && collected(theirText)) break;
      }
    } finally {
      server.close();
    }
    const ours = parseExposition(ourText, false);
    const prom = parseProm(theirText);

    const extra = new Set(["nodejs_eventloop_utilization"]);
    assert.deepEqual([...ours.keys()].filter((n) => !extra.has(n)).sort(), [...prom.keys()].sort());
    for (const [name, family] of prom) {
      const mine = ours.get(name)!;
      assert.equal(mine.type, family.type, `${name} type`);
      assert.ok(family.samples.length > 0 && mine.samples.length > 0, `${name} has no samples to compare labels by`);
      assert.deepEqual(labelNames(mine), labelNames(family), `${name} label names`);
      assert.ok(labelNames(mine).includes("service"), `${name} lacks the constant label`);
    }
    assert.deepEqual(
      [...new Set(ours.get("nodejs_gc_duration_seconds")!.samples.flatMap((s) => s.labels.le ?? []))],
      ["0.001", "0.01", "0.1", "1", "2", "5", "+Inf"],
      "prom-client's GC buckets",
    );
    theirs.clear();
  });

  it("defaultMetrics() values agree with prom-client's and with process.memoryUsage(), in the same units", async () => {
    const theirs = new client.Registry();
    client.collectDefaultMetrics({ register: theirs });
    const registry = new Registry({ selfMetrics: false });
    using _ours = defaultMetrics(registry);
    await sleep(50);
    const pending = theirs.metrics();
    const ours = parseExposition(registry.render(), false);
    const prom = parseProm(await pending);
    const rss = process.memoryUsage().rss;

    const ourRss = only(ours, "process_resident_memory_bytes");
    assert.ok(Math.abs(ourRss / rss - 1) < 0.2, `resident memory ${ourRss}, process.memoryUsage().rss ${rss}`);
    assert.ok(Math.abs(ourRss / only(prom, "process_resident_memory_bytes") - 1) < 0.2);
    const virtual = only(ours, "process_virtual_memory_bytes");
    assert.ok(Math.abs(virtual / only(prom, "process_virtual_memory_bytes") - 1) < 0.2, `virtual ${virtual}`);
    const start = only(ours, "process_start_time_seconds");
    assert.ok(Math.abs(start - only(prom, "process_start_time_seconds")) < 3, `start ${start}`);
    // Ours count from the start of the process, prom-client's from its call: ours are the larger.
    const cpu = only(ours, "process_cpu_seconds_total");
    assert.ok(cpu > 0 && cpu >= only(prom, "process_cpu_seconds_total"), `cpu ${cpu}`);
    assert.equal(only(ours, "process_max_fds"), only(prom, "process_max_fds"));
    assert.ok(Math.abs(only(ours, "process_open_fds") - only(prom, "process_open_fds")) <= 3);
    const heap = only(ours, "nodejs_heap_size_total_bytes");
    assert.ok(Math.abs(heap / only(prom, "nodejs_heap_size_total_bytes") - 1) < 0.5, `heap ${heap}`);
    // prom-client's delay statistics and ours sample the same loop at the same resolution (ns → s).
    const p50 = only(ours, "nodejs_eventloop_lag_p50_seconds");
    assert.ok(p50 > 0.005 && p50 < 0.5, `p50 ${p50} s at a 10 ms resolution`);
    assert.ok(Math.abs(p50 - only(prom, "nodejs_eventloop_lag_p50_seconds")) < 0.01);
    const [major, minor, patch] = process.versions.node!.split(".");
    assert.deepEqual(ours.get("nodejs_version_info")!.samples.map((s) => [s.labels, s.value]), [
      [{ version: `v${process.versions.node}`, major, minor, patch }, 1],
    ]);
    assert.deepEqual(
      ours.get("nodejs_version_info")!.samples[0]!.labels,
      prom.get("nodejs_version_info")!.samples[0]!.labels,
    );
    const spaces = (families: Map<string, ParsedFamily>) =>
      families.get("nodejs_heap_space_size_total_bytes")!.samples.map((s) => s.labels.space).sort();
    assert.deepEqual(spaces(ours), spaces(prom));
    theirs.clear();
  });
});

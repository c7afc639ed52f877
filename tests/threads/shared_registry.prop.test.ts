import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Registry } from "../../src/registry.ts";
import { parseExposition } from "../_parse.ts";
import { applyOperations, CATALOG, type Operation, register } from "./_operations.ts";
import { spawnWorker, type ThreadWorker } from "./_spawn.ts";

const pool: ThreadWorker[] = await Promise.all(
  [1, 2, 3, 4].map(() => spawnWorker(new URL("./_worker.ts", import.meta.url))),
);
after(async () => {
  for (const worker of pool) await worker.terminate();
});

const LABEL_VALUES = ["a", "b", 'é "q" \\ \n'];
const CODES = ["200", "500"];

/** An operation on a random catalog metric, with a dyadic value (k/4) so sums are exact in any order. */
const operation: fc.Arbitrary<Operation> = fc.record({
  metric: fc.nat(CATALOG.length - 1),
  kind: fc.nat(LABEL_VALUES.length - 1),
  code: fc.nat(CODES.length - 1),
  down: fc.boolean(),
  k: fc.integer({ min: -16, max: 40 }),
}).map(({ metric, kind, code, down, k }) => {
  const entry = CATALOG[metric]!;
  const labels = entry.labelNames.map((name) => (name === "code" ? CODES[code]! : LABEL_VALUES[kind]!));
  switch (entry.type) {
    case "counter":
      return { metric, labels, action: "inc", value: Math.abs(k) / 4 };
    case "gauge":
      return { metric, labels, action: down ? "dec" : "inc", value: k / 4 };
    case "histogram": // negative values only where a bucket admits them
      return { metric, labels, action: "observe", value: entry.buckets![0]! < 0 ? k / 4 : Math.abs(k) / 4 };
    case "summary":
      return { metric, labels, action: "observe", value: Math.abs(k) / 4 };
  }
});

/** A render as a comparable value: families with their type, help and samples keyed by name and labels. */
function canonical(text: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const family of parseExposition(text, false).values()) {
    const samples: Record<string, number> = {};
    for (const s of family.samples) samples[s.name + JSON.stringify(s.labels)] = s.value;
    out[family.name] = { type: family.type, help: family.help, samples };
  }
  return out;
}

describe("Registry shared across threads, property", () => {
  it("Registry.render() after operations split over 2-4 workers and the main thread equals a single-threaded model, on every thread", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: pool.length }),
        fc.subarray(CATALOG.map((_, i) => i)),
        fc.array(fc.tuple(fc.nat(4), operation), { maxLength: 60 }),
        async (threads, preRegistered, assigned) => {
          // Thread 0 is the main thread; 1..threads are workers. The main thread registers
          // some metrics up front; every other metric and many label sets are born in workers.
          const registry = new Registry({ maxSeries: 1000 });
          for (const i of preRegistered) register(registry, CATALOG[i]!);
          const handle = registry.share();
          const parts: Operation[][] = Array.from({ length: threads + 1 }, () => []);
          for (const [thread, op] of assigned) parts[thread % (threads + 1)]!.push(op);
          const running = parts.slice(1).map((operations, w) => pool[w]!.run({ task: "apply", handle, operations }));
          applyOperations(registry, parts[0]!);
          await Promise.all(running);

          const model = new Registry({ maxSeries: 1000 });
          for (const i of preRegistered) register(model, CATALOG[i]!);
          applyOperations(model, assigned.map(([, op]) => op));
          const rendered = canonical(registry.render());
          assert.deepEqual(rendered, canonical(model.render()));
          // Any attached thread renders the same.
          const inWorker = await pool[0]!.run({ task: "render", handle }) as {
            prometheus: string;
            openmetrics: string;
          };
          assert.deepEqual(canonical(inWorker.prometheus), rendered);
          parseExposition(inWorker.openmetrics, true);
        },
      ),
      { numRuns: 20 },
    );
  });
});

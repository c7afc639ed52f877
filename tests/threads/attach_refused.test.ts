import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "../../src/registry.ts";
import { THREADS } from "../../src/storage/store.ts";
import { spawnWorker, type ThreadWorker } from "./_spawn.ts";

const WORKER = new URL("./_worker.ts", import.meta.url);
const pool: ThreadWorker[] = await Promise.all([1, 2, 3].map(() => spawnWorker(WORKER)));
after(async () => {
  for (const worker of pool) await worker.terminate();
});

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A shared registry whose 2 thread slots are both taken (this thread and one attached here), with values. */
function fullRegistry(): { registry: Registry; handle: ReturnType<Registry["share"]> } {
  const registry = new Registry({ maxThreads: 2 });
  const handle = registry.share();
  const second = Registry.attach(handle);
  const routes = ["/", "/a", "/b", "/c"];
  for (const [i, r] of [registry, second].entries()) {
    const hits = r.counter({ name: "hits_total", help: "Hits", labelNames: ["route"] as const });
    const latency = r.histogram({ name: "latency_seconds", help: "Latency", buckets: [0.1, 1] });
    for (const route of routes) hits.inc({ route }, 3 + i);
    latency.observe(0.05 + i);
  }
  return { registry, handle };
}

const ATOMIC_CALLS = ["load", "add", "sub", "and", "or", "xor", "exchange", "compareExchange", "store"] as const;

describe("Registry.attach() refused past maxThreads", () => {
  it("Registry.attach() refused past maxThreads never raises the thread count above maxThreads, even between two atomic steps", () => {
    const { registry, handle } = fullRegistry();
    const control = new Int32Array(handle.control, 0, 64);
    const seen: number[] = [];
    const atomics = Atomics as unknown as Record<string, (...args: unknown[]) => unknown>;
    const originals = new Map(ATOMIC_CALLS.map((name) => [name, atomics[name]!]));
    const load = originals.get("load")!;
    // After every atomic operation, note the thread count another thread would read then.
    for (const [name, original] of originals) {
      atomics[name] = (...args: unknown[]) => {
        const result = original.apply(Atomics, args);
        seen.push(load.call(Atomics, control, THREADS) as number);
        return result;
      };
    }
    try {
      for (let i = 0; i < 3; i++) {
        assert.throws(() => Registry.attach(handle), /cannot take a thread slot: all 2 are taken/);
      }
    } finally {
      for (const [name, original] of originals) atomics[name] = original;
    }
    assert.ok(seen.length > 0, "attach() made no atomic operation to watch");
    assert.ok(seen.every((threads) => threads <= 2), `the thread count went to ${Math.max(...seen)}`);
    assert.equal(registry.store.threads, 2);
    assert.ok(registry.render().includes('hits_total{route="/a"} 7\n'));
  });

  it("Registry.render() shows no NaN and exact values while 3 workers are refused a thread slot for 1.5 s", async () => {
    const { registry, handle } = fullRegistry();
    const expected = { prometheus: registry.render(), openmetrics: registry.render("openmetrics") };
    assert.ok(expected.prometheus.includes('hits_total{route="/b"} 7\n'));
    assert.ok(!expected.prometheus.includes("NaN"));
    let running = true;
    const refusals = Promise.all(pool.map((w) => w.run({ task: "attach-refused", handle, ms: 1500 })))
      .finally(() => (running = false));
    let renders = 0;
    const wrong: string[] = [];
    while (running) {
      const until = Date.now() + 20;
      while (Date.now() < until) {
        const prometheus = registry.render();
        const openmetrics = registry.render("openmetrics");
        renders++;
        if (prometheus !== expected.prometheus) wrong.push(prometheus);
        if (openmetrics !== expected.openmetrics) wrong.push(openmetrics);
      }
      await pause(0);
    }
    const refused = (await refusals) as number[];
    assert.ok(refused.every((n) => n > 0), `refusals per worker: ${refused.join(", ")}`);
    assert.ok(renders > 0);
    assert.equal(
      wrong.length,
      0,
      `${wrong.length} of ${2 * renders} renders differed (NaN: ${wrong.filter((t) => t.includes("NaN")).length}); ` +
        `first:\n${wrong[0]}`,
    );
    assert.equal(registry.store.threads, 2);
  });
});

// Async collect hooks under a scrape deadline: the handler awaits them up to the deadline (an
// option, else Prometheus' X-Prometheus-Scrape-Timeout-Seconds less a margin), answers 200 in
// time whatever they do, keeps the last values of the metrics whose hooks fail or are late, and
// counts them; registry.render() stays synchronous and waits for none of them.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "../../src/registry.ts";
import { metricsHandler, type MetricsHandlerOptions } from "../../src/http/handler.ts";
import { runtime, serve } from "./_runtime_serve.ts";

/** Slack for a loaded machine: an answer may come this much after its deadline. */
const MARGIN_MS = 400;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const never = (): Promise<void> => new Promise(() => {});

/** Scrapes once; resolves with the status, the whole body and the milliseconds until it was read. */
async function scrape(
  registry: Registry,
  options: MetricsHandlerOptions,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; ms: number }> {
  const started = performance.now();
  const response = await metricsHandler(registry, options)(new Request("http://localhost/metrics", { headers }));
  const text = await response.text();
  return { status: response.status, text, ms: performance.now() - started };
}

/** The value of the sample line `selector` (name and labels as rendered), or undefined. */
function valueOf(text: string, selector: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(selector + " "));
  return line === undefined ? undefined : Number(line.slice(selector.length + 1));
}

function timeouts(text: string, metric: string): number | undefined {
  return valueOf(text, `atomic_metrics_collect_timeouts_total{metric="${metric}"}`);
}

function errors(text: string, metric: string): number | undefined {
  return valueOf(text, `atomic_metrics_collect_errors_total{metric="${metric}"}`);
}

describe("metricsHandler() with async collect hooks", () => {
  it("metricsHandler() answers 200 by the deadline when a collect hook never settles, with the metric's last value, and counts the timeout", async () => {
    const registry = new Registry();
    let calls = 0;
    const depth = registry.gauge({
      name: "queue_depth",
      help: "Items waiting.",
      collect: () => {
        calls++;
        return never();
      },
    });
    depth.set(5);
    const first = await scrape(registry, { collectTimeoutMs: 300 });
    assert.equal(first.status, 200);
    assert.ok(first.ms >= 290 && first.ms <= 300 + MARGIN_MS, `answered after ${first.ms} ms, deadline 300 ms`);
    assert.equal(valueOf(first.text, "queue_depth"), 5);
    assert.equal(timeouts(first.text, "queue_depth"), 1);
    const second = await scrape(registry, { collectTimeoutMs: 300 });
    assert.equal(second.status, 200);
    assert.equal(valueOf(second.text, "queue_depth"), 5);
    assert.equal(timeouts(second.text, "queue_depth"), 2);
    assert.equal(calls, 2);
  });

  it("metricsHandler() answers 200 when collect hooks throw or reject, keeps their metrics' last values, counts each by metric and tells onError", async () => {
    const registry = new Registry();
    registry.gauge({
      name: "thrown",
      help: "Its hook throws.",
      collect: () => {
        throw new Error("thrown by a hook");
      },
    }).set(1);
    registry.gauge({
      name: "rejected",
      help: "Its hook rejects.",
      collect: async () => {
        await sleep(10);
        throw new Error("rejected by a hook");
      },
    }).set(2);
    registry.beforeCollect(() => Promise.reject(new Error("rejected by a registry hook")));
    const told: string[] = [];
    const onError = (error: unknown): void => void told.push((error as Error).message);
    const answer = await scrape(registry, { collectTimeoutMs: 2000, onError });
    assert.equal(answer.status, 200);
    assert.ok(answer.ms < 2000, `answered after ${answer.ms} ms, not at the deadline`);
    assert.equal(valueOf(answer.text, "thrown"), 1);
    assert.equal(valueOf(answer.text, "rejected"), 2);
    assert.equal(errors(answer.text, "thrown"), 1);
    assert.equal(errors(answer.text, "rejected"), 1);
    assert.equal(errors(answer.text, "beforeCollect"), 1);
    assert.equal(timeouts(answer.text, "rejected"), undefined);
    assert.deepEqual(told.sort(), ["rejected by a hook", "rejected by a registry hook", "thrown by a hook"]);
  });

  it("metricsHandler() shows a late hook's old value at the deadline, counts it, and its new value once it finishes", async () => {
    const registry = new Registry();
    let next = 1;
    const reading = registry.gauge({
      name: "slow_reading",
      help: "Read slowly.",
      collect: async (gauge) => {
        const value = next++ * 10;
        await sleep(600);
        gauge.set(value);
      },
    });
    reading.set(7);
    const late = await scrape(registry, { collectTimeoutMs: 150 });
    assert.equal(late.status, 200);
    assert.ok(late.ms <= 150 + MARGIN_MS, `answered after ${late.ms} ms, deadline 150 ms`);
    assert.equal(valueOf(late.text, "slow_reading"), 7);
    assert.equal(timeouts(late.text, "slow_reading"), 1);
    await sleep(700); // the late hook has set 10 by now
    const after = await scrape(registry, { collectTimeoutMs: 150 });
    assert.equal(valueOf(after.text, "slow_reading"), 10);
    assert.equal(timeouts(after.text, "slow_reading"), 2);
    assert.equal(errors(after.text, "slow_reading"), undefined);
  });

  it("metricsHandler() awaits the hooks that finish in time while others never settle, throw, reject or are late, all in one deadline", async () => {
    const registry = new Registry();
    const make = (name: string, collect: () => void | Promise<void>) =>
      registry.gauge({ name, help: name, collect }).set(-1);
    make("hook_never", never);
    make("hook_throws", () => {
      throw new Error("throws");
    });
    make("hook_rejects", () => Promise.reject(new Error("rejects")));
    make("hook_late", () => sleep(2000));
    const prompt = registry.gauge({
      name: "hook_prompt",
      help: "Finishes in time.",
      collect: async (gauge) => {
        await sleep(100);
        gauge.set(42);
      },
    });
    prompt.set(-1);
    const answer = await scrape(registry, { collectTimeoutMs: 500 });
    assert.equal(answer.status, 200);
    assert.ok(answer.ms >= 490 && answer.ms <= 500 + MARGIN_MS, `answered after ${answer.ms} ms, deadline 500 ms`);
    assert.equal(valueOf(answer.text, "hook_prompt"), 42);
    for (const name of ["hook_never", "hook_throws", "hook_rejects", "hook_late"]) {
      assert.equal(valueOf(answer.text, name), -1, name);
    }
    assert.equal(timeouts(answer.text, "hook_never"), 1);
    assert.equal(timeouts(answer.text, "hook_late"), 1);
    assert.equal(errors(answer.text, "hook_throws"), 1);
    assert.equal(errors(answer.text, "hook_rejects"), 1);
    assert.equal(timeouts(answer.text, "hook_prompt"), undefined);
    assert.equal(errors(answer.text, "hook_prompt"), undefined);
  });

  it("metricsHandler() takes the collect deadline from X-Prometheus-Scrape-Timeout-Seconds less a margin, unless collectTimeoutMs is given", async () => {
    const registry = new Registry();
    registry.beforeCollect(never);
    // 0.5 s less a tenth: 450 ms.
    const half = await scrape(registry, {}, { "x-prometheus-scrape-timeout-seconds": "0.5" });
    assert.equal(half.status, 200);
    assert.ok(half.ms >= 440 && half.ms <= 450 + MARGIN_MS, `answered after ${half.ms} ms for a 0.5 s timeout`);
    assert.equal(timeouts(half.text, "beforeCollect"), 1);
    // The option wins over the header.
    const option = await scrape(registry, { collectTimeoutMs: 100 }, { "x-prometheus-scrape-timeout-seconds": "10" });
    assert.ok(
      option.ms >= 95 && option.ms <= 100 + MARGIN_MS,
      `answered after ${option.ms} ms for collectTimeoutMs 100`,
    );
  });

  it("metricsHandler() gives collectAsync() the scrape timeout less a tenth (at most half a second), else collectTimeoutMs, else 10 s", async () => {
    const registry = new Registry();
    const deadlines: (number | undefined)[] = [];
    const collectAsync = registry.collectAsync.bind(registry);
    registry.collectAsync = (options) => {
      deadlines.push(options?.deadlineMs);
      return collectAsync(options);
    };
    const cases: [MetricsHandlerOptions, Record<string, string>, number][] = [
      [{}, { "x-prometheus-scrape-timeout-seconds": "0.5" }, 450],
      [{}, { "x-prometheus-scrape-timeout-seconds": "3" }, 2700],
      [{}, { "x-prometheus-scrape-timeout-seconds": "10" }, 9500],
      [{}, { "x-prometheus-scrape-timeout-seconds": "120" }, 119_500],
      [{}, {}, 10_000],
      [{}, { "x-prometheus-scrape-timeout-seconds": "soon" }, 10_000],
      [{ collectTimeoutMs: 250 }, { "x-prometheus-scrape-timeout-seconds": "10" }, 250],
    ];
    for (const [options, headers] of cases) assert.equal((await scrape(registry, options, headers)).status, 200);
    assert.deepEqual(deadlines, cases.map(([, , expected]) => expected));
  });

  it("metricsHandler() waits for a hook that finishes within a long X-Prometheus-Scrape-Timeout-Seconds", async () => {
    const registry = new Registry();
    registry.gauge({
      name: "patient",
      help: "Takes most of a second.",
      collect: async (gauge) => {
        await sleep(800);
        gauge.set(3);
      },
    });
    // 2 s less a tenth: 1.8 s, past the hook's 0.8 s.
    const answer = await scrape(registry, {}, { "x-prometheus-scrape-timeout-seconds": "2" });
    assert.equal(valueOf(answer.text, "patient"), 3);
    assert.equal(timeouts(answer.text, "patient"), undefined);
    assert.ok(answer.ms >= 790 && answer.ms < 1800, `answered after ${answer.ms} ms`);
  });
});

describe("Registry.render() with async collect hooks", () => {
  it("Registry.render() returns a string at once, without waiting for async hooks, and leaves no unhandled rejection", async () => {
    const registry = new Registry();
    let finished = 0;
    registry.gauge({
      name: "eventually",
      help: "Set after a pause.",
      collect: async (gauge) => {
        await sleep(50);
        gauge.set(9);
        finished++;
      },
    }).set(1);
    registry.beforeCollect(async () => {
      await sleep(10);
      throw new Error("an async hook rejected");
    });
    registry.gauge({ name: "stuck", help: "Never settles.", collect: never }).set(4);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const started = performance.now();
      const text = registry.render();
      const ms = performance.now() - started;
      assert.equal(typeof text, "string");
      assert.ok(ms < 40, `render() took ${ms} ms`);
      assert.equal(valueOf(text, "eventually"), 1);
      assert.equal(valueOf(text, "stuck"), 4);
      assert.equal(finished, 0);
      await sleep(150);
      assert.equal(finished, 1);
      assert.deepEqual(unhandled, []);
      // The hook's value is there for the next render (whose own hook call is again not awaited).
      assert.equal(valueOf(registry.render(), "eventually"), 9);
      await sleep(150);
      assert.deepEqual(unhandled, []);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  it("Registry.collectAsync() awaits the async hooks, never rejects, and counts what failed or was late", async () => {
    const registry = new Registry();
    registry.gauge({
      name: "awaited",
      help: "Set after a pause.",
      collect: async (gauge) => {
        await sleep(20);
        gauge.set(8);
      },
    }).set(1);
    registry.beforeCollect(() => {
      throw new Error("sync failure");
    });
    registry.gauge({ name: "stuck", help: "Never settles.", collect: never }).set(4);
    const told: unknown[] = [];
    const started = performance.now();
    await registry.collectAsync({ deadlineMs: 200, onError: (error) => told.push(error) });
    const ms = performance.now() - started;
    assert.ok(ms >= 190 && ms <= 200 + MARGIN_MS, `collectAsync() took ${ms} ms with a 200 ms deadline`);
    // render() runs the sync hook again, which throws: stream() shows what collectAsync() set.
    assert.throws(() => registry.render(), /sync failure/);
    const text = await new Response(registry.stream()).text();
    assert.equal(valueOf(text, "awaited"), 8);
    assert.equal(valueOf(text, "stuck"), 4);
    assert.equal(errors(text, "beforeCollect"), 1);
    assert.equal(timeouts(text, "stuck"), 1);
    assert.equal(told.length, 1);
  });
});

describe(`serve() with async collect hooks on ${runtime}`, () => {
  it(`serve() on ${runtime} answers 200 within X-Prometheus-Scrape-Timeout-Seconds when collect hooks never settle, throw or are late, and counts them`, async () => {
    const registry = new Registry();
    registry.gauge({ name: "never_gauge", help: "Never settles.", collect: never }).set(1);
    registry.gauge({ name: "late_gauge", help: "Late.", collect: () => sleep(3000) }).set(2);
    registry.gauge({
      name: "thrown_gauge",
      help: "Throws.",
      collect: () => {
        throw new Error("thrown");
      },
    }).set(3);
    const server = await serve({ registry, port: 0, hostname: "127.0.0.1", onError: () => {} });
    try {
      const started = performance.now();
      const response = await fetch(`http://127.0.0.1:${server.port}/metrics`, {
        headers: { "x-prometheus-scrape-timeout-seconds": "1" },
      });
      const text = await response.text();
      const ms = performance.now() - started;
      assert.equal(response.status, 200);
      // 1 s less a tenth: 900 ms.
      assert.ok(ms >= 890 && ms <= 900 + MARGIN_MS, `answered after ${ms} ms for a 1 s scrape timeout`);
      assert.equal(valueOf(text, "never_gauge"), 1);
      assert.equal(valueOf(text, "late_gauge"), 2);
      assert.equal(valueOf(text, "thrown_gauge"), 3);
      assert.equal(timeouts(text, "never_gauge"), 1);
      assert.equal(timeouts(text, "late_gauge"), 1);
      assert.equal(errors(text, "thrown_gauge"), 1);
    } finally {
      await server.close();
    }
  });
});

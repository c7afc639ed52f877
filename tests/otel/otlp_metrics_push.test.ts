// The OTLP push under a receiver that refuses, hangs or floods: stop() and its
// deadline, the collapse of waiting snapshots, bounded reads of response
// bodies, Retry-After values that must not disable the back-off, and onError
// handlers that throw.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Registry } from "../../src/registry.ts";
import { OtlpExportError, pushMetrics, startMetricsPush } from "../../src/otel/otlp_metrics.ts";
import type { OtlpMetricsRequest } from "../../src/otel/otlp_metrics_encoding.ts";
import { type ReceivedRequest, startOtlpReceiver } from "./_otlp_receiver.ts";

const MiB = 1024 * 1024;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects when `promise` has not settled within `ms`, so that a regression fails fast instead of hanging. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The value of a label-less counter in a received OTLP/JSON request. */
function counterValue(request: ReceivedRequest | undefined, name: string): number | undefined {
  const body = request?.body as OtlpMetricsRequest | undefined;
  const metric = body?.resourceMetrics[0]?.scopeMetrics[0]?.metrics.find((m) => m.name === name);
  if (metric === undefined || !("sum" in metric)) return undefined;
  return Number(metric.sum.dataPoints[0]?.asDouble);
}

function childCommand(file: string): [string, string[]] {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (g.Deno !== undefined) return [process.execPath, ["run", "-A", file]];
  if (g.Bun !== undefined) return [process.execPath, [file]];
  return [process.execPath, ["--import", "tsx", file]];
}

/** Runs a child process to its end, killing it past `timeoutMs` (then `code` is null). */
function runChild(
  file: string,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string }> {
  const [command, args] = childCommand(file);
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  let stdout = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => void (stdout += chunk));
  return new Promise((resolve, reject) => {
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout });
    });
  });
}

describe("OTLP metrics push under a failing receiver", () => {
  it("stop() during a background back-off sends the newest snapshot at once and resolves once it was delivered", async () => {
    const receiver = await startOtlpReceiver();
    try {
      receiver.respondWith({ status: 503 });
      const registry = new Registry();
      const orders = registry.counter({ name: "orders_total", help: "Orders" });
      orders.inc();
      const errors: Error[] = [];
      const push = startMetricsPush(registry, {
        url: receiver.url("/v1/metrics"),
        intervalMs: 20,
        initialBackoffMs: 20_000,
        maxBackoffMs: 20_000,
        onError: (error) => void errors.push(error),
      });
      await receiver.waitFor((requests) => requests.length >= 1);
      await sleep(60); // the sender is backing off now; ticks pile up behind it
      orders.inc(41);
      const started = performance.now();
      await within(push.stop(), 3000, "stop()");
      assert.ok(performance.now() - started < 2000, `stop() took ${performance.now() - started} ms`);
      assert.equal(counterValue(receiver.requests.at(-1), "orders_total"), 42);
      assert.equal(push.sent, 1);
      assert.equal(push.failed, 0);
      assert.deepEqual(errors, []);
    } finally {
      await receiver.close();
    }
  });

  it("await push.stop() during a background back-off keeps the process alive until the last snapshot was delivered", async () => {
    const receiver = await startOtlpReceiver();
    try {
      receiver.respondWith({ status: 503 });
      const child = fileURLToPath(new URL("./_push_stop_child.ts", import.meta.url));
      const { code, stdout } = await runChild(child, { PUSH_URL: receiver.url("/v1/metrics") }, 20_000);
      assert.match(stdout, /^stopped sent=1 failed=0$/m, `child exited with ${code} and printed: ${stdout}`);
      assert.equal(code, 0);
      assert.equal(counterValue(receiver.requests.at(-1), "orders_total"), 42);
    } finally {
      await receiver.close();
    }
  });

  it("stop() gives up at stopTimeoutMs and reports the last snapshot as failed through onError", async () => {
    const receiver = await startOtlpReceiver();
    try {
      receiver.otherwiseRespondWith({ status: 200, hang: true });
      const errors: Error[] = [];
      const push = startMetricsPush(new Registry(), {
        url: receiver.url("/v1/metrics"),
        intervalMs: 60_000,
        timeoutMs: 30_000,
        stopTimeoutMs: 200,
        onError: (error) => void errors.push(error),
      });
      const started = performance.now();
      await within(push.stop(), 3000, "stop()");
      const took = performance.now() - started;
      assert.ok(took >= 150 && took < 1500, `stop() took ${took} ms`);
      assert.equal(errors.length, 1);
      assert.ok(errors[0] instanceof OtlpExportError);
      assert.match(errors[0]!.message, /stopTimeoutMs \(200 ms\)/);
      assert.equal(push.failed, 1);
      assert.equal(push.sent, 0);
      await push.stop(); // idempotent, reports nothing twice
      assert.equal(errors.length, 1);
    } finally {
      await receiver.close();
    }
  });

  it("stop() against a receiver answering 503 costs one retry budget, not one per snapshot that waited", async () => {
    const receiver = await startOtlpReceiver();
    try {
      receiver.otherwiseRespondWith({ status: 503 });
      const errors: Error[] = [];
      const push = startMetricsPush(new Registry(), {
        url: receiver.url("/v1/metrics"),
        intervalMs: 5,
        maxAttempts: 3,
        initialBackoffMs: 30,
        maxBackoffMs: 30,
        onError: (error) => void errors.push(error),
      });
      await sleep(300); // ~60 ticks against one sender with a ~60 ms retry budget
      const before = receiver.requests.length;
      await within(push.stop(), 5000, "stop()");
      const during = receiver.requests.length - before;
      // The attempt in flight, then the last snapshot's 3 attempts.
      assert.ok(during <= 4, `stop() sent ${during} requests`);
      assert.ok(push.dropped > 0, "waiting snapshots collapse to the newest");
      assert.match(errors.at(-1)?.message ?? "", /HTTP 503/);
      await sleep(50);
      assert.equal(receiver.requests.length - before, during, "nothing is sent after stop() resolved");
    } finally {
      await receiver.close();
    }
  });

  it("pushMetrics() reads at most a few KiB of a huge response body, then cancels it", async () => {
    const receiver = await startOtlpReceiver();
    try {
      receiver.respondWith({ status: 500, streamBytes: 128 * MiB }, { status: 200, streamBytes: 128 * MiB });
      const url = receiver.url("/v1/metrics");
      await within(
        assert.rejects(pushMetrics(new Registry(), { url }), (error: unknown) => {
          assert.ok(error instanceof OtlpExportError);
          assert.equal(error.status, 500);
          assert.match(error.message, /failed with HTTP 500: x{200}$/);
          return true;
        }),
        20_000,
        "the push against a flooding error body",
      );
      const afterError = receiver.streamedBytes;
      assert.ok(afterError < 16 * MiB, `the receiver could write ${afterError} bytes of the error body`);
      await within(pushMetrics(new Registry(), { url }), 20_000, "the push against a flooding 200 body");
      const afterOk = receiver.streamedBytes - afterError;
      assert.ok(afterOk < 16 * MiB, `the receiver could write ${afterOk} bytes of the 200 body`);
    } finally {
      await receiver.close();
    }
  });

  it("pushMetrics() falls back to its back-off when Retry-After is negative or a date in the past", async () => {
    const receiver = await startOtlpReceiver();
    try {
      const past = "Wed, 21 Oct 2015 07:28:00 GMT";
      receiver.respondWith(
        { status: 503, headers: { "retry-after": "-5" } },
        { status: 429, headers: { "retry-after": "-5" } },
        { status: 503, headers: { "retry-after": past } },
        { status: 503, headers: { "retry-after": "garbage" } },
      );
      await pushMetrics(new Registry(), {
        url: receiver.url("/v1/metrics"),
        maxAttempts: 5,
        initialBackoffMs: 40,
        maxBackoffMs: 1000,
      });
      const at = receiver.requests.map((r) => r.at);
      assert.equal(at.length, 5);
      for (let i = 1; i < at.length; i++) {
        const least = 40 * 2 ** (i - 1) * 0.5; // the jittered back-off never waits less than half
        assert.ok(at[i]! - at[i - 1]! >= least - 5, `wait ${i} was ${at[i]! - at[i - 1]!} ms, below ${least} ms`);
      }
    } finally {
      await receiver.close();
    }
  });

  it("an onError that throws on a failed collect never reaches the app, from flush() or the interval timer", async () => {
    const broken = {
      collect(): never {
        throw new Error("collect broke");
      },
    };
    let calls = 0;
    const push = startMetricsPush(broken, {
      url: "http://127.0.0.1:9/v1/metrics",
      intervalMs: 10,
      onError: () => {
        calls++;
        throw new Error("handler broke");
      },
    });
    await push.flush();
    assert.equal(calls, 1);
    const deadline = performance.now() + 3000;
    while (calls < 4 && performance.now() < deadline) await sleep(10);
    assert.ok(calls >= 4, `onError ran ${calls} times`);
    await push.stop();
    assert.equal(push.failed, calls);
    assert.equal(push.sent, 0);
  });
});

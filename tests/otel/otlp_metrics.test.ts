import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "../../src/registry.ts";
import { OtlpExportError, pushMetrics, startMetricsPush } from "../../src/otel/otlp_metrics.ts";
import { encodeMetricsRequest, type OtlpMetricsRequest } from "../../src/otel/otlp_metrics_encoding.ts";
import { attributesOf, startOtlpReceiver } from "./_otlp_receiver.ts";

function sampleRegistry(): Registry {
  const registry = new Registry();
  const jobs = registry.counter({ name: "jobs_total", help: "Jobs done", labelNames: ["kind"] as const });
  jobs.inc({ kind: "email" }, 3);
  jobs.inc({ kind: "sms" }, 1.5);
  registry.gauge({ name: "queue_depth", help: "Queue depth" }).set(-7);
  const latency = registry.histogram({
    name: "latency_seconds",
    help: "Latency",
    labelNames: ["route"] as const,
    buckets: [0.1, 0.5, 1],
  });
  for (const v of [0.05, 0.2, 0.3, 0.7, 4]) latency.observe({ route: "/a" }, v);
  latency.observe({ route: "/b" }, 0.01);
  const size = registry.summary({ name: "payload_bytes", help: "Payload", unit: "bytes", quantiles: [0.5, 0.9] });
  for (let i = 1; i <= 100; i++) size.observe(i);
  return registry;
}

type Sample = Map<string, number>;

function key(name: string, labels: Record<string, string>): string {
  const sorted = Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return `${name}{${sorted.join(",")}}`;
}

/** Samples of Prometheus text: name{sorted labels} → value. */
function samplesOfText(text: string): Sample {
  const samples: Sample = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/);
    assert.ok(match, `unparsed line ${line}`);
    const labels: Record<string, string> = {};
    for (const m of (match[2] ?? "").matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!;
    const raw = match[3]!;
    samples.set(key(match[1]!, labels), raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw));
  }
  return samples;
}

const le = (bound: number) => (bound === Infinity ? "+Inf" : String(bound));

/** The same samples rebuilt from an OTLP/JSON request, as Prometheus would name them. */
function samplesOfOtlp(request: OtlpMetricsRequest): Sample {
  const samples: Sample = new Map();
  const num = (v: number | string) => Number(v);
  for (const metric of request.resourceMetrics[0]!.scopeMetrics[0]!.metrics) {
    if ("sum" in metric) {
      assert.equal(metric.sum.isMonotonic, true);
      assert.equal(metric.sum.aggregationTemporality, 2);
      for (const p of metric.sum.dataPoints) {
        samples.set(key(metric.name, attributesOf(p.attributes) as never), num(p.asDouble));
      }
    } else if ("gauge" in metric) {
      for (const p of metric.gauge.dataPoints) {
        samples.set(key(metric.name, attributesOf(p.attributes) as never), num(p.asDouble));
      }
    } else if ("histogram" in metric) {
      assert.equal(metric.histogram.aggregationTemporality, 2);
      for (const p of metric.histogram.dataPoints) {
        const labels = attributesOf(p.attributes) as Record<string, string>;
        assert.equal(p.bucketCounts.length, p.explicitBounds.length + 1);
        let cumulative = 0;
        p.bucketCounts.forEach((c, i) => {
          cumulative += Number(c);
          samples.set(key(`${metric.name}_bucket`, { ...labels, le: le(p.explicitBounds[i] ?? Infinity) }), cumulative);
        });
        assert.equal(cumulative, Number(p.count));
        if (p.sum !== undefined) samples.set(key(`${metric.name}_sum`, labels), num(p.sum));
        samples.set(key(`${metric.name}_count`, labels), Number(p.count));
      }
    } else if ("summary" in metric) {
      for (const p of metric.summary.dataPoints) {
        const labels = attributesOf(p.attributes) as Record<string, string>;
        for (const q of p.quantileValues) {
          samples.set(key(metric.name, { ...labels, quantile: String(q.quantile) }), num(q.value));
        }
        samples.set(key(`${metric.name}_sum`, labels), num(p.sum));
        samples.set(key(`${metric.name}_count`, labels), Number(p.count));
      }
    }
  }
  return samples;
}

describe("OTLP metrics push", () => {
  it("pushMetrics() posts OTLP/JSON whose values equal the registry's render", async () => {
    const receiver = await startOtlpReceiver();
    try {
      const registry = sampleRegistry();
      await pushMetrics(registry, {
        url: receiver.url("/v1/metrics"),
        headers: { authorization: "Bearer t" },
        resource: { "service.name": "pusher", "service.instance.id": "i-1", replicas: 3, canary: false },
      });
      assert.equal(receiver.requests.length, 1);
      const request = receiver.requests[0]!;
      assert.equal(request.path, "/v1/metrics");
      assert.equal(request.headers["content-type"], "application/json");
      assert.equal(request.headers["authorization"], "Bearer t");
      const body = request.body as OtlpMetricsRequest;
      assert.deepEqual(attributesOf(body.resourceMetrics[0]!.resource.attributes as never), {
        "service.name": "pusher",
        "service.instance.id": "i-1",
        replicas: 3,
        canary: false,
      });
      assert.deepEqual(samplesOfOtlp(body), samplesOfText(registry.render()));
    } finally {
      await receiver.close();
    }
  });

  it("encodeMetricsRequest() writes types, units, non-cumulative buckets and nanosecond strings", () => {
    const registry = sampleRegistry();
    const request = encodeMetricsRequest(registry.collect(), {
      startTimeMs: 1_700_000_000_000.5,
      timeMs: 1_700_000_001_000,
    });
    const metrics = request.resourceMetrics[0]!.scopeMetrics[0]!.metrics;
    const byName = new Map(metrics.map((m) => [m.name, m]));
    const latency = byName.get("latency_seconds")!;
    assert.ok("histogram" in latency);
    const a = latency.histogram.dataPoints.find((p) =>
      p.attributes[0]?.value && "stringValue" in p.attributes[0].value && p.attributes[0].value.stringValue === "/a"
    )!;
    assert.deepEqual(a.explicitBounds, [0.1, 0.5, 1]);
    assert.deepEqual(a.bucketCounts, ["1", "2", "1", "1"]);
    assert.equal(a.count, "5");
    assert.equal(a.startTimeUnixNano, "1700000000000500000");
    assert.equal(a.timeUnixNano, "1700000001000000000");
    const payload = byName.get("payload_bytes")!;
    assert.equal(payload.unit, "By");
    assert.ok("summary" in payload);
    assert.deepEqual(payload.summary.dataPoints[0]!.quantileValues.map((q) => q.quantile), [0.5, 0.9]);
    assert.equal(payload.summary.dataPoints[0]!.count, "100");
    assert.equal(payload.summary.dataPoints[0]!.sum, 5050);
    const depth = byName.get("queue_depth")!;
    assert.ok("gauge" in depth);
    assert.equal(depth.gauge.dataPoints[0]!.asDouble, -7);
    assert.equal(depth.description, "Queue depth");
  });

  it("encodeMetricsRequest() writes non-finite values as OTLP/JSON strings and skips empty metrics", () => {
    const registry = new Registry();
    registry.gauge({ name: "nan_gauge", help: "NaN" }).set(Number.NaN);
    registry.gauge({ name: "inf_gauge", help: "Inf" }).set(-Infinity);
    registry.counter({ name: "unused_total", help: "Unused", labelNames: ["x"] as const });
    const request = encodeMetricsRequest(registry.collect());
    const metrics = request.resourceMetrics[0]!.scopeMetrics[0]!.metrics;
    const values = Object.fromEntries(
      metrics.filter((m) => "gauge" in m).map((
        m,
      ) => [m.name, "gauge" in m ? m.gauge.dataPoints[0]!.asDouble : undefined]),
    );
    assert.equal(values["nan_gauge"], "NaN");
    assert.equal(values["inf_gauge"], "-Infinity");
    assert.equal(metrics.some((m) => m.name === "unused_total"), false);
    assert.doesNotThrow(() => JSON.parse(JSON.stringify(request)));
  });

  it("pushMetrics() retries on 429 and 503, honouring Retry-After, then succeeds", async () => {
    const receiver = await startOtlpReceiver();
    try {
      receiver.respondWith(
        { status: 429, headers: { "retry-after": "0" } },
        { status: 503, headers: { "retry-after": "1" } },
        { status: 503 },
      );
      const started = performance.now();
      await pushMetrics(sampleRegistry(), { url: receiver.url("/v1/metrics"), initialBackoffMs: 5 });
      assert.equal(receiver.requests.length, 4);
      const [first, second, third, fourth] = receiver.requests.map((r) => r.at);
      assert.ok(third! - second! >= 900, `Retry-After: 1 waited only ${third! - second!} ms`);
      assert.ok(fourth! - third! < 900);
      assert.ok(second! - first! < 900);
      assert.equal(new Set(receiver.requests.map((r) => r.raw)).size, 1, "every attempt sends the same body");
      assert.ok(performance.now() - started < 5000);
    } finally {
      await receiver.close();
    }
  });

  it("pushMetrics() gives up after maxAttempts with an OtlpExportError carrying the status", async () => {
    const receiver = await startOtlpReceiver();
    try {
      receiver.respondWith({ status: 503 }, { status: 503 }, { status: 503 });
      await assert.rejects(
        pushMetrics(sampleRegistry(), { url: receiver.url("/v1/metrics"), maxAttempts: 3, initialBackoffMs: 1 }),
        (error: unknown) => error instanceof OtlpExportError && error.status === 503 && /HTTP 503/.test(error.message),
      );
      assert.equal(receiver.requests.length, 3);
    } finally {
      await receiver.close();
    }
  });

  it("pushMetrics() does not retry a 400 and reports the endpoint's answer", async () => {
    const receiver = await startOtlpReceiver();
    try {
      receiver.respondWith({ status: 400, body: "bad payload" });
      await assert.rejects(
        pushMetrics(sampleRegistry(), { url: receiver.url("/v1/metrics"), initialBackoffMs: 1 }),
        /failed with HTTP 400: bad payload/,
      );
      assert.equal(receiver.requests.length, 1);
    } finally {
      await receiver.close();
    }
  });

  it("pushMetrics() retries network errors", async () => {
    let calls = 0;
    const flaky: typeof fetch = () => {
      calls++;
      if (calls < 3) return Promise.reject(new TypeError("connection refused"));
      return Promise.resolve(new Response("{}", { status: 200 }));
    };
    await pushMetrics(sampleRegistry(), {
      url: "http://collector.invalid/v1/metrics",
      fetch: flaky,
      initialBackoffMs: 1,
    });
    assert.equal(calls, 3);
    const failing: typeof fetch = () => Promise.reject(new TypeError("connection refused"));
    await assert.rejects(
      pushMetrics(sampleRegistry(), {
        url: "http://collector.invalid/v1/metrics",
        fetch: failing,
        initialBackoffMs: 1,
        maxAttempts: 2,
      }),
      (error: unknown) =>
        error instanceof OtlpExportError && error.status === undefined && /connection refused/.test(error.message),
    );
  });

  it("pushMetrics() throws an error naming a bad option", async () => {
    await assert.rejects(
      pushMetrics(new Registry(), { url: "collector:4318" }),
      /Option "url" must be an http\(s\) URL/,
    );
    await assert.rejects(
      pushMetrics(new Registry(), { url: "http://c/v1/metrics", maxAttempts: 0 }),
      /Option "maxAttempts"/,
    );
    assert.throws(
      () => startMetricsPush(new Registry(), { url: "http://c/v1/metrics", intervalMs: -1 }),
      /Option "intervalMs"/,
    );
    assert.throws(
      () => startMetricsPush(new Registry(), { url: "http://c/v1/metrics" } as never),
      /Option "intervalMs" is required/,
    );
  });

  it("startMetricsPush() pushes on its interval and once more on stop()", async () => {
    const receiver = await startOtlpReceiver();
    try {
      const registry = new Registry();
      const ticks = registry.counter({ name: "ticks_total", help: "Ticks" });
      const push = startMetricsPush(registry, { url: receiver.url("/v1/metrics"), intervalMs: 20 });
      ticks.inc();
      await receiver.waitFor((requests) => requests.length >= 2);
      ticks.inc(41);
      await push.stop();
      await push.stop(); // idempotent
      const count = receiver.requests.length;
      const last = receiver.requests[count - 1]!.body as OtlpMetricsRequest;
      assert.equal(samplesOfOtlp(last).get("ticks_total{}"), 42);
      assert.equal(push.sent, count);
      assert.equal(push.failed, 0);
      await new Promise((resolve) => setTimeout(resolve, 60));
      assert.equal(receiver.requests.length, count, "no push after stop()");
    } finally {
      await receiver.close();
    }
  });

  it("startMetricsPush() keeps one request in flight and one snapshot waiting, the newest, and never blocks recording", async () => {
    const releases: (() => void)[] = [];
    const bodies: string[] = [];
    const slow: typeof fetch = (_input, init) => {
      bodies.push(String(init?.body));
      return new Promise((resolve) => releases.push(() => resolve(new Response("{}", { status: 200 }))));
    };
    const registry = new Registry();
    const counter = registry.counter({ name: "events_total", help: "Events" });
    const push = startMetricsPush(registry, {
      url: "http://collector.invalid/v1/metrics",
      fetch: slow,
      intervalMs: 60_000,
    });
    const flushes: Promise<void>[] = [];
    for (let i = 1; i <= 6; i++) {
      counter.inc(); // recording goes on while the endpoint hangs
      flushes.push(push.flush());
    }
    assert.equal(counter.get(), 6);
    // Snapshot 1 is in flight; 2..6 waited in one slot, each superseding the one before.
    assert.equal(bodies.length, 1, "one request in flight");
    assert.equal(push.dropped, 4);
    while (bodies.length < 2) {
      releases.shift()?.();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    releases.shift()?.();
    await Promise.all(flushes);
    let stopped = false;
    const stopping = push.stop().then(() => void (stopped = true));
    while (!stopped) {
      releases.shift()?.(); // the final snapshot of stop()
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await stopping;
    const values = bodies.map((b) => samplesOfOtlp(JSON.parse(b)).get("events_total{}"));
    assert.deepEqual(values, [1, 6, 6]);
    assert.equal(push.sent, 3);
    assert.equal(push.dropped, 4);
  });

  it("startMetricsPush() reports exports that failed for good to onError and keeps going", async () => {
    const receiver = await startOtlpReceiver();
    try {
      receiver.respondWith({ status: 400, body: "no" });
      const errors: Error[] = [];
      const push = startMetricsPush(new Registry(), {
        url: receiver.url("/v1/metrics"),
        intervalMs: 60_000,
        onError: (error) => void errors.push(error),
      });
      await push.flush();
      await push.flush();
      await push.stop();
      assert.equal(errors.length, 1);
      assert.match(errors[0]!.message, /HTTP 400/);
      assert.equal(push.failed, 1);
      assert.equal(push.sent, 2);
    } finally {
      await receiver.close();
    }
  });
});

describe("encodeMetricsRequest() and negative histograms", () => {
  it("leaves out the sum of a histogram whose lowest bucket bound is negative, as OTLP asks", () => {
    const registry = new Registry({ selfMetrics: false });
    registry.histogram({ name: "drift_seconds", help: "d", buckets: [-1, 0, 1] }).observe(-0.5);
    registry.histogram({ name: "size_bytes", help: "s", buckets: [1, 2] }).observe(1.5);
    const metrics = encodeMetricsRequest(registry.collect()).resourceMetrics[0]!.scopeMetrics[0]!.metrics;
    const point = (name: string) =>
      (metrics.find((m) => m.name === name) as { histogram: { dataPoints: { sum?: number }[] } }).histogram
        .dataPoints[0]!;
    assert.equal("sum" in point("drift_seconds"), false);
    assert.equal(point("size_bytes").sum, 1.5);
  });
});

describe("encodeMetricsRequest() and native histograms", () => {
  it("sends a native histogram as an exponential histogram: same scale, buckets shifted to OTLP's index, zero count", () => {
    const registry = new Registry({ selfMetrics: false });
    const h = registry.histogram({ name: "latency_seconds", help: "l", native: { bucketFactor: 1.1 } });
    for (const v of [1, 1, 2, 0, -3]) h.observe(v);
    const metric = encodeMetricsRequest(registry.collect()).resourceMetrics[0]!.scopeMetrics[0]!.metrics[0]!;
    assert.ok("exponentialHistogram" in metric);
    const point = metric.exponentialHistogram.dataPoints[0]!;
    assert.equal(point.scale, 3);
    assert.equal(point.count, "5");
    assert.equal(point.zeroCount, "1");
    // Prometheus key 0 holds (2^(-1/8), 1]: value 1; key 8 holds (2^(7/8), 2]: value 2. OTLP index = key - 1.
    assert.equal(point.positive.offset, -1);
    assert.deepEqual(point.positive.bucketCounts, ["2", "0", "0", "0", "0", "0", "0", "0", "1"]);
    // 3 = 2^1.58…: key ceil(1.58 × 8) = 13, OTLP index 12.
    assert.deepEqual(point.negative, { offset: 12, bucketCounts: ["1"] });
    assert.equal("sum" in point, false, "a negative value was recorded: no sum");
  });
});

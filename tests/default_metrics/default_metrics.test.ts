// defaultMetrics() on Node, Deno and Bun: what each runtime gets, and that what it gets is measured.
// The comparison with prom-client itself is in node.test.ts.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { defaultMetrics } from "../../adapters/default_metrics.ts";
import { systemMetrics } from "../../src/catalog/system_metrics.ts";
import { Registry } from "../../src/registry.ts";
import { type ParsedFamily, parseExposition } from "../_parse.ts";
import { promtoolCheck } from "../_promtool.ts";

const g = globalThis as { Deno?: unknown; Bun?: unknown };
const runtime = g.Deno !== undefined ? "deno" : g.Bun !== undefined ? "bun" : "node";
const linux = process.platform === "linux";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* spin */ }
}

/** Spins until this process has used `ms` more CPU time (or 5 s passed): robust on a shared, busy machine. */
function burnCpu(ms: number): void {
  const cpu = (): number => {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1000;
  };
  const start = cpu();
  const deadline = performance.now() + 5000;
  while (cpu() - start < ms && performance.now() < deadline) busy(5);
}

/** The metrics each runtime measures (the table of docs/default-metrics.md), with their types. */
const EVERYWHERE: Record<string, string> = {
  process_cpu_user_seconds_total: "counter",
  process_cpu_system_seconds_total: "counter",
  process_cpu_seconds_total: "counter",
  process_start_time_seconds: "gauge",
  process_resident_memory_bytes: "gauge",
  nodejs_eventloop_lag_seconds: "gauge",
  nodejs_external_memory_bytes: "gauge",
};
const PROC: Record<string, string> = {
  process_virtual_memory_bytes: "gauge",
  process_heap_bytes: "gauge",
  process_open_fds: "gauge",
  process_max_fds: "gauge",
};
const DELAY: Record<string, string> = Object.fromEntries(
  ["min", "max", "mean", "stddev", "p50", "p90", "p99"].map((s) => [`nodejs_eventloop_lag_${s}_seconds`, "gauge"]),
);
const ACTIVE: Record<string, string> = Object.fromEntries(
  ["resources", "handles", "requests"].flatMap((
    what,
  ) => [[`nodejs_active_${what}`, "gauge"], [`nodejs_active_${what}_total`, "gauge"]]),
);
const HEAP: Record<string, string> = {
  nodejs_heap_size_total_bytes: "gauge",
  nodejs_heap_size_used_bytes: "gauge",
};
const SPACES: Record<string, string> = {
  nodejs_heap_space_size_total_bytes: "gauge",
  nodejs_heap_space_size_used_bytes: "gauge",
  nodejs_heap_space_size_available_bytes: "gauge",
};
const NODE_ONLY: Record<string, string> = {
  nodejs_version_info: "gauge",
  nodejs_gc_duration_seconds: "histogram",
  nodejs_eventloop_utilization: "gauge",
};
const EXPECTED: Record<string, string> = {
  ...EVERYWHERE,
  ...(linux ? PROC : {}),
  ...(runtime === "node" ? { ...DELAY, ...ACTIVE, ...HEAP, ...SPACES, ...NODE_ONLY } : {}),
  ...(runtime === "deno" ? { ...HEAP, ...SPACES } : {}),
  ...(runtime === "bun" ? DELAY : {}),
};

function families(registry: Registry): Map<string, ParsedFamily> {
  return parseExposition(registry.render(), false);
}

/** The value of the one sample of `name` (with `labels` when given). */
function value(registry: Registry, name: string, labels: Record<string, string> = {}): number {
  const family = families(registry).get(name);
  assert.ok(family !== undefined, `${name} not rendered`);
  const sample = family.samples.find((s) =>
    s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  );
  assert.ok(sample !== undefined, `${name} has no sample with ${JSON.stringify(labels)}`);
  return sample.value;
}

/** The command that runs a TypeScript file on the runtime running this test. */
function runtimeCommand(file: string): [string, string[]] {
  if (runtime === "deno") return [process.execPath, ["run", "-A", file]];
  if (runtime === "bun") return [process.execPath, [file]];
  return [process.execPath, ["--import", "tsx", file]];
}

describe("defaultMetrics()", () => {
  it(`defaultMetrics() registers exactly the metrics ${runtime} measures, with prom-client's types`, () => {
    const registry = new Registry({ selfMetrics: false });
    using metrics = defaultMetrics(registry);
    assert.deepEqual([...metrics.names].sort(), Object.keys(EXPECTED).sort());
    const rendered = families(registry);
    assert.deepEqual([...rendered.keys()].sort(), Object.keys(EXPECTED).sort());
    for (const [name, type] of Object.entries(EXPECTED)) assert.equal(rendered.get(name)!.type, type, name);
  });

  it("defaultMetrics() reports CPU time that grows with work, memory, and a start time in the past", () => {
    const registry = new Registry({ selfMetrics: false });
    using _metrics = defaultMetrics(registry);
    const user = value(registry, "process_cpu_user_seconds_total");
    const all = value(registry, "process_cpu_seconds_total");
    assert.ok(user > 0 && all >= user, `user ${user}, total ${all}`);
    burnCpu(150);
    const grown = value(registry, "process_cpu_seconds_total");
    assert.ok(grown >= all + 0.15, `150 ms of CPU time added ${grown - all} s`);
    assert.ok(
      Math.abs(
        value(registry, "process_cpu_user_seconds_total") + value(registry, "process_cpu_system_seconds_total") - grown,
      ) < 0.05,
    );
    const rss = value(registry, "process_resident_memory_bytes");
    assert.ok(Math.abs(rss / process.memoryUsage().rss - 1) < 0.2, `rss ${rss}`);
    const start = value(registry, "process_start_time_seconds");
    const uptime = process.uptime();
    assert.ok(Math.abs(start - (Date.now() / 1000 - uptime)) < 2, `start ${start}`);
    assert.ok(value(registry, "nodejs_external_memory_bytes") > 0);
    if (linux) {
      assert.ok(value(registry, "process_virtual_memory_bytes") >= rss);
      assert.ok(value(registry, "process_heap_bytes") > 0);
      assert.ok(value(registry, "process_max_fds") >= value(registry, "process_open_fds"));
    }
  });

  it("process_open_fds counts a file opened since the previous scrape, and its closing", { skip: !linux }, () => {
    const registry = new Registry({ selfMetrics: false });
    using _metrics = defaultMetrics(registry);
    const before = value(registry, "process_open_fds");
    const fd = openSync(fileURLToPath(import.meta.url), "r");
    try {
      assert.equal(value(registry, "process_open_fds"), before + 1);
    } finally {
      closeSync(fd);
    }
    assert.equal(value(registry, "process_open_fds"), before);
  });

  it("nodejs_eventloop_lag_seconds is how long a setImmediate waited after the previous scrape", async () => {
    const registry = new Registry({ selfMetrics: false });
    // A delay monitor sampling every second wakes the loop seldom: an idle loop waits for the next timer.
    using _metrics = defaultMetrics(registry, { eventLoopMonitoringPrecision: 1000 });
    await sleep(20);
    registry.render(); // schedules the next measurement
    busy(80); // the immediate waits for this
    await sleep(20);
    const blocked = value(registry, "nodejs_eventloop_lag_seconds");
    assert.ok(blocked >= 0.075 && blocked < 5, `lag ${blocked} after an 80 ms block`);
    await sleep(150); // an idle loop runs an immediate at once, however long the next event is away
    const idle = value(registry, "nodejs_eventloop_lag_seconds");
    assert.ok(idle < 0.05, `lag ${idle} with an idle loop`);
  });

  it("nodejs_eventloop_lag_{min,max,p99}_seconds see a blocked loop, then reset per scrape", {
    skip: !("nodejs_eventloop_lag_max_seconds" in EXPECTED),
  }, async () => {
    const registry = new Registry({ selfMetrics: false });
    using _metrics = defaultMetrics(registry, { eventLoopMonitoringPrecision: 5 });
    await sleep(50);
    registry.render();
    await new Promise<void>((resolve) => setTimeout(() => (busy(120), resolve()), 10));
    await sleep(60);
    const max = value(registry, "nodejs_eventloop_lag_max_seconds");
    assert.ok(max >= 0.1 && max < 5, `max ${max} after a 120 ms block`);
    assert.ok(value(registry, "nodejs_eventloop_lag_p99_seconds") >= 0.1);
    const min = value(registry, "nodejs_eventloop_lag_min_seconds");
    const mean = value(registry, "nodejs_eventloop_lag_mean_seconds");
    assert.ok(min >= 0 && min <= mean && mean <= max, `min ${min} mean ${mean} max ${max}`);
    await sleep(60);
    const after = value(registry, "nodejs_eventloop_lag_max_seconds");
    assert.ok(after < 0.1, `max ${after} in the scrape after the block: not reset`);
  });

  it("nodejs_eventloop_utilization is near 1 for a busy loop and near 0 for an idle one", {
    skip: !("nodejs_eventloop_utilization" in EXPECTED),
  }, async () => {
    const registry = new Registry({ selfMetrics: false });
    using _metrics = defaultMetrics(registry);
    await sleep(10);
    registry.render();
    busy(200);
    await sleep(1);
    const loaded = value(registry, "nodejs_eventloop_utilization");
    assert.ok(loaded > 0.7 && loaded <= 1, `utilization ${loaded} while busy`);
    await sleep(200);
    const idle = value(registry, "nodejs_eventloop_utilization");
    assert.ok(idle >= 0 && idle < 0.3, `utilization ${idle} while idle`);
  });

  it("nodejs_gc_duration_seconds observes garbage collections by kind", {
    skip: !("nodejs_gc_duration_seconds" in EXPECTED),
  }, async () => {
    const registry = new Registry({ selfMetrics: false });
    using _metrics = defaultMetrics(registry, { gcDurationBuckets: [0.0001, 0.5] });
    let counts: ParsedFamily["samples"] = [];
    for (let round = 0; round < 50 && counts.length === 0; round++) {
      let keep: object[] = [];
      for (let i = 0; i < 200_000; i++) keep.push({ i });
      keep = [];
      await sleep(10);
      counts = families(registry).get("nodejs_gc_duration_seconds")!.samples.filter((s) =>
        s.name.endsWith("_count") && s.value > 0
      );
      assert.equal(keep.length, 0);
    }
    assert.ok(counts.length > 0, "no garbage collection observed");
    for (const sample of counts) assert.ok(["major", "minor", "incremental", "weakcb"].includes(sample.labels.kind!));
    const buckets = families(registry).get("nodejs_gc_duration_seconds")!.samples.filter((s) =>
      s.name.endsWith("_bucket")
    );
    assert.deepEqual([...new Set(buckets.map((s) => s.labels.le))], ["0.0001", "0.5", "+Inf"]);
  });

  it("defaultMetrics() reports heap figures that are consistent with each other", () => {
    const registry = new Registry({ selfMetrics: false });
    using _metrics = defaultMetrics(registry);
    const rendered = families(registry);
    if ("nodejs_heap_size_total_bytes" in EXPECTED) {
      const total = value(registry, "nodejs_heap_size_total_bytes");
      const used = value(registry, "nodejs_heap_size_used_bytes");
      assert.ok(used > 0 && used <= total, `used ${used} of ${total}`);
    }
    if ("nodejs_heap_space_size_total_bytes" in EXPECTED) {
      const totals = rendered.get("nodejs_heap_space_size_total_bytes")!.samples;
      const used = rendered.get("nodejs_heap_space_size_used_bytes")!.samples;
      assert.ok(totals.some((s) => s.labels.space === "old" && s.value > 0), "no old space");
      for (const sample of used) {
        const total = totals.find((t) => t.labels.space === sample.labels.space)!;
        assert.ok(sample.value <= total.value, `space ${sample.labels.space}: used ${sample.value} of ${total.value}`);
      }
    }
    if ("nodejs_version_info" in EXPECTED) {
      const [major, minor, patch] = process.versions.node!.split(".");
      assert.deepEqual(rendered.get("nodejs_version_info")!.samples.map((s) => s.labels), [
        { version: `v${process.versions.node}`, major, minor, patch },
      ]);
    }
    if ("nodejs_active_handles" in EXPECTED) {
      const total = value(registry, "nodejs_active_resources_total");
      const perType = rendered.get("nodejs_active_resources")!.samples.reduce((sum, s) => sum + s.value, 0);
      assert.equal(perType, total);
    }
  });

  it("nodejs_active_* count a timer and a pending request by type, and forget them when they end", {
    skip: !("nodejs_active_handles" in EXPECTED),
  }, async () => {
    const { readFile } = await import("node:fs");
    const registry = new Registry({ selfMetrics: false });
    using _metrics = defaultMetrics(registry);
    const timer = setTimeout(() => {}, 10_000);
    let done!: () => void;
    const read = new Promise<void>((resolve) => (done = resolve));
    readFile(fileURLToPath(import.meta.url), () => done());
    try {
      const rendered = families(registry);
      assert.ok(rendered.get("nodejs_active_resources")!.samples.some((s) => s.labels.type === "Timeout"));
      assert.ok(rendered.get("nodejs_active_requests")!.samples.some((s) => s.labels.type === "FSReqCallback"));
      assert.ok(value(registry, "nodejs_active_requests_total") >= 1);
    } finally {
      clearTimeout(timer);
    }
    await read;
    await sleep(5);
    const after = families(registry);
    assert.ok(!after.get("nodejs_active_requests")!.samples.some((s) => s.labels.type === "FSReqCallback"));
    assert.ok(!after.get("nodejs_active_resources")!.samples.some((s) => s.labels.type === "Timeout"));
  });

  it("defaultMetrics() prefixes every name and puts the constant labels on every series", async () => {
    const registry = new Registry({ selfMetrics: false });
    using metrics = defaultMetrics(registry, { prefix: "app_", labels: { service: "api", zone: "eu" } });
    await sleep(30);
    const rendered = families(registry);
    assert.deepEqual([...rendered.keys()].sort(), Object.keys(EXPECTED).map((n) => "app_" + n).sort());
    assert.deepEqual(metrics.names.every((n) => n.startsWith("app_")), true);
    let samples = 0;
    for (const family of rendered.values()) {
      for (const sample of family.samples) {
        samples++;
        assert.equal(sample.labels.service, "api", `${sample.name} lacks service`);
        assert.equal(sample.labels.zone, "eu", `${sample.name} lacks zone`);
      }
    }
    assert.ok(samples >= Object.keys(EXPECTED).length - 8, `${samples} samples`);
    assert.ok(value(registry, "app_process_cpu_seconds_total", { service: "api" }) > 0);
  });

  it("defaultMetrics() shows no event-loop sample before one was measured, rather than a 0", () => {
    const registry = new Registry({ selfMetrics: false });
    using _metrics = defaultMetrics(registry, { eventLoopMonitoringPrecision: 1000 });
    const rendered = families(registry);
    assert.deepEqual(rendered.get("nodejs_eventloop_lag_seconds")!.samples, []);
    if ("nodejs_eventloop_lag_max_seconds" in EXPECTED) {
      for (const stat of ["min", "max", "mean", "stddev", "p50", "p90", "p99"]) {
        assert.deepEqual(rendered.get(`nodejs_eventloop_lag_${stat}_seconds`)!.samples, [], stat);
      }
    }
  });

  it("defaultMetrics() leaves out CPU and memory where the process' readings throw, and does not throw", () => {
    const target = (globalThis as unknown as { process: Record<string, unknown> }).process;
    const saved = { cpuUsage: target.cpuUsage, memoryUsage: target.memoryUsage };
    const fail = (): never => {
      throw new Error("EPERM: not permitted");
    };
    target.cpuUsage = fail;
    target.memoryUsage = Object.assign(() => fail(), { rss: fail });
    try {
      const registry = new Registry({ selfMetrics: false });
      using metrics = defaultMetrics(registry);
      for (
        const gone of ["process_cpu_seconds_total", "process_resident_memory_bytes", "nodejs_external_memory_bytes"]
      ) {
        assert.ok(!metrics.names.includes(gone), `${gone} registered without a reading`);
      }
      assert.ok(metrics.names.includes("process_start_time_seconds"));
      registry.render();
    } finally {
      Object.assign(target, saved);
    }
  });

  it("defaultMetrics() refuses bad options, naming the option, and registers nothing", () => {
    const registry = new Registry({ selfMetrics: false });
    const bad: [unknown, RegExp][] = [
      [{ prefix: "1app_" }, /option "prefix"/],
      [{ prefix: 7 }, /option "prefix"/],
      [{ labels: { "bad-name": "x" } }, /option "labels" has label name "bad-name"/],
      [{ labels: { __reserved: "x" } }, /option "labels" has label name "__reserved"/],
      [{ labels: { type: "x" } }, /option "labels" has label name "type", which the default metrics use/],
      [{ labels: { service: 3 } }, /option "labels" label "service" must be a string/],
      [{ labels: { service: "x".repeat(1025) } }, /option "labels" label "service" is 1025 code units long/],
      [{ labels: ["a"] }, /option "labels" must be an object/],
      [{ eventLoopMonitoringPrecision: 0 }, /option "eventLoopMonitoringPrecision"/],
      [{ eventLoopMonitoringPrecision: 2.5 }, /option "eventLoopMonitoringPrecision"/],
      [{ eventLoopMonitoringPrecision: "10" }, /option "eventLoopMonitoringPrecision"/],
      [{ gcDurationBuckets: [] }, /option "gcDurationBuckets"/],
      [{ gcDurationBuckets: [0.1, 0.1] }, /option "gcDurationBuckets" must be strictly increasing/],
      [{ gcDurationBuckets: [0.1, NaN] }, /option "gcDurationBuckets" has NaN/],
      [null, /options must be an object/],
    ];
    for (const [options, message] of bad) {
      assert.throws(
        () => defaultMetrics(registry, options as Parameters<typeof defaultMetrics>[1]),
        message,
        JSON.stringify(options),
      );
    }
    assert.equal(registry.render(), "");
  });

  it("a second defaultMetrics() on one registry throws and leaves the first one's metrics working", () => {
    const registry = new Registry({ selfMetrics: false });
    using first = defaultMetrics(registry);
    const before = value(registry, "process_cpu_seconds_total");
    assert.throws(() => defaultMetrics(registry), /defaultMetrics\(\) is already running on this registry/);
    assert.equal(families(registry).size, first.names.length);
    burnCpu(60);
    assert.ok(value(registry, "process_cpu_seconds_total") >= before + 0.06, "the first one's CPU hook was lost");
    // Another prefix is another set of metrics.
    using second = defaultMetrics(registry, { prefix: "other_" });
    assert.equal(families(registry).size, first.names.length + second.names.length);
  });

  it("defaultMetrics() after systemMetrics() on one registry throws and registers none of its own", () => {
    const registry = new Registry({ selfMetrics: false });
    using _system = systemMetrics(registry, { eventLoopLagIntervalMs: false });
    const names = [...families(registry).keys()];
    assert.throws(() => defaultMetrics(registry), /defaultMetrics\(\) cannot register its metrics on this registry/);
    assert.deepEqual([...families(registry).keys()], names);
  });

  it("stop() removes every metric and frees the names for another defaultMetrics()", () => {
    const registry = new Registry({ selfMetrics: false });
    const metrics = defaultMetrics(registry);
    assert.ok(registry.render() !== "");
    metrics.stop();
    assert.equal(registry.render(), "");
    metrics.stop(); // idempotent
    {
      using again = defaultMetrics(registry);
      assert.deepEqual(again.names, metrics.names);
    }
    assert.equal(registry.render(), "", "using did not stop it");
  });

  it("defaultMetrics()' exposition passes promtool, with a prefix and constant labels too", async () => {
    const registry = new Registry();
    using _plain = defaultMetrics(registry);
    using _labelled = defaultMetrics(registry, { prefix: "app_", labels: { service: 'a"p\\i\n' } });
    await sleep(30);
    const text = registry.render();
    const result = promtoolCheck(text);
    assert.ok(result.ok, `promtool rejected:\n${result.output}\n---\n${text}`);
    parseExposition(registry.render("openmetrics"), true);
  });

  it("defaultMetrics() never keeps the process alive: a script that never calls stop() exits", () => {
    const [command, args] = runtimeCommand(fileURLToPath(new URL("./fixtures/exit.ts", import.meta.url)));
    const result = spawnSync(command, args, {
      cwd: fileURLToPath(new URL("../../", import.meta.url)),
      encoding: "utf8",
      timeout: 20_000,
    });
    assert.equal(result.signal, null, "the process had to be killed: something keeps it alive");
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), "rendered");
  });
});

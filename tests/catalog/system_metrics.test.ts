import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { detectRuntimeProbe, type RuntimeProbe } from "../../src/catalog/runtime_probe.ts";
import { systemMetrics } from "../../src/catalog/system_metrics.ts";
import { Registry } from "../../src/registry.ts";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* spin */ }
}

/** Spins until this process has used `ms` more CPU time (or 5 s passed): robust on a shared, busy machine. */
function burnCpu(ms: number): void {
  const cpu = (): number => {
    const usage = detectRuntimeProbe().cpuUsageMicros()!;
    return (usage.user + usage.system) / 1000;
  };
  const start = cpu();
  const deadline = performance.now() + 5000;
  while (cpu() - start < ms && performance.now() < deadline) busy(5);
}

/** The command that runs a TypeScript file on the runtime running this test. */
function runtimeCommand(file: string): [string, string[]] {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (g.Deno !== undefined) return [process.execPath, ["run", "-A", file]];
  if (g.Bun !== undefined) return [process.execPath, [file]];
  return [process.execPath, ["--import", "tsx", file]];
}

describe("systemMetrics()", () => {
  it("detectRuntimeProbe() reads CPU time, resident memory and a start time in the past on this runtime", () => {
    const probe = detectRuntimeProbe();
    const cpu = probe.cpuUsageMicros();
    assert.ok(cpu !== undefined && cpu.user >= 0 && cpu.system >= 0 && cpu.user + cpu.system > 0);
    assert.ok((probe.residentMemoryBytes() ?? 0) > 1024 * 1024);
    const start = probe.startTimeSeconds() ?? 0;
    assert.ok(start <= Date.now() / 1000 && start > Date.now() / 1000 - 24 * 3600, `start ${start}`);
  });

  it("systemMetrics() reports plausible memory, CPU and start time on every scrape", async () => {
    const registry = new Registry();
    using system = systemMetrics(registry, { cpuSampleIntervalMs: 50 });
    registry.render();
    assert.ok(system.memoryBytes.get() > 1024 * 1024);
    // Both read the resident set size, a moment apart.
    assert.ok(Math.abs(system.residentMemoryBytes.get() / system.memoryBytes.get() - 1) < 0.1);
    const startTime = system.startTimeSeconds.get();
    assert.ok(startTime <= Date.now() / 1000 && startTime > Date.now() / 1000 - 24 * 3600);
    const cpuBefore = system.cpuSecondsTotal.get();
    assert.ok(cpuBefore > 0);
    await sleep(60);
    burnCpu(60);
    registry.render();
    const ratio = system.cpuUsageRatio.get();
    assert.ok(ratio > 0 && ratio <= availableParallelism() + 0.1, `ratio ${ratio}`);
    assert.ok(system.cpuSecondsTotal.get() >= cpuBefore + 0.05, "cpu seconds did not grow with 60 ms of CPU time");
  });

  it("systemMetrics() renders the 4 catalog system metrics and the 4 standard process metrics", () => {
    const registry = new Registry({ selfMetrics: false });
    using _system = systemMetrics(registry, { eventLoopLagIntervalMs: false });
    const text = registry.render();
    for (
      const [name, type] of [
        ["process_cpu_usage_ratio", "gauge"],
        ["process_memory_bytes", "gauge"],
        ["process_active_tasks", "gauge"],
        ["process_tasks_spawned_total", "counter"],
        ["process_cpu_seconds_total", "counter"],
        ["process_resident_memory_bytes", "gauge"],
        ["process_start_time_seconds", "gauge"],
        ["nodejs_eventloop_lag_seconds", "gauge"],
      ]
    ) {
      assert.ok(text.includes(`# TYPE ${name} ${type}\n${name} `), `${name} ${type} not rendered`);
    }
    assert.equal(registry.collect().length, 8);
  });

  it("systemMetrics() computes the CPU ratio as CPU time over wall time between samples", async () => {
    const t0 = performance.now();
    // A process that burns half a core, whatever the wall clock does.
    const probe: RuntimeProbe = {
      cpuUsageMicros: () => ({ user: (performance.now() - t0) * 250, system: (performance.now() - t0) * 250 }),
      residentMemoryBytes: () => 1234,
      startTimeSeconds: () => 1_700_000_000,
    };
    const registry = new Registry({ selfMetrics: false });
    using system = systemMetrics(registry, { probe, cpuSampleIntervalMs: 20, eventLoopLagIntervalMs: false });
    await sleep(40);
    registry.render();
    assert.ok(Math.abs(system.cpuUsageRatio.get() - 0.5) < 0.01, `ratio ${system.cpuUsageRatio.get()}`);
    assert.equal(system.memoryBytes.get(), 1234);
    assert.equal(system.startTimeSeconds.get(), 1_700_000_000);
  });

  it("systemMetrics() leaves series at 0 when the probe cannot tell", () => {
    const probe: RuntimeProbe = {
      cpuUsageMicros: () => undefined,
      residentMemoryBytes: () => undefined,
      startTimeSeconds: () => undefined,
    };
    const registry = new Registry({ selfMetrics: false });
    using system = systemMetrics(registry, { probe, cpuSampleIntervalMs: 0, eventLoopLagIntervalMs: false });
    registry.render();
    assert.equal(system.memoryBytes.get(), 0);
    assert.equal(system.cpuSecondsTotal.get(), 0);
    assert.equal(system.cpuUsageRatio.get(), 0);
  });

  it("systemMetrics() measures event-loop lag while the loop is blocked, and resets it per scrape", async () => {
    const registry = new Registry({ selfMetrics: false });
    using system = systemMetrics(registry, { eventLoopLagIntervalMs: 10 });
    await sleep(5);
    busy(80);
    await sleep(30);
    registry.render();
    const lag = system.eventLoopLagSeconds.get();
    assert.ok(lag >= 0.04 && lag < 5, `lag ${lag}`);
    await sleep(50);
    registry.render();
    assert.ok(system.eventLoopLagSeconds.get() < lag, "lag not reset after the blocked period");
  });

  it("trackTask() counts spawned tasks and keeps a task active until it settles", async () => {
    const registry = new Registry({ selfMetrics: false });
    using system = systemMetrics(registry, { eventLoopLagIntervalMs: false });
    let release!: () => void;
    const running = system.trackTask(new Promise<string>((resolve) => (release = () => resolve("done"))));
    assert.equal(system.activeTasks.get(), 1);
    assert.equal(system.tasksSpawned.get(), 1);
    await assert.rejects(system.trackTask(() => Promise.reject(new Error("boom"))), /boom/);
    assert.equal(system.tasksSpawned.get(), 2);
    assert.equal(system.activeTasks.get(), 1);
    release();
    assert.equal(await running, "done");
    assert.equal(await system.trackTask(() => 42), 42);
    assert.equal(system.activeTasks.get(), 0);
    assert.equal(system.tasksSpawned.get(), 3);
  });

  it("systemMetrics() rejects bad options, naming the option", () => {
    const registry = new Registry({ selfMetrics: false });
    assert.throws(() => systemMetrics(registry, { eventLoopLagIntervalMs: 0 }), /"eventLoopLagIntervalMs"/);
    assert.throws(() => systemMetrics(registry, { cpuSampleIntervalMs: -1 }), /"cpuSampleIntervalMs"/);
  });

  it("systemMetrics() never keeps the process alive: a script that never calls stop() exits", () => {
    const [command, args] = runtimeCommand(
      fileURLToPath(new URL("./fixtures/system_metrics_exit.ts", import.meta.url)),
    );
    const result = spawnSync(command, args, {
      cwd: fileURLToPath(new URL("../../", import.meta.url)),
      encoding: "utf8",
      timeout: 20_000,
    });
    assert.equal(result.signal, null, "the process had to be killed: the timer keeps it alive");
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), "rendered");
  });
});

// End to end, fuzzed: a few registries filled by random operations of the API fuzzer
// (tests/fuzz), each judged by the model as it runs, served by the Node adapter twice
// (negotiated, so OpenMetrics, and forced to the text format 0.0.4) and scraped by a real
// Prometheus (Debian's /usr/bin/prometheus). Every target must be up, and every series
// Prometheus holds must be one the model has, with the model's value.
// Node only: node --import tsx --test tests/e2e/fuzz_scrape.test.ts
// The seed: FUZZ_SEED (printed on failure).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import fc from "fast-check";
import { serve } from "../../adapters/node.ts";
import { Registry, type RegistryOptions } from "../../mod.ts";
import { getText, stopProcess, waitFor } from "../support/process.ts";
import { type PrometheusServer, type Sample, startPrometheus } from "../support/prometheus.ts";
import { Model, sampleKey } from "../fuzz/_model.ts";
import { execute, newEnv, type Op, operation, provider, PROVIDER_NAMES, type ProviderName } from "../fuzz/_ops.ts";

const STARTUP_TIMEOUT_MS = 60_000;
const SCRAPE_TIMEOUT_MS = 30_000;
const REGISTRIES = 3;
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
/** Triage aid, as in tests/fuzz: a program whose judgement fails with a matching message is skipped. */
const TOLERATE = process.env.FUZZ_TOLERATE === undefined ? undefined : new RegExp(process.env.FUZZ_TOLERATE);

type Format = "openmetrics" | "prometheus";

interface Target {
  job: string;
  port: number;
  format: Format;
  model: Model;
}

const program = fc.record({
  maxSeries: fc.option(fc.constantFrom(2, 5, 8), { freq: 2 }),
  exemplars: fc.option(fc.constantFrom(...PROVIDER_NAMES), { freq: 2 }),
  // No hooks and no clocks: a scrape must not change the values it reads.
  ops: fc.array(operation({ threads: false, hooks: false, clocks: false, lifecycle: true }), {
    minLength: 60,
    maxLength: 150,
    size: "max",
  }),
});

/** A registry filled by a random program, every operation judged by the model on the way. */
function fuzzedRegistry(maxSeries: number | null, exemplars: ProviderName | null, ops: readonly Op[]) {
  const options: RegistryOptions = {};
  if (maxSeries !== null) options.maxSeries = maxSeries;
  if (exemplars !== null) options.exemplars = provider(exemplars);
  const registry = new Registry(options);
  const model = new Model({
    maxSeries: maxSeries ?? 10_000,
    maxThreads: 16,
    selfMetrics: true,
    ...(exemplars === null ? {} : { exemplars }),
  });
  const env = newEnv(registry);
  try {
    for (const op of ops) {
      // stream() is async and judged by tests/fuzz; here every operation runs synchronously.
      if (!("view" in op) || op.t === "stream") continue;
      const inView = { ...op, view: 0 } as Op;
      model.judge(0, inView, execute(env, inView));
    }
  } catch (error) {
    if (TOLERATE !== undefined && TOLERATE.test((error as Error).message)) return undefined;
    throw error;
  }
  return { registry, model };
}

/** Prometheus writes +Inf, -Inf and NaN as such; Number() reads only NaN of them. */
function valueOf(text: string): number {
  return text === "+Inf" ? Infinity : text === "-Inf" ? -Infinity : Number(text);
}

const closers: (() => Promise<void>)[] = [];
const targets: Target[] = [];
let prometheus: PrometheusServer | undefined;

describe(`Prometheus scrapes fuzzed registries (FUZZ_SEED=${SEED})`, () => {
  before(async () => {
    const programs = fc.sample(program, { seed: SEED, numRuns: TOLERATE === undefined ? REGISTRIES : 10 * REGISTRIES });
    let i = 0;
    for (const p of programs) {
      if (i === REGISTRIES) break;
      // One registry per target, built by the same program: a scrape of one does not touch the other.
      const built = (["openmetrics", "prometheus"] as const).map((format) => ({
        format,
        fuzzed: fuzzedRegistry(p.maxSeries, p.exemplars, p.ops),
      }));
      if (built.some((b) => b.fuzzed === undefined)) continue;
      for (const { format, fuzzed } of built) {
        const { registry, model } = fuzzed!;
        const server = await serve({
          registry,
          port: 0,
          hostname: "127.0.0.1",
          selfMetrics: false,
          ...(format === "prometheus" ? { format } : {}),
        });
        closers.push(() => server.close());
        targets.push({ job: `fuzz${i}_${format}`, port: server.port, format, model });
      }
      i++;
    }
    assert.equal(i, REGISTRIES, "too few programs ran through (FUZZ_TOLERATE)");
    const server = await startPrometheus(targets.map((t) => ({ job: t.job, target: `127.0.0.1:${t.port}` })));
    prometheus = server;
    await waitFor(
      "Prometheus to be ready",
      async () => (await getText(`${server.url}/-/ready`)).status === 200,
      STARTUP_TIMEOUT_MS,
      server.process.log,
    );
    await waitFor("every fuzzed target scraped", async () => {
      const up = await server.query("up");
      return up.length === targets.length;
    }, SCRAPE_TIMEOUT_MS);
  });

  after(async () => {
    if (prometheus !== undefined) {
      await stopProcess(prometheus.process.child);
      rmSync(prometheus.dataDirectory, { recursive: true, force: true });
    }
    await Promise.all(closers.map((close) => close()));
  });

  it("Prometheus reports up == 1 for every fuzzed registry in both formats", async () => {
    for (const target of targets) {
      const up = await prometheus!.query(`up{job="${target.job}"}`);
      assert.equal(up.length, 1, target.job);
      assert.equal(up[0]!.value[1], "1", `${target.job} is down (FUZZ_SEED=${SEED})`);
    }
  });

  it("Prometheus holds exactly the model's series and values of every fuzzed registry", async () => {
    for (const target of targets) {
      target.model.scrape();
      const { samples, quantiles } = target.model.expectedSamples(target.format === "openmetrics");
      // Prometheus drops a label whose value is empty: so does the expectation.
      const dropEmpty = (key: string): string => {
        const bracket = key.indexOf("[");
        const name = key.slice(0, bracket);
        const labels = (JSON.parse(key.slice(bracket)) as [string, string][]).filter(([, v]) => v !== "");
        return sampleKey(name, Object.fromEntries(labels));
      };
      const expected = new Map([...samples].map(([key, e]) => [dropEmpty(key), e]));
      const quantileKeys = new Set([...quantiles].map(dropEmpty));
      const held: Sample[] = await prometheus!.query(`{job="${target.job}"}`);
      const seen = new Set<string>();
      for (const sample of held) {
        const { __name__: name, job: _job, instance: _instance, ...labels } = sample.metric;
        if (name === undefined || name === "up" || name.startsWith("scrape_")) continue;
        if (target.model.untracked(name, labels)) continue;
        const key = sampleKey(name, labels);
        seen.add(key);
        if (quantileKeys.has(key)) continue;
        const want = expected.get(key);
        assert.ok(want !== undefined, `${target.job}: Prometheus holds ${key}, which the model does not have`);
        const got = valueOf(sample.value[1]);
        if (want.value === undefined) continue;
        const same = Object.is(got, want.value) || (got === 0 && want.value === 0) ||
          (Number.isNaN(got) && Number.isNaN(want.value));
        assert.ok(
          same,
          `${target.job}: ${key} is ${got} in Prometheus, ${want.value} in the model (FUZZ_SEED=${SEED})`,
        );
      }
      for (const [key, want] of expected) {
        if (!want.optional) assert.ok(seen.has(key), `${target.job}: Prometheus lacks ${key} (FUZZ_SEED=${SEED})`);
      }
    }
  });
});

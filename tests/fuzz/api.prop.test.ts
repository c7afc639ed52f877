// The whole-API fuzzer: random programs over the public API — registry options (small
// maxSeries and maxThreads, exemplar providers, self-metrics), every metric type and its
// options, registration clashes, labels, bound series, exemplars (given and from providers,
// some throwing), timers, collect hooks, get(), remove()/clear()/reset() and
// registry.remove()/clear(), attached views and worker threads attaching and detaching,
// render() in both formats, collectAsync() + stream(), collect() — with arbitrary JavaScript
// values where the types say string or number (digit strings, null, objects, bigints, NaN,
// -0, huge numbers, lone surrogates, 64 KiB strings, Object.prototype keys).
//
// After every operation the model (_model.ts) judges it: it did what the contract says, or
// threw a clear error (an Error of the right class whose message names the metric) and
// changed nothing; seriesCount() and a get() of the series it aimed at must agree with the
// model. Every RENDER_EVERY operations and at the end of each run a render is compared with
// the model sample by sample (no counter, bucket or _count going down, +Inf equal to _count,
// _sum/_count never flapping in OpenMetrics, exemplars as recorded); some runs also send
// their renders to promtool and to the strict OpenMetrics parser. tests/e2e/fuzz_scrape.test.ts
// has a real Prometheus scrape fuzzed registries.
//
// Runs on Node, Deno and Bun in the unit suite (FUZZ_RUNS=60 by default). Longer runs:
// `npm run fuzz -- --runs N --seed S` (see scripts/fuzz.mjs), or these variables with any
// runner: FUZZ_RUNS, FUZZ_SEED, FUZZ_PATH (replay the failing run fast-check printed),
// FUZZ_OPS (most operations a run), FUZZ_VERBOSE, FUZZ_TRACE, FUZZ_TOLERATE (see below).

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Registry, type RegistryOptions, type StoreHandle } from "../../mod.ts";
import { spawnWorker, type ThreadWorker } from "../threads/_spawn.ts";
import { checkExternally, type Render } from "./_external.ts";
import { type Config, describe as describeOp, Model } from "./_model.ts";
import {
  type Env,
  execute,
  newEnv,
  type Op,
  operation,
  type Outcome,
  preregistration,
  provider,
  PROVIDER_NAMES,
  type ProviderName,
  workerTask,
} from "./_ops.ts";
import type { TaskResult } from "./_worker.ts";

const variables = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
/** Runs of the property (each a fresh registry and up to FUZZ_OPS operations). */
const RUNS = Number(variables.FUZZ_RUNS ?? 60);
const SEED = variables.FUZZ_SEED === undefined ? undefined : Number(variables.FUZZ_SEED);
const MAX_OPS = Number(variables.FUZZ_OPS ?? 120);
/** A failing run's path, as fast-check printed it: replays that run only. */
const PATH = variables.FUZZ_PATH;
/**
 * Triage aid: a run whose first failure's message matches this regular expression ends
 * there and counts as passed, so that the failures behind a known one show up.
 */
const TOLERATE = variables.FUZZ_TOLERATE === undefined ? undefined : new RegExp(variables.FUZZ_TOLERATE);
/** Print every operation before it runs (to find one that crashes the process). */
const TRACE = variables.FUZZ_TRACE !== undefined;
/** Print how many operations ran, succeeded, threw and were skipped. */
const VERBOSE = variables.FUZZ_VERBOSE !== undefined;
const stats = {
  runs: 0,
  operations: 0,
  succeeded: 0,
  threw: 0,
  skipped: 0,
  renders: 0,
  external: 0,
  attached: 0,
  workerTasks: 0,
  tolerated: 0,
};
const skips = new Map<string, number>();
const tolerated = new Map<string, number>();
/** A render is compared with the model at least this often (and at the end of every run). */
const RENDER_EVERY = 40;
/** Renders of one run sent to promtool and the OpenMetrics parser, at most. */
const EXTERNAL_RENDERS = 6;

let pool: Promise<ThreadWorker[]> | undefined;
function workers(): Promise<ThreadWorker[]> {
  pool ??= Promise.all([0, 1].map(() => spawnWorker(new URL("./_worker.ts", import.meta.url))));
  return pool;
}
after(async () => {
  if (pool !== undefined) { for (const worker of await pool) await worker.terminate(); }
});

/** Registry options that must be refused, tried before the run's registry is made. */
const BAD_OPTIONS: readonly Record<string, unknown>[] = [
  { maxSeries: 0 },
  { maxSeries: -1 },
  { maxSeries: 1.5 },
  { maxSeries: NaN },
  { maxSeries: Infinity },
  { maxSeries: "5" },
  { maxThreads: 0 },
  { maxThreads: 1025 },
  { maxThreads: 2.5 },
];

interface RunConfig {
  maxSeries: number | null;
  maxThreads: number | null;
  exemplars: ProviderName | null;
  selfMetrics: boolean;
  threads: boolean;
  workers: boolean;
  bad: Record<string, unknown> | null;
  external: boolean;
}

const runConfig: fc.Arbitrary<RunConfig> = fc.record({
  maxSeries: fc.option(fc.constantFrom(1, 2, 3, 5, 8), { freq: 3 }),
  maxThreads: fc.option(fc.constantFrom(2, 3), { freq: 3 }),
  exemplars: fc.option(fc.constantFrom(...PROVIDER_NAMES), { freq: 2 }),
  selfMetrics: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  threads: fc.oneof({ weight: 2, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  workers: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  bad: fc.option(fc.constantFrom(...BAD_OPTIONS), { freq: 8 }),
  external: fc.oneof({ weight: 2, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
}).map((c) => {
  // Worker threads need a shared registry; a registry without self-metrics is left to single-thread runs
  // (an attached registry registers them: a rule the contract leaves open).
  const threads = c.threads || c.workers;
  return { ...c, threads, selfMetrics: c.selfMetrics || threads };
});

const runArbitrary = runConfig.chain((config) => {
  // Removals only where one view records: another thread's writes racing a removal may be dropped (documented).
  const one = operation({ threads: config.threads, hooks: true, clocks: true, lifecycle: !config.threads });
  const op = config.workers ? fc.oneof({ weight: 30, arbitrary: one }, { weight: 1, arbitrary: workerTask() }) : one;
  const ops = fc.tuple(
    preregistration,
    fc.array(op, { minLength: Math.min(10, MAX_OPS), maxLength: MAX_OPS, size: "max" }),
  )
    // A run with workers shares its registry first, so that the workers have a handle.
    .map(([first, rest]): Op[] => [...(config.workers ? [{ t: "share" } as Op] : []), ...first, ...rest]);
  return fc.tuple(fc.constant(config), ops);
});

function count(op: Op, outcome: Outcome): void {
  stats.operations++;
  if ("skipped" in outcome) {
    stats.skipped++;
    const reason = `${op.t}: ${outcome.skipped}`;
    skips.set(reason, (skips.get(reason) ?? 0) + 1);
  } else if (outcome.ok) stats.succeeded++;
  else stats.threw++;
}

function outcomeOf(run: () => unknown): Outcome {
  try {
    return { ok: true, result: run() };
  } catch (error) {
    const e = error as Error;
    return { ok: false, name: e?.name ?? "(not an Error)", message: e?.message ?? String(error) };
  }
}

/** Runs one generated program against a fresh registry and the model. */
async function runProgram(config: RunConfig, ops: readonly Op[]): Promise<void> {
  if (config.bad !== null) {
    const bad = config.bad;
    assert.throws(
      () => new Registry(bad as RegistryOptions),
      (error: Error) =>
        error instanceof Error && /maxSeries|maxThreads/.test(error.message) && !/Cannot|undefined/.test(error.message),
      `new Registry(${JSON.stringify(bad)}) must be refused with a clear error`,
    );
  }
  const options: RegistryOptions = { selfMetrics: config.selfMetrics };
  if (config.maxSeries !== null) options.maxSeries = config.maxSeries;
  if (config.maxThreads !== null) options.maxThreads = config.maxThreads;
  if (config.exemplars !== null) options.exemplars = provider(config.exemplars);
  const registry = new Registry(options);
  const modelConfig: Config = {
    maxSeries: config.maxSeries ?? 10_000,
    maxThreads: config.maxThreads ?? 16,
    selfMetrics: config.selfMetrics,
  };
  if (config.exemplars !== null) modelConfig.exemplars = config.exemplars;
  const model = new Model(modelConfig);
  const envs: (Env | undefined)[] = [newEnv(registry)];
  let handle: StoreHandle | undefined;
  const renders: Render[] = [];

  const alive = (index: number, attachedOnly: boolean): number | undefined => {
    const ids = envs.flatMap((env, id) => (env !== undefined && (!attachedOnly || id > 0) ? [id] : []));
    return ids.length === 0 ? undefined : ids[index % ids.length];
  };

  const render = (viewId: number, format: "prometheus" | "openmetrics", why: string): void => {
    const op: Op = { t: "render", view: viewId, format };
    const outcome = execute(envs[viewId]!, op);
    model.judge(viewId, op, outcome);
    keep(outcome, format, `${why}, view ${viewId}`);
  };
  const keep = (outcome: Outcome, format: "prometheus" | "openmetrics", what: string): void => {
    if (!("ok" in outcome) || !outcome.ok) return;
    stats.renders++;
    const text = outcome.result as string;
    if (config.external && renders.length < EXTERNAL_RENDERS) {
      renders.push({ text, om: format === "openmetrics", what });
    }
  };

  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const where = `operation ${i + 1}/${ops.length}`;
    if (TRACE) console.error(`${where}: ${describeOp(op)}`);
    switch (op.t) {
      case "share": {
        const outcome = outcomeOf(() => registry.share());
        assert.ok("ok" in outcome && outcome.ok, `${where}: registry.share() threw: ${JSON.stringify(outcome)}`);
        handle = outcome.result as StoreHandle;
        break;
      }
      case "attach": {
        if (handle === undefined) break;
        const shared = handle;
        let attached: Registry | undefined;
        const outcome = outcomeOf(() => {
          attached = Registry.attach(shared, op.exemplars === undefined ? {} : { exemplars: provider(op.exemplars) });
        });
        const id = model.judgeAttach(outcome, op.exemplars, `${where}: Registry.attach()`);
        if (id !== undefined) {
          envs[id] = newEnv(attached!);
          stats.attached++;
        }
        break;
      }
      case "detach": {
        const id = alive(op.view, true);
        if (id === undefined) break;
        envs[id]!.registry.detach();
        envs[id] = undefined;
        model.detach(id);
        break;
      }
      case "stream": {
        const id = alive(op.view, false)!;
        const env = envs[id]!;
        let outcome: Outcome;
        try {
          if (op.collect) await env.registry.collectAsync();
          outcome = { ok: true, result: await new Response(env.registry.stream(op.format)).text() };
        } catch (error) {
          const e = error as Error;
          outcome = { ok: false, name: e.name, message: e.message };
        }
        count(op, outcome);
        model.judge(id, op, outcome);
        keep(outcome, op.format, `${where} ${describeOp(op)}, view ${id}`);
        break;
      }
      case "worker": {
        if (handle === undefined) break;
        const worker = (await workers())[op.worker]!;
        const task: Record<string, unknown> = { handle, ops: op.ops, detach: op.detach };
        if (op.exemplars !== undefined) task.exemplars = op.exemplars;
        const result = await worker.run(task) as TaskResult;
        stats.workerTasks++;
        const id = model.judgeAttach(result.attach, op.exemplars, `${where}: Registry.attach() in a worker`);
        if (id === undefined) break;
        op.ops.forEach((inner, j) => {
          count(inner, result.outcomes[j]!);
          model.judge(id, inner, result.outcomes[j]!);
        });
        if (op.detach) model.detach(id);
        else model.dropView(id);
        break;
      }
      default: {
        const id = alive("view" in op ? op.view : 0, false)!;
        const outcome = execute(envs[id]!, op);
        count(op, outcome);
        model.judge(id, op, outcome);
        if (op.t === "render") keep(outcome, op.format, `${where} ${describeOp(op)}, view ${id}`);
        const target = model.lastTarget;
        if (target !== undefined) {
          // A probe of the series the call aimed at, through the public get().
          const env = envs[id]!;
          // deno-lint-ignore no-explicit-any
          const family = (env.families.get(target.metric) ?? env.registry.get(target.metric)) as any;
          const names: string[] = family.labelNames;
          const probe = outcomeOf(() => family.get(Object.fromEntries(names.map((n, k) => [n, target.values[k]]))));
          assert.ok("ok" in probe && probe.ok, `${where}: get() of the series ${describeOp(op)} aimed at threw`);
          model.checkGet(target.metric, target.values, probe.result, `${where}: after ${describeOp(op)}, get()`);
        }
      }
    }
    assert.equal(
      registry.seriesCount(),
      model.seriesCount,
      `${where}: after ${describeOp(op)}, seriesCount() differs from the model (a call created or lost a series)`,
    );
    if (i % RENDER_EVERY === RENDER_EVERY - 1) {
      render(0, i % (2 * RENDER_EVERY) < RENDER_EVERY ? "prometheus" : "openmetrics", where);
    }
  }
  render(0, "prometheus", "final render");
  render(0, "openmetrics", "final render");
  const collect: Op = { t: "collect", view: 0 };
  model.judge(0, collect, execute(envs[0]!, collect));
  for (const env of envs.slice(1)) env?.registry.detach();
  stats.runs++;
  if (renders.length > 0) {
    stats.external += renders.length;
    checkExternally(renders);
  }
}

describe("the public API against a model, fuzzed", () => {
  it("Every call on Registry, its metrics, bound series, timers, hooks, attached views and workers does what the model says or throws a clear error and changes nothing", async () => {
    const parameters: fc.Parameters<[[RunConfig, Op[]]]> = { numRuns: RUNS, includeErrorInReport: true };
    // In the unit suite, shrinking a failure stops in time to report it within Bun's 120 s per test.
    if (variables.FUZZ_RUNS === undefined) parameters.interruptAfterTimeLimit = 90_000;
    if (SEED !== undefined) parameters.seed = SEED;
    if (PATH !== undefined) parameters.path = PATH;
    const property = fc.asyncProperty(runArbitrary, async ([config, ops]) => {
      try {
        await runProgram(config, ops);
      } catch (error) {
        const message = (error as Error).message;
        if (TOLERATE === undefined || !TOLERATE.test(message)) throw error;
        stats.tolerated++;
        const match = TOLERATE.exec(message)![0].slice(0, 40);
        tolerated.set(match, (tolerated.get(match) ?? 0) + 1);
      }
    });
    await fc.assert(property, parameters);
    if (VERBOSE) {
      console.log(
        JSON.stringify({ ...stats, skips: Object.fromEntries(skips), toleratedBy: Object.fromEntries(tolerated) }),
      );
    }
  });
});

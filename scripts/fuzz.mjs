#!/usr/bin/env node
// Runs the whole-API fuzzer (tests/fuzz/api.prop.test.ts) longer than the unit suite does, on Node.
//
//   npm run fuzz -- [--runs N] [--seed S] [--ops N] [--path P] [--scrape] [--verbose]
//
//   --runs N    property runs, each a fresh registry and its own program (default 2000; the unit suite runs 60)
//   --seed S    fast-check seed, to replay a failure (a failure prints its seed and path)
//   --path P    with --seed, replay only the failing run fast-check printed as "path"
//   --ops N     most operations in one run (default 120)
//   --scrape    afterwards, have a real Prometheus scrape fuzzed registries too (tests/e2e/fuzz_scrape.test.ts)
//   --verbose   print how many operations ran, succeeded, threw and were skipped
//
// The same knobs as environment variables, for any runtime's test runner:
// FUZZ_RUNS, FUZZ_SEED, FUZZ_PATH, FUZZ_OPS, FUZZ_VERBOSE (and FUZZ_TOLERATE, a regular expression:
// runs whose first failure matches it count as passed, to see the failures behind a known one).
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "2000" },
    seed: { type: "string" },
    path: { type: "string" },
    ops: { type: "string" },
    scrape: { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
  },
});

const env = { ...process.env, FUZZ_RUNS: values.runs };
if (values.seed !== undefined) env.FUZZ_SEED = values.seed;
if (values.path !== undefined) env.FUZZ_PATH = values.path;
if (values.ops !== undefined) env.FUZZ_OPS = values.ops;
if (values.verbose) env.FUZZ_VERBOSE = "1";

const files = ["tests/fuzz/api.prop.test.ts", ...(values.scrape ? ["tests/e2e/fuzz_scrape.test.ts"] : [])];
console.log(`# fuzz: ${values.runs} runs${values.seed === undefined ? "" : `, seed ${values.seed}`}`);
const run = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", ...files], {
  stdio: "inherit",
  env,
});
process.exit(run.status ?? 1);

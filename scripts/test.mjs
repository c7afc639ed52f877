#!/usr/bin/env node
// Runs the test suite on one runtime: `node scripts/test.mjs <node|deno|bun> [unit|e2e|kafka]`.
// unit: every tests/**/*.test.ts except tests/e2e, tests/package and *.broker.test.ts, and except files named
// after another runtime (tests/http/deno.test.ts runs only on Deno, and so on).
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const runtime = process.argv[2] ?? "node";
const suite = process.argv[3] ?? "unit";
const runtimes = ["node", "deno", "bun"];
if (!runtimes.includes(runtime)) throw new Error(`unknown runtime "${runtime}"; use node, deno or bun`);

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === "fixtures" ? [] : walk(path);
    return path.endsWith(".test.ts") ? [path] : [];
  });
}

const all = walk("tests").sort();
const files = all.filter((file) => {
  const parts = file.split("/");
  const base = parts.at(-1).replace(/\.test\.ts$/, "");
  // Tests that need the real Kafka broker are named *.broker.test.ts (Node only: native client).
  const bySuite = parts[1] === "e2e"
    ? "e2e"
    : file.endsWith(".broker.test.ts")
    ? "kafka"
    : parts[1] === "package"
    ? "package"
    : "unit";
  if (bySuite !== suite) return false;
  if (runtimes.includes(base) && base !== runtime) return false;
  return true;
});
if (files.length === 0) throw new Error(`no test files for ${runtime} ${suite}`);

const bin = (name) => join("node_modules", ".bin", name);
const commands = {
  node: [process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", ...files]],
  deno: [bin("deno"), ["test", "-A", "--no-check", ...files]],
  bun: [bin("bun"), ["test", "--timeout", "120000", ...files.map((f) => "./" + f)]],
};
const [command, args] = commands[runtime];
console.log(`# ${runtime} ${suite}: ${files.length} files`);
const run = spawnSync(command, args, { stdio: "inherit", env: { ...process.env, ATOMIC_METRICS_RUNTIME: runtime } });
process.exit(run.status ?? 1);

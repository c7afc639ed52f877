// The npm package as a user receives it: `npm pack`, installed into a fresh project under
// os.tmpdir() (our node_modules out of sight), loaded with ESM import and CJS require on every
// subpath, type-checked by a strict TypeScript consumer under nodenext and bundler resolution,
// and linted by publint and @arethetypeswrong/cli.
// Node only: node scripts/test.mjs node package   (or node --import tsx --test tests/package/npm.test.ts)
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { consumerProject, pack, ROOT, run, type Tarball } from "./_pack.ts";

const NODE_SUBPATHS = ["", "/node", "/otel", "/kafka", "/catalog", "/deno", "/bun"];
const ALLOWED_FILE = /^(dist\/[^/]+\.(js|cjs|d\.ts|d\.cts)|README\.md|CHANGELOG\.md|LICENSE|package\.json)$/;

let tarball: Tarball;
let consumer: string;

// What every entry point must give a user on Node, by module system; prints one JSON line.
function loadScript(kind: "esm" | "cjs"): string {
  const load = kind === "esm" ? "await import(name)" : "require(name)";
  const body = `
const loaded = {};
for (const subpath of ${JSON.stringify(NODE_SUBPATHS)}) {
  const name = "atomic-metrics" + subpath;
  const module = ${load};
  loaded[subpath || "."] = Object.keys(module).sort();
}
const { Registry, metricsHandler } = ${kind === "esm" ? 'await import("atomic-metrics")' : 'require("atomic-metrics")'};
const registry = new Registry();
const jobs = registry.counter({ name: "jobs_total", help: "Jobs", labelNames: ["kind"] });
jobs.inc({ kind: "email" }, 2);
const response = await metricsHandler(registry)(new Request("http://localhost/metrics"));
const node = ${kind === "esm" ? 'await import("atomic-metrics/node")' : 'require("atomic-metrics/node")'};
const server = await node.serve({ registry, port: 0, hostname: "127.0.0.1" });
const served = await (await fetch("http://127.0.0.1:" + server.port + "/metrics")).text();
await server.close();
const deno = ${kind === "esm" ? 'await import("atomic-metrics/deno")' : 'require("atomic-metrics/deno")'};
const bun = ${kind === "esm" ? 'await import("atomic-metrics/bun")' : 'require("atomic-metrics/bun")'};
const refusals = [];
for (const adapter of [deno, bun]) {
  try { await adapter.serve({ registry, port: 0 }); refusals.push("served"); } catch (error) { refusals.push(error.message); }
}
console.log(JSON.stringify({ loaded, status: response.status, text: await response.text(), served, refusals }));
`;
  return kind === "esm"
    ? body
    : `(async () => {${body}})().catch((error) => { console.error(error); process.exit(1); });`;
}

interface Loaded {
  loaded: Record<string, string[]>;
  status: number;
  text: string;
  served: string;
  refusals: string[];
}

function runConsumer(file: string, source: string): Loaded {
  writeFileSync(join(consumer, file), source);
  const out = run(process.execPath, [file], { cwd: consumer });
  return JSON.parse(out.trim().split("\n").at(-1)!);
}

function assertLoaded(result: Loaded): void {
  assert.deepEqual(Object.keys(result.loaded).sort(), [".", "/bun", "/catalog", "/deno", "/kafka", "/node", "/otel"]);
  for (const [subpath, names] of Object.entries(result.loaded)) {
    assert.ok(names.length > 0, `${subpath} exports nothing`);
  }
  assert.ok(result.loaded["."]!.includes("Registry"));
  assert.ok(result.loaded["/node"]!.includes("serve"));
  assert.ok(result.loaded["/otel"]!.includes("setupTracing"));
  assert.ok(result.loaded["/kafka"]!.includes("kafkaMetrics"));
  assert.equal(result.status, 200);
  assert.match(result.text, /^jobs_total\{kind="email"\} 2$/m);
  assert.match(result.served, /^jobs_total\{kind="email"\} 2$/m);
  // /deno and /bun load on Node and only refuse when asked to serve.
  assert.deepEqual(result.refusals, [
    'The "atomic-metrics/deno" adapter needs the Deno runtime',
    'The "atomic-metrics/bun" adapter needs the Bun runtime',
  ]);
}

const CONSUMER_TS = `
import { Registry, metricsHandler, type Counter, type FetchHandler, type MetricSnapshot } from "atomic-metrics";
import { serve, type MetricsServer } from "atomic-metrics/node";
import { setupTracing, traceExemplars } from "atomic-metrics/otel";
import { kafkaMetrics } from "atomic-metrics/kafka";
import { systemMetrics } from "atomic-metrics/catalog";

const registry = new Registry({ maxSeries: 1000 });
const jobs: Counter<"kind"> = registry.counter({ name: "jobs_total", help: "Jobs", labelNames: ["kind"] as const });
jobs.inc({ kind: "email" });
jobs.labels({ kind: "x" }).inc(2);
// @ts-expect-error "knd" is not one of the counter's labels
jobs.labels({ knd: "x" });
// @ts-expect-error "knd" is not one of the counter's labels
jobs.inc({ knd: "x" }, 1);
// @ts-expect-error counters take no buckets
registry.counter({ name: "other_total", help: "Other", buckets: [1, 2] });
// @ts-expect-error help is required
registry.gauge({ name: "no_help" });
const latency = registry.histogram({ name: "latency_seconds", help: "Latency", labelNames: ["route"] as const, buckets: [0.1, 1] });
const end = latency.startTimer({ route: "/" });
const seconds: number = end();
// @ts-expect-error a histogram's labels are typed too
latency.observe({ path: "/" }, 0.1);
const temperature = registry.gauge({ name: "temperature_celsius", help: "Temperature" });
temperature.set(21.5);
const summary = registry.summary({ name: "size_bytes", help: "Size", quantiles: [0.5, 0.99] });
summary.observe(seconds);
const text: string = registry.render("openmetrics");
// @ts-expect-error not an exposition format
registry.render("json");
const snapshot: MetricSnapshot[] = registry.collect();
const handler: FetchHandler = metricsHandler(registry, { path: "/metrics", compression: true });
const response: Promise<Response> = handler(new Request("http://localhost/metrics"));
const server: Promise<MetricsServer> = serve({ registry, port: 0 });
export const used = [text, snapshot, response, server, setupTracing, traceExemplars, kafkaMetrics, systemMetrics];
`;

const CONSUMER_CTS = `
import { Registry } from "atomic-metrics";
import { serve } from "atomic-metrics/node";
const registry = new Registry();
const jobs = registry.counter({ name: "jobs_total", help: "Jobs", labelNames: ["kind"] as const });
// @ts-expect-error "knd" is not one of the counter's labels
jobs.labels({ knd: "x" });
export const used = [serve, jobs];
`;

function typecheck(moduleOption: string, resolution: string, files: string[]): void {
  const tsconfig = {
    compilerOptions: {
      strict: true,
      noUncheckedIndexedAccess: true,
      exactOptionalPropertyTypes: true,
      target: "es2022",
      lib: ["es2023", "dom"],
      module: moduleOption,
      moduleResolution: resolution,
      noEmit: true,
      skipLibCheck: false, // our shipped .d.ts files are checked too
      types: ["node"],
    },
    files,
  };
  const name = `tsconfig.${resolution}.json`;
  writeFileSync(join(consumer, name), JSON.stringify(tsconfig, null, 2));
  run(process.execPath, [join(consumer, "node_modules/typescript/bin/tsc"), "-p", name], { cwd: consumer });
}

describe("npm package", () => {
  before(() => {
    tarball = pack();
    consumer = consumerProject(tarball, ["typescript", "@types/node"]);
    console.log(
      `${
        tarball.path.split("/").at(-1)
      }: ${tarball.size} bytes packed, ${tarball.unpackedSize} unpacked, ${tarball.files.length} files`,
    );
  });

  after(() => {
    if (consumer) rmSync(consumer, { recursive: true, force: true });
    if (tarball) rmSync(dirname(tarball.path), { recursive: true, force: true });
  });

  it("npm pack ships only dist/, README.md, CHANGELOG.md, LICENSE and package.json", () => {
    const stray = tarball.files.filter((file) => !ALLOWED_FILE.test(file));
    assert.deepEqual(stray, []);
    for (
      const file of [
        "README.md",
        "CHANGELOG.md",
        "LICENSE",
        "package.json",
        "dist/mod.js",
        "dist/mod.cjs",
        "dist/mod.d.ts",
        "dist/mod.d.cts",
      ]
    ) {
      assert.ok(tarball.files.includes(file), `the tarball lacks ${file}`);
    }
    assert.ok(tarball.size < 500_000, `the tarball is ${tarball.size} bytes`);
  });

  it("npm pack ships declaration files whose imports name no .ts source", () => {
    const dist = join(consumer, "node_modules/atomic-metrics/dist");
    for (const file of tarball.files.filter((path) => /\.d\.c?ts$/.test(path))) {
      const text = readFileSync(join(dist, file.slice("dist/".length)), "utf8");
      const code = text.split("\n").filter((line) => !/^\s*(\*|\/\/|\/\*)/.test(line)).join("\n");
      assert.doesNotMatch(code, /from ['"][^'"]+\.ts['"]/, file);
    }
  });

  it("import() of atomic-metrics and every subpath works in a fresh ESM project", () => {
    assertLoaded(runConsumer("load.mjs", loadScript("esm")));
  });

  it("require() of atomic-metrics and every subpath works in a fresh CJS project", () => {
    assertLoaded(runConsumer("load.cjs", loadScript("cjs")));
  });

  it("a strict TypeScript consumer type-checks under moduleResolution nodenext (ESM and CJS)", () => {
    writeFileSync(join(consumer, "consumer.ts"), CONSUMER_TS);
    writeFileSync(join(consumer, "consumer.cts"), CONSUMER_CTS);
    typecheck("nodenext", "nodenext", ["consumer.ts", "consumer.cts"]);
  });

  it("a strict TypeScript consumer type-checks under moduleResolution bundler", () => {
    writeFileSync(join(consumer, "consumer.ts"), CONSUMER_TS);
    typecheck("esnext", "bundler", ["consumer.ts"]);
  });

  it("a wrong label name is a type error for the consumer", () => {
    // The @ts-expect-error lines above prove it only if removing them makes tsc fail.
    writeFileSync(join(consumer, "wrong.ts"), CONSUMER_TS.replaceAll("// @ts-expect-error", "//"));
    assert.throws(() => typecheck("nodenext", "nodenext", ["wrong.ts"]), (error: Error) => {
      assert.match(error.message, /'knd' does not exist in type/);
      assert.match(error.message, /'buckets' does not exist in type/);
      assert.match(error.message, /Property 'help' is missing/);
      assert.match(error.message, /'path' does not exist in type/);
      assert.match(error.message, /"json"/);
      return true;
    });
  });

  it("publint finds nothing to fix in the package", () => {
    const out = run(join(ROOT, "node_modules/.bin/publint"), ["--strict"]);
    assert.match(out, /All good!/);
  });

  it("@arethetypeswrong/cli resolves types for every entry point under node16 and bundler", () => {
    // node10 (moduleResolution "node") cannot see subpath exports at all; Node >=20 users use node16+.
    const out = run(join(ROOT, "node_modules/.bin/attw"), [tarball.path, "--profile", "node16", "--format", "json"]);
    const result = JSON.parse(out);
    const problems = (result.analysis.problems as { resolutionKind?: string }[]).filter((p) =>
      p.resolutionKind !== "node10"
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(Object.keys(result.analysis.entrypoints).sort(), [
      ".",
      "./bun",
      "./catalog",
      "./deno",
      "./kafka",
      "./node",
      "./otel",
      "./package.json",
    ]);
  });
});

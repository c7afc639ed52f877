// prom-client's own example server, and the same server ported line by line through
// docs/migrating-from-prom-client.md: the port type-checks, and its /metrics shows what the original's does — the
// same metric names, types and label names — apart from metrics that exist in one of them by design.
// Node only: the original is a prom-client application (tests/migration/fixtures/prom-client/server.cjs).
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type ParsedFamily, parseExposition } from "../_parse.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const fixtures = `${root}tests/migration/fixtures/`;
const port = readFileSync(`${fixtures}server.ts`, "utf8");
const guide = readFileSync(`${root}docs/migrating-from-prom-client.md`, "utf8");

// The port imports the package by name, as a user's code does (tsconfig.json excludes it from the repository's
// type-check, which would read the names as dist/); here the names lead to the sources (deno.json's
// exports), in a copy under .cache/ (git-ignored), beside which tsc and tsx find the repository's node_modules.
const work = `${root}.cache/migration/`;
const exportsMap: Record<string, string> = JSON.parse(readFileSync(`${root}deno.json`, "utf8")).exports;
function toSources(source: string): string {
  return source.replace(/from "(atomic-metrics|@atomic\/metrics)(\/[a-z]+)?"/g, (_, _name, subpath = "") => {
    const file = exportsMap[`.${subpath}`];
    assert.ok(file !== undefined, `the port imports an entry point the package does not have: ${subpath}`);
    return `from "../../${file.replace(/^\.\//, "")}"`;
  });
}

// Metrics that exist in one of the two by design, and why.
const ONLY_OURS: Record<string, string> = {
  // Event-loop utilization, which prom-client does not have (prometheus/client_js#506, #785).
  nodejs_eventloop_utilization: "asked for of prom-client, not in it",
};
// The registry's own health: series, the cardinality limit, folds into the overflow series, dropped exemplars,
// failed and late collect hooks, scrapes. `new Registry({ selfMetrics: false })` leaves them out.
const SELF_METRIC = /^atomic_metrics_/;

const children: ChildProcess[] = [];
after(() => {
  for (const child of children) child.kill();
});

/** Starts a server with PORT=0 and resolves with the port it printed. */
function start(command: string, args: string[]): Promise<number> {
  const child = spawn(command, args, { cwd: root, env: { ...process.env, PORT: "0" }, stdio: "pipe" });
  children.push(child);
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`${args.join(" ")} did not start:\n${output}`)), 60_000);
    const read = (chunk: Buffer): void => {
      output += chunk.toString();
      const listening = /Server listening to (\d+)/.exec(output);
      if (listening !== null) {
        clearTimeout(timer);
        resolve(Number(listening[1]));
      }
    };
    child.stdout!.on("data", read);
    child.stderr!.on("data", read);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(" ")} exited with ${code}:\n${output}`));
    });
  });
}

interface Scrape {
  contentType: string;
  families: Map<string, ParsedFamily>;
}

/**
 * Scrapes /metrics until the metrics that the example records on timers and per request have series (test_counter's
 * first increments come after 2 s), then once more.
 */
async function scrapeWhenRecorded(serverPort: number): Promise<Scrape> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const response = await fetch(`http://127.0.0.1:${serverPort}/metrics`);
    const text = await response.text();
    assert.equal(response.status, 200, text);
    // prom-client separates families with an empty line, which Prometheus skips, and writes NaN as "Nan", which
    // Prometheus reads (its float parser ignores case); the strict parser takes neither.
    const families = parseExposition(text.replace(/\n\n+/g, "\n").replace(/ Nan$/gm, " NaN"), false);
    const recorded = ["test_counter", "test_histogram", "test_gauge", "http_request_duration_seconds"]
      .every((name) => (families.get(name)?.samples.length ?? 0) > 0);
    if (recorded) return { contentType: response.headers.get("content-type") ?? "", families };
    if (Date.now() > deadline) throw new Error(`the example's metrics never all had series:\n${text}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** The label names a family's samples use, `le` and `quantile` aside. */
function labelNames(family: ParsedFamily): string[] {
  const names = new Set(family.samples.flatMap((sample) => Object.keys(sample.labels)));
  names.delete("le");
  names.delete("quantile");
  return [...names].sort();
}

let servers: Promise<{ original: number; ported: number }> | undefined;
/** Both servers, started once for the tests that scrape them. */
function both(): Promise<{ original: number; ported: number }> {
  servers ??= (async () => {
    mkdirSync(work, { recursive: true });
    writeFileSync(`${work}server.ts`, toSources(port));
    const [original, ported] = await Promise.all([
      start(process.execPath, [`${fixtures}prom-client/server.cjs`]),
      start(process.execPath, ["--import", "tsx", `${work}server.ts`]),
    ]);
    return { original, ported };
  })();
  return servers;
}

describe("prom-client's example server, ported through the migration guide", () => {
  it("the guide shows the port that is tested, line for line", () => {
    const blocks = [...guide.matchAll(/^```ts(?: ignore)?\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
    assert.ok(
      blocks.includes(port),
      "docs/migrating-from-prom-client.md does not show tests/migration/fixtures/server.ts",
    );
  });

  it("the port type-checks: none of the type errors a prom-client program meets", async () => {
    mkdirSync(work, { recursive: true });
    writeFileSync(`${work}server.ts`, toSources(port));
    writeFileSync(
      `${work}tsconfig.json`,
      JSON.stringify({ extends: "../../tsconfig.json", include: [], files: ["server.ts"] }),
    );
    const output = await new Promise<string>((resolve) => {
      execFile(
        process.execPath,
        [`${root}node_modules/typescript/bin/tsc`, "-p", `${work}tsconfig.json`, "--pretty", "false"],
        (_error, stdout, stderr) => resolve(stdout + stderr),
      );
    });
    // Errors in the sources are `npm run typecheck`'s business; here only the port's count, and any error that
    // names no file (a broken tsconfig), so that a check that could not run does not pass.
    const errors = output.split("\n").filter((line) =>
      /(?:^|\/)\.cache\/migration\/server\.ts\(/.test(line) || /^error TS\d+/.test(line)
    );
    assert.deepEqual(errors, []);
  });

  it(
    "both answer /metrics with register.contentType, the Prometheus text format 0.0.4",
    { timeout: 90_000 },
    async () => {
      const { original, ported } = await both();
      const [a, b] = await Promise.all([scrapeWhenRecorded(original), scrapeWhenRecorded(ported)]);
      assert.equal(a.contentType, "text/plain; version=0.0.4; charset=utf-8");
      assert.equal(b.contentType, a.contentType);
    },
  );

  it("the port's /metrics has the original's metric names and types, and only ours by design besides", {
    timeout: 90_000,
  }, async () => {
    const { original, ported } = await both();
    const [a, b] = await Promise.all([scrapeWhenRecorded(original), scrapeWhenRecorded(ported)]);
    const missing = [...a.families.keys()].filter((name) => !b.families.has(name));
    assert.deepEqual(missing, [], "metrics of the original that the port lacks");
    const extra = [...b.families.keys()].filter((name) =>
      !a.families.has(name) && !(name in ONLY_OURS) && !SELF_METRIC.test(name)
    );
    assert.deepEqual(extra, [], "metrics of the port that the original lacks");
    const types = [...a.families].filter(([name, family]) => b.families.get(name)?.type !== family.type)
      .map(([name, family]) => `${name}: ${family.type} in the original, ${b.families.get(name)?.type} in the port`);
    assert.deepEqual(types, []);
    for (const name of Object.keys(ONLY_OURS)) assert.ok(b.families.has(name), `the port lacks ${name}`);
  });

  it("the port's metrics have the original's label names", { timeout: 90_000 }, async () => {
    const { original, ported } = await both();
    const [a, b] = await Promise.all([scrapeWhenRecorded(original), scrapeWhenRecorded(ported)]);
    // Label names show in samples: a metric with no series at the scrape in either server (nodejs_active_requests
    // with no request in flight, say) says nothing about them.
    const compared = [...a.families].filter(([name, family]) =>
      family.samples.length > 0 && (b.families.get(name)?.samples.length ?? 0) > 0
    );
    const differ = compared.flatMap(([name, family]) => {
      const ours = labelNames(b.families.get(name)!);
      const theirs = labelNames(family);
      return ours.join() === theirs.join() ? [] : [`${name}: {${theirs}} in the original, {${ours}} in the port`];
    });
    assert.deepEqual(differ, []);
    const names = compared.map(([name]) => name);
    for (const name of ["test_counter", "test_histogram", "test_gauge", "scrape_counter", "pending_dates"]) {
      assert.ok(names.includes(name), `${name} was not compared`);
    }
    assert.ok(compared.length >= 25, `only ${compared.length} metrics had series in both`);
  });

  it("/metrics/counter shows test_counter alone in both", { timeout: 90_000 }, async () => {
    const { original, ported } = await both();
    for (const serverPort of [original, ported]) {
      const text = await (await fetch(`http://127.0.0.1:${serverPort}/metrics/counter`)).text();
      assert.deepEqual([...parseExposition(text, false).keys()], ["test_counter"], text);
    }
  });
});

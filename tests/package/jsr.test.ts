// The JSR package as a user receives it: `deno publish --dry-run` passes with no slow types and
// ships the license, `deno doc --lint` finds every export documented, and a fresh Deno project
// imports `jsr:@atomic/metrics` through its deno.json (a `links` entry stands in for the registry).
// Node only, drives the deno binary: node scripts/test.mjs node package
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./_pack.ts";

const DENO = join(ROOT, "node_modules/.bin/deno");
const deno = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8"));
const ENTRY_POINTS: string[] = Object.values<string>(deno.exports);
// Types from @opentelemetry/api that the /otel and /kafka entry points expose on purpose (a tracer,
// a context, a span): deno doc calls them private because it does not follow npm packages'
// exports (denoland/deno#27364), and re-exporting them would drag their whole API into our docs.
const OTEL_API = /^src\/(otel|kafka)\//;
const temporary: string[] = [];

interface Finding {
  code: string;
  message: string;
  file: string;
}

function runDeno(args: string[], cwd = ROOT): { status: number | null; output: string } {
  const result = spawnSync(DENO, args, {
    cwd,
    encoding: "utf8",
    timeout: 180_000,
    env: { ...process.env, NO_COLOR: "1" },
  });
  if (result.error) throw new Error(`deno ${args.join(" ")} could not run: ${result.error.message}`);
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

// Parses deno doc --lint's report: "error[code]: message" followed by "  --> /path:line:col".
function docLint(files: string[]): { status: number | null; findings: Finding[]; output: string } {
  const { status, output } = runDeno(["doc", "--lint", ...files]);
  const findings: Finding[] = [];
  const lines = output.split("\n");
  lines.forEach((line, i) => {
    const head = /^error\[([a-z-]+)\]: (.*)$/.exec(line);
    if (!head) return;
    const at = /-->\s+(\S+?):\d+:\d+/.exec(lines[i + 1] ?? "");
    findings.push({ code: head[1]!, message: head[2]!, file: at ? at[1]!.replace(`${ROOT}/`, "") : "?" });
  });
  return { status, findings, output };
}

function importsFromOtelApi(file: string, name: string): boolean {
  const text = readFileSync(join(ROOT, file), "utf8");
  return [...text.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+"@opentelemetry\/api"/g)].some((match) =>
    match[1]!.split(",").some((part) => part.replace(/^\s*type\s+/, "").trim() === name)
  );
}

describe("jsr package", () => {
  after(() => {
    for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
  });

  it("deno publish --dry-run passes with no slow types and ships LICENSE, README.md and CHANGELOG.md only beside the code", () => {
    const { status, output } = runDeno(["publish", "--dry-run", "--allow-dirty"]);
    assert.equal(status, 0, output);
    assert.match(output, /Dry run complete/);
    assert.match(output, /Checking for slow types in the public API/);
    assert.doesNotMatch(output, /^error|no-slow-types|missing-explicit-(type|return-type)/m);
    const shipped = [...output.matchAll(/file:\/\/(\S+) \(/g)].map((match) => match[1]!.replace(`${ROOT}/`, ""));
    for (const file of ["LICENSE", "README.md", "CHANGELOG.md", "deno.json", "mod.ts"]) {
      assert.ok(shipped.includes(file), `JSR would not ship ${file}`);
    }
    const stray = shipped.filter((file) =>
      !/^(mod\.ts|src\/.+\.ts|adapters\/[^/]+\.ts|LICENSE|README\.md|CHANGELOG\.md|deno\.json)$/.test(file)
    );
    assert.deepEqual(stray, []);
  });

  it("deno doc --lint finds every export of every entry point documented", () => {
    const { findings } = docLint(ENTRY_POINTS);
    assert.deepEqual(findings.filter((finding) => finding.code !== "private-type-ref"), []);
  });

  it("deno doc --lint finds public types referencing only public types, @opentelemetry/api's aside", () => {
    const { findings } = docLint(ENTRY_POINTS);
    const unexplained = findings.filter((finding) => {
      if (finding.code !== "private-type-ref") return false;
      const name = /references private type '([^']+)'/.exec(finding.message)?.[1] ?? "";
      return !(OTEL_API.test(finding.file) && importsFromOtelApi(finding.file, name));
    });
    assert.deepEqual(unexplained, []);
  });

  it("deno doc --lint is clean on the core and the runtime entry points", () => {
    const core = ENTRY_POINTS.filter((file) => !/^\.\/src\/(otel|kafka)\//.test(file));
    const { status, findings, output } = docLint(core);
    assert.deepEqual(findings, []);
    assert.equal(status, 0, output.split("\n").filter((line) => !/^Warning|^\s+at file/.test(line)).join("\n"));
  });

  it("a Deno project imports jsr:@atomic/metrics and its /deno server through deno.json", () => {
    const dir = mkdtempSync(join(tmpdir(), "atomic-metrics-jsr-"));
    temporary.push(dir);
    // `links` makes Deno resolve jsr:@atomic/metrics from our deno.json's exports, as the registry would.
    writeFileSync(
      join(dir, "deno.json"),
      JSON.stringify({ links: [ROOT], imports: { "@atomic/metrics": `jsr:@atomic/metrics@^${deno.version}` } }),
    );
    writeFileSync(
      join(dir, "main.ts"),
      `import { Registry } from "@atomic/metrics";
import { serve } from "@atomic/metrics/deno";
import { systemMetrics } from "@atomic/metrics/catalog";
const registry = new Registry();
const jobs = registry.counter({ name: "jobs_total", help: "Jobs", labelNames: ["kind"] as const });
jobs.inc({ kind: "email" }, 3);
// Never called: deno check must find the wrong label a type error.
export const wrong = () =>
  // @ts-expect-error "knd" is not one of the counter's labels
  jobs.labels({ knd: "x" });
systemMetrics(registry);
const server = await serve({ registry, port: 0, hostname: "127.0.0.1" });
const text = await (await fetch(\`http://127.0.0.1:\${server.port}/metrics\`)).text();
await server.close();
console.log(JSON.stringify(text.split("\\n").filter((line) => line.startsWith("jobs_total"))));
`,
    );
    const checked = runDeno(["check", "main.ts"], dir);
    assert.equal(checked.status, 0, checked.output);
    const ran = runDeno(["run", "-A", "main.ts"], dir);
    assert.equal(ran.status, 0, ran.output);
    assert.deepEqual(JSON.parse(ran.output.trim().split("\n").at(-1)!), ['jobs_total{kind="email"} 3']);
  });
});

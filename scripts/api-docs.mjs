/**
 * Builds the API reference from the JSDoc of every entry point in deno.json's exports, with `deno doc --html`, into
 * `.cache/api/` (git-ignored; open `.cache/api/index.html`), and fails when the reference would be wrong:
 *
 * - any `deno doc --lint` finding (a missing JSDoc, a missing return type, a public type referring to a private one),
 *   except a public type of `/otel` or `/kafka` referring to a type of `@opentelemetry/api`, which deno doc calls
 *   private because it does not follow npm packages' exports (denoland/deno#27364): the same rule as
 *   tests/package/jsr.test.ts;
 * - any warning, except Deno's misreading of `@types/node`'s `/// <reference path>` lines as package names
 *   (denoland/deno#36751), which says nothing about our docs;
 * - any symbol or member tagged `@internal` that the reference would show: it must be written `@ignore @internal`
 *   (`node scripts/internal-tags.mjs` does it), so that deno doc and jsr.io leave it out as the `.d.ts` does.
 *
 *   npm run docs:api                    # node scripts/api-docs.mjs
 *   node scripts/api-docs.mjs --out dir # another output directory
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const deno = join(root, "node_modules/.bin/deno");
const entryPoints = Object.values(JSON.parse(readFileSync(join(root, "deno.json"), "utf8")).exports)
  .map((file) => file.replace(/^\.\//, ""));

/** Runs deno with `args` in the repository; its exit status, stdout and stderr. */
function runDeno(args) {
  const result = spawnSync(deno, args, {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, NO_COLOR: "1" },
  });
  if (result.error) throw new Error(`deno ${args.join(" ")} could not run: ${result.error.message}`);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The warnings of a deno run that are not the known @types/node one, each with its `at` line. */
export function unexpectedWarnings(output) {
  const lines = output.split("\n");
  return lines.flatMap((line, i) => {
    if (!line.startsWith("Warning")) return [];
    const at = lines[i + 1]?.trim().startsWith("at ") ? ` (${lines[i + 1].trim()})` : "";
    const typesNode =
      /^Warning Failed resolving types\. Could not find package '[^']+' from referrer '[^']*\/node_modules\/@types\/node\//;
    return typesNode.test(line) ? [] : [line + at];
  });
}

/** Whether `file` (relative) imports `name` from @opentelemetry/api. */
function importsFromOtelApi(file, name) {
  const text = readFileSync(join(root, file), "utf8");
  return [...text.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+"@opentelemetry\/api"/g)].some((match) =>
    match[1].split(",").some((part) => part.replace(/^\s*type\s+/, "").trim() === name)
  );
}

/** `deno doc --lint`'s findings ("error[code]: message" then "--> path:line:col") that the rules above refuse. */
export function lintProblems(output) {
  const lines = output.split("\n");
  return lines.flatMap((line, i) => {
    const head = /^error\[([a-z-]+)\]: (.*)$/.exec(line);
    if (head === null) return [];
    const at = /-->\s+(\S+?):(\d+):\d+/.exec(lines[i + 1] ?? "");
    const file = at === null ? "?" : relative(root, at[1]);
    const [, code, message] = head;
    if (code === "private-type-ref" && /^src\/(otel|kafka)\//.test(file)) {
      const name = /references private type '([^']+)'/.exec(message)?.[1] ?? "";
      if (importsFromOtelApi(file, name)) return [];
    }
    return [`${file}:${at?.[2] ?? "?"}: ${code}: ${message}`];
  });
}

/** Every node of `deno doc --json`'s output whose JSDoc has an `@internal` tag: `file:line name`. */
export function internalNodes(json) {
  const found = [];
  const visit = (value) => {
    if (Array.isArray(value)) return value.forEach(visit);
    if (value === null || typeof value !== "object") return;
    if (value.jsDoc?.tags?.some((tag) => tag.kind === "internal")) {
      const where = value.location === undefined
        ? "?"
        : `${relative(root, fileURLToPath(value.location.filename))}:${value.location.line}`;
      found.push(`${where} ${value.name ?? "(unnamed)"}`);
    }
    Object.values(value).forEach(visit);
  };
  visit(json);
  return found;
}

function main(args) {
  const outIndex = args.indexOf("--out");
  const out = outIndex >= 0 ? args[outIndex + 1] : join(root, ".cache/api");
  const problems = [];

  const lint = runDeno(["doc", "--lint", ...entryPoints]);
  const lintOutput = lint.stdout + lint.stderr;
  problems.push(...lintProblems(lintOutput), ...unexpectedWarnings(lintOutput));
  if (lint.status !== 0 && !/Found \d+ documentation lint errors?/.test(lintOutput)) {
    problems.push(`deno doc --lint failed:\n${lintOutput}`);
  }

  const json = runDeno(["doc", "--json", ...entryPoints]);
  if (json.status !== 0) problems.push(`deno doc --json failed:\n${json.stderr}`);
  else {
    problems.push(...unexpectedWarnings(json.stderr));
    problems.push(
      ...internalNodes(JSON.parse(json.stdout)).map((node) =>
        `${node}: tagged @internal but shown; write "@ignore @internal" (node scripts/internal-tags.mjs)`
      ),
    );
  }

  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const html = runDeno(["doc", "--html", "--name=atomic-metrics", `--output=${out}`, ...entryPoints]);
  problems.push(...unexpectedWarnings(html.stdout + html.stderr));
  if (html.status !== 0 || !existsSync(join(out, "index.html"))) {
    problems.push(`deno doc --html failed:\n${html.stdout}${html.stderr}`);
  }

  if (problems.length > 0) {
    console.error(`The API reference has ${problems.length} problem(s):\n${problems.join("\n")}`);
    return 1;
  }
  console.log(`API reference of ${entryPoints.join(", ")}: ${relative(process.cwd(), join(out, "index.html"))}`);
  return 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = main(process.argv.slice(2));
}

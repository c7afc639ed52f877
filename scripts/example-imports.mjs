/**
 * Rewrites the relative imports of the JSDoc examples (the ```ts fences inside `/** … *\/` comments) to the package's
 * published name, so a reader can copy an example as it is: `import { Registry } from "../mod.ts"` becomes
 * `import { Registry } from "@atomic/metrics"`, `import { serve } from "./node.ts"` becomes
 * `import { serve } from "@atomic/metrics/node"`. The npm name in an example (`"atomic-metrics/kafka"`) becomes the
 * JSR one too (`"@atomic/metrics/kafka"`), which Deno resolves in the doc tests.
 *
 *   node scripts/example-imports.mjs                       # mod.ts, src/, adapters/
 *   node scripts/example-imports.mjs src/otel adapters/bun.ts
 *   node scripts/example-imports.mjs --check               # exit 1 when a file would change or an import is left
 *
 * Each imported name goes to the entry point (deno.json's exports) that exports it: the entry point the imported
 * file is itself, else the one whose folder holds the file (`src/otel/…` → `/otel`), else the root, else the first
 * in deno.json's order. Names that go to different entry points are split into one import each. Deno resolves
 * `@atomic/metrics` and its subpaths to this package's own exports (deno.json's `name` and `exports`), so the doc
 * tests (`deno test --doc`) run the examples as written.
 *
 * An example may import a relative path only in a comment tagged `@internal`: such a symbol is in no reference and
 * the example tests the private helper it documents. A relative import of a name no entry point exports, outside such
 * a comment, is reported (tag the symbol `@ignore @internal`, or export it) and the script exits 1.
 *
 * Idempotent: package imports are left as they are.
 *
 * @module
 */

import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = fileURLToPath(new URL("..", import.meta.url));
const denoJson = JSON.parse(readFileSync(join(root, "deno.json"), "utf8"));
/** The package name readers import: deno.json's (JSR) name. */
export const PACKAGE_NAME = denoJson.name;

/** Entry points in deno.json's order: specifier ("@atomic/metrics/otel") and file ("src/otel/mod.ts"). */
export const ENTRY_POINTS = Object.entries(denoJson.exports).map(([subpath, file]) => ({
  specifier: PACKAGE_NAME + subpath.slice(1),
  file: file.replace(/^\.\//, ""),
}));

/** The `.ts` files under `paths` (files or folders, relative to the repository). */
export function sourceFiles(paths) {
  return paths.flatMap((path) => {
    const full = join(root, path);
    if (statSync(full).isDirectory()) {
      return readdirSync(full).sort().flatMap((name) => sourceFiles([join(path, name)]));
    }
    return path.endsWith(".ts") && !path.endsWith(".d.ts") ? [path] : [];
  });
}

let exportedNames;
/** For each entry point, the names it exports (values and types), found by the TypeScript compiler. */
function entryExports() {
  if (exportedNames !== undefined) return exportedNames;
  const program = ts.createProgram(ENTRY_POINTS.map((entry) => join(root, entry.file)), {
    allowImportingTsExtensions: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    skipLibCheck: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  exportedNames = ENTRY_POINTS.map((entry) => {
    const source = program.getSourceFile(join(root, entry.file));
    const symbol = source === undefined ? undefined : checker.getSymbolAtLocation(source);
    const names = symbol === undefined ? [] : checker.getExportsOfModule(symbol).map((s) => s.getName());
    return { ...entry, names: new Set(names) };
  });
  return exportedNames;
}

/** The entry point specifier for `name` imported from repository file `target`, or undefined when none exports it. */
export function entryPointFor(name, target) {
  const candidates = entryExports().filter((entry) => entry.names.has(name));
  const own = candidates.find((entry) => entry.file === target);
  if (own !== undefined) return own.specifier;
  const folder = candidates.find((entry) =>
    entry.file.endsWith("/mod.ts") && entry.file !== "mod.ts" && target.startsWith(dirname(entry.file) + "/")
  );
  if (folder !== undefined) return folder.specifier;
  return (candidates.find((entry) => entry.file === "mod.ts") ?? candidates[0])?.specifier;
}

const IMPORT = /^import\s+(type\s+)?\{([^}]*)\}\s+from\s+["'](\.{1,2}\/[^"']+)["'];?\s*$/;
const NPM_NAME = /(\bfrom\s+)["']atomic-metrics(\/[a-z]+)?["']/;
const ANY_RELATIVE = /(?:from\s+|import\s*\(\s*|^import\s+)["']\.{1,2}\//;

/**
 * `text` (a source file at repository path `file`) with its JSDoc examples' relative imports rewritten, and the
 * problems left: `line: message`.
 */
export function rewriteExamples(text, file) {
  const problems = [];
  const lines = text.split("\n");
  let inComment = false;
  let commentStart = 0;
  let fence = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (!inComment) {
      if (/^\s*\/\*\*/.test(line) && !/\*\//.test(line.replace(/^\s*\/\*\*/, ""))) {
        inComment = true;
        commentStart = i;
        fence = false;
      }
      continue;
    }
    if (/\*\//.test(line)) {
      inComment = false;
      continue;
    }
    const body = /^(\s*\*\s?)(.*)$/.exec(line);
    if (body === null) continue;
    const [, prefix, code] = body;
    if (/^```/.test(code.trim())) {
      fence = !fence && /^```(ts|typescript|js|javascript)?(\s|$)/.test(code.trim());
      continue;
    }
    if (!fence) continue;
    if (NPM_NAME.test(code)) {
      // The npm name works for npm users only; the JSR name is the one every runtime's reader can resolve.
      lines[i] = prefix + code.replace(NPM_NAME, `$1"${PACKAGE_NAME}$2"`);
      continue;
    }
    if (!ANY_RELATIVE.test(code.trim())) continue;
    const comment = lines.slice(commentStart, lines.findIndex((l, j) => j > i && /\*\//.test(l)) + 1).join("\n");
    if (/(?<![\w@])@internal\b/.test(comment)) continue;
    const match = IMPORT.exec(code.trim());
    if (match === null) {
      problems.push(`${i + 1}: an import this script cannot rewrite: ${code.trim()}`);
      continue;
    }
    const [, typeOnly = "", list, from] = match;
    const target = relative(root, resolve(root, dirname(file), from));
    const groups = new Map();
    let unresolved = false;
    for (const part of list.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
      const name = part.replace(/^type\s+/, "").split(/\s+as\s+/)[0].trim();
      const specifier = entryPointFor(name, target);
      if (specifier === undefined) {
        problems.push(
          `${i + 1}: ${name} (from ${from}) is exported by no entry point: tag its JSDoc @ignore @internal`,
        );
        unresolved = true;
        continue;
      }
      groups.set(specifier, [...(groups.get(specifier) ?? []), part]);
    }
    if (unresolved) continue;
    const indent = /^\s*/.exec(code)[0];
    lines[i] = [...groups].map(([specifier, parts]) =>
      `${prefix}${indent}import ${typeOnly}{ ${parts.join(", ")} } from "${specifier}";`
    ).join("\n");
  }
  return { text: lines.join("\n"), problems };
}

function main(args) {
  const check = args.includes("--check");
  const paths = args.filter((arg) => arg !== "--check");
  let failed = false;
  for (const file of sourceFiles(paths.length > 0 ? paths : ["mod.ts", "src", "adapters"])) {
    const before = readFileSync(join(root, file), "utf8");
    if (!before.includes("/**")) continue;
    const { text, problems } = rewriteExamples(before, file);
    for (const problem of problems) console.error(`${file}:${problem}`);
    failed ||= problems.length > 0;
    if (text === before) continue;
    if (check) {
      console.error(
        `${file}: examples import relative paths or the npm name (run node scripts/example-imports.mjs ${file})`,
      );
      failed = true;
    } else {
      writeFileSync(join(root, file), text);
      console.log(`rewrote ${file}`);
    }
  }
  return failed ? 1 : 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = main(process.argv.slice(2));
}

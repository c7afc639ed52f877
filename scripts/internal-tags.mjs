/**
 * Writes every `@internal` JSDoc tag of the sources as `@ignore @internal`.
 *
 *   node scripts/internal-tags.mjs                 # mod.ts, src/, adapters/
 *   node scripts/internal-tags.mjs src/registry.ts # only these files or directories
 *   node scripts/internal-tags.mjs --check         # exit 1 when a file would change
 *
 * A member that is not part of the API needs both tags: `@internal` takes it out of the published `.d.ts` (tsc's
 * `stripInternal`, set in tsup.config.ts) and `@ignore` out of `deno doc`'s reference and jsr.io's pages (deno doc
 * hides a symbol only for an `@ignore` that begins a line of the comment). Idempotent: a tag already written as
 * `@ignore @internal` is left alone. An `@internal` in the middle of a line of prose cannot be fixed by moving words
 * about: the script names it and exits 1.
 *
 * @module
 */

import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

/** The `.ts` files under `paths` (files or directories, relative to the repository). */
export function sourceFiles(paths) {
  return paths.flatMap((path) => {
    const full = join(root, path);
    if (statSync(full).isDirectory()) {
      return readdirSync(full).sort().flatMap((name) => sourceFiles([join(path, name)]));
    }
    return path.endsWith(".ts") && !path.endsWith(".d.ts") ? [path] : [];
  });
}

/**
 * `text` with each JSDoc `@internal` that begins a comment line written `@ignore @internal`, and the lines (1-based)
 * of those it could not rewrite because prose comes before them on their line.
 */
export function tagInternal(text) {
  const problems = [];
  const fixed = text.replace(
    /\/\*\*[\s\S]*?\*\//g,
    (comment, offset) =>
      comment.replace(/(^|\n)([ \t]*(?:\/\*\*|\*)[ \t]*)(.*)/g, (line, newline, prefix, rest, at) => {
        if (!/(?<![\w@])@internal\b/.test(rest) || rest.startsWith("@ignore @internal")) return line;
        if (!rest.startsWith("@internal")) {
          problems.push(text.slice(0, offset + at + newline.length).split("\n").length);
          return line;
        }
        return `${newline}${prefix}@ignore ${rest}`;
      }),
  );
  return { text: fixed, problems };
}

function main(args) {
  const check = args.includes("--check");
  const paths = args.filter((arg) => arg !== "--check");
  let failed = false;
  for (const file of sourceFiles(paths.length > 0 ? paths : ["mod.ts", "src", "adapters"])) {
    const before = readFileSync(join(root, file), "utf8");
    const { text, problems } = tagInternal(before);
    for (const line of problems) {
      console.error(`${file}:${line}: @internal after prose: begin the comment line with "@ignore @internal"`);
      failed = true;
    }
    if (text === before) continue;
    if (check) {
      console.error(`${file}: @internal without @ignore (run node scripts/internal-tags.mjs ${file})`);
      failed = true;
    } else {
      writeFileSync(join(root, file), text);
      console.log(`tagged ${relative(root, join(root, file))}`);
    }
  }
  return failed ? 1 : 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = main(process.argv.slice(2));
}

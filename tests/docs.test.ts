import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, normalize } from "node:path";
import { fileURLToPath } from "node:url";

// What users read — the README, the guides, the examples, the monitoring files and the JSDoc that becomes the
// reference — must stand on its own: no pointer to a design document, a seed, an issue or a note for whoever merges,
// none of which ships with the package.
const root = fileURLToPath(new URL("../", import.meta.url));
const published = ["mod.ts", "README.md", "CHANGELOG.md", "src", "adapters", "docs", "examples", "monitoring"];
// docs/design/ holds the designs that shape the code (contributor material): it may speak of "the design".
const skipped = new Set(["docs/design"]);
const internal = /\bdesign's\b|\(design:|\bthe design\b|\bthe seed\b|\bthe issue\b|\bthe lead\b|METRICS_DELIVERY/i;

function files(path: string): string[] {
  if (skipped.has(path)) return [];
  if (statSync(root + path).isDirectory()) return readdirSync(root + path).flatMap((name) => files(`${path}/${name}`));
  return /\.(ts|md|ya?ml|json)$/.test(path) ? [path] : [];
}

/** The JSDoc comments of the code: `[path, first line (1-based), text]`. */
function jsdocComments(): [string, number, string][] {
  const code = ["mod.ts", "src", "adapters"].flatMap(files).filter((path) => path.endsWith(".ts"));
  return code.flatMap((path) => {
    const text = readFileSync(root + path, "utf8");
    return [...text.matchAll(/\/\*\*[\s\S]*?\*\//g)].map((m): [string, number, string] => [
      path,
      text.slice(0, m.index).split("\n").length,
      m[0],
    ]);
  });
}

describe("published docs", () => {
  it("README, guides, examples, monitoring and JSDoc point at no document users do not have", () => {
    const all = published.flatMap(files);
    assert.ok(all.length > 50, `only ${all.length} files scanned`);
    const found = all.flatMap((path) =>
      readFileSync(root + path, "utf8").split("\n").flatMap((line, i) =>
        internal.test(line) ? [`${path}:${i + 1}: ${line.trim()}`] : []
      )
    );
    assert.deepEqual(found, []);
  });

  it("JSDoc examples import the package by its name (@atomic/metrics), never a relative path, but in @internal ones", () => {
    // A reader copies an example as it is: `import { Registry } from "../mod.ts"` works only here. Examples of
    // symbols tagged @internal are in no reference; they test the private helper they document.
    // To fix: node scripts/example-imports.mjs <file>
    const relative = jsdocComments().flatMap(([path, first, comment]) => {
      if (/(?<![\w@])@internal\b/.test(comment)) return [];
      return comment.split("\n").flatMap((line, i) =>
        /^\s*\*\s*import\b.*["']\.{1,2}\//.test(line) || /\bimport\(\s*["']\.{1,2}\//.test(line)
          ? [`${path}:${first + i}: ${line.trim()}`]
          : []
      );
    });
    assert.deepEqual(relative, []);
  });

  it("JSDoc examples import only entry points the package exports", () => {
    const exportsMap: Record<string, string> = JSON.parse(readFileSync(`${root}deno.json`, "utf8")).exports;
    const specifiers = new Set(Object.keys(exportsMap).map((subpath) => "@atomic/metrics" + subpath.slice(1)));
    const unknown = jsdocComments().flatMap(([path, first, comment]) =>
      comment.split("\n").flatMap((line, i) => {
        const from = /^\s*\*\s*import\b.*from\s+["'](@atomic\/metrics[^"']*|atomic-metrics[^"']*)["']/.exec(line);
        return from !== null && !specifiers.has(from[1]!) ? [`${path}:${first + i}: ${from[1]}`] : [];
      })
    );
    assert.deepEqual(unknown, []);
  });

  it("every @internal JSDoc tag is written `@ignore @internal`, so the reference hides what the .d.ts strips", () => {
    // tsc's stripInternal drops @internal members from the published .d.ts; deno doc and jsr.io hide only a member
    // whose comment has a line beginning with @ignore. To fix: node scripts/internal-tags.mjs <file>
    const untagged = jsdocComments().flatMap(([path, first, comment]) =>
      comment.split("\n").flatMap((line, i) =>
        /(?<![\w@])@internal\b/.test(line) && !/^\s*(\/\*\*|\*)\s*@ignore @internal\b/.test(line)
          ? [`${path}:${first + i}: ${line.trim()}`]
          : []
      )
    );
    assert.deepEqual(untagged, []);
  });

  it("every relative link of the README, CONTRIBUTING.md and docs/ leads to a file that exists, and to a heading it has", () => {
    const pages = ["README.md", "CONTRIBUTING.md", ...files("docs").filter((p) => p.endsWith(".md")), "docs/design"]
      .flatMap((path) => path === "docs/design" ? readdirSync(root + path).map((n) => `${path}/${n}`) : [path])
      .filter((path) => path.endsWith(".md"));
    const broken = pages.flatMap((page) => {
      const text = readFileSync(root + page, "utf8").replace(/^```[\s\S]*?^```$/gm, "");
      return [...text.matchAll(/\]\(([^)\s]+)\)/g)].flatMap((m) => {
        const link = m[1]!;
        if (/^[a-z]+:/.test(link)) return [];
        const [path, anchor] = link.split("#") as [string, string | undefined];
        const target = path === "" ? page : normalize(`${dirname(page)}/${path}`);
        if (!existsSync(root + target)) return [`${page}: ${link} (no ${target})`];
        if (anchor === undefined || !target.endsWith(".md")) return [];
        return headingSlugs(readFileSync(root + target, "utf8")).has(anchor) ? [] : [`${page}: ${link} (no heading)`];
      });
    });
    assert.ok(pages.length >= 10, `only ${pages.length} pages`);
    assert.deepEqual(broken, []);
  });
});

/** The anchors GitHub gives the headings of a Markdown text: lower case, punctuation dropped, spaces to hyphens. */
function headingSlugs(text: string): Set<string> {
  const slugs = new Set<string>();
  for (const m of text.replace(/^```[\s\S]*?^```$/gm, "").matchAll(/^#{1,6} (.*)$/gm)) {
    const base = m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-");
    let slug = base;
    for (let n = 1; slugs.has(slug); n++) slug = `${base}-${n}`;
    slugs.add(slug);
  }
  return slugs;
}

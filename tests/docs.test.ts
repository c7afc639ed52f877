import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
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
});

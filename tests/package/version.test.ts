// One version number: package.json (npm) and deno.json (JSR) agree, it is semver, the changelog
// has an entry for it, and scripts/check-exports.ts (run by `npm run check:exports`) catches a drift.
// Node only: node scripts/test.mjs node package   (or node --import tsx --test tests/package/version.test.ts)
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./_pack.ts";

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;
const read = (name: string): string => readFileSync(join(ROOT, name), "utf8");
const pkg = JSON.parse(read("package.json"));
const deno = JSON.parse(read("deno.json"));

function checkExports(cwd: string): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, [
    "--import",
    import.meta.resolve("tsx"),
    join(ROOT, "scripts/check-exports.ts"),
  ], {
    cwd,
    encoding: "utf8",
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe("version", () => {
  it("package.json and deno.json carry the same semver version", () => {
    assert.match(pkg.version, SEMVER);
    assert.equal(deno.version, pkg.version);
  });

  it("CHANGELOG.md has an entry for the current version", () => {
    assert.match(
      read("CHANGELOG.md"),
      new RegExp(`^## \\[?${pkg.version.replaceAll(".", "\\.")}\\]? - \\d{4}-\\d{2}-\\d{2}$`, "m"),
    );
  });

  it("LICENSE is the MIT license that package.json and deno.json declare", () => {
    assert.match(read("LICENSE"), /^MIT License\n\nCopyright \(c\) \d{4} atomic-metrics authors\n/);
    assert.equal(pkg.license, "MIT");
    assert.equal(deno.license, "MIT");
  });

  it("scripts/check-exports.ts fails when deno.json's version drifts from package.json's", () => {
    const dir = mkdtempSync(join(tmpdir(), "atomic-metrics-version-"));
    try {
      mkdirSync(join(dir, "src"));
      writeFileSync(join(dir, "package.json"), JSON.stringify(pkg));
      writeFileSync(join(dir, "deno.json"), JSON.stringify(deno));
      const same = checkExports(dir);
      assert.equal(same.status, 0, same.output);
      writeFileSync(join(dir, "deno.json"), JSON.stringify({ ...deno, version: "9.9.9" }));
      const drifted = checkExports(dir);
      assert.equal(drifted.status, 1);
      assert.match(drifted.output, new RegExp(`version differs: package.json ${pkg.version}, deno.json 9\\.9\\.9`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

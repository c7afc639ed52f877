// The published declarations show the API and nothing else: members tagged `@internal` (the registry's store, the
// series' slots, the registry's side of series creation) leave dist/*.d.ts and dist/*.d.cts through tsc's
// `stripInternal` (tsup.config.ts). npm.test.ts type-checks these files in a fresh project (skipLibCheck off), which
// proves that what is left refers to nothing that was stripped.
// Node only, reads the build: node scripts/test.mjs node package
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ensureBuilt, ROOT } from "./_pack.ts";

ensureBuilt();
const dist = join(ROOT, "dist");
const declarations = readdirSync(dist).filter((name) => /\.d\.c?ts$/.test(name)).map((name) => ({
  name,
  text: readFileSync(join(dist, name), "utf8"),
}));

/** `file:line: text` of every line of the declarations matching `pattern`. */
function findings(pattern: RegExp): string[] {
  return declarations.flatMap(({ name, text }) =>
    text.split("\n").flatMap((line, i) => pattern.test(line) ? [`${name}:${i + 1}: ${line.trim()}`] : [])
  );
}

/** The members of `declare class <name>` in dist/, up to its closing brace (the ESM declarations). */
function classBody(name: string): string {
  for (const { name: file, text } of declarations) {
    if (!file.endsWith(".d.ts")) continue;
    const start = text.search(new RegExp(`^declare (abstract )?class ${name}\\b`, "m"));
    if (start >= 0) return text.slice(start, text.indexOf("\n}", start));
  }
  throw new Error(`no class ${name} in dist/*.d.ts`);
}

describe("published declarations", () => {
  it("dist/ has a .d.ts and a .d.cts for every entry point", () => {
    const exportsMap: Record<string, string> = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8")).exports;
    const names = new Set(declarations.map((d) => d.name));
    for (const subpath of Object.keys(exportsMap)) {
      const base = subpath === "." ? "mod" : subpath.slice(2);
      assert.ok(names.has(`${base}.d.ts`) && names.has(`${base}.d.cts`), `no declarations for ${subpath}`);
    }
  });

  it("no member tagged @internal is left in dist/*.d.ts or dist/*.d.cts", () => {
    assert.deepEqual(findings(/@internal\b/), []);
  });

  it("the store, series creation and the series' slots are not in the declarations", () => {
    // What the API reference must not show, by name: Registry.store and Family.store, Registry.defineSeries,
    // Family.makeSeries, SeriesBase.f64 and its siblings, and the types only they used.
    const hidden: Record<string, string[]> = {
      Registry: ["store", "defineSeries", "findSeries", "overflowOf", "removeSeries", "clearFamily", "syncRemovals"],
      Family: ["store", "definition", "series", "makeSeries", "fingerprint", "size", "visibleSeries", "exemplarOf"],
      SeriesBase: ["f64", "offset", "generation", "flags", "foldSlot", "aliases", "beforeWrite", "slotSum", "encoded"],
      Counter: ["makeSeries", "size", "fingerprint"],
      Histogram: ["makeSeries", "size", "fingerprint", "refuse", "native"],
    };
    const shown = Object.entries(hidden).flatMap(([owner, members]) => {
      const body = classBody(owner);
      return members.filter((member) => new RegExp(`^\\s*(readonly |get )?${member}\\b`, "m").test(body))
        .map((member) => `${owner}.${member}`);
    });
    assert.deepEqual(shown, []);
    assert.deepEqual(findings(/^declare class Store\b|^interface (FamilyContext|SeriesFactory|SeriesPlace)\b/), []);
  });

  it("the API is still there: Registry, its metrics, their series and options", () => {
    const all = declarations.map((d) => d.text).join("\n");
    for (
      const declaration of [
        /declare class Registry\b/,
        /declare class Counter<L extends string = string> extends Family<CounterSeries>/,
        /declare class HistogramSeries extends SeriesBase/,
        /\n\s*labels\(labels: Labels<L>\): CounterSeries;/,
        /\n\s*startTimer\(labels\?: Partial<Labels<L>>\)/,
        /\n\s*remove\(labels: Labels<string>\): boolean;/,
        /\n\s*readonly labelValues: readonly string\[\];/,
        /interface CounterOptions<L extends string = string>/,
      ]
    ) {
      assert.match(all, declaration);
    }
  });
});

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { catalog, standardProcessCatalog } from "../../src/catalog/catalog.ts";
import {
  catalogTable,
  END_MARKER,
  normalizeMarkdown,
  replaceCatalogSection,
  START_MARKER,
} from "../../scripts/catalog-table.ts";

const readme = new URL("../../README.md", import.meta.url);
const doc = new URL("../../docs/catalog.md", import.meta.url);

describe("scripts/catalog-table.ts", () => {
  it("catalogTable() has one row per catalog and standard process metric, between the markers", () => {
    const table = catalogTable();
    assert.ok(table.startsWith(START_MARKER) && table.endsWith(END_MARKER));
    for (const m of [...catalog, ...standardProcessCatalog]) {
      const row = table.split("\n").find((line) => line.startsWith(`| \`${m.name}\` `));
      assert.ok(row !== undefined, `${m.name} has no row`);
      for (const label of m.labelNames) assert.ok(row.includes(`\`${label}\``), `${m.name} row lacks ${label}`);
    }
    assert.equal(table.split("\n").filter((line) => /^\| `/.test(line)).length, 33);
  });

  it("replaceCatalogSection() replaces only the marked section, and needs both markers", () => {
    const text = `intro\n${START_MARKER}\nold\n${END_MARKER}\noutro\n`;
    assert.equal(
      replaceCatalogSection(text, `${START_MARKER}\nnew\n${END_MARKER}`),
      `intro\n${START_MARKER}\nnew\n${END_MARKER}\noutro\n`,
    );
    assert.equal(replaceCatalogSection("no markers", "x"), undefined);
    assert.equal(replaceCatalogSection(`${END_MARKER} ${START_MARKER}`, "x"), undefined);
  });

  it("docs/catalog.md's catalog section is the generated table (run scripts/catalog-table.ts after changing the catalog)", () => {
    const text = readFileSync(doc, "utf8");
    const updated = replaceCatalogSection(text, catalogTable());
    assert.ok(updated !== undefined, "docs/catalog.md has no catalog:start … catalog:end section");
    assert.equal(normalizeMarkdown(updated), normalizeMarkdown(text));
  });

  it("README.md's catalog section, when it has the markers, is the generated table", () => {
    const text = existsSync(readme) ? readFileSync(readme, "utf8") : "";
    const updated = replaceCatalogSection(text, catalogTable());
    assert.equal(
      updated ?? text,
      text,
      "README.md's catalog table is stale: run node --import tsx scripts/catalog-table.ts",
    );
  });

  it("normalizeMarkdown() ignores table padding but not cell content", () => {
    const plain = "| a | b |\n| --- | --- |\n| xyz | 1 |";
    assert.equal(normalizeMarkdown("| a   | b   |\n| --- | --- |\n| xyz | 1   |"), normalizeMarkdown(plain));
    assert.notEqual(normalizeMarkdown(plain.replace("1", "2")), normalizeMarkdown(plain));
  });

  it("the generated table is padded the way deno fmt pads Markdown tables", () => {
    const rows = catalogTable().split("\n").filter((line) => line.startsWith("| `stream_processor_"));
    assert.equal(new Set(rows.map((row) => row.length)).size, 1);
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

// Every ```ts block of the README runs here (```ts ignore marks the illustrative ones), with
// the package's import specifiers pointed at the sources, so the docs cannot rot.
const root = fileURLToPath(new URL("../", import.meta.url));
const readme = readFileSync(`${root}README.md`, "utf8");
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const runtime = process.env.ATOMIC_METRICS_RUNTIME ?? "node";
const subpaths: Record<string, string> = {
  "atomic-metrics": "mod.ts",
  "atomic-metrics/node": "adapters/node.ts",
  "atomic-metrics/deno": "adapters/deno.ts",
  "atomic-metrics/bun": "adapters/bun.ts",
  "atomic-metrics/otel": "src/otel/mod.ts",
  "atomic-metrics/kafka": "src/kafka/mod.ts",
  "atomic-metrics/catalog": "src/catalog/mod.ts",
};
const dir = `${root}tests/.readme/${runtime}/`;
mkdirSync(dir, { recursive: true });

describe("README examples", () => {
  it("the README has runnable TypeScript examples", () => {
    assert.ok(blocks.length >= 4, `only ${blocks.length} runnable blocks`);
  });
  blocks.forEach((code, i) => {
    const title = code.split("\n").find((l) => l.trim() !== "") ?? "";
    it(`README example ${i + 1} runs: ${title.slice(0, 60)}`, async () => {
      const source = code.replace(/from "(atomic-metrics(?:\/[a-z]+)?)"/g, (_, spec: string) => {
        const target = subpaths[spec];
        assert.ok(target, `unknown import ${spec}`);
        return `from "../../../${target}"`;
      });
      const file = `${dir}example_${i + 1}.ts`;
      writeFileSync(file, source + "\nexport {};\n");
      await import(pathToFileURL(file).href);
    });
  });
});

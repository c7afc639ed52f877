// The npm build follows deno.json's exports map: one entry per subpath.
import { readFileSync } from "node:fs";
import { defineConfig } from "tsup";

const exportsMap: Record<string, string> = JSON.parse(readFileSync("deno.json", "utf8")).exports;
const entry: Record<string, string> = {};
for (const [subpath, file] of Object.entries(exportsMap)) {
  entry[subpath === "." ? "mod" : subpath.slice(2)] = file;
}

export default defineConfig({
  entry,
  format: ["esm", "cjs"],
  // `@internal` members (the store, series internals, the registry's side of series creation) are not part of the
  // API: they leave the published declarations (scripts/check-internal.ts proves it on dist/).
  dts: { compilerOptions: { stripInternal: true } },
  clean: true,
  target: "es2022",
  platform: "neutral",
  outDir: "dist",
  splitting: true,
  sourcemap: false,
  external: [/^node:/, /^@opentelemetry\//, "@confluentinc/kafka-javascript"],
  // Keep `node:http` as written: Deno and workerd's nodejs_compat resolve only the prefixed form.
  removeNodeProtocol: false,
});

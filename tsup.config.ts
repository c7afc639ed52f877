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
  dts: true,
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

// Fails when package.json's exports map drifts from deno.json's (the map we edit), or
// when src/ reaches for a runtime (node:*, Deno., Bun.).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

const deno = JSON.parse(readFileSync("deno.json", "utf8"));
const pkg = JSON.parse(readFileSync("package.json", "utf8"));
const problems: string[] = [];

for (const [subpath, file] of Object.entries<string>(deno.exports)) {
  const base = subpath === "." ? "mod" : subpath.slice(2);
  const want = {
    import: { types: `./dist/${base}.d.ts`, default: `./dist/${base}.js` },
    require: { types: `./dist/${base}.d.cts`, default: `./dist/${base}.cjs` },
  };
  const have = pkg.exports?.[subpath];
  if (JSON.stringify(have) !== JSON.stringify(want)) {
    problems.push(
      `package.json exports["${subpath}"] should be ${JSON.stringify(want)} (deno.json maps it to ${file})`,
    );
  }
}
for (const subpath of Object.keys(pkg.exports ?? {})) {
  if (subpath !== "./package.json" && !(subpath in deno.exports)) {
    problems.push(`package.json exports "${subpath}" that deno.json does not`);
  }
}
if (pkg.version !== deno.version) {
  problems.push(`version differs: package.json ${pkg.version}, deno.json ${deno.version}`);
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : path.endsWith(".ts") ? [path] : [];
  });
}
for (const file of walk("src")) {
  const text = readFileSync(file, "utf8");
  text.split("\n").forEach((line, i) => {
    if (/^\s*(\*|\/\/)/.test(line)) return;
    if (/from\s+["']node:|import\(["']node:|\bDeno\.|\bBun\./.test(line)) {
      problems.push(`${file}:${i + 1} reaches for a runtime in src/: ${line.trim()}`);
    }
  });
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log("exports, versions and runtime-neutral src/: ok");

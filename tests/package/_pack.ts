// Shared by the package tests: build dist/ when it is older than its sources, pack the
// tarball a user would download, and install it into a fresh project under os.tmpdir()
// where our own node_modules cannot be seen.
import { spawnSync, type SpawnSyncOptions } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT: string = resolve(import.meta.dirname, "../..");

/** Runs a command; throws with its output when it fails. */
export function run(command: string, args: string[], options: SpawnSyncOptions = {}): string {
  const result = spawnSync(command, args, { cwd: ROOT, encoding: "utf8", timeout: 300_000, ...options });
  if (result.error) throw new Error(`${command} ${args.join(" ")} could not run: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited ${result.status}\n${result.stdout}\n${result.stderr}`);
  }
  return String(result.stdout);
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

function newest(paths: string[]): number {
  return Math.max(...paths.map((path) => statSync(path).mtimeMs));
}

/** `npm run build` unless every file in dist/ is newer than every source of the build. */
export function ensureBuilt(): void {
  const inputs = [
    ...files(join(ROOT, "src")),
    ...files(join(ROOT, "adapters")),
    ...["mod.ts", "tsup.config.ts", "package.json", "deno.json"].map((name) => join(ROOT, name)),
  ];
  let outputs: string[] = [];
  try {
    outputs = files(join(ROOT, "dist"));
  } catch {
    // no dist/ yet
  }
  const oldestOutput = outputs.length ? Math.min(...outputs.map((path) => statSync(path).mtimeMs)) : 0;
  if (outputs.length === 0 || oldestOutput < newest(inputs)) run("npm", ["run", "build", "--silent"]);
}

export interface Tarball {
  /** Absolute path of the .tgz. */
  path: string;
  /** Its size in bytes, as downloaded. */
  size: number;
  /** Unpacked size in bytes. */
  unpackedSize: number;
  /** Paths inside the package, as `npm pack` lists them. */
  files: string[];
}

/** Builds if needed, then `npm pack` into a fresh temporary directory. */
export function pack(): Tarball {
  ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), "atomic-metrics-tarball-"));
  const out = run("npm", ["pack", "--json", "--pack-destination", dir], {
    env: { ...process.env, npm_config_loglevel: "silent" },
  });
  const [info] = JSON.parse(out.slice(out.indexOf("["))) as {
    filename: string;
    size: number;
    unpackedSize: number;
    files: { path: string }[];
  }[];
  if (!info) throw new Error(`npm pack printed no package: ${out}`);
  return {
    path: join(dir, info.filename),
    size: info.size,
    unpackedSize: info.unpackedSize,
    files: info.files.map((file) => file.path),
  };
}

function versionOf(name: string): string {
  return JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")).version;
}

/**
 * A fresh project under os.tmpdir() with the tarball installed, plus the optional peers the
 * /otel and /kafka entry points import (@opentelemetry/api and /core, at the versions we test
 * with, from npm's cache when offline). `link` names packages of ours (typescript, @types/node)
 * to symlink into its node_modules for tools.
 */
export function consumerProject(tarball: Tarball, link: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), "atomic-metrics-consumer-"));
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2),
  );
  const peers = ["@opentelemetry/api", "@opentelemetry/core"].map((name) => `${name}@${versionOf(name)}`);
  const args = ["install", tarball.path, ...peers, "--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error"];
  try {
    run("npm", [...args, "--offline"], { cwd: dir });
  } catch {
    run("npm", args, { cwd: dir }); // npm's cache lacks something: fetch from the registry
  }
  for (const name of link) {
    const target = join(dir, "node_modules", name);
    mkdirSync(resolve(target, ".."), { recursive: true });
    symlinkSync(join(ROOT, "node_modules", name), target, "dir");
  }
  return dir;
}

// Memory measurement helpers for the storage benchmarks. The probe side (rss, heap, gc) runs on
// Node, Deno and Bun; the runner side (child processes) on Node.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** Which runtime this is. */
export const runtime: "node" | "deno" | "bun" = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "node";

/** Resident set size of this process in bytes (VmRSS: every thread, every heap, shared memory touched). */
export function rss(): number {
  const status = readFileSync("/proc/self/status", "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) * 1024;
}

/** A full garbage collection: Node/Deno need --expose-gc (Deno: --v8-flags=--expose-gc); Bun has Bun.gc. */
export function gc(): void {
  const g = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  if (g.Bun !== undefined) g.Bun.gc(true);
  else if (g.gc !== undefined) {
    g.gc();
    g.gc();
  } else throw new Error("No gc(): run Node and Deno with --expose-gc");
}

/** JS heap in use after a full collection (V8 heapUsed; on Bun, JavaScriptCore's heap size). */
export function heapUsed(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

/** Median of a list of numbers. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Formats bytes as B, KiB or MiB; a small negative change (collection noise) as ≈ 0. */
export function fmtBytes(n: number): string {
  if (n < 0 && n > -(2 ** 20)) return "≈ 0";
  const a = Math.abs(n);
  if (a >= 2 ** 20) return `${(n / 2 ** 20).toFixed(2)} MiB`;
  if (a >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${Math.round(n)} B`;
}

/** Formats a duration in ms. */
export function fmtMs(ms: number): string {
  return ms >= 100 ? `${ms.toFixed(0)} ms` : ms >= 1 ? `${ms.toFixed(1)} ms` : `${(ms * 1000).toFixed(0)} µs`;
}

const ROOT = new URL("..", import.meta.url).pathname;

/** The command line that runs a TypeScript file on a runtime, with gc exposed. */
export function command(on: "node" | "deno" | "bun", file: string, args: string[]): [string, string[]] {
  if (on === "node") return [process.execPath, ["--expose-gc", "--import", "tsx", file, ...args]];
  if (on === "deno") {
    return [`${ROOT}node_modules/.bin/deno`, ["run", "-A", "--no-check", "--v8-flags=--expose-gc", file, ...args]];
  }
  return [`${ROOT}node_modules/.bin/bun`, [file, ...args]];
}

/**
 * Runs `file args` in a fresh process of `on` and returns the JSON object of its last line
 * that starts with "{": one library per process, so no library's garbage counts against another.
 */
export function probe(on: "node" | "deno" | "bun", file: string, args: string[], timeoutMs = 300_000): Record<
  string,
  number
> {
  const [cmd, argv] = command(on, file, args);
  const result = spawnSync(cmd, argv, { cwd: ROOT, encoding: "utf8", timeout: timeoutMs, maxBuffer: 16 << 20 });
  if (result.status !== 0) {
    throw new Error(`${on} ${file} ${args.join(" ")} exited ${result.status}: ${result.stderr.slice(-2000)}`);
  }
  const line = result.stdout.split("\n").filter((l) => l.startsWith("{")).pop();
  if (line === undefined) throw new Error(`${on} ${file} ${args.join(" ")} printed no result: ${result.stdout}`);
  return JSON.parse(line);
}

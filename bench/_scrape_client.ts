// The client side of the HTTP scrape benchmarks (Node): starts bench/_scrape_server.ts in a child
// process of a runtime, talks to it over its stdin/stdout, scrapes it with node:http, and reads
// its memory from /proc.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import type { Lib, Shape } from "./_scrape_fixtures.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const SERVER = new URL("./_scrape_server.ts", import.meta.url).pathname;

/** Prometheus' own Accept header (OpenMetrics preferred). */
export const PROMETHEUS_ACCEPT =
  "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/** The text format 0.0.4, as the peers serve by default. */
export const TEXT_ACCEPT = "text/plain;version=0.0.4";

/** A running server child. */
export interface ServerChild {
  pid: number;
  port: number;
  /** What the child said when it was ready: RSS and heap after building the registry, its byteLength. */
  info: Record<string, number>;
  /** Sends one command and resolves with the child's JSON answer. */
  ask(command: string): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

function commandFor(runtime: "node" | "deno" | "bun", args: string[]): [string, string[]] {
  if (runtime === "node") return [process.execPath, ["--expose-gc", "--import", "tsx", SERVER, ...args]];
  if (runtime === "deno") {
    return [`${ROOT}node_modules/.bin/deno`, ["run", "-A", "--no-check", "--v8-flags=--expose-gc", SERVER, ...args]];
  }
  return [`${ROOT}node_modules/.bin/bun`, [SERVER, ...args]];
}

/** Starts a server child and waits until it listens. */
export async function startServer(
  runtime: "node" | "deno" | "bun",
  lib: Lib | "static",
  shape: Shape,
  series: number,
  record?: "record-worker" | "record-loop",
): Promise<ServerChild> {
  const [cmd, argv] = commandFor(runtime, [lib, shape, String(series), ...(record ? [record] : [])]);
  const child: ChildProcess = spawn(cmd, argv, { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (d: string) => (stderr = (stderr + d).slice(-4000)));
  const waiting: ((line: Record<string, number>) => void)[] = [];
  let failed: ((error: Error) => void) | undefined;
  let pending = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (d: string) => {
    pending += d;
    for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.startsWith("{")) waiting.shift()?.(JSON.parse(line));
    }
  });
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  child.once("exit", (code) => {
    if (code !== 0) failed?.(new Error(`${runtime} server for ${lib} exited ${code}: ${stderr}`));
  });
  const next = () =>
    new Promise<Record<string, number>>((resolve, reject) => {
      waiting.push(resolve);
      failed = reject;
    });
  const info = await next();
  return {
    pid: child.pid!,
    port: info.port!,
    info,
    ask(command) {
      const answer = next();
      child.stdin!.write(command + "\n");
      return answer;
    },
    async stop() {
      child.stdin!.write("exit\n");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** One scrape's outcome. */
export interface Scrape {
  ms: number;
  bytes: number;
  status: number;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** Scrapes `/metrics` once, reading (and dropping) the body as it comes; not decoded. */
export function scrape(port: number, headers: Record<string, string>): Promise<Scrape> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/metrics", headers, agent }, (response) => {
      let bytes = 0;
      response.on("data", (chunk: Buffer) => (bytes += chunk.byteLength));
      response.on("end", () => resolve({ ms: performance.now() - started, bytes, status: response.statusCode ?? 0 }));
      response.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** Closes the kept-alive connections. */
export function closeConnections(): void {
  agent.destroy();
}

/** VmRSS and VmHWM of a process, in bytes. */
export function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return {
    rss: Number(/VmRSS:\s+(\d+)/.exec(status)![1]) * 1024,
    hwm: Number(/VmHWM:\s+(\d+)/.exec(status)![1]) * 1024,
  };
}

/** Resets a process's VmHWM to its current RSS (Linux clear_refs 5). */
export function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
}

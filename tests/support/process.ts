/**
 * Child processes and loopback HTTP for the Node-only end-to-end, package and
 * Kafka tests: free ports, polling, detached children stopped as a process
 * group, and GETs that leave no idle socket behind.
 * Node-only test support; not part of the package.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { get as httpGet, type IncomingHttpHeaders } from "node:http";
import { createServer } from "node:net";

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/** A free TCP port on 127.0.0.1, from a listener bound to port 0 and closed again. */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.unref();
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address === null || typeof address === "string") fail(new Error("No port from a loopback listener"));
        else done(address.port);
      });
    });
  });
}

/** Polls `check` every 200 ms until it resolves true (a rejection counts as false); throws after `timeoutMs` with `log()` appended. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  log: () => string = () => "",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(200);
  }
  const output = log();
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${output === "" ? "" : `\n${output}`}`);
}

/** A child started by {@link startProcess}. */
export interface StartedProcess {
  readonly child: ChildProcess;
  /** Everything it printed so far, stdout and stderr interleaved. */
  log(): string;
}

/** Spawns a detached child (it leads its own process group, so stopProcess() also ends what it started) with piped stdio. */
export function startProcess(command: string, args: readonly string[], cwd: string): StartedProcess {
  // stdin stays an open pipe: a child that stops when its stdin ends (tests/e2e/serve_fixture.ts) also stops when this process dies.
  const child = spawn(command, [...args], { cwd, detached: true, stdio: ["pipe", "pipe", "pipe"] });
  let log = "";
  child.stdout?.on("data", (chunk: Buffer) => (log += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (log += chunk.toString()));
  return { child, log: () => log };
}

/** Closes the child's stdin and SIGTERMs its process group, then SIGKILLs it if it has not exited within 5 s. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const pid = child.pid;
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const signal = (name: NodeJS.Signals): void => {
    try {
      process.kill(-pid, name);
    } catch {
      // Already gone.
    }
  };
  child.stdin?.end();
  signal("SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ended = await Promise.race([
    exited.then(() => true),
    new Promise<boolean>((done) => (timer = setTimeout(() => done(false), 5_000))),
  ]);
  clearTimeout(timer);
  if (!ended) {
    signal("SIGKILL");
    await exited;
  }
}

/** A response read to its end by {@link getResponse}. */
export interface HttpReply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The body as sent (not decompressed). */
  readonly bytes: Buffer;
  /** The body decoded as UTF-8. */
  readonly text: string;
}

/** GET over node:http without keep-alive (fetch keeps idle sockets that hold the test process open) and without decompression. */
export function getResponse(url: string, headers: Readonly<Record<string, string>> = {}): Promise<HttpReply> {
  return new Promise((done, fail) => {
    httpGet(url, { agent: false, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        const bytes = Buffer.concat(chunks);
        done({ status: response.statusCode ?? 0, headers: response.headers, bytes, text: bytes.toString("utf8") });
      });
    }).on("error", fail);
  });
}

/** {@link getResponse} with an optional Accept header, reduced to status, content type and text. */
export async function getText(url: string, accept?: string): Promise<{ status: number; type: string; text: string }> {
  const response = await getResponse(url, accept === undefined ? {} : { accept });
  return { status: response.status, type: String(response.headers["content-type"]), text: response.text };
}

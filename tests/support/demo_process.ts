/**
 * Runs examples/demo.ts as a child process for the end-to-end tests
 * (tests/e2e/demo.test.ts, tests/kafka/demo.broker.test.ts): starts it on a runtime
 * with PORT=0 and waits for its "listening on http://…" line; sampleSum() reads what it serves.
 * Node-only test support; not part of the package.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join, resolve } from "node:path";
import type { ParsedFamily } from "../_parse.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const STARTUP_TIMEOUT_MS = 60_000;

/** A runtime and the command that runs the demo on it. */
export interface DemoRuntime {
  readonly name: "node" | "deno" | "bun";
  readonly command: string;
  readonly args: readonly string[];
}

const bin = (name: string): string => join(ROOT, "node_modules", ".bin", name);

/** Node (through tsx), Deno and Bun, from the repository's devDependencies. */
export const demoRuntimes: readonly DemoRuntime[] = [
  { name: "node", command: process.execPath, args: ["--import", "tsx", "examples/demo.ts"] },
  { name: "deno", command: bin("deno"), args: ["run", "-A", "examples/demo.ts"] },
  { name: "bun", command: bin("bun"), args: ["examples/demo.ts"] },
];

/** A running demo. */
export interface DemoProcess {
  readonly child: ChildProcess;
  /** `http://127.0.0.1:<port>`, from the listening line. */
  readonly base: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
  /** SIGKILLs it if it still runs. */
  kill(): void;
}

/**
 * Starts the demo and resolves once it listens.
 *
 * @param runtime Where to run it.
 * @param env Extra environment (defaults: PORT=0, HOST=127.0.0.1, DEMO_SEED=1,
 *   DEMO_DURATION_MS=120000 as a safety net, KAFKA_BROKERS and OTEL_* cleared).
 */
export function startDemo(runtime: DemoRuntime, env: Record<string, string> = {}): Promise<DemoProcess> {
  const child = spawn(runtime.command, [...runtime.args], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: "0",
      HOST: "127.0.0.1",
      DEMO_SEED: "1",
      DEMO_DURATION_MS: "120000",
      KAFKA_BROKERS: "",
      OTEL_EXPORTER_OTLP_ENDPOINT: "",
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let running = true;
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((done) =>
    child.on("exit", (code) => {
      running = false;
      done(code);
    })
  );
  const kill = (): void => {
    if (running) child.kill("SIGKILL");
  };
  return new Promise((done, fail) => {
    const timer = setTimeout(() => {
      kill();
      fail(new Error(`${runtime.name}: no "listening on" line within ${STARTUP_TIMEOUT_MS} ms:\n${output}`));
    }, STARTUP_TIMEOUT_MS);
    child.on("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`${runtime.name}: the demo exited with ${code} before listening:\n${output}`));
    });
    child.stdout.on("data", (chunk: string) => {
      output += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        done({ child, base: match[1]!, output: () => output, exited, kill });
      }
    });
  });
}

/** Sum of the samples named `sampleName` (default: the family's name) of a parsed family. */
export function sampleSum(families: Map<string, ParsedFamily>, family: string, sampleName: string = family): number {
  return (families.get(family)?.samples ?? []).filter((s) => s.name === sampleName).reduce(
    (sum, s) => sum + s.value,
    0,
  );
}

// A metrics server of 100k series for the streaming end-to-end test, run as a child process
// under Deno (`deno run -A tests/e2e/stream_fixture.ts`) or Bun (`bun tests/e2e/stream_fixture.ts`).
// It prints `{"runtime","port"}` as one JSON line and runs until its standard input closes or
// it is killed.
import { largeRegistry } from "./large_values.ts";

interface Started {
  port: number;
  close(): Promise<void>;
}

type Serve = (options: { registry: ReturnType<typeof largeRegistry>; port: number; hostname: string }) => Promise<
  Started
>;

const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
const adapter = (await import(`../../adapters/${runtime}.ts`)) as { serve: Serve };

const server = await adapter.serve({ registry: largeRegistry(), port: 0, hostname: "127.0.0.1" });
console.log(JSON.stringify({ runtime, port: server.port }));

async function stop(): Promise<never> {
  await server.close();
  (globalThis as { process?: { exit(code: number): never } }).process?.exit(0);
  throw new Error("process.exit is missing");
}

const stdin = (globalThis as { process?: { stdin: { on(event: string, listener: () => void): void; resume(): void } } })
  .process?.stdin;
stdin?.on("end", () => void stop());
stdin?.resume();

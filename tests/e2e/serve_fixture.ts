// A metrics server for the end-to-end test, run as a child process under Deno
// (`npx deno run -A tests/e2e/serve_fixture.ts`) or Bun (`npx bun
// tests/e2e/serve_fixture.ts`). It serves the known series twice, on two free
// loopback ports: one negotiating the format (Prometheus asks for
// OpenMetrics) and one forced to the text format 0.0.4. It prints
// `{"runtime","negotiated","text"}` as one JSON line and runs until its
// standard input closes or it is killed.
import { knownRegistry } from "./known_values.ts";

interface Started {
  port: number;
  close(): Promise<void>;
}

type Serve = (options: {
  registry: ReturnType<typeof knownRegistry>;
  port: number;
  hostname: string;
  format?: "negotiate" | "prometheus";
}) => Promise<Started>;

const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
const adapter = (await import(`../../adapters/${runtime}.ts`)) as { serve: Serve };

const registry = knownRegistry();
const negotiated = await adapter.serve({ registry, port: 0, hostname: "127.0.0.1" });
const text = await adapter.serve({ registry: knownRegistry(), port: 0, hostname: "127.0.0.1", format: "prometheus" });
console.log(JSON.stringify({ runtime, negotiated: negotiated.port, text: text.port }));

async function stop(): Promise<never> {
  await Promise.all([negotiated.close(), text.close()]);
  // Exit through whichever runtime this is, without importing a runtime module.
  (globalThis as { process?: { exit(code: number): never } }).process?.exit(0);
  throw new Error("process.exit is missing");
}

// Both Deno and Bun provide node's process global; stdin closing means the
// parent test went away.
const stdin = (globalThis as { process?: { stdin: { on(event: string, listener: () => void): void; resume(): void } } })
  .process?.stdin;
stdin?.on("end", () => void stop());
stdin?.resume();

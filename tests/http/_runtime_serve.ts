// The `serve()` of the adapter for the runtime running the tests (adapters/node.ts, deno.ts or
// bun.ts), so one test file exercises the real server of whichever runtime runs it.
import type { Serve } from "./suite.ts";

/** "node", "deno" or "bun". */
export const runtime: "node" | "deno" | "bun" = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";

/** The running runtime's adapter `serve()`. */
export const serve: Serve = ((await import(`../../adapters/${runtime}.ts`)) as { serve: Serve }).serve;

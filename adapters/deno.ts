/**
 * Serves a registry's metrics endpoint with `Deno.serve`: a thin bridge to
 * the runtime-neutral `metricsHandler`.
 *
 * @example Serve on a free port and scrape once
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * import { serve } from "@atomic/metrics/deno";
 *
 * const server = await serve({ registry: new Registry(), port: 0, hostname: "127.0.0.1" });
 * const response = await fetch(`http://127.0.0.1:${server.port}/metrics`);
 * if (!(await response.text()).includes("# HELP")) throw new Error();
 * await server.close();
 * ```
 *
 * @module
 */

import { type FetchHandler, metricsHandler } from "../src/http/handler.ts";
import {
  internalError,
  listenOptions,
  type MetricsServer,
  reportError,
  requireHost,
  type ServeOptions,
} from "../src/http/serve_options.ts";

import { zlibCompressors } from "./_zlib.ts";
export type { MetricsServer, ServeOptions } from "../src/http/serve_options.ts";
export { type DefaultMetrics, defaultMetrics, type DefaultMetricsOptions } from "./default_metrics.ts";

// The slice of the Deno namespace used here, read from globalThis so the file
// also type-checks outside Deno.
interface DenoServe {
  serve(
    options: {
      port: number;
      hostname: string;
      onListen?: (address: { port: number }) => void;
      onError?: (error: unknown) => Response;
    },
    handler: FetchHandler,
  ): { addr: { port: number }; shutdown(): Promise<void> };
}

/**
 * Starts a `Deno.serve` server that answers with `metricsHandler`. A request
 * without a `Host` header, or with one that is no URL host, answers 400 with a
 * short plain body; nothing is logged per request.
 *
 * @param options The registry, `port` (default 9090; 0 picks a free one), `hostname` (default "0.0.0.0") and the handler's options.
 * @returns The running server, with its actual port and a `close()`.
 * @throws {Error} When the handler options are invalid, the port cannot be bound, or this is not Deno.
 *
 * @example Start and stop
 * ```ts
 * import { serve } from "@atomic/metrics/deno";
 *
 * const server = await serve({ registry: { render: () => "" }, port: 0, hostname: "127.0.0.1" });
 * if (server.port === 0) throw new Error();
 * await server.close();
 * ```
 */
// async so that bad options and a missing runtime reject, as the Node adapter's do.
// deno-lint-ignore require-await
export async function serve(options: ServeOptions): Promise<MetricsServer> {
  const { registry, port, hostname, handlerOptions } = listenOptions(options);
  const deno = (globalThis as { Deno?: DenoServe }).Deno;
  if (deno === undefined) throw new Error('The "atomic-metrics/deno" adapter needs the Deno runtime');
  const handler = requireHost(metricsHandler(registry, { compressors: zlibCompressors(), ...handlerOptions }));
  // Deno's default onError logs a stack per failed request; ours answers a plain 500 and tells only the user's onError.
  const onError = (error: unknown): Response => {
    reportError(handlerOptions.onError, error);
    return internalError();
  };
  const server = deno.serve({ port, hostname, onListen: () => {}, onError }, handler);
  return { port: server.addr.port, hostname, close: () => server.shutdown() };
}

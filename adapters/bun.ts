/**
 * Serves a registry's metrics endpoint with `Bun.serve`: a thin bridge to
 * the runtime-neutral `metricsHandler`.
 *
 * @example Serve on a free port and scrape once
 * ```ts ignore
 * import { Registry } from "@atomic/metrics";
 * import { serve } from "@atomic/metrics/bun";
 *
 * const server = await serve({ registry: new Registry(), port: 0, hostname: "127.0.0.1" });
 * console.log((await fetch(`http://127.0.0.1:${server.port}/metrics`)).status); // 200
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

// The slice of the Bun namespace used here, read from globalThis so the file
// also type-checks outside Bun.
interface BunServe {
  serve(options: {
    port: number;
    hostname: string;
    development: boolean;
    fetch: FetchHandler;
    error: (error: unknown) => Response;
  }): {
    port: number;
    stop(closeActiveConnections?: boolean): Promise<void> | void;
  };
}

/**
 * Starts a `Bun.serve` server that answers with `metricsHandler`. A request
 * without a `Host` header, or with one that is no URL host, answers 400 with a
 * short plain body; Bun's development error page is never served and nothing
 * is logged per request.
 *
 * @param options The registry, `port` (default 9090; 0 picks a free one), `hostname` (default "0.0.0.0") and the handler's options.
 * @returns The running server, with its actual port and a `close()`.
 * @throws {Error} When the handler options are invalid, the port cannot be bound, or this is not Bun.
 *
 * @example Start and stop
 * ```ts ignore
 * import { serve } from "@atomic/metrics/bun";
 *
 * const server = await serve({ registry: { render: () => "" }, port: 0, hostname: "127.0.0.1" });
 * console.log(server.port > 0); // true
 * await server.close();
 * ```
 */
// async so that bad options and a missing runtime reject, as the Node adapter's do.
// deno-lint-ignore require-await
export async function serve(options: ServeOptions): Promise<MetricsServer> {
  const { registry, port, hostname, handlerOptions } = listenOptions(options);
  const bun = (globalThis as { Bun?: BunServe }).Bun;
  if (bun === undefined) throw new Error('The "atomic-metrics/bun" adapter needs the Bun runtime');
  const server = bun.serve({
    port,
    hostname,
    // Bun's development mode answers a failure with an HTML page of paths and source lines and logs a stack.
    development: false,
    fetch: requireHost(metricsHandler(registry, { compressors: zlibCompressors(), ...handlerOptions })),
    error: (error) => {
      reportError(handlerOptions.onError, error);
      return internalError();
    },
  });
  return {
    port: server.port,
    hostname,
    close: async () => {
      await server.stop(true);
    },
  };
}

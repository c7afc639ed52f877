/**
 * The options and the result of `serve()`, the same in every runtime adapter
 * (`atomic-metrics/node`, `atomic-metrics/deno`, `atomic-metrics/bun`).
 *
 * @module
 */

import type { MetricsHandlerOptions, MetricsSource } from "./handler.ts";

/**
 * Options of an adapter's `serve()`: the registry, where to listen, and the
 * options of `metricsHandler`.
 *
 * @example Options for a server on a free loopback port
 * ```ts
 * import type { ServeOptions } from "./serve_options.ts";
 *
 * const options: ServeOptions = { registry: { render: () => "" }, port: 0, hostname: "127.0.0.1" };
 * if (options.port !== 0) throw new Error();
 * ```
 */
export interface ServeOptions extends MetricsHandlerOptions {
  /** The registry to expose. */
  registry: MetricsSource;
  /**
   * TCP port; 0 picks a free one.
   * @default {9090}
   */
  port?: number;
  /**
   * Interface to listen on.
   * @default {"0.0.0.0"}
   */
  hostname?: string;
}

/** A running metrics server, as an adapter's `serve()` resolves to. */
export interface MetricsServer {
  /** The port listened on (the chosen one when 0 was asked). */
  port: number;
  /** The interface listened on. */
  hostname: string;
  /** Stops listening, closes open connections and resolves when done. */
  close(): Promise<void>;
}

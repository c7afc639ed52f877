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

/** Serve options with the defaults applied and checked, as every adapter listens with them. */
export interface ListenOptions {
  /** The registry to expose. */
  registry: MetricsSource;
  /** TCP port, an integer in [0, 65535]. */
  port: number;
  /** Interface to listen on. */
  hostname: string;
  /** What is left for `metricsHandler()`. */
  handlerOptions: MetricsHandlerOptions;
}

/**
 * Applies the defaults (port 9090, hostname 0.0.0.0) and checks them, so that each adapter
 * refuses bad options with the same clear error before it listens.
 *
 * @throws {TypeError} when the options are not an object, or `port` or `hostname` is not valid.
 * @example
 * ```ts
 * import { listenOptions } from "./serve_options.ts";
 * const { port, hostname } = listenOptions({ registry: { render: () => "" } });
 * if (port !== 9090 || hostname !== "0.0.0.0") throw new Error();
 * let refused = false;
 * try { listenOptions({ registry: { render: () => "" }, port: 70000 }); } catch { refused = true; }
 * if (!refused) throw new Error();
 * ```
 */
export function listenOptions(options: ServeOptions): ListenOptions {
  if (options === null || typeof options !== "object") throw new TypeError("serve() expects an options object");
  const { registry, port = 9090, hostname = "0.0.0.0", ...handlerOptions } = options;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`Option "port" must be an integer in [0, 65535]; got ${JSON.stringify(port)}`);
  }
  if (typeof hostname !== "string" || hostname === "") {
    throw new TypeError(`Option "hostname" must be a non-empty string; got ${JSON.stringify(hostname)}`);
  }
  return { registry, port, hostname, handlerOptions };
}

/**
 * The options and the result of `serve()`, the same in every runtime adapter
 * (`atomic-metrics/node`, `atomic-metrics/deno`, `atomic-metrics/bun`).
 *
 * @module
 */

import type { FetchHandler, MetricsHandlerOptions, MetricsSource } from "./handler.ts";

/**
 * Options of an adapter's `serve()`: the registry, where to listen, and the
 * options of `metricsHandler`.
 *
 * @example Options for a server on a free loopback port
 * ```ts
 * import type { ServeOptions } from "@atomic/metrics";
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
 * @ignore @internal Shared by the runtime adapters; not part of the API.
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

/**
 * The answer to a request no URL can be made of (no `Host` header, or one that
 * is no URL host): 400 with a short plain body that names no path, file or
 * source line.
 *
 * @returns A new 400 response.
 *
 * @example
 * ```ts
 * import { badRequest } from "./serve_options.ts";
 * const response = badRequest();
 * if (response.status !== 400 || (await response.text()) !== "Bad request\n") throw new Error();
 * ```
 * @ignore @internal Shared by the runtime adapters; not part of the API.
 */
export function badRequest(): Response {
  return new Response("Bad request\n", {
    status: 400,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
  });
}

/**
 * The answer of an adapter's server when answering failed in a way the
 * handler did not catch: 500 with a short plain body, never the runtime's own
 * error page or a logged stack.
 *
 * @returns A new 500 response.
 *
 * @example
 * ```ts
 * import { internalError } from "./serve_options.ts";
 * if (internalError().status !== 500) throw new Error();
 * ```
 * @ignore @internal Shared by the runtime adapters; not part of the API.
 */
export function internalError(): Response {
  return new Response("Internal server error\n", {
    status: 500,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
  });
}

/**
 * Wraps a handler for a server that listens on a socket: a request without a
 * `Host` header, or with an empty one, answers {@linkcode badRequest}, as RFC
 * 9112 §3.2 asks of HTTP/1.1. Deno fills in `localhost` for a missing Host, so
 * the handler alone cannot tell; an HTTP/1.0 request without Host is refused
 * alike, so that every runtime answers the same.
 *
 * @param handler The handler to guard.
 * @returns A handler that answers 400 without calling `handler` when Host is missing.
 *
 * @example
 * ```ts
 * import { requireHost } from "./serve_options.ts";
 * const handler = requireHost(() => Promise.resolve(new Response("ok")));
 * if ((await handler(new Request("http://localhost/metrics"))).status !== 400) throw new Error();
 * const withHost = new Request("http://localhost/metrics", { headers: { host: "localhost" } });
 * if ((await handler(withHost)).status !== 200) throw new Error();
 * ```
 * @ignore @internal Shared by the runtime adapters; not part of the API.
 */
export function requireHost(handler: FetchHandler): FetchHandler {
  return (request) => {
    const host = request.headers.get("host");
    return host === null || host.trim() === "" ? Promise.resolve(badRequest()) : handler(request);
  };
}

/**
 * Calls the user's `onError` for a failure the handler did not catch, if
 * there is one; an `onError` that throws is ignored, so the server keeps
 * answering.
 *
 * @param onError The `onError` option, or `undefined`.
 * @param error What was thrown.
 *
 * @example
 * ```ts
 * import { reportError } from "./serve_options.ts";
 * reportError(() => { throw new Error("broken reporter"); }, new Error("x")); // does not throw
 * ```
 * @ignore @internal Shared by the runtime adapters; not part of the API.
 */
export function reportError(onError: ((error: unknown) => void) | undefined, error: unknown): void {
  try {
    onError?.(error);
  } catch {
    // The reporter itself failed: nothing left to tell without logging per request.
  }
}

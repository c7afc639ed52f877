/**
 * Serves a registry's metrics endpoint with `node:http`: a thin bridge from
 * Node's request listener to the runtime-neutral `metricsHandler`.
 *
 * @example Serve on a free port and scrape once
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * import { serve } from "@atomic/metrics/node";
 *
 * const server = await serve({ registry: new Registry(), port: 0, hostname: "127.0.0.1" });
 * const response = await fetch(`http://127.0.0.1:${server.port}/metrics`);
 * if (!(await response.text()).includes("# HELP")) throw new Error();
 * await server.close();
 * ```
 *
 * @module
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type FetchHandler, metricsHandler } from "../src/http/handler.ts";
import { badRequest, listenOptions, type MetricsServer, type ServeOptions } from "../src/http/serve_options.ts";
import { zlibCompressors } from "./_zlib.ts";

export type { MetricsServer, ServeOptions } from "../src/http/serve_options.ts";
export { type DefaultMetrics, defaultMetrics, type DefaultMetricsOptions } from "./default_metrics.ts";
export * from "./node_cluster.ts";

/**
 * Bridges a fetch-style handler to a `node:http` request listener. The request
 * body is not read: the metrics endpoint answers GET and HEAD only. A request
 * without a `Host` header, with one that is no URL host, or with a method
 * `fetch` cannot represent (TRACE, CONNECT) answers 400 with a short plain body.
 *
 * @param handler The fetch-style handler.
 * @returns A listener for `http.createServer`.
 *
 * @example Mount the metrics handler in an existing node:http server
 * ```ts
 * import { createServer } from "node:http";
 * import { metricsHandler } from "@atomic/metrics";
 * import { toNodeListener } from "@atomic/metrics/node";
 *
 * const server = createServer(toNodeListener(metricsHandler({ render: () => "up 1\n" })));
 * await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
 * const { port } = server.address() as { port: number };
 * const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
 * server.close();
 * if (text !== "up 1\n") throw new Error(text);
 * ```
 */
export function toNodeListener(handler: FetchHandler): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    let fetchRequest: Request | undefined;
    try {
      fetchRequest = toRequest(request);
    } catch {
      // A method fetch forbids (TRACE, CONNECT): answered below as a missing or bad Host is.
    }
    const pending = fetchRequest === undefined ? Promise.resolve(badRequest()) : handler(fetchRequest);
    pending
      .then(async (answer) => {
        response.statusCode = answer.status;
        answer.headers.forEach((value, name) => response.setHeader(name, value));
        if (request.method === "HEAD" || answer.body === null) {
          response.end();
          return;
        }
        await pipeBody(answer.body, response);
      })
      .catch(() => {
        if (!response.headersSent) response.statusCode = 500;
        response.end();
      });
  };
}

/**
 * Writes a streamed body as it comes, waiting for the socket to drain, so a large scrape holds
 * a few chunks in memory, not the whole exposition; a client that goes away cancels the render.
 */
async function pipeBody(body: ReadableStream<Uint8Array>, response: ServerResponse): Promise<void> {
  const reader = body.getReader();
  let closed = false;
  const onClose = () => {
    closed = true;
    reader.cancel().catch(() => {});
  };
  response.once("close", onClose);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || closed) break;
      if (!response.write(value)) {
        await new Promise<void>((resolve) => {
          const resume = () => {
            response.off("drain", resume);
            response.off("close", resume);
            resolve();
          };
          response.on("drain", resume);
          response.on("close", resume);
        });
      }
    }
  } finally {
    response.off("close", onClose);
  }
  if (!closed) response.end();
}

// undefined when the request has no Host, or one no URL can hold: there is no URL to give the handler.
function toRequest(request: IncomingMessage): Request | undefined {
  const host = request.headers.host;
  if (host === undefined || host.trim() === "") return undefined;
  const target = request.url ?? "/";
  let url: URL;
  try {
    // Joined as text, not resolved against a base, so "//metrics" stays a path as Deno and Bun keep it.
    url = target.startsWith("/") ? new URL(`http://${host}${target}`) : new URL(target, `http://${host}`);
  } catch {
    return undefined;
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    if (typeof value === "string") headers.set(name, value);
    else if (Array.isArray(value)) { for (const item of value) headers.append(name, item); }
  }
  return new Request(url, { method: request.method ?? "GET", headers });
}

/**
 * Starts a `node:http` server that answers with {@linkcode metricsHandler}. A
 * request without a `Host` header, or with one that is no URL host, answers
 * 400 with a short plain body.
 *
 * @param options The registry, `port` (default 9090; 0 picks a free one), `hostname` (default "0.0.0.0") and the handler's options.
 * @returns The running server, with its actual port and a `close()`.
 * @throws {Error} When the handler options are invalid or the port cannot be bound.
 *
 * @example Start and stop
 * ```ts
 * import { serve } from "@atomic/metrics/node";
 *
 * const server = await serve({ registry: { render: () => "" }, port: 0, hostname: "127.0.0.1" });
 * if (server.port === 0) throw new Error();
 * await server.close();
 * ```
 */
export async function serve(options: ServeOptions): Promise<MetricsServer> {
  const { registry, port, hostname, handlerOptions } = listenOptions(options);
  // The listener answers a missing Host itself, with the same plain 400 as Deno and Bun.
  const handler = metricsHandler(registry, { compressors: zlibCompressors(), ...handlerOptions });
  const server = createServer({ requireHostHeader: false }, toNodeListener(handler));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    hostname,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeAllConnections();
      }),
  };
}

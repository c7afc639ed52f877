/**
 * Request metrics for users' own HTTP servers: `http_requests_total` and
 * `http_request_duration_seconds` by method, route and status, for
 * fetch-style handlers and for request listeners of Node's `http` module.
 *
 * @module
 */

/** The counter and histogram methods of a registry the middleware registers its metrics on. */
export interface RequestMetricsRegistry {
  /** Registers a counter (as `Registry.counter`). */
  counter(options: { name: string; help: string; labelNames: readonly ["method", "route", "status"] }): unknown;
  /** Registers a histogram (as `Registry.histogram`). */
  histogram(options: {
    name: string;
    help: string;
    labelNames: readonly ["method", "route", "status"];
    buckets?: number[];
  }): unknown;
}

/** Options of {@linkcode instrumentFetch} and {@linkcode instrumentNodeListener}. */
export interface InstrumentOptions<Req> {
  /** The registry that receives the request metrics. */
  registry: RequestMetricsRegistry;
  /**
   * Maps a request to its route label, such as `"/users/:id"`; `undefined`
   * records `"unmatched"`. Without it the URL path is the route, which is
   * only safe for servers with a fixed set of paths.
   */
  routes?: (request: Req) => string | undefined;
  /**
   * How many distinct routes are recorded; later new ones record `"other"`,
   * so a path full of IDs cannot grow the series without bound.
   * @default {100}
   */
  maxRoutes?: number;
  /**
   * Histogram buckets of `http_request_duration_seconds`, in seconds.
   * @default {[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]}
   */
  buckets?: number[];
}

/** The parts of Node's `IncomingMessage` the middleware reads. */
export interface NodeRequestLike {
  /** The request method. */
  method?: string | undefined;
  /** The request target, such as `"/users/7?x=1"`. */
  url?: string | undefined;
}

/** The parts of Node's `ServerResponse` the middleware reads. */
export interface NodeResponseLike {
  /** The status code sent. */
  statusCode: number;
  /** Subscribes once to `"finish"` or `"close"`. */
  once(event: "finish" | "close", listener: () => void): unknown;
}

type Labels = { method: string; route: string; status: string };

interface RequestMetrics {
  requests: { inc(labels: Labels): void };
  duration: { observe(labels: Labels, value: number): void };
}

const LABEL_NAMES = ["method", "route", "status"] as const;
const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"]);

// One pair per registry, so several instrumented handlers share it instead of
// failing on duplicate registration.
const metricsByRegistry = new WeakMap<object, RequestMetrics>();

function requestMetricsFor(registry: RequestMetricsRegistry, buckets: number[]): RequestMetrics {
  const existing = metricsByRegistry.get(registry);
  if (existing !== undefined) return existing;
  const created: RequestMetrics = {
    requests: registry.counter({
      name: "http_requests_total",
      help: "HTTP requests served, by method, route and status.",
      labelNames: LABEL_NAMES,
    }) as RequestMetrics["requests"],
    duration: registry.histogram({
      name: "http_request_duration_seconds",
      help: "Time to serve an HTTP request, by method, route and status.",
      labelNames: LABEL_NAMES,
      buckets,
    }) as RequestMetrics["duration"],
  };
  metricsByRegistry.set(registry, created);
  return created;
}

type Recorder<Req> = (request: Req, method: string | undefined, path: string, status: number, seconds: number) => void;

function recorder<Req>(options: InstrumentOptions<Req>): Recorder<Req> {
  const { registry, routes, maxRoutes = 100, buckets = DEFAULT_BUCKETS } = options;
  if (!Number.isInteger(maxRoutes) || maxRoutes < 1) {
    throw new Error(`Option "maxRoutes" must be a positive integer; got ${String(maxRoutes)}`);
  }
  if (typeof registry?.counter !== "function" || typeof registry.histogram !== "function") {
    throw new Error('Option "registry" must have counter() and histogram() methods');
  }
  const metrics = requestMetricsFor(registry, buckets);
  const seenRoutes = new Set<string>();

  function boundedRoute(request: Req, path: string): string {
    let route: string | undefined;
    try {
      route = routes === undefined ? path : routes(request);
    } catch {
      route = undefined;
    }
    if (route === undefined) return "unmatched";
    if (seenRoutes.has(route)) return route;
    if (seenRoutes.size >= maxRoutes) return "other";
    seenRoutes.add(route);
    return route;
  }

  return (request, method, path, status, seconds) => {
    const upper = (method ?? "GET").toUpperCase();
    const labels: Labels = {
      method: KNOWN_METHODS.has(upper) ? upper : "other",
      route: boundedRoute(request, path),
      status: String(status),
    };
    metrics.requests.inc(labels);
    metrics.duration.observe(labels, seconds);
  };
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return "/";
  const query = url.search(/[?#]/);
  const path = query === -1 ? url : url.slice(0, query);
  // An absolute-form target ("http://host/path") keeps only its path.
  return path.startsWith("/") ? path : new URL(path, "http://localhost").pathname;
}

/**
 * Wraps a fetch-style handler so that every request is counted in
 * `http_requests_total{method,route,status}` and timed in
 * `http_request_duration_seconds{method,route,status}`. A handler that throws
 * is recorded with status 500 and the error is rethrown. Methods outside the
 * standard ones record `"other"`; routes are bounded by `maxRoutes`.
 *
 * @param handler The handler to instrument.
 * @param options The registry, the route mapping and the route bound.
 * @returns A handler with the same behaviour that also records the metrics.
 * @throws {Error} When `maxRoutes` is not a positive integer or the registry lacks `counter`/`histogram`.
 *
 * @example Count requests by route
 * ```ts
 * import { Registry } from "../registry.ts";
 * import { instrumentFetch } from "./middleware.ts";
 *
 * const registry = new Registry();
 * const handler = instrumentFetch(() => new Response("hi"), {
 *   registry,
 *   routes: (request) => new URL(request.url).pathname.startsWith("/users/") ? "/users/:id" : undefined,
 * });
 * await handler(new Request("http://localhost/users/7"));
 * if (!registry.render().includes('http_requests_total{method="GET",route="/users/:id",status="200"} 1')) throw new Error();
 * ```
 */
export function instrumentFetch(
  handler: (request: Request) => Response | Promise<Response>,
  options: InstrumentOptions<Request>,
): (request: Request) => Promise<Response> {
  const record = recorder(options);
  return async (request: Request): Promise<Response> => {
    const started = performance.now();
    let status = 500;
    try {
      const response = await handler(request);
      status = response.status;
      return response;
    } finally {
      record(request, request.method, new URL(request.url).pathname, status, (performance.now() - started) / 1000);
    }
  };
}

/**
 * Wraps a request listener of Node's `http` module (`(req, res) => void`) so that every
 * request is counted in `http_requests_total{method,route,status}` and timed
 * in `http_request_duration_seconds{method,route,status}` when its response
 * finishes (or its connection closes first). It only duck-types `req` and
 * `res`, so it also fits Express and other listeners of that shape.
 *
 * @param listener The request listener to instrument.
 * @param options The registry, the route mapping (given the request) and the route bound.
 * @returns A listener with the same behaviour that also records the metrics.
 * @throws {Error} When `maxRoutes` is not a positive integer or the registry lacks `counter`/`histogram`.
 *
 * @example Instrument a listener (with Node: `createServer(instrumentNodeListener(app, { registry }))`)
 * ```ts
 * import { Registry } from "../registry.ts";
 * import { instrumentNodeListener } from "./middleware.ts";
 *
 * const registry = new Registry();
 * const listener = instrumentNodeListener((_request, response: { statusCode: number; end(): void; once(event: string, listener: () => void): void }) => {
 *   response.statusCode = 201;
 *   response.end();
 * }, { registry, routes: () => "/orders" });
 * // A stand-in for a ServerResponse: end() emits "finish".
 * const finish: (() => void)[] = [];
 * listener({ method: "POST", url: "/orders/7" }, { statusCode: 200, end: () => finish.forEach((f) => f()), once: (_event, f) => void finish.push(f) });
 * if (!registry.render().includes('http_requests_total{method="POST",route="/orders",status="201"} 1')) throw new Error();
 * ```
 */
export function instrumentNodeListener<Req extends NodeRequestLike, Res extends NodeResponseLike>(
  listener: (request: Req, response: Res) => void,
  options: InstrumentOptions<Req>,
): (request: Req, response: Res) => void {
  const record = recorder(options);
  return (request: Req, response: Res): void => {
    const started = performance.now();
    let recorded = false;
    const done = (): void => {
      if (recorded) return;
      recorded = true;
      record(request, request.method, pathOf(request.url), response.statusCode, (performance.now() - started) / 1000);
    };
    response.once("finish", done);
    response.once("close", done);
    listener(request, response);
  };
}

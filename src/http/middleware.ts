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
  counter(options: { name: string; help: string; labelNames?: readonly string[] }): unknown;
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
   * records `"unmatched"`, and so does a value that is not a string or a
   * throw, which are also counted in `atomic_metrics_middleware_errors_total`.
   * `"path"` records the request's URL path as its route: only safe for a
   * server with a fixed set of paths, as anyone can send any path (paths past
   * `maxRoutes` record `"other"`, and a path longer than the registry's label
   * value limit records `"unmatched"`).
   * @default {undefined} every request records the route `"unmatched"`
   */
  routes?: ((request: Req) => string | undefined) | "path";
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
  errors: { inc(): void };
}

const LABEL_NAMES = ["method", "route", "status"] as const;
const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"]);
const UNMATCHED = "unmatched";
const OTHER = "other";

/** Name of the self-metric counting requests whose metrics could not be recorded as given. */
const MIDDLEWARE_ERRORS = "atomic_metrics_middleware_errors_total";

// One set per registry, so several instrumented handlers share it instead of
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
    errors: registry.counter({
      name: MIDDLEWARE_ERRORS,
      help:
        'Requests the HTTP middleware could not record as given: routes() threw or returned a non-string, or the registry refused a label value (recorded as route "unmatched"), or recording failed.',
    }) as RequestMetrics["errors"],
  };
  metricsByRegistry.set(registry, created);
  return created;
}

type Recorder<Req> = (request: Req, method: unknown, path: () => string, status: number, seconds: number) => void;

function recorder<Req>(options: InstrumentOptions<Req>): Recorder<Req> {
  const { registry, routes, maxRoutes = 100, buckets = DEFAULT_BUCKETS } = options;
  if (!Number.isInteger(maxRoutes) || maxRoutes < 1) {
    throw new Error(`Option "maxRoutes" must be a positive integer; got ${String(maxRoutes)}`);
  }
  if (routes !== undefined && routes !== "path" && typeof routes !== "function") {
    throw new Error(`Option "routes" must be a function or "path"; got ${String(routes)}`);
  }
  if (typeof registry?.counter !== "function" || typeof registry.histogram !== "function") {
    throw new Error('Option "registry" must have counter() and histogram() methods');
  }
  const metrics = requestMetricsFor(registry, buckets);
  // Routes recorded so far; a route joins only once the registry took it, so a
  // refused value does not use up one of the maxRoutes.
  const seenRoutes = new Set<string>();

  // Returns the route and whether it is a failure to count.
  function routeOf(request: Req, path: () => string): [string, boolean] {
    let route: unknown;
    try {
      route = routes === undefined ? undefined : routes === "path" ? path() : routes(request);
    } catch {
      return [UNMATCHED, true];
    }
    if (route === undefined) return [UNMATCHED, false];
    if (typeof route !== "string") return [UNMATCHED, true];
    if (seenRoutes.has(route) || seenRoutes.size < maxRoutes) return [route, false];
    return [OTHER, false];
  }

  // Records with the labels given, or else under the route "unmatched"; true when it had to fall back.
  function recordOne(labels: Labels, write: (labels: Labels) => void): boolean {
    try {
      write(labels);
      return false;
    } catch {
      try {
        if (labels.route !== UNMATCHED) write({ ...labels, route: UNMATCHED });
      } catch {
        // Counted by the caller like the first failure.
      }
      return true;
    }
  }

  // Runs on the application's behalf (a response's "finish", a fetch handler's
  // finally): it never throws, and counts what went wrong instead.
  return (request, method, path, status, seconds) => {
    let failed = false;
    try {
      const upper = typeof method === "string" ? method.toUpperCase() : method === undefined ? "GET" : "";
      const [route, routeFailed] = routeOf(request, path);
      failed = routeFailed;
      const labels: Labels = {
        method: KNOWN_METHODS.has(upper) ? upper : OTHER,
        route,
        status: String(status),
      };
      const counted = !recordOne(labels, (chosen) => metrics.requests.inc(chosen));
      const observed = !recordOne(labels, (chosen) => metrics.duration.observe(chosen, seconds));
      if (!counted || !observed) failed = true;
      else if (route !== UNMATCHED && route !== OTHER) seenRoutes.add(route);
    } catch {
      failed = true;
    }
    if (!failed) return;
    try {
      metrics.errors.inc();
    } catch {
      // Nothing left to report to without throwing into the application.
    }
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
 * standard ones record `"other"`. The route label comes from `routes`; without
 * it every request records `"unmatched"`, so no request can grow the series.
 * Recording never throws into the application: a failure (a `routes()` that
 * throws or returns a non-string, a label value the registry refuses) records
 * the route `"unmatched"` and counts in `atomic_metrics_middleware_errors_total`.
 *
 * @param handler The handler to instrument.
 * @param options The registry, the route mapping and the route bound.
 * @returns A handler with the same behaviour that also records the metrics.
 * @throws {Error} When `maxRoutes` is not a positive integer, `routes` is neither a function nor `"path"`, or the registry lacks `counter`/`histogram`.
 *
 * @example Count requests by route
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * import { instrumentFetch } from "@atomic/metrics";
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
      record(
        request,
        request.method,
        () => new URL(request.url).pathname,
        status,
        (performance.now() - started) / 1000,
      );
    }
  };
}

/**
 * Wraps a request listener of Node's `http` module (`(req, res) => void`) so that every
 * request is counted in `http_requests_total{method,route,status}` and timed
 * in `http_request_duration_seconds{method,route,status}` when its response
 * finishes (or its connection closes first). It only duck-types `req` and
 * `res`, so it also fits Express and other listeners of that shape. Routes
 * and failures are handled as in {@linkcode instrumentFetch}: nothing thrown
 * from the response's `"finish"` handler, failures counted in
 * `atomic_metrics_middleware_errors_total`.
 *
 * @param listener The request listener to instrument.
 * @param options The registry, the route mapping (given the request) and the route bound.
 * @returns A listener with the same behaviour that also records the metrics.
 * @throws {Error} When `maxRoutes` is not a positive integer, `routes` is neither a function nor `"path"`, or the registry lacks `counter`/`histogram`.
 *
 * @example Instrument a listener (with Node: `createServer(instrumentNodeListener(app, { registry }))`)
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * import { instrumentNodeListener } from "@atomic/metrics";
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
      record(
        request,
        request.method,
        () => pathOf(request.url),
        response.statusCode,
        (performance.now() - started) / 1000,
      );
    };
    response.once("finish", done);
    response.once("close", done);
    listener(request, response);
  };
}

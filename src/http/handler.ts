/**
 * The runtime-neutral metrics endpoint: a fetch-style handler that serves a
 * registry's exposition, a health check, content negotiation, gzip and
 * optional authentication. Runtime adapters (`atomic-metrics/node`,
 * `atomic-metrics/deno`, `atomic-metrics/bun`) only bridge to it.
 *
 * @module
 */

import {
  type ContentEncoding,
  contentTypeWithNames,
  type NameNegotiation,
  negotiateEncoding,
  negotiateFormat,
  negotiateNames,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  PROTOBUF_CONTENT_TYPE,
  TEXT_FORMATS,
} from "../exposition/negotiate.ts";
import type { Format } from "../registry.ts";
import { badRequest, internalError, reportError } from "./serve_options.ts";
import { SharedRender } from "./_single_flight.ts";

/**
 * What {@linkcode metricsHandler} needs from a registry: a synchronous
 * `render`, called with no argument for the Prometheus text format 0.0.4 and
 * with `"openmetrics"` for OpenMetrics 1.0. A `Registry` satisfies it; so does
 * any object that renders its own exposition.
 *
 * When the object also has the registry's `counter` and `histogram` methods,
 * the handler registers its self-metrics on it (see
 * {@linkcode MetricsHandlerOptions.selfMetrics}).
 */
export interface MetricsSource {
  /** Renders the exposition in the given format (Prometheus text 0.0.4 when omitted). */
  render(format?: "openmetrics"): string;
}

/**
 * A source the handler streams from, as a `Registry` is: its collect hooks are awaited up to
 * the scrape's deadline, then its exposition streams a slice at a time.
 */
interface StreamingSource extends MetricsSource {
  collectAsync(options: { deadlineMs?: number; onError?: (error: unknown) => void }): Promise<void>;
  stream(format: Format, options?: { escaping?: NameNegotiation["escaping"] }): ReadableStream<Uint8Array>;
}

function isStreaming(source: MetricsSource): source is StreamingSource {
  const candidate = source as Partial<StreamingSource>;
  return typeof candidate.collectAsync === "function" && typeof candidate.stream === "function";
}

/**
 * Makes a compressor for one response: a `TransformStream` from the exposition's bytes to the
 * coded bytes, at `level` when the coding has levels and the maker honours them.
 */
export type Compressor = (level: number | undefined) => {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
};

/** The compressors a handler can answer with, by content coding. */
export type Compressors = Partial<Record<"gzip" | "deflate" | "zstd", Compressor>>;

/** gzip and deflate through the web platform's `CompressionStream`, where the runtime has it (no levels). */
function webCompressors(): Compressors {
  if (typeof globalThis.CompressionStream !== "function") return {};
  return {
    gzip: () => new CompressionStream("gzip") as unknown as ReturnType<Compressor>,
    deflate: () => new CompressionStream("deflate") as unknown as ReturnType<Compressor>,
  };
}

/** Bearer-token authentication: `Authorization: Bearer <token>`. */
export interface BearerAuth {
  /** The token a scraper must send. */
  bearer: string;
}

/** HTTP basic authentication: `Authorization: Basic base64(<username>:<password>)`. */
export interface BasicAuth {
  /** The user name a scraper must send. */
  username: string;
  /** The password a scraper must send. */
  password: string;
}

/** Options of {@linkcode metricsHandler}. */
export interface MetricsHandlerOptions {
  /**
   * Path of the metrics endpoint; `GET` and `HEAD` only. It is compared with
   * the request URL's pathname, so it is written as that pathname is:
   * percent-encoded (`"/m%C3%A9triques"`), without query, fragment or dot
   * segments. A path no request can match is refused when the handler is made.
   * @default {"/metrics"}
   */
  path?: string;
  /**
   * Path of the health endpoint, which answers JSON
   * `{ status, uptimeSeconds, ready }` without authentication; written as
   * `path` is.
   * @default {"/health"}
   */
  healthPath?: string;
  /** Credentials the metrics path requires; none when omitted. */
  auth?: BearerAuth | BasicAuth;
  /**
   * Readiness callback for the health endpoint: `false` (or a throw) answers
   * 503 with `"status": "unavailable"`. Always ready when omitted.
   */
  ready?: () => boolean | Promise<boolean>;
  /**
   * Exposition format: `"negotiate"` follows the `Accept` header; a format
   * name serves that format whatever the client asks for (Prometheus before
   * 2.49 cannot be told to scrape the 0.0.4 format otherwise). `"protobuf"`
   * (and protobuf by negotiation) needs a source that streams, as a `Registry` does.
   * @default {"negotiate"}
   */
  format?: "negotiate" | Format;
  /**
   * Whether to compress the exposition when `Accept-Encoding` allows it: gzip, deflate, or zstd
   * where a compressor for it is given (the Node, Deno and Bun servers give zlib's, and Bun's and
   * Deno's zstd).
   * @default {true}
   */
  compression?: boolean;
  /**
   * Compressors by content coding; those given replace the default ones (the web platform's
   * `CompressionStream` for gzip and deflate, at its fixed level). The servers pass zlib's.
   * @default {CompressionStream's gzip and deflate}
   */
  compressors?: Compressors;
  /**
   * Compression level handed to the compressors that take one (zlib: 1 fastest to 9 smallest).
   * A scrape is read once, so speed matters more than size.
   * @default {1 for gzip and deflate, 3 for zstd}
   */
  compressionLevel?: number;
  /**
   * Milliseconds to wait for async collect hooks before rendering what there is. By default
   * the deadline comes from Prometheus' `X-Prometheus-Scrape-Timeout-Seconds` header, less a
   * margin (a tenth, at most half a second), else 10 seconds.
   */
  collectTimeoutMs?: number;
  /**
   * Bytes a render keeps for scrapes that join it while it is in progress (single flight);
   * past it, later scrapes render afresh and the render holds only what its readers still need.
   * @default {8388608}
   */
  singleFlightBytes?: number;
  /**
   * Whether to register and record `atomic_metrics_scrapes_total{format}`,
   * `atomic_metrics_scrape_renders_total{format}` (renders: concurrent scrapes
   * share one), `atomic_metrics_scrape_errors_total` and
   * `atomic_metrics_scrape_duration_seconds` on the registry (only when it
   * has `counter` and `histogram` methods, as `Registry` does).
   * @default {true}
   */
  selfMetrics?: boolean;
  /**
   * Called with the error when a render throws (the response is then 500);
   * the adapters' `serve()` also calls it for any other failure while
   * answering, which then gets a plain 500. Nothing is logged either way. A
   * callback that throws is ignored.
   */
  onError?: (error: unknown) => void;
}

/** A fetch-style request handler, as Deno's and Bun's `serve` and edge runtimes take it. */
export type FetchHandler = (request: Request) => Promise<Response>;

interface SelfMetrics {
  scrapes: { inc(labels: { format: string }): void };
  renders: { inc(labels: { format: string }): void };
  errors: { inc(): void };
  duration: { observe(value: number): void };
}

interface SelfMetricsRegistry {
  counter(options: { name: string; help: string; labelNames?: readonly string[] }): unknown;
  histogram(options: { name: string; help: string; buckets?: number[] }): unknown;
}

// One set per registry, so several handlers on one registry share the
// metrics instead of failing on duplicate registration.
const selfMetricsByRegistry = new WeakMap<object, SelfMetrics>();

function selfMetricsFor(registry: MetricsSource): SelfMetrics | undefined {
  const candidate = registry as Partial<SelfMetricsRegistry>;
  if (typeof candidate.counter !== "function" || typeof candidate.histogram !== "function") {
    return undefined;
  }
  const existing = selfMetricsByRegistry.get(registry);
  if (existing !== undefined) return existing;
  const source = registry as MetricsSource & SelfMetricsRegistry;
  const created: SelfMetrics = {
    scrapes: source.counter({
      name: "atomic_metrics_scrapes_total",
      help: "Scrapes of the metrics endpoint, by exposition format.",
      labelNames: ["format"],
    }) as SelfMetrics["scrapes"],
    renders: source.counter({
      name: "atomic_metrics_scrape_renders_total",
      help:
        "Renders for the metrics endpoint, by format: scrapes that arrive during a render of the same kind share it.",
      labelNames: ["format"],
    }) as SelfMetrics["renders"],
    errors: source.counter({
      name: "atomic_metrics_scrape_errors_total",
      help: "Scrapes of the metrics endpoint whose render threw.",
    }) as SelfMetrics["errors"],
    duration: source.histogram({
      name: "atomic_metrics_scrape_duration_seconds",
      help: "Time to render and encode one scrape of the metrics endpoint.",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    }) as SelfMetrics["duration"],
  };
  selfMetricsByRegistry.set(registry, created);
  return created;
}

const encoder = new TextEncoder();

// Runs over the expected bytes whatever the candidate holds, so the time
// taken reveals at most the secret's length, never where a guess went wrong.
function constantTimeEqual(candidate: Uint8Array, expected: Uint8Array): boolean {
  let difference = candidate.length ^ expected.length;
  for (let index = 0; index < expected.length; index++) {
    difference |= (candidate[index] ?? 0) ^ (expected[index] ?? 0);
  }
  return difference === 0;
}

function decodeBase64(text: string): Uint8Array | undefined {
  try {
    return Uint8Array.from(atob(text), (character) => character.charCodeAt(0));
  } catch {
    return undefined;
  }
}

interface Authenticator {
  challenge: string;
  check(authorization: string | null): boolean;
}

function authenticator(auth: BearerAuth | BasicAuth): Authenticator {
  if ("bearer" in auth) {
    if (typeof auth.bearer !== "string" || auth.bearer === "") {
      throw new Error('Option "auth.bearer" must be a non-empty string');
    }
    const expected = encoder.encode(auth.bearer);
    return {
      challenge: 'Bearer realm="metrics"',
      check(authorization) {
        const match = authorization === null ? null : /^bearer +(.*)$/i.exec(authorization.trim());
        return match !== null && constantTimeEqual(encoder.encode(match[1] ?? ""), expected);
      },
    };
  }
  if (typeof auth.username !== "string" || auth.username === "" || auth.username.includes(":")) {
    throw new Error('Option "auth.username" must be a non-empty string without ":"');
  }
  if (typeof auth.password !== "string") {
    throw new Error('Option "auth.password" must be a string');
  }
  const expected = encoder.encode(`${auth.username}:${auth.password}`);
  return {
    challenge: 'Basic realm="metrics", charset="UTF-8"',
    check(authorization) {
      const match = authorization === null ? null : /^basic +(.*)$/i.exec(authorization.trim());
      const credentials = match === null ? undefined : decodeBase64(match[1] ?? "");
      return credentials !== undefined && constantTimeEqual(credentials, expected);
    },
  };
}

// A request is routed by its URL's pathname, which the URL parser gives
// percent-encoded, without query or fragment, with dot segments resolved and
// backslashes turned into slashes. A path the same parser would rewrite can
// never equal a request's pathname, so it is refused up front.
function checkPath(option: string, value: string): void {
  if (typeof value !== "string" || !value.startsWith("/")) {
    throw new Error(`Option "${option}" must be a path starting with "/"; got ${JSON.stringify(value)}`);
  }
  const pathname = new URL(`http://localhost${value}`).pathname;
  if (pathname !== value) {
    throw new Error(
      `Option "${option}" is ${JSON.stringify(value)}, which no request can match: a request's path is compared ` +
        `as its URL pathname (percent-encoded, without query or fragment, dot segments resolved), ` +
        `here ${JSON.stringify(pathname)}`,
    );
  }
}

/** A stream made when it is first read (so joining scrapes can find it before it starts). */
function deferred(make: () => Promise<ReadableStream<Uint8Array>>): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      reader ??= (await make()).getReader();
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader?.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** The deadline for async collect hooks: Prometheus' scrape timeout less a margin, else 10 s. */
function collectDeadline(request: Request, option: number | undefined): number {
  if (option !== undefined) return option;
  const header = Number(request.headers.get("x-prometheus-scrape-timeout-seconds"));
  if (!(header > 0 && header < 86_400)) return 10_000;
  const ms = header * 1000;
  return Math.max(0, ms - Math.min(500, ms / 10));
}

function textResponse(status: number, text: string, headers: Record<string, string> = {}): Response {
  return new Response(text, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", ...headers },
  });
}

async function isReady(ready: (() => boolean | Promise<boolean>) | undefined): Promise<boolean> {
  if (ready === undefined) return true;
  try {
    return (await ready()) === true;
  } catch {
    return false;
  }
}

/**
 * Creates the metrics endpoint as a fetch-style handler. On `path` it answers
 * `GET` and `HEAD` with the registry's exposition: OpenMetrics 1.0.0 when the
 * `Accept` header prefers it (Prometheus' does), Prometheus' protobuf format when
 * it names it first (Prometheus with native histograms does; a `Registry` only),
 * else the text format 0.0.4;
 * gzipped when `Accept-Encoding` allows. Other methods get 405 with `Allow`,
 * other paths 404. `healthPath` answers JSON `{ status, uptimeSeconds, ready }`
 * (503 when not ready). With `auth`, the metrics path answers 401 with
 * `WWW-Authenticate` unless the right credentials come, compared in constant
 * time. A render that throws answers 500, is counted in
 * `atomic_metrics_scrape_errors_total`, and later scrapes are served as usual.
 * A request whose URL is not valid (a server built it from a malformed `Host`)
 * answers 400 with a short plain body.
 *
 * @param registry The registry (or any {@linkcode MetricsSource}) to expose.
 * @param options Paths, authentication, readiness and format options.
 * @returns A handler from `Request` to `Promise<Response>`.
 * @throws {Error} When a path does not start with "/" or can never equal a
 * request's URL pathname (it must be written percent-encoded, without query or
 * fragment, dot segments or backslashes: `"/m%C3%A9triques"`, not
 * `"/métriques"`), or when `auth` is incomplete.
 *
 * @example Serve a registry's exposition
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * import { metricsHandler } from "@atomic/metrics";
 *
 * const registry = new Registry();
 * registry.counter({ name: "jobs_total", help: "Jobs" }).inc(3);
 * const handler = metricsHandler(registry, { path: "/metrics" });
 * const response = await handler(new Request("http://localhost/metrics"));
 * if (response.headers.get("content-type") !== "text/plain; version=0.0.4; charset=utf-8") throw new Error();
 * if (!(await response.text()).includes("jobs_total 3")) throw new Error();
 * if ((await handler(new Request("http://localhost/other"))).status !== 404) throw new Error();
 * ```
 */
export function metricsHandler(registry: MetricsSource, options: MetricsHandlerOptions = {}): FetchHandler {
  const {
    path = "/metrics",
    healthPath = "/health",
    auth,
    ready,
    format = "negotiate",
    compression = true,
    compressors: given,
    compressionLevel,
    collectTimeoutMs,
    singleFlightBytes = 8 * 1024 * 1024,
    selfMetrics = true,
    onError,
  } = options;
  const compressors: Compressors = compression ? { ...webCompressors(), ...given } : {};
  const codings = (["gzip", "zstd", "deflate"] as const).filter((c) => compressors[c] !== undefined);
  const renders = new Map<string, SharedRender>();
  checkPath("path", path);
  checkPath("healthPath", healthPath);
  if (format !== "negotiate" && format !== "prometheus" && format !== "openmetrics" && format !== "protobuf") {
    throw new Error(
      `Option "format" must be "negotiate", "prometheus", "openmetrics" or "protobuf"; got ${JSON.stringify(format)}`,
    );
  }
  if (typeof registry?.render !== "function") {
    throw new Error('Argument "registry" must have a render() method');
  }
  // Protobuf only from a source that streams every format (a Registry); others render text.
  const offered = isStreaming(registry) ? undefined : TEXT_FORMATS;
  if (format === "protobuf" && offered !== undefined) {
    throw new Error(
      'Option "format" is "protobuf", which needs a registry (a source with stream() and collectAsync()); ' +
        "this source only renders text",
    );
  }
  const authentication = auth === undefined ? undefined : authenticator(auth);
  const metrics = selfMetrics ? selfMetricsFor(registry) : undefined;
  const startedAt = performance.now();

  async function health(request: Request): Promise<Response> {
    const isUp = await isReady(ready);
    const body = JSON.stringify({
      status: isUp ? "ok" : "unavailable",
      uptimeSeconds: (performance.now() - startedAt) / 1000,
      ready: isUp,
    });
    return new Response(request.method === "HEAD" ? null : body, {
      status: isUp ? 200 : 503,
      headers: { "content-type": "application/json", "cache-control": "no-store" },
    });
  }

  function exposition(request: Request): Response {
    if (authentication !== undefined && !authentication.check(request.headers.get("authorization"))) {
      return textResponse(401, "Unauthorized\n", { "www-authenticate": authentication.challenge });
    }
    const chosen: Format = format === "negotiate" ? negotiateFormat(request.headers.get("accept"), offered) : format;
    metrics?.scrapes.inc({ format: chosen });
    const encoding: ContentEncoding = negotiateEncoding(request.headers.get("accept-encoding"), codings);
    const headers: Record<string, string> = {
      "content-type": chosen === "openmetrics"
        ? OPENMETRICS_CONTENT_TYPE
        : chosen === "protobuf"
        ? PROTOBUF_CONTENT_TYPE
        : PROMETHEUS_CONTENT_TYPE,
      "cache-control": "no-store",
      vary: "Accept, Accept-Encoding",
    };
    if (encoding !== "identity") headers["content-encoding"] = encoding;
    // A registry writes names as the scraper asks (quoted or escaped) and the header says how.
    const names = isStreaming(registry) ? negotiateNames(request.headers.get("accept"), chosen) : undefined;
    if (names !== undefined) headers["content-type"] = contentTypeWithNames(headers["content-type"]!, names);
    // workerd gzips again a body sent with Content-Encoding unless told it already is encoded;
    // the other runtimes ignore `encodeBody`.
    const init: ResponseInit & { encodeBody?: "manual" } = { status: 200, headers, encodeBody: "manual" };
    if (request.method === "HEAD") return new Response(null, init);
    if (!isStreaming(registry)) return renderWhole(chosen, encoding, init);
    // One render for scrapes of the same kind that arrive while it is in progress.
    const key = `${chosen} ${names!.escaping} ${encoding} ${request.headers.get("authorization") ?? ""}`;
    let shared = renders.get(key);
    if (shared === undefined || !shared.joinable) {
      shared = startRender(registry, request, chosen, encoding, names!);
      renders.set(key, shared);
    }
    return new Response(shared.reader(), init);
  }

  /**
   * Starts a render that scrapes of the same kind can join at once: when first read, it awaits
   * the collect hooks up to the deadline, then streams (compressed).
   */
  function startRender(
    source: StreamingSource,
    request: Request,
    chosen: Format,
    encoding: ContentEncoding,
    names: NameNegotiation,
  ) {
    const started = performance.now();
    metrics?.renders.inc({ format: chosen });
    const body = deferred(async () => {
      await source.collectAsync({
        deadlineMs: collectDeadline(request, collectTimeoutMs),
        onError: (error) => reportError(onError, error),
      });
      const bytes = source.stream(chosen, { escaping: names.escaping });
      if (encoding === "identity") return bytes;
      return bytes.pipeThrough(compressors[encoding]!(compressionLevel ?? (encoding === "zstd" ? 3 : 1)));
    });
    const shared: SharedRender = new SharedRender(body, singleFlightBytes, (error, abandoned) => {
      if (error !== undefined) {
        metrics?.errors.inc();
        reportError(onError, error);
      } else if (!abandoned) metrics?.duration.observe((performance.now() - started) / 1000);
      for (const [key, value] of renders) if (value === shared) renders.delete(key);
    });
    return shared;
  }

  /** A source that only renders strings: rendered whole, then encoded (and compressed). */
  function renderWhole(chosen: Format, encoding: ContentEncoding, init: ResponseInit): Response {
    const started = performance.now();
    let text: string;
    try {
      text = chosen === "openmetrics" ? registry.render("openmetrics") : registry.render();
    } catch (error) {
      metrics?.errors.inc();
      reportError(onError, error);
      return textResponse(500, "Metrics render failed\n");
    }
    let body: ReadableStream<Uint8Array> | Uint8Array = encoder.encode(text);
    if (encoding !== "identity") {
      const level = compressionLevel ?? (encoding === "zstd" ? 3 : 1);
      body = new Blob([body as Uint8Array<ArrayBuffer>]).stream().pipeThrough(compressors[encoding]!(level));
    }
    metrics?.duration.observe((performance.now() - started) / 1000);
    return new Response(body as BodyInit, init);
  }

  async function answer(request: Request): Promise<Response> {
    let pathname: string;
    try {
      ({ pathname } = new URL(request.url));
    } catch {
      // Bun hands over "/metrics" or "http://[::/metrics" when the Host is missing or malformed.
      return badRequest();
    }
    if (pathname !== path && pathname !== healthPath) return textResponse(404, "Not found\n");
    if (request.method !== "GET" && request.method !== "HEAD") {
      return textResponse(405, "Method not allowed\n", { allow: "GET, HEAD" });
    }
    return pathname === path ? await exposition(request) : await health(request);
  }

  // Whatever fails is told to onError and answered with a plain 500, so no
  // runtime shows its own error page or logs a stack per request.
  return async (request: Request): Promise<Response> => {
    try {
      return await answer(request);
    } catch (error) {
      reportError(onError, error);
      return internalError();
    }
  };
}

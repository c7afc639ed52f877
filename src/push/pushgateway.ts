/**
 * Pushing a registry to a Prometheus Pushgateway, for batch jobs that end before anything
 * scrapes them. Speaks only web standards (`fetch`, `AbortController`, `ReadableStream`), so it
 * runs on Node, Deno, Bun and at the edge alike.
 *
 * @module
 */
import { PROMETHEUS_CONTENT_TYPE } from "../exposition/negotiate.ts";
import type { MetricsSource } from "../http/handler.ts";
import { isLegacyLabelName, isWellFormed } from "../labels.ts";
import { abortable } from "../_abortable.ts";

/** Options of {@linkcode pushToGateway}. */
export interface PushToGatewayOptions {
  /**
   * The Pushgateway's address, e.g. `http://pushgateway:9091`, with a path prefix if it
   * serves under one (`--web.route-prefix`). `user:password@` in it is sent as HTTP basic
   * authentication (fetch refuses credentials in URLs).
   */
  url: string | URL;
  /** The `job` label of the group: any non-empty string (one with `/` is sent base64-encoded). */
  job: string;
  /**
   * More labels of the grouping key, e.g. `{ instance: "host-1" }`; names as in Prometheus
   * (`[a-zA-Z_][a-zA-Z0-9_]*`, not `job`, not starting with `__`), values any string (empty
   * ones and ones with `/` are sent base64-encoded, as the Pushgateway asks).
   * @default {{}}
   */
  groupings?: Readonly<Record<string, string>>;
  /**
   * What to push: its collect hooks run first (`collectAsync()`), then its Prometheus text
   * 0.0.4 is streamed (`stream("prometheus")`) when it has those, else `render()` is sent.
   * Required for `PUT` and `POST`; not used by `DELETE`.
   */
  registry?: MetricsSource;
  /**
   * `"PUT"` replaces every metric of the group, `"POST"` only the metrics of the same names
   * as the pushed ones, `"DELETE"` removes the group (and sends no body).
   * @default {"PUT"}
   */
  method?: "PUT" | "POST" | "DELETE";
  /** Extra request headers, e.g. `{ authorization: "Bearer …" }`; `Content-Type` is always the text format's. */
  headers?: HeadersInit;
  /**
   * Milliseconds the whole push may take — collect hooks, request and answer — before it is
   * aborted and rejected. Async collect hooks get at most half of it: one still running then is
   * counted (`atomic_metrics_collect_timeouts_total`) and its metrics are pushed with their last
   * values, as a scrape does.
   * @default {10000}
   */
  timeout?: number;
  /**
   * The fetch to use.
   * @default {globalThis.fetch}
   */
  fetch?: typeof fetch;
}

/** The rejection of a push the Pushgateway answered with a status other than 2xx. */
export class PushgatewayError extends Error {
  /** The HTTP status the Pushgateway answered with. */
  readonly status: number;
  /** The start of its answer (at most 512 bytes), which says what was wrong. */
  readonly body: string;

  /**
   * Creates the error.
   *
   * @param message What failed, naming the status, the method and the URL.
   * @param status The HTTP status.
   * @param body The start of the answer.
   */
  constructor(message: string, status: number, body: string) {
    super(message);
    this.name = "PushgatewayError";
    this.status = status;
    this.body = body;
  }
}

/** The most of an error answer read: the Pushgateway's explanations are one line. */
const ERROR_BODY_BYTES = 512;

/** setTimeout's longest delay; a longer one fires at once. */
const MAX_TIMEOUT_MS = 2_147_483_647;

const METHODS: readonly string[] = ["PUT", "POST", "DELETE"];

/** A push checked and ready to send. */
interface PreparedPush {
  readonly url: string;
  readonly method: "PUT" | "POST" | "DELETE";
  readonly headers: Headers;
  readonly registry: MetricsSource | undefined;
  readonly timeout: number;
  readonly fetch: typeof fetch;
}

/** What a registry may offer beyond `render()`: async collect hooks and a streamed exposition. */
interface StreamingSource {
  collectAsync?(options: { deadlineMs?: number }): Promise<void>;
  stream?(format: "prometheus"): ReadableStream<Uint8Array>;
}

/** A string's UTF-8 bytes as a binary string, for btoa. */
function utf8Binary(value: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(value)) binary += String.fromCharCode(byte);
  return binary;
}

/** UTF-8 bytes as base64url without padding (RFC 4648 §5), which the Pushgateway decodes. */
function base64url(value: string): string {
  return btoa(utf8Binary(value)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * One `name/value` pair of the path. Plain values are URI-encoded; the Pushgateway asks for
 * base64 when the value has a `/` (even `%2F` becomes a separator once the path is decoded) or
 * is empty (`//` is collapsed; `=` stands for the empty value). `.` and `..` are base64 too:
 * fetch's URL parser would resolve them as dot segments.
 */
function pathPair(name: string, value: string): string {
  if (value === "") return `${name}@base64/=`;
  if (value.includes("/") || value === "." || value === "..") return `${name}@base64/${base64url(value)}`;
  return `${name}/${encodeURIComponent(value)}`;
}

function shown(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "string" ? JSON.stringify(value) : typeof value === "object" ? "an object" : String(value);
}

function checkLabelValue(option: string, value: unknown): string {
  if (typeof value !== "string") {
    throw new TypeError(`pushToGateway() option ${option} must be a string, got ${shown(value)}`);
  }
  if (!isWellFormed(value)) {
    throw new Error(
      `pushToGateway() option ${option} has a lone surrogate, which UTF-8 cannot carry: ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function checkTimeout(timeout: unknown): number {
  if (timeout === undefined) return 10_000;
  if (typeof timeout !== "number" || !(timeout > 0 && timeout <= MAX_TIMEOUT_MS)) {
    throw new RangeError(
      `pushToGateway() option timeout must be a number of milliseconds above 0 and at most ${MAX_TIMEOUT_MS}, got ${
        shown(timeout)
      }`,
    );
  }
  return timeout;
}

/** The push URL and its headers (credentials moved from the URL into `Authorization`). */
function pushUrl(options: PushToGatewayOptions, headers: Headers): string {
  let base: URL;
  try {
    base = new URL(options.url);
  } catch {
    throw new TypeError(`pushToGateway() option url must be an absolute http(s) URL, got ${shown(options.url)}`);
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new TypeError(`pushToGateway() option url must be an http: or https: URL, got ${JSON.stringify(base.href)}`);
  }
  if (base.username !== "" || base.password !== "") {
    const user = decodeURIComponent(base.username);
    const password = decodeURIComponent(base.password);
    if (!headers.has("authorization")) headers.set("authorization", `Basic ${btoa(utf8Binary(`${user}:${password}`))}`);
    base.username = "";
    base.password = "";
  }
  const job = checkLabelValue("job", options.job);
  if (job === "") throw new Error("pushToGateway() option job must not be empty: the Pushgateway requires a job name");
  let path = job.includes("/") || job === "." || job === ".."
    ? `/metrics/job@base64/${base64url(job)}`
    : `/metrics/job/${encodeURIComponent(job)}`;
  const groupings: unknown = options.groupings ?? {};
  if (groupings === null || typeof groupings !== "object" || Array.isArray(groupings)) {
    throw new TypeError(
      `pushToGateway() option groupings must be an object of label names to values, got ${shown(groupings)}`,
    );
  }
  for (const [name, value] of Object.entries(groupings)) {
    if (!isLegacyLabelName(name) || name.startsWith("__")) {
      throw new Error(
        `pushToGateway() option groupings has an invalid label name ${JSON.stringify(name)}: ` +
          "it must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __",
      );
    }
    if (name === "job") {
      throw new Error('pushToGateway() option groupings must not have a "job" label: use the job option');
    }
    path += `/${pathPair(name, checkLabelValue(`groupings.${name}`, value))}`;
  }
  base.pathname = base.pathname.replace(/\/+$/, "") + path;
  return base.href;
}

/** Checks every option (throwing before any request) and resolves the defaults. */
function prepare(options: PushToGatewayOptions): PreparedPush {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`pushToGateway() expects an options object, got ${shown(options)}`);
  }
  const method = options.method ?? "PUT";
  if (!METHODS.includes(method)) {
    throw new TypeError(`pushToGateway() option method must be "PUT", "POST" or "DELETE", got ${shown(method)}`);
  }
  let headers: Headers;
  try {
    headers = new Headers(options.headers);
  } catch (error) {
    throw new TypeError(`pushToGateway() option headers is not valid: ${(error as Error).message}`, { cause: error });
  }
  const url = pushUrl(options, headers);
  const registry = options.registry;
  if (
    method !== "DELETE" && (typeof registry !== "object" || registry === null || typeof registry.render !== "function")
  ) {
    throw new TypeError(`pushToGateway() option registry is required for ${method}, got ${shown(registry)}`);
  }
  const timeout = checkTimeout(options.timeout);
  const fetchFunction = options.fetch ?? globalThis.fetch;
  if (typeof fetchFunction !== "function") {
    throw new TypeError("pushToGateway() option fetch is required where the runtime has no global fetch");
  }
  if (method !== "DELETE") headers.set("content-type", PROMETHEUS_CONTENT_TYPE);
  return { url, method, headers, registry: method === "DELETE" ? undefined : registry, timeout, fetch: fetchFunction };
}

/**
 * The start of an answer, at most `limit` bytes decoded as UTF-8 (a character cut at the limit
 * is dropped); the rest is cancelled unread, so a huge or endless answer costs nothing.
 */
async function readStart(response: Response, limit: number): Promise<string> {
  const body = response.body;
  if (body === null) return "";
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      const part = value.subarray(0, limit - size);
      size += part.byteLength;
      text += decoder.decode(part, { stream: true });
    }
  } catch {
    // An answer that fails half-way still tells what came before.
  } finally {
    reader.cancel().catch(() => undefined);
  }
  return text.trim();
}

/** The body of a PUT or POST, after the registry's collect hooks. */
async function exposition(registry: MetricsSource, deadlineMs: number): Promise<BodyInit> {
  const source = registry as MetricsSource & StreamingSource;
  if (typeof source.collectAsync === "function") await source.collectAsync({ deadlineMs });
  if (typeof source.stream === "function") return source.stream("prometheus");
  return registry.render();
}

/** An error's message, with its cause's (Node's fetch says only "fetch failed"; the cause says why). */
function reasonOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause instanceof Error ? `${error.message} (${error.cause.message})` : error.message;
}

async function send(push: PreparedPush): Promise<void> {
  const { url, method, timeout } = push;
  const controller = new AbortController();
  const timedOut = new Error(`pushToGateway() ${method} ${url} timed out after ${timeout} ms (option timeout)`);
  const timer = setTimeout(() => controller.abort(timedOut), timeout);
  try {
    let response: Response;
    try {
      const body = push.registry === undefined
        ? null
        : await abortable(exposition(push.registry, timeout / 2), controller.signal);
      // Redirects are not followed: fetch would turn a PUT into a GET on a 301 and report success.
      const init: RequestInit & { duplex?: "half" } = {
        method,
        headers: push.headers,
        body,
        redirect: "manual",
        signal: controller.signal,
      };
      if (body instanceof ReadableStream) init.duplex = "half"; // Node's fetch sends a stream only with it
      response = await abortable(push.fetch(url, init), controller.signal);
    } catch (error) {
      if (controller.signal.aborted) throw timedOut;
      throw new Error(`pushToGateway() ${method} ${url} failed: ${reasonOf(error)}`, { cause: error });
    }
    if (response.status >= 200 && response.status < 300) {
      await response.body?.cancel().catch(() => undefined);
      return;
    }
    const body = await abortable(readStart(response, ERROR_BODY_BYTES), controller.signal).catch(() => "");
    const location = response.headers.get("location");
    throw new PushgatewayError(
      `Pushgateway answered ${response.status}${response.statusText === "" ? "" : ` ${response.statusText}`} to ` +
        `${method} ${url}${location === null ? "" : ` (a redirect to ${location}, not followed)`}` +
        (body === "" ? "" : `: ${body}`),
      response.status,
      body,
    );
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Pushes a registry to a Prometheus Pushgateway, or deletes a group from it: the batch-job
 * counterpart of being scraped. The group is `job` plus `groupings`, encoded in the URL as the
 * Pushgateway reads it (`/metrics/job/<job>/<label>/<value>…`, base64 for values with `/` and
 * for empty ones). `PUT` (the default) replaces the group's metrics, `POST` only those with the
 * names pushed, `DELETE` removes the group. Before a push the registry's collect hooks run
 * (async ones awaited), then its Prometheus text 0.0.4 streams to the gateway.
 *
 * Scrape the Pushgateway with `honor_labels: true`, so the pushed `job` and grouping labels
 * are kept rather than renamed to `exported_job` and so on.
 *
 * @param options Where to push, the group, what and how.
 * @returns A promise that resolves once the gateway accepted the push (status 2xx).
 * @throws {TypeError | RangeError | Error} at once, before any request, for a bad option, naming it.
 * @throws {PushgatewayError} (as a rejection) when the gateway answers another status; its
 * message names the status and quotes the start of the gateway's answer.
 * @throws {Error} (as a rejection) when the request fails or takes longer than `timeout`.
 *
 * @example Push at the end of a batch job
 * ```ts
 * import { pushToGateway, Registry } from "@atomic/metrics";
 *
 * const registry = new Registry({ selfMetrics: false });
 * registry.gauge({ name: "backup_last_success_seconds", help: "When the backup last succeeded" })
 *   .set(1_700_000_000);
 * const sent: { url: string; method: string; body: string }[] = [];
 * const gateway: typeof fetch = async (url, init) => {
 *   sent.push({ url: String(url), method: String(init?.method), body: await new Response(init?.body).text() });
 *   return new Response(null, { status: 200 });
 * };
 * await pushToGateway({
 *   url: "http://pushgateway:9091",
 *   job: "backup",
 *   groupings: { path: "/var/tmp" },
 *   registry,
 *   fetch: gateway, // omit to use the global fetch
 * });
 * if (sent[0]?.url !== "http://pushgateway:9091/metrics/job/backup/path@base64/L3Zhci90bXA") throw new Error(sent[0]?.url);
 * if (sent[0]?.method !== "PUT" || !sent[0].body.includes("backup_last_success_seconds 1700000000")) {
 *   throw new Error(sent[0]?.body);
 * }
 * ```
 *
 * @example A bad option throws before any request
 * ```ts
 * import { pushToGateway, Registry } from "@atomic/metrics";
 *
 * let message = "";
 * try {
 *   await pushToGateway({ url: "http://pushgateway:9091", job: "backup", groupings: { "bad-name": "x" }, registry: new Registry() });
 * } catch (error) {
 *   message = (error as Error).message;
 * }
 * if (!message.includes('option groupings has an invalid label name "bad-name"')) throw new Error(message);
 * ```
 */
export function pushToGateway(options: PushToGatewayOptions): Promise<void> {
  return send(prepare(options));
}

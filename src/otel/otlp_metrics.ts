/**
 * Pushes a registry to an OTLP/HTTP metrics endpoint (JSON encoding) with
 * `fetch` only, so edge and serverless code that nothing scrapes can still
 * report: once with {@linkcode pushMetrics}, or on an interval with
 * {@linkcode startMetricsPush}. Snapshots are cumulative, so a newer one
 * supersedes an older one that was not sent yet: at most one request is in
 * flight and one snapshot waits, and recording never waits for the network.
 * Endpoint, headers and resource fall back to the standard `OTEL_*`
 * variables exactly as `setupTracing()` does.
 *
 * @module
 */

import type { MetricSnapshot } from "../registry.ts";
import { type Environment, readEnvironment, refTimer, unrefTimer } from "./_runtime.ts";
import { encodeMetricsRequest, type ResourceAttributes } from "./otlp_metrics_encoding.ts";
import { resolveOtlpEndpoint, resourceFromEnvironment } from "./tracing_options.ts";
import { abortable } from "../_abortable.ts";

/** What a push needs from a registry: its snapshot. */
export interface CollectableRegistry {
  /** The structured snapshot of every metric. */
  collect(): readonly MetricSnapshot[];
}

/** Options of {@linkcode pushMetrics}. */
export interface PushMetricsOptions {
  /**
   * The OTLP/HTTP metrics URL, e.g. `http://collector:4318/v1/metrics`.
   * Variables: `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (used as is), else
   * `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/metrics` appended.
   * @default {"http://localhost:4318/v1/metrics"}
   */
  url?: string;
  /**
   * Extra request headers, e.g. `{ authorization: "Bearer …" }`. Variable:
   * `OTEL_EXPORTER_OTLP_HEADERS` (`key=value,key2=value2`, URL-encoded).
   * Options and variable are merged, options winning.
   */
  headers?: Record<string, string>;
  /**
   * Resource attributes, e.g. `{ "service.name": "checkout" }`, merged over
   * those of the variables `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME`
   * (the latter as `service.name`), options winning. `service.instance.id`
   * defaults to a random UUID made once per process or isolate, so that
   * several instances pushing cumulative series for one service never
   * collide.
   */
  resource?: ResourceAttributes;
  /**
   * The fetch to use.
   * @default {globalThis.fetch}
   */
  fetch?: typeof fetch;
  /**
   * Attempts per export, the first included; retried on network errors,
   * timeouts and on 429, 502, 503 and 504.
   * @default {5}
   */
  maxAttempts?: number;
  /**
   * First back-off in milliseconds; doubles per attempt, with jitter. A
   * `Retry-After` may lengthen a wait, never shorten it.
   * @default {500}
   */
  initialBackoffMs?: number;
  /**
   * Longest wait between attempts, also the cap on `Retry-After`.
   * @default {30000}
   */
  maxBackoffMs?: number;
  /**
   * Milliseconds before one request is abandoned (and retried).
   * @default {10000}
   */
  timeoutMs?: number;
  /**
   * Start of the cumulative period, Unix milliseconds.
   * @default {performance.timeOrigin}
   */
  startTimeMs?: number;
  /** The variables to read instead of the process environment. */
  env?: Environment;
}

/** Options of {@linkcode startMetricsPush}. */
export interface MetricsPushOptions extends PushMetricsOptions {
  /** Milliseconds between pushes. */
  intervalMs: number;
  /**
   * Milliseconds `stop()` waits at most for the last snapshot; past them the
   * request is abandoned, the snapshot reported to `onError` as failed and
   * `stop()` resolves.
   * @default {5000}
   */
  stopTimeoutMs?: number;
  /**
   * Accepted and ignored: snapshots are cumulative, so at most one waits behind the one in flight
   * (a newer one replaces it).
   * @deprecated since 0.2.0; the push keeps one request in flight and one snapshot waiting.
   */
  maxQueueSize?: number;
  /**
   * Called with each export that failed for good (after its retries, or at
   * the `stop()` deadline) and each snapshot that could not be taken. A
   * handler that throws is ignored.
   * @default {a console.warn}
   */
  onError?: (error: Error) => void;
}

/** A running periodic push. */
export interface MetricsPush {
  /**
   * Takes a snapshot now and resolves when it (or a newer one) was sent or
   * reported failed through `onError`. Never rejects. After `stop()`, waits
   * for `stop()` instead.
   */
  flush(): Promise<void>;
  /**
   * Stops the interval, takes a last snapshot and sends it at once (a back-off
   * in progress is cut short), resolving once it was delivered or reported
   * failed through `onError`, within `stopTimeoutMs`. Until then it keeps the
   * process alive. Never rejects; idempotent.
   */
  stop(): Promise<void>;
  /** Snapshots superseded by a newer one before they were delivered. */
  readonly dropped: number;
  /** Snapshots the endpoint accepted. */
  readonly sent: number;
  /** Snapshots given up on (after their retries or at the `stop()` deadline), or that could not be taken. */
  readonly failed: number;
}

/** Thrown when an export fails for good: the status (if any) and the endpoint's answer. */
export class OtlpExportError extends Error {
  /** The HTTP status, or undefined for network errors and timeouts. */
  readonly status: number | undefined;

  /**
   * Creates the error.
   *
   * @param message What failed, naming the endpoint.
   * @param status The HTTP status, if a response came.
   * @param options The cause, for network errors.
   */
  constructor(message: string, status: number | undefined, options?: ErrorOptions) {
    super(message, options);
    this.name = "OtlpExportError";
    this.status = status;
  }
}

const RETRYABLE = new Set([429, 502, 503, 504]);

/** The most of a response body read: enough for the 200 characters an error message shows. */
const MAX_BODY_BYTES = 4096;

/** Characters of the endpoint's answer an error message quotes. */
const EXCERPT_CHARS = 200;

interface ResolvedTransport {
  url: string;
  headers: Record<string, string>;
  fetch: typeof fetch;
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  timeoutMs: number;
}

function positive(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new Error(`Option "${name}" must be a positive number; got ${String(value)}`);
  }
  return value;
}

function resolveTransport(options: PushMetricsOptions, env: Environment): ResolvedTransport {
  const { url, headers } = resolveOtlpEndpoint("metrics", options, env, { "content-type": "application/json" });
  const fetchFunction = options.fetch ?? globalThis.fetch;
  if (typeof fetchFunction !== "function") {
    throw new Error('Option "fetch" is required where the runtime has no global fetch');
  }
  return {
    url,
    headers,
    fetch: fetchFunction,
    maxAttempts: Math.floor(positive(options.maxAttempts, "maxAttempts", 5)),
    initialBackoffMs: positive(options.initialBackoffMs, "initialBackoffMs", 500),
    maxBackoffMs: positive(options.maxBackoffMs, "maxBackoffMs", 30_000),
    timeoutMs: positive(options.timeoutMs, "timeoutMs", 10_000),
  };
}

let instanceId: string | undefined;

/** A random version 4 UUID, made once per module instance (process or isolate). */
function serviceInstanceId(): string {
  if (instanceId !== undefined) return instanceId;
  const crypto = globalThis.crypto;
  if (typeof crypto?.randomUUID === "function") {
    instanceId = crypto.randomUUID();
  } else {
    // Browsers hide randomUUID outside secure contexts; getRandomValues is everywhere.
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6]! & 0x0f) | 0x40;
    bytes[8] = (bytes[8]! & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    instanceId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  return instanceId;
}

/** The resource of a push: the instance id, then the variables, then the option. */
function resolveResource(options: PushMetricsOptions, env: Environment): ResourceAttributes {
  return { "service.instance.id": serviceInstanceId(), ...resourceFromEnvironment(env), ...options.resource };
}

/**
 * Milliseconds a `Retry-After` header asks to wait (delay-seconds or an
 * HTTP-date in the future), or undefined for anything else — a negative
 * number, a date in the past, garbage — so that the back-off applies.
 */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // An HTTP-date starts with a day name; Date.parse alone also takes "-5" (a year).
  if (!/^[A-Za-z]{3}/.test(trimmed)) return undefined;
  const wait = Date.parse(trimmed) - Date.now();
  return wait > 0 ? wait : undefined;
}

/**
 * The start of a response body, at most {@linkcode MAX_BODY_BYTES} (give or
 * take one chunk), decoded as UTF-8; the rest is cancelled unread, so an
 * endless or huge body costs neither memory nor time. An abort cancels the
 * read too.
 */
async function readExcerpt(response: Response, signal: AbortSignal): Promise<string> {
  const body = response.body;
  if (body === null) return "";
  const reader = body.getReader();
  const cancel = (): void => {
    try {
      reader.cancel().catch(() => undefined);
    } catch {
      // Already released.
    }
  };
  signal.addEventListener("abort", cancel, { once: true });
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < MAX_BODY_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // A body that fails half-way still tells what came before.
  } finally {
    signal.removeEventListener("abort", cancel);
    cancel();
  }
  const bytes = new Uint8Array(Math.min(size, MAX_BODY_BYTES));
  let at = 0;
  for (const chunk of chunks) {
    if (at >= bytes.length) break;
    const part = chunk.subarray(0, bytes.length - at);
    bytes.set(part, at);
    at += part.length;
  }
  return new TextDecoder().decode(bytes);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** How one export gets its body, waits between attempts and learns that it must end. */
interface ExportControl {
  /** The body of the next attempt: for a periodic push, the newest snapshot. */
  body(): string;
  /** Waits between attempts; false when the export must end now because a newer snapshot superseded it. */
  wait(ms: number): Promise<boolean>;
  /** Aborted at the `stop()` deadline: the request in flight is abandoned and the export fails. */
  signal?: AbortSignal;
}

/** Thrown by {@linkcode send} when a newer snapshot superseded the export (it is not a failure). */
class Superseded extends Error {}

/**
 * Sends one export, retrying with exponential back-off and full jitter; a
 * `Retry-After` lengthens a wait, never shortens it. Reads at most a few KiB
 * of any answer.
 */
async function send(transport: ResolvedTransport, control: ExportControl): Promise<void> {
  let lastError: OtlpExportError | undefined;
  const abandoned = (): boolean => control.signal?.aborted === true;
  for (let attempt = 0; attempt < transport.maxAttempts && !abandoned(); attempt++) {
    let retryAfter: number | undefined;
    const controller = new AbortController();
    const timeout = setTimeout(
      () => controller.abort(new Error(`no answer within timeoutMs (${transport.timeoutMs} ms)`)),
      transport.timeoutMs,
    );
    unrefTimer(timeout);
    const abandon = (): void => controller.abort(new Error("abandoned at the stop() deadline"));
    control.signal?.addEventListener("abort", abandon, { once: true });
    try {
      const response = await abortable(
        transport.fetch(transport.url, {
          method: "POST",
          headers: transport.headers,
          body: control.body(),
          signal: controller.signal,
        }),
        controller.signal,
      );
      // Read (a little of) every body: an unread one holds the connection.
      const text = await readExcerpt(response, controller.signal);
      if (response.ok) return;
      const message = `OTLP metrics export to ${transport.url} failed with HTTP ${response.status}` +
        (text === "" ? "" : `: ${text.slice(0, EXCERPT_CHARS)}`);
      lastError = new OtlpExportError(message, response.status);
      if (!RETRYABLE.has(response.status)) throw lastError;
      retryAfter = retryAfterMs(response.headers.get("retry-after"));
    } catch (error) {
      if (error === lastError) throw error;
      lastError = new OtlpExportError(
        `OTLP metrics export to ${transport.url} failed: ${error instanceof Error ? error.message : String(error)}`,
        undefined,
        { cause: error },
      );
    } finally {
      clearTimeout(timeout);
      control.signal?.removeEventListener("abort", abandon);
    }
    if (attempt + 1 >= transport.maxAttempts || abandoned()) break;
    const backoff = Math.min(transport.maxBackoffMs, transport.initialBackoffMs * 2 ** attempt) *
      (0.5 + Math.random() / 2);
    if (!await control.wait(Math.min(transport.maxBackoffMs, Math.max(backoff, retryAfter ?? 0)))) {
      throw new Superseded();
    }
  }
  if (abandoned()) {
    const last = lastError === undefined
      ? ""
      : `; the last attempt ${lastError.message.replace(/^OTLP metrics export to \S+ /, "")}`;
    throw new OtlpExportError(
      `OTLP metrics export to ${transport.url}: the last snapshot was not delivered within ` +
        `${String(control.signal?.reason)}${last}`,
      lastError?.status,
      { cause: lastError },
    );
  }
  throw lastError ?? new OtlpExportError(`OTLP metrics export to ${transport.url} failed`, undefined);
}

function snapshotBody(registry: CollectableRegistry, resource: ResourceAttributes, startTimeMs?: number): string {
  const request = encodeMetricsRequest(registry.collect(), {
    resource,
    ...(startTimeMs === undefined ? {} : { startTimeMs }),
  });
  return JSON.stringify(request);
}

/**
 * Pushes the registry once to an OTLP/HTTP metrics endpoint (JSON), retrying
 * with back-off on network errors, timeouts and 429/502/503/504 (a
 * `Retry-After` lengthens a wait up to `maxBackoffMs`). Unset options fall
 * back to `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (as is),
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (with `/v1/metrics` appended),
 * `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_RESOURCE_ATTRIBUTES` and
 * `OTEL_SERVICE_NAME`, as `setupTracing()` does. At most a few KiB of any
 * answer are read.
 *
 * @param registry The registry (anything with `collect()`).
 * @param options The endpoint, headers, resource and retry settings.
 * @returns A promise that resolves once the endpoint accepted the data.
 * @throws {Error} naming the option or variable that is invalid.
 * @throws {OtlpExportError} (rejection) when the export failed for good.
 *
 * @example Push at the end of a serverless invocation
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * import { pushMetrics } from "@atomic/metrics/otel";
 *
 * const registry = new Registry();
 * registry.counter({ name: "invocations_total", help: "Invocations" }).inc();
 * const bodies: string[] = [];
 * const collector: typeof fetch = (_url, init) => {
 *   bodies.push(String(init?.body));
 *   return Promise.resolve(new Response("{}"));
 * };
 * await pushMetrics(registry, {
 *   url: "http://collector:4318/v1/metrics",
 *   resource: { "service.name": "fn" },
 *   fetch: collector, // omit to use the global fetch
 * });
 * if (!bodies[0]?.includes('"invocations_total"')) throw new Error("not pushed");
 * if (!bodies[0]?.includes('"service.instance.id"')) throw new Error("no instance id");
 * ```
 */
export async function pushMetrics(registry: CollectableRegistry, options: PushMetricsOptions = {}): Promise<void> {
  const env = options.env ?? readEnvironment();
  const transport = resolveTransport(options, env);
  const body = snapshotBody(registry, resolveResource(options, env), options.startTimeMs);
  await send(transport, { body: () => body, wait: (ms) => sleep(ms).then(() => true) });
}

/**
 * Pushes the registry every `intervalMs` to an OTLP/HTTP metrics endpoint
 * (JSON), with the options and variables of {@linkcode pushMetrics}. Each
 * tick takes a snapshot; one sender sends it with retries. Snapshots are
 * cumulative, so a newer one supersedes one still waiting (counted in
 * `dropped`) and a retry always carries the newest: at most one request is in
 * flight and one snapshot waits, and recording never waits for the network.
 * The interval and the background back-off do not keep the process alive;
 * `flush()` and `stop()` do until done. `stop()` sends a last snapshot at
 * once and resolves when it was delivered or reported failed, within
 * `stopTimeoutMs`.
 *
 * @param registry The registry (anything with `collect()`).
 * @param options The interval, stop deadline, endpoint, headers, resource and retry settings.
 * @returns The running push: `flush()`, `stop()` and counters.
 * @throws {Error} naming the option or variable that is invalid.
 *
 * @example Push every 10 seconds, and a last time on shutdown
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * import { startMetricsPush } from "@atomic/metrics/otel";
 *
 * const registry = new Registry();
 * const requests = registry.counter({ name: "requests_total", help: "Requests" });
 * const bodies: string[] = [];
 * const collector: typeof fetch = (_url, init) => {
 *   bodies.push(String(init?.body));
 *   return Promise.resolve(new Response("{}"));
 * };
 * const push = startMetricsPush(registry, {
 *   url: "http://collector:4318/v1/metrics",
 *   intervalMs: 10_000,
 *   stopTimeoutMs: 2000,
 *   fetch: collector, // omit to use the global fetch
 * });
 * requests.inc(3);
 * await push.stop(); // the last snapshot was delivered or reported to onError
 * if (push.sent !== 1 || !bodies[0]?.includes('"asDouble":3')) throw new Error("last snapshot not sent");
 * ```
 */
export function startMetricsPush(registry: CollectableRegistry, options: MetricsPushOptions): MetricsPush {
  const env = options.env ?? readEnvironment();
  const transport = resolveTransport(options, env);
  const resource = resolveResource(options, env);
  if (options.intervalMs === undefined) throw new Error('Option "intervalMs" is required');
  const intervalMs = positive(options.intervalMs, "intervalMs", 0);
  const stopTimeoutMs = positive(options.stopTimeoutMs, "stopTimeoutMs", 5000);
  const onError = options.onError ??
    ((error: Error): void => console.warn(`atomic-metrics: ${error.message}`));
  const stats = { dropped: 0, sent: 0, failed: 0 };

  /** Every failure goes through here: counted, and never thrown into the app. */
  const report = (error: unknown): void => {
    stats.failed++;
    try {
      onError(error instanceof Error ? error : new Error(String(error)));
    } catch {
      // A throwing handler must reach neither the sender nor the interval timer.
    }
  };

  interface Snapshot {
    body: string;
    seq: number;
  }
  let taken = 0; // seq of the newest snapshot taken
  let settled = 0; // every snapshot up to this seq was delivered, reported failed or superseded by one that was
  let pending: Snapshot | undefined; // the newest snapshot, waiting
  let current: Snapshot | undefined; // the snapshot in flight (its retries included)
  let running = false;
  let stopRequested = false;
  let holders = 0; // flush() and stop() calls waiting: back-off waits keep the process alive meanwhile
  let pause: { timer: ReturnType<typeof setTimeout>; wake: () => void } | undefined;
  const settledWaiters: { seq: number; resolve: () => void }[] = [];
  const deadline = new AbortController();

  const settle = (seq: number): void => {
    settled = Math.max(settled, seq);
    for (let i = settledWaiters.length - 1; i >= 0; i--) {
      const waiter = settledWaiters[i]!;
      if (waiter.seq <= settled) {
        settledWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  };
  const settledUpTo = (seq: number): Promise<void> =>
    seq <= settled ? Promise.resolve() : new Promise((resolve) => settledWaiters.push({ seq, resolve }));

  const pauseFor = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        deadline.signal.removeEventListener("abort", wake);
        pause = undefined;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      if (holders === 0) unrefTimer(timer);
      deadline.signal.addEventListener("abort", wake, { once: true });
      pause = { timer, wake };
    });
  // After stop(), its last snapshot supersedes an older one still retrying: it goes next, with a full budget.
  const superseded = (): boolean => stopRequested && pending !== undefined;
  const control: ExportControl = {
    body() {
      // A retry carries the newest snapshot: the one it replaces is counted as dropped.
      if (pending !== undefined) {
        stats.dropped++;
        current = pending;
        pending = undefined;
      }
      return current!.body;
    },
    async wait(ms) {
      if (!superseded()) await pauseFor(ms);
      return !superseded();
    },
    signal: deadline.signal,
  };

  const run = async (): Promise<void> => {
    while (pending !== undefined) {
      current = pending;
      pending = undefined;
      try {
        await send(transport, control);
        stats.sent++;
      } catch (error) {
        if (error instanceof Superseded) {
          // Not settled: whoever waits for it waits for the newer snapshot, which goes next.
          stats.dropped++;
          current = undefined;
          continue;
        }
        if (pending !== undefined && deadline.signal.aborted) {
          // At the deadline the newest snapshot carries the failure, reported once.
          stats.dropped++;
          current = pending;
          pending = undefined;
        }
        report(error);
      }
      settle(current!.seq);
      current = undefined;
    }
    running = false;
  };

  const take = (): void => {
    let body: string;
    try {
      body = snapshotBody(registry, resource, options.startTimeMs);
    } catch (error) {
      report(error);
      return;
    }
    if (pending !== undefined) stats.dropped++;
    pending = { body, seq: ++taken };
    if (!running) {
      running = true;
      void run();
    }
  };

  /** Keeps the process alive (back-off waits ref'd) while `work` runs. */
  const hold = async (work: () => Promise<void>): Promise<void> => {
    holders++;
    if (pause !== undefined) refTimer(pause.timer);
    try {
      await work();
    } finally {
      holders--;
    }
  };

  const timer = setInterval(take, intervalMs);
  unrefTimer(timer);
  let stopping: Promise<void> | undefined;

  return {
    flush(): Promise<void> {
      if (stopping !== undefined) return stopping;
      return hold(async () => {
        take();
        await settledUpTo(taken);
      });
    },
    stop(): Promise<void> {
      stopping ??= hold(async () => {
        clearInterval(timer);
        stopRequested = true;
        take();
        pause?.wake(); // the last snapshot goes out now, even during a back-off
        // A ref'd timer: it holds the process until the last snapshot is settled.
        const stopTimer = setTimeout(() => deadline.abort(`stopTimeoutMs (${stopTimeoutMs} ms)`), stopTimeoutMs);
        try {
          await settledUpTo(taken);
        } finally {
          clearTimeout(stopTimer);
        }
      });
      return stopping;
    },
    get dropped(): number {
      return stats.dropped;
    },
    get sent(): number {
      return stats.sent;
    },
    get failed(): number {
      return stats.failed;
    },
  };
}

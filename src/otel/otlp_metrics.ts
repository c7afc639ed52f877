/**
 * Pushes a registry to an OTLP/HTTP metrics endpoint (JSON encoding) with
 * `fetch` only, so edge and serverless code that nothing scrapes can still
 * report: once with {@linkcode pushMetrics}, or on an interval with
 * {@linkcode startMetricsPush}, which queues snapshots (bounded, oldest
 * dropped) so that recording never waits for the network.
 *
 * @module
 */

import type { MetricSnapshot } from "../registry.ts";
import { unrefTimer } from "./_runtime.ts";
import { encodeMetricsRequest, type ResourceAttributes } from "./otlp_metrics_encoding.ts";

/** What a push needs from a registry: its snapshot. */
export interface CollectableRegistry {
  /** The structured snapshot of every metric. */
  collect(): readonly MetricSnapshot[];
}

/** Options of {@linkcode pushMetrics}. */
export interface PushMetricsOptions {
  /** The OTLP/HTTP metrics URL, e.g. `http://collector:4318/v1/metrics`. */
  url: string;
  /** Extra request headers, e.g. `{ authorization: "Bearer …" }`. */
  headers?: Record<string, string>;
  /** Resource attributes, e.g. `{ "service.name": "checkout" }`. */
  resource?: ResourceAttributes;
  /**
   * The fetch to use.
   * @default {globalThis.fetch}
   */
  fetch?: typeof fetch;
  /**
   * Attempts per export, the first included; retried on network errors and
   * on 429, 502, 503 and 504.
   * @default {5}
   */
  maxAttempts?: number;
  /**
   * First back-off in milliseconds; doubles per attempt, with jitter.
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
}

/** Options of {@linkcode startMetricsPush}. */
export interface MetricsPushOptions extends PushMetricsOptions {
  /** Milliseconds between pushes. */
  intervalMs: number;
  /**
   * Snapshots waiting to be sent at most; when full, the oldest is dropped
   * (a newer cumulative snapshot supersedes it) and counted in `dropped`.
   * @default {8}
   */
  maxQueueSize?: number;
  /**
   * Called with each export that failed for good (after its retries).
   * @default {a console.warn}
   */
  onError?: (error: Error) => void;
}

/** A running periodic push. */
export interface MetricsPush {
  /** Queues a snapshot now and resolves when everything queued was sent or given up on. */
  flush(): Promise<void>;
  /** Stops the interval, pushes a last snapshot and waits for the queue. Idempotent. */
  stop(): Promise<void>;
  /** Snapshots dropped because the queue was full. */
  readonly dropped: number;
  /** Snapshots the endpoint accepted. */
  readonly sent: number;
  /** Snapshots given up on after their retries. */
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
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`Option "${name}" must be a positive number; got ${value}`);
  }
  return value;
}

function resolveTransport(options: PushMetricsOptions): ResolvedTransport {
  let parsed: URL | undefined;
  try {
    parsed = new URL(options.url);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    throw new Error(`Option "url" must be an http(s) URL; got "${String(options.url)}"`);
  }
  const fetchFunction = options.fetch ?? globalThis.fetch;
  if (typeof fetchFunction !== "function") {
    throw new Error('Option "fetch" is required where the runtime has no global fetch');
  }
  return {
    url: options.url,
    headers: { ...options.headers, "content-type": "application/json" },
    fetch: fetchFunction,
    maxAttempts: Math.floor(positive(options.maxAttempts, "maxAttempts", 5)),
    initialBackoffMs: positive(options.initialBackoffMs, "initialBackoffMs", 500),
    maxBackoffMs: positive(options.maxBackoffMs, "maxBackoffMs", 30_000),
    timeoutMs: positive(options.timeoutMs, "timeoutMs", 10_000),
  };
}

/** Milliseconds a `Retry-After` header asks for (seconds or an HTTP date), if valid. */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function sleep(ms: number, unref: boolean): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (unref) unrefTimer(timer);
  });
}

/**
 * Sends one body, retrying with exponential back-off and full jitter.
 * `background` sleeps let the process exit; awaited exports keep it alive.
 */
async function send(body: string, transport: ResolvedTransport, background: boolean): Promise<void> {
  let lastError: OtlpExportError | undefined;
  for (let attempt = 0; attempt < transport.maxAttempts; attempt++) {
    let waitMs: number | undefined;
    const controller = new AbortController();
    const timeout = setTimeout(() => controller.abort(), transport.timeoutMs);
    unrefTimer(timeout);
    try {
      const response = await transport.fetch(transport.url, {
        method: "POST",
        headers: transport.headers,
        body,
        signal: controller.signal,
      });
      // Always read the body: an unread one holds the connection.
      const text = await response.text().catch(() => "");
      if (response.ok) return;
      const message = `OTLP metrics export to ${transport.url} failed with HTTP ${response.status}` +
        (text === "" ? "" : `: ${text.slice(0, 200)}`);
      lastError = new OtlpExportError(message, response.status);
      if (!RETRYABLE.has(response.status)) throw lastError;
      waitMs = retryAfterMs(response.headers.get("retry-after"));
    } catch (error) {
      if (error instanceof OtlpExportError) throw error;
      lastError = new OtlpExportError(
        `OTLP metrics export to ${transport.url} failed: ${error instanceof Error ? error.message : String(error)}`,
        undefined,
        { cause: error },
      );
    } finally {
      clearTimeout(timeout);
    }
    if (attempt + 1 >= transport.maxAttempts) break;
    const backoff = Math.min(transport.maxBackoffMs, transport.initialBackoffMs * 2 ** attempt);
    await sleep(Math.min(transport.maxBackoffMs, waitMs ?? backoff * (0.5 + Math.random() / 2)), background);
  }
  throw lastError ?? new OtlpExportError(`OTLP metrics export to ${transport.url} failed`, undefined);
}

function snapshotBody(registry: CollectableRegistry, options: PushMetricsOptions): string {
  const encodingOptions = {
    ...(options.resource === undefined ? {} : { resource: options.resource }),
    ...(options.startTimeMs === undefined ? {} : { startTimeMs: options.startTimeMs }),
  };
  return JSON.stringify(encodeMetricsRequest(registry.collect(), encodingOptions));
}

/**
 * Pushes the registry once to an OTLP/HTTP metrics endpoint (JSON), retrying
 * with back-off on network errors and 429/502/503/504 (honouring
 * `Retry-After`, capped at `maxBackoffMs`).
 *
 * @param registry The registry (anything with `collect()`).
 * @param options The endpoint, headers, resource and retry settings.
 * @returns A promise that resolves once the endpoint accepted the data.
 * @throws {Error} naming the option that is invalid.
 * @throws {OtlpExportError} (rejection) when the export failed for good.
 *
 * @example Push at the end of a serverless invocation
 * ```ts ignore
 * import { Registry } from "../registry.ts";
 * import { pushMetrics } from "./mod.ts";
 *
 * const registry = new Registry();
 * registry.counter({ name: "invocations_total", help: "Invocations" }).inc();
 * await pushMetrics(registry, { url: "http://collector:4318/v1/metrics", resource: { "service.name": "fn" } });
 * ```
 */
export async function pushMetrics(registry: CollectableRegistry, options: PushMetricsOptions): Promise<void> {
  const transport = resolveTransport(options);
  await send(snapshotBody(registry, options), transport, false);
}

/**
 * Pushes the registry every `intervalMs` to an OTLP/HTTP metrics endpoint
 * (JSON). Each tick takes a snapshot into a bounded queue that one sender
 * drains in order with retries; when the endpoint is slow or down the oldest
 * snapshot is dropped, never the recording. The interval does not keep the
 * process alive; `stop()` sends a last snapshot.
 *
 * @param registry The registry (anything with `collect()`).
 * @param options The interval, queue bound, endpoint, headers, resource and retry settings.
 * @returns The running push: `flush()`, `stop()` and counters.
 * @throws {Error} naming the option that is invalid.
 *
 * @example Push every 10 seconds
 * ```ts ignore
 * import { Registry } from "../registry.ts";
 * import { startMetricsPush } from "./mod.ts";
 *
 * const registry = new Registry();
 * const push = startMetricsPush(registry, { url: "http://collector:4318/v1/metrics", intervalMs: 10_000 });
 * // ... on shutdown:
 * await push.stop();
 * ```
 */
export function startMetricsPush(registry: CollectableRegistry, options: MetricsPushOptions): MetricsPush {
  const transport = resolveTransport(options);
  if (options.intervalMs === undefined) throw new Error('Option "intervalMs" is required');
  const intervalMs = positive(options.intervalMs, "intervalMs", 0);
  const maxQueueSize = Math.floor(positive(options.maxQueueSize, "maxQueueSize", 8));
  const onError = options.onError ??
    ((error: Error): void => console.warn(`atomic-metrics: ${error.message}`));
  const queue: string[] = [];
  const stats = { dropped: 0, sent: 0, failed: 0 };
  let draining: Promise<void> | undefined;
  let waiters = 0;
  let stopping: Promise<void> | undefined;

  const drain = async (): Promise<void> => {
    while (queue.length > 0) {
      const body = queue.shift()!;
      try {
        await send(body, transport, waiters === 0);
        stats.sent++;
      } catch (error) {
        stats.failed++;
        try {
          onError(error instanceof Error ? error : new Error(String(error)));
        } catch {
          // A throwing handler must not stop the sender.
        }
      }
    }
  };
  const enqueue = (): void => {
    let body: string;
    try {
      body = snapshotBody(registry, options);
    } catch (error) {
      stats.failed++;
      onError(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    queue.push(body);
    while (queue.length > maxQueueSize) {
      queue.shift();
      stats.dropped++;
    }
    draining ??= drain().finally(() => {
      draining = undefined;
    });
  };
  const flush = async (): Promise<void> => {
    waiters++;
    try {
      enqueue();
      while (draining !== undefined) await draining;
    } finally {
      waiters--;
    }
  };

  const timer = setInterval(enqueue, intervalMs);
  unrefTimer(timer);

  return {
    flush,
    stop(): Promise<void> {
      stopping ??= (async () => {
        clearInterval(timer);
        await flush();
      })();
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

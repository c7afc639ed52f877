/**
 * Options of {@linkcode setupTracing} and their resolution against the
 * standard `OTEL_*` variables: options win, then variables, then defaults.
 * Kept apart from the set-up so that it can be checked without the SDK. The
 * resolution of what every OTLP exporter shares (endpoint, headers, resource)
 * lives here once and serves the metrics push too.
 *
 * @module
 */

import type { Attributes } from "@opentelemetry/api";
import { type Environment, readEnvironment } from "./_runtime.ts";

/** The sampler names of `OTEL_TRACES_SAMPLER` that {@linkcode setupTracing} supports. */
export type SamplerName =
  | "always_on"
  | "always_off"
  | "traceidratio"
  | "parentbased_always_on"
  | "parentbased_always_off"
  | "parentbased_traceidratio";

const SAMPLER_NAMES: readonly SamplerName[] = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
];

/** Options of {@linkcode setupTracing}; each falls back to its variable. */
export interface TracingOptions {
  /**
   * The `service.name` resource attribute. Variable: `OTEL_SERVICE_NAME`.
   * @default {"unknown_service"} (the SDK's default, with the process name where known)
   */
  serviceName?: string;
  /**
   * More resource attributes, merged over the SDK's default resource.
   * Variable: `OTEL_RESOURCE_ATTRIBUTES` (`key=value,key2=value2`,
   * URL-encoded). Options and variable are merged, options winning.
   */
  resourceAttributes?: Attributes;
  /**
   * The full OTLP/HTTP traces URL. Variables: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
   * (used as is), else `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/traces` appended.
   * @default {"http://localhost:4318/v1/traces"}
   */
  url?: string;
  /**
   * Headers sent with every export. Variable: `OTEL_EXPORTER_OTLP_HEADERS`
   * (`key=value,key2=value2`, URL-encoded). Options and variable are merged,
   * options winning.
   */
  headers?: Record<string, string>;
  /**
   * The sampler. Variable: `OTEL_TRACES_SAMPLER`.
   * @default {"parentbased_always_on"}
   */
  sampler?: SamplerName;
  /**
   * The ratio of `traceidratio` samplers, in [0, 1]. Variable: `OTEL_TRACES_SAMPLER_ARG`.
   * @default {1}
   */
  samplerRatio?: number;
  /**
   * Register the provider, the W3C propagators and (if
   * `@opentelemetry/context-async-hooks` is installed) a context manager as
   * the OpenTelemetry globals, so that `trace.getTracer()`, `withSpan()` and
   * `traceExemplars()` use them. `shutdown()` unregisters them.
   * @default {true}
   */
  global?: boolean;
  /**
   * Milliseconds between batch exports (BatchSpanProcessor).
   * @default {5000}
   */
  scheduledDelayMillis?: number;
  /**
   * Milliseconds before an export is abandoned.
   * @default {30000}
   */
  exportTimeoutMillis?: number;
  /** The variables to read instead of the process environment. */
  env?: Environment;
}

/** The options after resolution: every value known and checked. */
export interface ResolvedTracingOptions {
  /** `service.name`, or undefined to keep the SDK's default. */
  serviceName: string | undefined;
  /** Resource attributes besides `service.name`. */
  resourceAttributes: Attributes;
  /** The traces URL. */
  url: string;
  /** The export headers. */
  headers: Record<string, string>;
  /** The sampler name. */
  sampler: SamplerName;
  /** The ratio for `traceidratio` samplers. */
  samplerRatio: number;
  /** Whether to register globals. */
  global: boolean;
  /** Milliseconds between batch exports. */
  scheduledDelayMillis: number;
  /** Milliseconds before an export is abandoned. */
  exportTimeoutMillis: number;
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === "" ? undefined : trimmed;
}

function checkUrl(value: string, source: string): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new Error(`${source} must be an http(s) URL; got "${value}"`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new Error(`${source} must be an http(s) URL; got "${value}"`);
  }
  return value;
}

/** The OTLP signals whose endpoint variables are resolved here. */
export type OtlpSignal = "traces" | "metrics";

function resolveUrl(url: string | undefined, signal: OtlpSignal, env: Environment): string {
  if (url !== undefined) return checkUrl(url, 'Option "url"');
  const name = `OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_ENDPOINT`;
  const own = nonEmpty(env[name]);
  if (own !== undefined) return checkUrl(own, `Variable ${name}`);
  const base = nonEmpty(env["OTEL_EXPORTER_OTLP_ENDPOINT"]);
  if (base !== undefined) {
    checkUrl(base, "Variable OTEL_EXPORTER_OTLP_ENDPOINT");
    return base.replace(/\/+$/, "") + `/v1/${signal}`;
  }
  return `http://localhost:4318/v1/${signal}`;
}

/**
 * Parses `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_RESOURCE_ATTRIBUTES`:
 * comma-separated `key=value` pairs, each part URL-decoded and trimmed.
 *
 * @throws {Error} naming the variable when a pair has no `=`, an empty key or
 *   a bad percent-encoding.
 */
function parseKeyValuePairs(value: string, source: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of value.split(",")) {
    if (pair.trim() === "") continue;
    const at = pair.indexOf("=");
    if (at <= 0) {
      throw new Error(`${source} must hold comma-separated key=value pairs; got "${pair.trim()}"`);
    }
    let key: string;
    let headerValue: string;
    try {
      key = decodeURIComponent(pair.slice(0, at)).trim();
      headerValue = decodeURIComponent(pair.slice(at + 1)).trim();
    } catch {
      throw new Error(`${source} has a bad percent-encoding in "${pair.trim()}"`);
    }
    if (key === "") {
      throw new Error(`${source} must hold comma-separated key=value pairs; got "${pair.trim()}"`);
    }
    headers[key] = headerValue;
  }
  return headers;
}

/**
 * Merges header layers, later ones winning; names compare case-insensitively
 * (an option's `authorization` replaces the variable's `Authorization`
 * instead of being sent beside it).
 */
function mergeHeaders(...layers: Readonly<Record<string, string>>[]): Record<string, string> {
  const merged: Record<string, string> = {};
  const spelling = new Map<string, string>();
  for (const layer of layers) {
    for (const [name, value] of Object.entries(layer)) {
      const previous = spelling.get(name.toLowerCase());
      if (previous !== undefined) delete merged[previous];
      spelling.set(name.toLowerCase(), name);
      merged[name] = value;
    }
  }
  return merged;
}

/** What every OTLP/HTTP exporter takes from options or the `OTEL_EXPORTER_OTLP_*` variables. */
export interface OtlpEndpointOptions {
  /** The full URL of the signal's endpoint. */
  url?: string | undefined;
  /** Headers sent with every export. */
  headers?: Record<string, string> | undefined;
}

/**
 * Resolves the endpoint URL and headers of an OTLP/HTTP exporter, the same
 * way for every signal: the `url` option, else
 * `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT` as is, else
 * `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/<signal>` appended, else
 * `http://localhost:4318/v1/<signal>`; headers from
 * `OTEL_EXPORTER_OTLP_HEADERS`, then the `headers` option, then `fixed`,
 * later ones winning.
 *
 * @ignore @internal Shared by {@linkcode resolveTracingOptions} and the metrics push.
 * @throws {Error} naming the option or variable whose value is invalid.
 */
export function resolveOtlpEndpoint(
  signal: OtlpSignal,
  options: OtlpEndpointOptions,
  env: Environment,
  fixed: Readonly<Record<string, string>> = {},
): { url: string; headers: Record<string, string> } {
  const envHeaders = nonEmpty(env["OTEL_EXPORTER_OTLP_HEADERS"]);
  for (const [key, value] of Object.entries(options.headers ?? {})) {
    if (typeof value !== "string") {
      throw new Error(`Option "headers" must map names to strings; "${key}" is ${typeof value}`);
    }
  }
  const headers = mergeHeaders(
    envHeaders === undefined ? {} : parseKeyValuePairs(envHeaders, "Variable OTEL_EXPORTER_OTLP_HEADERS"),
    options.headers ?? {},
    fixed,
  );
  return { url: resolveUrl(options.url, signal, env), headers };
}

/**
 * The resource attributes the variables give: `OTEL_RESOURCE_ATTRIBUTES`,
 * then `OTEL_SERVICE_NAME` as `service.name` (which wins, as the
 * specification says). Options are merged over the result by the caller.
 *
 * @ignore @internal Shared by {@linkcode resolveTracingOptions} and the metrics push.
 * @throws {Error} naming the variable whose value is invalid.
 */
export function resourceFromEnvironment(env: Environment): Record<string, string> {
  const raw = nonEmpty(env["OTEL_RESOURCE_ATTRIBUTES"]);
  const attributes = raw === undefined ? {} : parseKeyValuePairs(raw, "Variable OTEL_RESOURCE_ATTRIBUTES");
  const serviceName = nonEmpty(env["OTEL_SERVICE_NAME"]);
  if (serviceName !== undefined) attributes["service.name"] = serviceName;
  return attributes;
}

function resolveSampler(options: TracingOptions, env: Environment): SamplerName {
  if (options.sampler !== undefined) {
    if (!SAMPLER_NAMES.includes(options.sampler)) {
      throw new Error(
        `Option "sampler" must be one of ${SAMPLER_NAMES.join(", ")}; got "${String(options.sampler)}"`,
      );
    }
    return options.sampler;
  }
  const fromEnv = nonEmpty(env["OTEL_TRACES_SAMPLER"])?.toLowerCase();
  if (fromEnv === undefined) return "parentbased_always_on";
  if (!(SAMPLER_NAMES as readonly string[]).includes(fromEnv)) {
    throw new Error(
      `Variable OTEL_TRACES_SAMPLER must be one of ${SAMPLER_NAMES.join(", ")}; got "${fromEnv}"`,
    );
  }
  return fromEnv as SamplerName;
}

function checkRatio(value: number, source: string, raw: string): number {
  if (!Number.isFinite(value) || value < 0 || value > 1) {
    throw new Error(`${source} must be a ratio in [0, 1]; got "${raw}"`);
  }
  return value;
}

function resolveRatio(options: TracingOptions, env: Environment): number {
  if (options.samplerRatio !== undefined) {
    return checkRatio(options.samplerRatio, 'Option "samplerRatio"', String(options.samplerRatio));
  }
  const raw = nonEmpty(env["OTEL_TRACES_SAMPLER_ARG"]);
  if (raw === undefined) return 1;
  return checkRatio(Number(raw), "Variable OTEL_TRACES_SAMPLER_ARG", raw);
}

function checkMillis(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`Option "${name}" must be a positive number of milliseconds; got ${value}`);
  }
  return value;
}

/**
 * Resolves {@linkcode TracingOptions} against the environment.
 *
 * @param options The options; unset ones fall back to the `OTEL_*` variables.
 * @returns Every setting, checked.
 * @throws {Error} naming the option or variable whose value is invalid.
 *
 * @example Fall back to the variables
 * ```ts
 * import { resolveTracingOptions } from "@atomic/metrics/otel";
 *
 * const resolved = resolveTracingOptions({
 *   env: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.25" },
 * });
 * if (resolved.url !== "http://collector:4318/v1/traces" || resolved.samplerRatio !== 0.25) throw new Error();
 * let message = "";
 * try {
 *   resolveTracingOptions({ env: { OTEL_TRACES_SAMPLER_ARG: "2" } });
 * } catch (error) {
 *   message = String(error);
 * }
 * if (!message.includes("OTEL_TRACES_SAMPLER_ARG")) throw new Error("variable not named");
 * ```
 */
export function resolveTracingOptions(options: TracingOptions = {}): ResolvedTracingOptions {
  const env = options.env ?? readEnvironment();
  if (options.serviceName !== undefined && options.serviceName.trim() === "") {
    throw new Error('Option "serviceName" must not be empty');
  }
  const { url, headers } = resolveOtlpEndpoint("traces", options, env);
  // Options win over variables: serviceName, then resourceAttributes' service.name,
  // then OTEL_SERVICE_NAME, then OTEL_RESOURCE_ATTRIBUTES' service.name.
  const resourceAttributes: Attributes = { ...resourceFromEnvironment(env), ...options.resourceAttributes };
  const merged = resourceAttributes["service.name"];
  const serviceName = options.serviceName ?? (typeof merged === "string" ? merged : undefined);
  if (typeof merged === "string") delete resourceAttributes["service.name"];
  return {
    serviceName,
    resourceAttributes,
    url,
    headers,
    sampler: resolveSampler(options, env),
    samplerRatio: resolveRatio(options, env),
    global: options.global ?? true,
    scheduledDelayMillis: checkMillis(options.scheduledDelayMillis, "scheduledDelayMillis", 5000),
    exportTimeoutMillis: checkMillis(options.exportTimeoutMillis, "exportTimeoutMillis", 30_000),
  };
}

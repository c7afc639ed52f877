/**
 * One call that sets up tracing: a tracer provider exporting over OTLP/HTTP
 * (JSON) through a batch span processor, configured from options and the
 * standard `OTEL_*` variables. The SDK packages are optional peers, loaded
 * here by dynamic `import()`, so importing `atomic-metrics/otel` never needs
 * them.
 *
 * @module
 */

import { context, propagation, trace, type Tracer, type TracerProvider } from "@opentelemetry/api";
import { w3cPropagator } from "./_w3c_propagator.ts";
import { type ResolvedTracingOptions, resolveTracingOptions, type TracingOptions } from "./tracing_options.ts";

/** What {@linkcode setupTracing} returns: the provider and its life cycle. */
export interface TracingHandle {
  /** The SDK tracer provider (a `BasicTracerProvider`). */
  readonly provider: TracerProvider;
  /** Whether the provider, propagator and context manager were registered as globals. */
  readonly global: boolean;
  /** A tracer of this provider. */
  tracer(name: string, version?: string): Tracer;
  /** Exports every ended span now. */
  forceFlush(): Promise<void>;
  /** Flushes, stops exporting and unregisters the globals it registered. Idempotent. */
  shutdown(): Promise<void>;
}

interface SdkTracerProvider extends TracerProvider {
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

async function loadPeer<T>(name: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (cause) {
    throw new Error(
      `setupTracing() needs the optional peer dependency "${name}"; install it with: npm install ${name}`,
      { cause },
    );
  }
}

type SdkTraceBase = typeof import("@opentelemetry/sdk-trace-base");
type Sampler = import("@opentelemetry/sdk-trace-base").Sampler;

function buildSampler(sdk: SdkTraceBase, resolved: ResolvedTracingOptions): Sampler {
  const ratio = (): Sampler => new sdk.TraceIdRatioBasedSampler(resolved.samplerRatio);
  switch (resolved.sampler) {
    case "always_on":
      return new sdk.AlwaysOnSampler();
    case "always_off":
      return new sdk.AlwaysOffSampler();
    case "traceidratio":
      return ratio();
    case "parentbased_always_on":
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOnSampler() });
    case "parentbased_always_off":
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new sdk.ParentBasedSampler({ root: ratio() });
  }
}

/**
 * Builds a `BasicTracerProvider` with an OTLP/HTTP (JSON) trace exporter and
 * a `BatchSpanProcessor`. Unset options fall back to `OTEL_SERVICE_NAME`,
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (as is), `OTEL_EXPORTER_OTLP_ENDPOINT`
 * (with `/v1/traces` appended), `OTEL_EXPORTER_OTLP_HEADERS`,
 * `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` and `OTEL_RESOURCE_ATTRIBUTES`; options win over variables.
 *
 * With `global: true` (the default) it registers the provider, the W3C
 * propagators and, when `@opentelemetry/context-async-hooks` is installed and
 * no context manager is registered yet, an AsyncLocalStorage context manager
 * (on Node, Deno and Bun) — without one, spans do not nest across `await`.
 *
 * Needs the optional peers `@opentelemetry/sdk-trace-base`,
 * `@opentelemetry/resources` and `@opentelemetry/exporter-trace-otlp-http`.
 *
 * @param options The options; see {@linkcode TracingOptions}.
 * @returns A handle to get tracers, flush and shut down.
 * @throws {Error} naming the option or variable whose value is invalid, or
 *   the peer dependency that is missing.
 *
 * @example Trace to a collector, then shut down
 * ```ts ignore
 * import { setupTracing, withSpan } from "@atomic/metrics/otel";
 *
 * const tracing = await setupTracing({ serviceName: "checkout", url: "http://localhost:4318/v1/traces" });
 * await withSpan("charge card", async () => {
 *   // ...
 * });
 * await tracing.shutdown(); // flushes the batch
 * ```
 */
export async function setupTracing(options: TracingOptions = {}): Promise<TracingHandle> {
  const resolved = resolveTracingOptions(options);
  const sdk = await loadPeer(
    "@opentelemetry/sdk-trace-base",
    () => import("@opentelemetry/sdk-trace-base"),
  );
  const resources = await loadPeer(
    "@opentelemetry/resources",
    () => import("@opentelemetry/resources"),
  );
  const { OTLPTraceExporter } = await loadPeer(
    "@opentelemetry/exporter-trace-otlp-http",
    () => import("@opentelemetry/exporter-trace-otlp-http"),
  );

  const attributes = { ...resolved.resourceAttributes };
  if (resolved.serviceName !== undefined) attributes["service.name"] = resolved.serviceName;
  const exporter = new OTLPTraceExporter({
    url: resolved.url,
    headers: resolved.headers,
    timeoutMillis: resolved.exportTimeoutMillis,
  });
  const provider: SdkTracerProvider = new sdk.BasicTracerProvider({
    resource: resources.defaultResource().merge(
      resources.resourceFromAttributes(attributes as Parameters<typeof resources.resourceFromAttributes>[0]),
    ),
    sampler: buildSampler(sdk, resolved),
    spanProcessors: [
      new sdk.BatchSpanProcessor(exporter, {
        scheduledDelayMillis: resolved.scheduledDelayMillis,
        exportTimeoutMillis: resolved.exportTimeoutMillis,
      }),
    ],
  });

  const registered = { tracer: false, propagator: false, contextManager: false };
  if (resolved.global) {
    registered.tracer = trace.setGlobalTracerProvider(provider);
    if (!registered.tracer) {
      await provider.shutdown();
      throw new Error(
        'setupTracing() with "global: true" found a tracer provider already registered; shut it down first or pass global: false',
      );
    }
    registered.propagator = propagation.setGlobalPropagator(w3cPropagator);
    try {
      const { AsyncLocalStorageContextManager } = await import("@opentelemetry/context-async-hooks");
      const manager = new AsyncLocalStorageContextManager();
      registered.contextManager = context.setGlobalContextManager(manager.enable());
      if (!registered.contextManager) manager.disable();
    } catch {
      // Optional: without it the API's no-op context manager stays.
    }
  }

  let shutdown: Promise<void> | undefined;
  return {
    provider,
    global: resolved.global,
    tracer: (name: string, version?: string): Tracer => provider.getTracer(name, version),
    forceFlush: (): Promise<void> => provider.forceFlush(),
    shutdown(): Promise<void> {
      shutdown ??= provider.shutdown().finally(() => {
        if (registered.tracer) trace.disable();
        if (registered.propagator) propagation.disable();
        if (registered.contextManager) context.disable();
      });
      return shutdown;
    },
  };
}

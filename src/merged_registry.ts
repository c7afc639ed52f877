/**
 * Registries of different metrics shown as one (prom-client's `Registry.merge()`).
 *
 * @module
 */

import type { Family, SeriesBase } from "./_family.ts";
import type { Counter } from "./counter.ts";
import type { Gauge } from "./gauge.ts";
import type { Histogram } from "./histogram.ts";
import type { Summary } from "./summary.ts";
import { DEFAULT_ESCAPING } from "./exposition/escaping.ts";
import { renderToString } from "./exposition/_renderer.ts";
import { renderProtobuf } from "./exposition/protobuf.ts";
import { streamFamilies } from "./exposition/stream.ts";
import { collectSnapshots, type MetricSnapshot } from "./exposition/snapshot.ts";
import { type MetricJSON, metricsAsJSON } from "./exposition/metrics_json.ts";
import { OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, textFormatOf } from "./exposition/negotiate.ts";
import { escapingOf, type Format, Registry, type RenderOptions } from "./registry.ts";

/**
 * What `Registry.merge()` returns: the metrics of several registries as one exposition, for
 * `metricsHandler()`, `serve()`, `metrics()` or OTLP. It holds no metrics of its own: each
 * render reads the registries as they are then.
 *
 * @example
 * ```ts
 * import { metricsHandler, Registry } from "@atomic/metrics";
 * const app = new Registry();
 * const lib = new Registry({ selfMetrics: false });
 * app.counter({ name: "requests_total", help: "Requests" }).inc();
 * lib.gauge({ name: "pool_size", help: "Pool" }).set(4);
 * const merged = Registry.merge([app, lib]);
 * const response = await metricsHandler(merged)(new Request("http://localhost/metrics"));
 * const text = await response.text();
 * if (!text.includes("requests_total 1") || !text.includes("pool_size 4")) throw new Error(text);
 * ```
 */
export class MergedRegistry {
  /** The registries, in the order given. */
  readonly registries: readonly Registry[];
  private exposition: "prometheus" | "openmetrics" = "prometheus";

  /**
   * Made by `Registry.merge()`: checks the registries now.
   * @param registries The registries to show together.
   * @throws {Error} when one is not a Registry or a metric name is in two of them.
   */
  constructor(registries: readonly Registry[]) {
    if (!Array.isArray(registries) || registries.length === 0) {
      throw new TypeError("Registry.merge() takes a non-empty array of registries");
    }
    registries.forEach((registry, i) => {
      if (!(registry instanceof Registry)) {
        throw new TypeError(`Registry.merge() argument ${i} is not a Registry`);
      }
    });
    this.registries = [...registries];
    this.families((registry) => registry.preparedFamilies());
  }

  /**
   * The metrics of every registry, sorted by name: each registry's own, the self-metrics of the
   * first only.
   * @throws {Error} naming a metric that two registries have.
   */
  private families(of: (registry: Registry) => Family<SeriesBase>[]): Family<SeriesBase>[] {
    const all: Family<SeriesBase>[] = [];
    const owner = new Map<string, number>();
    this.registries.forEach((registry, i) => {
      for (const family of of(registry)) {
        if (i > 0 && family.name.startsWith("atomic_metrics_")) continue;
        const other = owner.get(family.name);
        if (other !== undefined) {
          throw new Error(
            `Registry.merge(): metric "${family.name}" is in registry ${other} and registry ${i}; merged registries must have different metrics`,
          );
        }
        owner.set(family.name, i);
        all.push(family);
      }
    });
    return all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The metric of that name in any of the registries (as `Registry.get()`). */
  get(name: string): Counter | Gauge | Histogram | Summary | undefined {
    for (const registry of this.registries) {
      const found = registry.get(name);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** The metric of that name in any registry, prefixed or not (as `Registry.getSingleMetric()`). */
  getSingleMetric(name: string): Counter | Gauge | Histogram | Summary | undefined {
    for (const registry of this.registries) {
      const found = registry.getSingleMetric(name);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** Runs every registry's collect hooks, awaiting async ones up to `deadlineMs` (see `Registry.collectAsync()`). */
  async collectAsync(options: { deadlineMs?: number; onError?: (error: unknown) => void } = {}): Promise<void> {
    await Promise.all(this.registries.map((registry) => registry.collectAsync(options)));
  }

  /** The exposition of all the registries (see `Registry.render()`); runs collect hooks synchronously. */
  render(format?: "prometheus" | "openmetrics", options?: RenderOptions): string;
  /** Prometheus' protobuf format (see `Registry.render()`). */
  render(format: "protobuf", options?: RenderOptions): Uint8Array;
  /** The exposition in any format. */
  render(format: Format, options?: RenderOptions): string | Uint8Array;
  render(format: Format = "prometheus", options: RenderOptions = {}): string | Uint8Array {
    const escaping = escapingOf("render", options?.escaping);
    const families = this.families((registry) => registry.hookedFamilies());
    const created = this.registries[0]!.showsCreated;
    if (format === "protobuf") return renderProtobuf(families, { escaping, created });
    return renderToString(families, format === "openmetrics", escaping, created);
  }

  /** The exposition as a stream of bytes, a slice at a time (see `Registry.stream()`); runs no hooks. */
  stream(
    format: Format = "prometheus",
    options: { sliceMs?: number } & RenderOptions = {},
  ): ReadableStream<Uint8Array> {
    const escaping = escapingOf("stream", options.escaping);
    const families = this.families((registry) => registry.preparedFamilies());
    return streamFamilies(families, format, escaping, this.registries[0]!.showsCreated, options.sliceMs ?? 2);
  }

  /** A structured snapshot of every metric (see `Registry.collect()`). */
  collect(): MetricSnapshot[] {
    return collectSnapshots(this.families((registry) => registry.hookedFamilies()));
  }

  /** The Content-Type of what `metrics()` returns (see `Registry.contentType`). */
  get contentType(): string {
    return this.exposition === "openmetrics" ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE;
  }

  /** Chooses what `metrics()` returns (see `Registry.setContentType()`). */
  setContentType(contentType: string): void {
    this.exposition = textFormatOf("MergedRegistry", contentType);
  }

  /** The exposition after every registry's collect hooks (see `Registry.metrics()`). */
  async metrics(): Promise<string> {
    await this.collectAsync();
    const families = this.families((registry) => registry.preparedFamilies());
    return renderToString(
      families,
      this.exposition === "openmetrics",
      DEFAULT_ESCAPING,
      this.registries[0]!.showsCreated,
    );
  }

  /** Every metric in prom-client's JSON shape (see `Registry.getMetricsAsJSON()`). */
  async getMetricsAsJSON(): Promise<MetricJSON[]> {
    await this.collectAsync();
    return metricsAsJSON(collectSnapshots(this.families((registry) => registry.preparedFamilies())));
  }
}

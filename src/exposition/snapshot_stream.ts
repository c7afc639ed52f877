/**
 * Snapshots as an exposition in any format, streamed a slice at a time (as `Registry.stream()`
 * streams a registry) or rendered whole: the text formats by {@linkcode SnapshotTextRenderer},
 * Prometheus' protobuf format by the registry's own protobuf writer, which reads snapshots here
 * through the few members of a metric and a series that it reads.
 *
 * @module
 */

import type { Family, SeriesBase } from "../_family.ts";
import type { Format } from "../registry.ts";
import { CHUNK_BYTES } from "./_renderer.ts";
import { DEFAULT_ESCAPING, type EscapingScheme } from "./escaping.ts";
import { ProtobufRenderer } from "./protobuf.ts";
import type { MetricSnapshot, SeriesSnapshot } from "./snapshot.ts";
import { SnapshotTextRenderer } from "./snapshot_text.ts";
import { streamChunks } from "./stream.ts";

/** @ignore @internal Options of {@linkcode streamSnapshots} and {@linkcode renderSnapshots}. */
export interface SnapshotRenderOptions {
  /**
   * How names outside the legacy character set are written.
   * @default {"underscores"}
   */
  escaping?: EscapingScheme;
  /**
   * Milliseconds of rendering between two waits for the next task of the event loop.
   * @default {2}
   */
  sliceMs?: number;
}

/** A series of a snapshot as the protobuf writer reads a registry's: its values, no exemplars. */
function protobufSeries(series: SeriesSnapshot, labelNames: readonly string[]): object {
  const buckets = series.buckets;
  const native = series.native;
  return {
    removed: false,
    overflow: false,
    created: 0,
    labelValues: labelNames.map((name) => series.labels[name]!),
    exemplar: undefined,
    bucketExemplars: undefined,
    nativeExemplars: undefined,
    /** A counter's value (slot 0); a histogram's bucket `i` (not cumulative), its sum after `+Inf`. */
    slotSum(i: number): number {
      if (buckets.length === 0) return series.value;
      if (i < buckets.length) return buckets[i]!.count - (i > 0 ? buckets[i - 1]!.count : 0);
      return series.sum;
    },
    get: () => series.value,
    count: () => series.count,
    sum: () => series.sum,
    quantiles: () => series.quantiles.map((q) => q.value),
    native: () =>
      native === undefined ? undefined : {
        schema: native.schema,
        zeroThreshold: native.zeroThreshold,
        zeroCount: native.zeroCount,
        positive: new Map(native.positive),
        negative: new Map(native.negative),
      },
  };
}

/**
 * The snapshot's metrics as the protobuf writer reads a registry's. The series of a metric
 * with different label names (processes with different default labels) go in one family per
 * set of names, written as several `MetricFamily` messages of the same name, which Prometheus
 * reads as one metric.
 */
function protobufFamilies(metrics: readonly MetricSnapshot[]): Family<SeriesBase>[] {
  const families: Family<SeriesBase>[] = [];
  for (const metric of metrics) {
    const groups = new Map<string, SeriesSnapshot[]>();
    for (const series of metric.series) {
      const signature = Object.keys(series.labels).join("\u0000");
      const group = groups.get(signature);
      if (group === undefined) groups.set(signature, [series]);
      else group.push(series);
    }
    for (const group of groups.values()) {
      const first = group[0]!;
      const labelNames = Object.keys(first.labels);
      const family = {
        name: metric.name,
        help: metric.help,
        unit: metric.unit,
        labelNames,
        definition: { type: metric.type },
        upperBounds: Float64Array.from(first.buckets.slice(0, -1).map((b) => b.le)),
        native: first.native === undefined ? undefined : {},
        quantileList: (group.find((s) => s.quantiles.length > 0)?.quantiles ?? []).map((q) => q.quantile),
        defaultLabels: () => [],
        visibleSeries: () => group.map((series) => protobufSeries(series, labelNames)),
      };
      families.push(family as unknown as Family<SeriesBase>);
    }
  }
  return families;
}

/**
 * @ignore @internal Streams snapshots as an exposition: UTF-8 text in the Prometheus format 0.0.4 or OpenMetrics
 * 1.0, or Prometheus' protobuf format (with native histograms). After each slice (about
 * `sliceMs` of work) the stream waits for the next task, and it renders only as fast as it is
 * read, so the bytes in flight stay bounded however many series there are.
 *
 * @param metrics The snapshot, metrics in the order to write them.
 * @param format The exposition format.
 * @param options Escaping of names and the slice length.
 * @returns The bytes of the exposition.
 *
 * @example Streaming a snapshot
 * ```ts
 * import { Registry } from "../registry.ts";
 * import { streamSnapshots } from "./snapshot_stream.ts";
 *
 * const registry = new Registry({ selfMetrics: false });
 * registry.histogram({ name: "latency_seconds", help: "Latency", buckets: [0.1, 1] }).observe(0.5);
 * const text = await new Response(streamSnapshots(registry.collect(), "prometheus")).text();
 * if (text !== registry.render()) throw new Error(text);
 * const bytes = new Uint8Array(await new Response(streamSnapshots(registry.collect(), "protobuf")).arrayBuffer());
 * if (bytes.join() !== registry.render("protobuf").join()) throw new Error();
 * ```
 */
export function streamSnapshots(
  metrics: readonly MetricSnapshot[],
  format: Format,
  options: SnapshotRenderOptions = {},
): ReadableStream<Uint8Array> {
  const { escaping = DEFAULT_ESCAPING, sliceMs = 2 } = options;
  const renderer = format === "protobuf"
    ? new ProtobufRenderer(protobufFamilies(metrics), { escaping })
    : new SnapshotTextRenderer(metrics, format === "openmetrics", escaping);
  return streamChunks(renderer, sliceMs);
}

/**
 * @ignore @internal Renders snapshots whole, as a string in a text format.
 *
 * @param metrics The snapshot, metrics in the order to write them.
 * @param format `"prometheus"` (the text format 0.0.4) or `"openmetrics"`.
 * @param options Escaping of names.
 * @returns The exposition.
 *
 * @example
 * ```ts
 * import { Registry } from "../registry.ts";
 * import { renderSnapshots } from "./snapshot_stream.ts";
 *
 * const registry = new Registry({ selfMetrics: false });
 * registry.gauge({ name: "depth", help: "Depth", labelNames: ["queue"] }).set({ queue: "a" }, 3);
 * if (renderSnapshots(registry.collect(), "openmetrics") !== registry.render("openmetrics")) throw new Error();
 * ```
 */
export function renderSnapshots(
  metrics: readonly MetricSnapshot[],
  format: "prometheus" | "openmetrics" = "prometheus",
  options: Pick<SnapshotRenderOptions, "escaping"> = {},
): string {
  const renderer = new SnapshotTextRenderer(metrics, format === "openmetrics", options.escaping);
  const decoder = new TextDecoder();
  let out = "";
  // A chunk at a time, decoded as it comes: no second copy of the whole exposition in bytes.
  for (let chunks = renderer.next(CHUNK_BYTES); chunks !== undefined; chunks = renderer.next(CHUNK_BYTES)) {
    for (const chunk of chunks) out += decoder.decode(chunk, { stream: true });
  }
  return out + decoder.decode();
}

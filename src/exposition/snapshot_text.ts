/**
 * The text formats (Prometheus 0.0.4 and OpenMetrics 1.0) written from snapshots rather than
 * from a registry's store: for expositions assembled from other processes (a `node:cluster`
 * primary merging its workers). The output follows the registry's writer (`_renderer.ts`)
 * sample for sample, less what a snapshot does not carry (exemplars, `_created`): names and
 * label names escaped or quoted as the scraper asks, counter family names without `_total` in
 * OpenMetrics, no `_sum` and `_count` there for histograms that take negative values nor for
 * summaries with a negative sum, negative quantiles left out there, and the closing `# EOF`.
 *
 * Written a series at a time into 64 KiB chunks, so an exposition of any size streams.
 *
 * @module
 */

import type { MetricSnapshot, SeriesSnapshot } from "./snapshot.ts";
import { encodeLabels, escapeHelp, escapeLabelValue, isLegacyMetricName, quoteName } from "../labels.ts";
import { DEFAULT_ESCAPING, escapeLabelName, escapeMetricName, type EscapingScheme } from "./escaping.ts";
import { CHUNK_BYTES, formatValue } from "./_renderer.ts";

const encoder = new TextEncoder();

/** The names a metric's samples are written with, made once per metric. */
interface SampleNames {
  sample: string;
  bucket: string;
  sum: string;
  count: string;
  /** The names are quoted and go inside the braces (`{"a.b",x="y"}`). */
  inside: boolean;
  /** Whether `_sum` and `_count` are written (not in OpenMetrics for a histogram that takes negative values). */
  sumAndCount: boolean;
}

/** Whether a histogram's snapshot takes negative values: its lowest bucket bound is below 0, or it is native only. */
function takesNegatives(series: SeriesSnapshot | undefined): boolean {
  if (series === undefined) return false;
  const first = series.buckets[0];
  return series.buckets.length > 1 ? first!.le < 0 : series.native !== undefined;
}

/**
 * @ignore @internal Writes snapshots in a text format, a slice at a time: `next(budget)` writes at least `budget`
 * bytes (whole series) or what is left, and returns the chunks filled, or `undefined` once
 * everything was written.
 *
 * @example OpenMetrics from a snapshot
 * ```ts
 * import { Registry } from "../registry.ts";
 * import { SnapshotTextRenderer } from "./snapshot_text.ts";
 *
 * const registry = new Registry({ selfMetrics: false });
 * registry.counter({ name: "jobs_total", help: "Jobs" }).inc(2);
 * const renderer = new SnapshotTextRenderer(registry.collect(), true);
 * let text = "";
 * for (let chunks = renderer.next(65536); chunks !== undefined; chunks = renderer.next(65536)) {
 *   for (const chunk of chunks) text += new TextDecoder().decode(chunk);
 * }
 * if (text !== registry.render("openmetrics")) throw new Error(text);
 * ```
 */
export class SnapshotTextRenderer {
  private readonly metrics: readonly MetricSnapshot[];
  private readonly om: boolean;
  private readonly escaping: EscapingScheme;
  private metric = 0;
  private series = -1;
  private names: SampleNames | undefined;
  private readonly labelNames = new Map<string, string>();
  private chunk: Uint8Array = new Uint8Array(CHUNK_BYTES);
  private pos = 0;
  private out: Uint8Array[] = [];
  private finished = false;

  /** Total bytes handed out so far (for the caller's accounting). */
  written = 0;

  /**
   * @param metrics The metrics to write, in order.
   * @param om OpenMetrics 1.0 rather than the Prometheus text format 0.0.4.
   * @param escaping How names outside the legacy character set are written.
   */
  constructor(metrics: readonly MetricSnapshot[], om: boolean, escaping: EscapingScheme = DEFAULT_ESCAPING) {
    this.metrics = metrics;
    this.om = om;
    this.escaping = escaping;
  }

  /**
   * Writes at least `budget` bytes (whole series) into chunks and returns them; `undefined`
   * when everything has been written.
   */
  next(budget: number): Uint8Array[] | undefined {
    if (this.finished) return undefined;
    const start = this.written + this.pos;
    while (this.written + this.pos - start < budget) {
      if (!this.step()) {
        if (this.om) this.text("# EOF\n");
        this.finished = true;
        break;
      }
    }
    if (this.pos > 0) this.flush();
    const out = this.out;
    this.out = [];
    return out;
  }

  /** Writes a metric's header or its next series; false when there is nothing left. */
  private step(): boolean {
    for (;;) {
      const metric = this.metrics[this.metric];
      if (metric === undefined) return false;
      if (this.series < 0) {
        this.head(metric);
        this.series = 0;
        return true;
      }
      const series = metric.series[this.series++];
      if (series === undefined) {
        this.metric++;
        this.series = -1;
        continue;
      }
      this.text(this.lines(metric, series));
      return true;
    }
  }

  private head(metric: MetricSnapshot): void {
    const om = this.om;
    const legacy = isLegacyMetricName(metric.name);
    const inside = !legacy && this.escaping === "allow-utf-8";
    const name = legacy || inside ? metric.name : escapeMetricName(metric.name, this.escaping);
    const familyName = om && metric.type === "counter" && name.endsWith("_total") ? name.slice(0, -6) : name;
    const written = inside ? quoteName : (text: string) => text;
    let head = "";
    if (metric.help !== "") head += "# HELP " + written(familyName) + " " + escapeHelp(metric.help, om) + "\n";
    head += "# TYPE " + written(familyName) + " " + metric.type + "\n";
    if (om && metric.unit !== "") head += "# UNIT " + written(familyName) + " " + metric.unit + "\n";
    this.text(head);
    this.names = {
      sample: written(metric.type === "counter" && om ? familyName + "_total" : name),
      bucket: written(name + "_bucket"),
      sum: written(name + "_sum"),
      count: written(name + "_count"),
      inside,
      // As the registry's writer: OpenMetrics forbids _sum (and _count without it) in a
      // histogram that takes negative observations, decided by its definition.
      sumAndCount: !(om && metric.type === "histogram" && takesNegatives(metric.series[0])),
    };
  }

  /** A label name as written (escaped as the scraper asks, quoted when it must be), made once per name. */
  private labelName(name: string): string {
    let written = this.labelNames.get(name);
    if (written === undefined) {
      written = encodeLabels([this.escaping === "allow-utf-8" ? name : escapeLabelName(name, this.escaping)], [""])
        .slice(0, -3);
      this.labelNames.set(name, written);
    }
    return written;
  }

  /** The start of a sample line: its name and labels, and `extra` (`le`, `quantile`) last. */
  private start(name: string, labels: string, extra: string): string {
    const names = this.names!;
    if (names.inside) {
      let inner = name;
      if (labels !== "") inner += "," + labels;
      if (extra !== "") inner += "," + extra;
      return "{" + inner + "} ";
    }
    if (labels === "") return extra === "" ? name + " " : name + "{" + extra + "} ";
    return name + "{" + labels + (extra === "" ? "} " : "," + extra + "} ");
  }

  /** A series' sample lines. */
  private lines(metric: MetricSnapshot, series: SeriesSnapshot): string {
    const names = this.names!;
    const om = this.om;
    let labels = "";
    for (const name in series.labels) {
      if (labels !== "") labels += ",";
      labels += this.labelName(name) + '="' + escapeLabelValue(series.labels[name]!) + '"';
    }
    switch (metric.type) {
      case "counter":
      case "gauge":
        return this.start(names.sample, labels, "") + formatValue(series.value) + "\n";
      case "histogram": {
        let out = "";
        for (const bucket of series.buckets) {
          out += this.start(names.bucket, labels, 'le="' + formatValue(bucket.le) + '"') + formatValue(bucket.count) +
            "\n";
        }
        if (names.sumAndCount) {
          out += this.start(names.sum, labels, "") + formatValue(series.sum) + "\n";
          out += this.start(names.count, labels, "") + formatValue(series.count) + "\n";
        }
        return out;
      }
      case "summary": {
        let out = "";
        for (const q of series.quantiles) {
          // OpenMetrics summaries cannot carry negative values.
          if (om && q.value < 0) continue;
          out += this.start(names.sample, labels, 'quantile="' + formatValue(q.quantile) + '"') +
            formatValue(q.value) + "\n";
        }
        if (!om || series.sum >= 0) {
          out += this.start(names.sum, labels, "") + formatValue(series.sum) + "\n";
          out += this.start(names.count, labels, "") + formatValue(series.count) + "\n";
        }
        return out;
      }
    }
  }

  /** Writes text into the chunk, in a new chunk (as large as needed) when it does not fit. */
  private text(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    if (this.pos + text.length * 3 > this.chunk.length) {
      this.flush();
      if (text.length * 3 > this.chunk.length) this.chunk = new Uint8Array(text.length * 3);
    }
    this.pos += encoder.encodeInto(text, this.chunk.subarray(this.pos)).written;
  }

  /** Hands the filled part of the chunk out and starts a new one. */
  private flush(): void {
    if (this.pos === 0) return;
    this.out.push(this.chunk.subarray(0, this.pos));
    this.written += this.pos;
    this.chunk = new Uint8Array(CHUNK_BYTES);
    this.pos = 0;
  }
}

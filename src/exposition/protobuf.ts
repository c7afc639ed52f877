/**
 * Prometheus' protobuf exposition format: length-delimited `io.prometheus.client.MetricFamily`
 * messages (client_model's `metrics.proto`), the only format that carries native histograms.
 *
 * Written by hand for this one fixed schema, as client_golang writes it: every field it sets is
 * set here (proto2 presence: a zero value is written, not left out), repeated numbers unpacked,
 * counters named as registered (`jobs_total`), histograms and summaries by their family name,
 * the `+Inf` bucket only when it carries an exemplar (Prometheus adds it from the count), and an
 * empty native histogram with a zero threshold of 0 marked by one empty span.
 *
 * Streams with bounded memory: a metric's series go into a family buffer that is written out
 * as one `MetricFamily` message when the metric ends or the buffer passes 64 KiB; a metric with
 * more series than that is so written as several messages of the same name, each with its HELP
 * and TYPE, which Prometheus reads as one metric. Nested messages are written in place with a
 * one-byte length, moved up in the rare case the length needs more.
 *
 * @module
 */

import type { Family, SeriesBase, StoredExemplar } from "../_family.ts";
import { OVERFLOW_LABEL } from "../_family.ts";
import type { CounterSeries } from "../counter.ts";
import type { GaugeSeries } from "../gauge.ts";
import type { Histogram, HistogramSeries } from "../histogram.ts";
import type { Summary, SummarySeries } from "../summary.ts";
import { spansOf } from "../storage/native_buckets.ts";
import { CHUNK_BYTES } from "./_renderer.ts";
import { DEFAULT_ESCAPING, escapeLabelName, escapeMetricName, type EscapingScheme } from "./escaping.ts";

/** Options of {@linkcode ProtobufRenderer}. */
export interface ProtobufOptions {
  /** How names outside the legacy character set are written. @default "underscores" */
  escaping?: EscapingScheme;
  /** Whether counters, histograms and summaries carry `created_timestamp`. @default false */
  created?: boolean;
}

// Tags: field number << 3 | wire type (0 varint, 1 fixed64, 2 length-delimited).
const FAMILY_NAME = 0x0a;
const FAMILY_HELP = 0x12;
const FAMILY_TYPE = 0x18;
const FAMILY_METRIC = 0x22;
const FAMILY_UNIT = 0x2a;
const METRIC_LABEL = 0x0a;
const METRIC_GAUGE = 0x12;
const METRIC_COUNTER = 0x1a;
const METRIC_SUMMARY = 0x22;
const METRIC_HISTOGRAM = 0x3a;
const PAIR_NAME = 0x0a;
const PAIR_VALUE = 0x12;
const VALUE = 0x09; // Gauge.value, Counter.value, Quantile.quantile
const COUNTER_EXEMPLAR = 0x12;
const COUNTER_CREATED = 0x1a;
const SUMMARY_COUNT = 0x08;
const SUMMARY_SUM = 0x11;
const SUMMARY_QUANTILE = 0x1a;
const SUMMARY_CREATED = 0x22;
const QUANTILE_VALUE = 0x11;
const HISTOGRAM_COUNT = 0x08;
const HISTOGRAM_SUM = 0x11;
const HISTOGRAM_BUCKET = 0x1a;
const HISTOGRAM_SCHEMA = 0x28;
const HISTOGRAM_ZERO_THRESHOLD = 0x31;
const HISTOGRAM_ZERO_COUNT = 0x38;
const HISTOGRAM_NEGATIVE_SPAN = 0x4a;
const HISTOGRAM_NEGATIVE_DELTA = 0x50;
const HISTOGRAM_POSITIVE_SPAN = 0x62;
const HISTOGRAM_POSITIVE_DELTA = 0x68;
const HISTOGRAM_CREATED = 0x7a;
/** Histogram.exemplars, field 16: a two-byte tag. */
const HISTOGRAM_EXEMPLARS = [0x82, 0x01] as const;
const BUCKET_COUNT = 0x08;
const BUCKET_UPPER = 0x11;
const BUCKET_EXEMPLAR = 0x1a;
const SPAN_OFFSET = 0x08;
const SPAN_LENGTH = 0x10;
const EXEMPLAR_LABEL = 0x0a;
const EXEMPLAR_VALUE = 0x11;
const EXEMPLAR_TIMESTAMP = 0x1a;
const TIMESTAMP_SECONDS = 0x08;
const TIMESTAMP_NANOS = 0x10;

/** `MetricType` of metrics.proto. */
const TYPE_CODE = { counter: 0, gauge: 1, summary: 2, histogram: 4 } as const;

const encoder = new TextEncoder();

/** What a renderer makes once per metric. */
interface FamilyInfo {
  /** The `MetricFamily` fields before the metrics: name, help, type, unit. */
  head: Uint8Array;
  /** Each label's `LabelPair.name` field, tag and length included. */
  labelNames: Uint8Array[];
  /** The overflow series' one label name, as `labelNames` holds them. */
  overflowName: Uint8Array;
  /** The registry's default labels, as `Metric.label` fields, or empty. */
  defaults: Uint8Array;
}

/**
 * A growable byte buffer with protobuf's encodings: varints, zigzag, doubles, strings, and
 * nested messages written in place (`begin` reserves one length byte, `end` fills it in).
 */
class ProtoBuffer {
  bytes: Uint8Array;
  private view: DataView;
  pos = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  /** Room for `n` more bytes. */
  room(n: number): void {
    if (this.pos + n <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.pos + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.pos));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }

  byte(b: number): void {
    if (this.pos === this.bytes.length) this.room(1);
    this.bytes[this.pos++] = b;
  }

  write(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.bytes.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** A varint of a non-negative integer up to 2^53 (counts are doubles here). */
  varint(v: number): void {
    this.room(10);
    const bytes = this.bytes;
    let pos = this.pos;
    if (v < 0x80000000) {
      while (v > 0x7f) {
        bytes[pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
    } else {
      while (v > 0x7f) {
        bytes[pos++] = (v % 128) | 0x80;
        v = Math.floor(v / 128);
      }
    }
    bytes[pos++] = v;
    this.pos = pos;
  }

  /** A sint32 or sint64 (zigzag), exact up to ±2^52. */
  zigzag(v: number): void {
    this.varint(v >= 0 ? 2 * v : -2 * v - 1);
  }

  /** A double field. */
  double(tag: number, v: number): void {
    this.room(9);
    this.bytes[this.pos] = tag;
    this.view.setFloat64(this.pos + 1, v, true);
    this.pos += 9;
  }

  /** A string field; an ASCII string without a second pass. */
  string(tag: number, text: string): void {
    const n = text.length;
    this.room(2 + n * 3);
    this.bytes[this.pos++] = tag;
    const at = this.pos++;
    const bytes = this.bytes;
    let pos = at + 1;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) {
        pos = at + 1 + encoder.encodeInto(text, bytes.subarray(at + 1)).written;
        break;
      }
      bytes[pos++] = c;
    }
    this.pos = pos;
    this.end(at);
  }

  /** Starts a nested message field: the tag and one byte kept for its length. */
  begin(tag: number): number {
    this.room(2);
    this.bytes[this.pos++] = tag;
    return this.pos++;
  }

  /** Ends the message begun at `at`: its length in the byte kept, moving it up when longer. */
  end(at: number): void {
    const length = this.pos - at - 1;
    if (length < 0x80) {
      this.bytes[at] = length;
      return;
    }
    let size = 2;
    while (length >= 2 ** (7 * size)) size++;
    this.room(size - 1);
    this.bytes.copyWithin(at + size, at + 1, this.pos);
    const end = this.pos + size - 1;
    this.pos = at;
    this.varint(length);
    this.pos = end;
  }

  /** A `google.protobuf.Timestamp` field from milliseconds since the epoch. */
  timestamp(tag: number, ms: number): void {
    const at = this.begin(tag);
    const seconds = Math.floor(ms / 1000);
    const nanos = Math.min(999_999_999, Math.round((ms - seconds * 1000) * 1e6));
    this.byte(TIMESTAMP_SECONDS);
    this.varint(seconds);
    if (nanos !== 0) {
      this.byte(TIMESTAMP_NANOS);
      this.varint(nanos);
    }
    this.end(at);
  }
}

/** The bytes written into a small buffer by `write`. */
function bytesOf(write: (out: ProtoBuffer) => void): Uint8Array {
  const out = new ProtoBuffer(64);
  write(out);
  return out.bytes.slice(0, out.pos);
}

/** Reads a label set as the text formats encode it (`a="x",b="y\""`, names perhaps quoted). */
function decodeLabelText(text: string): [string, string][] {
  const pairs: [string, string][] = [];
  let at = 0;
  const quoted = (): string => {
    let out = "";
    at++; // the opening quote
    while (at < text.length && text[at] !== '"') {
      let c = text[at++]!;
      if (c === "\\") {
        const next = text[at++];
        c = next === "n" ? "\n" : next ?? "";
      }
      out += c;
    }
    at++; // the closing quote
    return out;
  };
  while (at < text.length) {
    let name: string;
    if (text[at] === '"') name = quoted();
    else {
      const equals = text.indexOf("=", at);
      name = text.slice(at, equals);
      at = equals;
    }
    at++; // =
    pairs.push([name, quoted()]);
    if (text[at] === ",") at++;
  }
  return pairs;
}

/** Encoded `Exemplar` messages (without tag and length), by the stored exemplar: each is immutable. */
const exemplarBytes = new WeakMap<StoredExemplar, Uint8Array>();

function encodeExemplarMessage(exemplar: StoredExemplar): Uint8Array {
  let bytes = exemplarBytes.get(exemplar);
  if (bytes !== undefined) return bytes;
  const out = new ProtoBuffer(64);
  for (const [name, value] of decodeLabelText(exemplar.labels)) {
    const at = out.begin(EXEMPLAR_LABEL);
    out.string(PAIR_NAME, name);
    out.string(PAIR_VALUE, value);
    out.end(at);
  }
  out.double(EXEMPLAR_VALUE, exemplar.value);
  out.timestamp(EXEMPLAR_TIMESTAMP, Math.round(exemplar.timestamp * 1000));
  bytes = out.bytes.slice(0, out.pos);
  exemplarBytes.set(exemplar, bytes);
  return bytes;
}

/**
 * Renders families as length-delimited `MetricFamily` messages, a slice at a time, as the text
 * renderer does: `next(budget)` writes at least `budget` bytes (or what is left) and returns the
 * chunks filled, or `undefined` once everything was written. A series is written whole, its
 * values read at once.
 *
 * @example Rendering a counter
 * ```ts
 * import { Registry } from "../../mod.ts";
 * import { ProtobufRenderer } from "./protobuf.ts";
 * const registry = new Registry({ selfMetrics: false });
 * registry.counter({ name: "jobs_total", help: "Jobs" }).inc(2);
 * const renderer = new ProtobufRenderer([registry.get("jobs_total")!]);
 * const [chunk] = renderer.next(Infinity)!;
 * // One message: its length, then the name field "jobs_total".
 * if (chunk![0] !== chunk!.length - 1 || new TextDecoder().decode(chunk!.subarray(3, 13)) !== "jobs_total") {
 *   throw new Error();
 * }
 * ```
 * @ignore @internal Behind `Registry.render("protobuf")` and the HTTP handler; not part of the API.
 */
export class ProtobufRenderer {
  private readonly families: readonly Family<SeriesBase>[];
  private readonly escaping: EscapingScheme;
  private readonly created: boolean;
  private family = 0;
  private series = -1;
  private list: readonly SeriesBase[] = [];
  private info: FamilyInfo | undefined;
  /** The current metric's series not yet written out, as `MetricFamily.metric` fields. */
  private readonly pending = new ProtoBuffer(CHUNK_BYTES * 2);
  private chunk: Uint8Array = new Uint8Array(CHUNK_BYTES);
  private pos = 0;
  private out: Uint8Array[] = [];
  private finished = false;

  /** Total bytes handed out so far (for the caller's accounting). */
  written = 0;

  /**
   * @param families The metrics to write, in order.
   * @param options Escaping of names and created timestamps.
   */
  constructor(families: readonly Family<SeriesBase>[], options: ProtobufOptions = {}) {
    this.families = families;
    this.escaping = options.escaping ?? DEFAULT_ESCAPING;
    this.created = options.created ?? false;
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
        this.finished = true;
        break;
      }
    }
    if (this.pos > 0) this.flush();
    const out = this.out;
    this.out = [];
    return out;
  }

  /** Writes the next series into the family buffer; false when there is nothing left. */
  private step(): boolean {
    for (;;) {
      const family = this.families[this.family];
      if (family === undefined) return false;
      if (this.series < 0) {
        this.info = this.familyInfo(family);
        this.list = family.visibleSeries();
        this.series = 0;
      }
      const series = this.list[this.series++];
      if (series === undefined) {
        this.emitFamily();
        this.family++;
        this.series = -1;
        continue;
      }
      // A series removed since the list was taken is left out.
      if (series.removed) continue;
      this.writeSeries(family, series);
      if (this.pending.pos >= CHUNK_BYTES) this.emitFamily();
      return true;
    }
  }

  private familyInfo(family: Family<SeriesBase>): FamilyInfo {
    const escaping = this.escaping;
    const head = bytesOf((out) => {
      out.string(FAMILY_NAME, escapeMetricName(family.name, escaping));
      if (family.help !== "") out.string(FAMILY_HELP, family.help);
      out.byte(FAMILY_TYPE);
      out.varint(TYPE_CODE[family.definition.type]);
      if (family.unit !== "") out.string(FAMILY_UNIT, family.unit);
    });
    const nameField = (name: string): Uint8Array => bytesOf((out) => out.string(PAIR_NAME, name));
    const defaults = family.defaultLabels();
    return {
      head,
      labelNames: family.labelNames.map((name) => nameField(escapeLabelName(name, escaping))),
      overflowName: nameField(OVERFLOW_LABEL),
      defaults: bytesOf((out) => {
        for (const [name, value] of defaults) {
          const at = out.begin(METRIC_LABEL);
          out.write(nameField(escapeLabelName(name, escaping)));
          out.string(PAIR_VALUE, value);
          out.end(at);
        }
      }),
    };
  }

  /** Writes the pending series as one `MetricFamily` message (none when there are none). */
  private emitFamily(): void {
    const pending = this.pending;
    if (pending.pos === 0) return;
    const head = this.info!.head;
    this.copy(bytesOf((out) => out.varint(head.length + pending.pos)));
    this.copy(head);
    this.copy(pending.bytes.subarray(0, pending.pos));
    pending.pos = 0;
  }

  private writeSeries(family: Family<SeriesBase>, series: SeriesBase): void {
    const out = this.pending;
    const info = this.info!;
    const metric = out.begin(FAMILY_METRIC);
    if (info.defaults.length > 0) out.write(info.defaults);
    if (series.overflow) {
      const at = out.begin(METRIC_LABEL);
      out.write(info.overflowName);
      out.string(PAIR_VALUE, "true");
      out.end(at);
    } else {
      const values = series.labelValues;
      for (let i = 0; i < values.length; i++) {
        const at = out.begin(METRIC_LABEL);
        out.write(info.labelNames[i]!);
        out.string(PAIR_VALUE, values[i]!);
        out.end(at);
      }
    }
    switch (family.definition.type) {
      case "counter": {
        const at = out.begin(METRIC_COUNTER);
        out.double(VALUE, series.slotSum(0));
        const exemplar = (series as CounterSeries).exemplar;
        if (exemplar !== undefined) this.exemplar(COUNTER_EXEMPLAR, exemplar);
        if (this.created) out.timestamp(COUNTER_CREATED, Math.round(series.created * 1000));
        out.end(at);
        break;
      }
      case "gauge": {
        const at = out.begin(METRIC_GAUGE);
        out.double(VALUE, (series as GaugeSeries).get());
        out.end(at);
        break;
      }
      case "summary": {
        const s = series as SummarySeries;
        const quantiles = (family as unknown as Summary).quantileList;
        const values = s.quantiles();
        const at = out.begin(METRIC_SUMMARY);
        out.byte(SUMMARY_COUNT);
        out.varint(s.count());
        out.double(SUMMARY_SUM, s.sum());
        for (let i = 0; i < values.length; i++) {
          const q = out.begin(SUMMARY_QUANTILE);
          out.double(VALUE, quantiles[i]!);
          out.double(QUANTILE_VALUE, values[i]!);
          out.end(q);
        }
        if (this.created) out.timestamp(SUMMARY_CREATED, Math.round(series.created * 1000));
        out.end(at);
        break;
      }
      case "histogram":
        this.histogram(family as unknown as Histogram, series as HistogramSeries);
        break;
    }
    out.end(metric);
  }

  private histogram(family: Histogram, series: HistogramSeries): void {
    const out = this.pending;
    const upper = family.upperBounds;
    const n = upper.length;
    const exemplars = series.bucketExemplars;
    const native = family.native === undefined ? undefined : series.native();
    const at = out.begin(METRIC_HISTOGRAM);
    let count = 0;
    const buckets = new Array<number>(n + 1);
    for (let i = 0; i <= n; i++) buckets[i] = count += series.slotSum(i);
    if (native !== undefined) {
      // Prometheus refuses a native histogram whose buckets hold more than its count: another
      // thread may have counted into a bucket between the two reads.
      let inBuckets = native.zeroCount;
      for (const c of native.positive.values()) inBuckets += c;
      for (const c of native.negative.values()) inBuckets += c;
      if (inBuckets > count) count = inBuckets;
    }
    out.byte(HISTOGRAM_COUNT);
    out.varint(count);
    out.double(HISTOGRAM_SUM, series.slotSum(n + 1));
    for (let i = 0; i <= n; i++) {
      const exemplar = exemplars?.[i];
      // The +Inf bucket is implied by the count; written only to carry its exemplar.
      if (i === n && exemplar === undefined) break;
      const bucket = out.begin(HISTOGRAM_BUCKET);
      out.byte(BUCKET_COUNT);
      out.varint(i === n ? count : buckets[i]!);
      out.double(BUCKET_UPPER, i === n ? Infinity : upper[i]!);
      if (exemplar !== undefined) this.exemplar(BUCKET_EXEMPLAR, exemplar);
      out.end(bucket);
    }
    if (native !== undefined) {
      out.byte(HISTOGRAM_SCHEMA);
      out.zigzag(native.schema);
      out.double(HISTOGRAM_ZERO_THRESHOLD, native.zeroThreshold);
      out.byte(HISTOGRAM_ZERO_COUNT);
      out.varint(native.zeroCount);
      this.sparse(HISTOGRAM_NEGATIVE_SPAN, HISTOGRAM_NEGATIVE_DELTA, native.negative);
      this.sparse(HISTOGRAM_POSITIVE_SPAN, HISTOGRAM_POSITIVE_DELTA, native.positive);
      // As client_golang: an empty native histogram with no zero bucket still shows it is one.
      if (native.zeroThreshold === 0 && native.zeroCount === 0 && native.positive.size + native.negative.size === 0) {
        const span = out.begin(HISTOGRAM_POSITIVE_SPAN);
        out.byte(SPAN_OFFSET);
        out.varint(0);
        out.byte(SPAN_LENGTH);
        out.varint(0);
        out.end(span);
      }
    }
    if (this.created) out.timestamp(HISTOGRAM_CREATED, Math.round(series.created * 1000));
    if (native !== undefined && series.nativeExemplars !== undefined) {
      for (const exemplar of series.nativeExemplars) {
        out.byte(HISTOGRAM_EXEMPLARS[0]);
        this.exemplar(HISTOGRAM_EXEMPLARS[1], exemplar);
      }
    }
    out.end(at);
  }

  /** Spans and deltas of one sign of a native histogram. */
  private sparse(spanTag: number, deltaTag: number, buckets: Map<number, number>): void {
    if (buckets.size === 0) return;
    const out = this.pending;
    const { spans, deltas } = spansOf(buckets);
    for (const [offset, length] of spans) {
      const span = out.begin(spanTag);
      out.byte(SPAN_OFFSET);
      out.zigzag(offset);
      out.byte(SPAN_LENGTH);
      out.varint(length);
      out.end(span);
    }
    for (const delta of deltas) {
      out.byte(deltaTag);
      out.zigzag(delta);
    }
  }

  private exemplar(tag: number, exemplar: StoredExemplar): void {
    const out = this.pending;
    const at = out.begin(tag);
    out.write(encodeExemplarMessage(exemplar));
    out.end(at);
  }

  // ---- the output chunks ------------------------------------------------------------------

  /** Copies bytes into the output, across chunks as needed (a message may straddle two). */
  private copy(bytes: Uint8Array): void {
    let from = 0;
    while (from < bytes.length) {
      if (this.pos === this.chunk.length) this.flush();
      const n = Math.min(bytes.length - from, this.chunk.length - this.pos);
      this.chunk.set(bytes.subarray(from, from + n), this.pos);
      this.pos += n;
      from += n;
    }
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

/**
 * Renders everything at once: the bytes `Registry.render("protobuf")` returns.
 *
 * @example
 * ```ts
 * import { Registry } from "../../mod.ts";
 * import { renderProtobuf } from "./protobuf.ts";
 * const registry = new Registry({ selfMetrics: false });
 * registry.gauge({ name: "depth", help: "" }).set(1);
 * const bytes = renderProtobuf([registry.get("depth")!]);
 * // length, name field (tag, length, "depth"), type GAUGE, then the metric.
 * if (bytes[0] !== bytes.length - 1 || bytes[8] !== 0x18 || bytes[9] !== 1) throw new Error();
 * ```
 * @ignore @internal Behind `Registry.render("protobuf")`; not part of the API.
 */
export function renderProtobuf(families: readonly Family<SeriesBase>[], options: ProtobufOptions = {}): Uint8Array {
  const renderer = new ProtobufRenderer(families, options);
  const chunks: Uint8Array[] = [];
  for (let next = renderer.next(Infinity); next !== undefined; next = renderer.next(Infinity)) chunks.push(...next);
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(renderer.written);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/**
 * The exposition writer behind both text formats (Prometheus 0.0.4 and OpenMetrics 1.0):
 * it writes UTF-8 bytes into reusable chunks, a bounded number at a time, so a scrape of any
 * size streams with bounded memory and lets the event loop run between slices.
 *
 * The formats differ in a few places, each marked `om`: counter family names, HELP
 * escaping, UNIT lines, exemplars, the `_sum` and `_count` of histograms with negative
 * buckets, negative summary values, `_created` samples (with created timestamps) and the
 * closing `# EOF`.
 *
 * Hot path of every scrape: a series' label set was encoded to UTF-8 once, when the series
 * was born (it lives in the store beside its label values), names and bucket labels once per
 * metric; per series the writer copies bytes and formats numbers, allocating nothing for
 * integers.
 *
 * Names outside the legacy character set (a registry with `names: "utf8"`): the label set is
 * stored in its quoted form (`"http.route"="/a"`), which a scraper that allows UTF-8 gets as
 * it is, the metric name quoted inside the braces. A scraper that asks for an escaping gets the
 * names escaped: metric names once per metric; the label set of a metric with such label names
 * encoded again per series from its values, the only path that allocates per series, and only
 * for those metrics and those scrapes. Legacy names are written as they are in every case.
 *
 * @module
 */

import type { Family, SeriesBase, StoredExemplar } from "../_family.ts";
import type { CounterSeries } from "../counter.ts";
import type { GaugeSeries } from "../gauge.ts";
import type { Histogram, HistogramSeries } from "../histogram.ts";
import type { Summary, SummarySeries } from "../summary.ts";
import { encodeLabels, escapeHelp, isLegacyLabelName, isLegacyMetricName, quoteName } from "../labels.ts";
import { DEFAULT_ESCAPING, escapeLabelName, escapeMetricName, type EscapingScheme } from "./escaping.ts";
import { ROW_TEXT, ROW_TEXT_LENGTH } from "../storage/store.ts";

/** Bytes of one output chunk. */
export const CHUNK_BYTES = 64 * 1024;

/** Formats a sample value: `+Inf`, `-Inf`, `NaN`, else JavaScript's shortest round-trip form. */
export function formatValue(value: number): string {
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

const encoder = new TextEncoder();

/** The bytes of an ASCII-or-not string. */
function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Per-metric bytes made once per renderer (names, HELP/TYPE/UNIT lines, bucket and quantile labels). */
interface FamilyBytes {
  head: Uint8Array;
  sample: Uint8Array;
  bucket: Uint8Array;
  sum: Uint8Array;
  count: Uint8Array;
  /** `le="…"` of each bucket, then `le="+Inf"`; or `quantile="…"` of each quantile. */
  extras: Uint8Array[];
  /** The sample names are quoted and go inside the braces (`{"a.b",x="y"}`). */
  inside: boolean;
  /** The registry's default labels, as label text (`a="x",b="y"`), or empty. */
  defaults: Uint8Array;
  /** Escaped label names, when the stored label text has quoted ones a scraper cannot read. */
  labelNames: readonly string[] | undefined;
  /** `<name>_created`, for OpenMetrics with created timestamps. */
  created: Uint8Array;
}

const NO_BYTES = new Uint8Array(0);
const OPEN = 0x7b; // {
const CLOSE = 0x7d; // }
const COMMA = 0x2c;
const SPACE = 0x20;
const NEWLINE = 0x0a;

/**
 * Renders families, a slice at a time: `next(budget)` writes at least `budget` bytes (or
 * what is left) and returns the chunks filled, or `undefined` once everything was written.
 * A series is written whole within one slice, its values read at once, so a histogram's
 * `+Inf` bucket always equals its `_count`.
 */
export class ByteRenderer {
  private readonly families: readonly Family<SeriesBase>[];
  private readonly om: boolean;
  private readonly escaping: EscapingScheme;
  /** OpenMetrics shows `_created` samples (the registry's `createdTimestamps`). */
  private readonly created: boolean;
  private family = 0;
  private series = -1;
  private list: readonly SeriesBase[] = [];
  private bytes: FamilyBytes | undefined;
  private chunk: Uint8Array = new Uint8Array(CHUNK_BYTES);
  private pos = 0;
  private out: Uint8Array[] = [];
  private finished = false;
  /** Label text of the current series: the store's label bytes and where they are. */
  private labelBytes: Uint8Array = new Uint8Array(0);
  private labelAt = 0;
  private labelLength = 0;

  /**
   * @param families The metrics to write, in order.
   * @param om OpenMetrics 1.0 rather than the Prometheus text format.
   * @param escaping How names outside the legacy character set are written.
   * @param created Whether OpenMetrics shows when each counter, histogram and summary series was
   * born or last reset (`_created`); the Prometheus text format never does.
   */
  constructor(
    families: readonly Family<SeriesBase>[],
    om: boolean,
    escaping: EscapingScheme = DEFAULT_ESCAPING,
    created = false,
  ) {
    this.families = families;
    this.om = om;
    this.escaping = escaping;
    this.created = om && created;
  }

  /** Total bytes handed out so far (for the caller's accounting). */
  written = 0;

  /**
   * Writes at least `budget` bytes (whole series) into chunks and returns them; `undefined`
   * when everything has been written.
   */
  next(budget: number): Uint8Array[] | undefined {
    if (this.finished) return undefined;
    const start = this.written + this.pos;
    while (this.written + this.pos - start < budget) {
      if (!this.step()) {
        if (this.om) this.ascii("# EOF\n");
        this.finished = true;
        break;
      }
    }
    if (this.pos > 0) this.flush();
    const out = this.out;
    this.out = [];
    return out;
  }

  /** Writes the next series (or a metric's header); false when there is nothing left. */
  private step(): boolean {
    for (;;) {
      const family = this.families[this.family];
      if (family === undefined) return false;
      if (this.series < 0) {
        this.bytes = this.familyBytes(family);
        this.write(this.bytes.head);
        this.list = family.visibleSeries();
        this.series = 0;
        return true;
      }
      const series = this.list[this.series++];
      if (series === undefined) {
        this.family++;
        this.series = -1;
        continue;
      }
      // A series removed since the list was taken is left out.
      if (series.removed) continue;
      this.writeSeries(family, series);
      return true;
    }
  }

  private familyBytes(family: Family<SeriesBase>): FamilyBytes {
    const om = this.om;
    const type = family.definition.type;
    const escaping = this.escaping;
    const legacy = isLegacyMetricName(family.name);
    const inside = !legacy && escaping === "allow-utf-8";
    // Escaped as client_golang does: the metric's name, then the suffixes of its samples.
    const name = legacy || inside ? family.name : escapeMetricName(family.name, escaping);
    const familyName = om && type === "counter" && name.endsWith("_total") ? name.slice(0, -6) : name;
    const written = inside ? quoteName : (text: string) => text;
    let head = "";
    if (family.help !== "") head += "# HELP " + written(familyName) + " " + escapeHelp(family.help, om) + "\n";
    head += "# TYPE " + written(familyName) + " " + type + "\n";
    if (om && family.unit !== "") head += "# UNIT " + written(familyName) + " " + family.unit + "\n";
    let extras: string[] = [];
    if (type === "histogram") {
      const upper = (family as unknown as Histogram).upperBounds;
      extras = [...upper].map((b) => 'le="' + formatValue(b) + '"');
      extras.push('le="+Inf"');
    } else if (type === "summary") {
      extras = (family as unknown as Summary).quantileList.map((q) => 'quantile="' + formatValue(q) + '"');
    }
    const labelNames = family.labelNames;
    const defaults = family.defaultLabels();
    const defaultNames = defaults.map(([label]) =>
      escaping === "allow-utf-8" || isLegacyLabelName(label) ? label : escapeLabelName(label, escaping)
    );
    return {
      head: utf8(head),
      defaults: defaults.length === 0 ? NO_BYTES : utf8(encodeLabels(defaultNames, defaults.map(([, v]) => v))),
      sample: utf8(written(type === "counter" && om ? familyName + "_total" : name)),
      bucket: utf8(written(name + "_bucket")),
      sum: utf8(written(name + "_sum")),
      count: utf8(written(name + "_count")),
      created: this.created ? utf8(written((type === "counter" ? familyName : name) + "_created")) : NO_BYTES,
      extras: extras.map(utf8),
      inside,
      labelNames: escaping === "allow-utf-8" || labelNames.every(isLegacyLabelName)
        ? undefined
        : labelNames.map((label) => escapeLabelName(label, escaping)),
    };
  }

  private writeSeries(family: Family<SeriesBase>, series: SeriesBase): void {
    const bytes = this.bytes!;
    const om = this.om;
    if (bytes.labelNames === undefined || series.overflow) {
      // Read in place: no object per series (a render of a million series makes no garbage here).
      const store = family.store;
      const row = store.row(series.id);
      const table = store.table;
      this.labelBytes = store.labelStore;
      this.labelAt = table[row + ROW_TEXT]!;
      this.labelLength = table[row + ROW_TEXT_LENGTH]!;
    } else {
      // The stored text quotes some label names; this scraper asked for them escaped.
      this.labelBytes = utf8(encodeLabels(bytes.labelNames, series.labelValues));
      this.labelAt = 0;
      this.labelLength = this.labelBytes.length;
    }
    switch (family.definition.type) {
      case "counter": {
        this.sampleStart(bytes.sample, undefined);
        this.value(series.slotSum(0));
        if (om) this.exemplar((series as CounterSeries).exemplar);
        this.byte(NEWLINE);
        if (this.created) this.createdSample(series);
        break;
      }
      case "gauge":
        this.sampleStart(bytes.sample, undefined);
        this.value((series as GaugeSeries).get());
        this.byte(NEWLINE);
        break;
      case "histogram": {
        const h = family as unknown as Histogram;
        const n = h.upperBounds.length;
        const exemplars = (series as HistogramSeries).bucketExemplars;
        let count = 0;
        for (let i = 0; i <= n; i++) {
          count += series.slotSum(i);
          this.sampleStart(bytes.bucket, bytes.extras[i]);
          this.value(count);
          if (om && exemplars !== undefined) this.exemplar(exemplars[i]);
          this.byte(NEWLINE);
        }
        // Decided by the definition, never by the values, so the series never flap:
        // OpenMetrics forbids _sum in a histogram that takes negative observations (and
        // _count without _sum), so such a histogram (its lowest bucket bound is negative)
        // shows neither there. Any other one refuses negative observations: its _sum is >= 0.
        if (!om || h.minimum === 0) {
          this.sampleStart(bytes.sum, undefined);
          this.value(series.slotSum(n + 1));
          this.byte(NEWLINE);
          this.sampleStart(bytes.count, undefined);
          this.value(count);
          this.byte(NEWLINE);
        }
        if (this.created) this.createdSample(series);
        break;
      }
      case "summary": {
        const s = series as SummarySeries;
        const values = s.quantiles();
        for (let i = 0; i < values.length; i++) {
          // OpenMetrics summaries cannot carry negative values: such quantiles are left out there.
          if (om && values[i]! < 0) continue;
          this.sampleStart(bytes.sample, bytes.extras[i]);
          this.value(values[i]!);
          this.byte(NEWLINE);
        }
        const sum = s.sum();
        if (!om || sum >= 0) {
          this.sampleStart(bytes.sum, undefined);
          this.value(sum);
          this.byte(NEWLINE);
          this.sampleStart(bytes.count, undefined);
          this.value(s.count());
          this.byte(NEWLINE);
        }
        if (this.created) this.createdSample(series);
        break;
      }
    }
  }

  /**
   * `name{defaults,labels,extra} ` (each part only when there is one; no braces when none);
   * a quoted name: `{"name",defaults,labels,extra} `.
   */
  private sampleStart(name: Uint8Array, extra: Uint8Array | undefined): void {
    const inside = this.bytes!.inside;
    const defaults = this.bytes!.defaults;
    const length = this.labelLength;
    let first = !inside;
    if (inside) {
      this.byte(OPEN);
      this.write(name);
    } else {
      this.write(name);
      if (defaults.length === 0 && length === 0 && extra === undefined) return this.byte(SPACE);
      this.byte(OPEN);
    }
    if (defaults.length > 0) {
      if (!first) this.byte(COMMA);
      this.write(defaults);
      first = false;
    }
    if (length > 0) {
      if (!first) this.byte(COMMA);
      this.copy(this.labelBytes, this.labelAt, length);
      first = false;
    }
    if (extra !== undefined) {
      if (!first) this.byte(COMMA);
      this.write(extra);
    }
    this.byte(CLOSE);
    this.byte(SPACE);
  }

  /** `<name>_created{labels} <seconds>`: when the series was born or last reset. */
  private createdSample(series: SeriesBase): void {
    this.sampleStart(this.bytes!.created, undefined);
    this.value(series.created);
    this.byte(NEWLINE);
  }

  private exemplar(exemplar: StoredExemplar | undefined): void {
    if (exemplar === undefined) return;
    this.ascii(" # {");
    this.text(exemplar.labels);
    this.ascii("} ");
    this.value(exemplar.value);
    this.byte(SPACE);
    this.ascii(exemplar.timestamp.toFixed(3));
  }

  /** Writes a sample value; integers without a string. */
  private value(v: number): void {
    // Small integers (most counts) in int32 arithmetic: no double division, no string.
    if ((v | 0) === v && v > 0) {
      this.room(11);
      const chunk = this.chunk;
      let digits = 1;
      for (let x = v; x >= 10; x = (x / 10) | 0) digits++;
      let at = this.pos + digits;
      this.pos = at;
      for (let x = v; x > 0; x = (x / 10) | 0) chunk[--at] = 0x30 + (x % 10);
      return;
    }
    if (Number.isInteger(v) && v >= 0 && v < 1e15 && !Object.is(v, -0)) {
      this.room(16);
      const chunk = this.chunk;
      if (v === 0) {
        chunk[this.pos++] = 0x30;
        return;
      }
      let digits = 0;
      for (let x = v; x >= 1; x = Math.floor(x / 10)) digits++;
      let at = this.pos + digits;
      this.pos = at;
      for (let x = v; x >= 1; x = Math.floor(x / 10)) chunk[--at] = 0x30 + (x % 10);
      return;
    }
    this.ascii(formatValue(v));
  }

  // ---- the chunk ------------------------------------------------------------------------

  private byte(b: number): void {
    if (this.pos === this.chunk.length) this.flush();
    this.chunk[this.pos++] = b;
  }

  /** Room for `n` more bytes in the current chunk (a new chunk when needed). */
  private room(n: number): void {
    if (this.pos + n > this.chunk.length) {
      this.flush();
      if (n > this.chunk.length) this.chunk = new Uint8Array(n);
    }
  }

  private write(bytes: Uint8Array): void {
    this.copy(bytes, 0, bytes.length);
  }

  private copy(bytes: Uint8Array, at: number, length: number): void {
    this.room(length);
    const chunk = this.chunk;
    let pos = this.pos;
    if (length <= 64) {
      // A short label set byte by byte: cheaper than the view `set` needs.
      for (let i = 0; i < length; i++) chunk[pos++] = bytes[at + i]!;
      this.pos = pos;
      return;
    }
    chunk.set(bytes.subarray(at, at + length), pos);
    this.pos = pos + length;
  }

  private ascii(text: string): void {
    this.room(text.length);
    const chunk = this.chunk;
    let pos = this.pos;
    for (let i = 0; i < text.length; i++) chunk[pos++] = text.charCodeAt(i);
    this.pos = pos;
  }

  private text(text: string): void {
    this.room(text.length * 3);
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

const decoder = new TextDecoder();

/** Renders everything at once and decodes it: the string `Registry.render()` returns. */
export function renderToString(
  families: readonly Family<SeriesBase>[],
  om: boolean,
  escaping: EscapingScheme = DEFAULT_ESCAPING,
  created = false,
): string {
  const renderer = new ByteRenderer(families, om, escaping, created);
  let out = "";
  // A chunk at a time, decoded as it comes: no second copy of the whole exposition in bytes.
  for (let chunks = renderer.next(CHUNK_BYTES); chunks !== undefined; chunks = renderer.next(CHUNK_BYTES)) {
    for (const chunk of chunks) out += decoder.decode(chunk, { stream: true });
  }
  return out + decoder.decode();
}

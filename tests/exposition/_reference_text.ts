/**
 * The string renderer the project had before the byte renderer, kept as the reference the
 * byte renderer must match byte for byte (tests/exposition/renderer.prop.test.ts).
 * They differ in a few places, each marked `om`: counter family names, HELP escaping,
 * UNIT lines, exemplars, the `_sum` and `_count` of histograms with negative buckets,
 * negative summary values and the closing `# EOF`.
 *
 * @module
 */

import type { Family, SeriesBase, StoredExemplar } from "../../src/_family.ts";
import type { CounterSeries } from "../../src/counter.ts";
import type { GaugeSeries } from "../../src/gauge.ts";
import type { Histogram, HistogramSeries } from "../../src/histogram.ts";
import type { Summary, SummarySeries } from "../../src/summary.ts";
import { escapeHelp } from "../../src/labels.ts";

/** Formats a sample value: `+Inf`, `-Inf`, `NaN`, else JavaScript's shortest round-trip form. */
export function formatValue(value: number): string {
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function exemplarText(exemplar: StoredExemplar | undefined): string {
  if (exemplar === undefined) return "";
  return " # {" + exemplar.labels + "} " + formatValue(exemplar.value) + " " + exemplar.timestamp.toFixed(3);
}

/** `{a="x",extra}` or `{extra}` or `` for no labels at all. */
function braces(encoded: string, extra: string): string {
  if (encoded === "") return extra === "" ? "" : "{" + extra + "}";
  return extra === "" ? "{" + encoded + "}" : "{" + encoded + "," + extra + "}";
}

/**
 * Renders families (sorted, already collected) as exposition text.
 * Hot path of every scrape: label sets were encoded when their series were born, so
 * this only reads values and concatenates (V8 joins the pieces as a rope, flattened once).
 *
 * Which samples of a histogram appear depends on its definition only, never on its
 * values, so none of its series comes and goes between scrapes: in OpenMetrics a
 * histogram whose lowest bucket bound is negative has no `_sum` nor `_count` (its `+Inf`
 * bucket is the count); any other histogram has both.
 */
export function renderText(families: readonly Family<SeriesBase>[], om: boolean): string {
  let out = "";
  for (const family of families) {
    const type = family.definition.type;
    const name = family.name;
    const familyName = om && type === "counter" && name.endsWith("_total") ? name.slice(0, -6) : name;
    if (family.help !== "") out += "# HELP " + familyName + " " + escapeHelp(family.help, om) + "\n";
    out += "# TYPE " + familyName + " " + type + "\n";
    if (om && family.unit !== "") out += "# UNIT " + familyName + " " + family.unit + "\n";
    const store = family.store;
    for (const series of family.visibleSeries()) {
      const labels = series.encoded;
      switch (type) {
        case "counter": {
          const value = formatValue(store.sumShards(series.offset));
          out += om
            ? familyName + "_total" + braces(labels, "") + " " + value +
              exemplarText((series as CounterSeries).exemplar) + "\n"
            : name + braces(labels, "") + " " + value + "\n";
          break;
        }
        case "gauge":
          out += name + braces(labels, "") + " " + formatValue((series as GaugeSeries).get()) + "\n";
          break;
        case "histogram": {
          const h = family as unknown as Histogram;
          const upper = h.upperBounds;
          const exemplars = (series as HistogramSeries).bucketExemplars;
          let count = 0;
          for (let i = 0; i <= upper.length; i++) {
            count += store.sumShards(series.offset + i);
            const le = i < upper.length ? formatValue(upper[i]!) : "+Inf";
            out += name + "_bucket" + braces(labels, 'le="' + le + '"') + " " + count;
            out += (om && exemplars !== undefined ? exemplarText(exemplars[i]) : "") + "\n";
          }
          // Decided by the definition, never by the values, so the series never flap:
          // OpenMetrics forbids _sum in a histogram that takes negative observations (and
          // _count without _sum), so such a histogram (its lowest bucket bound is negative)
          // shows neither there. Any other one refuses negative observations: its _sum is >= 0.
          if (!om || h.minimum === 0) {
            const sum = store.sumShards(series.offset + upper.length + 1);
            out += name + "_sum" + braces(labels, "") + " " + formatValue(sum) + "\n";
            out += name + "_count" + braces(labels, "") + " " + count + "\n";
          }
          break;
        }
        case "summary": {
          const s = series as SummarySeries;
          const quantiles = (family as unknown as Summary).quantileList;
          const values = s.quantiles();
          for (let i = 0; i < quantiles.length; i++) {
            // OpenMetrics summaries cannot carry negative values: such quantiles are left out there.
            if (om && values[i]! < 0) continue;
            out += name + braces(labels, 'quantile="' + formatValue(quantiles[i]!) + '"') + " " +
              formatValue(values[i]!) + "\n";
          }
          const sum = s.sum();
          if (!om || sum >= 0) {
            out += name + "_sum" + braces(labels, "") + " " + formatValue(sum) + "\n";
            out += name + "_count" + braces(labels, "") + " " + s.count() + "\n";
          }
          break;
        }
      }
    }
  }
  return om ? out + "# EOF\n" : out;
}

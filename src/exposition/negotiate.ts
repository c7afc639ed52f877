/**
 * Content negotiation for the metrics endpoint: which exposition format a
 * scraper asked for (`Accept`) and whether it takes gzip (`Accept-Encoding`).
 *
 * @module
 */

import type { Format } from "../registry.ts";

/** A content coding the metrics endpoint can answer with. */
export type ContentEncoding = "gzip" | "identity";

/** `Content-Type` of the Prometheus text format 0.0.4. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** `Content-Type` of OpenMetrics 1.0.0. */
export const OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";

interface MediaRange {
  type: string;
  subtype: string;
  params: Map<string, string>;
  q: number;
}

interface Offer {
  format: Format;
  type: string;
  subtype: string;
  version: string;
}

// Listed in order of preference when a client ranks both equally (`*/*`):
// the classic text format is the one every scraper reads.
const OFFERS: readonly Offer[] = [
  { format: "prometheus", type: "text", subtype: "plain", version: "0.0.4" },
  { format: "openmetrics", type: "application", subtype: "openmetrics-text", version: "1.0.0" },
];

function parseQuality(text: string): number {
  const q = Number(text);
  return Number.isFinite(q) && q >= 0 && q <= 1 ? q : 1;
}

function unquote(text: string): string {
  return text.length >= 2 && text.startsWith('"') && text.endsWith('"') ? text.slice(1, -1) : text;
}

function parseMediaRanges(accept: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const part of accept.split(",")) {
    const [mediaType = "", ...paramTexts] = part.split(";");
    const slash = mediaType.indexOf("/");
    if (slash <= 0) continue;
    const params = new Map<string, string>();
    let q = 1;
    for (const paramText of paramTexts) {
      const equals = paramText.indexOf("=");
      if (equals <= 0) continue;
      const key = paramText.slice(0, equals).trim().toLowerCase();
      const value = unquote(paramText.slice(equals + 1).trim());
      if (key === "q") q = parseQuality(value);
      else params.set(key, value);
    }
    ranges.push({
      type: mediaType.slice(0, slash).trim().toLowerCase(),
      subtype: mediaType.slice(slash + 1).trim().toLowerCase(),
      params,
      q,
    });
  }
  return ranges;
}

// RFC 9110 §12.5.1: the most specific range that matches an offer decides
// its quality; a range naming another version does not match it.
function specificity(range: MediaRange, offer: Offer): number {
  if (range.type === "*") return range.subtype === "*" ? 1 : -1;
  if (range.type !== offer.type) return -1;
  if (range.subtype === "*") return 2;
  if (range.subtype !== offer.subtype) return -1;
  const version = range.params.get("version");
  if (version === undefined) return 3;
  return version === offer.version ? 4 : -1;
}

function offerQuality(ranges: readonly MediaRange[], offer: Offer): number {
  let best = -1;
  let quality = 0;
  for (const range of ranges) {
    const score = specificity(range, offer);
    if (score > best) {
      best = score;
      quality = range.q;
    }
  }
  return quality;
}

/**
 * Picks the exposition format for an `Accept` header. OpenMetrics 1.0.0 is
 * chosen only when the client ranks it above the Prometheus text format
 * 0.0.4, as Prometheus' own header does
 * (`application/openmetrics-text;version=1.0.0,…,text/plain;version=0.0.4;q=0.5,*\/*;q=0.1`);
 * anything else, a missing header included, gets the text format.
 *
 * @param accept The request's `Accept` header, or `null` when absent.
 * @returns `"openmetrics"` or `"prometheus"`.
 *
 * @example Prometheus' scrape header selects OpenMetrics
 * ```ts
 * import { negotiateFormat } from "./negotiate.ts";
 *
 * const prometheus = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
 * if (negotiateFormat(prometheus) !== "openmetrics") throw new Error();
 * if (negotiateFormat("text/plain") !== "prometheus") throw new Error();
 * if (negotiateFormat(null) !== "prometheus") throw new Error();
 * ```
 */
export function negotiateFormat(accept: string | null): Format {
  if (accept === null || accept.trim() === "") return "prometheus";
  const ranges = parseMediaRanges(accept);
  let chosen: Format = "prometheus";
  let chosenQuality = 0;
  for (const offer of OFFERS) {
    const quality = offerQuality(ranges, offer);
    if (quality > chosenQuality) {
      chosen = offer.format;
      chosenQuality = quality;
    }
  }
  return chosen;
}

/**
 * Decides whether to gzip a response for an `Accept-Encoding` header:
 * `gzip` (or `x-gzip`, or `*` when gzip is not named) with a non-zero
 * q-value allows it; `gzip;q=0` forbids it.
 *
 * @param acceptEncoding The request's `Accept-Encoding` header, or `null`.
 * @returns `"gzip"` or `"identity"`.
 *
 * @example gzip unless refused with q=0
 * ```ts
 * import { negotiateEncoding } from "./negotiate.ts";
 *
 * if (negotiateEncoding("gzip, deflate") !== "gzip") throw new Error();
 * if (negotiateEncoding("gzip;q=0, *") !== "identity") throw new Error();
 * if (negotiateEncoding(null) !== "identity") throw new Error();
 * ```
 */
export function negotiateEncoding(acceptEncoding: string | null): ContentEncoding {
  if (acceptEncoding === null) return "identity";
  let gzipQuality: number | undefined;
  let wildcardQuality: number | undefined;
  for (const part of acceptEncoding.split(",")) {
    const [codingText = "", ...paramTexts] = part.split(";");
    const coding = codingText.trim().toLowerCase();
    let q = 1;
    for (const paramText of paramTexts) {
      const [key = "", value = ""] = paramText.split("=");
      if (key.trim().toLowerCase() === "q") q = parseQuality(value.trim());
    }
    if (coding === "gzip" || coding === "x-gzip") gzipQuality = Math.max(gzipQuality ?? 0, q);
    else if (coding === "*") wildcardQuality = q;
  }
  const quality = gzipQuality ?? wildcardQuality ?? 0;
  return quality > 0 ? "gzip" : "identity";
}

/**
 * Content negotiation for the metrics endpoint: which exposition format a
 * scraper asked for (`Accept`) and whether it takes gzip (`Accept-Encoding`).
 *
 * @module
 */

import type { Format } from "../registry.ts";

/** A content coding the metrics endpoint can answer with. */
export type ContentEncoding = "gzip" | "deflate" | "zstd" | "identity";

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

// RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * The weight of one header entry: 1 without a `q` parameter, its qvalue
 * otherwise, or `undefined` when a `q` parameter is not a qvalue (`q=-1`,
 * `q=abc`, `q=1.5`, `q=`, `q=0.1234`), which makes the whole entry ignored.
 */
function parseQuality(text: string): number | undefined {
  return QVALUE.test(text) ? Number(text) : undefined;
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
    let q: number | undefined = 1;
    for (const paramText of paramTexts) {
      const equals = paramText.indexOf("=");
      const key = (equals === -1 ? paramText : paramText.slice(0, equals)).trim().toLowerCase();
      const value = equals === -1 ? "" : paramText.slice(equals + 1).trim();
      if (key === "q") q = parseQuality(value);
      else if (key !== "" && equals !== -1) params.set(key, unquote(value));
    }
    if (q === undefined) continue;
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
 * anything else, a missing header included, gets the text format. A range
 * with `q=0` refuses its formats; when every format is refused the text
 * format is served anyway (RFC 9110 §12.5.1 lets a server disregard the
 * header rather than answer 406). A range whose q-value is not an RFC 9110
 * qvalue (`q=-1`, `q=abc`, `q=1.5`, `q=`, `q=0.1234`) is ignored.
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
 * Picks a content coding for an `Accept-Encoding` header (RFC 9110 §12.5.3) among those the
 * server can produce (`gzip` alone by default). The coding with the highest q-value wins;
 * a tie goes to the earlier one in `available` (gzip first: what scrapers ask for). A coding
 * not named takes the q-value of `*`. When none is acceptable the response goes without a
 * content coding, also when `identity;q=0` or `*;q=0` refuses that too, since the RFC has a
 * server send an uncoded response when none it can produce is acceptable. `x-gzip` counts as
 * `gzip`. An entry whose q-value is not an RFC 9110 qvalue (`q=-1`, `q=abc`, `q=1.5`, `q=`,
 * `q=0.1234`) is ignored.
 *
 * @param acceptEncoding The request's `Accept-Encoding` header, or `null`.
 * @param available The codings the server can produce, in order of preference.
 * @returns One of `available`, or `"identity"`.
 *
 * @example gzip unless refused with q=0
 * ```ts
 * import { negotiateEncoding } from "./negotiate.ts";
 *
 * if (negotiateEncoding("gzip, deflate") !== "gzip") throw new Error();
 * if (negotiateEncoding("gzip;q=0, *") !== "identity") throw new Error();
 * if (negotiateEncoding("identity;q=0, *") !== "gzip") throw new Error();
 * if (negotiateEncoding("gzip;q=abc") !== "identity") throw new Error();
 * if (negotiateEncoding(null) !== "identity") throw new Error();
 * if (negotiateEncoding("zstd, gzip;q=0.5", ["gzip", "zstd"]) !== "zstd") throw new Error();
 * ```
 */
export function negotiateEncoding(
  acceptEncoding: string | null,
  available: readonly ContentEncoding[] = ["gzip"],
): ContentEncoding {
  if (acceptEncoding === null) return "identity";
  const named = new Map<string, number>();
  let wildcardQuality: number | undefined;
  for (const part of acceptEncoding.split(",")) {
    const [codingText = "", ...paramTexts] = part.split(";");
    let coding = codingText.trim().toLowerCase();
    if (coding === "x-gzip") coding = "gzip";
    let q: number | undefined = 1;
    for (const paramText of paramTexts) {
      const equals = paramText.indexOf("=");
      const key = (equals === -1 ? paramText : paramText.slice(0, equals)).trim().toLowerCase();
      if (key === "q") q = parseQuality(equals === -1 ? "" : paramText.slice(equals + 1).trim());
    }
    if (q === undefined) continue;
    if (coding === "*") wildcardQuality = Math.max(wildcardQuality ?? 0, q);
    else named.set(coding, Math.max(named.get(coding) ?? 0, q));
  }
  let chosen: ContentEncoding = "identity";
  let best = 0;
  for (const coding of available) {
    if (coding === "identity") continue;
    const quality = named.get(coding) ?? wildcardQuality ?? 0;
    if (quality > best) {
      best = quality;
      chosen = coding;
    }
  }
  return chosen;
}

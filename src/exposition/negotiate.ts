/**
 * Content negotiation for the metrics endpoint: which exposition format a
 * scraper asked for (`Accept`) and whether it takes gzip (`Accept-Encoding`).
 *
 * @module
 */

import type { Format } from "../registry.ts";
import { DEFAULT_ESCAPING, type EscapingScheme, isEscapingScheme } from "./escaping.ts";

/** A content coding the metrics endpoint can answer with. */
export type ContentEncoding = "gzip" | "deflate" | "zstd" | "identity";

/** `Content-Type` of the Prometheus text format 0.0.4. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** `Content-Type` of OpenMetrics 1.0.0. */
export const OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/**
 * @ignore @internal The text format a `setContentType(contentType)` chooses, or a RangeError
 * naming `owner`'s method and the value.
 */
export function textFormatOf(owner: string, contentType: unknown): "prometheus" | "openmetrics" {
  if (contentType === PROMETHEUS_CONTENT_TYPE) return "prometheus";
  if (contentType === OPENMETRICS_CONTENT_TYPE) return "openmetrics";
  throw new RangeError(
    `${owner}.setContentType() takes ${JSON.stringify(PROMETHEUS_CONTENT_TYPE)} (Registry.PROMETHEUS_CONTENT_TYPE) or ${
      JSON.stringify(OPENMETRICS_CONTENT_TYPE)
    } (Registry.OPENMETRICS_CONTENT_TYPE), got ${JSON.stringify(contentType)}`,
  );
}

/**
 * `Content-Type` of Prometheus' protobuf format: length-delimited
 * `io.prometheus.client.MetricFamily` messages, written as client_golang writes it.
 */
export const PROTOBUF_CONTENT_TYPE =
  "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/** @ignore @internal The formats a source that only renders text offers: every format but protobuf. */
export const TEXT_FORMATS: readonly Format[] = ["prometheus", "openmetrics"];

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
  // The same text with names outside the legacy character set quoted (Prometheus 3).
  { format: "prometheus", type: "text", subtype: "plain", version: "1.0.0" },
  { format: "openmetrics", type: "application", subtype: "openmetrics-text", version: "1.0.0" },
  // Last, so it is chosen only when ranked above both text formats (as Prometheus with native
  // histograms ranks it), and only by its own range: see `specificity`.
  { format: "protobuf", type: "application", subtype: "vnd.google.protobuf", version: "" },
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
// its quality; a range naming another version does not match it. Protobuf is
// matched only by its own range naming the message and the delimited encoding,
// as client_golang does: a wildcard never sends binary to a text scraper.
function specificity(range: MediaRange, offer: Offer): number {
  if (offer.format === "protobuf") {
    return range.type === offer.type && range.subtype === offer.subtype &&
        range.params.get("proto") === "io.prometheus.client.MetricFamily" &&
        range.params.get("encoding") === "delimited"
      ? 4
      : -1;
  }
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
 * the protobuf format only when the client names it
 * (`application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited`)
 * and ranks it above both, as Prometheus does with native histograms enabled;
 * anything else, a missing header included, gets the text format. A range
 * with `q=0` refuses its formats; when every format is refused the text
 * format is served anyway (RFC 9110 §12.5.1 lets a server disregard the
 * header rather than answer 406). A range whose q-value is not an RFC 9110
 * qvalue (`q=-1`, `q=abc`, `q=1.5`, `q=`, `q=0.1234`) is ignored.
 *
 * @param accept The request's `Accept` header, or `null` when absent.
 * @param formats The formats on offer (all by default; `["prometheus", "openmetrics"]` for a
 * source that cannot write protobuf).
 * @returns `"openmetrics"`, `"protobuf"` or `"prometheus"`.
 *
 * @example Prometheus' scrape header selects OpenMetrics
 * ```ts
 * import { negotiateFormat } from "@atomic/metrics";
 *
 * const prometheus = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
 * if (negotiateFormat(prometheus) !== "openmetrics") throw new Error();
 * if (negotiateFormat("text/plain") !== "prometheus") throw new Error();
 * if (negotiateFormat(null) !== "prometheus") throw new Error();
 * ```
 *
 * @example Prometheus with native histograms asks for protobuf first
 * ```ts
 * import { negotiateFormat } from "@atomic/metrics";
 *
 * const accept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited," +
 *   "application/openmetrics-text;version=1.0.0;q=0.8,text/plain;version=0.0.4;q=0.5,*\/*;q=0.1";
 * if (negotiateFormat(accept) !== "protobuf") throw new Error();
 * if (negotiateFormat(accept, ["prometheus", "openmetrics"]) !== "openmetrics") throw new Error();
 * if (negotiateFormat("application/*") !== "openmetrics") throw new Error();
 * ```
 */
export function negotiateFormat(accept: string | null, formats?: readonly Format[]): Format {
  if (accept === null || accept.trim() === "") return "prometheus";
  const ranges = parseMediaRanges(accept);
  let chosen: Format = "prometheus";
  let chosenQuality = 0;
  for (const offer of OFFERS) {
    if (formats !== undefined && !formats.includes(offer.format)) continue;
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
 * import { negotiateEncoding } from "@atomic/metrics";
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

/** What a scraper's `Accept` asks of the names in the chosen format. */
export interface NameNegotiation {
  /** The version of the format to state: `"0.0.4"` or `"1.0.0"` for the Prometheus text format. */
  version: string;
  /** How names outside the legacy character set are written. */
  escaping: EscapingScheme;
  /**
   * Whether `Content-Type` states the escaping: when the scraper named a scheme, and always for
   * the text format 1.0.0, as Prometheus' content negotiation requires. Without either, the
   * header stays what scrapers before Prometheus 3 got.
   */
  stated: boolean;
}

/**
 * Reads from an `Accept` header the version and the name escaping the scraper asks of a format
 * already chosen (by {@linkcode negotiateFormat} or by configuration): the version and the
 * `escaping` parameter of the range that decides that format's quality (RFC 9110 §12.5.1, the
 * most specific one). An unknown scheme is ignored, as client_golang does; without one, names
 * are escaped with `underscores`. The text format 1.0.0 is chosen only when asked for by version.
 *
 * @param accept The request's `Accept` header, or `null`.
 * @param format The format the response will have.
 * @returns The version, the escaping, and whether `Content-Type` states it.
 *
 * @example Prometheus 3's scrape header
 * ```ts
 * import { negotiateNames } from "@atomic/metrics";
 *
 * const accept = "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2";
 * const names = negotiateNames(accept, "prometheus");
 * if (names.version !== "1.0.0" || names.escaping !== "allow-utf-8" || !names.stated) throw new Error();
 * if (negotiateNames("text/plain", "prometheus").escaping !== "underscores") throw new Error();
 * ```
 */
export function negotiateNames(accept: string | null, format: Format): NameNegotiation {
  const ranges = accept === null ? [] : parseMediaRanges(accept);
  let chosen: Offer | undefined;
  let chosenQuality = 0;
  let deciding: MediaRange | undefined;
  for (const offer of OFFERS) {
    if (offer.format !== format) continue;
    chosen ??= offer;
    let best = -1;
    let quality = 0;
    let range: MediaRange | undefined;
    for (const candidate of ranges) {
      const score = specificity(candidate, offer);
      if (score > best) {
        best = score;
        quality = candidate.q;
        range = candidate;
      }
    }
    if (quality > chosenQuality) {
      chosen = offer;
      chosenQuality = quality;
      deciding = range;
    }
  }
  const asked = deciding?.params.get("escaping");
  const named = isEscapingScheme(asked);
  const version = chosen?.version ?? "";
  return {
    version,
    escaping: named ? asked : DEFAULT_ESCAPING,
    stated: named || (format === "prometheus" && version !== "0.0.4"),
  };
}

/**
 * The `Content-Type` of a response whose names were negotiated: the text format's version when
 * it is not 0.0.4, then `escaping=…` when stated
 * (`text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8`).
 *
 * @param contentType The format's `Content-Type` without names negotiated.
 * @param names What {@linkcode negotiateNames} returned.
 * @returns The header value.
 *
 * @example
 * ```ts
 * import { contentTypeWithNames, PROMETHEUS_CONTENT_TYPE } from "@atomic/metrics";
 *
 * const type = contentTypeWithNames(PROMETHEUS_CONTENT_TYPE, { version: "1.0.0", escaping: "underscores", stated: true });
 * if (type !== "text/plain; version=1.0.0; charset=utf-8; escaping=underscores") throw new Error(type);
 * ```
 */
export function contentTypeWithNames(contentType: string, names: NameNegotiation): string {
  const type = contentType === PROMETHEUS_CONTENT_TYPE && names.version !== "0.0.4"
    ? `text/plain; version=${names.version}; charset=utf-8`
    : contentType;
  return names.stated ? `${type}; escaping=${names.escaping}` : type;
}

/**
 * The escaping schemes of Prometheus 3 for metric and label names outside the legacy character
 * set (`[a-zA-Z_:][a-zA-Z0-9_:]*`), as the `escaping` parameter of `Accept` and `Content-Type`
 * names them: `allow-utf-8` writes such names quoted; `underscores`, `dots` and `values` turn
 * them into legacy names by the algorithms of Prometheus' `model.EscapeName`
 * (github.com/prometheus/common). A name that already is a legacy name is written as it is,
 * whatever the scheme, as Prometheus' `model.EscapeMetricFamily` does.
 *
 * @module
 */

/** How names outside the legacy character set are written: quoted (`allow-utf-8`) or escaped. */
export type EscapingScheme = "allow-utf-8" | "underscores" | "dots" | "values";

/** Every escaping scheme, as the `escaping` parameter spells it. */
export const ESCAPING_SCHEMES: readonly EscapingScheme[] = ["allow-utf-8", "underscores", "dots", "values"];

/** The scheme a scraper gets when its `Accept` names none, as in Prometheus. */
export const DEFAULT_ESCAPING: EscapingScheme = "underscores";

/**
 * Whether `value` is the name of an escaping scheme.
 *
 * @example
 * ```ts
 * import { isEscapingScheme } from "@atomic/metrics";
 * if (!isEscapingScheme("allow-utf-8") || isEscapingScheme("utf8")) throw new Error();
 * ```
 */
export function isEscapingScheme(value: unknown): value is EscapingScheme {
  return typeof value === "string" && (ESCAPING_SCHEMES as readonly string[]).includes(value);
}

const LEGACY_METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LEGACY_LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Whether a code point is in the legacy set at position `index`: a letter, `_`, a digit after
 * the first position, and `:` in metric names (label names never had it).
 */
function isLegacyCodePoint(c: number, index: number, colon: boolean): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || (colon && c === 0x3a) ||
    (c >= 0x30 && c <= 0x39 && index > 0);
}

function escape(name: string, scheme: EscapingScheme, colon: boolean): string {
  if (name === "" || scheme === "allow-utf-8" || (colon ? LEGACY_METRIC_NAME : LEGACY_LABEL_NAME).test(name)) {
    return name;
  }
  let out = scheme === "values" ? "U__" : "";
  let index = 0;
  for (const char of name) {
    const c = char.codePointAt(0)!;
    if (scheme === "underscores") out += isLegacyCodePoint(c, index, colon) ? char : "_";
    else if (c === 0x5f) out += "__";
    else if (scheme === "dots" && c === 0x2e) out += "_dot_";
    else if (isLegacyCodePoint(c, index, colon)) out += char;
    else if (scheme === "dots") out += "__";
    // A lone surrogate is no Unicode scalar value; Prometheus writes U+FFFD for an invalid rune.
    else if (c >= 0xd800 && c <= 0xdfff) out += "_FFFD_";
    else out += "_" + c.toString(16) + "_";
    index++;
  }
  return out;
}

/**
 * Escapes a metric name by a scheme, as Prometheus' `model.EscapeName` does:
 * - `underscores`: every character outside the legacy set becomes `_`
 *   (`metric.name/with/slashes` → `metric_name_with_slashes`);
 * - `dots`: `.` becomes `_dot_`, `_` becomes `__`, any other character outside the legacy set
 *   `__` (`metric.name.with.dots` → `metric_dot_name_dot_with_dot_dots`);
 * - `values`: `U__`, then `_` becomes `__` and any other character outside the legacy set its
 *   code point in lower-case hexadecimal between underscores (`metric.name` → `U__metric_2e_name`);
 * - `allow-utf-8`: the name as it is (the text formats then quote it).
 *
 * A digit is outside the legacy set in the first position. A legacy name comes back unchanged
 * in every scheme.
 *
 * @param name The metric name (any UTF-8).
 * @param scheme The escaping scheme.
 * @returns The name to write.
 *
 * @example Escaping an OpenTelemetry name
 * ```ts
 * import { escapeMetricName } from "@atomic/metrics";
 *
 * const name = "http.server.request.duration";
 * if (escapeMetricName(name, "underscores") !== "http_server_request_duration") throw new Error();
 * if (escapeMetricName(name, "dots") !== "http_dot_server_dot_request_dot_duration") throw new Error();
 * if (escapeMetricName("metric.name", "values") !== "U__metric_2e_name") throw new Error();
 * if (escapeMetricName("jobs_total", "dots") !== "jobs_total") throw new Error();
 * ```
 */
export function escapeMetricName(name: string, scheme: EscapingScheme): string {
  return escape(name, scheme, true);
}

/**
 * Escapes a label name by a scheme: the algorithms of {@linkcode escapeMetricName} with the
 * legacy set of label names, which has no `:` (so `a:b` becomes `a_b` under `underscores`,
 * which the text formats can read, where `model.EscapeName` would leave it).
 *
 * @param name The label name (any UTF-8).
 * @param scheme The escaping scheme.
 * @returns The label name to write.
 *
 * @example
 * ```ts
 * import { escapeLabelName } from "@atomic/metrics";
 *
 * if (escapeLabelName("http.route", "underscores") !== "http_route") throw new Error();
 * if (escapeLabelName("a:b", "values") !== "U__a_3a_b") throw new Error();
 * ```
 */
export function escapeLabelName(name: string, scheme: EscapingScheme): string {
  return escape(name, scheme, false);
}

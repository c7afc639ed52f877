/**
 * Names, label sets and their text encoding. A series' label set is validated and
 * encoded once, when the series is born; renders reuse the encoded string.
 *
 * @module
 */

/** A label set: label name to label value. */
export type Labels<Name extends string = string> = { readonly [K in Name]: string };

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * How a registry checks metric and label names: `"legacy"`, Prometheus' character set before
 * version 3 (`[a-zA-Z_:][a-zA-Z0-9_:]*`), or `"utf8"`, any non-empty well-formed Unicode string
 * (Prometheus 3, OpenTelemetry's `http.server.request.duration`).
 */
export type NameValidation = "legacy" | "utf8";

/**
 * Whether `name` is a valid metric name: by default (`"legacy"`) `[a-zA-Z_:][a-zA-Z0-9_:]*`;
 * with `"utf8"`, any non-empty string of well-formed Unicode (no lone surrogate), which UTF-8
 * can carry.
 *
 * @param name The name to check.
 * @param validation `"legacy"` or `"utf8"`.
 * @default validation "legacy"
 *
 * @example Checking names
 * ```ts
 * import { isValidMetricName } from "@atomic/metrics";
 * if (!isValidMetricName("http_requests_total") || isValidMetricName("2xx")) throw new Error();
 * if (isValidMetricName("http.server.request.duration")) throw new Error();
 * if (!isValidMetricName("http.server.request.duration", "utf8") || isValidMetricName("", "utf8")) throw new Error();
 * ```
 */
export function isValidMetricName(name: string, validation: NameValidation = "legacy"): boolean {
  if (typeof name !== "string") return false;
  return validation === "utf8" ? name !== "" && isWellFormed(name) : METRIC_NAME.test(name);
}

/**
 * Whether `name` is a valid label name: by default (`"legacy"`) `[a-zA-Z_][a-zA-Z0-9_]*`; with
 * `"utf8"`, any non-empty string of well-formed Unicode. Never one starting with `__` (reserved
 * for Prometheus' own use).
 *
 * @param name The label name to check.
 * @param validation `"legacy"` or `"utf8"`.
 * @default validation "legacy"
 *
 * @example Checking names
 * ```ts
 * import { isValidLabelName } from "@atomic/metrics";
 * if (!isValidLabelName("method") || isValidLabelName("__name__")) throw new Error();
 * if (isValidLabelName("http.route") || !isValidLabelName("http.route", "utf8")) throw new Error();
 * if (isValidLabelName("__route", "utf8")) throw new Error();
 * ```
 */
export function isValidLabelName(name: string, validation: NameValidation = "legacy"): boolean {
  if (typeof name !== "string" || name.startsWith("__")) return false;
  return validation === "utf8" ? name !== "" && isWellFormed(name) : LABEL_NAME.test(name);
}

/**
 * Whether the text formats write a metric name bare: it is in the legacy character set.
 *
 * @example
 * ```ts
 * import { isLegacyMetricName } from "./labels.ts";
 * if (!isLegacyMetricName("a:b_total") || isLegacyMetricName("a.b")) throw new Error();
 * ```
 * @ignore @internal Used by the renderers; not part of the API.
 */
export function isLegacyMetricName(name: string): boolean {
  return METRIC_NAME.test(name);
}

/**
 * Whether the text formats write a label name bare: it is in the legacy character set of label
 * names, which has no `:`.
 *
 * @example
 * ```ts
 * import { isLegacyLabelName } from "./labels.ts";
 * if (!isLegacyLabelName("route") || isLegacyLabelName("a:b")) throw new Error();
 * ```
 * @ignore @internal Used by the renderers; not part of the API.
 */
export function isLegacyLabelName(name: string): boolean {
  return LABEL_NAME.test(name);
}

/**
 * A name as the text formats quote it since Prometheus 3: in double quotes, with backslash,
 * double quote and line feed escaped as in label values.
 *
 * @example
 * ```ts
 * import { quoteName } from "./labels.ts";
 * if (quoteName('http.route"') !== '"http.route\\""') throw new Error();
 * ```
 * @ignore @internal Used by the renderers; not part of the API.
 */
export function quoteName(name: string): string {
  return '"' + escapeLabelValue(name) + '"';
}

const needsEscape = /[\\"\n]/;

/**
 * Escapes a label value for the text formats: backslash, double quote and line feed.
 *
 * @example
 * ```ts
 * import { escapeLabelValue } from "@atomic/metrics";
 * if (escapeLabelValue('a"b\n') !== 'a\\"b\\n') throw new Error();
 * ```
 */
export function escapeLabelValue(value: string): string {
  if (!needsEscape.test(value)) return value;
  return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : "\\" + c));
}

/**
 * Escapes HELP text. Prometheus 0.0.4 escapes backslash and line feed; OpenMetrics
 * also escapes the double quote.
 *
 * @example
 * ```ts
 * import { escapeHelp } from "@atomic/metrics";
 * if (escapeHelp('a\\b"', true) !== 'a\\\\b\\"') throw new Error();
 * ```
 */
export function escapeHelp(help: string, openMetrics: boolean): string {
  return help.replace(openMetrics ? /[\\"\n]/g : /[\\\n]/g, (c) => (c === "\n" ? "\\n" : "\\" + c));
}

/**
 * Encodes label pairs as the inside of a text-format label set: `a="x",b="y"`. A label name
 * outside the legacy character set (a registry with `names: "utf8"`) is quoted, as Prometheus 3
 * reads it: `"http.route"="/a"`.
 *
 * @example
 * ```ts
 * import { encodeLabels } from "./labels.ts";
 * if (encodeLabels(["a", "b"], ["x", 'y"']) !== 'a="x",b="y\\""') throw new Error();
 * if (encodeLabels(["http.route"], ["/a"]) !== '"http.route"="/a"') throw new Error();
 * ```
 * @ignore @internal Used by the registry and the renderers; not part of the API.
 */
export function encodeLabels(names: readonly string[], values: readonly string[]): string {
  let out = "";
  for (let i = 0; i < names.length; i++) {
    if (i > 0) out += ",";
    const name = names[i]!;
    out += (LABEL_NAME.test(name) ? name : quoteName(name)) + '="' + escapeLabelValue(values[i]!) + '"';
  }
  return out;
}

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether a string is well-formed Unicode (no lone surrogates), so it survives UTF-8. */
export function isWellFormed(value: string): boolean {
  // The runtime's own check where there is one (Node 20, Deno, Bun): no regular expression run.
  return nativeWellFormed ? (value as unknown as WellFormed).isWellFormed() : !loneSurrogate.test(value);
}

interface WellFormed {
  isWellFormed(): boolean;
}
const nativeWellFormed = typeof (String.prototype as Partial<WellFormed>).isWellFormed === "function";

/**
 * The longest label value a series takes, in UTF-16 code units (JavaScript's `length`).
 * A longer value is refused with an error naming the metric and the label, so no request
 * path or user input can grow the registry's definitions without bound.
 */
export const MAX_LABEL_VALUE_LENGTH = 1024;

/**
 * Checks a label set against a metric's label names and returns the values in
 * label-name order. Numbers and booleans are accepted and turned into strings.
 * Only the object's own properties count: a label named `constructor` that is not set
 * is missing, not the inherited function.
 *
 * @throws {TypeError} when `labels` is not an object or a value is not a string, number or boolean.
 * @throws {Error} naming the metric and the unknown, missing, too long or malformed label.
 */
export function labelValuesOf(
  what: string,
  labelNames: readonly string[],
  labels: unknown,
): string[] {
  if (labels === null || typeof labels !== "object" || Array.isArray(labels)) {
    const got = labels === null ? "null" : Array.isArray(labels) ? "an array" : typeof labels;
    throw new TypeError(`${what} expects a labels object, got ${got}`);
  }
  const record = labels as Record<string, unknown>;
  // for-in with an own-property test, not Object.keys: no array made for every new series.
  for (const key in record) {
    if (!Object.hasOwn(record, key)) continue;
    if (!labelNames.includes(key)) {
      throw new Error(
        `${what} has no label ${JSON.stringify(key)}; its labels are: ${
          labelNames.length ? labelNames.join(", ") : "(none)"
        }`,
      );
    }
  }
  // Sized once: an array grown by push keeps a larger backing store for the life of the series.
  const values: string[] = new Array(labelNames.length);
  let at = 0;
  for (const name of labelNames) {
    const value = Object.hasOwn(record, name) ? record[name] : undefined;
    if (value === undefined) throw new Error(`${what} is missing label "${name}"`);
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      throw new TypeError(
        `${what} label "${name}" must be a string, got ${value === null ? "null" : typeof value}`,
      );
    }
    const text = String(value);
    if (text.length > MAX_LABEL_VALUE_LENGTH) {
      throw new Error(
        `${what} label "${name}" is ${text.length} characters long; label values are at most ${MAX_LABEL_VALUE_LENGTH}`,
      );
    }
    if (!isWellFormed(text)) throw new Error(`${what} label "${name}" is not well-formed Unicode (a lone surrogate)`);
    values[at++] = text;
  }
  return values;
}

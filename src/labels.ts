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
 * Whether `name` is a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
 *
 * @example Checking names
 * ```ts
 * import { isValidMetricName } from "./labels.ts";
 * if (!isValidMetricName("http_requests_total") || isValidMetricName("2xx")) throw new Error();
 * ```
 */
export function isValidMetricName(name: string): boolean {
  return typeof name === "string" && METRIC_NAME.test(name);
}

/**
 * Whether `name` is a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`
 * (reserved for Prometheus' own use).
 *
 * @example Checking names
 * ```ts
 * import { isValidLabelName } from "./labels.ts";
 * if (!isValidLabelName("method") || isValidLabelName("__name__")) throw new Error();
 * ```
 */
export function isValidLabelName(name: string): boolean {
  return typeof name === "string" && LABEL_NAME.test(name) && !name.startsWith("__");
}

const needsEscape = /[\\"\n]/;

/**
 * Escapes a label value for the text formats: backslash, double quote and line feed.
 *
 * @example
 * ```ts
 * import { escapeLabelValue } from "./labels.ts";
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
 * import { escapeHelp } from "./labels.ts";
 * if (escapeHelp('a\\b"', true) !== 'a\\\\b\\"') throw new Error();
 * ```
 */
export function escapeHelp(help: string, openMetrics: boolean): string {
  return help.replace(openMetrics ? /[\\"\n]/g : /[\\\n]/g, (c) => (c === "\n" ? "\\n" : "\\" + c));
}

/**
 * Encodes label pairs as the inside of a text-format label set: `a="x",b="y"`.
 *
 * @example
 * ```ts
 * import { encodeLabels } from "./labels.ts";
 * if (encodeLabels(["a", "b"], ["x", 'y"']) !== 'a="x",b="y\\""') throw new Error();
 * ```
 */
export function encodeLabels(names: readonly string[], values: readonly string[]): string {
  let out = "";
  for (let i = 0; i < names.length; i++) {
    if (i > 0) out += ",";
    out += names[i] + '="' + escapeLabelValue(values[i]!) + '"';
  }
  return out;
}

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether a string is well-formed Unicode (no lone surrogates), so it survives UTF-8. */
export function isWellFormed(value: string): boolean {
  return !loneSurrogate.test(value);
}

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
  for (const key of Object.keys(record)) {
    if (!labelNames.includes(key)) {
      throw new Error(
        `${what} has no label ${JSON.stringify(key)}; its labels are: ${
          labelNames.length ? labelNames.join(", ") : "(none)"
        }`,
      );
    }
  }
  const values: string[] = [];
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
    values.push(text);
  }
  return values;
}

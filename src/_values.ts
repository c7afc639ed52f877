/**
 * The checks every recording entry point makes before it records anything, and the
 * errors that name the metric and the value. Private: `mod.ts` does not export it.
 *
 * The type is tested before the range: `"5" >= 0` is true in JavaScript, so a range
 * check alone lets a string through and `+=` would concatenate it into a slot.
 *
 * @module
 */

/** A short, safe description of any value for an error message (never throws). */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case "string":
      return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value)}`;
    case "bigint":
      return `the bigint ${value}n`;
    case "number":
      return Object.is(value, -0) ? "-0" : String(value);
    case "symbol":
      return "a symbol";
    case "function":
      return "a function";
    case "undefined":
      return "undefined";
    case "boolean":
      return String(value);
    default:
      return value === null ? "null" : Array.isArray(value) ? "an array" : "an object";
  }
}

/** The TypeError for a value that is not a number. */
export function notANumber(what: string, role: string, value: unknown): TypeError {
  return new TypeError(`${what} ${role} must be a number, got ${describeValue(value)}`);
}

/**
 * Checks a counter increment: a finite number >= 0 (`undefined` means 1).
 * @throws {TypeError} for a value that is not a number; {RangeError} for a negative or non-finite one.
 */
export function checkIncrement(what: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== "number") throw notANumber(what, "increment", value);
  if (!(value >= 0 && value < Infinity)) {
    throw new RangeError(`${what} increment must be a finite number >= 0, got ${describeValue(value)}`);
  }
}

/**
 * Checks a gauge value: any number, NaN and infinities included (`undefined` allowed where the
 * call has a default).
 * @throws {TypeError} for a value that is not a number.
 */
export function checkGaugeValue(what: string, value: unknown, optional: boolean): void {
  if (typeof value === "number" || (optional && value === undefined)) return;
  throw notANumber(what, "value", value);
}

/**
 * Checks an observation: a number that is not NaN.
 * @throws {TypeError} for a value that is not a number; {RangeError} for NaN.
 */
export function checkObservation(what: string, value: unknown): void {
  if (typeof value !== "number") throw notANumber(what, "observation", value);
  if (value !== value) throw new RangeError(`${what} observation must not be NaN`);
}

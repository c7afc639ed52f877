// Arbitrary JavaScript values for the API fuzzer, as descriptors: plain data that fast-check
// prints readably and that a worker receives through postMessage, turned into the real
// value (a symbol, a function, a 64 KiB string, an object with a `__proto__` own key...)
// only when an operation runs. Materializing is deterministic, so the model reads the
// same value the library got.

import fc from "fast-check";

/** A value, described. */
export type V =
  | { $: "n"; v: number }
  | { $: "s"; v: string }
  /** `s` repeated `n` times: long strings without long counterexamples. */
  | { $: "rep"; s: string; n: number }
  | { $: "u" }
  | { $: "null" }
  | { $: "b"; v: boolean }
  | { $: "big"; v: string }
  | { $: "sym" }
  | { $: "fn" }
  | { $: "arr"; items: V[] }
  /** `new Number(5)`: an object that converts to a number. */
  | { $: "boxed" }
  /** `{ valueOf() { return 5 } }`. */
  | { $: "valueOf" }
  /** An object with these own enumerable properties (defined, so `__proto__` is an own key). */
  | { $: "o"; entries: [V, V][]; proto?: "null" | { entries: [V, V][] } };

const num = (v: number): V => ({ $: "n", v });
const str = (v: string): V => ({ $: "s", v });

/** The real value of a descriptor: a fresh object on every call. */
export function materialize(d: V): unknown {
  switch (d.$) {
    case "n":
    case "s":
    case "b":
      return d.v;
    case "rep":
      return d.s.repeat(d.n);
    case "u":
      return undefined;
    case "null":
      return null;
    case "big":
      return BigInt(d.v);
    case "sym":
      return Symbol("fuzz");
    case "fn":
      return () => 5;
    case "arr":
      return d.items.map(materialize);
    case "boxed":
      return new Number(5);
    case "valueOf":
      return { valueOf: () => 5 };
    case "o": {
      const proto = d.proto === undefined ? Object.prototype : d.proto === "null" ? null : objectOf(d.proto.entries);
      const object = Object.create(proto) as Record<string, unknown>;
      for (const [key, value] of d.entries) {
        Object.defineProperty(object, String(materialize(key)), {
          value: materialize(value),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return object;
    }
  }
}

function objectOf(entries: [V, V][]): object {
  return materialize({ $: "o", entries }) as object;
}

/** A short description of a descriptor, for messages. */
export function show(d: V | undefined): string {
  if (d === undefined) return "(absent)";
  switch (d.$) {
    case "n":
      return Object.is(d.v, -0) ? "-0" : String(d.v);
    case "s":
      return JSON.stringify(d.v.length > 40 ? d.v.slice(0, 40) + "…" : d.v);
    case "rep":
      return `${JSON.stringify(d.s)}×${d.n}`;
    case "b":
      return String(d.v);
    case "big":
      return `${d.v}n`;
    case "arr":
      return `[${d.items.map(show).join(", ")}]`;
    case "o":
      return `{${d.entries.map(([k, v]) => `${show(k)}: ${show(v)}`).join(", ")}}${
        d.proto === undefined ? "" : d.proto === "null" ? " (null prototype)" : " (with prototype)"
      }`;
    default:
      return d.$;
  }
}

/** Numbers where a number is expected: mostly dyadic (sums exact in any order), then edge cases. */
export const dyadic: fc.Arbitrary<V> = fc.integer({ min: -40, max: 400 }).map((k) => num(k / 4));
export const nonNegativeDyadic: fc.Arbitrary<V> = fc.integer({ min: 0, max: 400 }).map((k) => num(k / 4));

/** Special numbers: -0, NaN, infinities, huge and tiny values, non-dyadic fractions. */
export const specialNumber: fc.Arbitrary<V> = fc.oneof(
  fc.constantFrom(
    -0,
    0,
    NaN,
    Infinity,
    -Infinity,
    Number.MAX_VALUE,
    -Number.MAX_VALUE,
    Number.MIN_VALUE,
    2 ** 53 + 2,
    1e21,
    0.1,
    -1,
    1e-300,
  ).map(num),
  fc.double().map(num),
);

/** Values that are not numbers: every other type, and strings that look like numbers. */
export const notANumber: fc.Arbitrary<V> = fc.oneof(
  fc.constantFrom("5", "0x10", "", " 1", "1e3", "-1", "NaN", "Infinity", "8").map(str),
  fc.constantFrom<V>(
    { $: "null" },
    { $: "u" },
    { $: "b", v: true },
    { $: "b", v: false },
    { $: "big", v: "8" },
    { $: "big", v: "-1" },
    { $: "sym" },
    { $: "fn" },
    { $: "boxed" },
    { $: "valueOf" },
    { $: "arr", items: [] },
    { $: "arr", items: [num(1)] },
    { $: "o", entries: [] },
  ),
);

/**
 * Like {@link numberish}, for histograms and summaries: the special numbers stay finite and
 * within ±1e300 (NaN kept), so sums never overflow; `nonNegative` keeps them >= 0 as well.
 */
export function finiteish(good: fc.Arbitrary<V>, nonNegative: boolean): fc.Arbitrary<V> {
  const special = specialNumber.filter((d) =>
    d.$ === "n" && (Number.isNaN(d.v) || (Math.abs(d.v) <= 1e300 && (!nonNegative || d.v >= 0)))
  );
  return fc.oneof({ weight: 10, arbitrary: good }, { weight: 2, arbitrary: special }, {
    weight: 2,
    arbitrary: notANumber,
  });
}

/** Where the API says number: mostly good numbers, then special ones, then anything. */
export function numberish(good: fc.Arbitrary<V> = dyadic): fc.Arbitrary<V> {
  return fc.oneof(
    { weight: 10, arbitrary: good },
    { weight: 2, arbitrary: specialNumber },
    { weight: 2, arbitrary: notANumber },
  );
}

/** Keys that live on Object.prototype, and other troublesome keys. */
export const PROTOTYPE_KEYS = ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf"] as const;

/** Strings that break naive code: escapes, lone surrogates, the old overflow marker, long ones. */
export const nastyString: fc.Arbitrary<V> = fc.oneof(
  fc.constantFrom(
    "",
    "__overflow__",
    'q"\\\n',
    "é😀",
    "\uD800",
    "a\uDC00b",
    "\uDBFF",
    "1",
    "constructor",
    "x\r\u2028y",
    "a b",
  ).map(str),
  fc.constantFrom<V>(
    { $: "rep", s: "x", n: 1024 },
    { $: "rep", s: "x", n: 1025 },
    { $: "rep", s: "é", n: 1024 },
    { $: "rep", s: "😀", n: 512 },
    { $: "rep", s: "😀", n: 513 },
    { $: "rep", s: "x", n: 65536 },
  ),
  fc.string({ maxLength: 6 }).map(str),
  fc.string({ maxLength: 4, unit: "binary" }).map(str),
);

/** A label value: mostly from a small set (series repeat), then numbers, booleans, nasty strings, non-strings. */
export const labelValue: fc.Arbitrary<V> = fc.oneof(
  { weight: 14, arbitrary: fc.constantFrom("a", "b", "c", "/x/y", "__overflow__", 'é "q" \\ \n').map(str) },
  { weight: 2, arbitrary: fc.constantFrom(1, 0, -0, 1.5, NaN, 1e21).map(num) },
  { weight: 1, arbitrary: fc.boolean().map((v): V => ({ $: "b", v })) },
  { weight: 3, arbitrary: nastyString },
  {
    weight: 2,
    arbitrary: fc.constantFrom<V>(
      { $: "null" },
      { $: "u" },
      { $: "big", v: "1" },
      { $: "sym" },
      { $: "fn" },
      { $: "o", entries: [] },
      { $: "arr", items: [str("a")] },
      { $: "boxed" },
    ),
  },
);

/** A key added to a labels object that the metric does not have. */
export const strayKey: fc.Arbitrary<V> = fc.oneof(
  fc.constantFrom(...PROTOTYPE_KEYS, "unknown", "le", "", "otel_metric_overflow", "0").map(str),
  fc.constant<V>({ $: "rep", s: "k", n: 2000 }),
);

/** An exemplar argument: valid label sets, long ones around the 128-character limit, invalid ones. */
export const exemplarArg: fc.Arbitrary<V> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<V>({ $: "u" }) },
  {
    weight: 4,
    arbitrary: fc.constantFrom<V>(
      { $: "o", entries: [[str("trace_id"), str("4bf92f3577b34da6a3ce929d0e0e4736")]] },
      { $: "o", entries: [[str("trace_id"), str("t1")], [str("span_id"), str('s"\\\n')]] },
      { $: "o", entries: [] },
      { $: "o", entries: [[str("a"), { $: "rep", s: "x", n: 127 }]] }, // exactly 128 characters
      { $: "o", entries: [[str("a"), { $: "rep", s: "😀", n: 127 }]] }, // 128 code points, 255 code units
    ),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom<V>(
      { $: "o", entries: [[str("a"), { $: "rep", s: "x", n: 128 }]] }, // 129 characters
      { $: "o", entries: [[str("trace_id"), num(5)]] },
      { $: "o", entries: [[str("trace_id"), { $: "null" }]] },
      { $: "o", entries: [[str("bad-name"), str("x")]] },
      { $: "o", entries: [[str("__proto__"), str("x")]] },
      { $: "o", entries: [[str("trace_id"), str("\uD800")]] },
      { $: "o", entries: [[str("trace_id"), { $: "rep", s: "x", n: 65536 }]] },
      str("trace"),
      num(5),
      { $: "b", v: true },
      { $: "sym" },
      { $: "fn" },
    ),
  },
);

/** Whether a string is well-formed UTF-16 (no lone surrogates). */
export function isWellFormed(text: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { negotiateEncoding, negotiateFormat } from "../../src/exposition/negotiate.ts";

const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

// q-values as clients write them: up to three decimals in [0, 1].
const quality = fc.integer({ min: 0, max: 1000 }).map((thousandths) => thousandths / 1000);

describe("negotiate properties", () => {
  it("negotiateFormat() picks OpenMetrics exactly when its q-value beats text/plain's", () => {
    fc.assert(
      fc.property(quality, quality, fc.boolean(), (openQ, textQ, openFirst) => {
        const open = `application/openmetrics-text;version=1.0.0;q=${openQ}`;
        const text = `text/plain;version=0.0.4;q=${textQ}`;
        const header = openFirst ? `${open},${text}` : `${text},${open}`;
        assert.equal(negotiateFormat(header), openQ > textQ ? "openmetrics" : "prometheus");
      }),
    );
  });

  it("negotiateEncoding() picks gzip exactly when gzip's q-value is above zero", () => {
    fc.assert(
      fc.property(quality, fc.boolean(), (gzipQ, withWildcard) => {
        const header = withWildcard ? `*;q=1, gzip;q=${gzipQ}` : `identity, gzip;q=${gzipQ}`;
        assert.equal(negotiateEncoding(header), gzipQ > 0 ? "gzip" : "identity");
      }),
    );
  });

  it("negotiateFormat() and negotiateEncoding() ignore an entry whose q-value is not an RFC 9110 qvalue", () => {
    const invalid = fc.oneof(
      fc.string({ maxLength: 8 }),
      fc.double().map(String),
      fc.integer({ min: 1, max: 99999 }).map((n) => `0.${String(n).padStart(4, "0")}`),
    ).filter((q) => !/[,;]/.test(q) && !QVALUE.test(q.trim()));
    const codings = fc.constantFrom("gzip", "x-gzip", "*", "identity", "br");
    const ranges = fc.constantFrom("application/openmetrics-text", "text/plain", "*/*", "application/*", "text/*");
    const entry = <T extends string>(name: fc.Arbitrary<T>) =>
      fc.tuple(name, quality).map(([text, q]) => `${text};q=${q}`);
    fc.assert(
      fc.property(
        fc.array(entry(codings), { maxLength: 4 }),
        fc.array(entry(ranges), { maxLength: 4 }),
        codings,
        ranges,
        invalid,
        fc.nat(),
        (validCodings, validRanges, coding, range, q, at) => {
          const withEntry = (entries: string[], extra: string) =>
            [...entries.slice(0, at % (entries.length + 1)), extra, ...entries.slice(at % (entries.length + 1))].join(
              ", ",
            );
          assert.equal(
            negotiateEncoding(withEntry(validCodings, `${coding};q=${q}`)),
            negotiateEncoding(validCodings.join(", ")),
          );
          assert.equal(
            negotiateFormat(withEntry(validRanges, `${range};q=${q}`)),
            negotiateFormat(validRanges.join(", ")),
          );
        },
      ),
    );
  });

  it("negotiateFormat() and negotiateEncoding() answer one of their values for any header text", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (header) => {
        assert.ok(["openmetrics", "prometheus"].includes(negotiateFormat(header)));
        assert.ok(["gzip", "identity"].includes(negotiateEncoding(header)));
      }),
    );
  });
});

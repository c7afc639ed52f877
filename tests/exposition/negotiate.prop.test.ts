import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { negotiateEncoding, negotiateFormat } from "../../src/exposition/negotiate.ts";

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

  it("negotiateFormat() and negotiateEncoding() answer one of their values for any header text", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (header) => {
        assert.ok(["openmetrics", "prometheus"].includes(negotiateFormat(header)));
        assert.ok(["gzip", "identity"].includes(negotiateEncoding(header)));
      }),
    );
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { negotiateEncoding, negotiateFormat } from "../../src/exposition/negotiate.ts";

describe("negotiateFormat()", () => {
  it("negotiateFormat() picks OpenMetrics for the Accept header Prometheus 2.x sends", () => {
    assert.equal(
      negotiateFormat(
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
      ),
      "openmetrics",
    );
  });

  it("negotiateFormat() picks OpenMetrics for Prometheus 3's default header and text when it asks for 0.0.4 only", () => {
    assert.equal(
      negotiateFormat(
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
      ),
      "openmetrics",
    );
    assert.equal(negotiateFormat("text/plain;version=0.0.4;q=0.9,*/*;q=0.1"), "prometheus");
  });

  it("negotiateFormat() picks text for a missing, empty, wildcard or text Accept header", () => {
    for (const accept of [null, "", "*/*", "text/plain", "text/*", "text/plain;version=0.0.4", "application/json"]) {
      assert.equal(negotiateFormat(accept), "prometheus", String(accept));
    }
  });

  it("negotiateFormat() picks OpenMetrics with or without a version parameter and with spaces and quotes", () => {
    assert.equal(negotiateFormat("application/openmetrics-text"), "openmetrics");
    assert.equal(
      negotiateFormat('application/openmetrics-text; version="1.0.0"; q=0.9, text/plain; q=0.8'),
      "openmetrics",
    );
    assert.equal(negotiateFormat("Application/OpenMetrics-Text;Version=1.0.0"), "openmetrics");
  });

  it("negotiateFormat() follows q-values and ignores an OpenMetrics version it does not serve", () => {
    assert.equal(negotiateFormat("application/openmetrics-text;q=0.4,text/plain;q=0.5"), "prometheus");
    assert.equal(negotiateFormat("application/openmetrics-text;q=0.6,text/plain;q=0.5"), "openmetrics");
    assert.equal(negotiateFormat("application/openmetrics-text;version=0.0.1"), "prometheus");
    assert.equal(negotiateFormat("application/openmetrics-text;q=0,*/*"), "prometheus");
    assert.equal(negotiateFormat("text/plain;q=0,application/*;q=0.1"), "openmetrics");
  });

  it("negotiateFormat() lets the most specific range decide an offer's quality", () => {
    assert.equal(
      negotiateFormat("application/*;q=0.9,application/openmetrics-text;q=0.1,text/plain;q=0.5"),
      "prometheus",
    );
  });

  it("negotiateFormat() ignores an entry whose q-value is not an RFC 9110 qvalue", () => {
    for (const q of ["-1", "abc", "1.5", "", "0.1234", "1.001", "2", ".5", "0,5", "1e0", "0x1", '"0.5"', "Infinity"]) {
      assert.equal(
        negotiateFormat(`application/openmetrics-text;version=1.0.0;q=${q},text/plain;version=0.0.4;q=0.5`),
        "prometheus",
        `q=${q}`,
      );
      assert.equal(negotiateFormat(`text/plain;q=${q},application/openmetrics-text;q=0.1`), "openmetrics", `q=${q}`);
    }
    assert.equal(negotiateFormat("application/openmetrics-text;q,text/plain;q=0.5"), "prometheus");
  });

  it("negotiateFormat() accepts every qvalue form RFC 9110 allows", () => {
    for (const q of ["1", "1.", "1.0", "1.00", "1.000", "0.9", "0.99", "0.999", "0.001"]) {
      assert.equal(negotiateFormat(`application/openmetrics-text;q=${q}`), "openmetrics", `q=${q}`);
    }
    assert.equal(negotiateFormat("application/openmetrics-text;Q=0.6,text/plain;q=0.5"), "openmetrics");
  });

  it("negotiateFormat() treats q=0 as a refusal and falls back to text when nothing served is acceptable", () => {
    assert.equal(negotiateFormat("application/openmetrics-text;q=0"), "prometheus");
    assert.equal(negotiateFormat("application/openmetrics-text;q=0.,text/plain;q=0.001"), "prometheus");
    assert.equal(negotiateFormat("application/openmetrics-text;q=0.000,text/plain;q=0"), "prometheus");
    assert.equal(negotiateFormat("text/plain;q=0,application/openmetrics-text;q=0.001"), "openmetrics");
    assert.equal(negotiateFormat("*/*;q=0,application/openmetrics-text"), "openmetrics");
  });
});

describe("negotiateEncoding()", () => {
  it("negotiateEncoding() allows gzip when named, as x-gzip or through * with a non-zero q", () => {
    for (const header of ["gzip", "gzip, deflate, br", "x-gzip", "*", "br;q=1.0, gzip;q=0.8", "GZIP;Q=0.1"]) {
      assert.equal(negotiateEncoding(header), "gzip", header);
    }
  });

  it("negotiateEncoding() refuses gzip when absent, refused with q=0, or only * is refused", () => {
    for (const header of [null, "", "identity", "br", "gzip;q=0", "gzip;q=0, *", "*;q=0", "deflate;q=1, gzip;q=0.0"]) {
      assert.equal(negotiateEncoding(header), "identity", String(header));
    }
  });

  it("negotiateEncoding() ignores an entry whose q-value is not an RFC 9110 qvalue", () => {
    for (const q of ["-1", "abc", "1.5", "", "0.1234", "1.001", "2", ".5", "1e0", '"1"', "NaN"]) {
      assert.equal(negotiateEncoding(`gzip;q=${q}`), "identity", `gzip;q=${q}`);
      assert.equal(negotiateEncoding(`x-gzip;q=${q}, identity`), "identity", `x-gzip;q=${q}`);
      assert.equal(negotiateEncoding(`*;q=${q}`), "identity", `*;q=${q}`);
      // The ignored entry does not hide the valid ones around it.
      assert.equal(negotiateEncoding(`gzip;q=${q}, *;q=0.5`), "gzip", `gzip;q=${q}, *;q=0.5`);
      assert.equal(negotiateEncoding(`*;q=${q}, gzip;q=0`), "identity", `*;q=${q}, gzip;q=0`);
    }
    assert.equal(negotiateEncoding("gzip;q"), "identity");
  });

  it("negotiateEncoding() answers identity when identity;q=0 or *;q=0 leaves no coding it serves acceptable", () => {
    // RFC 9110 §12.5.3: with nothing acceptable, the response is sent without a content coding.
    for (
      const header of ["identity;q=0", "*;q=0", "*;q=0, identity;q=0", "gzip;q=0, identity;q=0", "br, identity;q=0"]
    ) {
      assert.equal(negotiateEncoding(header), "identity", header);
    }
    for (const header of ["identity;q=0, gzip", "identity;q=0, *", "*;q=0, gzip;q=0.5", "*;q=0, x-gzip"]) {
      assert.equal(negotiateEncoding(header), "gzip", header);
    }
  });
});

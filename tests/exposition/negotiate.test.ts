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
});

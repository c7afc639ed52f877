// The independent decoder for the protobuf exposition tests: protobufjs reading the official
// metrics.proto that Debian ships with client_model (golang-github-prometheus-client-model-dev,
// version 0.3.0). That version predates a few fields; they are added here by their official
// field numbers (client_model's metrics.proto today): created_timestamp of Counter (3), Summary
// (4) and Histogram (15), the native exemplars of Histogram (16) and MetricFamily.unit (5).
import { existsSync, readFileSync } from "node:fs";
import protobuf from "protobufjs";

export const METRICS_PROTO =
  "/usr/share/gocode/src/github.com/prometheus/client_model/io/prometheus/client/metrics.proto";

// protobufjs' own copy of the well-known type, so that nothing is read from its bundled files.
const TIMESTAMP_PROTO = `syntax = "proto3";
package google.protobuf;
message Timestamp { int64 seconds = 1; int32 nanos = 2; }`;

export interface DecodedLabel {
  name: string;
  value: string;
}
export interface DecodedTimestamp {
  seconds: number;
  nanos?: number;
}
export interface DecodedExemplar {
  label?: DecodedLabel[];
  value?: number;
  timestamp?: DecodedTimestamp;
}
export interface DecodedBucket {
  cumulativeCount?: number;
  upperBound?: number;
  exemplar?: DecodedExemplar;
}
export interface DecodedSpan {
  offset?: number;
  length?: number;
}
export interface DecodedHistogram {
  sampleCount?: number;
  sampleSum?: number;
  bucket?: DecodedBucket[];
  schema?: number;
  zeroThreshold?: number;
  zeroCount?: number;
  negativeSpan?: DecodedSpan[];
  negativeDelta?: number[];
  positiveSpan?: DecodedSpan[];
  positiveDelta?: number[];
  createdTimestamp?: DecodedTimestamp;
  exemplars?: DecodedExemplar[];
}
export interface DecodedMetric {
  label?: DecodedLabel[];
  gauge?: { value?: number };
  counter?: { value?: number; exemplar?: DecodedExemplar; createdTimestamp?: DecodedTimestamp };
  summary?: {
    sampleCount?: number;
    sampleSum?: number;
    quantile?: { quantile?: number; value?: number }[];
    createdTimestamp?: DecodedTimestamp;
  };
  histogram?: DecodedHistogram;
  timestampMs?: number;
}
export interface DecodedFamily {
  name?: string;
  help?: string;
  type?: number;
  metric?: DecodedMetric[];
  unit?: string;
}

let family: protobuf.Type | undefined;

/** The `MetricFamily` type, loaded once. */
function familyType(): protobuf.Type {
  if (family !== undefined) return family;
  if (!existsSync(METRICS_PROTO)) {
    throw new Error(`${METRICS_PROTO} is missing: apt-get install golang-github-prometheus-client-model-dev`);
  }
  const root = new protobuf.Root();
  protobuf.parse(TIMESTAMP_PROTO, root, { keepCase: false });
  protobuf.parse(readFileSync(METRICS_PROTO, "utf8"), root, { keepCase: false });
  const type = (name: string) => root.lookupType(`io.prometheus.client.${name}`);
  const timestamp = "google.protobuf.Timestamp";
  type("Counter").add(new protobuf.Field("createdTimestamp", 3, timestamp));
  type("Summary").add(new protobuf.Field("createdTimestamp", 4, timestamp));
  type("Histogram").add(new protobuf.Field("createdTimestamp", 15, timestamp));
  type("Histogram").add(new protobuf.Field("exemplars", 16, "Exemplar", "repeated"));
  type("MetricFamily").add(new protobuf.Field("unit", 5, "string"));
  root.resolveAll();
  return family = type("MetricFamily");
}

/**
 * Decodes length-delimited `MetricFamily` messages into plain objects: absent fields left out
 * (proto2 presence), 64-bit integers as numbers, field names camel-cased.
 */
export function decodeFamilies(bytes: Uint8Array): DecodedFamily[] {
  const type = familyType();
  const reader = protobuf.Reader.create(bytes);
  const out: DecodedFamily[] = [];
  while (reader.pos < reader.len) {
    const message = type.decodeDelimited(reader);
    const object = type.toObject(message, { longs: Number, enums: Number, defaults: false, arrays: false });
    out.push(object as DecodedFamily);
  }
  return out;
}

/** Milliseconds since the epoch of a decoded timestamp. */
export function millis(timestamp: DecodedTimestamp): number {
  return timestamp.seconds * 1000 + (timestamp.nanos ?? 0) / 1e6;
}

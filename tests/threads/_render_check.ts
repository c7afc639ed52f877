// Reading a render in the thread tests: one sample's value, and the checks every render
// taken while workers write must pass.

import assert from "node:assert/strict";
import { type ParsedFamily, parseExposition } from "../_parse.ts";

/** Value of the sample `name` of `family` with exactly `labels`, or undefined. */
export function sampleValue(
  families: Map<string, ParsedFamily>,
  family: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const key = JSON.stringify(labels);
  return families.get(family)?.samples.find((s) => s.name === name && JSON.stringify(s.labels) === key)?.value;
}

/**
 * Parses one Prometheus render strictly and checks it: every histogram's `+Inf` bucket
 * equals its `_count`, and no counter, bucket or count is below its value in `previous`
 * (the values of the last render, updated here).
 */
export function checkRender(text: string, previous: Map<string, number>): Map<string, ParsedFamily> {
  const families = parseExposition(text, false);
  for (const family of families.values()) {
    for (const s of family.samples) {
      const key = s.name + JSON.stringify(s.labels);
      if (family.type === "counter" || s.name.endsWith("_bucket") || s.name.endsWith("_count")) {
        const before = previous.get(key) ?? 0;
        assert.ok(s.value >= before, `${key} went backwards: ${before} then ${s.value}`);
        previous.set(key, s.value);
      }
      if (family.type === "histogram" && s.labels.le === "+Inf") {
        const { le: _, ...rest } = s.labels;
        assert.equal(
          s.value,
          sampleValue(families, family.name, family.name + "_count", rest),
          `${key} differs from _count`,
        );
      }
    }
  }
  return families;
}

// The outside judges of the fuzzer's renders: promtool (text format 0.0.4) and
// prometheus_client's strict OpenMetrics parser. Several renders go to one process: each
// render's names get their own prefix (r0_, r1_, ...) so that they do not clash, and only
// when the batch is refused are the renders judged one by one to name the culprit.

import assert from "node:assert/strict";
import { openMetricsCheck } from "../_openmetrics_judge.ts";
import { promtoolCheck } from "../_promtool.ts";

/** One render to judge, and where it came from. */
export interface Render {
  text: string;
  om: boolean;
  what: string;
}

/** Renders joined into one exposition, each render's metric names prefixed. */
export function joinRenders(texts: readonly string[], om: boolean): string {
  let out = "";
  texts.forEach((text, i) => {
    const prefix = `r${i}_`;
    for (const line of text.split("\n")) {
      if (line === "" || line === "# EOF") continue;
      const comment = /^# (HELP|TYPE|UNIT) /.exec(line);
      out += (comment ? comment[0] + prefix + line.slice(comment[0].length) : prefix + line) + "\n";
    }
  });
  return om ? out + "# EOF\n" : out;
}

function judge(text: string, om: boolean): { ok: boolean; output: string } {
  return om ? openMetricsCheck(text) : promtoolCheck(text);
}

/** Asserts that promtool accepts every 0.0.4 render and the strict parser every OpenMetrics one. */
export function checkExternally(renders: readonly Render[]): void {
  for (const om of [false, true]) {
    const batch = renders.filter((r) => r.om === om);
    if (batch.length === 0) continue;
    if (judge(joinRenders(batch.map((r) => r.text), om), om).ok) continue;
    for (const render of batch) {
      const verdict = judge(render.text, om);
      if (!verdict.ok) {
        const text = render.text.length > 4000 ? render.text.slice(0, 4000) + "\n…(cut)" : render.text;
        assert.fail(
          `${render.what}: ${om ? "the strict OpenMetrics parser" : "promtool"} refuses the render: ` +
            `${verdict.output.trim().slice(0, 1000)}\n--- render ---\n${text}`,
        );
      }
    }
    assert.fail(`${om ? "OpenMetrics" : "promtool"} refuses renders joined, but none alone (a prefixing bug?)`);
  }
}

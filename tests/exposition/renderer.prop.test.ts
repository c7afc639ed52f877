// The byte renderer writes exactly what the string renderer it replaced wrote, for both
// formats, whatever slices the output is cut in.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Registry } from "../../mod.ts";
import { ByteRenderer } from "../../src/exposition/_renderer.ts";
import { renderText } from "./_reference_text.ts";
import { build, metric } from "./_random_registry.ts";

const decoder = new TextDecoder();

function sliced(registry: Registry, om: boolean, budgets: number[]): string {
  // deno-lint-ignore no-explicit-any
  const renderer = new ByteRenderer((registry as any).families(), om);
  let out = "";
  let k = 0;
  for (
    let chunks = renderer.next(budgets[k++ % budgets.length]!);
    chunks;
    chunks = renderer.next(budgets[k++ % budgets.length]!)
  ) {
    for (const chunk of chunks) out += decoder.decode(chunk, { stream: true });
  }
  return out + decoder.decode();
}

describe("ByteRenderer", () => {
  it("writes byte for byte what the string renderer wrote, in both formats, cut in any slices", () => {
    fc.assert(
      fc.property(
        fc.array(metric, { maxLength: 6 }),
        fc.integer({ min: 1, max: 30 }),
        fc.array(fc.integer({ min: 1, max: 200_000 }), { minLength: 1, maxLength: 4 }),
        (metrics, maxSeries, budgets) => {
          const registry = build(metrics, maxSeries);
          for (const om of [false, true]) {
            // deno-lint-ignore no-explicit-any
            const reference = renderText((registry as any).families(), om);
            assert.equal(registry.render(om ? "openmetrics" : "prometheus"), reference);
            assert.equal(sliced(registry, om, budgets), reference);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("ByteRenderer chunks", () => {
  it("fills 64 KiB chunks across many series and long label values, and matches the string renderer", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "c_total", help: "c", labelNames: ["path"] as const });
    for (let i = 0; i < 2000; i++) c.inc({ path: `${i}/` + 'é\\"'.repeat(300) }, i);
    // deno-lint-ignore no-explicit-any
    const reference = renderText((registry as any).families(), false);
    assert.ok(reference.length > 4 * 65536);
    assert.equal(sliced(registry, false, [1, 70_000, 5]), reference);
    // deno-lint-ignore no-explicit-any
    const renderer = new ByteRenderer((registry as any).families(), false);
    const first = renderer.next(100_000)!;
    assert.ok(first.every((chunk) => chunk.length <= 65536));
    assert.ok(first.reduce((n, chunk) => n + chunk.length, 0) >= 100_000);
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const script = fileURLToPath(new URL("./support/no_shared_memory.ts", import.meta.url));
// deno-lint-ignore no-explicit-any
const g = globalThis as any;
const args = g.Deno ? ["run", "-A", script] : g.Bun ? [script] : ["--import", "tsx", script];

describe("runtimes without SharedArrayBuffer", () => {
  it("Registry records and renders on a plain ArrayBuffer, and share() says why it cannot", () => {
    const run = spawnSync(process.execPath, args, { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    const out = JSON.parse(run.stdout.trim().split("\n").at(-1)!);
    assert.match(out.text, /jobs_total\{kind="a"\} 2\n/);
    assert.match(out.text, /\ng 5.5\n/);
    assert.match(out.text, /h_bucket\{le="1"\} 1\n/);
    const median = Number(/s\{quantile="0.5"\} (\S+)\n/.exec(out.text)?.[1]);
    assert.ok(Math.abs(median - 3) <= 0.03, `median ${median} is not within 1% of 3`);
    assert.ok(out.om.endsWith("# EOF\n"));
    assert.match(out.shareError, /Registry.share\(\) needs SharedArrayBuffer, which this runtime does not offer/);
  });
});

// A series' label set is stored once, as the text formats write it (UTF-8, escaped): another
// thread finds the series by comparing against it and reads its values back from it. Label
// values that need escaping or are not ASCII must survive both, and the label index must keep
// working when one level holds one value and then several.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "../../mod.ts";

const TRICKY = [
  "plain",
  "",
  'quote"inside',
  "back\\slash",
  "line\nfeed",
  '\\"\n\\n',
  "café",
  "日本語",
  "emoji 🎉 pair",
  "𝄞",
  'mixed é"\\🎉\n',
  "x".repeat(1024),
  "é".repeat(700),
];

describe("label text in shared memory", () => {
  it("a series made in one thread is found by another from any label value, and not duplicated", () => {
    const main = new Registry();
    const c = main.counter({ name: "t_total", help: "t", labelNames: ["a", "b"] as const });
    for (const [i, v] of TRICKY.entries()) c.inc({ a: v, b: String(i) }, i + 1);
    const other = Registry.attach(main.share());
    const c2 = other.counter({ name: "t_total", help: "t", labelNames: ["a", "b"] as const });
    for (const [i, v] of TRICKY.entries()) {
      assert.equal(c2.get({ a: v, b: String(i) }), i + 1, JSON.stringify(v));
      c2.inc({ a: v, b: String(i) }, 1);
    }
    assert.equal(main.seriesCount(), TRICKY.length);
    for (const [i, v] of TRICKY.entries()) assert.equal(c.get({ a: v, b: String(i) }), i + 2, JSON.stringify(v));
    // A value that differs only past a shared prefix, or by an escape, is another series.
    assert.equal(c2.get({ a: 'quote"insid', b: "2" }), 0);
    assert.equal(c2.get({ a: "line\\nfeed", b: "4" }), 0);
    assert.equal(main.seriesCount(), TRICKY.length);
    other.detach();
  });

  it("another thread reads the label values back from the text: its render equals the maker's", () => {
    const main = new Registry();
    const c = main.counter({ name: "t_total", help: "t", labelNames: ["a", "b"] as const });
    for (const [i, v] of TRICKY.entries()) c.inc({ a: v, b: v.slice(0, 8) + i }, i + 1);
    const other = Registry.attach(main.share());
    assert.equal(other.render(), main.render());
    assert.equal(other.render("openmetrics"), main.render("openmetrics"));
    const labels = other.collect().find((m) => m.name === "t_total")!.series.map((s) => s.labels);
    assert.deepEqual(labels, TRICKY.map((v, i) => ({ a: v, b: v.slice(0, 8) + i })));
    other.detach();
  });

  it("the label index grows a level from one value to several and back as series come and go", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "t_total", help: "t", labelNames: ["a", "b", "c"] as const });
    c.inc({ a: "1", b: "x", c: "p" });
    c.inc({ a: "1", b: "x", c: "q" }, 2);
    c.inc({ a: "1", b: "y", c: "p" }, 3);
    c.inc({ a: "2", b: "x", c: "p" }, 4);
    assert.equal(c.get({ a: "1", b: "x", c: "p" }), 1);
    assert.equal(c.get({ a: "1", b: "x", c: "q" }), 2);
    assert.equal(c.get({ a: "1", b: "y", c: "p" }), 3);
    assert.equal(c.get({ a: "2", b: "x", c: "p" }), 4);
    assert.equal(c.remove({ a: "1", b: "x", c: "p" }), true);
    assert.equal(c.remove({ a: "1", b: "y", c: "p" }), true);
    c.inc({ a: "1", b: "x", c: "q" }, 10);
    c.inc({ a: "1", b: "y", c: "p" }, 5);
    assert.equal(c.get({ a: "1", b: "x", c: "q" }), 12);
    assert.equal(c.get({ a: "1", b: "y", c: "p" }), 5);
    assert.equal(c.get({ a: "1", b: "x", c: "p" }), 0);
    assert.equal(registry.seriesCount(), 3);
    const text = registry.render() as string;
    assert.match(text, /^t_total\{a="1",b="x",c="q"\} 12$/m);
    assert.match(text, /^t_total\{a="1",b="y",c="p"\} 5$/m);
    assert.match(text, /^t_total\{a="2",b="x",c="p"\} 4$/m);
    assert.doesNotMatch(text, /c="p"\} 1$/m);
  });
});

// A series keeps no copy of its label values (they are read back from the label text in
// shared memory), and a registry keeps no shared index until it is shared. A removed series
// whose row another label set reuses must still know its own values, and a registry shared
// after series came and went must let another thread find exactly the live ones.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "../../mod.ts";

describe("series without a label-values copy", () => {
  it("a bound series removed, its row reused by another label set, revives with its own label values", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "t_total", help: "t", labelNames: ["a"] as const });
    const x = c.labels({ a: "x" });
    x.inc(5);
    assert.equal(c.remove({ a: "x" }), true);
    c.inc({ a: "y" }, 2); // takes the row (and label block) x had
    assert.deepEqual(x.labelValues, ["x"]);
    x.inc();
    assert.equal(c.get({ a: "x" }), 1);
    assert.equal(c.get({ a: "y" }), 2);
    assert.match(String(registry.render()), /t_total\{a="x"\} 1\n/);
    assert.match(String(registry.render()), /t_total\{a="y"\} 2\n/);
  });

  it("a series reads its label values back from the stored text, escapes and non-ASCII included", () => {
    const registry = new Registry();
    const c = registry.counter({ name: "t_total", help: "t", labelNames: ["a", "b"] as const });
    const values = ['q"uote\\ \n', "日本語 🎉"] as const;
    assert.deepEqual(c.labels({ a: values[0], b: values[1] }).labelValues, values);
  });

  it("a registry shared after series were made and removed lets another thread find exactly the live ones", () => {
    const main = new Registry();
    const c = main.counter({ name: "t_total", help: "t", labelNames: ["a", "b"] as const });
    for (let i = 0; i < 50; i++) c.inc({ a: String(i), b: "k" }, i + 1);
    for (let i = 0; i < 50; i += 3) c.remove({ a: String(i), b: "k" });
    const other = Registry.attach(main.share());
    const c2 = other.counter({ name: "t_total", help: "t", labelNames: ["a", "b"] as const });
    for (let i = 0; i < 50; i++) assert.equal(c2.get({ a: String(i), b: "k" }), i % 3 === 0 ? 0 : i + 1, String(i));
    // Found, not made again: one series each, both threads adding to it.
    c2.inc({ a: "1", b: "k" }, 10);
    c.inc({ a: "1", b: "k" }, 100);
    assert.equal(c.get({ a: "1", b: "k" }), 112);
    assert.equal(main.seriesCount(), 50 - 17);
    assert.equal(c2.remove({ a: "2", b: "k" }), true);
    assert.equal(c.get({ a: "2", b: "k" }), 0);
    other.detach();
  });
});

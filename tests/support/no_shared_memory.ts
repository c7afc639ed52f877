// Runs the registry where the runtime has no SharedArrayBuffer (as some edge runtimes):
// removes it before the library loads, records, renders, and prints the results as JSON.
// deno-lint-ignore no-explicit-any
delete (globalThis as any).SharedArrayBuffer;
const { Registry } = await import("../../mod.ts");
const registry = new Registry();
const c = registry.counter({ name: "jobs_total", help: "Jobs", labelNames: ["kind"] as const });
c.inc({ kind: "a" }, 2);
const g = registry.gauge({ name: "g", help: "g" });
g.set(5);
g.inc(0.5);
registry.histogram({ name: "h", help: "h", buckets: [1] }).observe(0.5);
registry.summary({ name: "s", help: "s", quantiles: [0.5] }).observe(3);
let shareError = "";
try {
  registry.share();
} catch (error) {
  shareError = (error as Error).message;
}
console.log(JSON.stringify({ text: registry.render(), om: registry.render("openmetrics"), shareError }));
export {};

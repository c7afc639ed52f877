// Child process of otlp_metrics_push.test.ts: a periodic push whose first
// export is refused (the sender then backs off for a minute in the
// background), a last increment, then `await push.stop()`. Nothing else keeps
// the process alive, so it must be stop() itself that holds it until the last
// snapshot is delivered. Prints "stopped ..." once stop() resolved.
import process from "node:process";
import { Registry } from "../../src/registry.ts";
import { startMetricsPush } from "../../src/otel/otlp_metrics.ts";

const url = process.env["PUSH_URL"];
if (url === undefined) throw new Error("PUSH_URL is not set");
let answered: () => void = () => undefined;
const firstAnswer = new Promise<void>((resolve) => (answered = resolve));
const registry = new Registry();
const orders = registry.counter({ name: "orders_total", help: "Orders" });
orders.inc();
const push = startMetricsPush(registry, {
  url,
  intervalMs: 10,
  initialBackoffMs: 60_000,
  maxBackoffMs: 60_000,
  onError: (error) => console.log(`error: ${error.message}`),
  fetch: async (input, init) => {
    const response = await fetch(input, init);
    answered();
    return response;
  },
});
// The parent's receiver refuses the first export: wait until the back-off began
// (a ref'd timer keeps the process up meanwhile; the push's interval does not).
const guard = setTimeout(() => undefined, 10_000);
await firstAnswer;
await new Promise((resolve) => setTimeout(resolve, 100));
clearTimeout(guard);
orders.inc(41);
await push.stop();
console.log(`stopped sent=${push.sent} failed=${push.failed}`);

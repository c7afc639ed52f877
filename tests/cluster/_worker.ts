// A node:cluster worker for tests/cluster/node.test.ts (run through tsx). Worker `CLUSTER_TEST_INDEX`
// (0 to 3) records known amounts, opts in with clusterWorker(), then says so with an app message
// of its own on the same channel; it obeys { cmd: "inc", n } and { cmd: "busy", ms } (a busy loop).
import process from "node:process";
import { Registry } from "../../mod.ts";
import { clusterWorker } from "../../adapters/node.ts";

const index = Number(process.env.CLUSTER_TEST_INDEX);
const registry = new Registry();

const jobs = registry.counter({ name: "jobs_total", help: "Jobs done", labelNames: ["kind"] });
jobs.inc({ kind: "email" }, index + 1);
jobs.inc({ kind: 'quote" back\\slash\nnewline' }, 1);

// Binary-exact values, so the merged sum is exact too.
const latency = registry.histogram({
  name: "latency_seconds",
  help: "Latency",
  buckets: [0.1, 0.5, 1],
  // Different resolutions in different workers: the merge lowers them to the lowest.
  native: { bucketFactor: index === 0 ? 1.1 : 2 },
});
for (const value of [0.0625, 0.25, 0.75, 2]) latency.observe(value);
for (let i = 0; i < index; i++) latency.observe(0.0625);

const sizes = registry.summary({ name: "payload_bytes", help: "Payload sizes", quantiles: [0.5, 0.9] });
for (let i = 0; i < 3; i++) sizes.observe((index + 1) * 10);

for (const name of ["sum", "first", "min", "max", "average", "omit"]) {
  registry.gauge({ name: `depth_${name}`, help: `Depth by ${name}` }).set(index + 1);
}
registry.gauge({ name: "limit_bytes", help: "A limit" }).set(Infinity);

// Some aggregators come from the worker, others from the primary. A "plain" worker never opts in.
if (process.env.CLUSTER_TEST_PLAIN !== "1") {
  clusterWorker(registry, { aggregators: { depth_max: "max", depth_omit: "omit" } });
  // One registry per worker: a second call is refused.
  try {
    clusterWorker(registry);
    process.send!({ error: "a second clusterWorker() was accepted" });
  } catch {
    // refused, as it should be
  }
}

process.on("message", (message: { cmd?: string; n?: number; ms?: number }) => {
  if (message?.cmd === "inc") {
    jobs.inc({ kind: "email" }, message.n!);
    process.send!({ done: "inc" });
  } else if (message?.cmd === "busy") {
    process.send!({ done: "busy-start" });
    const until = Date.now() + message.ms!;
    while (Date.now() < until) {
      // stuck: no message is read meanwhile
    }
  }
});
process.send!({ ready: index });

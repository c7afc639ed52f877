// A node:cluster worker for bench/cluster_bench.ts (run through tsx). Worker `CLUSTER_BENCH_INDEX`
// (0 to 3) records `CLUSTER_BENCH_SERIES` series into an atomic-metrics registry and, with the same
// label sets and values, into a prom-client registry; it answers both primaries' aggregators (each
// library's messages are tagged, so each ignores the other's), then says it is ready. It records
// nothing during the scrapes, so the merged totals are exact.
import process from "node:process";
import client from "prom-client";
import { Registry } from "../mod.ts";
import { clusterWorker } from "../adapters/node.ts";
import { BUCKETS, expectedValue, HISTOGRAM_SERIES, labelsOf, OBSERVATIONS } from "./cluster_bench.ts";

const index = Number(process.env.CLUSTER_BENCH_INDEX);
const series = Number(process.env.CLUSTER_BENCH_SERIES);
const perCounter = (series - HISTOGRAM_SERIES) / 2;

// atomic-metrics: the worker's own registry (no self-metrics: the same series as prom-client's).
const ours = new Registry({ maxSeries: series + 100, selfMetrics: false });
const labelNames = ["route", "status"] as const;
const oursRequests = ours.counter({ name: "bench_requests_total", help: "Requests served.", labelNames });
const oursBytes = ours.counter({ name: "bench_response_bytes_total", help: "Bytes sent.", labelNames });
const oursLatency = ours.histogram({
  name: "bench_latency_seconds",
  help: "Request latency.",
  labelNames: ["route"],
  buckets: BUCKETS,
});

// prom-client: its registry, aggregated by its AggregatorRegistry (whose constructor starts the
// worker's listener).
const peer = new client.Registry();
const registers = [peer];
const peerRequests = new client.Counter({
  name: "bench_requests_total",
  help: "Requests served.",
  labelNames: ["route", "status"],
  registers,
});
const peerBytes = new client.Counter({
  name: "bench_response_bytes_total",
  help: "Bytes sent.",
  labelNames: ["route", "status"],
  registers,
});
const peerLatency = new client.Histogram({
  name: "bench_latency_seconds",
  help: "Request latency.",
  labelNames: ["route"],
  buckets: [...BUCKETS],
  registers,
});
client.AggregatorRegistry.setRegistries(peer);
new client.AggregatorRegistry();

for (let i = 0; i < perCounter; i++) {
  const labels = labelsOf(i);
  const value = expectedValue(index, i);
  oursRequests.inc(labels, value);
  peerRequests.inc(labels, value);
  oursBytes.inc(labels, value * 512);
  peerBytes.inc(labels, value * 512);
}
for (let h = 0; h < HISTOGRAM_SERIES; h++) {
  const labels = { route: `/route/${h}` };
  for (const value of OBSERVATIONS) {
    oursLatency.observe(labels, value);
    peerLatency.observe(labels, value);
  }
}

clusterWorker(ours);
process.send!({ benchReady: index });

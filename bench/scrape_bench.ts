// Latency of a full HTTP scrape of 10,000 series through the Node adapter on
// loopback: sequential scrapes, text 0.0.4 and OpenMetrics, identity and gzip,
// with prom-client's registry served the same way as the peer baseline.
// Prints one JSON object on stdout (milliseconds); asserts no time.
// Run: node --import tsx bench/scrape_bench.ts [scrapes=200]
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import promClient from "prom-client";
import { serve } from "../adapters/node.ts";
import { Registry } from "../src/registry.ts";

const SERIES = 10_000;
const SCRAPES = Number(process.argv[2] ?? 200);
const WARMUP = 20;
const PROMETHEUS_ACCEPT =
  "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

interface Stats {
  scrapes: number;
  bytes: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

async function measure(url: string, headers: Record<string, string>): Promise<Stats> {
  let bytes = 0;
  const scrape = async (): Promise<number> => {
    const started = performance.now();
    const response = await fetch(url, { headers });
    const body = await response.arrayBuffer();
    const elapsed = performance.now() - started;
    if (response.status !== 200) throw new Error(`Scrape of ${url} answered ${response.status}`);
    // Bytes on the wire: fetch hands back the body already gunzipped.
    bytes = Number(response.headers.get("content-length") ?? body.byteLength);
    return elapsed;
  };
  for (let index = 0; index < WARMUP; index++) await scrape();
  const times: number[] = [];
  for (let index = 0; index < SCRAPES; index++) times.push(await scrape());
  times.sort((a, b) => a - b);
  return {
    scrapes: SCRAPES,
    bytes,
    p50: round(percentile(times, 50)),
    p95: round(percentile(times, 95)),
    p99: round(percentile(times, 99)),
    max: round(times[times.length - 1] ?? NaN),
    mean: round(times.reduce((sum, time) => sum + time, 0) / times.length),
  };
}

// 10,000 series: 100 counters with 100 label values each, the same in both.
function atomicRegistry(): Registry {
  const registry = new Registry({ maxSeries: SERIES * 2 });
  let series = 0;
  for (let metric = 0; series < SERIES; metric++) {
    const counter = registry.counter({
      name: `bench_counter_${metric}_total`,
      help: "Bench.",
      labelNames: ["instance"] as const,
    });
    for (let value = 0; value < 100 && series < SERIES; value++, series++) {
      counter.inc({ instance: `i${value}` }, value);
    }
  }
  return registry;
}

function promClientRegistry(): promClient.Registry {
  const registry = new promClient.Registry();
  let series = 0;
  for (let metric = 0; series < SERIES; metric++) {
    const counter = new promClient.Counter({
      name: `bench_counter_${metric}_total`,
      help: "Bench.",
      labelNames: ["instance"],
      registers: [registry],
    });
    for (let value = 0; value < 100 && series < SERIES; value++, series++) {
      counter.inc({ instance: `i${value}` }, value);
    }
  }
  return registry;
}

const atomic = await serve({ registry: atomicRegistry(), port: 0, hostname: "127.0.0.1", selfMetrics: false });
const peerRegistry = promClientRegistry();
const peer = createServer((_request, response) => {
  void peerRegistry.metrics().then((text) => {
    response.setHeader("content-type", peerRegistry.contentType);
    response.end(text);
  });
});
await new Promise<void>((done) => peer.listen(0, "127.0.0.1", done));
const peerPort = (peer.address() as AddressInfo).port;

try {
  const base = `http://127.0.0.1:${atomic.port}/metrics`;
  const text = await measure(base, { "accept-encoding": "identity" });
  const openmetrics = await measure(base, { accept: PROMETHEUS_ACCEPT, "accept-encoding": "identity" });
  const gzip = await measure(base, { accept: PROMETHEUS_ACCEPT, "accept-encoding": "gzip" });
  const promClientText = await measure(`http://127.0.0.1:${peerPort}/metrics`, { "accept-encoding": "identity" });
  console.log(JSON.stringify(
    {
      bench: "scrape",
      runtime: `node ${process.version}`,
      series: SERIES,
      unit: "ms",
      results: {
        "atomic-metrics text 0.0.4": text,
        "atomic-metrics openmetrics": openmetrics,
        "atomic-metrics openmetrics gzip": gzip,
        "prom-client text 0.0.4": promClientText,
      },
      ratios: { "p95 prom-client / atomic-metrics (text)": round(promClientText.p95 / text.p95) },
      target: { "p95 ms": 50, met: text.p95 < 50 && openmetrics.p95 < 50 && gzip.p95 < 50 },
    },
    null,
    2,
  ));
} finally {
  await atomic.close();
  peer.closeAllConnections();
  await new Promise<void>((done) => peer.close(() => done()));
}

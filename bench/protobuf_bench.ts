// The protobuf exposition against the text formats, in one process, interleaved: 100k counters,
// 100k mixed series, 10k native histograms. Prints one JSON line per case; the runner writes the table.
import { Registry } from "../mod.ts";

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function build(kind: string): Registry {
  const registry = new Registry({ maxSeries: 200_000, selfMetrics: false });
  if (kind === "counters") {
    const c = registry.counter({ name: "requests_total", help: "r", labelNames: ["route", "id"] as const });
    for (let i = 0; i < 100_000; i++) c.inc({ route: `/r${i % 100}`, id: String(i) }, i);
  } else if (kind === "mixed") {
    for (let m = 0; m < 10; m++) {
      const c = registry.counter({ name: `c${m}_total`, help: "c", labelNames: ["id"] as const });
      const g = registry.gauge({ name: `g${m}`, help: "g", labelNames: ["id"] as const });
      const h = registry.histogram({
        name: `h${m}_seconds`,
        help: "h",
        labelNames: ["id"] as const,
        buckets: [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10],
      });
      for (let i = 0; i < 3333; i++) {
        c.inc({ id: String(i) }, i);
        g.set({ id: String(i) }, i / 3);
        h.observe({ id: String(i) }, (i % 1000) / 100);
      }
    }
  } else {
    const h = registry.histogram({ name: "latency_seconds", help: "l", labelNames: ["id"] as const, native: {} });
    for (let i = 0; i < 10_000; i++) {
      const series = h.labels({ id: String(i) });
      for (let k = 0; k < 20; k++) series.observe(Math.exp((k - 10) / 3));
    }
  }
  return registry;
}

for (const kind of ["counters", "mixed", "native"]) {
  const registry = build(kind);
  const times: Record<string, number[]> = { prometheus: [], openmetrics: [], protobuf: [] };
  const bytes: Record<string, number> = {};
  for (let round = 0; round < 9; round++) {
    for (const format of ["prometheus", "openmetrics", "protobuf"] as const) {
      const start = performance.now();
      const out = registry.render(format);
      const ms = performance.now() - start;
      if (round >= 2) times[format]!.push(ms); // the first two rounds warm up
      bytes[format] = typeof out === "string" ? new TextEncoder().encode(out).length : out.length;
    }
  }
  console.log(JSON.stringify({
    case: kind,
    text_ms: +median(times.prometheus!).toFixed(1),
    openmetrics_ms: +median(times.openmetrics!).toFixed(1),
    protobuf_ms: +median(times.protobuf!).toFixed(1),
    text_bytes: bytes.prometheus,
    protobuf_bytes: bytes.protobuf,
  }));
}

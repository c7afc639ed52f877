// Recording and rendering, side by side with prom-client in one process.
// Prints one JSON line per case: {"case","ours_ns","prom_client_ns","ratio","target_ns","target_ratio"}.
import client from "prom-client";
import { Registry } from "../mod.ts";
import { compare } from "./_harness.ts";

const sink: unknown[] = [];
const results: Record<string, unknown>[] = [];
function report(name: string, r: { ours: number; peer: number }, targetNs: number, targetRatio: number): void {
  const row = {
    case: name,
    ours_ns: +r.ours.toFixed(2),
    prom_client_ns: +r.peer.toFixed(2),
    ratio: +(r.peer / r.ours).toFixed(1),
    target_ns: targetNs,
    target_ratio: targetRatio,
  };
  results.push(row);
  console.log(JSON.stringify(row));
}

const ours = new Registry({ maxSeries: 20_000 });
const peer = new client.Registry();
const labelValues = ["GET", "POST", "PUT", "DELETE"];
const codes = ["200", "404", "500"];

{ // bound counter inc: a series of a labelled counter, bound once (prom-client's labels() child)
  const a = ours.counter({ name: "bound_total", help: "b", labelNames: ["method", "code"] as const }).labels({
    method: "GET",
    code: "200",
  });
  const b = new client.Counter({ name: "bound_total", help: "b", labelNames: ["method", "code"], registers: [peer] })
    .labels({ method: "GET", code: "200" });
  // Ten calls per step so the loop and closure call cost less than the call measured.
  const r = compare(
    () => {
      a.inc();
      a.inc();
      a.inc();
      a.inc();
      a.inc();
      a.inc();
      a.inc();
      a.inc();
      a.inc();
      a.inc();
    },
    () => {
      b.inc();
      b.inc();
      b.inc();
      b.inc();
      b.inc();
      b.inc();
      b.inc();
      b.inc();
      b.inc();
      b.inc();
    },
    200_000,
  );
  report("counter.labels(l).inc() bound", { ours: r.ours / 10, peer: r.peer / 10 }, 10, 10);
}
{ // unlabelled counter inc (prom-client's fastest path: no labels to hash)
  const a = ours.counter({ name: "plain_total", help: "p" });
  const b = new client.Counter({ name: "plain_total", help: "p", registers: [peer] });
  const r = compare(
    () => {
      a.inc();
      a.inc();
      a.inc();
      a.inc();
      a.inc();
      a.inc();
      a.inc();
      a.inc();
      a.inc();
      a.inc();
    },
    () => {
      b.inc();
      b.inc();
      b.inc();
      b.inc();
      b.inc();
      b.inc();
      b.inc();
      b.inc();
      b.inc();
      b.inc();
    },
    200_000,
  );
  report("counter.inc() no labels", { ours: r.ours / 10, peer: r.peer / 10 }, 0, 0);
}
{ // labelled inc
  const a = ours.counter({ name: "labelled_total", help: "l", labelNames: ["method", "code"] as const });
  const b = new client.Counter({
    name: "labelled_total",
    help: "l",
    labelNames: ["method", "code"],
    registers: [peer],
  });
  report(
    "counter.inc(labels) 2 labels",
    compare(
      (i) => a.inc({ method: labelValues[i & 3]!, code: codes[i % 3]! }),
      (i) => b.inc({ method: labelValues[i & 3]!, code: codes[i % 3]! }),
      500_000,
    ),
    60,
    3,
  );
}
{ // bound observe: a series of a labelled histogram, bound once
  const a = ours.histogram({ name: "bound_seconds", help: "h", labelNames: ["route"] as const }).labels({
    route: "/api",
  });
  const b = new client.Histogram({ name: "bound_seconds", help: "h", labelNames: ["route"], registers: [peer] }).labels(
    { route: "/api" },
  );
  const v = (i: number) => (i & 1023) / 1000;
  const r = compare(
    (i) => {
      a.observe(v(i));
      a.observe(v(i + 1));
      a.observe(v(i + 2));
      a.observe(v(i + 3));
      a.observe(v(i + 4));
    },
    (i) => {
      b.observe(v(i));
      b.observe(v(i + 1));
      b.observe(v(i + 2));
      b.observe(v(i + 3));
      b.observe(v(i + 4));
    },
    100_000,
  );
  report("histogram.labels(l).observe() bound", { ours: r.ours / 5, peer: r.peer / 5 }, 30, 4);
}
{ // labelled observe
  const a = ours.histogram({ name: "labelled_seconds", help: "h", labelNames: ["method"] as const });
  const b = new client.Histogram({ name: "labelled_seconds", help: "h", labelNames: ["method"], registers: [peer] });
  report(
    "histogram.observe(labels, v)",
    compare(
      (i) => a.observe({ method: labelValues[i & 3]! }, (i & 1023) / 1000),
      (i) => b.observe({ method: labelValues[i & 3]! }, (i & 1023) / 1000),
      500_000,
    ),
    0,
    4,
  );
}
{ // render of 10k series, each side in its own registry
  const r1 = new Registry({ maxSeries: 20_000, selfMetrics: false });
  const r2 = new client.Registry();
  const a = r1.counter({ name: "render_total", help: "r", labelNames: ["id", "route"] as const });
  const b = new client.Counter({ name: "render_total", help: "r", labelNames: ["id", "route"], registers: [r2] });
  for (let i = 0; i < 10_000; i++) {
    a.inc({ id: String(i), route: "/api/v1/items" }, i);
    b.inc({ id: String(i), route: "/api/v1/items" }, i);
  }
  // prom-client's metrics() is async; measure it awaited, one at a time.
  // Both sides' text is encoded to UTF-8, as a server must: this also flattens V8's string ropes,
  // so neither side gets credit for work deferred past the measurement.
  const utf8 = new TextEncoder();
  const med = (f: () => unknown) => {
    const xs: number[] = [];
    for (let k = 0; k < 15; k++) {
      const t = performance.now();
      f();
      xs.push(performance.now() - t);
    }
    return xs.sort((x, y) => x - y)[7]!;
  };
  const m1 = med(() => sink.push(utf8.encode(r1.render()).length));
  const xs: number[] = [];
  for (let k = 0; k < 15; k++) {
    const t = performance.now();
    sink.push(utf8.encode(await r2.metrics()).length);
    xs.push(performance.now() - t);
  }
  const m2 = xs.sort((x, y) => x - y)[7]!;
  report("render 10,000 series (text 0.0.4)", { ours: m1 * 1e6, peer: m2 * 1e6 }, 10e6, 3);
}
if (sink.length === 0) console.log("");
export { results };

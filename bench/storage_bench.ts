// The store's memory and speed, side by side with prom-client and @prometheus-io/client.
//
// Memory is measured in child processes, one library per process (so no library's garbage
// counts against another), on Node, Deno and Bun: RSS from /proc/self/status, heap after a
// full collection, and the registry's `byteLength` (its shared memory). Speed is measured in
// one process, the libraries interleaved. Nothing here asserts: every row carries its target
// and whether this run met it, and bench/run.ts turns the rows into tables.
//
// Run: node --import tsx bench/storage_bench.ts [quick]
// Prints one JSON line per row: {"section","case","ours","prom_client","prometheus_io","target","met"}.
// A probe (the child side): <runtime> bench/storage_bench.ts --probe <name> [args...]
import { fmtBytes, fmtMs, gc, heapUsed, median, probe, rss, runtime } from "./_memory.ts";
import { Registry } from "../mod.ts";

const FILE = new URL(import.meta.url).pathname;
const MiB = 2 ** 20;

type Lib = "ours" | "prom-client" | "prometheus-io";
// deno-lint-ignore no-explicit-any
type Client = any;

async function peer(lib: Lib): Promise<Client> {
  const m = lib === "prom-client" ? await import("prom-client") : await import("@prometheus-io/client");
  return m.default ?? m;
}

// ---- probes: each runs alone in a fresh process and prints one JSON line ------------------

/** `new Registry()` with defaults: the first one in the process, then ten more. */
async function probeRegistry(lib: Lib): Promise<Record<string, number>> {
  const client = lib === "ours" ? undefined : await peer(lib);
  const make = () => (client === undefined ? new Registry() : new client.Registry());
  const keep: unknown[] = [];
  const rss0 = (gc(), rss());
  const heap0 = heapUsed();
  const first = make();
  keep.push(first);
  const rss1 = (gc(), rss());
  const heap1 = heapUsed();
  for (let i = 0; i < 10; i++) keep.push(make());
  const rss2 = (gc(), rss());
  const heap2 = heapUsed();
  const bytes = client === undefined ? (first as Registry).byteLength : 0;
  return {
    firstRss: rss1 - rss0,
    firstHeap: heap1 - heap0,
    bytes,
    tenRss: rss2 - rss1,
    tenHeap: heap2 - heap1,
    tenBytes: bytes * 10,
    kept: keep.length,
  };
}

/** A registry with `maxSeries` and a counter of 10 series. */
function probeMaxSeries(maxSeries: number): Record<string, number> {
  // Warm-up: the library's code compiled by a registry that is then collected.
  {
    const warm = new Registry({ maxSeries });
    const c = warm.counter({ name: "requests_total", help: "R", labelNames: ["route"] as const });
    for (let i = 0; i < 10; i++) c.inc({ route: "/route/" + i });
  }
  gc();
  const rss0 = (gc(), rss());
  const heap0 = heapUsed();
  const registry = new Registry({ maxSeries });
  const c = registry.counter({ name: "requests_total", help: "R", labelNames: ["route"] as const });
  for (let i = 0; i < 10; i++) c.inc({ route: "/route/" + i });
  const rss1 = (gc(), rss());
  return { rss: rss1 - rss0, heap: heapUsed() - heap0, bytes: registry.byteLength, series: registry.seriesCount() };
}

/** `n` counter series with two labels: heap + shared bytes and RSS. */
async function probeSeries(lib: Lib, n: number): Promise<Record<string, number>> {
  const client = lib === "ours" ? undefined : await peer(lib);
  // The registry and metric first: what is measured is the series.
  let inc: (labels: { id: string; route: string }) => void;
  let bytes = () => 0;
  if (client === undefined) {
    const registry = new Registry({ maxSeries: n + 10 });
    const c = registry.counter({ name: "requests_total", help: "R", labelNames: ["id", "route"] as const });
    inc = (l) => c.inc(l);
    bytes = () => registry.byteLength;
  } else {
    const registry = new client.Registry();
    const c = new client.Counter({
      name: "requests_total",
      help: "R",
      labelNames: ["id", "route"],
      registers: [registry],
    });
    inc = (l) => c.inc(l);
    (globalThis as { keep?: unknown }).keep = registry;
  }
  inc({ id: "warm", route: "/warm" });
  const rss0 = (gc(), rss());
  const heap0 = heapUsed();
  const bytes0 = bytes();
  for (let i = 0; i < n; i++) inc({ id: "user-" + i, route: "/api/v1/route/" + (i % 100) });
  const rss1 = (gc(), rss());
  const heap = heapUsed() - heap0;
  const shared = bytes() - bytes0;
  return { heap, shared, perSeries: (heap + shared) / n, rss: rss1 - rss0, rssPerSeries: (rss1 - rss0) / n };
}

/** Summary series: shared bytes per series (1,000 made), and whether `maxSeries` of them fit. */
async function probeSummary(lib: Lib): Promise<Record<string, number>> {
  const n = 1000;
  if (lib !== "ours") {
    const client = await peer(lib);
    const registry = new client.Registry();
    const s = new client.Summary({ name: "latency_seconds", help: "L", labelNames: ["id"], registers: [registry] });
    s.observe({ id: "warm" }, 1);
    const rss0 = (gc(), rss());
    const heap0 = heapUsed();
    for (let i = 0; i < n; i++) s.observe({ id: "s" + i }, i / 1000);
    const rss1 = (gc(), rss());
    return { perSeries: (heapUsed() - heap0) / n, rssPerSeries: (rss1 - rss0) / n };
  }
  const registry = new Registry();
  const s = registry.summary({ name: "latency_seconds", help: "L", labelNames: ["id"] as const });
  s.observe({ id: "warm" }, 1);
  const rss0 = (gc(), rss());
  const heap0 = heapUsed();
  const bytes0 = registry.byteLength;
  for (let i = 0; i < n; i++) s.observe({ id: "s" + i }, i / 1000);
  const shared = (registry.byteLength - bytes0) / n;
  const rss1 = (gc(), rss());
  const heap = (heapUsed() - heap0) / n;
  // maxSeries (the default 10,000) summary series in a fresh default registry.
  const full = new Registry();
  const max = full.summary({ name: "latency_seconds", help: "L", labelNames: ["id"] as const });
  for (let i = 0; i < 10_000; i++) max.observe({ id: "s" + i }, i / 1000);
  const text = full.render();
  const overflowLines =
    text.split("\n").filter((l) => l.startsWith("latency_seconds") && l.includes("otel_metric_overflow"))
      .length;
  const counted = /^latency_seconds_count\{id="s\d+"\} 1$/gm;
  return {
    sharedPerSeries: shared,
    heapPerSeries: heap,
    rssPerSeries: (rss1 - rss0) / n,
    perSeries: shared + heap,
    fitted: text.match(counted)?.length ?? 0,
    live: full.seriesCount(),
    overflowLines,
    fullBytes: full.byteLength,
  };
}

/**
 * Gauge set/inc/dec after share(), ns per call (ten calls unrolled per step): the metric's own
 * methods (no labels) and a bound series (`labels({})`); prom-client's gauge for context.
 */
async function probeGauge(lib: Lib): Promise<Record<string, number>> {
  const { measure } = await import("./_harness.ts");
  type G = { set(v: number): void; inc(v?: number): void; dec(v?: number): void };
  let metric: G;
  let bound: G;
  if (lib === "ours") {
    const registry = new Registry();
    registry.share();
    const g = registry.gauge({ name: "in_flight", help: "G" });
    metric = g;
    bound = g.labels({});
  } else {
    const client = await peer(lib);
    const g = new client.Gauge({ name: "in_flight", help: "G", registers: [new client.Registry()] });
    metric = g;
    bound = g;
  }
  const best = (fn: (i: number) => void) => {
    let b = Infinity;
    for (let k = 0; k < 3; k++) b = Math.min(b, measure(fn, 200_000));
    return b / 10;
  };
  const out: Record<string, number> = {};
  for (const [name, g] of [["", metric], ["bound_", bound]] as const) {
    out[`${name}set`] = best((i) => {
      g.set(i);
      g.set(i + 1);
      g.set(i + 2);
      g.set(i + 3);
      g.set(i + 4);
      g.set(i + 5);
      g.set(i + 6);
      g.set(i + 7);
      g.set(i + 8);
      g.set(i + 9);
    });
    out[`${name}inc`] = best(() => {
      g.inc();
      g.inc();
      g.inc();
      g.inc();
      g.inc();
      g.inc(2);
      g.inc(2);
      g.inc(2);
      g.inc(2);
      g.inc(2);
    });
    out[`${name}dec`] = best(() => {
      g.dec();
      g.dec();
      g.dec();
      g.dec();
      g.dec();
      g.dec(2);
      g.dec(2);
      g.dec(2);
      g.dec(2);
      g.dec(2);
    });
  }
  return out;
}

/**
 * Creating series: the first `inc(labels)` of each of `n` new label sets (two labels), every
 * library in this one process, interleaved round by round (the order rotates), a fresh
 * registry each time, collected before the next. Returns the median ms per library.
 */
async function probeCreate(n: number, rounds: number): Promise<Record<string, number>> {
  const ids = Array.from({ length: n }, (_, i) => "user-" + i);
  const promClient = await peer("prom-client");
  const prometheusIo = await peer("prometheus-io");
  const make: Record<Lib, () => (l: { id: string; route: string }) => void> = {
    "ours": () => {
      const c = new Registry({ maxSeries: n + 10 }).counter({
        name: "requests_total",
        help: "R",
        labelNames: ["id", "route"] as const,
      });
      return (l) => c.inc(l);
    },
    "prom-client": () => {
      const c = new promClient.Counter({
        name: "requests_total",
        help: "R",
        labelNames: ["id", "route"],
        registers: [new promClient.Registry()],
      });
      return (l) => c.inc(l);
    },
    "prometheus-io": () => {
      const c = new prometheusIo.Counter({
        name: "requests_total",
        help: "R",
        labelNames: ["id", "route"],
        registers: [new prometheusIo.Registry()],
      });
      return (l) => c.inc(l);
    },
  };
  const libs: Lib[] = ["ours", "prom-client", "prometheus-io"];
  const times: Record<Lib, number[]> = { "ours": [], "prom-client": [], "prometheus-io": [] };
  // Warm-up: every library's creation path compiled before anything is timed.
  for (const lib of libs) {
    const inc = make[lib]();
    for (let i = 0; i < 5000; i++) inc({ id: ids[i % n]! + "w", route: "/api" });
  }
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < libs.length; k++) {
      const lib = libs[(r + k) % libs.length]!;
      gc();
      let inc: ((l: { id: string; route: string }) => void) | undefined = make[lib]();
      const start = performance.now();
      for (let i = 0; i < n; i++) inc({ id: ids[i]!, route: "/api" });
      times[lib].push(performance.now() - start);
      inc = undefined;
    }
  }
  return {
    ours: median(times.ours),
    promClient: median(times["prom-client"]),
    prometheusIo: median(times["prometheus-io"]),
  };
}

if (process.argv[2] === "--probe") {
  const [name, a, b] = process.argv.slice(3);
  let out: Record<string, number>;
  if (name === "registry") out = await probeRegistry(a as Lib);
  else if (name === "maxseries") out = probeMaxSeries(Number(a));
  else if (name === "series") out = await probeSeries(a as Lib, Number(b));
  else if (name === "summary") out = await probeSummary(a as Lib);
  else if (name === "gauge") out = await probeGauge(a as Lib);
  else if (name === "create") out = await probeCreate(Number(a), Number(b));
  else throw new Error(`Unknown probe ${name}`);
  console.log(JSON.stringify({ runtime, ...out }));
  process.exit(0);
}

// ---- the runner side --------------------------------------------------------------------

export interface Row {
  section: string;
  case: string;
  ours: string;
  prom_client?: string;
  prometheus_io?: string;
  target: string;
  met: boolean | null;
}

const quick = process.argv[2] === "quick";
const rows: Row[] = [];
function row(r: Row): void {
  rows.push(r);
  console.log(JSON.stringify(r));
}

/** Runs a probe `runs` times; the median of each field, and the max of each as `max_<field>`. */
function probeMedian(
  on: "node" | "deno" | "bun",
  args: string[],
  runs: number,
): Record<string, number> {
  const results = Array.from({ length: runs }, () => probe(on, FILE, ["--probe", ...args]));
  const out: Record<string, number> = {};
  for (const key of Object.keys(results[0]!)) {
    if (typeof results[0]![key] !== "number") continue;
    out[key] = median(results.map((r) => r[key]!));
    out[`max_${key}`] = Math.max(...results.map((r) => r[key]!));
  }
  return out;
}

const RUNTIMES = ["node", "deno", "bun"] as const;
const SECTION_REGISTRY = "A default registry";

// 1. new Registry() with defaults, per runtime; peers on Node.
for (const on of RUNTIMES) {
  const runs = quick ? 3 : on === "bun" ? 10 : 5;
  const ours = probeMedian(on, ["registry", "ours"], runs);
  const peers = on === "node"
    ? { pc: probeMedian(on, ["registry", "prom-client"], 3), pio: probeMedian(on, ["registry", "prometheus-io"], 3) }
    : undefined;
  const rssText = (r: Record<string, number>, key: string) =>
    `${fmtBytes(r[key]!)} (max ${fmtBytes(r[`max_${key}`]!)})`;
  row({
    section: SECTION_REGISTRY,
    case:
      `${on}: RSS change of the first \`new Registry()\` in a process (includes compiling the library code; median of ${runs} processes)`,
    ours: rssText(ours, "firstRss"),
    ...(peers ? { prom_client: rssText(peers.pc, "firstRss"), prometheus_io: rssText(peers.pio, "firstRss") } : {}),
    target: "≤ 1 MiB",
    met: ours.max_firstRss! <= MiB,
  });
  row({
    section: SECTION_REGISTRY,
    case: `${on}: RSS change of 10 more, per registry`,
    ours: rssText({ a: ours.tenRss! / 10, max_a: ours.max_tenRss! / 10 }, "a"),
    ...(peers
      ? {
        prom_client: fmtBytes(peers.pc.tenRss! / 10),
        prometheus_io: fmtBytes(peers.pio.tenRss! / 10),
      }
      : {}),
    target: "≤ 1 MiB",
    met: ours.max_tenRss! / 10 <= MiB,
  });
  row({
    section: SECTION_REGISTRY,
    case: `${on}: heap of the first registry; byteLength`,
    ours: `${fmtBytes(ours.firstHeap!)}; ${fmtBytes(ours.bytes!)}`,
    ...(peers ? { prom_client: fmtBytes(peers.pc.firstHeap!), prometheus_io: fmtBytes(peers.pio.firstHeap!) } : {}),
    target: "≤ 1 MiB",
    met: ours.bytes! + Math.max(0, ours.firstHeap!) <= MiB,
  });
}

// 2. maxSeries is a limit, not a reservation.
{
  const section = "`maxSeries` is a limit, not a reservation (10 series)";
  for (const on of RUNTIMES) {
    const small = probeMedian(on, ["maxseries", "10000"], 3);
    const large = probeMedian(on, ["maxseries", "1000000"], 3);
    row({
      section,
      case: `${on}: byteLength, maxSeries 1,000,000 vs 10,000`,
      ours: `${fmtBytes(large.bytes!)} vs ${fmtBytes(small.bytes!)}`,
      target: "the same",
      met: large.bytes! <= small.bytes! * 1.1,
    });
    row({
      section,
      case: `${on}: RSS change, maxSeries 1,000,000 vs 10,000 (registry + 10 series)`,
      ours: `${fmtBytes(large.rss!)} vs ${fmtBytes(small.rss!)}`,
      target: "≈ the same (≤ +256 KiB)",
      met: large.rss! <= small.rss! + 256 * 1024,
    });
  }
}

// 3. 100k counter series with two labels.
{
  const section = "100,000 counter series with 2 labels (each library in its own process)";
  const n = quick ? 20_000 : 100_000;
  const runs = quick ? 1 : 3;
  const ours = probeMedian("node", ["series", "ours", String(n)], runs);
  const pc = probeMedian("node", ["series", "prom-client", String(n)], runs);
  const pio = probeMedian("node", ["series", "prometheus-io", String(n)], runs);
  row({
    section,
    case: `node: heap + shared bytes per series (${n.toLocaleString("en")} series)`,
    ours: `${fmtBytes(ours.perSeries!)} (heap ${fmtBytes(ours.heap! / n)} + shared ${fmtBytes(ours.shared! / n)})`,
    prom_client: fmtBytes(pc.perSeries!),
    prometheus_io: fmtBytes(pio.perSeries!),
    target: "≤ prom-client's",
    met: ours.perSeries! <= pc.perSeries!,
  });
  row({
    section,
    case: `node: RSS change`,
    ours: fmtBytes(ours.rss!),
    prom_client: fmtBytes(pc.rss!),
    prometheus_io: fmtBytes(pio.rss!),
    target: "≤ prom-client's",
    met: ours.rss! <= pc.rss!,
  });
  for (const on of ["deno", "bun"] as const) {
    const r = probeMedian(on, ["series", "ours", String(n)], 1);
    row({
      section,
      case: `${on}: heap + shared bytes per series; RSS change (for the record)`,
      ours: `${fmtBytes(r.perSeries!)}; ${fmtBytes(r.rss!)}`,
      target: "",
      met: null,
    });
  }
}

// 4. Creating series.
{
  const section = "Creating series: the first `inc(labels)` of each new label set (one process, interleaved)";
  const sizes: [number, number][] = quick ? [[10_000, 3], [100_000, 1]] : [[10_000, 7], [100_000, 5], [1_000_000, 3]];
  for (const [n, rounds] of sizes) {
    const r = probe("node", FILE, ["--probe", "create", String(n), String(rounds)], 600_000);
    row({
      section,
      case: `node: ${n.toLocaleString("en")} series (median of ${rounds})`,
      ours: fmtMs(r.ours!),
      prom_client: fmtMs(r.promClient!),
      prometheus_io: fmtMs(r.prometheusIo!),
      target: "≤ prom-client's",
      met: r.ours! <= r.promClient!,
    });
  }
}

// 6. Summary series.
{
  const section = "Summary series (default window: 600 s in 5 age buckets)";
  const ours = probeMedian("node", ["summary", "ours"], quick ? 1 : 3);
  const pc = probeMedian("node", ["summary", "prom-client"], 1);
  const pio = probeMedian("node", ["summary", "prometheus-io"], 1);
  row({
    section,
    case: "node: shared bytes per summary series (1,000 made)",
    ours: fmtBytes(ours.sharedPerSeries!),
    target: "≤ 8 KiB",
    met: ours.sharedPerSeries! <= 8192,
  });
  row({
    section,
    case: "node: heap + shared bytes per summary series (peers: heap)",
    ours: fmtBytes(ours.perSeries!),
    prom_client: fmtBytes(pc.perSeries!),
    prometheus_io: fmtBytes(pio.perSeries!),
    target: "",
    met: null,
  });
  row({
    section,
    case: "node: byteLength of a default registry holding 10,000 summary series, per series (buffers grow by doubling)",
    ours: fmtBytes(ours.fullBytes! / 10_000),
    target: "",
    met: null,
  });
  row({
    section,
    case: "node: summary series of a default registry (maxSeries 10,000) that render their own line",
    ours: `${ours.fitted!.toLocaleString("en")} (live ${
      ours.live!.toLocaleString("en")
    }, overflow lines ${ours.overflowLines}, ${fmtBytes(ours.fullBytes!)})`,
    target: "10,000, none in overflow",
    met: ours.fitted === 10_000 && ours.overflowLines === 0,
  });
}

// 7. Gauges after share().
{
  const section = "Gauge after `share()`, ns per call (10 calls unrolled per step; best of 3 medians)";
  for (const on of RUNTIMES) {
    const ours = probeMedian(on, ["gauge", "ours"], quick ? 1 : 3);
    const pc = on === "node" ? probeMedian(on, ["gauge", "prom-client"], 1) : undefined;
    for (const op of ["set", "inc", "dec"] as const) {
      for (const [prefix, label] of [["", `gauge.${op}(v)`], ["bound_", `gauge.labels({}).${op}(v)`]] as const) {
        const ns = ours[`${prefix}${op}`]!;
        row({
          section,
          case: `${on}: ${label}`,
          ours: `${ns.toFixed(1)} ns`,
          ...(pc && prefix === "" ? { prom_client: `${pc[op]!.toFixed(1)} ns (unshared)` } : {}),
          target: on === "deno" ? "(for the record)" : "≤ 10 ns",
          met: on === "deno" ? null : ns <= 10,
        });
      }
    }
  }
}

export { rows };

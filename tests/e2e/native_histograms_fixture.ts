// The registry of the native-histogram end-to-end test, and a server of it for Deno and Bun
// (`deno run -A tests/e2e/native_histograms_fixture.ts`, `bun tests/e2e/native_histograms_fixture.ts`).
// The registry has created timestamps on; it is served on three loopback ports: one
// negotiating (Prometheus with native histograms asks for protobuf), one forced to OpenMetrics,
// one forced to the text format 0.0.4. Run as a program it prints
// `{"runtime","protobuf","openmetrics","prometheus"}` as one JSON line, records the batch when
// a line `record` comes on its standard input (and prints `recorded`), and stops when its
// standard input closes. Node imports it and serves the registry in-process.
import { Registry } from "../../mod.ts";

/** Observations in each histogram's batch: q × 201 is never a whole number for q = 0.5, 0.9, 0.99. */
export const BATCH = 201;

/** Classic buckets of `e2e_native_seconds`, which has native buckets too. */
export const CLASSIC_BOUNDS = [0.005, 0.05, 0.5, 5] as const;

/**
 * The batch of a histogram, spread evenly in log scale and shuffled, without randomness:
 * e2e_native_seconds from 1 ms to 10 s, e2e_wide_seconds across 12 orders of magnitude, 1 µs
 * to 1e6 s. Made by multiplication only (correctly rounded everywhere; `10 ** x` is not the
 * same number in every runtime), so Node, Deno and Bun record the same values.
 */
export function batch(name: "e2e_native_seconds" | "e2e_wide_seconds"): number[] {
  // The ratios are 10^0.02 and 10^0.06: 200 steps of 4 and 12 decades.
  const [low, ratio] = name === "e2e_native_seconds" ? [0.001, 1.0471285480508996] : [1e-6, 1.1481536214968828];
  const ladder: number[] = [];
  for (let i = 0, v = low; i < BATCH; i++, v *= ratio) ladder.push(v);
  // 97 is prime to 201: every rung once, in an order far from sorted.
  return Array.from({ length: BATCH }, (_, i) => ladder[(i * 97) % BATCH]!);
}

/** The trace id of the exemplar recorded with the first observation of a histogram. */
export function traceId(runtime: string, name: string): string {
  return `${runtime}-${name}`;
}

/** A registry with two native histograms, a counter and a summary, and the batch that fills them. */
export function nativeFixture(runtime: string): { registry: Registry; record(): void } {
  const registry = new Registry({ createdTimestamps: true });
  const native = registry.histogram({
    name: "e2e_native_seconds",
    help: "Native and classic buckets.",
    buckets: [...CLASSIC_BOUNDS],
    native: {},
  });
  const wide = registry.histogram({
    name: "e2e_wide_seconds",
    help: "Native buckets only, across 12 orders of magnitude.",
    native: { maxBuckets: 20 },
  });
  const jobs = registry.counter({ name: "e2e_jobs_total", help: "Jobs." });
  const summary = registry.summary({ name: "e2e_summary_seconds", help: "A summary.", quantiles: [0.5] });
  const recorded = registry.gauge({ name: "e2e_recorded", help: "1 once the batch was recorded." });
  return {
    registry,
    record() {
      const histograms = [[native, "e2e_native_seconds"], [wide, "e2e_wide_seconds"]] as const;
      for (const [histogram, name] of histograms) {
        batch(name).forEach((v, i) => histogram.observe(v, i === 0 ? { trace_id: traceId(runtime, name) } : undefined));
      }
      jobs.inc(BATCH);
      for (const v of batch("e2e_native_seconds")) summary.observe(v);
      recorded.set(1);
    },
  };
}

interface Started {
  port: number;
  close(): Promise<void>;
}

type Serve = (options: {
  registry: Registry;
  port: number;
  hostname: string;
  format?: "negotiate" | "openmetrics" | "prometheus";
}) => Promise<Started>;

/** Serves the registry on three ports: negotiated, OpenMetrics, text 0.0.4. */
export async function serveFixture(
  serve: Serve,
  registry: Registry,
): Promise<{ protobuf: Started; openmetrics: Started; prometheus: Started }> {
  const listen = { registry, port: 0, hostname: "127.0.0.1" };
  return {
    protobuf: await serve(listen),
    openmetrics: await serve({ ...listen, format: "openmetrics" }),
    prometheus: await serve({ ...listen, format: "prometheus" }),
  };
}

if ((import.meta as { main?: boolean }).main === true) {
  const runtime = "Deno" in globalThis ? "deno" : "bun";
  const adapter = (await import(`../../adapters/${runtime}.ts`)) as { serve: Serve };
  const fixture = nativeFixture(runtime);
  const servers = await serveFixture(adapter.serve, fixture.registry);
  console.log(JSON.stringify({
    runtime,
    protobuf: servers.protobuf.port,
    openmetrics: servers.openmetrics.port,
    prometheus: servers.prometheus.port,
  }));
  const process = (globalThis as {
    process?: {
      stdin: { on(event: string, listener: (chunk?: unknown) => void): void; resume(): void };
      exit(code: number): never;
    };
  }).process!;
  let input = "";
  process.stdin.on("data", (chunk) => {
    input += String(chunk);
    for (let newline = input.indexOf("\n"); newline !== -1; newline = input.indexOf("\n")) {
      const line = input.slice(0, newline).trim();
      input = input.slice(newline + 1);
      if (line === "record") {
        fixture.record();
        console.log("recorded");
      }
    }
  });
  // stdin closing means the parent test went away.
  process.stdin.on("end", async () => {
    await Promise.all(Object.values(servers).map((server) => server.close()));
    process.exit(0);
  });
  process.stdin.resume();
}

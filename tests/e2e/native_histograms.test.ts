// End to end: Debian's Prometheus 2.42 with --enable-feature=native-histograms and
// --enable-feature=exemplar-storage scrapes the Node, Deno and Bun servers of one registry
// (created timestamps on) three ways each: negotiated (Prometheus then asks for protobuf first),
// forced to OpenMetrics and forced to the text format 0.0.4. The test waits until Prometheus
// holds the empty histograms, records one batch, and reads back through Prometheus' HTTP API
// the native histograms (count, sum, every bucket, quantiles of their rate), the classic
// buckets of the same histogram, the exemplars, and that every scrape in every format was
// accepted.
//
// Prometheus 2.42 ingests a histogram that comes over protobuf with native buckets as a native
// histogram only (keeping its classic buckets as well came with `scrape_classic_histograms`
// in 2.45), so the classic buckets of the same histogram reach it through the OpenMetrics
// scrape of the same registry. It reads a native histogram's exemplars from the classic bucket
// list only (`Histogram.exemplars`, field 16, came later), one per scrape: the registry writes
// the +Inf bucket with its exemplar for a histogram without classic buckets, as client_golang
// did, so both histograms show theirs.
//
// Node only: node --import tsx --test tests/e2e/native_histograms.test.ts
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { serve } from "../../adapters/node.ts";
import {
  freePort,
  getResponse,
  getText,
  type StartedProcess,
  startProcess,
  stopProcess,
  waitFor,
} from "../support/process.ts";
import { decodeFamilies, millis } from "../exposition/_protobuf_decoder.ts";
import { BATCH, batch, CLASSIC_BOUNDS, nativeFixture, serveFixture, traceId } from "./native_histograms_fixture.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const PROMETHEUS = process.env.PROMETHEUS_BIN ?? "/usr/bin/prometheus";
const STARTUP_TIMEOUT_MS = 60_000;
const SCRAPE_TIMEOUT_MS = 30_000;
const RUNTIMES = ["node", "deno", "bun"] as const;
const FORMATS = ["protobuf", "openmetrics", "prometheus"] as const;
const HISTOGRAMS = ["e2e_native_seconds", "e2e_wide_seconds"] as const;
const NATIVE_ACCEPT = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";

type Runtime = typeof RUNTIMES[number];
type Ports = Record<typeof FORMATS[number], number>;

const ports = new Map<Runtime, Ports>();
const children: ChildProcess[] = [];
const closers: (() => Promise<void>)[] = [];
const recorders = new Map<Runtime, () => void>();
let prometheus: { url: string; dataDirectory: string; process: StartedProcess } | undefined;
let startedAt = 0;

/** One series of an instant query: a float sample or a native histogram. */
interface Sample {
  metric: Record<string, string>;
  value?: [number, string];
  histogram?: [number, { count: string; sum: string; buckets?: [number, string, string, string][] }];
}

async function api<T>(path: string): Promise<T> {
  const response = await getText(`${prometheus!.url}${path}`);
  const body = JSON.parse(response.text) as { status: string; data: T; error?: string };
  assert.equal(body.status, "success", `${path}: ${body.error ?? response.text}`);
  return body.data;
}

async function query(promql: string): Promise<Sample[]> {
  return (await api<{ result: Sample[] }>(`/api/v1/query?query=${encodeURIComponent(promql)}`)).result;
}

async function valueOf(promql: string): Promise<number> {
  const result = await query(promql);
  assert.equal(result.length, 1, `one series for ${promql}, got ${JSON.stringify(result)}`);
  return Number(result[0]!.value![1]);
}

function job(runtime: Runtime, format: typeof FORMATS[number]): string {
  return `${runtime}_${format}`;
}

/** Prometheus with native histograms and exemplar storage, scraping every port every second. */
async function startPrometheus(): Promise<void> {
  const dataDirectory = mkdtempSync(join(tmpdir(), "atomic-metrics-native-"));
  const configFile = join(dataDirectory, "prometheus.yml");
  const scrapeConfigs = [...ports].flatMap(([runtime, p]) =>
    FORMATS.map((format) =>
      [`  - job_name: ${job(runtime, format)}`, `    static_configs:`, `      - targets: ["127.0.0.1:${p[format]}"]`]
        .join("\n")
    )
  );
  writeFileSync(
    configFile,
    ["global:", "  scrape_interval: 1s", "  scrape_timeout: 1s", "scrape_configs:", ...scrapeConfigs, ""].join("\n"),
  );
  const port = await freePort();
  const started = startProcess(PROMETHEUS, [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${join(dataDirectory, "data")}`,
    `--web.listen-address=127.0.0.1:${port}`,
    "--enable-feature=native-histograms",
    "--enable-feature=exemplar-storage",
    "--log.level=warn",
  ], dataDirectory);
  prometheus = { url: `http://127.0.0.1:${port}`, dataDirectory, process: started };
  children.push(started.child);
}

/** The first line a child prints. */
function nextLine(child: ChildProcess, what: string): Promise<string> {
  return new Promise((done, fail) => {
    let output = "";
    let errors = "";
    const timer = setTimeout(() => fail(new Error(`${what} printed no line: ${errors}`)), STARTUP_TIMEOUT_MS);
    child.stderr?.on("data", (chunk: Buffer) => (errors += chunk.toString()));
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const newline = output.indexOf("\n");
      if (newline === -1) return;
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      done(output.slice(0, newline));
    };
    child.stdout?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`${what} exited with ${String(code)}: ${errors}`));
    });
  });
}

async function startFixture(runtime: "deno" | "bun"): Promise<void> {
  const binary = join(ROOT, "node_modules", ".bin", runtime);
  const script = "tests/e2e/native_histograms_fixture.ts";
  const fixture = startProcess(binary, runtime === "deno" ? ["run", "-A", script] : [script], ROOT);
  children.push(fixture.child);
  const line = JSON.parse(await nextLine(fixture.child, `${runtime} fixture`)) as Ports & { runtime: string };
  assert.equal(line.runtime, runtime);
  ports.set(runtime, { protobuf: line.protobuf, openmetrics: line.openmetrics, prometheus: line.prometheus });
  recorders.set(runtime, () => fixture.child.stdin!.write("record\n"));
}

async function startNode(): Promise<void> {
  const fixture = nativeFixture("node");
  const servers = await serveFixture(serve, fixture.registry);
  closers.push(...Object.values(servers).map((server) => () => server.close()));
  ports.set("node", {
    protobuf: servers.protobuf.port,
    openmetrics: servers.openmetrics.port,
    prometheus: servers.prometheus.port,
  });
  recorders.set("node", fixture.record);
}

/** The bucket of a positive value at a schema: (2^((k-1)/2^s), 2^(k/2^s)]. */
function bucketOf(v: number, schema: number): { key: number; lower: number; upper: number } {
  const key = Math.ceil(Math.log2(v) * 2 ** schema);
  return { key, lower: 2 ** ((key - 1) / 2 ** schema), upper: 2 ** (key / 2 ** schema) };
}

/** The schema of a native histogram as Prometheus answers it: from the ratio of a bucket's bounds. */
function schemaOf(buckets: [number, string, string, string][]): number {
  const [, lower, upper] = buckets.find(([, lower]) => Number(lower) > 0)!;
  return Math.round(-Math.log2(Math.log2(Number(upper) / Number(lower))));
}

describe("Prometheus 2.42 stores native histograms scraped over protobuf from every runtime", () => {
  before(async () => {
    startedAt = Date.now();
    await startNode();
    await Promise.all([startFixture("deno"), startFixture("bun")]);
    await startPrometheus();
    await waitFor(
      "Prometheus to be ready",
      async () => (await getText(`${prometheus!.url}/-/ready`)).status === 200,
      STARTUP_TIMEOUT_MS,
      prometheus!.process.log,
    );
    // The empty native histograms first, so that the rate over the window is the batch.
    // histogram_count() drops the metric name: one query per histogram.
    const stored = async (count: number) => {
      for (const name of HISTOGRAMS) {
        if ((await query(`histogram_count(${name}) == ${count}`)).length !== RUNTIMES.length) return false;
      }
      return true;
    };
    await waitFor("every empty native histogram stored", () => stored(0), SCRAPE_TIMEOUT_MS, prometheus!.process.log);
    for (const record of recorders.values()) record();
    await waitFor(
      "every batch stored in every format",
      async () => {
        const classic = await query(`e2e_native_seconds_count == ${BATCH}`);
        return await stored(BATCH) && classic.length === 2 * RUNTIMES.length;
      },
      SCRAPE_TIMEOUT_MS,
      prometheus!.process.log,
    );
  });

  after(async () => {
    for (const child of children) child.stdin?.end();
    await Promise.all(children.map(stopProcess));
    await Promise.all(closers.map((close) => close()));
    if (prometheus !== undefined) rmSync(prometheus.dataDirectory, { recursive: true, force: true });
  });

  it("Prometheus scraped the negotiated targets over protobuf and accepted every scrape in every format", async () => {
    for (const runtime of RUNTIMES) {
      for (const format of FORMATS) {
        const name = job(runtime, format);
        // Every scrape since Prometheus started succeeded.
        assert.equal(await valueOf(`min_over_time(up{job="${name}"}[1m])`), 1, name);
        const formats = await query(`atomic_metrics_scrapes_total{job="${name}"} > 0`);
        // One registry serves the three ports, so each job sees the scrapes of all three.
        assert.deepEqual(formats.map((s) => s.metric.format).sort(), ["openmetrics", "prometheus", "protobuf"], name);
      }
    }
  });

  it("histogram_count() and histogram_sum() of the native histograms are exactly what was recorded", async () => {
    for (const name of HISTOGRAMS) {
      let sum = 0;
      for (const v of batch(name)) sum += v;
      for (const runtime of RUNTIMES) {
        const selector = `${name}{job="${job(runtime, "protobuf")}"}`;
        assert.equal(await valueOf(`histogram_count(${selector})`), BATCH, selector);
        assert.equal(await valueOf(`histogram_sum(${selector})`), sum, selector);
      }
    }
  });

  it("Prometheus holds every native bucket as recorded, the wide histogram at a reduced schema", async () => {
    for (const name of HISTOGRAMS) {
      for (const runtime of RUNTIMES) {
        const [sample] = await query(`${name}{job="${job(runtime, "protobuf")}"}`);
        const buckets = sample!.histogram![1].buckets!;
        const schema = schemaOf(buckets);
        // e2e_native_seconds at bucketFactor 1.1's schema; e2e_wide_seconds halved until its
        // 40 powers of two fit in 20 buckets.
        assert.equal(schema, name === "e2e_native_seconds" ? 3 : -1, `${name} ${runtime} schema`);
        const expected = new Map<number, number>();
        for (const v of batch(name)) {
          const { upper } = bucketOf(v, schema);
          expected.set(upper, (expected.get(upper) ?? 0) + 1);
        }
        const stored = new Map<number, number>();
        for (const [rule, lower, upper, count] of buckets) {
          assert.equal(rule, 0, "buckets open on the left, closed on the right");
          // Prometheus computes the bounds from the key: the same numbers up to rounding.
          const bound = [...expected.keys()].find((b) => Math.abs(b - Number(upper)) <= 1e-12 * b);
          assert.ok(bound !== undefined, `${name} ${runtime}: a bucket (${lower}, ${upper}] not recorded`);
          stored.set(bound, Number(count));
        }
        assert.deepEqual(stored, expected, `${name} ${runtime} buckets`);
        assert.ok(expected.size <= (name === "e2e_wide_seconds" ? 20 : 160));
      }
    }
  });

  it("histogram_quantile() of the rate lies in the bucket of the true quantile: within the schema's relative error", async () => {
    // The estimate and the true quantile (the ceil(q·n)-th smallest value) are in the same
    // bucket (l, u] with u = l·2^(2^-schema): the estimate is within a factor 2^(2^-schema) of
    // the truth, a relative error under 2^(1/8) − 1 ≈ 9.05% at schema 3 and under 3 (a factor 4)
    // at schema −1.
    for (const name of HISTOGRAMS) {
      const sorted = batch(name).sort((a, b) => a - b);
      const schema = name === "e2e_native_seconds" ? 3 : -1;
      for (const q of [0.5, 0.9, 0.99]) {
        const truth = sorted[Math.ceil(q * BATCH) - 1]!;
        const { lower, upper } = bucketOf(truth, schema);
        for (const runtime of RUNTIMES) {
          const promql = `histogram_quantile(${q}, rate(${name}{job="${job(runtime, "protobuf")}"}[1m]))`;
          const estimate = await valueOf(promql);
          assert.ok(
            estimate >= lower * (1 - 1e-9) && estimate <= upper * (1 + 1e-9),
            `${promql} = ${estimate}: not in (${lower}, ${upper}], the bucket of the true ${truth}`,
          );
          assert.ok(estimate / truth <= 2 ** 2 ** -schema && truth / estimate <= 2 ** 2 ** -schema, promql);
        }
      }
    }
  });

  it("Prometheus holds the classic buckets of the same histogram, from the OpenMetrics scrape of its registry", async () => {
    const values = batch("e2e_native_seconds");
    for (const runtime of RUNTIMES) {
      for (const format of ["openmetrics", "prometheus"] as const) {
        const buckets = await query(`e2e_native_seconds_bucket{job="${job(runtime, format)}"}`);
        const got = new Map(
          buckets.map((s) => [s.metric.le === "+Inf" ? Infinity : Number(s.metric.le), Number(s.value![1])]),
        );
        const expected = new Map([...CLASSIC_BOUNDS, Infinity].map((le) => [le, values.filter((v) => v <= le).length]));
        assert.deepEqual(got, expected, `${runtime} ${format}`);
      }
    }
  });

  it("/api/v1/query_exemplars returns the exemplar recorded on each histogram, native and classic", async () => {
    const start = Math.floor(startedAt / 1000) - 1;
    const end = Math.ceil(Date.now() / 1000) + 1;
    for (const name of HISTOGRAMS) {
      const data = await api<
        { seriesLabels: Record<string, string>; exemplars: { labels: Record<string, string>; value: string }[] }[]
      >(
        `/api/v1/query_exemplars?query=${
          encodeURIComponent(`{__name__=~"${name}|${name}_bucket"}`)
        }&start=${start}&end=${end}`,
      );
      for (const runtime of RUNTIMES) {
        // The text format 0.0.4 has no exemplars; a histogram without classic buckets has none over text.
        const formats = name === "e2e_native_seconds"
          ? (["protobuf", "openmetrics"] as const)
          : (["protobuf"] as const);
        for (const format of formats) {
          // Over protobuf the native histogram's series; over text the classic bucket's.
          const series = data.filter((s) => s.seriesLabels.job === job(runtime, format));
          const exemplars = series.flatMap((s) => s.exemplars);
          assert.ok(exemplars.length > 0, `${name} ${runtime} ${format}: no exemplar in ${JSON.stringify(data)}`);
          assert.deepEqual(exemplars[0]!.labels, { trace_id: traceId(runtime, name) });
          assert.equal(Number(exemplars[0]!.value), batch(name)[0]);
          assert.equal(series[0]!.seriesLabels.__name__, format === "protobuf" ? name : `${name}_bucket`);
        }
      }
    }
  });

  it("Every runtime's protobuf and OpenMetrics carry the created timestamps, which Prometheus stored from OpenMetrics", async () => {
    for (const runtime of RUNTIMES) {
      const p = ports.get(runtime)!;
      const reply = await getResponse(`http://127.0.0.1:${p.protobuf}/metrics`, { accept: NATIVE_ACCEPT });
      const families = decodeFamilies(new Uint8Array(reply.bytes));
      const created = (name: string) => {
        const metric = families.find((f) => f.name === name)!.metric![0]!;
        const at = metric.counter?.createdTimestamp ?? metric.histogram?.createdTimestamp ??
          metric.summary?.createdTimestamp;
        assert.ok(at !== undefined, `${runtime} ${name}: no created_timestamp`);
        return millis(at);
      };
      for (const name of ["e2e_jobs_total", "e2e_native_seconds", "e2e_wide_seconds", "e2e_summary_seconds"]) {
        const at = created(name);
        assert.ok(at >= startedAt - 1000 && at <= Date.now(), `${runtime} ${name} created at ${at}`);
      }
      // Prometheus 2.42 stores OpenMetrics' _created samples as series of their own.
      const stored = await valueOf(`e2e_jobs_created{job="${job(runtime, "openmetrics")}"}`);
      assert.equal(Math.round(stored * 1000), created("e2e_jobs_total"), runtime);
    }
  });
});

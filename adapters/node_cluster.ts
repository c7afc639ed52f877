/**
 * Cluster mode for `node:cluster`, in prom-client's shape: each worker records into its own
 * registry and opts in with {@linkcode clusterWorker}; the primary answers scrapes with an
 * {@linkcode AggregatorRegistry}, which asks every live worker for a snapshot over the cluster's
 * IPC channel and merges them (see `docs/cluster.md`).
 *
 * Where prom-client's `AggregatorRegistry` fails, this one does not: a scrape answers within its
 * deadline when a worker is busy or dead (the others are merged, a busy worker's last snapshot
 * is used, and `atomic_metrics_cluster_workers_missed_total` counts the workers that did not
 * answer); counters never go backwards when a worker exits or is replaced (the primary keeps
 * what an exited worker had counted when it last answered); and workers send structured
 * snapshots in parts of bounded size, which the primary merges and streams, so no process
 * builds one string of a whole exposition.
 *
 * @example In the primary, before any worker answers
 * ```ts
 * import { AggregatorRegistry } from "@atomic/metrics/node";
 *
 * const aggregator = new AggregatorRegistry({ timeout: 1000 });
 * const text = await aggregator.clusterMetrics();
 * aggregator.close();
 * if (!text.includes("atomic_metrics_cluster_workers 0")) throw new Error(text);
 * ```
 *
 * @module
 */

import cluster, { type Worker } from "node:cluster";
import process from "node:process";
import type { Format, RenderOptions } from "../src/registry.ts";
import type { MetricSnapshot } from "../src/exposition/snapshot.ts";
import { OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, textFormatOf } from "../src/exposition/negotiate.ts";
import {
  type AggregatedSnapshot,
  type Aggregator,
  AGGREGATORS,
  type CompactSnapshot,
  isAggregator,
  mergeCompact,
  mergeSnapshots,
} from "../src/exposition/snapshot_merge.ts";
import { fromWire, toWire, type WireMetric } from "../src/exposition/snapshot_wire.ts";
import { renderSnapshots, streamSnapshots } from "../src/exposition/snapshot_stream.ts";
import { snapshotAfterHooks } from "../src/exposition/snapshot_after_hooks.ts";

export type { Aggregator } from "../src/exposition/snapshot_merge.ts";

/** The key that marks this library's messages on the IPC channel (its value: the protocol's version). */
const TAG = "atomic-metrics:cluster";
const PROTOCOL = 1;

/** Primary to worker: say whether you are there. */
interface Hello {
  kind: "hello";
}
/** Primary to worker: send a snapshot. */
interface CollectRequest {
  kind: "collect";
  /** The aggregator asking (several may run in one primary). */
  from: number;
  id: number;
  deadlineMs: number;
}
/** Worker to primary: `clusterWorker()` runs (`start`: it was just called; else an answer to hello). */
interface Ready {
  kind: "ready";
  start: boolean;
}
/** Worker to primary: a part of a snapshot; the last one has `last`. */
interface Part {
  kind: "part";
  from: number;
  id: number;
  metrics: WireMetric[];
  last: boolean;
}
/** Worker to primary: the snapshot could not be taken. */
interface Failed {
  kind: "failed";
  from: number;
  id: number;
  error: string;
}
type Message = (Hello | CollectRequest | Ready | Part | Failed) & { [TAG]: number };

function isMessage(message: unknown): message is Message {
  return message !== null && typeof message === "object" && (message as Record<string, unknown>)[TAG] === PROTOCOL;
}

function tell(onError: ((error: unknown) => void) | undefined, error: unknown): void {
  try {
    onError?.(error);
  } catch {
    // a callback that throws is ignored
  }
}

function checkAggregators(what: string, aggregators: unknown): Readonly<Record<string, Aggregator>> {
  if (aggregators === undefined) return {};
  if (aggregators === null || typeof aggregators !== "object" || Array.isArray(aggregators)) {
    throw new TypeError(`${what} option "aggregators" must be an object of metric names to aggregators`);
  }
  for (const [name, aggregator] of Object.entries(aggregators)) {
    if (!isAggregator(aggregator)) {
      throw new RangeError(
        `${what} option "aggregators" gives metric ${JSON.stringify(name)} the aggregator ${
          JSON.stringify(aggregator)
        }; it must be one of ${AGGREGATORS.join(", ")}`,
      );
    }
  }
  return { ...aggregators } as Record<string, Aggregator>;
}

/** Whether this worker answers already: two registries answering one request would mix their parts. */
let answering = false;

/** What {@linkcode clusterWorker} needs of a registry: a `Registry` has it. */
export interface ClusterWorkerSource {
  /** Runs the collect hooks, awaiting async ones up to the deadline. */
  collectAsync(options: { deadlineMs?: number; onError?: (error: unknown) => void }): Promise<void>;
  /** A structured snapshot of every metric. */
  collect(): MetricSnapshot[];
}

/** Options of {@linkcode clusterWorker}. */
export interface ClusterWorkerOptions {
  /**
   * Aggregators by metric name, for the primary to merge this worker's metrics with (the
   * primary's own `aggregators` option takes precedence); see {@linkcode Aggregator}.
   * @default {{}}
   */
  aggregators?: Record<string, Aggregator>;
  /** Called with what goes wrong while answering the primary (a collect hook that throws). */
  onError?: (error: unknown) => void;
}

/**
 * Opts a `node:cluster` worker in: from now on it answers the primary's
 * {@linkcode AggregatorRegistry} with snapshots of `registry`, taken after its collect hooks
 * ran (async ones up to the scrape's deadline), sent in parts of bounded size. Messages are
 * tagged, so the application's own messages on the channel are left alone. As any
 * `process.on("message")` listener, it keeps the IPC channel referenced until it is removed.
 *
 * @param registry The worker's registry (a `Registry`, or anything with `collectAsync()` and `collect()`).
 * @param options Aggregators for this worker's metrics and an error callback.
 * @returns A function that stops answering.
 * @throws {Error} when not called in a `node:cluster` worker, when it already answers for a registry here
 * (one process, one registry: `Registry.merge([a, b])` shows several as one), or with an invalid
 * registry or aggregator.
 *
 * @example A worker
 * ```ts ignore
 * import { Registry } from "@atomic/metrics";
 * import { clusterWorker } from "@atomic/metrics/node";
 *
 * const registry = new Registry();
 * const requests = registry.counter({ name: "requests_total", help: "Requests" });
 * registry.gauge({ name: "queue_depth", help: "Items waiting" });
 * clusterWorker(registry, { aggregators: { queue_depth: "max" } });
 * requests.inc();
 * ```
 */
export function clusterWorker(registry: ClusterWorkerSource, options: ClusterWorkerOptions = {}): () => void {
  const what = "clusterWorker()";
  if (
    registry === null || typeof registry !== "object" || typeof registry.collectAsync !== "function" ||
    typeof registry.collect !== "function"
  ) {
    throw new TypeError(`${what} needs a registry with collectAsync() and collect()`);
  }
  const aggregators = checkAggregators(what, options.aggregators);
  const onError = options.onError;
  if (!cluster.isWorker || typeof process.send !== "function") {
    throw new Error(
      `${what} must be called in a node:cluster worker; in the primary, use new AggregatorRegistry()`,
    );
  }
  if (answering) {
    throw new Error(
      `${what} is already answering for a registry in this worker: stop it first (call the function it returned), ` +
        "or pass one registry of several with Registry.merge([a, b])",
    );
  }
  const send = (message: Hello | CollectRequest | Ready | Part | Failed): Promise<void> =>
    new Promise((resolve, reject) => {
      try {
        process.send!({ [TAG]: PROTOCOL, ...message }, undefined, undefined, (error) => {
          if (error) reject(error);
          else resolve();
        });
      } catch (error) {
        reject(error);
      }
    });
  const answer = async (request: CollectRequest): Promise<void> => {
    const { from, id } = request;
    let parts: WireMetric[][];
    try {
      await registry.collectAsync({ deadlineMs: request.deadlineMs, onError: (error) => tell(onError, error) });
      const metrics: AggregatedSnapshot[] = snapshotAfterHooks(registry).map((metric) =>
        Object.hasOwn(aggregators, metric.name) ? { ...metric, aggregator: aggregators[metric.name]! } : metric
      );
      parts = toWire(metrics);
    } catch (error) {
      tell(onError, error);
      await send({ kind: "failed", from, id, error: error instanceof Error ? error.message : String(error) });
      return;
    }
    if (parts.length === 0) parts.push([]);
    // One part at a time, each sent before the next is made into a string: the channel never
    // holds the whole snapshot.
    for (let i = 0; i < parts.length; i++) {
      await send({ kind: "part", from, id, metrics: parts[i]!, last: i === parts.length - 1 });
    }
  };
  // Requests are answered in turn: a worker busy for a while finds them queued, and answers each.
  let queue = Promise.resolve();
  const onMessage = (message: unknown) => {
    if (!isMessage(message)) return;
    if (message.kind === "hello") {
      send({ kind: "ready", start: false }).catch((error) => tell(onError, error));
    } else if (message.kind === "collect") {
      const request = message as CollectRequest;
      queue = queue.then(() => answer(request)).catch((error) => tell(onError, error));
    }
  };
  process.on("message", onMessage);
  answering = true;
  send({ kind: "ready", start: true }).catch((error) => tell(onError, error));
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    answering = false;
    process.off("message", onMessage);
  };
}

/** Options of {@linkcode AggregatorRegistry}. */
export interface AggregatorRegistryOptions {
  /**
   * Milliseconds a scrape waits for the workers; a scrape through `metricsHandler()` waits at
   * most its own deadline (from Prometheus' `X-Prometheus-Scrape-Timeout-Seconds`) when that is
   * shorter. A worker that has not answered by then is counted as missed, and its last
   * snapshot, if any, is shown.
   * @default {5000}
   */
  timeout?: number;
  /**
   * Aggregators by metric name (see {@linkcode Aggregator}); they take precedence over those
   * a worker gives in `clusterWorker()`. Without either, prom-client's default metrics get
   * prom-client's aggregators and every other metric is added (`"sum"`).
   * @default {{}}
   */
  aggregators?: Record<string, Aggregator>;
  /**
   * Called with what goes wrong: a worker whose snapshot could not be taken or read, a
   * metric whose definition differs between workers. A callback that throws is ignored.
   */
  onError?: (error: unknown) => void;
}

/** A request the primary waits for: the parts so far. */
interface Outstanding {
  metrics: CompactSnapshot[];
  /** Sent before the worker said it just started listening: it was perhaps never received. */
  lost: boolean;
}

/** What the primary knows of a worker. */
interface WorkerState {
  /** It runs `clusterWorker()` (it said so, or answered). */
  ready: boolean;
  /**
   * It was running when the aggregator was made, was asked whether it runs `clusterWorker()`,
   * and has not said yet: a scrape waits for it as for a ready one, until one deadline passed
   * without a word from it (a process that never opts in then holds no later scrape up).
   */
  hello: boolean;
  /** Its last complete snapshot (as it came, in blocks) and the request it answered. */
  last: CompactSnapshot[] | undefined;
  lastId: number;
  /** Complete answers so far. */
  answers: number;
  outstanding: Map<number, Outstanding>;
  /** Called at the next answer, failure or exit. */
  waiters: (() => void)[];
}

/** The self-metrics of cluster mode, by name. */
const SELF = {
  workers: "atomic_metrics_cluster_workers",
  unanswered: "atomic_metrics_cluster_workers_unanswered",
  missedTotal: "atomic_metrics_cluster_workers_missed_total",
  exitedTotal: "atomic_metrics_cluster_workers_exited_total",
  conflictsTotal: "atomic_metrics_cluster_conflicts_total",
} as const;

function selfSnapshot(
  name: string,
  type: "counter" | "gauge",
  help: string,
  series: { labels: Record<string, string>; value: number }[],
  labelNames: string[] = [],
): AggregatedSnapshot {
  return {
    name,
    help,
    type,
    unit: "",
    labelNames,
    series: series.map(({ labels, value }) => ({ labels, value, count: 0, sum: 0, buckets: [], quantiles: [] })),
  };
}

let aggregatorCount = 0;

/**
 * The primary's view of a `node:cluster`: at each scrape it asks every live worker that runs
 * {@linkcode clusterWorker} for a snapshot and merges them, by label set: counters, histogram
 * buckets (classic and native), counts and sums, and summary counts and sums added; gauges,
 * and summary quantiles, by each metric's {@linkcode Aggregator}.
 *
 * A scrape answers by its deadline whatever the workers do: a worker that has not answered by
 * then (busy, stuck, or not running `clusterWorker()`) is shown by its last snapshot, if any,
 * and counted in `atomic_metrics_cluster_workers_missed_total`; a worker still busy with an
 * earlier request is not asked again until it answers. When a worker exits, the counters,
 * histograms and summary counts and sums of its last snapshot are kept in the totals (what it
 * counted after the last scrape is lost with it), so they never go backwards when a worker is
 * replaced; its gauges go with it. Self-metrics: `atomic_metrics_cluster_workers`,
 * `atomic_metrics_cluster_workers_unanswered` (at the last scrape),
 * `atomic_metrics_cluster_workers_missed_total`, `atomic_metrics_cluster_workers_exited_total`
 * and `atomic_metrics_cluster_conflicts_total{metric}` (a worker's metric left out because its
 * definition differs from another worker's).
 *
 * Hand it to `serve()` or `metricsHandler()` as the registry: scrapes then stream, in every
 * format (protobuf too, with native histograms). Exemplars and created timestamps do not
 * cross processes.
 *
 * @example Serve the cluster's metrics
 * ```ts ignore
 * import cluster from "node:cluster";
 * import { AggregatorRegistry, serve } from "@atomic/metrics/node";
 *
 * if (cluster.isPrimary) {
 *   for (let i = 0; i < 4; i++) cluster.fork();
 *   const aggregator = new AggregatorRegistry({ aggregators: { queue_depth: "max" } });
 *   await serve({ registry: aggregator, port: 9464 });
 * }
 * ```
 */
export class AggregatorRegistry {
  private readonly timeout: number;
  private readonly aggregators: Readonly<Record<string, Aggregator>>;
  private readonly onError: ((error: unknown) => void) | undefined;
  /** Tells this aggregator's requests and answers from another's in the same primary. */
  private readonly key = ++aggregatorCount;
  private readonly states = new Map<number, WorkerState>();
  private sequence = 0;
  private round: Promise<void> | undefined;
  /** The merged snapshot of the last scrape. */
  private merged: AggregatedSnapshot[] = [];
  /** The cumulative totals of the workers that exited. */
  private retired: CompactSnapshot[] = [];
  private liveWorkers = 0;
  private missedWorkers = 0;
  private missedTotal = 0;
  private exitedTotal = 0;
  private readonly conflicts = new Map<string, number>();
  private openMetrics = false;
  private closed = false;
  private readonly onMessage: (worker: Worker, message: unknown) => void;
  private readonly onExit: (worker: Worker) => void;

  /**
   * Starts listening to the workers (those forked already and those to come).
   *
   * @param options The scrape timeout, aggregators by metric name and an error callback.
   * @throws {Error} when not in the `node:cluster` primary, or on an invalid option.
   */
  constructor(options: AggregatorRegistryOptions = {}) {
    const what = "AggregatorRegistry";
    if (options === null || typeof options !== "object") throw new TypeError(`${what} options must be an object`);
    const { timeout = 5000, onError } = options;
    if (typeof timeout !== "number" || !(timeout > 0 && timeout < 2 ** 31)) {
      throw new RangeError(`${what} option "timeout" must be milliseconds > 0, got ${String(timeout)}`);
    }
    if (onError !== undefined && typeof onError !== "function") {
      throw new TypeError(`${what} option "onError" must be a function`);
    }
    this.timeout = timeout;
    this.aggregators = checkAggregators(what, options.aggregators);
    this.onError = onError;
    if (!cluster.isPrimary) {
      throw new Error(`${what} must be made in the node:cluster primary; in a worker, use clusterWorker(registry)`);
    }
    this.onMessage = (worker, message) => {
      if (isMessage(message)) this.received(worker, message);
    };
    this.onExit = (worker) => this.exited(worker);
    cluster.on("message", this.onMessage);
    cluster.on("exit", this.onExit);
    // Workers that started listening before this aggregator existed say so when asked; until
    // they do (or a scrape's deadline passes without a word), scrapes wait for them too.
    for (const worker of this.live()) {
      const state = this.stateOf(worker.id);
      state.hello = true;
      this.post(worker, { kind: "hello" }, () => {
        state.hello = false;
        this.wake(state);
      });
    }
  }

  /** The `Content-Type` of what {@linkcode clusterMetrics} returns. */
  get contentType(): string {
    return this.openMetrics ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE;
  }

  /**
   * Chooses the format of {@linkcode clusterMetrics}, by its `Content-Type`, as prom-client's
   * `setContentType()`: the Prometheus text format 0.0.4 or OpenMetrics 1.0.
   *
   * @param contentType `PROMETHEUS_CONTENT_TYPE` or `OPENMETRICS_CONTENT_TYPE`.
   * @throws {RangeError} for another content type.
   */
  setContentType(contentType: string): void {
    this.openMetrics = textFormatOf("AggregatorRegistry", contentType) === "openmetrics";
  }

  /**
   * Asks the workers, merges, and returns the exposition in the format of
   * {@linkcode contentType}, as prom-client's `clusterMetrics()`; it resolves by `timeout`
   * whatever the workers do, and never rejects. For large clusters prefer `serve()`, which streams.
   *
   * @returns The merged exposition.
   */
  async clusterMetrics(): Promise<string> {
    await this.collectAsync({ deadlineMs: this.timeout });
    return this.render(this.openMetrics ? "openmetrics" : "prometheus");
  }

  /**
   * Asks every live worker for a snapshot and merges them, waiting at most `deadlineMs` (and at
   * most `timeout`); what `metricsHandler()` calls before each scrape. Calls made while one is
   * in progress share it. Never rejects.
   *
   * @param options The deadline in milliseconds and an error callback.
   */
  async collectAsync(options: { deadlineMs?: number; onError?: (error: unknown) => void } = {}): Promise<void> {
    if (this.round === undefined) {
      const deadline = Math.min(this.timeout, options.deadlineMs ?? Infinity);
      this.round = this.gather(Math.max(0, deadline), options.onError).finally(() => (this.round = undefined));
    }
    await this.round;
  }

  /**
   * The last merged exposition, streamed in any format (protobuf with native histograms too),
   * as `Registry.stream()` streams a registry: call {@linkcode collectAsync} first.
   *
   * @param format The exposition format.
   * @param options How names outside the legacy character set are written, and the slice length.
   * @returns The bytes of the exposition.
   */
  stream(
    format: Format = "prometheus",
    options: { sliceMs?: number } & RenderOptions = {},
  ): ReadableStream<Uint8Array> {
    const { escaping, sliceMs } = options;
    return streamSnapshots(this.merged, format, {
      ...(escaping === undefined ? {} : { escaping }),
      ...(sliceMs === undefined ? {} : { sliceMs }),
    });
  }

  /**
   * The last merged exposition as text (call {@linkcode collectAsync} first, or use
   * {@linkcode clusterMetrics}).
   *
   * @param format `"prometheus"` (the text format 0.0.4) or `"openmetrics"`.
   * @param options How names outside the legacy character set are written.
   * @returns The exposition.
   */
  render(format: "prometheus" | "openmetrics" = "prometheus", options: RenderOptions = {}): string {
    return renderSnapshots(this.merged, format, options.escaping === undefined ? {} : { escaping: options.escaping });
  }

  /** The last merged snapshot (call {@linkcode collectAsync} first), for exporters such as OTLP. */
  collect(): MetricSnapshot[] {
    return this.merged;
  }

  /** Stops listening to the workers; a scrape in progress ends at once with what it has. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    cluster.off("message", this.onMessage);
    cluster.off("exit", this.onExit);
    for (const state of this.states.values()) this.wake(state);
  }

  /** The workers that are alive and connected, by id. */
  private live(): Worker[] {
    return Object.values(cluster.workers ?? {})
      .filter((worker): worker is Worker => worker !== undefined && worker.isConnected() && !worker.isDead())
      .sort((a, b) => a.id - b.id);
  }

  /** What is known of a worker, made at first sight. */
  private stateOf(id: number): WorkerState {
    let state = this.states.get(id);
    if (state === undefined) {
      state = {
        ready: false,
        hello: false,
        last: undefined,
        lastId: 0,
        answers: 0,
        outstanding: new Map(),
        waiters: [],
      };
      this.states.set(id, state);
    }
    return state;
  }

  /** Sends a message to a worker; a worker whose channel closed meanwhile is left to its exit. */
  private post(worker: Worker, message: Hello | CollectRequest, failed?: () => void): void {
    try {
      worker.send({ [TAG]: PROTOCOL, ...message }, undefined, (error) => {
        if (error) failed?.();
      });
    } catch {
      failed?.();
    }
  }

  /** Ends the waits for a worker: it answered, failed or exited. */
  private wake(state: WorkerState): void {
    const waiters = state.waiters;
    state.waiters = [];
    for (const wake of waiters) wake();
  }

  /** One scrape: ask, wait until every ready worker answered or the deadline, merge. */
  private async gather(deadlineMs: number, onError: ((error: unknown) => void) | undefined): Promise<void> {
    const workers = this.closed ? [] : this.live();
    // Workers collect for less than the whole deadline, so that their answer has time to come.
    const workerDeadline = Math.max(0, deadlineMs - Math.min(500, deadlineMs / 4));
    const asked: [number, WorkerState, number][] = [];
    const answered: Promise<void>[] = [];
    const waiting: [WorkerState, () => void][] = [];
    for (const worker of workers) {
      const state = this.stateOf(worker.id);
      // A worker still busy with a request is not asked again: its answer will come.
      if ([...state.outstanding.values()].every((request) => request.lost)) {
        const id = ++this.sequence;
        state.outstanding.set(id, { metrics: [], lost: false });
        this.post(worker, { kind: "collect", from: this.key, id, deadlineMs: workerDeadline }, () => {
          state.outstanding.delete(id);
          this.wake(state);
        });
      }
      asked.push([worker.id, state, state.answers]);
      // Only workers known to run clusterWorker(), or asked whether they do, are waited for.
      if (state.ready || state.hello) {
        answered.push(
          new Promise((resolve) => {
            state.waiters.push(resolve);
            waiting.push([state, resolve]);
          }),
        );
      }
    }
    if (answered.length > 0) {
      // Woken by an answer, a failure or an exit: each ends the wait for that worker.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all(answered),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs))),
      ]);
      clearTimeout(timer);
      // A worker still busy keeps no waiter per scrape it missed.
      for (const [state, resolve] of waiting) state.waiters = state.waiters.filter((w) => w !== resolve);
    }
    let missed = 0;
    for (const [id, state, answers] of asked) {
      if (this.states.get(id) === state && state.answers === answers) missed++;
      // Silent through a whole scrape: not waited for again until it says it runs clusterWorker().
      state.hello = false;
    }
    this.liveWorkers = workers.length;
    this.missedWorkers = missed;
    this.missedTotal += missed;
    // The last merge is let go first: the new one is built without both held at once (a
    // stream still reading the last one holds it itself).
    this.merged = [];
    this.merged = this.merge((error) => {
      tell(onError, error);
      tell(this.onError, error);
    });
  }

  /**
   * The merged snapshot: the self-metrics first (a worker's metric that clashes with one is left
   * out), the live workers by id, then the exited workers' totals.
   */
  private merge(report: (error: unknown) => void): AggregatedSnapshot[] {
    const conflicts = selfSnapshot(
      SELF.conflictsTotal,
      "counter",
      "Metrics of a worker left out of a merge because their definition differs from another worker's.",
      [],
      ["metric"],
    );
    const sources: (AggregatedSnapshot | CompactSnapshot)[][] = [[
      selfSnapshot(SELF.workers, "gauge", "Live node:cluster workers at the last scrape.", [
        { labels: {}, value: this.liveWorkers },
      ]),
      selfSnapshot(
        SELF.unanswered,
        "gauge",
        "Workers that did not answer the last scrape in time; their last snapshot, if any, is shown.",
        [{ labels: {}, value: this.missedWorkers }],
      ),
      selfSnapshot(SELF.missedTotal, "counter", "Scrapes a worker did not answer in time, summed over workers.", [
        { labels: {}, value: this.missedTotal },
      ]),
      selfSnapshot(
        SELF.exitedTotal,
        "counter",
        "Workers that exited; their counters, histograms and summary counts and sums as last scraped stay in the totals.",
        [{ labels: {}, value: this.exitedTotal }],
      ),
      conflicts,
    ]];
    const from = ["the primary"];
    for (const id of [...this.states.keys()].sort((a, b) => a - b)) {
      const last = this.states.get(id)!.last;
      if (last === undefined) continue;
      sources.push(last);
      from.push(`worker ${id}`);
    }
    sources.push(this.retired);
    from.push("the exited workers' totals");
    const merged = mergeSnapshots(sources, {
      aggregators: this.aggregators,
      onConflict: (metric, source, reason) => {
        this.conflicts.set(metric, (this.conflicts.get(metric) ?? 0) + 1);
        report(new Error(`Metric ${JSON.stringify(metric)} of ${from[source]} is left out of the merge: ${reason}`));
      },
    });
    // Counted during the merge, shown in it.
    const shown = merged.find((metric) => metric.name === SELF.conflictsTotal);
    if (shown !== undefined) {
      shown.series = [...this.conflicts].map(([metric, value]) => ({
        labels: { metric },
        value,
        count: 0,
        sum: 0,
        buckets: [],
        quantiles: [],
      }));
    }
    return merged;
  }

  /** A message of this library from a worker: ready, a part of a snapshot, or a failure. */
  private received(worker: Worker, message: Message): void {
    const state = this.stateOf(worker.id);
    if (message.kind === "ready") {
      state.ready = true;
      state.hello = false;
      // A worker that just started listening never got the requests sent before: ask again.
      if ((message as Ready).start) { for (const request of state.outstanding.values()) request.lost = true; }
      return;
    }
    if ((message.kind !== "part" && message.kind !== "failed") || message.from !== this.key) return;
    state.ready = true;
    state.hello = false;
    const request = state.outstanding.get(message.id);
    if (request === undefined) return;
    if (message.kind === "failed") {
      state.outstanding.delete(message.id);
      tell(this.onError, new Error(`Worker ${worker.id} could not take a snapshot: ${message.error}`));
      this.wake(state);
      return;
    }
    try {
      for (const metric of fromWire(message.metrics)) {
        // A metric too large for one part continues in the next.
        const previous = request.metrics[request.metrics.length - 1];
        if (previous !== undefined && previous.name === metric.name && previous.type === metric.type) {
          previous.blocks.push(...metric.blocks);
        } else request.metrics.push(metric);
      }
    } catch (error) {
      state.outstanding.delete(message.id);
      tell(this.onError, new Error(`Worker ${worker.id} sent a snapshot that cannot be read`, { cause: error }));
      this.wake(state);
      return;
    }
    if (!message.last) return;
    state.outstanding.delete(message.id);
    // Answers come in the order asked; an older one still outstanding will not be waited for.
    for (const id of state.outstanding.keys()) if (id < message.id) state.outstanding.delete(id);
    if (message.id > state.lastId) {
      state.last = request.metrics;
      state.lastId = message.id;
      state.answers++;
    }
    this.wake(state);
  }

  /** A worker exited: what only grows of its last snapshot joins the exited workers' totals. */
  private exited(worker: Worker): void {
    const state = this.states.get(worker.id);
    this.states.delete(worker.id);
    this.exitedTotal++;
    if (state === undefined) return;
    if (state.last !== undefined) {
      this.retired = mergeCompact([this.retired, state.last], {
        cumulative: true,
        onConflict: (metric, _source, reason) => {
          this.conflicts.set(metric, (this.conflicts.get(metric) ?? 0) + 1);
          tell(
            this.onError,
            new Error(
              `Metric ${JSON.stringify(metric)} of exited worker ${worker.id} is left out of the totals: ${reason}`,
            ),
          );
        },
      });
    }
    this.wake(state);
  }
}

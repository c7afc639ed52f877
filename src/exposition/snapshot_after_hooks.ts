/**
 * A registry's snapshot right after `collectAsync()`, without running its collect hooks a second
 * time, as `Registry.collect()` would (it runs them, and leaves async ones running unawaited).
 *
 * @module
 */

import { collectSnapshots, type MetricSnapshot } from "./snapshot.ts";
import type { Family, SeriesBase } from "../_family.ts";

/** @ignore @internal What {@linkcode snapshotAfterHooks} reads: a `Registry`, or any source with `collect()`. */
export interface SnapshotSource {
  /** A structured snapshot of every metric (after running the collect hooks). */
  collect(): MetricSnapshot[];
}

/**
 * @ignore @internal The snapshot of a source whose hooks `collectAsync()` just ran: a `Registry`'s families as
 * they are, with no hook run again; any other source's `collect()`.
 *
 * @param source A `Registry`, or anything with `collect()`.
 * @returns The snapshot.
 *
 * @example The async hook runs once
 * ```ts
 * import { Registry } from "../registry.ts";
 * import { snapshotAfterHooks } from "./snapshot_after_hooks.ts";
 *
 * const registry = new Registry({ selfMetrics: false });
 * let runs = 0;
 * registry.gauge({ name: "depth", help: "Depth", collect: async (g) => g.set(++runs) });
 * await registry.collectAsync({ deadlineMs: 1000 });
 * const [depth] = snapshotAfterHooks(registry);
 * if (depth!.series[0]!.value !== 1 || runs !== 1) throw new Error(`${runs}`);
 * ```
 */
export function snapshotAfterHooks(source: SnapshotSource): MetricSnapshot[] {
  const prepared = (source as { preparedFamilies?: () => Family<SeriesBase>[] }).preparedFamilies;
  return typeof prepared === "function" ? collectSnapshots(prepared.call(source)) : source.collect();
}

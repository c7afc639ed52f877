/**
 * The state backend's 7 metrics, registered in one call.
 *
 * @module
 */

import type { Counter } from "../counter.ts";
import type { Gauge } from "../gauge.ts";
import type { Histogram } from "../histogram.ts";
import type { Registry } from "../registry.ts";
import { millisecondBuckets } from "./catalog.ts";
import { registerCounter, registerGauge, registerHistogram } from "./_register.ts";

/** Options of {@link stateBackendMetrics}. */
export interface StateBackendMetricsOptions {
  /** Bucket upper bounds, in milliseconds, of both duration histograms. @default millisecondBuckets */
  buckets?: readonly number[];
}

/** The registered state-backend metrics, typed by their label names. */
export interface StateBackendMetrics {
  /** `state_operations_total{backend, operation}` */
  readonly operations: Counter<"backend" | "operation">;
  /** `state_operation_duration_ms{backend, operation}`: observe milliseconds. */
  readonly operationDuration: Histogram<"backend" | "operation">;
  /** `state_cache_hits_total{cache_tier}` */
  readonly cacheHits: Counter<"cache_tier">;
  /** `state_cache_misses_total{cache_tier}` */
  readonly cacheMisses: Counter<"cache_tier">;
  /** `state_size_bytes{backend}` */
  readonly sizeBytes: Gauge<"backend">;
  /** `state_active_locks{lock_type}` */
  readonly activeLocks: Gauge<"lock_type">;
  /** `state_lock_wait_duration_ms{lock_type}`: observe milliseconds. */
  readonly lockWaitDuration: Histogram<"lock_type">;
}

/**
 * Registers the catalog's 7 state-backend metrics on `registry`.
 *
 * @param registry The registry to register on.
 * @param options Histogram buckets.
 * @returns The metrics, typed by their label names.
 * @throws {Error} When the registry holds one of these names with another definition
 *   (e.g. other buckets); with the same definition the registered metric is returned.
 *
 * @example Record a cache lookup
 * ```ts
 * import { Registry } from "@atomic/metrics";
 * import { stateBackendMetrics } from "@atomic/metrics/catalog";
 * const state = stateBackendMetrics(new Registry());
 * state.cacheHits.inc({ cache_tier: "l1" });
 * state.operationDuration.observe({ backend: "memory", operation: "get" }, 0.2);
 * if (state.cacheHits.get({ cache_tier: "l1" }) !== 1) throw new Error("not counted");
 * ```
 */
export function stateBackendMetrics(registry: Registry, options: StateBackendMetricsOptions = {}): StateBackendMetrics {
  const buckets = options.buckets ?? millisecondBuckets;
  return {
    operations: registerCounter(registry, "state_operations_total"),
    operationDuration: registerHistogram(registry, "state_operation_duration_ms", buckets),
    cacheHits: registerCounter(registry, "state_cache_hits_total"),
    cacheMisses: registerCounter(registry, "state_cache_misses_total"),
    sizeBytes: registerGauge(registry, "state_size_bytes"),
    activeLocks: registerGauge(registry, "state_active_locks"),
    lockWaitDuration: registerHistogram(registry, "state_lock_wait_duration_ms", buckets),
  };
}

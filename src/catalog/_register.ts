/**
 * Registers catalog metrics on a registry with exactly the catalog's name,
 * type, help, unit and label names. Private: the kits use it.
 *
 * @module
 */

import type { Counter } from "../counter.ts";
import type { Gauge } from "../gauge.ts";
import type { Histogram } from "../histogram.ts";
import type { Registry } from "../registry.ts";
import { type CatalogEntry, catalogEntry, type CatalogMetricType } from "./catalog.ts";

function entryOfType(name: string, type: CatalogMetricType): CatalogEntry {
  const entry = catalogEntry(name);
  if (entry.type !== type) {
    throw new Error(`Catalog metric "${name}" is a ${entry.type}, not a ${type}`);
  }
  return entry;
}

function common<L extends string>(
  entry: CatalogEntry,
): { name: string; help: string; labelNames: readonly L[]; unit?: string } {
  const options = { name: entry.name, help: entry.help, labelNames: entry.labelNames as readonly L[] };
  return entry.unit === undefined ? options : { ...options, unit: entry.unit };
}

/** Registers the catalog counter `name`. */
export function registerCounter<L extends string>(
  registry: Registry,
  name: string,
  collect?: (counter: Counter<L>) => void,
): Counter<L> {
  const options = common<L>(entryOfType(name, "counter"));
  return registry.counter(collect === undefined ? options : { ...options, collect }) as Counter<L>;
}

/** Registers the catalog gauge `name`. */
export function registerGauge<L extends string>(
  registry: Registry,
  name: string,
  collect?: (gauge: Gauge<L>) => void,
): Gauge<L> {
  const options = common<L>(entryOfType(name, "gauge"));
  return registry.gauge(collect === undefined ? options : { ...options, collect }) as Gauge<L>;
}

/** Registers the catalog histogram `name` with the given buckets. */
export function registerHistogram<L extends string>(
  registry: Registry,
  name: string,
  buckets: readonly number[],
): Histogram<L> {
  return registry.histogram({ ...common<L>(entryOfType(name, "histogram")), buckets }) as Histogram<L>;
}

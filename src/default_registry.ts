/**
 * The shared default registry, for code that expects one (prom-client's `register`).
 *
 * @module
 */

import { Registry } from "./registry.ts";

/**
 * A registry every module of a program can reach without passing one around, as prom-client's
 * `register`. It is made when the package is first imported, with default options; a program
 * that wants other options (`maxSeries`, `defaultLabels`, `prefix`) makes its own `Registry`.
 * Default labels can still be set on it with `register.setDefaultLabels()`.
 *
 * @example
 * ```ts
 * import { register } from "@atomic/metrics";
 * const jobs = register.counter({ name: "default_registry_jobs_total", help: "Jobs" });
 * jobs.inc();
 * if (!(await register.metrics()).includes("default_registry_jobs_total 1")) throw new Error();
 * register.remove("default_registry_jobs_total");
 * ```
 */
export const register: Registry = new Registry();

/**
 * The one place in `src/otel` that touches runtime globals, without importing
 * any runtime: environment variables (Node and Bun expose `process.env`, Deno
 * Deno's `env.toObject()`, which throws without `--allow-env`, hence the guard)
 * and (un)ref'ing timers (Node and Bun timers are objects with `ref()` and
 * `unref()`, Deno has `refTimer(id)` and `unrefTimer(id)` on its global).
 * Everything else takes an `env` option and falls back to
 * {@linkcode readEnvironment}.
 */

/** A snapshot of environment variables: name to value. */
export type Environment = Readonly<Record<string, string | undefined>>;

interface RuntimeGlobals {
  process?: { env?: Record<string, string | undefined> };
  Deno?: {
    env?: { toObject?: () => Record<string, string> };
    refTimer?: (id: number) => void;
    unrefTimer?: (id: number) => void;
  };
}

/**
 * Returns the process environment of whichever runtime runs this code, or an
 * empty object where there is none (browsers, workers, Deno without
 * `--allow-env`).
 */
export function readEnvironment(): Environment {
  const runtime = globalThis as unknown as RuntimeGlobals;
  // Deno first: its `process.env` is a proxy that throws per read without
  // `--allow-env`, while `toObject()` fails once, here, where we catch it.
  const deno = runtime.Deno;
  if (typeof deno?.env?.toObject === "function") {
    try {
      return deno.env.toObject();
    } catch {
      return {};
    }
  }
  const processEnv = runtime.process?.env;
  if (typeof processEnv === "object" && processEnv !== null) return processEnv;
  return {};
}

/**
 * Lets the process exit while the timer is pending, where the runtime allows
 * it; elsewhere (browsers, workers) does nothing.
 */
export function unrefTimer(timer: unknown): void {
  setTimerRef(timer, false);
}

/**
 * Makes a timer that {@linkcode unrefTimer} let go keep the process alive
 * again (someone now waits for it); elsewhere does nothing.
 */
export function refTimer(timer: unknown): void {
  setTimerRef(timer, true);
}

function setTimerRef(timer: unknown, ref: boolean): void {
  if (typeof timer === "object" && timer !== null) {
    const method = (timer as { ref?: () => void; unref?: () => void })[ref ? "ref" : "unref"];
    if (typeof method === "function") method.call(timer);
    return;
  }
  const deno = (globalThis as unknown as RuntimeGlobals).Deno;
  const method = ref ? deno?.refTimer : deno?.unrefTimer;
  if (typeof timer === "number" && typeof method === "function") {
    try {
      method(timer);
    } catch {
      // Already fired or cleared.
    }
  }
}

/**
 * A small seeded random source and the distributions the demo draws from:
 * log-normal latencies (a long right tail, as real latencies have), Poisson
 * arrivals and weighted choices. Seeded so a run can be replayed with
 * `DEMO_SEED`.
 *
 * @module
 */

/** Random draws from one seeded generator. */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** Integer in [0, n). */
  int(n: number): number;
  /** Log-normal draw with the given median and shape (sigma of the underlying normal). */
  logNormal(median: number, sigma: number): number;
  /** Poisson draw with the given mean (arrivals in one tick). */
  poisson(mean: number): number;
  /** One of `choices`, each `[value, weight]`, picked in proportion to its weight. */
  weighted<T>(choices: readonly (readonly [T, number])[]): T;
}

/**
 * Creates a generator (mulberry32: tiny, fast, good enough for a simulation).
 *
 * @param seed Any 32-bit integer.
 * @returns The generator.
 *
 * @example Same seed, same draws
 * ```ts
 * import { createRandom } from "./random.ts";
 * if (createRandom(7).next() !== createRandom(7).next()) throw new Error("not seeded");
 * ```
 */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = (): number => {
    // Box-Muller; 1 - next() keeps the logarithm's argument above 0.
    return Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  };
  return {
    next,
    chance: (p) => next() < p,
    int: (n) => Math.floor(next() * n),
    logNormal: (median, sigma) => median * Math.exp(sigma * normal()),
    poisson(mean) {
      // Knuth's method is fine for the small means of one tick; large means use the normal approximation.
      if (mean > 50) return Math.max(0, Math.round(mean + Math.sqrt(mean) * normal()));
      const limit = Math.exp(-mean);
      let k = 0;
      let p = next();
      while (p > limit) {
        k++;
        p *= next();
      }
      return k;
    },
    weighted<T>(choices: readonly (readonly [T, number])[]): T {
      let total = 0;
      for (const [, weight] of choices) total += weight;
      let draw = next() * total;
      for (const [value, weight] of choices) {
        draw -= weight;
        if (draw < 0) return value;
      }
      return choices[choices.length - 1]![0];
    },
  };
}

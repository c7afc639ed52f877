// Seeded values for the quantile sketch tests, the same in the main thread and in workers.

/** A seeded uniform generator in [0, 1) (mulberry32). */
export function seeded(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box-Muller). */
export function normal(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/**
 * The `i`-th of `count` values a worker adds in the concurrency test: lognormal around a centre
 * that climbs from 1e-6 to 1e6 over the run (so windows keep moving), 10% negative, 1% zero.
 */
export function driftingValue(random: () => number, i: number, count: number): number {
  const u = random();
  if (u < 0.01) return 0;
  const magnitude = Math.pow(10, -6 + 12 * (i / count)) * Math.exp(0.5 * normal(random));
  return u < 0.11 ? -magnitude : magnitude;
}

// The deterministic observations each worker records into one native histogram (the worker task
// "native" in _worker.ts), and the main thread's test recomputes for its model.

/** The definition every thread registers: schema 3, 60 buckets, the default zero threshold. */
export const NATIVE_DEFINITION = {
  name: "threads_native_seconds",
  help: "Observed by every worker",
  native: { bucketFactor: 1.1, maxBuckets: 60 },
} as const;

/** Octaves each worker's values span: each thread halves its resolution to a different schema. */
const OCTAVES = [29, 20, 12, 6];

/**
 * `n` observations for worker `w`: dyadic values m·2^e (16 ≤ m < 32, e over OCTAVES[w] values
 * around 0) so that every sum is exact in any order; one in four negative, one in sixteen zero.
 */
export function nativeSequence(w: number, n: number): Float64Array {
  const out = new Float64Array(n);
  let state = 0x9e3779b9 ^ (w * 0x85ebca6b);
  const next = (): number => {
    // xorshift32
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  const octaves = OCTAVES[w % OCTAVES.length]!;
  const low = -8 - (octaves >> 1);
  for (let i = 0; i < n; i++) {
    const r = next();
    if ((r & 15) === 0) continue; // zero
    const mantissa = 16 + ((r >>> 4) & 15);
    const exponent = low + ((r >>> 8) % octaves);
    out[i] = ((r >>> 28) & 3) === 0 ? -mantissa * 2 ** exponent : mantissa * 2 ** exponent;
  }
  return out;
}

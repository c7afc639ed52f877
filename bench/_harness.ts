// A small, honest harness: run a function in batches, report the median ns per call.
// Both sides of a comparison run in the same process, interleaved, after the same warm-up.

export interface Measured {
  name: string;
  nsPerOp: number;
}

/** Median ns per call of `fn(i)` over `rounds` batches of `batch` calls. */
export function measure(fn: (i: number) => void, batch: number, rounds = 15): number {
  for (let i = 0; i < batch; i++) fn(i); // warm-up: let the JIT settle
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = performance.now();
    for (let i = 0; i < batch; i++) fn(i);
    samples.push(((performance.now() - start) * 1e6) / batch);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

/** Runs both sides alternately (ours, peer, ours, peer...) and keeps each side's best median. */
export function compare(
  ours: (i: number) => void,
  peer: (i: number) => void,
  batch: number,
): { ours: number; peer: number } {
  let a = Infinity;
  let b = Infinity;
  for (let k = 0; k < 3; k++) {
    a = Math.min(a, measure(ours, batch));
    b = Math.min(b, measure(peer, batch));
  }
  return { ours: a, peer: b };
}

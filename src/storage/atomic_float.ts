/**
 * Float64 read-modify-write on shared memory. Atomics has no float operations, so a
 * value is updated by compare-and-swap of its 64 bits, seen through a BigInt64Array
 * over the same memory. Used by gauges and summary sums once a registry is shared.
 *
 * @module
 */

// One scratch word to move bits between a float and a bigint without allocating a view.
const scratchFloat = new Float64Array(1);
const scratchBits = new BigInt64Array(scratchFloat.buffer);

/** Atomically adds `delta` to the float at `index`; returns the new value. */
export function atomicAddFloat(i64: BigInt64Array, index: number, delta: number): number {
  for (;;) {
    const old = Atomics.load(i64, index);
    scratchBits[0] = old;
    const next = scratchFloat[0]! + delta;
    scratchFloat[0] = next;
    if (Atomics.compareExchange(i64, index, old, scratchBits[0]!) === old) return next;
  }
}

/** Atomically stores the float `value` at `index`. */
export function atomicStoreFloat(i64: BigInt64Array, index: number, value: number): void {
  scratchFloat[0] = value;
  Atomics.store(i64, index, scratchBits[0]!);
}

/** Atomically reads the float at `index`. */
export function atomicLoadFloat(i64: BigInt64Array, index: number): number {
  scratchBits[0] = Atomics.load(i64, index);
  return scratchFloat[0]!;
}

/**
 * Waiting for the next task of the event loop, so that work cut in slices lets timers, I/O
 * and other requests run between them. Private: `mod.ts` does not export it.
 *
 * @module
 */

type Immediate = (callback: () => void) => unknown;

/**
 * Node's and Bun's `setImmediate`. Not Deno's: there an immediate does not always hold the event
 * loop open, so a promise waiting on one can be left pending ("Promise resolution is still
 * pending but the event loop has already resolved", about one run in eight of a test streaming
 * thousands of slices); a `MessageChannel` message does hold it.
 */
const setImmediateOf: Immediate | undefined = "Deno" in globalThis
  ? undefined
  : (globalThis as { setImmediate?: Immediate }).setImmediate;

/**
 * Resolves on a later task of the event loop: `setImmediate` on Node and Bun (it runs after
 * pending I/O, without the clamp of nested timers), else a `MessageChannel` message (Deno,
 * browsers, workerd), else `setTimeout(0)`.
 */
export function nextTask(): Promise<void> {
  if (setImmediateOf !== undefined) return new Promise((resolve) => void setImmediateOf(resolve));
  if (typeof MessageChannel === "function") {
    return new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => {
        channel.port1.close();
        resolve();
      };
      channel.port2.postMessage(null);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}

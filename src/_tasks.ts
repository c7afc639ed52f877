/**
 * Waiting for the next task of the event loop, so that work cut in slices lets timers, I/O
 * and other requests run between them. Private: `mod.ts` does not export it.
 *
 * @module
 */

type Immediate = (callback: () => void) => unknown;

const setImmediateOf: Immediate | undefined = (globalThis as { setImmediate?: Immediate }).setImmediate;

/**
 * Resolves on a later task of the event loop: `setImmediate` where the runtime has it (Node,
 * Deno, Bun: it runs after pending I/O, without the 1 ms clamp of nested timers), else a
 * `MessageChannel` message (browsers, workerd), else `setTimeout(0)`.
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

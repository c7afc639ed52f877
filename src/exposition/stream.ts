/**
 * The exposition as a stream of bytes, rendered a slice at a time so the event loop runs
 * between slices and the bytes in flight stay bounded.
 *
 * @module
 */

import type { Family, SeriesBase } from "../_family.ts";
import { nextTask } from "../_tasks.ts";
import type { Format } from "../registry.ts";
import { ByteRenderer, CHUNK_BYTES } from "./_renderer.ts";
import type { EscapingScheme } from "./escaping.ts";
import { ProtobufRenderer } from "./protobuf.ts";

/**
 * @ignore @internal Streams `families` in `format`: after each slice (about `sliceMs` of work) it waits
 * for the next task, and it renders only as fast as it is read (`highWaterMark: 0`).
 */
export function streamFamilies(
  families: readonly Family<SeriesBase>[],
  format: Format,
  escaping: EscapingScheme,
  created: boolean,
  sliceMs: number,
): ReadableStream<Uint8Array> {
  const renderer = format === "protobuf"
    ? new ProtobufRenderer(families, { escaping, created })
    : new ByteRenderer(families, format === "openmetrics", escaping, created);
  return streamChunks(renderer, sliceMs);
}

/** @ignore @internal What writes an exposition in chunks: at least `budget` bytes a call, `undefined` at the end. */
export interface ChunkRenderer {
  next(budget: number): Uint8Array[] | undefined;
}

/**
 * @ignore @internal Streams what a chunk renderer writes: after each slice (about `sliceMs` of
 * work) it waits for the next task, and it renders only as fast as it is read (`highWaterMark: 0`).
 */
export function streamChunks(renderer: ChunkRenderer, sliceMs: number): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const started = performance.now();
      // A pull must enqueue something or close: the stream asks again only for a read that
      // comes while it pulls, so a pull that gives nothing leaves a waiting reader waiting for
      // ever. A renderer can hand out no chunk once (its last series ended a chunk exactly).
      let given = false;
      do {
        const chunks = renderer.next(CHUNK_BYTES);
        if (chunks === undefined) return controller.close();
        for (const chunk of chunks) controller.enqueue(chunk);
        if (chunks.length > 0) given = true;
      } while (!given || performance.now() - started < sliceMs);
      await nextTask();
    },
  }, { highWaterMark: 0 });
}

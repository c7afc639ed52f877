/**
 * zlib's compressors as web `TransformStream`s, for the servers of Node, Deno and Bun (all
 * three have `node:zlib`): gzip and deflate at a chosen level (CompressionStream has none, and
 * its default level costs several times more per scrape), and zstd where zlib has it (Deno,
 * Bun; Node from 22.15). Private: the adapters pass them to `metricsHandler`.
 *
 * @module
 */

import * as zlib from "node:zlib";
import type { Compressor, Compressors } from "../src/http/handler.ts";

/**
 * Bridges one zlib stream to a TransformStream; the readable side is fed as zlib produces. Once
 * that side is gone (the client left and the response was cancelled), zlib is stopped and what
 * it still emits is dropped: an enqueue there would throw from zlib's event, uncaught.
 */
function fromZlib(z: zlib.Gzip | zlib.Deflate): ReturnType<Compressor> {
  let failure: unknown;
  let open = true;
  const stop = (): void => {
    open = false;
    z.destroy();
  };
  // `cancel` (the readable side cancelled) is newer than the TypeScript lib this build checks with.
  const transformer: Transformer<Uint8Array, Uint8Array> & { cancel(): void } = {
    start(controller) {
      z.on("data", (chunk: Uint8Array) => {
        if (!open) return;
        try {
          controller.enqueue(chunk);
        } catch {
          stop(); // cancelled where the runtime has no transformer cancel()
        }
      });
      z.on("error", (error) => {
        failure = error;
        if (!open) return;
        open = false;
        try {
          controller.error(error);
        } catch {
          // already errored or closed
        }
      });
    },
    cancel() {
      stop();
    },
    transform(chunk) {
      // Hand the chunk over and go on rendering while zlib compresses it; wait only when zlib's
      // buffer is full, so rendering and compressing overlap.
      if (z.write(chunk)) return;
      return new Promise<void>((resolve) => {
        const go = () => {
          z.off("drain", go);
          z.off("close", go);
          resolve();
        };
        z.on("drain", go);
        z.on("close", go);
      });
    },
    flush() {
      return new Promise((resolve, reject) => {
        if (failure !== undefined) return reject(failure);
        z.once("end", resolve);
        z.end();
      });
    },
  };
  return new TransformStream<Uint8Array, Uint8Array>(transformer);
}

/** The zlib compressors this runtime has: gzip and deflate always, zstd where zlib offers it. */
export function zlibCompressors(): Compressors {
  const compressors: Compressors = {
    gzip: (level) => fromZlib(zlib.createGzip({ level: level ?? 1 })),
    deflate: (level) => fromZlib(zlib.createDeflate({ level: level ?? 1 })),
  };
  const zstd = (zlib as unknown as { createZstdCompress?: (options?: object) => zlib.Gzip }).createZstdCompress;
  const levelParameter = (zlib.constants as Record<string, number>).ZSTD_c_compressionLevel;
  if (typeof zstd === "function" && levelParameter !== undefined) {
    compressors.zstd = (level) => fromZlib(zstd({ params: { [levelParameter]: level ?? 3 } }));
  }
  return compressors;
}

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

/** Bridges one zlib stream to a TransformStream; the readable side is fed as zlib produces. */
function fromZlib(z: zlib.Gzip | zlib.Deflate): ReturnType<Compressor> {
  let failure: unknown;
  return new TransformStream<Uint8Array, Uint8Array>({
    start(controller) {
      z.on("data", (chunk: Uint8Array) => controller.enqueue(chunk));
      z.on("error", (error) => {
        failure = error;
        controller.error(error);
      });
    },
    transform(chunk) {
      return new Promise((resolve, reject) => z.write(chunk, (error) => (error ? reject(error) : resolve())));
    },
    flush() {
      return new Promise((resolve, reject) => {
        if (failure !== undefined) return reject(failure);
        z.once("end", resolve);
        z.end();
      });
    },
  });
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

// The stream driver under Registry.stream(): every pull gives the reader something or ends.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { streamChunks } from "../../src/exposition/stream.ts";

/** Reads a stream to its end, or rejects after `ms` (a stalled stream would wait for ever). */
async function readWithin(stream: ReadableStream<Uint8Array>, ms: number): Promise<number[]> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the stream stalled: no chunk and no end within ${ms} ms`)), ms);
  });
  try {
    const read = (async () => {
      const sizes: number[] = [];
      const reader = stream.getReader();
      for (let part = await reader.read(); !part.done; part = await reader.read()) sizes.push(part.value.length);
      return sizes;
    })();
    return await Promise.race([read, stalled]);
  } finally {
    clearTimeout(timer);
  }
}

describe("streamChunks()", () => {
  it("streamChunks() ends the stream when the renderer hands out no chunk before it finishes, at any slice length", async () => {
    for (const sliceMs of [0, 0.001, 2]) {
      // What a renderer does when its last series ended a chunk exactly: one empty hand-out, then the end.
      const handOuts: (Uint8Array[] | undefined)[] = [[new Uint8Array(3)], [], undefined];
      const stream = streamChunks({ next: () => handOuts.shift() }, sliceMs);
      assert.deepEqual(await readWithin(stream, 2000), [3], `sliceMs ${sliceMs}`);
    }
  });

  it("streamChunks() keeps pulling through several empty hand-outs in one slice", async () => {
    const handOuts: (Uint8Array[] | undefined)[] = [[], [], [new Uint8Array(1)], [], undefined];
    assert.deepEqual(await readWithin(streamChunks({ next: () => handOuts.shift() }, 0), 2000), [1]);
  });
});

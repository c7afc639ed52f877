/**
 * One render for concurrent scrapers: scrapes that arrive while a render of the same kind
 * (format, encoding, credentials) is in progress read its bytes instead of rendering again.
 * Private: `mod.ts` does not export it.
 *
 * The shared render is read as fast as its fastest reader asks; its chunks are kept for the
 * others and for scrapes that join later, up to `keepBytes`. Past that the render stops
 * taking new readers (a later scrape renders afresh) and lets go of the chunks every reader
 * has passed, so the bytes held stay bounded whatever the size of the exposition.
 *
 * @module
 */

/** A render that several responses read. */
export class SharedRender {
  private readonly source: ReadableStreamDefaultReader<Uint8Array>;
  private readonly chunks: (Uint8Array | undefined)[] = [];
  private readonly positions = new Set<{ at: number; fail: (error: Error) => void }>();
  private reading: Promise<void> | undefined;
  private done = false;
  private failure: unknown;
  private held = 0;
  /** Whether a new scrape may still join (its chunks from the first are all kept). */
  joinable = true;
  private readonly keepBytes: number;
  private readonly onEnd: (error: unknown, abandoned: boolean) => void;

  /**
   * @param source The render's bytes (already compressed when the scrape asked for it).
   * @param keepBytes Bytes kept for joining scrapes before joining stops.
   * @param onEnd Called once when the render ended: with the error it failed with, or undefined;
   * `abandoned` when every reader went away before the end.
   */
  constructor(
    source: ReadableStream<Uint8Array>,
    keepBytes: number,
    onEnd: (error: unknown, abandoned: boolean) => void,
  ) {
    this.source = source.getReader();
    this.keepBytes = keepBytes;
    this.onEnd = onEnd;
  }

  /** A response body that reads this render from its first byte. */
  reader(): ReadableStream<Uint8Array> {
    const position = { at: 0, fail: (_error: Error) => {} };
    this.positions.add(position);
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        position.fail = (error) => controller.error(error);
      },
      pull: async (controller) => {
        for (;;) {
          if (position.at < this.chunks.length) {
            controller.enqueue(this.chunks[position.at++]!);
            this.trim();
            return;
          }
          if (this.done) {
            this.positions.delete(position);
            if (this.failure !== undefined) controller.error(this.failure);
            else controller.close();
            return;
          }
          await (this.reading ??= this.readMore());
        }
      },
      cancel: () => {
        this.positions.delete(position);
        this.trim();
        // The last reader gone: nobody needs the rest, and the render is over.
        if (this.positions.size === 0 && !this.done) {
          this.done = true;
          this.joinable = false;
          this.source.cancel().catch(() => {});
          this.onEnd(undefined, true);
        }
      },
    }, { highWaterMark: 0 });
  }

  /** Reads the next chunk of the render. */
  private async readMore(): Promise<void> {
    try {
      const { done, value } = await this.source.read();
      if (done) this.finish(undefined);
      else {
        this.chunks.push(value);
        this.held += value.byteLength;
        if (this.held > this.keepBytes) this.joinable = false;
      }
    } catch (error) {
      this.finish(error ?? new Error("render failed"));
    } finally {
      this.reading = undefined;
    }
  }

  private finish(error: unknown): void {
    if (this.done) return;
    this.done = true;
    this.joinable = false;
    this.failure = error;
    this.onEnd(error, false);
  }

  /** Lets go of the chunks every reader has passed, once no scrape can join any more. */
  private trim(): void {
    if (this.joinable) return;
    let lowest = this.chunks.length;
    for (const position of this.positions) lowest = Math.min(lowest, position.at);
    for (let i = lowest - 1; i >= 0 && this.chunks[i] !== undefined; i--) {
      this.held -= this.chunks[i]!.byteLength;
      this.chunks[i] = undefined;
    }
    // Readers far apart: the slowest would make the render hold everything between them. Past
    // twice `keepBytes` it is cut off (its scrape fails and is retried), so memory stays bounded
    // and a stalled client never stalls the others.
    if (this.held > 2 * this.keepBytes && this.positions.size > 1) {
      for (const position of this.positions) {
        if (position.at === lowest) {
          this.positions.delete(position);
          position.fail(new Error("A scrape fell too far behind another reading the same render"));
        }
      }
      this.trim();
    }
  }
}

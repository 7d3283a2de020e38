/**
 * The byte side of the tar reader: pulls chunks from a stream and hands out 512-byte header
 * blocks (copied only when one straddles two chunks) and body views (never copied), counting
 * the offset that every error message names.
 */
import { BoxError } from "../errors.ts";
import { BLOCK_SIZE } from "./tar-header.ts";

const EMPTY = new Uint8Array(0);

export function truncated(offset: number, what: string): BoxError {
  return new BoxError("E_INVALID_INPUT", `tar: archive truncated at offset ${offset}: ${what}`, {
    hint: "the layer download was cut short or the file is incomplete",
  });
}

/** The part of a stream reader ByteSource uses (web and node:stream/web readers both fit). */
interface ChunkReader {
  read(): Promise<{ done: true; value?: Uint8Array } | { done: false; value: Uint8Array }>;
  cancel(reason?: unknown): Promise<void>;
  releaseLock(): void;
}

/** Pulls chunks from the stream and hands out blocks and body views, tracking the offset. */
export class ByteSource {
  /** Bytes consumed from the start of the (uncompressed) archive. */
  offset = 0;
  private chunk: Uint8Array = EMPTY;
  private pos = 0;
  private ended = false;
  private readonly scratch = new Uint8Array(BLOCK_SIZE);

  constructor(private readonly reader: ChunkReader) {}

  private async more(): Promise<boolean> {
    while (this.pos >= this.chunk.length) {
      if (this.ended) return false;
      const r = await this.reader.read();
      if (r.done) {
        this.ended = true;
        return false;
      }
      this.chunk = r.value;
      this.pos = 0;
    }
    return true;
  }

  /** The next block, null at a clean end of stream; an end inside a block is an error. */
  async block(): Promise<Uint8Array | null> {
    if (!(await this.more())) return null;
    if (this.chunk.length - this.pos >= BLOCK_SIZE) {
      const b = this.chunk.subarray(this.pos, this.pos + BLOCK_SIZE);
      this.pos += BLOCK_SIZE;
      this.offset += BLOCK_SIZE;
      return b;
    }
    let got = 0;
    const start = this.offset;
    while (got < BLOCK_SIZE) {
      if (!(await this.more())) throw truncated(this.offset, `the stream ends inside the header block at ${start}`);
      const n = Math.min(BLOCK_SIZE - got, this.chunk.length - this.pos);
      this.scratch.set(this.chunk.subarray(this.pos, this.pos + n), got);
      got += n;
      this.pos += n;
      this.offset += n;
    }
    return this.scratch;
  }

  /** Up to `max` bytes as a view into the current chunk; null at end of stream. */
  async view(max: number): Promise<Uint8Array | null> {
    if (!(await this.more())) return null;
    const n = Math.min(max, this.chunk.length - this.pos);
    const v = this.chunk.subarray(this.pos, this.pos + n);
    this.pos += n;
    this.offset += n;
    return v;
  }

  /** Skip exactly n bytes; returns false if the stream ended first. */
  async skip(n: number): Promise<boolean> {
    let left = n;
    while (left > 0) {
      const v = await this.view(left);
      if (v === null) return false;
      left -= v.length;
    }
    return true;
  }

  /**
   * Read to the end of the stream. After the end-of-archive marker there is only record padding,
   * but a digest-verifying stream upstream needs to see its EOF to check the digest.
   */
  async drain(): Promise<void> {
    this.pos = this.chunk.length;
    while (await this.more()) this.pos = this.chunk.length;
  }

  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => undefined);
  }

  release(): void {
    this.reader.releaseLock();
  }
}

/**
 * A pass-through stream stage that counts (and unless told otherwise, hashes) what passes, and
 * can copy it to an open file on the way; `digest()` is set once the stream has ended.
 * A registry download is hashed by the client already, and hashing it twice would cost about a
 * tenth of a second of the one busy thread per 100 MB, hence the choice.
 */
import { writeSync } from "node:fs";

export class HashTap {
  private readonly hasher: Bun.CryptoHasher | undefined;
  private result: string | undefined;
  bytes = 0;

  constructor(hash: boolean, private readonly copyTo?: number) {
    this.hasher = hash ? new Bun.CryptoHasher("sha256") : undefined;
  }

  stream(): TransformStream<Uint8Array, Uint8Array> {
    return new TransformStream({
      transform: (chunk, controller) => {
        this.hasher?.update(chunk);
        this.bytes += chunk.byteLength;
        if (this.copyTo !== undefined) {
          let at = 0;
          while (at < chunk.byteLength) at += writeSync(this.copyTo, chunk, at, chunk.byteLength - at);
        }
        controller.enqueue(chunk);
      },
      flush: () => {
        this.result = this.hasher === undefined ? "" : `sha256:${this.hasher.digest("hex")}`;
      },
    });
  }

  /** "sha256:…" once the stream ended ("" when not hashing); undefined before. */
  digest(): string | undefined {
    return this.result;
  }
}

/**
 * A pass-through stream that hashes what flows through it and fails at the end if the content is
 * not what its digest promised (containers/image's copy/digesting_reader.go). Bytes reach the
 * consumer before the check, so a consumer must treat them as provisional until the stream ends
 * without error: the store writes to a temporary file and renames only then.
 */
import { digestMismatch, sizeMismatch } from "./errors.ts";

export interface Progress {
  readonly digest: string;
  /** Bytes transferred so far. */
  readonly done: number;
  /** Expected bytes, when known. */
  readonly total: number | undefined;
}

export type ProgressCallback = (progress: Progress) => void;

export interface VerifyOptions {
  /** The size the descriptor declares; a body that grows past it is cut off at once. */
  readonly size?: number | undefined;
  /** What is being read, for messages: "pull blob 127.0.0.1:5000/app@sha256:…". */
  readonly what: string;
  readonly onProgress?: ProgressCallback | undefined;
}

export function verifyingStream(expected: string, options: VerifyOptions): TransformStream<Uint8Array, Uint8Array> {
  const hasher = new Bun.CryptoHasher("sha256");
  const { size, what, onProgress } = options;
  let done = 0;
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      done += chunk.byteLength;
      if (size !== undefined && done > size) {
        // Stop early: a body larger than declared is wrong whatever its hash turns out to be.
        controller.error(sizeMismatch(what, size, "more than that"));
        return;
      }
      hasher.update(chunk);
      onProgress?.({ digest: expected, done, total: size });
      controller.enqueue(chunk);
    },
    flush() {
      if (size !== undefined && done !== size) throw sizeMismatch(what, size, String(done));
      const actual = `sha256:${hasher.digest("hex")}`;
      if (actual !== expected) throw digestMismatch(what, expected, actual);
    },
  });
}

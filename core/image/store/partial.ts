/**
 * A layer blob being downloaded, kept at a fixed name (partial/<hex>) so that a pull killed or cut
 * off halfway leaves its bytes for the next one, which asks the registry only for the rest
 * (`Range: bytes=<size>-`). Only the holder of the layer's lock touches the file, and nothing is
 * trusted from it: the resumed pull hashes the kept bytes again with the new ones before the blob
 * is renamed into blobs/.
 */
import { closeSync, ftruncateSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { blobPath } from "./blobs.ts";
import type { StoreLayout } from "./layout.ts";

export function partialDir(layout: StoreLayout): string {
  return join(layout.root, "partial");
}

export class PartialBlob {
  readonly path: string;
  /** Bytes kept from an earlier attempt. */
  offset: number;
  private fd: number;

  constructor(private readonly layout: StoreLayout, private readonly digest: string) {
    mkdirSync(partialDir(layout), { recursive: true });
    this.path = join(partialDir(layout), digest.slice("sha256:".length));
    this.fd = openSync(this.path, "a", 0o644);
    this.offset = statSync(this.path).size;
  }

  /** The kept bytes as a stream, for hashing and unpacking them before the rest arrives. */
  kept(): ReadableStream<Uint8Array> {
    return Bun.file(this.path).slice(0, this.offset).stream();
  }

  /** Forget the kept bytes: the registry cannot serve the rest on its own. */
  restart(): void {
    ftruncateSync(this.fd, 0);
    this.offset = 0;
  }

  write(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.byteLength) at += writeSync(this.fd, chunk, at, chunk.byteLength - at);
  }

  /** The whole blob is here and verified: move it into blobs/. */
  commit(): void {
    this.close();
    renameSync(this.path, blobPath(this.layout, this.digest));
  }

  /** Stop writing, keeping what arrived for the next attempt. */
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  remove(): void {
    this.close();
    rmSync(this.path, { force: true });
  }
}

/** `first`, then `second`, as one stream. */
export function concatStreams(first: ReadableStream<Uint8Array>, second: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  let reader = first.getReader();
  let onSecond = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const r = await reader.read();
        if (!r.done) return controller.enqueue(r.value);
        if (onSecond) return controller.close();
        onSecond = true;
        reader = second.getReader();
      }
    },
    async cancel(reason) {
      await reader.cancel(reason);
      if (!onSecond) await second.cancel(reason);
    },
  });
}

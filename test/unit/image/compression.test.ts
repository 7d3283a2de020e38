import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BoxError } from "../../../core/errors.ts";
import { decompress, detectCompression } from "../../../core/image/compression.ts";
import { readTar } from "../../../core/image/tar.ts";
import { tarBytes, type TarWriterEntry } from "../../../core/image/tar-writer.ts";

function streamOf(bytes: Uint8Array, chunk = bytes.length || 1): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
}

async function errorOf(p: Promise<unknown>): Promise<BoxError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(BoxError);
    return err as BoxError;
  }
  throw new Error("expected a rejection");
}

const payload = new Uint8Array(300_000).map((_, i) => (i * 13) % 256);
const entries: TarWriterEntry[] = [
  { name: "etc", type: "directory" },
  { name: "etc/os-release", type: "file", body: "ID=box\n" },
  { name: "blob", type: "file", body: payload },
];

/** A stream whose first chunks have the given sizes, then the rest in one chunk. */
function splitStream(bytes: Uint8Array, sizes: number[]): ReadableStream<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let at = 0;
  for (const n of sizes) {
    chunks.push(bytes.slice(at, at + n));
    at += n;
  }
  chunks.push(bytes.slice(at));
  return new ReadableStream<Uint8Array>({
    pull(c) {
      const next = chunks.shift();
      if (next === undefined) c.close();
      else c.enqueue(next);
    },
  });
}

/** Names and body sizes of the tar inside `compressed`, after detection and decompression. */
async function listCompressed(compressed: Uint8Array, chunk?: number | number[]) {
  const source = Array.isArray(chunk) ? splitStream(compressed, chunk) : streamOf(compressed, chunk);
  const { compression, stream } = await decompress(source);
  const got: [string, number][] = [];
  for await (const e of readTar(stream)) got.push([e.header.name, (await e.bytes()).length]);
  return { compression, got };
}

const expected = [
  ["etc/", 0],
  ["etc/os-release", 7],
  ["blob", payload.length],
];

const zstdInstalled = Bun.which("zstd") !== null;

describe("detectCompression", () => {
  test("by magic number", () => {
    expect(detectCompression(new Uint8Array([0x1f, 0x8b, 8, 0]))).toBe("gzip");
    expect(detectCompression(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0]))).toBe("zstd");
    expect(detectCompression(new TextEncoder().encode("etc/\0\0\0"))).toBe("none");
    expect(detectCompression(new Uint8Array([0x1f]))).toBe("none");
  });

  test("a plain tar is recognised by its header, whatever its first name looks like", async () => {
    for (const name of ["BZh91AY&SY", "\u001f\u008b"]) {
      const head = (await tarBytes([{ name, type: "file", body: "x" }])).subarray(0, 512);
      expect(detectCompression(head)).toBe("none");
    }
  });

  test("xz and bzip2 are named, not misread as a corrupt tar", () => {
    expect(() => detectCompression(new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))).toThrow("xz-compressed");
    expect(() => detectCompression(new TextEncoder().encode("BZh91AY"))).toThrow("bzip2-compressed");
  });
});

describe("decompress", () => {
  let dir: string;
  let tar: Uint8Array<ArrayBuffer>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "box-compression-"));
    tar = await tarBytes(entries);
    writeFileSync(join(dir, "layer.tar"), tar);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("uncompressed passes through untouched, even when the magic spans several chunks", async () => {
    for (const chunk of [undefined, [1, 2, 1], 4096]) {
      const r = await listCompressed(tar, chunk);
      expect(r.compression).toBe("none");
      expect(r.got).toEqual(expected as [string, number][]);
    }
  });

  test("gzip from Bun and from the gzip program, whole and in small chunks", async () => {
    const fromBun = Bun.gzipSync(tar);
    const proc = Bun.spawnSync(["gzip", "-c", join(dir, "layer.tar")]);
    expect(proc.exitCode).toBe(0);
    for (const compressed of [fromBun, new Uint8Array(proc.stdout)]) {
      for (const chunk of [undefined, [1, 1, 1], 4096]) {
        const r = await listCompressed(compressed, chunk);
        expect(r.compression).toBe("gzip");
        expect(r.got).toEqual(expected as [string, number][]);
      }
    }
  });

  test("a multi-member gzip (pigz, concatenated streams) is read to the end", async () => {
    const half = tar.length / 2;
    const a = Bun.gzipSync(tar.subarray(0, half));
    const b = Bun.gzipSync(tar.subarray(half));
    const r = await listCompressed(new Uint8Array(Buffer.concat([a, b])));
    expect(r.got).toEqual(expected as [string, number][]);
  });

  test("zstd from Bun", async () => {
    const r = await listCompressed(Bun.zstdCompressSync(tar), 1000);
    expect(r.compression).toBe("zstd");
    expect(r.got).toEqual(expected as [string, number][]);
  });

  test.skipIf(!zstdInstalled)("zstd from the zstd program (skipped when it is not installed: apt-get install zstd)", async () => {
    const proc = Bun.spawnSync(["zstd", "-q", "-c", join(dir, "layer.tar")]);
    expect(proc.exitCode).toBe(0);
    const r = await listCompressed(new Uint8Array(proc.stdout));
    expect(r.compression).toBe("zstd");
    expect(r.got).toEqual(expected as [string, number][]);
  });

  test("the gzip program can read what went in: a round trip through files", async () => {
    writeFileSync(join(dir, "bun.tar.gz"), Bun.gzipSync(tar));
    const proc = Bun.spawnSync(["gzip", "-dc", join(dir, "bun.tar.gz")]);
    expect(Buffer.from(proc.stdout).equals(Buffer.from(readFileSync(join(dir, "layer.tar"))))).toBe(true);
  });

  test("a truncated gzip or zstd stream is a clear error", async () => {
    const gz = Bun.gzipSync(tar);
    const gzErr = await errorOf(listCompressed(gz.subarray(0, gz.length - 100)));
    expect(gzErr.code).toBe("E_INVALID_INPUT");
    expect(gzErr.message).toStartWith("gzip stream:");
    expect(gzErr.hint).toContain("truncated or corrupt");
    const zst = Bun.zstdCompressSync(tar);
    const zErr = await errorOf(listCompressed(zst.subarray(0, zst.length - 100)));
    expect(zErr.message).toStartWith("zstd stream:");
  });

  test("an error from the stream below keeps its own code", async () => {
    const gz = Bun.gzipSync(tar);
    let sent = false;
    const failing = new ReadableStream<Uint8Array>({
      pull(c) {
        if (!sent) {
          sent = true;
          c.enqueue(gz.subarray(0, 600));
          return;
        }
        c.error(new BoxError("E_DIGEST_MISMATCH", "digest mismatch: expected sha256:aa, got sha256:bb"));
      },
    });
    const read = async () => new Response((await decompress(failing)).stream).bytes();
    const err = await errorOf(read());
    expect(err.code).toBe("E_DIGEST_MISMATCH");
  });

  test("an empty stream is an empty uncompressed archive", async () => {
    const { compression, stream } = await decompress(streamOf(new Uint8Array(0)));
    expect(compression).toBe("none");
    expect((await new Response(stream).bytes()).length).toBe(0);
  });
});

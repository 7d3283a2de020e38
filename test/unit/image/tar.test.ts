import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BoxError } from "../../../core/errors.ts";
import { readTar, type TarHeader } from "../../../core/image/tar.ts";
import { tarBytes, writeTar, type TarWriterEntry } from "../../../core/image/tar-writer.ts";
import { lsetxattr } from "../../../ffi/fsnodes.ts";

interface ReadEntry {
  header: TarHeader;
  body: Uint8Array;
}

/** A stream over `bytes` in chunks of `chunk` bytes: small chunks make headers straddle reads. */
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

async function readAll(bytes: Uint8Array, chunk?: number): Promise<ReadEntry[]> {
  const out: ReadEntry[] = [];
  for await (const e of readTar(streamOf(bytes, chunk))) out.push({ header: e.header, body: await e.bytes() });
  return out;
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

function run(cmd: string[], cwd?: string): void {
  const r = Bun.spawnSync(cmd, { cwd, stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString()}`);
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const big = new Uint8Array(70_000).map((_, i) => (i * 31) % 251);
const longDir = `${"d".repeat(60)}/${"e".repeat(60)}`;
const veryLong = `${"x".repeat(120)}/${"y".repeat(120)}/${"z".repeat(40)}.txt`;

const sample: TarWriterEntry[] = [
  { name: "dir", type: "directory", mode: 0o1777, mtime: 1_700_000_000 },
  { name: "dir/empty", type: "file", body: "" },
  { name: "dir/block-exact", type: "file", body: new Uint8Array(512).fill(7) },
  { name: "dir/big", type: "file", body: big, mode: 0o4755, uid: 1000, gid: 1001, uname: "alice", gname: "staff" },
  { name: `${longDir}/f`, type: "file", body: "split into prefix and name" },
  { name: veryLong, type: "file", body: "needs a PAX path" },
  { name: "ünïcødé", type: "file", body: "utf-8 name" },
  { name: "link", type: "symlink", linkname: `../${"t".repeat(150)}` },
  { name: "hard", type: "hardlink", linkname: "dir/big" },
  { name: "null", type: "char", mode: 0o666, devmajor: 1, devminor: 3 },
  { name: "loop0", type: "block", mode: 0o660, devmajor: 7, devminor: 0 },
  { name: "pipe", type: "fifo", mode: 0o600 },
  { name: "bigid", type: "file", uid: 3_000_000, gid: 4_000_000, mtime: 1_700_000_000.25, body: "x" },
  { name: "xattr", type: "file", body: "x", xattrs: { "user.bin": new Uint8Array([0, 1, 2, 0xff]), "security.capability": "cap" } },
];

describe("tar writer and reader", () => {
  test("round-trip every entry type, long names, big ids, fractional mtimes and xattrs", async () => {
    const bytes = await tarBytes(sample);
    const got = await readAll(bytes);
    expect(got.map((e) => e.header.name)).toEqual(sample.map((e) => (e.type === "directory" ? `${e.name}/` : e.name)));
    const by = new Map(got.map((e) => [e.header.name.replace(/\/$/, ""), e]));
    expect(by.get("dir")?.header).toMatchObject({ type: "directory", mode: 0o1777, mtime: 1_700_000_000, size: 0 });
    expect(by.get("dir/empty")?.body.length).toBe(0);
    expect(by.get("dir/block-exact")?.body).toEqual(new Uint8Array(512).fill(7));
    expect(by.get("dir/big")?.header).toMatchObject({ mode: 0o4755, uid: 1000, gid: 1001, uname: "alice", gname: "staff", size: big.length });
    expect(by.get("dir/big")?.body).toEqual(big);
    expect(text(by.get(`${longDir}/f`)?.body ?? new Uint8Array())).toBe("split into prefix and name");
    expect(text(by.get(veryLong)?.body ?? new Uint8Array())).toBe("needs a PAX path");
    expect(text(by.get("ünïcødé")?.body ?? new Uint8Array())).toBe("utf-8 name");
    expect(by.get("link")?.header).toMatchObject({ type: "symlink", linkname: `../${"t".repeat(150)}` });
    expect(by.get("hard")?.header).toMatchObject({ type: "hardlink", linkname: "dir/big", size: 0 });
    expect(by.get("null")?.header).toMatchObject({ type: "char", devmajor: 1, devminor: 3, mode: 0o666 });
    expect(by.get("loop0")?.header).toMatchObject({ type: "block", devmajor: 7, devminor: 0 });
    expect(by.get("pipe")?.header.type).toBe("fifo");
    expect(by.get("bigid")?.header).toMatchObject({ uid: 3_000_000, gid: 4_000_000, mtime: 1_700_000_000.25 });
    const xattrs = by.get("xattr")?.header.xattrs;
    expect(xattrs?.get("user.bin")).toEqual(new Uint8Array([0, 1, 2, 0xff]));
    expect(text(xattrs?.get("security.capability") ?? new Uint8Array())).toBe("cap");
  });

  test("the writer is deterministic", async () => {
    const a = await tarBytes(sample);
    const b = await new Response(writeTar(sample)).bytes();
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(a.length % 512).toBe(0);
  });

  test("headers straddling chunk boundaries read the same (1, 7 and 513-byte chunks)", async () => {
    const bytes = await tarBytes(sample);
    const whole = await readAll(bytes);
    for (const chunk of [1, 7, 513]) {
      const got = await readAll(bytes, chunk);
      expect(got.map((e) => [e.header.name, e.body.length])).toEqual(whole.map((e) => [e.header.name, e.body.length]));
      expect(got.find((e) => e.header.name === "dir/big")?.body).toEqual(big);
    }
  });

  test("streamed bodies are written and their declared size is enforced", async () => {
    async function* chunks() {
      yield new Uint8Array(300).fill(1);
      yield new Uint8Array(300).fill(2);
    }
    const got = await readAll(await tarBytes([{ name: "s", type: "file", body: { size: 600, stream: chunks() } }]));
    expect(got[0]?.body.length).toBe(600);
    expect(got[0]?.body[599]).toBe(2);
    const err = await errorOf(tarBytes([{ name: "s", type: "file", body: { size: 500, stream: chunks() } }]));
    expect(err.message).toContain("longer than its declared size 500");
  });

  test("unread bodies are skipped and a partly read body does not derail the next header", async () => {
    const bytes = await tarBytes(sample);
    const names: string[] = [];
    for await (const e of readTar(streamOf(bytes, 1000))) {
      names.push(e.header.name);
      if (e.header.name === "dir/big") {
        for await (const _ of e.body()) break; // read one chunk only
      }
    }
    expect(names.length).toBe(sample.length);
  });

  test("breaking out of the loop cancels the source stream", async () => {
    const bytes = await tarBytes(sample);
    let cancelled = false;
    let at = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(bytes.slice(at, at + 512));
        at += 512;
      },
      cancel() {
        cancelled = true;
      },
    });
    for await (const _ of readTar(stream)) break;
    expect(cancelled).toBe(true);
  });
});

describe("tar reader: damaged and unusual archives", () => {
  test("a corrupt header names its offset", async () => {
    const bytes = await tarBytes([
      { name: "a", type: "file", body: "hello" },
      { name: "b", type: "file", body: "world" },
    ]);
    bytes[1024 + 10] = (bytes[1024 + 10] ?? 0) ^ 0x55; // second header starts after a's header and one body block
    const err = await errorOf(readAll(bytes));
    expect(err.code).toBe("E_INVALID_INPUT");
    expect(err.message).toContain("corrupt header at offset 1024");
    expect(err.message).toContain("checksum mismatch");
  });

  test("an archive cut inside a body or a header is a clear error", async () => {
    const bytes = await tarBytes([{ name: "a", type: "file", body: big }]);
    const inBody = await errorOf(readAll(bytes.subarray(0, 512 + 1000)));
    expect(inBody.message).toContain("truncated");
    expect(inBody.message).toContain("`a`");
    const inHeader = await errorOf(readAll(bytes.subarray(0, 300)));
    expect(inHeader.message).toContain("truncated at offset 300");
    const afterPax = await tarBytes([{ name: veryLong, type: "file", body: "x" }]);
    const err = await errorOf(readAll(afterPax.subarray(0, 1024)));
    expect(err.message).toContain("ends after an extension header");
  });

  test("archives without end-of-archive blocks (umoci 0.4.7) or with only one are accepted", async () => {
    const noEnd = await tarBytes(sample, { endOfArchive: false });
    expect((await readAll(noEnd)).length).toBe(sample.length);
    const oneBlock = new Uint8Array(noEnd.length + 512);
    oneBlock.set(noEnd);
    expect((await readAll(oneBlock)).length).toBe(sample.length);
  });

  test("an empty stream is an empty archive", async () => {
    expect(await readAll(new Uint8Array(0))).toEqual([]);
  });

  test("absurd sizes are refused before any body is read", async () => {
    /** The archive with its size field set to `value` in GNU base-256 (big-endian). */
    async function withSize(value: bigint): Promise<Uint8Array> {
      const bytes = await tarBytes([{ name: "huge", type: "file", body: "x" }]);
      const header = bytes.subarray(0, 512);
      for (let i = 11, v = value; i >= 1; i--, v >>= 8n) header[124 + i] = Number(v & 0xffn);
      header[124] = 0x80;
      header.fill(0x20, 148, 156);
      const sum = header.reduce((a, b) => a + b, 0);
      header.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, "0")}\0 `), 148);
      return bytes;
    }
    const tooBig = await errorOf(readAll(await withSize(2n ** 48n)));
    expect(tooBig.message).toContain("entry `huge` at offset 0 declares 281474976710656 bytes, over the limit");
    const unrepresentable = await errorOf(readAll(await withSize(2n ** 60n)));
    expect(unrepresentable.message).toContain("corrupt header at offset 0: size is too large");

    const small = await tarBytes([{ name: "f", type: "file", body: big }]);
    const limited = async () => {
      for await (const _ of readTar(streamOf(small), { maxEntrySize: 1000 })) {
        // reading headers is enough
      }
    };
    expect((await errorOf(limited())).message).toContain("over the limit of 1000");
  });

  test("random bytes are reported as a corrupt header, not misread", async () => {
    const junk = new Uint8Array(2048).map((_, i) => (i * 7 + 3) % 256);
    expect((await errorOf(readAll(junk))).message).toContain("corrupt header at offset 0");
  });
});

describe("tar reader against GNU tar", () => {
  let dir: string;
  const longName = `${"n".repeat(110)}/${"m".repeat(110)}/${"o".repeat(110)}`;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "box-tar-"));
    const src = join(dir, "src");
    mkdirSync(join(src, "sub"), { recursive: true });
    mkdirSync(join(src, longName), { recursive: true });
    writeFileSync(join(src, "sub", "file"), big);
    writeFileSync(join(src, longName, "leaf"), "deep");
    linkSync(join(src, "sub", "file"), join(src, "sub", "hardlink"));
    linkSync(join(src, longName, "leaf"), join(src, "hard-to-long"));
    symlinkSync(`../${longName}/leaf`, join(src, "sub", "symlink-long"));
    symlinkSync("file", join(src, "sub", "symlink"));
    run(["mkfifo", join(src, "sub", "fifo")]);
    writeFileSync(join(src, "xattr"), "x");
    lsetxattr(join(src, "xattr"), "user.box", new TextEncoder().encode("value"));
    writeFileSync(join(src, "sparse"), "");
    truncateSync(join(src, "sparse"), 1 << 20);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function gnuTar(format: string, extra: string[] = [], members = ["sub", "nnn", "hard-to-long", "xattr"]): Uint8Array {
    const out = join(dir, `${format}.tar`);
    const names = members.map((m) => (m === "nnn" ? (longName.split("/")[0] as string) : m));
    run(["tar", `--format=${format}`, "--sort=name", ...extra, "-cf", out, ...names], join(dir, "src"));
    return new Uint8Array(readFileSync(out));
  }

  for (const format of ["gnu", "posix"]) {
    test(`${format} format: long names, long link targets, hard links, symlinks, fifo`, async () => {
      const got = await readAll(gnuTar(format));
      const by = new Map(got.map((e) => [e.header.name.replace(/\/$/, ""), e.header]));
      expect(by.get("sub/file")).toMatchObject({ type: "file", size: big.length });
      expect(got.find((e) => e.header.name === "sub/file")?.body).toEqual(big);
      expect(by.get(`${longName}/leaf`)).toMatchObject({ type: "file", size: 4 });
      expect(by.get(longName)?.type).toBe("directory");
      // The long-named file is archived first; the later name is a hard link with a long target
      // (a GNU 'K' entry, or a PAX linkpath).
      expect(by.get("hard-to-long")).toMatchObject({ type: "hardlink", linkname: `${longName}/leaf` });
      expect(by.get("sub/hardlink")).toMatchObject({ type: "hardlink", linkname: "sub/file" });
      expect(by.get("sub/symlink-long")).toMatchObject({ type: "symlink", linkname: `../${longName}/leaf` });
      expect(by.get("sub/symlink")).toMatchObject({ type: "symlink", linkname: "file" });
      expect(by.get("sub/fifo")?.type).toBe("fifo");
    });
  }

  test("hard links to a long name resolve to an archived entry", async () => {
    const got = await readAll(gnuTar("posix"));
    const names = new Set(got.map((e) => e.header.name));
    for (const e of got.filter((x) => x.header.type === "hardlink")) expect(names.has(e.header.linkname)).toBe(true);
  });

  test("posix format with --xattrs carries SCHILY.xattr records", async () => {
    const got = await readAll(gnuTar("posix", ["--xattrs", "--xattrs-include=user.*"], ["xattr"]));
    expect(text(got[0]?.header.xattrs.get("user.box") ?? new Uint8Array())).toBe("value");
  });

  test("a PAX global header is skipped", async () => {
    const bytes = gnuTar("posix", ["--pax-option=comment=global-comment"], ["xattr"]);
    expect(bytes[156]).toBe(0x67); // 'g': the archive really starts with a global header
    const got = await readAll(bytes);
    expect(got.map((e) => e.header.name)).toEqual(["xattr"]);
  });

  test("GNU base-256 ids are decoded", async () => {
    const got = await readAll(gnuTar("gnu", ["--owner=3000000", "--group=3000001", "--numeric-owner"], ["xattr"]));
    expect(got[0]?.header).toMatchObject({ uid: 3_000_000, gid: 3_000_001 });
  });

  test("GNU sparse files are refused with a hint", async () => {
    for (const format of ["gnu", "posix"]) {
      const err = await errorOf(readAll(gnuTar(format, ["--sparse"], ["sparse"])));
      expect(err.code).toBe("E_UNSUPPORTED");
      expect(err.hint).toContain("--sparse");
    }
  });

  test("GNU tar lists and extracts what the writer produced", async () => {
    const out = join(dir, "ours.tar");
    const entries = sample.filter((e) => e.type !== "char" && e.type !== "block");
    writeFileSync(out, await tarBytes(entries));
    const list = Bun.spawnSync(["tar", "-tf", out]).stdout.toString().trim().split("\n");
    expect(list).toEqual(entries.map((e) => (e.type === "directory" ? `${e.name}/` : e.name)));
    const x = join(dir, "x");
    mkdirSync(x);
    run(["tar", "-xf", out, "-C", x]);
    expect(new Uint8Array(readFileSync(join(x, "dir/big")))).toEqual(big);
    expect(readFileSync(join(x, veryLong), "utf8")).toBe("needs a PAX path");
  });
});

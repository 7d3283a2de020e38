import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BoxError, SyscallError } from "../../../core/errors.ts";
import { applyLayer, type ApplyLayerOptions, type LayerSummary } from "../../../core/image/layer.ts";
import { type LayerSyscalls, linuxLayerSyscalls, S_IFBLK, S_IFCHR } from "../../../core/image/layer-syscalls.ts";
import { tarBytes, type TarWriterEntry } from "../../../core/image/tar-writer.ts";
import { lgetxattr } from "../../../ffi/fsnodes.ts";

const isRoot = process.geteuid?.() === 0;
const DIGEST = `sha256:${"ab".repeat(32)}`;
const T = 1_600_000_000; // a fixed mtime, far from "now"

let work: string;
let root: string;
let outside: string;

/** A directory outside the root holding a sentinel file that no layer may touch. */
function makeSentinel(): void {
  mkdirSync(outside);
  writeFileSync(join(outside, "sentinel"), "original");
  utimesSync(join(outside, "sentinel"), T, T);
  utimesSync(outside, T, T);
}

function expectSentinelUntouched(): void {
  expect(readdirSync(outside)).toEqual(["sentinel"]);
  const st = lstatSync(join(outside, "sentinel"));
  expect(readFileSync(join(outside, "sentinel"), "utf8")).toBe("original");
  expect(st.mtimeMs).toBe(T * 1000);
  expect(st.nlink).toBe(1);
  expect(st.mode & 0o7777).toBe(0o644);
  expect(lstatSync(outside).mtimeMs).toBe(T * 1000);
}

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(bytes);
      c.close();
    },
  });
}

async function apply(entries: TarWriterEntry[], options: ApplyLayerOptions = {}, dir = root): Promise<LayerSummary> {
  return applyLayer(streamOf(await tarBytes(entries)), dir, { digest: DIGEST, ...options });
}

async function rejection(p: Promise<unknown>): Promise<BoxError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(BoxError);
    return err as BoxError;
  }
  throw new Error("expected the layer to be rejected");
}

const mode = (p: string) => lstatSync(p).mode & 0o7777;
const xattr = (p: string, name: string) => {
  const v = lgetxattr(p, name);
  return v === null ? null : new TextDecoder().decode(v);
};

beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "box-layer-"));
  root = join(work, "root");
  outside = join(work, "outside");
  makeSentinel();
});

afterEach(() => rmSync(work, { recursive: true, force: true }));

describe("applyLayer: contents and metadata", () => {
  test("files, directories, links and fifos keep content, mode and mtime", async () => {
    const big = new Uint8Array(3_000_000).map((_, i) => i % 253);
    const summary = await apply([
      { name: "./", type: "directory", mode: 0o755, mtime: T },
      { name: "bin", type: "directory", mode: 0o755, mtime: T + 1 },
      { name: "bin/su", type: "file", mode: 0o4755, body: "#!/bin/sh\n", mtime: T + 2 },
      { name: "bin/big", type: "file", mode: 0o640, body: big, mtime: T + 3 },
      { name: "bin/empty", type: "file", mode: 0o600, body: "", mtime: T + 4 },
      { name: "bin/sh", type: "symlink", linkname: "busybox", mtime: T + 5 },
      { name: "bin/su-again", type: "hardlink", linkname: "bin/su" },
      { name: "tmp", type: "directory", mode: 0o1777, mtime: T + 6 },
      { name: "srv", type: "directory", mode: 0o2775, mtime: T + 7 },
      { name: "srv/pipe", type: "fifo", mode: 0o620, mtime: T + 8 },
    ]);
    expect(summary).toMatchObject({ files: 3, directories: 3, symlinks: 1, hardlinks: 1, nodes: 1, bytes: 10 + big.length });
    expect(mode(root)).toBe(0o755);
    expect(mode(join(root, "bin/su"))).toBe(0o4755);
    expect(mode(join(root, "bin/big"))).toBe(0o640);
    expect(mode(join(root, "tmp"))).toBe(0o1777);
    expect(mode(join(root, "srv"))).toBe(0o2775);
    expect(mode(join(root, "srv/pipe"))).toBe(0o620);
    expect(lstatSync(join(root, "srv/pipe")).isFIFO()).toBe(true);
    expect(new Uint8Array(readFileSync(join(root, "bin/big")))).toEqual(big);
    expect(readFileSync(join(root, "bin/empty")).length).toBe(0);
    expect(readlinkSync(join(root, "bin/sh"))).toBe("busybox");
    expect(lstatSync(join(root, "bin/su-again")).ino).toBe(lstatSync(join(root, "bin/su")).ino);
    expect(lstatSync(join(root, "bin/su")).nlink).toBe(2);
    // Directory times are applied after their contents, which would otherwise bump them.
    expect(lstatSync(root).mtimeMs).toBe(T * 1000);
    expect(lstatSync(join(root, "bin")).mtimeMs).toBe((T + 1) * 1000);
    expect(lstatSync(join(root, "bin/big")).mtimeMs).toBe((T + 3) * 1000);
    expect(lstatSync(join(root, "bin/sh")).mtimeMs).toBe((T + 5) * 1000);
    expect(lstatSync(join(root, "srv")).mtimeMs).toBe((T + 7) * 1000);
    expectSentinelUntouched();
  });

  test("a read-only directory is filled first and made read-only last", async () => {
    await apply([
      { name: "ro", type: "directory", mode: 0o555, mtime: T },
      { name: "ro/sub", type: "directory", mode: 0o500, mtime: T },
      { name: "ro/sub/file", type: "file", body: "x", mode: 0o444 },
    ]);
    expect(mode(join(root, "ro"))).toBe(0o555);
    expect(mode(join(root, "ro/sub"))).toBe(0o500);
    expect(readFileSync(join(root, "ro/sub/file"), "utf8")).toBe("x");
    chmodSync(join(root, "ro/sub"), 0o700); // let afterEach clean up as non-root
    chmodSync(join(root, "ro"), 0o700);
  });

  test("missing parent directories are created", async () => {
    await apply([{ name: "a/b/c/file", type: "file", body: "deep" }]);
    expect(readFileSync(join(root, "a/b/c/file"), "utf8")).toBe("deep");
    expect(mode(join(root, "a/b"))).toBe(0o755);
  });

  test("later entries replace earlier ones: file by dir, dir by file, symlink by file", async () => {
    await apply([
      { name: "x", type: "file", body: "file" },
      { name: "x", type: "directory" },
      { name: "x/inner", type: "file", body: "in" },
      { name: "y", type: "directory" },
      { name: "y/inner", type: "file", body: "in" },
      { name: "y", type: "file", body: "now a file" },
      { name: "z", type: "symlink", linkname: "../outside/sentinel" },
      { name: "z", type: "file", body: "replaced" },
    ]);
    expect(readFileSync(join(root, "x/inner"), "utf8")).toBe("in");
    expect(readFileSync(join(root, "y"), "utf8")).toBe("now a file");
    expect(lstatSync(join(root, "z")).isFile()).toBe(true);
    expectSentinelUntouched();
  });

  test("flat mode: re-declaring an existing directory keeps its contents and takes the new mode", async () => {
    await apply([
      { name: "etc", type: "directory", mode: 0o755 },
      { name: "etc/hosts", type: "file", body: "lower" },
    ]);
    await apply([{ name: "etc", type: "directory", mode: 0o750, mtime: T }]);
    expect(readFileSync(join(root, "etc/hosts"), "utf8")).toBe("lower");
    expect(mode(join(root, "etc"))).toBe(0o750);
  });

  test("user xattrs are set; overlay.* xattrs from the archive are refused", async () => {
    const summary = await apply([
      { name: "f", type: "file", body: "x", xattrs: { "user.box": "kept", "user.overlay.opaque": "y" } },
      { name: "d", type: "directory", xattrs: { "trusted.overlay.opaque": "y" } },
    ]);
    expect(xattr(join(root, "f"), "user.box")).toBe("kept");
    expect(xattr(join(root, "f"), "user.overlay.opaque")).toBeNull();
    expect(xattr(join(root, "d"), "trusted.overlay.opaque")).toBeNull();
    expect(summary.skippedXattrs).toBe(2);
  });

  test("xattrs the kernel refuses are counted, not fatal", async () => {
    // user.* xattrs are not allowed on symlinks (EPERM), whoever asks.
    const summary = await apply([{ name: "l", type: "symlink", linkname: "t", xattrs: { "user.x": "1" } }]);
    expect(summary.skippedXattrs).toBe(1);
  });

  test.skipIf(!isRoot)("owners are applied to files, directories and symlinks (requires root: chown to other ids)", async () => {
    await apply([
      { name: "d", type: "directory", uid: 1234, gid: 5678 },
      { name: "d/f", type: "file", body: "x", uid: 42, gid: 43, mode: 0o6755 },
      { name: "d/l", type: "symlink", linkname: "f", uid: 7, gid: 8 },
    ]);
    expect(lstatSync(join(root, "d"))).toMatchObject({ uid: 1234, gid: 5678 });
    expect(lstatSync(join(root, "d/f"))).toMatchObject({ uid: 42, gid: 43 });
    // chown clears setuid/setgid; the mode is applied after it.
    expect(mode(join(root, "d/f"))).toBe(0o6755);
    expect(lstatSync(join(root, "d/l"))).toMatchObject({ uid: 7, gid: 8 });
  });

  test.skipIf(!isRoot)("files in a setgid directory still get their archived group (requires root)", async () => {
    await apply([
      { name: "shared", type: "directory", mode: 0o2775, gid: 50 },
      { name: "shared/f", type: "file", body: "x", uid: 0, gid: 0 },
    ]);
    // Pre-existing setgid directory (flat mode over a lower layer): new files would inherit gid 50.
    chmodSync(join(root, "shared"), 0o2775);
    await apply([{ name: "shared/g", type: "file", body: "y", uid: 0, gid: 0 }]);
    expect(lstatSync(join(root, "shared/f")).gid).toBe(0);
    expect(lstatSync(join(root, "shared/g")).gid).toBe(0);
  });

  test.skipIf(isRoot)(`rootless: chown refusals are counted and unpacking goes on${isRoot ? " (skipped as root: only a non-root user meets the refusals; test/e2e/rootless-owners covers them as the boxtest user)" : ""}`, async () => {
    const summary = await apply(
      [
        { name: "d", type: "directory", uid: 0, gid: 0 },
        { name: "d/f", type: "file", body: "x", uid: 0, gid: 0 },
        { name: "d/g", type: "file", body: "y", uid: 0, gid: 0 },
      ],
      { rootless: true },
    );
    expect(summary.chownFailures).toBe(3);
    expect(readFileSync(join(root, "d/g"), "utf8")).toBe("y");
  });

  test.skipIf(!isRoot)("device nodes are created with their numbers (requires root: CAP_MKNOD)", async () => {
    const summary = await apply([
      { name: "dev/null", type: "char", mode: 0o666, devmajor: 1, devminor: 3, mtime: T },
      { name: "dev/loop0", type: "block", mode: 0o660, devmajor: 7, devminor: 0 },
    ]);
    const nul = lstatSync(join(root, "dev/null"));
    expect(nul.isCharacterDevice()).toBe(true);
    expect(nul.rdev).toBe(0x103);
    expect(nul.mode & 0o7777).toBe(0o666);
    expect(nul.mtimeMs).toBe(T * 1000);
    expect(lstatSync(join(root, "dev/loop0")).isBlockDevice()).toBe(true);
    expect(summary).toMatchObject({ nodes: 2, skippedDevices: 0 });
  });

  test("device nodes the kernel refuses are skipped and counted; fifos still work", async () => {
    const refuseDevices: LayerSyscalls = {
      ...linuxLayerSyscalls,
      mknod(path, mode, major, minor) {
        const type = mode & 0o170000;
        if (type === S_IFCHR || type === S_IFBLK) throw new SyscallError(`mknod \`${path}\``, 1);
        linuxLayerSyscalls.mknod(path, mode, major, minor);
      },
    };
    const summary = await apply(
      [
        { name: "dev/null", type: "char", devmajor: 1, devminor: 3 },
        { name: "dev/sda", type: "block", devmajor: 8, devminor: 0 },
        { name: "dev/fifo", type: "fifo" },
      ],
      { sys: refuseDevices },
    );
    expect(summary).toMatchObject({ skippedDevices: 2, nodes: 1 });
    expect(existsSync(join(root, "dev/null"))).toBe(false);
    expect(lstatSync(join(root, "dev/fifo")).isFIFO()).toBe(true);
  });

  test("a root entry that is not a directory is refused", async () => {
    const err = await rejection(apply([{ name: "./", type: "symlink", linkname: "/" }]));
    expect(err.message).toContain("would replace the layer root");
  });
});

describe("applyLayer: whiteouts", () => {
  const lower: TarWriterEntry[] = [
    { name: "gone", type: "file", body: "x" },
    { name: "dirgone", type: "directory" },
    { name: "dirgone/inner", type: "file", body: "x" },
    { name: "opq", type: "directory" },
    { name: "opq/old", type: "file", body: "x" },
    { name: "opq/olddir", type: "directory" },
    { name: "opq/olddir/deep", type: "file", body: "x" },
    { name: "late", type: "directory" },
    { name: "late/old", type: "file", body: "x" },
    { name: "dup", type: "file", body: "lower" },
    { name: "kept", type: "file", body: "x" },
  ];
  const upper: TarWriterEntry[] = [
    { name: ".wh.gone", type: "file" },
    { name: ".wh.dirgone", type: "file" },
    { name: "opq", type: "directory" },
    { name: "opq/.wh..wh..opq", type: "file" },
    { name: "opq/new", type: "file", body: "new" },
    { name: "opq/olddir", type: "directory" },
    { name: "opq/olddir/fresh", type: "file", body: "new" },
    // The opaque marker may come after the layer's own files in the directory.
    { name: "late/mine", type: "file", body: "new" },
    { name: "late/.wh..wh..opq", type: "file" },
    // A whiteout never removes a file the same layer ships.
    { name: "dup", type: "file", body: "upper" },
    { name: ".wh.dup", type: "file" },
    { name: ".wh.never-existed", type: "file" },
    { name: "nodir/.wh.x", type: "file" },
    { name: ".wh..wh.plnk", type: "directory" },
  ];

  test("flat mode deletes from the tree below and keeps the layer's own files", async () => {
    await apply(lower);
    const summary = await apply(upper);
    const list = (d: string) => readdirSync(join(root, d)).sort();
    expect(list("")).toEqual(["dup", "kept", "late", "opq"]);
    expect(list("opq")).toEqual(["new", "olddir"]);
    expect(list("opq/olddir")).toEqual(["fresh"]);
    expect(list("late")).toEqual(["mine"]);
    expect(readFileSync(join(root, "dup"), "utf8")).toBe("upper");
    expect(summary.whiteouts).toBe(7);
    expectSentinelUntouched();
  });

  test.skipIf(!isRoot)("overlay mode as root: 0/0 character devices and trusted.overlay.opaque (requires root: trusted.* xattrs)", async () => {
    await apply(upper, { mode: "overlay", rootless: false });
    const wh = lstatSync(join(root, "gone"));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect(lstatSync(join(root, "dirgone")).isCharacterDevice()).toBe(true);
    expect(xattr(join(root, "opq"), "trusted.overlay.opaque")).toBe("y");
    expect(xattr(join(root, "late"), "trusted.overlay.opaque")).toBe("y");
    expect(readFileSync(join(root, "late/mine"), "utf8")).toBe("new");
    expect(existsSync(join(root, ".wh.gone"))).toBe(false);
    expect(lstatSync(join(root, "dup")).isFile()).toBe(true);
  });

  test("overlay mode rootless: 0/0 whiteouts (allowed unprivileged since Linux 5.8) and user.overlay.opaque", async () => {
    await apply(upper, { mode: "overlay", rootless: true });
    expect(lstatSync(join(root, "gone")).isCharacterDevice()).toBe(true);
    expect(xattr(join(root, "opq"), "user.overlay.opaque")).toBe("y");
    expect(xattr(join(root, "opq"), "trusted.overlay.opaque")).toBeNull();
  });

  test("overlay mode rootless where mknod is refused: xwhiteouts with user.overlay.whiteout", async () => {
    const noMknod: LayerSyscalls = {
      ...linuxLayerSyscalls,
      mknod(path) {
        throw new SyscallError(`mknod \`${path}\``, 1);
      },
    };
    await apply(upper, { mode: "overlay", rootless: true, sys: noMknod });
    const wh = lstatSync(join(root, "gone"));
    expect(wh.isFile()).toBe(true);
    expect(wh.size).toBe(0);
    expect(xattr(join(root, "gone"), "user.overlay.whiteout")).not.toBeNull();
    // The directory holding xwhiteouts is marked "x", unless it is opaque ("y") anyway.
    expect(xattr(root, "user.overlay.opaque")).toBe("x");
    expect(xattr(join(root, "opq"), "user.overlay.opaque")).toBe("y");
  });
});

/** Mount an overlay of `lowers` (top first) read-only, list what it shows, unmount. */
function overlayView(lowers: string[], extra: string[] = []): string[] {
  const merged = mkdtempSync(join(work, "merged-"));
  const opts = [...extra, `lowerdir=${lowers.join(":")}`].join(",");
  const m = Bun.spawnSync(["mount", "-t", "overlay", "overlay", "-o", opts, merged], { stderr: "pipe" });
  if (m.exitCode !== 0) throw new Error(`mount overlay: ${m.stderr.toString()}`);
  try {
    return (Bun.spawnSync(["find", ".", "-mindepth", "1"], { cwd: merged }).stdout.toString().trim().split("\n") ?? []).sort();
  } finally {
    Bun.spawnSync(["umount", merged]);
  }
}

function canMountOverlay(): boolean {
  if (!isRoot) return false;
  const dir = mkdtempSync(join(tmpdir(), "box-ovl-probe-"));
  try {
    for (const d of ["l1", "l2", "m"]) mkdirSync(join(dir, d));
    const r = Bun.spawnSync(["mount", "-t", "overlay", "overlay", "-o", `lowerdir=${dir}/l1:${dir}/l2`, `${dir}/m`]);
    if (r.exitCode !== 0) return false;
    Bun.spawnSync(["umount", `${dir}/m`]);
    return true;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const overlayWorks = canMountOverlay();

describe("applyLayer: overlay layers under a real overlayfs mount", () => {
  const lower: TarWriterEntry[] = [
    { name: "keep", type: "file", body: "k" },
    { name: "gone", type: "file", body: "g" },
    { name: "d", type: "directory" },
    { name: "d/old", type: "file", body: "o" },
  ];
  const upper: TarWriterEntry[] = [
    { name: ".wh.gone", type: "file" },
    { name: "d", type: "directory" },
    { name: "d/.wh..wh..opq", type: "file" },
    { name: "d/new", type: "file", body: "n" },
  ];
  const merged = ["./d", "./d/new", "./keep"];

  test.skipIf(!overlayWorks)("root format: whiteouts and opaque directories hide the layer below (requires root and overlayfs)", async () => {
    const l1 = join(work, "l1");
    const l2 = join(work, "l2");
    await apply(lower, { mode: "overlay", rootless: false }, l1);
    await apply(upper, { mode: "overlay", rootless: false }, l2);
    expect(overlayView([l2, l1])).toEqual(merged);
  });

  test.skipIf(!overlayWorks)("rootless formats under the userxattr option: 0/0 and xwhiteouts (requires root and overlayfs)", async () => {
    const l1 = join(work, "l1");
    await apply(lower, { mode: "overlay", rootless: true }, l1);
    const l2 = join(work, "l2");
    await apply(upper, { mode: "overlay", rootless: true }, l2);
    expect(overlayView([l2, l1], ["userxattr"])).toEqual(merged);
    const l3 = join(work, "l3");
    const noMknod: LayerSyscalls = {
      ...linuxLayerSyscalls,
      mknod(path) {
        throw new SyscallError(`mknod \`${path}\``, 1);
      },
    };
    await apply(upper, { mode: "overlay", rootless: true, sys: noMknod }, l3);
    expect(overlayView([l3, l1], ["userxattr"])).toEqual(merged);
  });
});

describe("applyLayer: nothing is written outside the root", () => {
  const escapes = (name: string) => `layer ${DIGEST}: entry \`${name}\` escapes the layer root`;

  for (const name of ["../outside/sentinel", "a/../../outside/sentinel", "/etc/box-must-not-exist", "./../x"]) {
    test(`a name that climbs out (${name}) is refused`, async () => {
      const err = await rejection(apply([{ name, type: "file", body: "pwned" }]));
      expect(err.code).toBe("E_INVALID_INPUT");
      expect(err.message).toBe(escapes(name));
      expect(existsSync("/etc/box-must-not-exist")).toBe(false);
      expectSentinelUntouched();
    });
  }

  test("a hard link to ../../ is refused", async () => {
    const err = await rejection(apply([{ name: "h", type: "hardlink", linkname: "../outside/sentinel" }]));
    expect(err.message).toBe(escapes("h"));
    const abs = await rejection(apply([{ name: "h", type: "hardlink", linkname: "/etc/passwd" }]));
    expect(abs.message).toBe(escapes("h"));
    expectSentinelUntouched();
  });

  test("an absolute symlink is followed inside the root, as in a chroot (a -> /etc, then a/passwd)", async () => {
    await apply([
      { name: "a", type: "symlink", linkname: outside },
      { name: "a/sentinel", type: "file", body: "pwned" },
    ]);
    expect(readlinkSync(join(root, "a"))).toBe(outside); // written as-is
    expect(readFileSync(join(root, outside, "sentinel"), "utf8")).toBe("pwned");
    expectSentinelUntouched();
  });

  test("a relative symlink climbing above the root stops at the root", async () => {
    await apply([
      { name: "up", type: "symlink", linkname: "../../../../../../../../.." },
      { name: "up/outside/sentinel", type: "file", body: "pwned" },
      { name: "rel", type: "symlink", linkname: "../outside" },
      { name: "rel/sentinel", type: "file", body: "pwned too" },
    ]);
    expect(readFileSync(join(root, "outside/sentinel"), "utf8")).toBe("pwned too");
    expectSentinelUntouched();
  });

  test("symlink chains are resolved link by link inside the root", async () => {
    await apply([
      { name: "c1", type: "symlink", linkname: "c2" },
      { name: "c2", type: "symlink", linkname: "sub/c3" },
      { name: "sub/c3", type: "symlink", linkname: "../../outside" },
      { name: "c1/sentinel", type: "file", body: "pwned" },
    ]);
    expect(readFileSync(join(root, "outside/sentinel"), "utf8")).toBe("pwned");
    expectSentinelUntouched();
  });

  test("a symlink loop is an error, not a hang", async () => {
    const err = await rejection(
      apply([
        { name: "x", type: "symlink", linkname: "y" },
        { name: "y", type: "symlink", linkname: "x" },
        { name: "x/f", type: "file", body: "?" },
      ]),
    );
    expect(err.message).toContain("too many levels of symbolic links");
  });

  test("a later entry cannot traverse a directory that an earlier entry turned into a symlink", async () => {
    await apply([
      { name: "d", type: "directory", mode: 0o700, mtime: T + 99 },
      { name: "d", type: "symlink", linkname: "../outside" },
      { name: "d/sentinel", type: "file", body: "pwned", mode: 0o777 },
    ]);
    expect(lstatSync(join(root, "d")).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(root, "outside/sentinel"), "utf8")).toBe("pwned");
    // d's deferred mode and mtime must not land on what the symlink points at either.
    expectSentinelUntouched();
    expect(mode(outside)).toBe(0o755 & ~process.umask());
  });

  test("a hard link through a symlink resolves inside the root, and a missing target is an error", async () => {
    const err = await rejection(
      apply([
        { name: "s", type: "symlink", linkname: "../outside" },
        { name: "h", type: "hardlink", linkname: "s/sentinel" },
      ]),
    );
    expect(err.message).toBe(`layer ${DIGEST}: entry \`h\`: hard link target \`s/sentinel\` does not exist in the layer root`);
    expectSentinelUntouched();
  });

  test("a hard link to a symlink links the symlink, not what it points at", async () => {
    await apply([
      { name: "s", type: "symlink", linkname: join(outside, "sentinel") },
      { name: "h", type: "hardlink", linkname: "s" },
      { name: "h", type: "file", body: "overwrites h only" },
    ]);
    expect(lstatSync(join(root, "s")).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(root, "h"), "utf8")).toBe("overwrites h only");
    expectSentinelUntouched();
  });

  test("a file written over an existing symlink replaces the link (flat mode over a lower tree)", async () => {
    mkdirSync(root);
    symlinkSync(join(outside, "sentinel"), join(root, "f"));
    symlinkSync(outside, join(root, "etc"));
    await apply([
      { name: "f", type: "file", body: "pwned" },
      { name: "etc/sentinel", type: "file", body: "pwned" },
      { name: "etc/dev", type: "fifo" },
    ]);
    expect(readFileSync(join(root, "f"), "utf8")).toBe("pwned");
    expect(readFileSync(join(root, outside, "sentinel"), "utf8")).toBe("pwned");
    expectSentinelUntouched();
  });

  test("whiteouts and opaque markers behind a symlink stay inside the root", async () => {
    for (const layerMode of ["flat", "overlay"] as const) {
      rmSync(root, { recursive: true, force: true });
      await apply(
        [
          { name: "s", type: "symlink", linkname: "../outside" },
          { name: "s/.wh.sentinel", type: "file" },
          { name: "s/.wh..wh..opq", type: "file" },
          { name: "abs", type: "symlink", linkname: outside },
          { name: "abs/.wh.sentinel", type: "file" },
          { name: "abs/.wh..wh..opq", type: "file" },
        ],
        { mode: layerMode, rootless: true },
      );
      expectSentinelUntouched();
    }
    const err = await rejection(apply([{ name: "../outside/.wh.sentinel", type: "file" }]));
    expect(err.message).toBe(escapes("../outside/.wh.sentinel"));
    expectSentinelUntouched();
  });

  test("a whiteout naming its own directory (`.wh.`, `.wh..`) is refused", async () => {
    await apply([{ name: "etc/passwd", type: "file", body: "x" }]);
    for (const name of ["etc/.wh.", "etc/.wh.."]) {
      const err = await rejection(apply([{ name, type: "file" }]));
      expect(err.message).toBe(`layer ${DIGEST}: entry \`${name}\` is not a valid whiteout`);
    }
    expect(readFileSync(join(root, "etc/passwd"), "utf8")).toBe("x");
  });

  test("a device node or fifo cannot be planted outside through a symlink", async () => {
    await apply([
      { name: "s", type: "symlink", linkname: "../outside" },
      { name: "s/pipe", type: "fifo" },
    ]);
    expect(lstatSync(join(root, "outside/pipe")).isFIFO()).toBe(true);
    expectSentinelUntouched();
  });
});

describe("applyLayer: archives from the outside world", () => {
  function run(cmd: string[], cwd?: string): Uint8Array {
    const r = Bun.spawnSync(cmd, { cwd, stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString()}`);
    return new Uint8Array(r.stdout);
  }

  /** What `find` sees: path, type, mode, size (files), link target and mtime. */
  function listing(dir: string): string[] {
    const out = run(["find", ".", "-mindepth", "1", "-printf", "%p %y %m %s %l %T@\\n"], dir);
    return new TextDecoder()
      .decode(out)
      .trim()
      .split("\n")
      .map((l) => l.replace(/^(\S+ d \S+) \d+/, "$1 -")) // directory sizes are file-system specific
      .sort();
  }

  /** A tree of every kind of entry; `mtime` must be exact in a double (PAX) or whole (gnu). */
  function sourceTree(mtime: string): string {
    const src = join(work, "src");
    const long = `${"l".repeat(100)}/${"m".repeat(100)}/${"n".repeat(100)}`;
    mkdirSync(join(src, long), { recursive: true });
    writeFileSync(join(src, long, "file"), "deep");
    mkdirSync(join(src, "bin"));
    writeFileSync(join(src, "bin/busybox"), new Uint8Array(200_000).fill(9), { mode: 0o755 });
    chmodSync(join(src, "bin/busybox"), 0o4755);
    run(["ln", join(src, "bin/busybox"), join(src, "bin/sh")]);
    symlinkSync("busybox", join(src, "bin/ls"));
    symlinkSync(`../${long}/file`, join(src, "bin/long-link"));
    run(["mkfifo", join(src, "bin/fifo")]);
    // Set, not left to the clock: utimes takes a double, which cannot carry a PAX mtime's
    // nanoseconds exactly, and the gnu format keeps whole seconds only.
    run(["find", ".", "-exec", "touch", "-h", "-d", `@${mtime}`, "{}", "+"], src);
    run(["touch", "-h", "-d", "@1500000000", ...["bin/busybox", "bin/ls", long, "bin"].map((p) => join(src, p))]);
    return src;
  }

  test("a GNU tar posix-format layer, gzip-compressed, unpacks to the same tree", async () => {
    const src = sourceTree("1600000000.5");
    const tgz = run(["sh", "-c", "tar --format=posix -cf - . | gzip -c"], src);
    const summary = await applyLayer(streamOf(tgz), root, { digest: DIGEST });
    expect(summary.hardlinks).toBe(1);
    expect(listing(root)).toEqual(listing(src));
    expect(lstatSync(join(root, "bin/sh")).ino).toBe(lstatSync(join(root, "bin/busybox")).ino);
  });

  test.skipIf(Bun.which("zstd") === null)("a GNU tar gnu-format layer, zstd-compressed by the zstd program, unpacks to the same tree (skipped without the zstd program)", async () => {
    const src = sourceTree("1600000000");
    const tzst = run(["sh", "-c", "tar --format=gnu -cf - . | zstd -q -c"], src);
    await applyLayer(streamOf(tzst), root, { digest: DIGEST });
    expect(listing(root)).toEqual(listing(src));
  });

  test("a layer without end-of-archive blocks (umoci 0.4.7) is accepted", async () => {
    const bytes = await tarBytes([{ name: "etc/os-release", type: "file", body: "ID=umoci\n" }], { endOfArchive: false });
    await applyLayer(streamOf(Bun.gzipSync(bytes)), root);
    expect(readFileSync(join(root, "etc/os-release"), "utf8")).toBe("ID=umoci\n");
  });

  test("a truncated layer fails with the layer named and the cause kept", async () => {
    const bytes = await tarBytes([{ name: "big", type: "file", body: new Uint8Array(100_000) }]);
    const plain = await rejection(applyLayer(streamOf(bytes.subarray(0, 50_000)), root, { digest: DIGEST }));
    expect(plain.code).toBe("E_INVALID_INPUT");
    expect(plain.message).toBe(`layer ${DIGEST}: entry \`big\``);
    expect(String((plain.cause as Error).message)).toContain("truncated");
    const gz = Bun.gzipSync(bytes);
    const zipped = await rejection(applyLayer(streamOf(gz.subarray(0, gz.length - 50)), root, { digest: DIGEST }));
    expect(zipped.code).toBe("E_INVALID_INPUT");
    expect(zipped.message).toStartWith(`layer ${DIGEST}`);
  });

  test("a corrupt header fails with the layer and the offset named", async () => {
    const bytes = await tarBytes([{ name: "a", type: "file", body: "x" }]);
    bytes[0] = (bytes[0] ?? 0) ^ 0xff;
    const err = await rejection(applyLayer(streamOf(bytes), root, { digest: DIGEST }));
    expect(err.message).toBe(`layer ${DIGEST}`);
    expect((err.cause as Error).message).toContain("corrupt header at offset 0");
  });

  test.skipIf(!isRoot || Bun.which("setpriv") === null)(
    "as an unprivileged user: chown refusals and device nodes are counted, never fatal (requires root to switch to nobody)",
    async () => {
      chmodSync(work, 0o777);
      const layer = join(work, "layer.tar");
      writeFileSync(
        layer,
        await tarBytes([
          { name: "etc", type: "directory", uid: 0, gid: 0, mode: 0o555 },
          { name: "etc/passwd", type: "file", body: "root:x:0:0\n", uid: 0, gid: 0 },
          { name: "dev/null", type: "char", devmajor: 1, devminor: 3 },
          { name: "dev/fifo", type: "fifo" },
        ]),
      );
      const script = join(work, "unpack.ts");
      const layerModule = join(import.meta.dir, "../../../core/image/layer.ts");
      writeFileSync(
        script,
        `import { applyLayer } from ${JSON.stringify(layerModule)};\n` +
          `const s = await applyLayer(Bun.file(${JSON.stringify(layer)}).stream(), ${JSON.stringify(join(work, "unpriv"))});\n` +
          "console.log(JSON.stringify(s));\n",
      );
      const proc = Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, script], {
        env: { ...process.env, HOME: work, BUN_INSTALL_CACHE_DIR: join(work, "cache") },
        stderr: "pipe",
      });
      expect(proc.stderr.toString()).toBe("");
      const summary = JSON.parse(proc.stdout.toString()) as LayerSummary;
      expect(summary).toMatchObject({ files: 1, skippedDevices: 1, nodes: 1 });
      expect(summary.chownFailures).toBeGreaterThanOrEqual(2);
      expect(lstatSync(join(work, "unpriv/etc/passwd")).uid).toBe(65534);
      expect(mode(join(work, "unpriv/etc"))).toBe(0o555);
      chmodSync(join(work, "unpriv/etc"), 0o755);
    },
  );
});

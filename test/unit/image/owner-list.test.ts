/**
 * The owner list `box _chown` reads on stdin: every line validated, and every path kept inside
 * the layer root whatever symlinks the layer holds. Applying owners other than one's own needs
 * root (or a user namespace, which test/e2e/rootless-owners.test.ts covers).
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyOwners, encodeOwnerList, parseOwnerList } from "../../../core/image/owner-list.ts";

const isRoot = process.getuid?.() === 0;

describe("owner list", () => {
  test("what is encoded parses back, file capability included", () => {
    const entries = [{ path: "a/b", uid: 1000, gid: 1001 }, { path: "ping", uid: 0, gid: 0, cap: new Uint8Array([1, 0, 0, 2]) }];
    expect(parseOwnerList(new TextDecoder().decode(encodeOwnerList(entries)))).toEqual(entries);
  });

  test.each([
    ["not JSON", "owner list line 1: not JSON"],
    [`{"path":"a","uid":-1,"gid":0}`, "owner list line 1:"],
    [`{"path":"a","uid":1.5,"gid":0}`, "owner list line 1:"],
    [`{"path":"a","uid":1,"gid":0,"mode":4095}`, "owner list line 1:"],
    [`{"path":"a\\u0000b","uid":1,"gid":0}`, "path contains a NUL byte"],
    [`{"path":"a","uid":1,"gid":0,"cap":"%%"}`, "owner list line 1:"],
  ])("a bad line is refused: %s", (line, message) => {
    expect(() => parseOwnerList(`${line}\n`)).toThrow(message);
  });
});

describe.skipIf(!isRoot)("applyOwners (requires root to give away files)", () => {
  let work: string;
  let root: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), "box-owners-"));
    root = join(work, "root");
    mkdirSync(join(root, "etc"), { recursive: true });
    writeFileSync(join(work, "outside"), "host\n");
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  test("owners are given, setuid bits survive the chown, symlinks are not followed", () => {
    writeFileSync(join(root, "suid"), "s");
    chmodSync(join(root, "suid"), 0o4755);
    symlinkSync(join(work, "outside"), join(root, "link"));
    applyOwners(root, [{ path: "suid", uid: 1000, gid: 1000 }, { path: "link", uid: 1000, gid: 1000 }]);
    expect(lstatSync(join(root, "suid"))).toMatchObject({ uid: 1000, gid: 1000, mode: 0o104755 });
    expect(lstatSync(join(root, "link")).uid).toBe(1000);
    expect(lstatSync(join(work, "outside")).uid).toBe(0);
  });

  test("a path through a symlink out of the root resolves inside it", () => {
    symlinkSync(work, join(root, "up"));
    symlinkSync("../../../..", join(root, "rel"));
    expect(() => applyOwners(root, [{ path: "up/outside", uid: 1000, gid: 1000 }])).toThrow("no such file or directory");
    expect(() => applyOwners(root, [{ path: `rel${work}/outside`, uid: 1000, gid: 1000 }])).toThrow("no such file or directory");
    expect(() => applyOwners(root, [{ path: "../outside", uid: 1000, gid: 1000 }])).toThrow("escapes the layer root");
    expect(lstatSync(join(work, "outside")).uid).toBe(0);
  });
});

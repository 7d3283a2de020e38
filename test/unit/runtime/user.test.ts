import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseSubidFile } from "../../../core/runtime/idmap.ts";
import { resolveInRoot } from "../../../core/runtime/rootpath.ts";
import { resolveUser } from "../../../core/runtime/user.ts";

const root = mkdtempSync(join(tmpdir(), "box-user-"));
mkdirSync(join(root, "etc"));
writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
writeFileSync(join(root, "etc/group"), "root:x:0:\napp:x:1000:\nwheel:x:10:app,root\nstaff:x:50:\n");
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("-u resolution in the image's own files", () => {
  test("names, numbers, groups and supplementary groups", () => {
    expect(resolveUser(root, undefined)).toEqual({ uid: 0, gid: 0, groups: [0, 10], home: "/root" });
    expect(resolveUser(root, "app")).toEqual({ uid: 1000, gid: 1000, groups: [1000, 10], home: "/home/app" });
    expect(resolveUser(root, "app:staff")).toEqual({ uid: 1000, gid: 50, groups: [50], home: "/home/app" });
    expect(resolveUser(root, "4242:7")).toEqual({ uid: 4242, gid: 7, groups: [7], home: "/" });
    expect(() => resolveUser(root, "ghost")).toThrow("unable to find user ghost: no matching entries in passwd file");
    expect(() => resolveUser(root, "app:ghosts")).toThrow("unable to find group ghosts");
  });

  test("symlinks in the image resolve inside its root, never on the host", () => {
    const evil = mkdtempSync(join(tmpdir(), "box-evil-"));
    mkdirSync(join(evil, "etc"));
    symlinkSync("/../../../../etc/shadow", join(evil, "etc/passwd"));
    expect(resolveInRoot(evil, "/etc/passwd")).toBe(join(evil, "etc/shadow"));
    // The host's /etc/passwd has root; the image's (missing) file must not be read from the host.
    expect(resolveUser(evil, undefined).home).toBe("/");
    rmSync(evil, { recursive: true, force: true });
  });

  test("/etc/subuid lines for the user by name or uid", () => {
    const text = "alice:100000:65536\n1001:300000:1000\nbob:200000:65536\nbad line\n";
    expect(parseSubidFile(text, "alice", 1000)).toEqual([{ start: 100000, count: 65536 }]);
    expect(parseSubidFile(text, "carol", 1001)).toEqual([{ start: 300000, count: 1000 }]);
    expect(parseSubidFile(text, "nobody", 5)).toEqual([]);
  });
});

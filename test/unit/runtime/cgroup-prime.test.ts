import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ownProcsFile } from "../../../core/runtime/cgroups/prime.ts";

const root = mkdtempSync(join(tmpdir(), "box-prime-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function procsAt(dir: string): string {
  mkdirSync(join(root, dir), { recursive: true });
  writeFileSync(join(root, dir, "cgroup.procs"), "");
  return join(root, dir, "cgroup.procs");
}

/** A mountinfo line for a hierarchy mounted at `root/dir`. */
const mount = (dir: string, fstype: string, opts: string) => `40 31 0:37 / ${join(root, dir)} rw,relatime - ${fstype} ${fstype} rw,${opts}`;

test("the priming write goes to the group this process is in, in a hierarchy that is mounted", () => {
  const memory = procsAt("memory/user.slice/s1");
  // A v1 line whose hierarchy is not mounted is passed over for the next one.
  expect(ownProcsFile(mount("memory", "cgroup", "memory"), "9:name=systemd:/user.slice/s1\n4:memory:/user.slice/s1\n0::/\n")).toBe(memory);
  const systemd = procsAt("systemd/user.slice/s1");
  expect(ownProcsFile(`${mount("systemd", "cgroup", "name=systemd")}\n${mount("memory", "cgroup", "memory")}`, "9:name=systemd:/user.slice/s1\n4:memory:/user.slice/s1\n")).toBe(systemd);
  // Pure cgroup2: the unified tree is the root itself.
  const unifiedRoot = procsAt("");
  expect(ownProcsFile(mount("", "cgroup2", "nsdelegate"), "0::/\n")).toBe(unifiedRoot);
  expect(ownProcsFile(mount("", "cgroup2", "nsdelegate"), "0::/nowhere\n")).toBeUndefined();
});

/**
 * Owners for a rootless unpack. A plain user's chown to any id but their own is refused, so a
 * layer file the image gives to uid 1000 would show up as root in the container. The container
 * sees the user as 0 and their /etc/subuid range as 1..65536; a process inside a user namespace
 * with that same map may chown to those ids, and the host then records the shifted ids the
 * container's own RUN steps would have made. That is podman's `unshare` done once per layer.
 *
 * box cannot enter a user namespace itself (a multi-threaded process; see docs/design.md), so the
 * shim clones into one (CLONE_NEWUSER alone: no rootfs, no other namespace, the mapping written by
 * newuidmap/newgidmap as for containers) and execs box again as `box _chown ROOT`, which reads
 * the list on stdin (owner-list.ts) and applies it. One process per layer that needs it.
 *
 * The same user namespace is what removes such a tree again: a directory now owned by a
 * subordinate id is not the user's to empty.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLONE_NEWUSER } from "../../ffi/constants.ts";
import { encodePlan, type ShimOp } from "../../ffi/shim-protocol.ts";
import { getgid, getuid } from "../../ffi/syscalls.ts";
import { BoxError } from "../errors.ts";
import { IN_USERNS_ENV, type BoxPaths } from "../paths.ts";
import { mark } from "../trace.ts";
import { helperArgs, isMapped, rootlessMaps, type UserNamespaceMaps } from "../runtime/idmap.ts";
import { runShimSync, startShim } from "../runtime/shim.ts";
import { encodeOwnerList, type OwnerEntry } from "./owner-list.ts";

/**
 * `restored`: entries given their owner. `lost`: entries whose owner is not root but is outside
 * the map (no subordinate ids at all, or an id beyond the range), so the files stay the user's,
 * root in the container: the kernel could not show such an owner in a container anyway, and
 * that is no reason to refuse the image (podman does refuse it).
 */
export interface OwnersOutcome {
  restored: number;
  lost: number;
}

const RANGE_ADVICE = "add a range for your user to /etc/subuid and /etc/subgid (e.g. `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER`), then remove the image and pull it again";
const RANGE_HINT = "check that newuidmap/newgidmap are installed setuid and that /etc/subuid and /etc/subgid give you a range";

/** How to run this same executable (or, in a checkout, bun with this entry script). */
function self(): string[] {
  const compiled = Bun.main.startsWith("/$bunfs") || Bun.main.startsWith("B:/~BUN");
  return compiled ? [process.execPath] : [process.execPath, Bun.main];
}

function subidMaps(): UserNamespaceMaps | undefined {
  // Already inside: a nested namespace would need newuidmap for ids this one only borrows.
  if (process.env[IN_USERNS_ENV] === "1") return undefined;
  const maps = rootlessMaps(getuid(), getgid());
  return maps.kind === "subid" ? maps : undefined;
}

/** `box ARGS...` as the root of a user namespace with the user's subordinate ranges. */
function planFor(maps: UserNamespaceMaps, args: string[], env: string[] = []): Uint8Array {
  const argv = [...self(), ...args];
  const ops: ShimOp[] = [
    ...argv.map((value): ShimOp => ({ op: "arg", value })),
    { op: "env", value: "PATH=/usr/bin:/bin" },
    ...env.map((value): ShimOp => ({ op: "env", value })),
    { op: "exec", file: argv[0] as string },
  ];
  return encodePlan({
    header: {
      cloneFlags: CLONE_NEWUSER,
      cgroupns: false,
      newuidmap: helperArgs(maps.uidRanges),
      newgidmap: helperArgs(maps.gidRanges),
      stdinNull: false,
      ownProcessGroup: false,
      init: false,
    },
    ops,
  });
}

/** The first line box printed, without its "box: " prefix. */
function reasonOf(stderr: string, code: number): string {
  return (stderr.trim().split("\n")[0] || `box _chown exited with status ${code}`).replace(/^box: /, "");
}

/**
 * Apply `entries` under `root` from inside a user namespace with the user's subordinate ranges.
 * `label` names the layer in errors. Throws BoxError when the helper fails; nothing is undone,
 * so the caller discards `root` (it is a staging directory, never yet in the store).
 */
export async function restoreOwners(root: string, all: readonly OwnerEntry[], label: string): Promise<OwnersOutcome> {
  const maps = subidMaps();
  const nonRoot = (e: OwnerEntry) => e.uid !== 0 || e.gid !== 0;
  if (maps === undefined) return { restored: 0, lost: all.filter(nonRoot).length };
  const fits = (e: OwnerEntry) => isMapped(maps.uidRanges, e.uid) && isMapped(maps.gidRanges, e.gid);
  const entries = all.filter(fits);
  const lost = all.length - entries.length;
  if (entries.length === 0) return { restored: 0, lost };
  const what = `${label}: set the owners of ${entries.length} ${entries.length === 1 ? "file" : "files"} in a user namespace`;
  mark(`${label}: owners: user namespace starts (${entries.length} files)`);
  const shim = await startShim({ stdin: encodeOwnerList(entries), stdout: "ignore", stderr: "pipe" });
  shim.sendPlan(planFor(maps, ["_chown", root]));
  const stderr = shim.stderr === undefined ? Promise.resolve("") : new Response(shim.stderr).text();
  let code: number;
  try {
    code = await shim.exited;
  } catch (err) {
    throw new BoxError("E_SYSCALL", `${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err, hint: RANGE_HINT });
  }
  if (code !== 0) throw new BoxError("E_SYSCALL", `${what}: ${reasonOf(await stderr, code)}`);
  mark(`${label}: owners: given`);
  return { restored: entries.length, lost };
}

/**
 * The one-time note for a rootless user whose image had files owned by ids their map lacks (no
 * subordinate ids, or beyond the range): in their containers those files are root's.
 * Remembered by a file in the user's state root, created exclusively; undefined once said.
 */
export function lostOwnersNotice(paths: BoxPaths, files: number): string | undefined {
  const range = subidMaps()?.uidRanges.at(-1);
  try {
    mkdirSync(paths.state, { recursive: true, mode: 0o700 });
    writeFileSync(join(paths.state, "rootless-owners-noted"), "", { flag: "wx" });
  } catch {
    // Said before (EEXIST), or there is nowhere to remember it: saying it on every pull is worse.
    return undefined;
  }
  const them = `${files} ${files === 1 ? "file of this image belongs to a user" : "files of this image belong to users"} other than root`;
  if (range !== undefined) {
    return `${them} with ids beyond your subordinate range (${range.count} ids), so box gave them to you (root in the container). To keep those owners, give your user a larger range in /etc/subuid and /etc/subgid, then remove the image and pull it again. This is said once.`;
  }
  return `${them}, but without a subordinate id range box can only give them to you (root in the container). To keep image owners, ${RANGE_ADVICE}. This is said once.`;
}

/**
 * Remove the tree at `path` from inside the user namespace, for a rootless user whose plain
 * removal was refused (directories owned by subordinate ids). Synchronous, as the store's
 * removals are. False when the user has no subordinate ids (then nothing of theirs can be owned
 * by one); throws when the helper fails.
 */
export function removeInUserNamespace(path: string): boolean {
  const maps = subidMaps();
  if (maps === undefined) return false;
  const r = runShimSync(planFor(maps, ["_chown", "--remove", path]));
  if (r.failure !== undefined) throw new BoxError("E_SYSCALL", `remove \`${path}\` in a user namespace: ${r.failure.message}`, { hint: RANGE_HINT });
  if (r.code !== 0) throw new BoxError("E_SYSCALL", `remove \`${path}\` in a user namespace: ${reasonOf(r.stderr, r.code)}`);
  return true;
}

/**
 * Run `box COMMAND ARGS...` again as the root of the user's user namespace, for a rootless user
 * with subordinate ids: there, a file a container user made private (0600 of uid 999, i.e. host
 * uid 100998) is readable, as it is to podman after `podman unshare`. stdin, stdout and stderr
 * are the caller's, so output streams as it would have; what the inner box creates on the host
 * belongs to the user (the namespace's root is the user). The roots are passed explicitly and
 * IN_USERNS_ENV keeps the inner box rootless for the store and stops it from doing this again.
 * Resolves with the inner box's exit status; undefined when there is nothing to gain (root, no
 * subordinate ids, or already inside), and the caller goes on itself.
 */
export async function rerunInUserNamespace(paths: BoxPaths, command: string, args: readonly string[], debug: boolean): Promise<number | undefined> {
  if (!paths.rootless || paths.inUserNamespace) return undefined;
  const maps = subidMaps();
  if (maps === undefined) return undefined;
  const argv = ["--root", paths.storage, "--runroot", paths.state, ...(debug ? ["--log-level", "debug"] : []), command, ...args];
  const env = [`${IN_USERNS_ENV}=1`, `BOX_CONFIG=${paths.config}`];
  for (const name of ["HOME", "TMPDIR", "BOX_TRACE", "BOX_DEBUG"]) {
    const v = process.env[name];
    if (v !== undefined) env.push(`${name}=${v}`);
  }
  mark(`${command}: again in the user namespace`);
  const shim = await startShim({ stdin: "inherit", stdout: "inherit", stderr: "inherit" });
  shim.sendPlan(planFor(maps, argv, env));
  try {
    return await shim.exited;
  } catch (err) {
    throw new BoxError("E_SYSCALL", `${command}: enter your user namespace to read files of other container users: ${err instanceof Error ? err.message : String(err)}`, { cause: err, hint: RANGE_HINT });
  }
}

/** A refusal that the user's user namespace may lift: box's own E_PERMISSION, or EACCES/EPERM. */
export function isPermissionRefusal(e: unknown): boolean {
  if (e instanceof BoxError) return e.code === "E_PERMISSION";
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === "EACCES" || code === "EPERM";
}

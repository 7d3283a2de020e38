/**
 * Reading a stage's file system without mounting it: a path looked up through the unpacked
 * layers topmost first (overlay rules: a whiteout hides, an opaque directory stops the search),
 * a whole stage flattened into a directory when COPY --from or RUN --mount=from= needs one,
 * and user names resolved against the stage's own /etc/passwd and /etc/group.
 */
import { lstatSync, readFileSync, type Stats } from "node:fs";
import { join } from "node:path";
import { lgetxattr } from "../../ffi/fsnodes.ts";
import { getgid, getuid } from "../../ffi/syscalls.ts";
import { BoxError } from "../errors.ts";
import { applyLayer } from "../image/layer.ts";
import { blobPath } from "../image/store/blobs.ts";
import type { StoreLayout } from "../image/store/layout.ts";
import { rootlessMaps } from "../runtime/idmap.ts";
import { parseGroup, parsePasswd } from "../runtime/user.ts";
import type { LayerRef, OwnerMap } from "./layer-writer.ts";

function statOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

function opaque(p: string): boolean {
  for (const ns of ["trusted", "user"]) {
    try {
      if (lgetxattr(p, `${ns}.overlay.opaque`) !== null) return true;
    } catch {
      // no xattrs here
    }
  }
  return false;
}

/** The file `rel` resolves to in layers `lowers` (topmost first), or undefined if absent. */
export function lookupPath(lowers: string[], rel: string): { path: string; stat: Stats } | undefined {
  const parts = rel.split("/").filter((p) => p !== "" && p !== ".");
  for (const lower of lowers) {
    let hidden = false;
    let stop = false;
    let cur = lower;
    for (let i = 0; i < parts.length; i++) {
      cur = join(cur, parts[i] as string);
      const st = statOrUndefined(cur);
      if (st === undefined) break;
      if (st.isCharacterDevice() && st.rdev === 0) {
        hidden = true;
        break;
      }
      if (i === parts.length - 1) return { path: cur, stat: st };
      if (!st.isDirectory()) break;
      if (opaque(cur)) stop = true;
    }
    if (parts.length === 0) return { path: lower, stat: lstatSync(lower) };
    if (hidden || stop) return undefined;
  }
  return undefined;
}

/**
 * Unpack every layer of a stage, bottom first, into `dest` (flat mode: whiteouts delete).
 * Rootless, files stay the user's: box reads this tree itself (COPY --from gives its own owners),
 * and a file given to another id could be private to it.
 */
export async function flattenLayers(layout: StoreLayout, layers: LayerRef[], dest: string, rootless: boolean): Promise<void> {
  for (const l of layers) {
    await applyLayer(Bun.file(blobPath(layout, l.digest)).stream(), dest, { mode: "flat", rootless, digest: l.digest, owners: "keep" });
  }
}

function readIn(lowers: string[], rel: string): string[] {
  const found = lookupPath(lowers, rel);
  if (found === undefined || !found.stat.isFile()) return [];
  return readFileSync(found.path, "utf8").split("\n");
}

/**
 * `user[:group]` as numbers, looked up in the stage's own files. The runtime looks names up in
 * the topmost layer only, so a build passes numbers (a RUN after `USER app` whose passwd entry
 * is two layers down must still find it).
 */
export function numericUser(lowers: string[], spec: string, what: string): { uid: number; gid: number } {
  const [userPart = "", groupPart] = spec.split(":", 2);
  let uid = 0;
  let gid = 0;
  if (userPart !== "") {
    if (/^\d+$/.test(userPart)) {
      uid = Number(userPart);
      gid = parsePasswd(readIn(lowers, "etc/passwd")).find((p) => p.uid === uid)?.gid ?? 0;
    } else {
      const e = parsePasswd(readIn(lowers, "etc/passwd")).find((p) => p.name === userPart);
      if (!e) throw new BoxError("E_INVALID_INPUT", `${what}: unable to find user ${userPart}: no matching entries in passwd file`);
      uid = e.uid;
      gid = e.gid;
    }
  }
  if (groupPart !== undefined && groupPart !== "") {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const g = parseGroup(readIn(lowers, "etc/group")).find((x) => x.name === groupPart);
      if (!g) throw new BoxError("E_INVALID_INPUT", `${what}: unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  }
  return { uid, gid };
}

/**
 * How ids on disk relate to ids in the image. As root they are the same; rootless, the files a
 * container wrote are owned by the host ids its user namespace maps to.
 */
export function ownerMaps(rootless: boolean): { toImage: OwnerMap; toHost: (uid: number, gid: number) => [number, number] | undefined } {
  if (!rootless) return { toImage: { map: (u, g) => [u, g] }, toHost: (u, g) => [u, g] };
  const maps = rootlessMaps(getuid(), getgid());
  const conv = (ranges: { inside: number; outside: number; count: number }[], id: number, from: "inside" | "outside", to: "inside" | "outside") => {
    for (const r of ranges) if (id >= r[from] && id < r[from] + r.count) return r[to] + (id - r[from]);
    return undefined;
  };
  return {
    toImage: { map: (u, g) => [conv(maps.uidRanges, u, "outside", "inside") ?? 65534, conv(maps.gidRanges, g, "outside", "inside") ?? 65534] },
    toHost: (u, g) => {
      const hu = conv(maps.uidRanges, u, "inside", "outside");
      const hg = conv(maps.gidRanges, g, "inside", "outside");
      return hu === undefined || hg === undefined ? undefined : [hu, hg];
    },
  };
}

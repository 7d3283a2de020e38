/**
 * `-u user[:group]` resolved against the container's own /etc/passwd and /etc/group, as docker
 * does: names are looked up in the image, numbers are taken as they are.
 */
import { readFileSync } from "node:fs";
import { BoxError } from "../errors.ts";
import { resolveInRoot } from "./rootpath.ts";

export interface ProcessUser {
  uid: number;
  gid: number;
  /** Supplementary groups: those of /etc/group that list the user. */
  groups: number[];
  home: string;
}

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

function readLines(root: string, file: string): string[] {
  try {
    return readFileSync(resolveInRoot(root, file), "utf8").split("\n");
  } catch {
    return [];
  }
}

export function parsePasswd(lines: string[]): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of lines) {
    if (!line || line.startsWith("#")) continue;
    const f = line.split(":");
    if (f.length < 7) continue;
    out.push({ name: f[0] as string, uid: Number(f[2]), gid: Number(f[3]), home: f[5] || "/" });
  }
  return out;
}

export function parseGroup(lines: string[]): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of lines) {
    if (!line || line.startsWith("#")) continue;
    const f = line.split(":");
    if (f.length < 4) continue;
    out.push({ name: f[0] as string, gid: Number(f[2]), members: (f[3] as string).split(",").filter(Boolean) });
  }
  return out;
}

const NUMERIC = /^\d+$/;

export function resolveUser(root: string, spec: string | undefined): ProcessUser {
  const passwd = parsePasswd(readLines(root, "/etc/passwd"));
  const groups = parseGroup(readLines(root, "/etc/group"));
  const [userPart = "", groupPart] = (spec ?? "").split(":", 2);
  let entry: PasswdEntry | undefined;
  let uid: number;
  if (userPart === "") {
    uid = 0;
    entry = passwd.find((p) => p.uid === 0);
  } else if (NUMERIC.test(userPart)) {
    uid = Number(userPart);
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) {
      throw new BoxError("E_INVALID_INPUT", `unable to find user ${userPart}: no matching entries in passwd file`, {
        hint: "use a name from the image's /etc/passwd or a numeric uid",
      });
    }
    uid = entry.uid;
  }
  if (uid > 0xfffffffe) throw new BoxError("E_INVALID_INPUT", `uid ${uid} is out of range`);
  let gid = entry?.gid ?? 0;
  if (groupPart !== undefined && groupPart !== "") {
    if (NUMERIC.test(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw new BoxError("E_INVALID_INPUT", `unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  }
  const supplementary = new Set<number>([gid]);
  if (entry && groupPart === undefined) {
    for (const g of groups) if (g.members.includes(entry.name)) supplementary.add(g.gid);
  }
  return { uid, gid, groups: [...supplementary], home: entry?.home ?? "/" };
}

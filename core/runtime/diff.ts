/**
 * `box diff`: what a container changed, read from its overlay upper directory. A whiteout (a 0/0
 * character device, or a file marked with the overlay.whiteout xattr) is a deletion; an opaque
 * directory replaced what was below; anything else is added, or changed when it also exists
 * in an image layer.
 */
import { existsSync, lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { ContainerRecord } from "../state/containers.ts";

export interface Change {
  kind: "A" | "C" | "D";
  path: string;
}

function inLowers(lowers: string[], rel: string): boolean {
  return lowers.some((l) => {
    try {
      lstatSync(join(l, rel));
      return true;
    } catch {
      return false;
    }
  });
}

function isWhiteout(path: string): boolean {
  const st = lstatSync(path);
  return st.isCharacterDevice() && st.rdev === 0;
}

export function containerChanges(r: ContainerRecord): Change[] {
  const out: Change[] = [];
  const lowers = r.config.layers;
  const walk = (rel: string) => {
    const dir = join(r.dirs.upper, rel);
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const childRel = rel === "" ? name : `${rel}/${name}`;
      const abs = join(dir, name);
      if (isWhiteout(abs)) {
        out.push({ kind: "D", path: `/${childRel}` });
        continue;
      }
      out.push({ kind: inLowers(lowers, childRel) ? "C" : "A", path: `/${childRel}` });
      if (lstatSync(abs).isDirectory()) walk(childRel);
    }
  };
  if (existsSync(r.dirs.upper)) walk("");
  return out;
}

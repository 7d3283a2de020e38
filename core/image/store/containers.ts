/**
 * Which images containers use. The container state belongs to the runtime; the store only reads
 * it: every `<state>/containers/<id>/state.json` names the image its container was started from.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import type { ImageIndex } from "./images.ts";
import { findImage } from "./lookup.ts";

const ContainerState = v.looseObject({ id: v.optional(v.string()), image: v.string() });

/** Image ID → ids of the containers that use it. Unreadable state files are skipped, not fatal. */
export function containersByImage(stateRoot: string, index: ImageIndex, search: readonly string[]): Map<string, string[]> {
  const used = new Map<string, string[]>();
  const dir = join(stateRoot, "containers");
  if (!existsSync(dir)) return used;
  for (const id of readdirSync(dir)) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(join(dir, id, "state.json"), "utf8"));
    } catch {
      continue;
    }
    const parsed = v.safeParse(ContainerState, raw);
    if (!parsed.success) continue;
    let image;
    try {
      image = findImage(index, parsed.output.image, search);
    } catch {
      continue;
    }
    if (image === undefined) continue;
    used.set(image.id, [...(used.get(image.id) ?? []), id]);
  }
  return used;
}

import type { RemoveEvent } from "../../core/image/remove.ts";

/** docker's "Untagged: alpine:latest" / "Deleted: sha256:…" lines. */
export function renderRemoved(events: RemoveEvent[], lower = false): string {
  return events
    .map((e) => (e.type === "untagged" ? `${lower ? "untagged" : "Untagged"}: ${e.name}\n` : `${lower ? "deleted" : "Deleted"}: ${e.id}\n`))
    .join("");
}

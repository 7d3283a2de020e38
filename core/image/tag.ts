/** `box tag SOURCE TARGET`: give a stored image one more name. */
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import { parseReference } from "./reference.ts";
import { noSuchImage, requireImage } from "./local.ts";
import { addName, updateIndex } from "./store/images.ts";
import { storeLayout } from "./store/layout.ts";

export async function tagImage(paths: BoxPaths, source: string, target: string): Promise<void> {
  const ref = parseReference(target);
  if (ref.digest !== undefined) {
    throw new BoxError("E_INVALID_INPUT", `invalid tag "${target}": a tag cannot contain a digest`, { hint: "write the target as NAME[:TAG]" });
  }
  const { id } = await requireImage(paths, source);
  updateIndex(storeLayout(paths.storage), (index) => {
    // Looked up again under the lock: a concurrent rmi may have deleted it meanwhile.
    if (!index.images.some((i) => i.id === id)) throw noSuchImage(source);
    addName(index, id, ref.toString());
  });
}

/** `box rename`: move the name claim to the new name, then record it in the configuration. */
import { symlinkSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import { saveConfig, type ContainerRecord } from "../state/containers.ts";
import { namesDir } from "./container-dirs.ts";
import { isValidName } from "./names.ts";

export function renameContainer(paths: BoxPaths, r: ContainerRecord, name: string): void {
  if (!isValidName(name)) {
    throw new BoxError("E_INVALID_INPUT", `invalid container name \`${name}\``, { hint: "names match [a-zA-Z0-9][a-zA-Z0-9_.-]*" });
  }
  if (name === r.config.name) throw new BoxError("E_INVALID_INPUT", `renaming a container with the same name as its current name`);
  const dir = namesDir(paths);
  // Claim the new name first (atomic), so a concurrent `run --name` cannot take it meanwhile.
  const tmp = join(dir, `.${name}.${process.pid}`);
  symlinkSync(r.config.id, tmp);
  try {
    symlinkSync(r.config.id, join(dir, name));
  } catch (e) {
    unlinkSync(tmp);
    if ((e as NodeJS.ErrnoException).code === "EEXIST") {
      throw new BoxError("E_EXISTS", `the container name "${name}" is already in use`, { hint: "remove that container or choose another name" });
    }
    throw e;
  }
  unlinkSync(tmp);
  saveConfig(r.dirs, { ...r.config, name });
  try {
    unlinkSync(join(dir, r.config.name));
  } catch {
    // the old name was already gone
  }
}

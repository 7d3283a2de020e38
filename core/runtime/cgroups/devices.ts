/** Block devices named by path, as the throttle files want them: `major:minor`. */
import { statSync } from "node:fs";
import { BoxError } from "../../errors.ts";

/** Linux's dev_t split (glibc's gnu_dev_major/minor): 12 bits of major and 20 of minor, interleaved. */
export function deviceNumber(path: string): string {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new BoxError("E_INVALID_INPUT", `stat \`${path}\`: ${(e as NodeJS.ErrnoException).code ?? e}`, { hint: "give the path of a block device, e.g. /dev/sda" });
  }
  if (!st.isBlockDevice()) {
    throw new BoxError("E_INVALID_INPUT", `\`${path}\` is not a block device`, { hint: "give the path of a block device, e.g. /dev/sda" });
  }
  const dev = BigInt(st.rdev);
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

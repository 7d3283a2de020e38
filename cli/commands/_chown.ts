/**
 * Hidden: run by box itself inside a user namespace that maps the user's subordinate ids
 * (core/image/userns-chown.ts), for what a plain user may not do to an unpacked layer.
 *   box _chown ROOT < list      give the listed files under ROOT their owners (JSON lines)
 *   box _chown --remove PATH    remove the tree at PATH
 */
import { readFileSync } from "node:fs";
import { BoxError } from "../../core/errors.ts";
import { applyOwners, parseOwnerList, removeOwnedTree } from "../../core/image/owner-list.ts";
import type { Command } from "./index.ts";

const USAGE = "usage: box _chown ROOT < list, or box _chown --remove PATH";

const command: Command = {
  summary: "(internal) set the owners of, or remove, an unpacked layer inside a user namespace",
  async run(argv) {
    const [first, second, ...extra] = argv;
    if (first === undefined || extra.length > 0) throw new BoxError("E_INVALID_INPUT", USAGE);
    if (first === "--remove") {
      if (second === undefined) throw new BoxError("E_INVALID_INPUT", USAGE);
      removeOwnedTree(second);
      return 0;
    }
    if (second !== undefined) throw new BoxError("E_INVALID_INPUT", USAGE);
    applyOwners(first, parseOwnerList(readFileSync(0, "utf8")));
    return 0;
  },
};
export default command;

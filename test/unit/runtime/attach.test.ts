/** The attach records of a detached container's plan, in the order ffi/shim/attach.c reads them. */
import { expect, test } from "bun:test";
import { encodePlan } from "../../../ffi/shim-protocol.ts";

test("a detached plan names the attach socket, and its stdin when interactive", () => {
  const plan = encodePlan({
    header: {
      cloneFlags: 0, cgroupns: false, stdinNull: false, ownProcessGroup: false, init: false,
      detach: { log: "/l", exitFile: "/x", exitCommand: [], attach: { socket: "/s/attach", stdin: true } },
    },
    ops: [],
  });
  expect(new TextDecoder().decode(plan).split("\0")).toEqual([
    "clone", "0", "detach", "log", "/l", "exitfile", "/x", "attach", "/s/attach", "attach-stdin", "ops", "",
  ]);
});

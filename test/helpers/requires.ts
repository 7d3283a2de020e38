/** What this machine can do, for test.skipIf with a stated reason (runc's `requires`). */
import { existsSync } from "node:fs";
import { testUser } from "./box.ts";

export const can = {
  root: process.getuid?.() === 0,
  rootlessUser: testUser !== undefined,
  python: existsSync("/usr/bin/python3"),
  crun: existsSync("/usr/bin/crun"),
};

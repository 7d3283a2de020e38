/**
 * box's entry point: global flags, then one command, loaded lazily so that `box ps` never pays for
 * the builder or the registry client. Every error is caught here and rendered as one line; no
 * stack reaches the user unless --log-level debug asks for it.
 */
import { exitCodeOf, renderError } from "./render/error.ts";
import { COMMANDS, renderTopHelp } from "./commands/index.ts";
import type { GlobalOptions } from "./context.ts";
import { BoxError } from "../core/errors.ts";
import { mark, traceReport } from "../core/trace.ts";
import { primeCgroupMigration } from "../core/runtime/cgroups/prime.ts";

import { VERSION } from "./version.ts";
import { err, out } from "./render/output.ts";

/** Commands that move a process into a container's cgroups right after they start. */
const STARTS_CONTAINERS = new Set(["run", "start", "restart", "exec"]);

function parseGlobals(argv: string[]): { globals: GlobalOptions; rest: string[] } {
  const globals: GlobalOptions = { debug: process.env.BOX_DEBUG === "1" };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    const take = (name: string): string => {
      const eq = a.indexOf("=");
      if (eq >= 0) return a.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new BoxError("E_INVALID_INPUT", `flag needs an argument: ${name}`);
      return v;
    };
    if (a === "--root" || a.startsWith("--root=")) globals.root = take("--root");
    else if (a === "--runroot" || a.startsWith("--runroot=")) globals.runroot = take("--runroot");
    else if (a === "--log-level" || a.startsWith("--log-level=")) globals.debug = take("--log-level") === "debug";
    else if (a === "--debug" || a === "-D") globals.debug = true;
    else break;
  }
  return { globals, rest: argv.slice(i) };
}

async function main(argv: string[]): Promise<number> {
  const { globals, rest } = parseGlobals(argv);
  const [name, ...args] = rest;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    out(renderTopHelp());
    return 0;
  }
  if (name === "--version" || name === "-v") {
    out(`box version ${VERSION}\n`);
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    const known = Object.keys(COMMANDS).filter((c) => !c.startsWith("_"));
    const near = known.find((c) => c.startsWith(name.slice(0, 2)));
    throw new BoxError("E_INVALID_INPUT", `unknown command "${name}" for "box"`, {
      hint: near ? `did you mean "box ${near}"? See 'box --help'` : "see 'box --help'",
    });
  }
  // Before the command's modules load: the kernel's wait for a cgroup migration overlaps them.
  if (STARTS_CONTAINERS.has(name) && !rest.includes("--cgroups=disabled")) primeCgroupMigration();
  const command = await load();
  mark(`command loaded: ${name}`);
  return await command.run(args, globals);
}

// Every error ends here as one line, with the exit code docker's convention gives it.
const debug = process.env.BOX_DEBUG === "1" || process.argv.includes("--log-level=debug") || process.argv.includes("--debug");
function exit(code: number): never {
  const trace = traceReport();
  if (trace) err(`${trace}\n`);
  process.exit(code);
}

mark("main");
main(process.argv.slice(2)).then(
  (code) => exit(code),
  (e: unknown) => {
    err(`${renderError(e, debug)}\n`);
    exit(exitCodeOf(e));
  },
);

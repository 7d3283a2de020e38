/** `box inspect [--format TEMPLATE] CONTAINER...` */
import { inspectContainer } from "../../core/runtime/inspect.ts";
import { findContainer } from "../../core/state/containers.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import { err, out } from "../render/output.ts";
import { requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = {
  format: { type: "string", short: "f", description: "Format the output using a Go template, e.g. {{.State.Status}}" },
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box inspect [OPTIONS] CONTAINER [CONTAINER...]";

/** `{{.State.Pid}}`-style paths into the inspect object. */
function renderPath(template: string, obj: Record<string, unknown>): string {
  return template.replace(/\{\{\s*(json\s+)?\.([A-Za-z0-9_.]*)\s*\}\}/g, (_m, json: string | undefined, path: string) => {
    let v: unknown = obj;
    for (const part of path.split(".").filter(Boolean)) v = (v as Record<string, unknown> | undefined)?.[part];
    if (json || (typeof v === "object" && v !== null)) return JSON.stringify(v);
    return String(v ?? "<no value>");
  });
}

const command: Command = {
  summary: "Display detailed information on containers",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("inspect", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, "Display detailed information on containers", FLAGS));
      return 0;
    }
    requireArgs("inspect", USAGE, positionals, 1);
    const paths = pathsFor(globals);
    const results: Record<string, unknown>[] = [];
    let failed = false;
    for (const ref of positionals) {
      try {
        results.push(inspectContainer(findContainer(paths, ref)));
      } catch (e) {
        failed = true;
        err(`box: ${(e as Error).message}\n`);
      }
    }
    const format = flags.format as string | undefined;
    if (format) out(results.map((r) => `${renderPath(format, r)}\n`).join(""));
    else out(`${JSON.stringify(results, null, 4)}\n`);
    return failed ? 1 : 0;
  },
};
export default command;

/** `box update [OPTIONS] CONTAINER...`: change the resource limits of containers. */
import { BoxError } from "../../core/errors.ts";
import { updateResources } from "../../core/runtime/resources-update.ts";
import { parseResources, type ResourceFlags } from "../../core/runtime/resources.ts";
import { findContainer } from "../../core/state/containers.ts";
import { parseFlags, renderHelp, type FlagTable, type ParsedFlags } from "../args.ts";
import { pathsFor } from "../context.ts";
import { err, out } from "../render/output.ts";
import { forEach, requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

/** docker's resource flags, shared by run, create and update. */
export const RESOURCE_FLAGS: FlagTable = {
  memory: { type: "string", short: "m", description: "Memory limit (e.g. 512m, 1g)", valueHint: "bytes" },
  "memory-swap": { type: "string", description: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap", valueHint: "bytes" },
  "memory-reservation": { type: "string", description: "Memory soft limit", valueHint: "bytes" },
  cpus: { type: "string", description: "Number of CPUs (e.g. 0.5)", valueHint: "decimal" },
  "cpu-shares": { type: "string", short: "c", description: "CPU shares (relative weight)", valueHint: "int" },
  "cpuset-cpus": { type: "string", description: "CPUs in which to allow execution (0-3, 0,1)" },
  "pids-limit": { type: "string", description: "Tune container pids limit (set -1 for unlimited)", valueHint: "int" },
  "blkio-weight": { type: "string", description: "Block IO (relative weight), between 10 and 1000, or 0 to disable", valueHint: "uint16" },
  "device-read-bps": { type: "list", description: "Limit read rate (bytes per second) from a device (PATH:RATE)" },
  "device-write-bps": { type: "list", description: "Limit write rate (bytes per second) to a device (PATH:RATE)" },
};

/** The resource flags of a parsed command line, as core's ResourceFlags. */
export function resourceFlags(flags: ParsedFlags["flags"]): ResourceFlags {
  const s = (name: string) => flags[name] as string | undefined;
  const out: ResourceFlags = {};
  const map: [keyof ResourceFlags, string][] = [
    ["memory", "memory"], ["memorySwap", "memory-swap"], ["memoryReservation", "memory-reservation"], ["cpus", "cpus"],
    ["cpuShares", "cpu-shares"], ["cpusetCpus", "cpuset-cpus"], ["pidsLimit", "pids-limit"], ["blkioWeight", "blkio-weight"],
  ];
  for (const [key, name] of map) {
    const v = s(name);
    if (v !== undefined) (out as Record<string, string>)[key] = v;
  }
  const reads = flags["device-read-bps"] as string[] | undefined;
  const writes = flags["device-write-bps"] as string[] | undefined;
  if (reads?.length) out.deviceReadBps = reads;
  if (writes?.length) out.deviceWriteBps = writes;
  return out;
}

const FLAGS: FlagTable = { ...RESOURCE_FLAGS, help: { type: "boolean", description: "Print usage" } };
const USAGE = "box update [OPTIONS] CONTAINER [CONTAINER...]";

const command: Command = {
  summary: "Update configuration of one or more containers",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("update", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, "Update the resource limits of one or more containers", FLAGS));
      return 0;
    }
    requireArgs("update", USAGE, positionals, 1);
    const changes = parseResources(resourceFlags(flags));
    if (!changes) throw new BoxError("E_INVALID_INPUT", "you must provide one or more flags when using this command", { hint: `usage: ${USAGE}` });
    const paths = pathsFor(globals);
    return forEach(positionals, async (ref) => {
      updateResources(paths, findContainer(paths, ref), changes);
      out(`${ref}\n`);
    }, (line) => err(`box: ${line}\n`));
  },
};
export default command;

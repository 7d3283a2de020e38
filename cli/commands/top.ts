/** `box top CONTAINER`: the container's processes as `ps -ef` shows them, with the host's pids. */
import { BoxError } from "../../core/errors.ts";
import { isRunning } from "../../core/runtime/lifecycle.ts";
import { containerProcesses, type ProcessInfo } from "../../core/runtime/stats.ts";
import { findContainer } from "../../core/state/containers.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import { out } from "../render/output.ts";
import { renderTable } from "../render/table.ts";
import { requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = { help: { type: "boolean", description: "Print usage" } };
const USAGE = "box top CONTAINER";
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const two = (n: number) => String(n).padStart(2, "0");

/** ps's STIME: the clock time for a process started in the last day, else month and day. */
function stime(ms: number, now = Date.now()): string {
  const d = new Date(ms);
  return now - ms < 86400000 ? `${two(d.getHours())}:${two(d.getMinutes())}` : `${MONTHS[d.getMonth()]}${two(d.getDate())}`;
}

/** ps's TIME: cumulative CPU time as [DD-]HH:MM:SS. */
function cpuTime(seconds: number): string {
  const s = Math.floor(seconds);
  const days = Math.floor(s / 86400);
  const hms = `${two(Math.floor((s % 86400) / 3600))}:${two(Math.floor((s % 3600) / 60))}:${two(s % 60)}`;
  return days > 0 ? `${days}-${hms}` : hms;
}

function cells(p: ProcessInfo): string[] {
  return [p.user, String(p.pid), String(p.ppid), String(p.cpuPercent), stime(p.startedAt), p.tty, cpuTime(p.cpuSeconds), p.command];
}

const command: Command = {
  summary: "Display the running processes of a container",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("top", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, "Display the running processes of a container (host pids, as ps -ef shows them)", FLAGS));
      return 0;
    }
    requireArgs("top", USAGE, positionals, 1, 1);
    const r = findContainer(pathsFor(globals), positionals[0] as string);
    if (!isRunning(r) || r.state.pid === undefined) {
      throw new BoxError("E_BAD_STATE", `container ${r.config.name} is not running`, { hint: "start it first with box start" });
    }
    const procs = containerProcesses(r.config.id, r.state.pid);
    out(renderTable([["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], ...procs.map(cells)]));
    return 0;
  },
};
export default command;

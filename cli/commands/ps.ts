/** `box ps [OPTIONS]` */
import { BoxError } from "../../core/errors.ts";
import { listContainers, type ContainerRecord } from "../../core/state/containers.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import { out } from "../render/output.ts";
import { renderTable } from "../render/table.ts";
import { renderFormat } from "../render/template.ts";
import { ago } from "../render/time.ts";
import { statusText } from "./_container.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = {
  all: { type: "boolean", short: "a", description: "Show all containers (default shows just running)" },
  filter: { type: "list", short: "f", description: "Filter output based on conditions provided (status, name, id, ancestor)" },
  format: { type: "string", description: "Format output: table, json, or a Go template like {{.Names}}" },
  last: { type: "string", short: "n", description: "Show n last created containers (includes all states)" },
  latest: { type: "boolean", short: "l", description: "Show the latest created container (includes all states)" },
  "no-trunc": { type: "boolean", description: "Don't truncate output" },
  quiet: { type: "boolean", short: "q", description: "Only display container IDs" },
  help: { type: "boolean", description: "Print usage" },
};

const HEADERS: Record<string, string> = {
  ID: "CONTAINER ID", Image: "IMAGE", Command: "COMMAND", CreatedAt: "CREATED AT", RunningFor: "CREATED",
  Status: "STATUS", State: "STATE", Ports: "PORTS", Names: "NAMES", Pid: "PID", ExitCode: "EXIT CODE",
};

function matches(r: ContainerRecord, filter: string): boolean {
  const eq = filter.indexOf("=");
  if (eq < 0) throw new BoxError("E_INVALID_INPUT", `bad format of filter \`${filter}\` (expected name=value)`);
  const key = filter.slice(0, eq);
  const value = filter.slice(eq + 1);
  switch (key) {
    case "status":
      return r.state.status === value;
    case "name":
      return new RegExp(value).test(r.config.name);
    case "id":
      return r.config.id.startsWith(value);
    case "ancestor":
      return r.config.image === value || r.config.image.split(":")[0] === value;
    case "exited":
      return r.state.status === "exited" && String(r.state.exitCode) === value;
    default:
      throw new BoxError("E_INVALID_INPUT", `invalid filter '${key}'`, { hint: "supported filters: status, name, id, ancestor, exited" });
  }
}

function command(r: ContainerRecord): string {
  const o = r.config.options;
  const ep = o.entrypoint !== undefined ? (o.entrypoint ? [o.entrypoint] : []) : r.config.imageConfig.entrypoint;
  const cmd = o.command.length > 0 ? o.command : o.entrypoint !== undefined ? [] : r.config.imageConfig.cmd;
  return [...ep, ...cmd].join(" ");
}

const commandImpl: Command = {
  summary: "List containers",
  async run(argv, globals) {
    const { flags } = parseFlags("ps", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp("box ps [OPTIONS]", "List containers", FLAGS));
      return 0;
    }
    let list = listContainers(pathsFor(globals));
    const last = flags.latest ? 1 : flags.last !== undefined ? Number(flags.last) : undefined;
    if (last !== undefined) list = list.slice(0, last);
    else if (!flags.all) list = list.filter((r) => r.state.status === "running" || r.state.status === "paused");
    for (const f of flags.filter as string[]) list = list.filter((r) => matches(r, f));
    const trunc = !flags["no-trunc"];
    if (flags.quiet) {
      out(list.map((r) => `${trunc ? r.config.id.slice(0, 12) : r.config.id}\n`).join(""));
      return 0;
    }
    const now = Date.now();
    const rows = list.map((r) => {
      const cmd = command(r);
      return {
        ID: trunc ? r.config.id.slice(0, 12) : r.config.id,
        Image: r.config.image,
        Command: trunc && cmd.length > 20 ? `${cmd.slice(0, 19)}…` : cmd,
        CreatedAt: r.config.created,
        RunningFor: ago(r.config.created, now),
        Status: statusText(r, now),
        State: r.state.status,
        Ports: "",
        Names: r.config.name,
        Pid: r.state.pid ?? 0,
        ExitCode: r.state.exitCode ?? 0,
      };
    });
    const format = flags.format as string | undefined;
    if (format && format !== "table") {
      out(renderFormat(format, rows, HEADERS));
      return 0;
    }
    out(renderTable([
      ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"],
      ...rows.map((r) => [r.ID, r.Image, `"${r.Command}"`, r.RunningFor, r.Status, "", r.Names]),
    ]));
    return 0;
  },
};
export default commandImpl;

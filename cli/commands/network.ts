/** `box network create|ls|inspect|rm|connect|disconnect|prune`: docker's network verbs. */
import { BoxError } from "../../core/errors.ts";
import {
  connectContainer, createNetworkChecked, disconnectContainer, findNetwork, inspectNetwork, listNetworks, pruneNetworks, removeNetwork,
} from "../../core/network/manage.ts";
import { runProxy } from "../../core/network/proxy-server.ts";
import { findContainer } from "../../core/state/containers.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor, type GlobalOptions } from "../context.ts";
import { err, out } from "../render/output.ts";
import { renderTable } from "../render/table.ts";
import { forEach, requireArgs } from "./_container.ts";
import type { Command } from "./index.ts";

const HELP: FlagTable = { help: { type: "boolean", description: "Print usage" } };

interface Sub {
  summary: string;
  usage: string;
  flags: FlagTable;
  run(flags: Record<string, unknown>, args: string[], g: GlobalOptions): Promise<number>;
}

const SUBS: Record<string, Sub> = {
  create: {
    summary: "Create a network",
    usage: "box network create [OPTIONS] NETWORK",
    flags: {
      subnet: { type: "list", description: "Subnet in CIDR format (repeat for IPv4 and IPv6)" },
      gateway: { type: "list", description: "Gateway for a subnet" },
      ipv6: { type: "boolean", description: "Enable IPv6 networking" },
      "fixed-cidr-v6": { type: "string", description: "IPv6 subnet the container addresses come from" },
      internal: { type: "boolean", description: "Restrict external access to the network" },
      driver: { type: "string", short: "d", description: "Driver to manage the network", default: "bridge" },
      ...HELP,
    },
    async run(f, args, g) {
      requireArgs("network create", this.usage, args, 1, 1);
      if (f.driver !== "bridge") throw new BoxError("E_UNSUPPORTED", `network driver ${String(f.driver)} is not supported`, { hint: "box networks use --driver bridge" });
      const net = createNetworkChecked(pathsFor(g), {
        name: args[0] as string, subnets: f.subnet as string[], gateways: f.gateway as string[], ipv6: f.ipv6 as boolean || f["fixed-cidr-v6"] !== undefined,
        ...(f["fixed-cidr-v6"] !== undefined ? { fixedCidrV6: f["fixed-cidr-v6"] as string } : {}), internal: f.internal as boolean,
      });
      out(`${net.id}\n`);
      return 0;
    },
  },
  ls: {
    summary: "List networks",
    usage: "box network ls [OPTIONS]",
    flags: { quiet: { type: "boolean", short: "q", description: "Only display network IDs" }, ...HELP },
    async run(f, _args, g) {
      const nets = listNetworks(pathsFor(g));
      if (f.quiet) out(nets.map((n) => `${n.id.slice(0, 12)}\n`).join(""));
      else out(renderTable([["NETWORK ID", "NAME", "DRIVER", "SCOPE"], ...nets.map((n) => [n.id.slice(0, 12), n.name, n.driver, "local"])]));
      return 0;
    },
  },
  inspect: {
    summary: "Display detailed information on one or more networks",
    usage: "box network inspect NETWORK [NETWORK...]",
    flags: HELP,
    async run(_f, args, g) {
      requireArgs("network inspect", this.usage, args, 1);
      const paths = pathsFor(g);
      out(`${JSON.stringify(args.map((a) => inspectNetwork(paths, findNetwork(paths, a))), null, 4)}\n`);
      return 0;
    },
  },
  rm: {
    summary: "Remove one or more networks",
    usage: "box network rm NETWORK [NETWORK...]",
    flags: HELP,
    async run(_f, args, g) {
      requireArgs("network rm", this.usage, args, 1);
      const paths = pathsFor(g);
      return forEach(args, async (a) => {
        removeNetwork(paths, a);
        out(`${a}\n`);
      }, (line) => err(`box: ${line}\n`));
    },
  },
  prune: {
    summary: "Remove all unused networks",
    usage: "box network prune [OPTIONS]",
    flags: { force: { type: "boolean", short: "f", description: "Do not prompt for confirmation" }, ...HELP },
    async run(_f, _args, g) {
      const removed = pruneNetworks(pathsFor(g));
      if (removed.length > 0) out(`Deleted Networks:\n${removed.map((n) => `${n}\n`).join("")}`);
      return 0;
    },
  },
  connect: {
    summary: "Connect a running container to a network",
    usage: "box network connect [OPTIONS] NETWORK CONTAINER",
    flags: { ip: { type: "string", description: "IPv4 address" }, ip6: { type: "string", description: "IPv6 address" }, ...HELP },
    async run(f, args, g) {
      requireArgs("network connect", this.usage, args, 2, 2);
      const paths = pathsFor(g);
      const { notes } = await connectContainer(paths, args[0] as string, findContainer(paths, args[1] as string), {
        ...(f.ip ? { ip: f.ip as string } : {}), ...(f.ip6 ? { ip6: f.ip6 as string } : {}),
      });
      for (const n of notes) err(`box: note: ${n}\n`);
      return 0;
    },
  },
  disconnect: {
    summary: "Disconnect a container from a network",
    usage: "box network disconnect NETWORK CONTAINER",
    flags: { force: { type: "boolean", short: "f", description: "Force the container to disconnect" }, ...HELP },
    async run(_f, args, g) {
      requireArgs("network disconnect", this.usage, args, 2, 2);
      const paths = pathsFor(g);
      await disconnectContainer(paths, args[0] as string, findContainer(paths, args[1] as string));
      return 0;
    },
  },
};

function help(): string {
  const rows = Object.entries(SUBS).map(([n, s]) => `  ${n.padEnd(12)}${s.summary}`);
  return `Usage:  box network COMMAND\n\nManage networks\n\nCommands:\n${rows.join("\n")}\n\nRun 'box network COMMAND --help' for more information on a command.\n`;
}

const command: Command = {
  summary: "Manage networks",
  async run(argv, globals) {
    const [name, ...rest] = argv;
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
      out(help());
      return 0;
    }
    // Hidden: the IPv6 port proxy a container with published ports runs (core/network/proxy.ts).
    if (name === "_proxy") return runProxy(rest[0] ?? "", (line) => out(`${line}\n`));
    const sub = SUBS[name === "list" ? "ls" : name === "remove" ? "rm" : name];
    if (!sub) throw new BoxError("E_INVALID_INPUT", `unknown command "${name}" for "box network"`, { hint: "see 'box network --help'" });
    const { flags, positionals } = parseFlags(`network ${name}`, sub.flags, rest, false);
    if (flags.help) {
      out(renderHelp(sub.usage, sub.summary, sub.flags));
      return 0;
    }
    return sub.run(flags, positionals, globals);
  },
};
export default command;

/** `box stats [OPTIONS] [CONTAINER...]`: docker's live resource usage table, or one sample. */
import { BoxError } from "../../core/errors.ts";
import { requireOwnGroups, StatsReader, type ContainerStats, type StatsTarget } from "../../core/runtime/stats.ts";
import { findContainer, listContainerHeads, type ContainerHead } from "../../core/state/containers.ts";
import { isatty } from "../../core/terminal.ts";
import { mark } from "../../core/trace.ts";
import type { BoxPaths } from "../../core/paths.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import { out } from "../render/output.ts";
import { renderTable } from "../render/table.ts";
import { renderFormat } from "../render/template.ts";
import { formatBytes } from "../render/units.ts";
import type { Command } from "./index.ts";

const FLAGS: FlagTable = {
  all: { type: "boolean", short: "a", description: "Show all containers (default shows just running)" },
  format: { type: "string", description: "Format output: table, json, or a Go template like {{.Name}} {{.CPUPerc}}" },
  interval: { type: "string", description: "Seconds between refreshes (default 1); with --no-stream, sample CPU % over this window instead", valueHint: "seconds" },
  "no-stream": { type: "boolean", description: "Disable streaming stats and only pull the first result" },
  "no-trunc": { type: "boolean", description: "Do not truncate output" },
  help: { type: "boolean", description: "Print usage" },
};
const USAGE = "box stats [OPTIONS] [CONTAINER...]";

/** How CPU % is measured, for --help (the choice is explained in docs/design.md, "box stats"). */
const CPU_NOTE = `CPU % is the share of one CPU used since the previous box stats of the same container,
when that was 0.1 to 60 seconds ago; otherwise it is the average since the container started.
--no-stream therefore answers at once; --no-stream --interval N measures a window of N seconds.
The live view measures each refresh over the interval since the last one.`;

const HEADERS: Record<string, string> = {
  ID: "CONTAINER ID", Container: "CONTAINER", Name: "NAME", CPUPerc: "CPU %", MemUsage: "MEM USAGE / LIMIT",
  MemPerc: "MEM %", NetIO: "NET I/O", BlockIO: "BLOCK I/O", PIDs: "PIDS",
};
/** docker's default columns, drawn without the template engine (its regexes per cell showed in the profile). */
const DEFAULT_COLUMNS = ["ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs"];

/** docker's units.BytesSize: powers of 1024, four significant digits ("1.953MiB"). */
function binaryBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number(v.toPrecision(4))}${units[i]}`;
}

/** The fields of a row, in the order docker's JSON has them (alphabetical). */
function row(s: ContainerStats, trunc: boolean): Record<string, string> {
  const id = trunc ? s.id.slice(0, 12) : s.id;
  return {
    BlockIO: `${formatBytes(s.blkRead)} / ${formatBytes(s.blkWrite)}`,
    CPUPerc: `${s.cpuPercent.toFixed(2)}%`,
    Container: id,
    ID: id,
    MemPerc: `${s.memPercent.toFixed(2)}%`,
    MemUsage: `${binaryBytes(s.memUsage)} / ${binaryBytes(s.memLimit)}`,
    Name: s.name,
    NetIO: `${formatBytes(s.netRx)} / ${formatBytes(s.netTx)}`,
    PIDs: String(s.pids),
  };
}

function targetOf(r: ContainerHead): StatsTarget {
  // The record's state is already checked against the process (its start time); asking
  // lifecycle's isRunning again would read /proc/PID/stat twice and load the whole runtime.
  const running = (r.state.status === "running" || r.state.status === "paused") && r.state.pid !== undefined;
  return {
    id: r.config.id,
    name: r.config.name,
    network: r.config.options.network,
    ...(running ? { pid: r.state.pid as number, stateDir: r.dirs.state } : {}),
    ...(running && r.state.startedAt !== undefined ? { startedAt: r.state.startedAt } : {}),
  };
}

/** Named containers stay in the view; otherwise the view follows what runs (all with -a). */
function targets(paths: BoxPaths, names: string[], all: boolean): StatsTarget[] {
  if (names.length > 0) return names.map((n) => targetOf(findContainer(paths, n)));
  const list = listContainerHeads(paths).map(targetOf);
  return all ? list : list.filter((t) => t.pid !== undefined);
}

function parseInterval(text: string): number {
  const s = Number(text);
  if (text.trim() === "" || !Number.isFinite(s) || s <= 0) {
    throw new BoxError("E_INVALID_INPUT", `--interval: invalid value "${text}": expected a positive number of seconds`);
  }
  return s * 1000;
}

const command: Command = {
  summary: "Display a live stream of container(s) resource usage statistics",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("stats", FLAGS, argv, false);
    if (flags.help) {
      out(`${renderHelp(USAGE, "Display a live stream of container(s) resource usage statistics", FLAGS)}\n${CPU_NOTE}\n`);
      return 0;
    }
    const paths = pathsFor(globals);
    requireOwnGroups(paths.rootless);
    const given = flags.interval === undefined ? undefined : parseInterval(flags.interval as string);
    const intervalMs = given ?? 1000;
    const format = (flags.format as string | undefined) ?? "table";

    const trunc = !flags["no-trunc"];
    const render = (stats: ContainerStats[]) => {
      const rows = stats.map((s) => row(s, trunc));
      if (format !== "table") return renderFormat(format, rows, HEADERS);
      return renderTable([DEFAULT_COLUMNS.map((c) => HEADERS[c] as string), ...rows.map((r) => DEFAULT_COLUMNS.map((c) => r[c] as string))]);
    };
    const reader = new StatsReader();
    const all = flags.all as boolean;

    let current = targets(paths, positionals, all);
    mark("stats: containers listed");
    const stream = !flags["no-stream"];
    if (!stream) {
      // An explicit window: sample, wait, sample. Without one, no wait (see CPU_NOTE).
      if (given !== undefined) {
        reader.prime(current);
        await Bun.sleep(given);
      }
      const sampled = reader.read(current);
      mark("stats: sampled");
      out(render(sampled));
      mark("stats: rendered");
      return 0;
    }
    // On a terminal each frame is drawn over the last: home, each line cleared to its end, then
    // the rest of the screen cleared (no full-screen clear per frame, so no flicker).
    const tty = isatty(1);
    if (tty) out("\x1b[2J");
    for (;;) {
      const frame = render(reader.read(current));
      out(tty ? `\x1b[H${frame.replace(/\n/g, "\x1b[K\n")}\x1b[J` : frame);
      await Bun.sleep(intervalMs);
      // Containers started since join the view; their first frame is measured as --no-stream is.
      if (positionals.length === 0) current = targets(paths, positionals, all);
    }
  },
};
export default command;

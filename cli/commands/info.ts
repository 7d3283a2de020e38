/** `box info [--format json|TEMPLATE]`: storage, state, driver, counts and cgroup layout. */
import { systemInfo } from "../../core/info.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import type { Command } from "./index.ts";
import { out } from "../render/output.ts";
import { renderFormat } from "../render/template.ts";
import { VERSION } from "../version.ts";

const FLAGS: FlagTable = {
  format: { type: "string", short: "f", description: "Format output using 'json' or a Go template" },
  help: { type: "boolean", description: "Print usage" },
};

const command: Command = {
  summary: "Display system-wide information",
  async run(argv, globals) {
    const { flags } = parseFlags("info", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp("box info [OPTIONS]", "Display system-wide information", FLAGS));
      return 0;
    }
    const info = systemInfo(pathsFor(globals));
    if (typeof flags.format === "string") {
      out(renderFormat(flags.format, [info as unknown as Record<string, unknown>], {}));
      return 0;
    }
    const lines = [
      `Version: ${VERSION}`,
      `Rootless: ${info.rootless}`,
      `Storage Driver: ${info.storageDriver.name}`,
      ` Mode: ${info.storageDriver.mode}`,
      `Storage Root: ${info.storageRoot}`,
      `State Root: ${info.stateRoot}`,
      `Config Root: ${info.configRoot}`,
      `Images: ${info.images}`,
      `Containers: ${info.containers}`,
      `Cgroup Layout: ${info.cgroupLayout}`,
      ...info.cgroupHierarchies.map((h) => ` ${h.mountpoint}: ${h.controllers}`),
      `Kernel Version: ${info.kernel}`,
      `Architecture: ${info.architecture}`,
      ...(info.securityOptions.length > 0 ? ["Security Options:"] : []),
      ...info.securityOptions.flatMap((o) => {
        const [name, ...rest] = o.split(",");
        return [` ${name?.replace(/^name=/, "")}`, ...rest.map((kv) => `  ${kv.replace(/^profile=/, "Profile: ")}`)];
      }),
    ];
    out(`${lines.join("\n")}\n`);
    return 0;
  },
};
export default command;

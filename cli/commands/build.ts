/** `box build [OPTIONS] CONTEXT|-`: docker's classic builder output, podman's step numbering. */
import { writeFileSync } from "node:fs";
import { BoxError } from "../../core/errors.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import type { Command } from "./index.ts";
import { reportFailure } from "../render/error.ts";
import { err, out } from "../render/output.ts";

const FLAGS: FlagTable = {
  file: { type: "string", short: "f", description: "Name of the Dockerfile (default: CONTEXT/Dockerfile; - for stdin)", valueHint: "string" },
  tag: { type: "list", short: "t", description: "Name and optionally a tag in the name:tag format" },
  "build-arg": { type: "list", description: "Set build-time variables (NAME=value, or NAME to take it from the environment)" },
  target: { type: "string", description: "Set the target build stage to build" },
  "no-cache": { type: "boolean", description: "Do not use cache when building the image" },
  pull: { type: "boolean", description: "Always attempt to pull a newer version of the base images" },
  label: { type: "list", description: "Set metadata for an image" },
  network: { type: "string", description: "Networking mode for the RUN instructions (none, host)", default: "none" },
  secret: { type: "list", description: "Secret to expose to RUN --mount=type=secret (id=ID,src=FILE or id=ID,env=VARIABLE)" },
  ssh: { type: "list", description: "SSH agent socket to expose to RUN --mount=type=ssh (default, or ID=SOCKET)" },
  iidfile: { type: "string", description: "Write the image ID to the file" },
  quiet: { type: "boolean", short: "q", description: "Suppress the build output and print image ID on success" },
  check: { type: "boolean", description: "Check the Dockerfile for problems without building" },
  help: { type: "boolean", description: "Print usage" },
};

const USAGE = "box build [OPTIONS] CONTEXT|-";

const readStdin = async (): Promise<Uint8Array> => new Uint8Array(await Bun.stdin.arrayBuffer());

async function check(argv: { file?: string; context: string; buildArgs: string[]; target?: string; secrets: string[]; ssh: string[] }, globals: Parameters<Command["run"]>[1]): Promise<number> {
  const { checkDockerfile } = await import("../../core/build/check.ts");
  const { parseBuildSecrets } = await import("../../core/build/secrets.ts");
  // The specs are checked as a build would check them; no secret is read.
  parseBuildSecrets(argv.secrets, argv.ssh);
  const { loadContext } = await import("../../core/build/context.ts");
  const { parseBuildArgs } = await import("../../core/build/build.ts");
  const paths = pathsFor(globals);
  // --check reads only the Dockerfile: a context from stdin would have to be unpacked for nothing.
  const ctx = await loadContext({ context: argv.context, file: argv.file, scratch: () => "/nonexistent", readStdin, rootless: paths.rootless });
  const result = checkDockerfile(paths, ctx.dockerfile.text, ctx.dockerfile.name, parseBuildArgs(argv.buildArgs), argv.target);
  for (const f of result.findings) {
    out(`${f.level === "error" ? "ERROR" : "WARNING"}: ${f.rule} - ${f.loc.file}:${f.loc.line}: ${f.message}\n`);
  }
  const n = result.findings.length;
  out(n === 0 ? "Check complete, no warnings found.\n" : `Check complete, ${n} ${n === 1 ? "warning has" : "warnings have"} been found!\n`);
  return result.failed ? 1 : 0;
}

const command: Command = {
  summary: "Build an image from a Dockerfile",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("build", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp(USAGE, "Build an image from a Dockerfile", FLAGS));
      return 0;
    }
    if (positionals.length !== 1) throw new BoxError("E_INVALID_INPUT", `"box build" requires exactly 1 argument`, { hint: `usage: ${USAGE}` });
    const context = positionals[0] as string;
    const file = flags.file as string | undefined;
    const target = flags.target as string | undefined;
    const buildArgs = flags["build-arg"] as string[];
    if (flags.check) {
      try {
        return await check({ context, buildArgs, secrets: flags.secret as string[], ssh: flags.ssh as string[], ...(file !== undefined ? { file } : {}), ...(target !== undefined ? { target } : {}) }, globals);
      } catch (e) {
        return reportFailure(e, globals.debug);
      }
    }
    const quiet = flags.quiet as boolean;
    const { buildImage } = await import("../../core/build/build.ts");
    const { BuildStepError } = await import("../../core/build/run-step.ts");
    const log = quiet ? () => undefined : (text: string) => out(text);
    let result;
    try {
      result = await buildImage(pathsFor(globals), {
        context, file, tags: flags.tag as string[], buildArgs, target, noCache: flags["no-cache"] as boolean,
        pull: flags.pull as boolean, labels: flags.label as string[], network: flags.network as string, quiet, readStdin,
        secrets: flags.secret as string[], ssh: flags.ssh as string[],
      }, {
        step: (e) => log(`${e.stages > 1 ? `[${e.stage}/${e.stages}] ` : ""}STEP ${e.n}/${e.of}: ${e.text}\n`),
        cached: (key) => log(`--> Using cache ${key}\n`),
        stepDone: (key) => log(`--> ${key.slice(0, 12)}\n`),
        warning: (message) => err(`[Warning] ${message}\n`),
        failedOutput: (text) => err(text === "" ? "" : `${text}\n`),
      });
    } catch (e) {
      // A failed RUN is the build's failure, not box's: docker exits 1 for it.
      if (e instanceof BuildStepError) {
        err(`box: ${e.message}\n`);
        return e.status;
      }
      return reportFailure(e, globals.debug);
    }
    const hex = result.id.slice("sha256:".length);
    if (!quiet) {
      log(`COMMIT${result.names[0] ? ` ${result.names[0]}` : ""}\n--> ${hex.slice(0, 12)}\n`);
      for (const n of result.names) log(`Successfully tagged ${n}\n`);
    }
    out(`${hex}\n`);
    if (typeof flags.iidfile === "string") writeFileSync(flags.iidfile, result.id);
    return 0;
  },
};
export default command;

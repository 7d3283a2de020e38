/** `box login [OPTIONS] [SERVER]`: docker's flags; credentials go to podman's auth.json. */
import { readFileSync } from "node:fs";
import { BoxError } from "../../core/errors.ts";
import { login } from "../../core/image/login.ts";
import { parseFlags, renderHelp, type FlagTable } from "../args.ts";
import { pathsFor } from "../context.ts";
import type { Command } from "./index.ts";
import { reportFailure } from "../render/error.ts";
import { out } from "../render/output.ts";
import { ask } from "../render/prompt.ts";
import { isatty } from "../../core/terminal.ts";

const FLAGS: FlagTable = {
  username: { type: "string", short: "u", description: "Username" },
  password: { type: "string", short: "p", description: "Password" },
  "password-stdin": { type: "boolean", description: "Take the password from stdin" },
  authfile: { type: "string", description: "Path of the authentication file (default $XDG_RUNTIME_DIR/containers/auth.json)" },
  "tls-verify": { type: "boolean", default: true, description: "Require HTTPS and verify certificates when contacting registries" },
  help: { type: "boolean", description: "Print usage" },
};

const command: Command = {
  summary: "Log in to a registry",
  async run(argv, globals) {
    const { flags, positionals } = parseFlags("login", FLAGS, argv, false);
    if (flags.help) {
      out(renderHelp("box login [OPTIONS] [SERVER]", "Log in to a registry", FLAGS));
      return 0;
    }
    if (positionals.length > 1) throw new BoxError("E_INVALID_INPUT", "\"box login\" accepts at most 1 argument", { hint: "usage: box login [OPTIONS] [SERVER]" });
    let username = flags.username as string | undefined;
    let password = flags.password as string | undefined;
    if (flags["password-stdin"]) {
      if (password !== undefined) throw new BoxError("E_INVALID_INPUT", "--password and --password-stdin are mutually exclusive", { hint: "see 'box login --help'" });
      if (!username) throw new BoxError("E_INVALID_INPUT", "--password-stdin needs a username", { hint: "give -u USER" });
      password = readFileSync(0, "utf8").replace(/\r?\n$/, "");
    }
    // At a terminal, what is missing is asked for, as docker and podman do.
    if ((!username || password === undefined) && isatty(0)) {
      if (!username) username = (await ask("Username: ")).trim();
      if (password === undefined) password = await ask("Password: ", true);
    }
    if (!username || password === undefined) {
      throw new BoxError("E_INVALID_INPUT", "box login needs a username and a password", { hint: "give -u USER with -p PASSWORD or --password-stdin, or run it at a terminal to be asked" });
    }
    try {
      await login(pathsFor(globals), positionals[0], { username, password }, { tlsVerify: flags["tls-verify"] as boolean, authfile: flags.authfile as string | undefined });
    } catch (e) {
      return reportFailure(e, globals.debug);
    }
    out("Login Succeeded\n");
    return 0;
  },
};
export default command;

import { describe, expect, test } from "bun:test";
import { parseFlags, renderHelp, type FlagTable } from "../../../cli/args.ts";
import { BoxError } from "../../../core/errors.ts";

const T: FlagTable = {
  interactive: { type: "boolean", short: "i", description: "i" },
  tty: { type: "boolean", short: "t", description: "t" },
  rm: { type: "boolean", description: "rm" },
  env: { type: "list", short: "e", description: "env" },
  name: { type: "string", description: "name" },
  "read-only-tmpfs": { type: "boolean", description: "x", default: true },
};

describe("docker-style flag parsing", () => {
  test("stops at the first positional so the command keeps its own flags", () => {
    const r = parseFlags("run", T, ["--rm", "base", "ls", "-la", "--rm"], true);
    expect(r.flags.rm).toBe(true);
    expect(r.positionals).toEqual(["base", "ls", "-la", "--rm"]);
  });

  test("combined short booleans, repeated lists, attached and separate values", () => {
    const r = parseFlags("run", T, ["-it", "-e", "A=1", "-eB=2", "--env=C=3", "--name", "web", "img"], true);
    expect(r.flags).toMatchObject({ interactive: true, tty: true, env: ["A=1", "B=2", "C=3"], name: "web" });
  });

  test("a value-taking short flag at the end of a cluster takes the next argument", () => {
    const r = parseFlags("run", T, ["-ie", "X=1", "img"], true);
    expect(r.flags.interactive).toBe(true);
    expect(r.flags.env).toEqual(["X=1"]);
  });

  test("--flag=false turns a default-true boolean off", () => {
    expect(parseFlags("run", T, ["--read-only-tmpfs=false", "x"], true).flags["read-only-tmpfs"]).toBe(false);
    expect(parseFlags("run", T, ["x"], true).flags["read-only-tmpfs"]).toBe(true);
  });

  test("-- ends the flags", () => {
    expect(parseFlags("run", T, ["--", "--rm"], true).positionals).toEqual(["--rm"]);
  });

  test("errors name the flag and point at help", () => {
    const bad = (argv: string[], msg: string) => {
      try {
        parseFlags("run", T, argv, true);
        throw new Error("no error");
      } catch (e) {
        expect(e).toBeInstanceOf(BoxError);
        expect((e as BoxError).message).toBe(msg);
        expect((e as BoxError).hint).toBe("see 'box run --help'");
        expect((e as BoxError).exitCode).toBe(125);
      }
    };
    bad(["--nope"], "unknown flag: --nope");
    bad(["-x"], "unknown shorthand flag: 'x' in -x");
    bad(["--name"], "flag needs an argument: --name");
    bad(["--rm=maybe"], 'invalid value "maybe" for flag --rm: expected true or false');
  });

  test("help lists every visible flag with its shorthand and default", () => {
    const h = renderHelp("box run [OPTIONS] IMAGE", "Run", T);
    expect(h).toContain("-e, --env list");
    expect(h).toContain("--read-only-tmpfs");
    expect(h).toContain("(default true)");
  });
});

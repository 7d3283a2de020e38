/** The Dockerfile parser against the reference's rules, one behaviour per test. */
import { describe, expect, test } from "bun:test";
import { BoxError } from "../../../core/errors.ts";
import { parseDockerfile } from "../../../core/build/dockerfile/parse.ts";
import type { Instruction } from "../../../core/build/dockerfile/types.ts";

const lines = (...l: string[]) => l.join("\n");
const first = (text: string): Instruction => parseDockerfile(text).stages[0]?.instructions[0] as Instruction;
function parseError(text: string): string {
  try {
    parseDockerfile(text);
  } catch (e) {
    expect(e).toBeInstanceOf(BoxError);
    expect((e as BoxError).code).toBe("E_INVALID_INPUT");
    return (e as Error).message;
  }
  throw new Error("expected a parse error");
}

describe("parser directives", () => {
  test("syntax and escape are read at the top", () => {
    const df = parseDockerfile(lines("# syntax=docker/dockerfile:1", "# escape=`", "FROM base", "RUN echo a `", "  b"));
    expect(df.directives).toEqual({ syntax: "docker/dockerfile:1", escape: "`" });
    expect(first(lines("# escape=`", "FROM base", "RUN echo a `", "  b"))).toMatchObject({ form: { kind: "shell", command: "echo a   b" } });
  });
  test("a directive after a comment is a comment", () => {
    const df = parseDockerfile(lines("# hello", "# escape=`", "FROM base"));
    expect(df.directives.escape).toBe("\\");
  });
  test("an unknown directive ends the directives", () => {
    expect(parseDockerfile(lines("# unknown=1", "# escape=`", "FROM base")).directives.escape).toBe("\\");
  });
  test("whitespace around directives is allowed, case-insensitive keys", () => {
    expect(parseDockerfile(lines("#  ESCAPE = `", "FROM base")).directives.escape).toBe("`");
  });
  test("a repeated directive is an error with its line", () => {
    expect(parseError(lines("# escape=`", "# escape=\\", "FROM base"))).toBe("Dockerfile:2:1: only one escape parser directive can be used");
  });
  test("an invalid escape token is an error", () => {
    expect(parseError(lines("# escape=x", "FROM base"))).toContain("Dockerfile:1:1: invalid escape token");
  });
});

describe("lines, continuations and comments", () => {
  test("comments and blank lines inside a continuation are dropped", () => {
    const ins = first(lines("FROM base", "RUN echo a \\", "# inside", "", "  b"));
    expect(ins).toMatchObject({ kind: "RUN", form: { command: "echo a   b" }, loc: { line: 2, col: 1 } });
  });
  test("# in the middle of a line is an argument", () => {
    expect(first(lines("FROM base", "RUN echo a # not a comment"))).toMatchObject({ form: { command: "echo a # not a comment" } });
  });
  test("leading whitespace is allowed and columns are counted", () => {
    expect(first(lines("FROM base", "   run echo"))).toMatchObject({ kind: "RUN", loc: { line: 2, col: 4 } });
  });
  test("CRLF line endings and a BOM are accepted", () => {
    expect(first("\uFEFFFROM base\r\nRUN echo hi\r\n")).toMatchObject({ form: { command: "echo hi" } });
  });
  test("a trailing escape at the end of the file ends the instruction", () => {
    expect(first(lines("FROM base", "RUN echo \\"))).toMatchObject({ form: { command: "echo" } });
  });
});

describe("heredocs", () => {
  test("RUN <<EOF keeps the body", () => {
    const ins = first(lines("FROM base", "RUN <<EOF", "echo one", "echo two", "EOF", "CMD x"));
    expect(ins).toMatchObject({ kind: "RUN", heredocs: [{ name: "EOF", content: "echo one\necho two\n", expand: true, chomp: false }] });
    expect(parseDockerfile(lines("FROM base", "RUN <<EOF", "x", "EOF", "CMD x")).stages[0]?.instructions[1]?.loc.line).toBe(5);
  });
  test("<<- strips leading tabs, a quoted delimiter disables expansion", () => {
    const ins = first(lines("FROM base", "COPY <<-\"END\" /f", "\t$A", "\tEND"));
    expect(ins).toMatchObject({ kind: "COPY", sources: ["<<END"], dest: "/f", heredocs: [{ content: "$A\n", expand: false, chomp: true }] });
  });
  test("several heredocs in one instruction", () => {
    const ins = first(lines("FROM base", "COPY <<A <<B /dir/", "a", "A", "b", "B"));
    expect(ins).toMatchObject({ sources: ["<<A", "<<B"], heredocs: [{ name: "A", content: "a\n" }, { name: "B", content: "b\n" }] });
  });
  test("<< inside quotes is not a heredoc", () => {
    expect(first(lines("FROM base", "RUN echo '<<EOF'"))).toMatchObject({ heredocs: [] });
  });
  test("an unterminated heredoc names its line", () => {
    expect(parseError(lines("FROM base", "RUN <<EOF", "echo"))).toContain("Dockerfile:2:5: unterminated heredoc");
  });
});

describe("instructions", () => {
  test("FROM with AS and --platform", () => {
    const df = parseDockerfile(lines("ARG V=1", "FROM --platform=linux/amd64 base:$V AS Build", "FROM build"));
    expect(df.globalArgs[0]?.args).toEqual([{ name: "V", value: "1" }]);
    expect(df.stages[0]?.from).toMatchObject({ image: "base:$V", name: "build", platform: "linux/amd64" });
    expect(df.stages[1]?.from).toMatchObject({ image: "build" });
  });
  test("FROM with two words is an error naming what was expected", () => {
    expect(parseError("FROM a b")).toBe("Dockerfile:1:6: FROM requires either one or three arguments");
  });
  test("duplicate stage names are refused", () => {
    expect(parseError(lines("FROM base AS a", "FROM base AS A"))).toContain("Dockerfile:2:1: duplicate stage name `a`");
  });
  test("only ARG may come before FROM", () => {
    expect(parseError("RUN echo")).toContain("Dockerfile:1:1: RUN before the first FROM");
  });
  test("exec and shell forms", () => {
    expect(first(lines("FROM base", 'CMD ["a", "b c"]'))).toMatchObject({ form: { kind: "exec", args: ["a", "b c"] } });
    expect(first(lines("FROM base", "CMD ['a']"))).toMatchObject({ form: { kind: "shell", command: "['a']" } });
    expect(first(lines("FROM base", "ENTRYPOINT [\"/x\"]"))).toMatchObject({ kind: "ENTRYPOINT", form: { kind: "exec", args: ["/x"] } });
  });
  test("RUN --mount and --network", () => {
    const ins = first(lines("FROM base", "RUN --mount=type=cache,target=/root/.cache --mount=type=bind,source=x,target=/x --network=host make"));
    expect(ins.kind).toBe("RUN");
    if (ins.kind !== "RUN") return;
    expect(ins.mounts.map((m) => [m.type, m.options.get("target")])).toEqual([["cache", "/root/.cache"], ["bind", "/x"]]);
    expect(ins.network).toBe("host");
    expect(ins.form).toEqual({ kind: "shell", command: "make" });
  });
  test("unknown flags and mount types are errors", () => {
    expect(parseError(lines("FROM base", "COPY --nope=1 a b"))).toContain("Dockerfile:2:6: unknown flag: --nope for COPY");
    expect(parseError(lines("FROM base", "RUN --mount=type=nfs,target=/s x"))).toContain("unsupported mount type `nfs`");
  });
  test("ENV and LABEL, both forms", () => {
    expect(first(lines("FROM base", 'ENV A=1 B="two words" C=\\$x'))).toMatchObject({ pairs: [{ key: "A", value: "1" }, { key: "B", value: '"two words"' }, { key: "C", value: "\\$x" }], legacy: false });
    expect(first(lines("FROM base", "ENV NAME some value"))).toMatchObject({ pairs: [{ key: "NAME", value: "some value" }], legacy: true });
    expect(first(lines("FROM base", 'LABEL "com.x"="y z"'))).toMatchObject({ kind: "LABEL", pairs: [{ key: '"com.x"', value: '"y z"' }] });
    expect(parseError(lines("FROM base", "ENV A=1 B"))).toContain("can't find = in `B`");
  });
  test("COPY and ADD flags, JSON form, too few arguments", () => {
    expect(first(lines("FROM base", "COPY --from=build --chown=app:app --chmod=640 --link a b /d/"))).toMatchObject({
      kind: "COPY", sources: ["a", "b"], dest: "/d/", from: "build", chown: "app:app", chmod: "640", link: true, json: false,
    });
    expect(first(lines("FROM base", 'ADD ["a b", "/c"]'))).toMatchObject({ kind: "ADD", sources: ["a b"], dest: "/c", json: true });
    expect(parseError(lines("FROM base", "COPY a"))).toContain("Dockerfile:2:6: COPY requires at least two arguments");
    expect(parseError(lines("FROM base", "COPY --chmod=abc a b"))).toContain("invalid --chmod=abc");
  });
  test("ARG with several names, VOLUME, EXPOSE, USER, WORKDIR, STOPSIGNAL, MAINTAINER", () => {
    const ins = parseDockerfile(lines("FROM base", "ARG A B=2", 'VOLUME ["/a", "/b"]', "VOLUME /c /d", "EXPOSE 80 53/udp", "USER app:grp", "WORKDIR /x y", "STOPSIGNAL SIGKILL", "MAINTAINER Jo <j@x>")).stages[0]?.instructions ?? [];
    expect(ins.map((i) => i.kind)).toEqual(["ARG", "VOLUME", "VOLUME", "EXPOSE", "USER", "WORKDIR", "STOPSIGNAL", "MAINTAINER"]);
    expect(ins[0]).toMatchObject({ args: [{ name: "A" }, { name: "B", value: "2" }] });
    expect(ins[1]).toMatchObject({ paths: ["/a", "/b"], json: true });
    expect(ins[7]).toMatchObject({ value: "Jo <j@x>" });
  });
  test("ONBUILD keeps its trigger and refuses chaining", () => {
    expect(first(lines("FROM base", "ONBUILD run echo hi"))).toMatchObject({ kind: "ONBUILD", trigger: "RUN echo hi", inner: { kind: "RUN" } });
    expect(parseError(lines("FROM base", "ONBUILD ONBUILD RUN x"))).toContain("chaining ONBUILD");
    expect(parseError(lines("FROM base", "ONBUILD FROM x"))).toContain("FROM isn't allowed as an ONBUILD trigger");
  });
  test("HEALTHCHECK forms", () => {
    expect(first(lines("FROM base", "HEALTHCHECK NONE"))).toMatchObject({ none: true });
    expect(first(lines("FROM base", "HEALTHCHECK --interval=5s --retries=3 CMD curl -f x"))).toMatchObject({ none: false, interval: "5s", retries: "3", form: { kind: "shell", command: "curl -f x" } });
    expect(parseError(lines("FROM base", "HEALTHCHECK BOGUS x"))).toContain("unknown type for healthcheck");
  });
  test("SHELL must be JSON", () => {
    expect(first(lines("FROM base", 'SHELL ["/bin/bash", "-c"]'))).toMatchObject({ shell: ["/bin/bash", "-c"] });
    expect(parseError(lines("FROM base", "SHELL /bin/bash"))).toContain("SHELL requires the arguments to be in JSON form");
  });
  test("an unknown instruction names file, line and column", () => {
    expect(parseError(lines("FROM base", "", "  FROBNICATE x"))).toMatch(/^Dockerfile:3:3: unknown instruction: FROBNICATE$/);
  });
  test("a Dockerfile without FROM is an error", () => {
    expect(parseError("# only a comment")).toContain("no FROM instruction");
  });
});

describe("warnings for --check", () => {
  test("legacy ENV, MAINTAINER, shell-form CMD, repeated CMD, casing", () => {
    const df = parseDockerfile(lines("FROM base as x", "ENV A b", "MAINTAINER me", "CMD a", "Cmd [\"b\"]"));
    expect(df.warnings.map((w) => w.rule).sort()).toEqual(["ConsistentInstructionCasing", "FromAsCasing", "JSONArgsRecommended", "LegacyKeyValueFormat", "MaintainerDeprecated", "MultipleInstructionsDisallowed"]);
  });
});

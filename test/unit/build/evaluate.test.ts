/** ARG/ENV scoping and the config the metadata instructions write, as docker does. */
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseDockerfile } from "../../../core/build/dockerfile/parse.ts";
import { evaluateGlobals, fromImage, resolveWorkdir, StageEvaluator, type Finding } from "../../../core/build/evaluate.ts";
import { layerEntries } from "../../../core/build/layer-writer.ts";
import { parseBuildArgs } from "../../../core/build/build.ts";

function evaluate(text: string, base: Record<string, unknown> = { Cmd: ["/bin/sh"] }, args: string[] = []) {
  const df = parseDockerfile(text);
  const findings: Finding[] = [];
  const buildArgs = parseBuildArgs(args, {});
  const globals = evaluateGlobals(df, buildArgs, findings);
  const stage = df.stages.at(-1);
  if (!stage) throw new Error("no stage");
  const image = fromImage(stage.from, globals, "\\", findings);
  const ev = new StageEvaluator({ ...base }, globals, buildArgs, "\\", findings);
  const createdBy = stage.instructions.map((i) => ev.apply(i));
  return { ev, image, findings, createdBy, buildArgs };
}

describe("evaluation", () => {
  test("global ARGs reach FROM; a stage sees them only when it declares them again", () => {
    const r = evaluate("ARG V=1\nFROM base:$V\nENV A=$V\nARG V\nENV B=$V", {}, []);
    expect(r.image).toBe("base:1");
    expect(r.ev.config.Env).toEqual(["A=", "B=1"]);
    expect(r.findings.map((f) => [f.rule, f.loc.line])).toEqual([["UndefinedVar", 3]]);
  });
  test("--build-arg overrides a default, ENV wins over ARG", () => {
    const r = evaluate("FROM base\nARG X=d\nENV Y=$X\nENV X=env\nENV Z=$X", {}, ["X=cli"]);
    expect(r.ev.config.Env).toEqual(["Y=cli", "X=env", "Z=env"]);
    expect(r.ev.runArgs()).toEqual([]);
    expect(r.buildArgs.consumed.has("X")).toBe(true);
  });
  test("ENTRYPOINT resets an inherited CMD but not one set in the stage", () => {
    expect(evaluate('FROM base\nENTRYPOINT ["/e"]').ev.config.Cmd).toBeUndefined();
    expect(evaluate('FROM base\nCMD ["x"]\nENTRYPOINT ["/e"]').ev.config.Cmd).toEqual(["x"]);
  });
  test("shell forms go through SHELL; created_by is docker's classic form", () => {
    const r = evaluate('FROM base\nSHELL ["/bin/bash", "-c"]\nCMD echo hi');
    expect(r.ev.config.Cmd).toEqual(["/bin/bash", "-c", "echo hi"]);
    expect(r.createdBy[1]).toBe('/bin/bash -c #(nop)  CMD ["/bin/bash" "-c" "echo hi"]');
  });
  test("EXPOSE, VOLUME, LABEL, USER, STOPSIGNAL, HEALTHCHECK, ONBUILD", () => {
    const r = evaluate([
      "FROM base", "EXPOSE 80 8000-8001/udp", 'VOLUME ["/data"]', "VOLUME /a /b", 'LABEL a=1 "b c"="d e"', "USER app",
      "STOPSIGNAL SIGQUIT", "HEALTHCHECK --interval=1m30s --timeout=500ms --retries=2 CMD true", "ONBUILD RUN echo", "MAINTAINER me",
    ].join("\n"));
    const c = r.ev.config;
    expect(c.ExposedPorts).toEqual({ "80/tcp": {}, "8000/udp": {}, "8001/udp": {} });
    expect(c.Volumes).toEqual({ "/data": {}, "/a": {}, "/b": {} });
    expect(c.Labels).toEqual({ a: "1", "b c": "d e" });
    expect(c.User).toBe("app");
    expect(c.StopSignal).toBe("SIGQUIT");
    expect(c.Healthcheck).toEqual({ Test: ["CMD-SHELL", "true"], Interval: 90e9, Timeout: 5e8, Retries: 2 });
    expect(c.OnBuild).toEqual(["RUN echo"]);
    expect(r.ev.author).toBe("me");
  });
  test("WORKDIR is relative to the previous one and cleaned", () => {
    expect(resolveWorkdir("/a", "b/../c")).toBe("/a/c");
    expect(resolveWorkdir(undefined, "x")).toBe("/x");
    expect(evaluate("FROM base\nENV D=/srv\nWORKDIR $D\nWORKDIR app").ev.config.WorkingDir).toBe("/srv/app");
  });
});

describe("layer entries", () => {
  test("whiteouts, hardlinks and sorted names", () => {
    const dir = mkdtempSync(join(tmpdir(), "box-layer-"));
    try {
      mkdirSync(join(dir, "b"));
      writeFileSync(join(dir, "b/f"), "x");
      Bun.spawnSync(["ln", join(dir, "b/f"), join(dir, "a")]);
      const can = Bun.spawnSync(["mknod", join(dir, "gone"), "c", "0", "0"]).exitCode === 0;
      const names = [...layerEntries(dir, {}, { files: 0, bytes: 0 })].map((e) => `${e.type}:${e.name}${e.linkname ? `->${e.linkname}` : ""}`);
      expect(names).toEqual(["file:a", "directory:b", "hardlink:b/f->a", ...(can ? ["file:.wh.gone"] : [])]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

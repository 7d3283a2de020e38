/** --change of import and commit: Dockerfile instructions applied to an image config as a build would. */
import { describe, expect, test } from "bun:test";
import { applyChanges } from "../../../core/image/changes.ts";

describe("applyChanges", () => {
  test("the exec and shell forms of CMD, and ENTRYPOINT resetting an inherited CMD", () => {
    expect(applyChanges({}, ["CMD echo hi"]).Cmd).toEqual(["/bin/sh", "-c", "echo hi"]);
    expect(applyChanges({ Cmd: ["sh"] }, ['ENTRYPOINT ["/app"]'])).toEqual({ Entrypoint: ["/app"] });
    expect(applyChanges({ Cmd: ["sh"] }, ['ENTRYPOINT ["/app"]', 'CMD ["--flag"]'])).toEqual({ Entrypoint: ["/app"], Cmd: ["--flag"] });
  });

  test("ENV expands against the image's own variables; WORKDIR is relative to the current one", () => {
    const c = applyChanges({ Env: ["PATH=/bin"], WorkingDir: "/srv" }, ["ENV PATH=$PATH:/opt/bin A=1", "WORKDIR app/../data"]);
    expect(c.Env).toEqual(["PATH=/bin:/opt/bin", "A=1"]);
    expect(c.WorkingDir).toBe("/srv/data");
  });

  test("EXPOSE, LABEL, USER, VOLUME, STOPSIGNAL, ONBUILD", () => {
    const c = applyChanges({ Labels: { keep: "1" } }, ["EXPOSE 80 53/udp", 'LABEL a="b c"', "USER app:app", 'VOLUME ["/data"]', "STOPSIGNAL SIGINT", "ONBUILD RUN true"]);
    expect(c).toEqual({
      Labels: { keep: "1", a: "b c" },
      ExposedPorts: { "80/tcp": {}, "53/udp": {} },
      User: "app:app",
      Volumes: { "/data": {} },
      StopSignal: "SIGINT",
      OnBuild: ["RUN true"],
    });
  });

  test("the input config is left as it was", () => {
    const input = { Env: ["A=1"] };
    applyChanges(input, ["ENV A=2"]);
    expect(input).toEqual({ Env: ["A=1"] });
  });

  test("instructions that change files, unknown ones, and empty changes are refused by name", () => {
    const allowed = "--change accepts CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR";
    for (const [change, message] of [
      ["RUN rm -rf /", '--change "RUN rm -rf /": RUN is not supported here'],
      ["COPY a /b", '--change "COPY a /b": COPY is not supported here'],
      ["FROB x", '--change "FROB x": FROB is not supported here'],
      ["", '--change "": no instruction given'],
    ] as const) {
      let caught: unknown;
      try {
        applyChanges({}, [change]);
      } catch (e) {
        caught = e;
      }
      expect(caught).toMatchObject({ code: "E_INVALID_INPUT", message, hint: allowed });
    }
    expect(() => applyChanges({}, ["EXPOSE http"])).toThrow('--change "EXPOSE http": invalid port `http` in EXPOSE');
    expect(() => applyChanges({}, ["ENV"])).toThrow('--change "ENV": ENV requires at least one argument');
  });
});

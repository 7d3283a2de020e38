import { describe, expect, test } from "bun:test";
import { parseMountFlag, parseTmpfsFlag, parseVolumeFlag } from "../../../core/runtime/mounts.ts";

describe("mount flags", () => {
  test("-v forms: bind, bind read-only, named volume, anonymous volume", () => {
    expect(parseVolumeFlag("/srv/data:/data")).toEqual({ type: "bind", source: "/srv/data", target: "/data", readonly: false });
    expect(parseVolumeFlag("/srv/data/:/data/:ro,z")).toEqual({ type: "bind", source: "/srv/data/", target: "/data", readonly: true });
    expect(parseVolumeFlag("cache:/var/cache")).toEqual({ type: "volume", name: "cache", anonymous: false, target: "/var/cache", readonly: false });
    const anon = parseVolumeFlag("/scratch");
    expect(anon.type === "volume" && anon.anonymous && /^[0-9a-f]{64}$/.test(anon.name)).toBe(true);
  });

  test("-v rejects what docker rejects, with the reason", () => {
    expect(() => parseVolumeFlag("/a:b")).toThrow("-v: unknown option `b` in `/a:b`");
    expect(() => parseVolumeFlag("./rel:/x")).toThrow("-v: `./rel` is a relative path");
    expect(() => parseVolumeFlag("/a:/")).toThrow("cannot mount over the container's root");
    expect(() => parseVolumeFlag("a:b:c:d")).toThrow("invalid volume specification");
  });

  test("--tmpfs options", () => {
    expect(parseTmpfsFlag("/run:size=64M,mode=755,exec")).toEqual({ type: "tmpfs", target: "/run", readonly: false, size: "64m", mode: "755", exec: true });
    expect(() => parseTmpfsFlag("/run:size=lots")).toThrow("--tmpfs: invalid option `size=lots`");
  });

  test("--mount key=value lists", () => {
    expect(parseMountFlag("type=bind,source=/a,target=/b,readonly")).toEqual({ type: "bind", source: "/a", target: "/b", readonly: true });
    expect(parseMountFlag("type=tmpfs,dst=/t,tmpfs-size=1m")).toEqual({ type: "tmpfs", target: "/t", readonly: false, exec: false, size: "1m" });
    expect(parseMountFlag("src=vol,target=/v")).toMatchObject({ type: "volume", name: "vol", anonymous: false });
    expect(() => parseMountFlag("type=bind,target=/b")).toThrow("a bind mount needs an absolute source");
    expect(() => parseMountFlag("type=nfs,target=/b")).toThrow("unsupported type `nfs`");
  });
});

import { describe, expect, test } from "bun:test";
import { capMask, capNames, currentBoundingSet, DEFAULT_CAPABILITIES, parseCapability, processCaps, resolveCapabilities } from "../../../core/runtime/caps.ts";

describe("capabilities", () => {
  test("docker's default set is 0xa80425fb", () => {
    expect(capMask(DEFAULT_CAPABILITIES).toString(16)).toBe("a80425fb");
  });

  test("names are accepted in docker's spellings", () => {
    expect(parseCapability("net_admin")).toBe("NET_ADMIN");
    expect(parseCapability("CAP_SYS_TIME")).toBe("SYS_TIME");
    expect(parseCapability("all")).toBe("ALL");
    expect(() => parseCapability("FLY")).toThrow("unknown capability `FLY`");
  });

  test("add and drop follow moby: --cap-drop ALL empties the set before additions", () => {
    const s = resolveCapabilities({ privileged: false, add: ["NET_ADMIN"], drop: ["ALL"] });
    expect([...s]).toEqual(["NET_ADMIN"]);
    const d = resolveCapabilities({ privileged: false, add: [], drop: ["CHOWN", "KILL"] });
    expect(d.has("CHOWN")).toBe(false);
    expect(d.size).toBe(DEFAULT_CAPABILITIES.length - 2);
    expect(resolveCapabilities({ privileged: true, add: [], drop: [] }).size).toBe(41);
  });

  test("non-root users keep only the bounding set; nothing exceeds box's own bounding set", () => {
    const set = resolveCapabilities({ privileged: true, add: [], drop: [] });
    const bounding = currentBoundingSet("CapBnd:\t000001fffeffffff\n");
    const root = processCaps(set, 0, bounding);
    expect(root.effective.toString(16)).toBe("1fffeffffff");
    expect(capNames(root.effective)).not.toContain("SYS_RESOURCE");
    const user = processCaps(set, 1000, bounding);
    expect(user.effective).toBe(0n);
    expect(user.bounding).toBe(root.bounding);
    expect(root.inheritable).toBe(0n);
  });
});

/** Detach keys: docker's spelling, and the prefix held back until the sequence completes or breaks. */
import { describe, expect, test } from "bun:test";
import { DetachKeyMatcher, parseDetachKeys } from "../../../core/runtime/detach-keys.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("detach keys", () => {
  test("docker's spellings", () => {
    expect([...parseDetachKeys("ctrl-p,ctrl-q")]).toEqual([0x10, 0x11]);
    expect([...parseDetachKeys("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_")]).toEqual([0, 27, 28, 29, 30, 31]);
    expect([...parseDetachKeys("ctrl-A,x")]).toEqual([1, 0x78]);
    expect([...parseDetachKeys("")]).toEqual([]);
  });

  test("unknown keys are refused with the key named", () => {
    expect(() => parseDetachKeys("ctrl-1")).toThrow("invalid detach keys `ctrl-1`: unknown key `ctrl-1`");
    expect(() => parseDetachKeys("ctrl-p,,")).toThrow("unknown key ``");
    expect(() => parseDetachKeys("alt-x")).toThrow("unknown key `alt-x`");
  });

  test("the sequence detaches, split across reads too; what precedes it is forwarded", () => {
    const m = new DetachKeyMatcher(parseDetachKeys("ctrl-p,ctrl-q"));
    expect(m.feed(bytes("ls\x10"))).toEqual({ forward: bytes("ls"), detach: false });
    expect(m.feed(bytes("\x11rest"))).toEqual({ forward: new Uint8Array(0), detach: true });
  });

  test("a broken sequence is released to the container, and a new start is recognised", () => {
    const m = new DetachKeyMatcher(parseDetachKeys("ctrl-p,ctrl-q"));
    expect(m.feed(bytes("\x10a"))).toEqual({ forward: bytes("\x10a"), detach: false });
    expect(m.feed(bytes("\x10\x10\x11"))).toEqual({ forward: bytes("\x10"), detach: true });
  });

  test("no keys: everything is forwarded", () => {
    const m = new DetachKeyMatcher(parseDetachKeys(""));
    expect(m.feed(bytes("\x10\x11"))).toEqual({ forward: bytes("\x10\x11"), detach: false });
  });
});

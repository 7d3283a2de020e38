/** .dockerignore matching with docker's patternmatcher rules. */
import { describe, expect, test } from "bun:test";
import { IgnoreMatcher } from "../../../core/build/ignore.ts";

const m = (...lines: string[]) => new IgnoreMatcher(lines);

describe(".dockerignore", () => {
  test("plain names, directories cover their contents", () => {
    const x = m("secret.txt", "build");
    expect(x.ignores("secret.txt")).toBe(true);
    expect(x.ignores("build/a/b.o")).toBe(true);
    expect(x.ignores("sub/secret.txt")).toBe(false);
  });
  test("* and ? stay within one component; ** spans directories", () => {
    const x = m("*.log", "a/?.txt", "**/*.tmp");
    expect(x.ignores("x.log")).toBe(true);
    expect(x.ignores("d/x.log")).toBe(false);
    expect(x.ignores("a/1.txt")).toBe(true);
    expect(x.ignores("a/12.txt")).toBe(false);
    expect(x.ignores("t.tmp")).toBe(true);
    expect(x.ignores("deep/er/t.tmp")).toBe(true);
  });
  test("! re-includes and the last match wins", () => {
    const x = m("*.md", "!README.md", "docs", "!docs/keep.md");
    expect(x.ignores("a.md")).toBe(true);
    expect(x.ignores("CHANGES.md")).toBe(true);
    expect(x.ignores("README.md")).toBe(false);
    expect(x.ignores("docs/x.md")).toBe(true);
    expect(x.ignores("docs/keep.md")).toBe(false);
  });
  test("comments, blank lines, leading slashes and ./ are cleaned", () => {
    const x = m("# comment", "", "/abs", "./rel/", "a/../b");
    expect(x.ignores("abs")).toBe(true);
    expect(x.ignores("rel/f")).toBe(true);
    expect(x.ignores("b")).toBe(true);
    expect(x.ignores("comment")).toBe(false);
  });
  test("character classes", () => {
    const x = m("file[0-9].txt", "[!a]z");
    expect(x.ignores("file7.txt")).toBe(true);
    expect(x.ignores("filex.txt")).toBe(false);
    expect(x.ignores("bz")).toBe(true);
    expect(x.ignores("az")).toBe(false);
  });
});

/** Variable substitution as the Dockerfile reference defines it. */
import { describe, expect, test } from "bun:test";
import { expandWord, processWords } from "../../../core/build/dockerfile/expand.ts";
import { expandHeredoc } from "../../../core/build/heredoc.ts";

const vars: Record<string, string> = { A: "a", E: "", S: "x y" };
const lookup = (n: string) => vars[n];
const w = (t: string) => expandWord(t, lookup, "\\");

describe("substitution", () => {
  test("$VAR and ${VAR}", () => {
    expect(w("$A-${A}b")).toBe("a-ab");
    expect(w("$NOPE.")).toBe(".");
  });
  test(":- and - differ on empty values", () => {
    expect(w("${E:-d}|${E-d}|${U:-d}|${U-d}")).toBe("d||d|d");
  });
  test(":+ and + differ on empty values", () => {
    expect(w("${A:+y}|${E:+y}|${E+y}|${U+y}")).toBe("y||y|");
  });
  test("the word of a modifier is itself expanded", () => {
    expect(w("${U:-$A/b}")).toBe("a/b");
  });
  test(":? fails with the message", () => {
    expect(() => w("${U:?must be set}")).toThrow("U: must be set");
  });
  test("escapes and single quotes keep $ literal, double quotes expand", () => {
    expect(w("\\$A '$A' \"$A\"")).toBe("$A $A a");
    expect(expandWord("`$A", lookup, "`")).toBe("$A");
  });
  test("a lone $ stays", () => {
    expect(w("cost: $ 5")).toBe("cost: $ 5");
  });
  test("bad substitutions are errors", () => {
    expect(() => w("${A")).toThrow("missing '}'");
    expect(() => w("${1x}")).toThrow("bad substitution");
  });
  test("splitting keeps quoted spaces and expanded values whole", () => {
    expect(processWords('a "b c" $S \'d e\'', lookup, "\\", { split: true }).words).toEqual(["a", "b c", "x y", "d e"]);
    expect(processWords('"" x', lookup, "\\", { split: true }).words).toEqual(["", "x"]);
  });
  test("undefined names are reported", () => {
    expect(processWords("$A $B ${C:-x}", lookup, "\\", { split: false }).undefinedRefs).toEqual(["B", "C"]);
  });
  test("heredoc bodies expand without removing quotes", () => {
    expect(expandHeredoc("say \"$A\" and '${A}' \\$A\n", lookup, "\\")).toBe("say \"a\" and 'a' $A\n");
  });
});

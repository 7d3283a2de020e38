/**
 * The import arrows of docs/design.md: cli -> core -> ffi, never back; only cli prints. A file
 * that crosses them fails here, naming the import.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve, dirname } from "node:path";

const repo = join(import.meta.dir, "../..");

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

function imports(file: string): string[] {
  const src = readFileSync(file, "utf8");
  const out: string[] = [];
  for (const m of src.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
    out.push(relative(repo, resolve(dirname(file), m[1] as string)));
  }
  return out;
}

test("core/ and ffi/ never import cli/; ffi/ imports only core/errors.ts from core/", () => {
  const violations: string[] = [];
  for (const f of [...files(join(repo, "core")), ...files(join(repo, "ffi"))]) {
    const rel = relative(repo, f);
    for (const target of imports(f)) {
      if (target.startsWith("cli/")) violations.push(`${rel} imports ${target}`);
      if (rel.startsWith("ffi/") && target.startsWith("core/") && target !== "core/errors.ts") violations.push(`${rel} imports ${target}`);
    }
  }
  expect(violations).toEqual([]);
});

test("cli/ never imports ffi/", () => {
  const violations: string[] = [];
  for (const f of files(join(repo, "cli"))) {
    for (const target of imports(f)) {
      if (target.startsWith("ffi/")) violations.push(`${relative(repo, f)} imports ${target}`);
    }
  }
  expect(violations).toEqual([]);
});

test("core/ and ffi/ never print: no console.*, process.stdout or process.exit", () => {
  const violations: string[] = [];
  for (const f of [...files(join(repo, "core")), ...files(join(repo, "ffi"))]) {
    const src = readFileSync(f, "utf8");
    for (const bad of ["console.", "process.stdout", "process.stderr", "process.exit("]) {
      if (src.includes(bad)) violations.push(`${relative(repo, f)} uses ${bad}`);
    }
  }
  expect(violations).toEqual([]);
});

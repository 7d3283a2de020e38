import { describe, expect, test } from "bun:test";
import { BoxError } from "../../../core/errors.ts";
import { candidates, parseReference } from "../../../core/image/reference.ts";

const D = `sha256:${"0123456789abcdef".repeat(4)}`;

function fields(input: string) {
  const r = parseReference(input);
  return { registry: r.registry, repository: r.repository, tag: r.tag, digest: r.digest, shortName: r.shortName };
}

function failure(input: string): BoxError {
  try {
    parseReference(input);
  } catch (err) {
    expect(err).toBeInstanceOf(BoxError);
    return err as BoxError;
  }
  throw new Error(`parseReference(${JSON.stringify(input)}) did not throw`);
}

describe("parseReference: what docker accepts", () => {
  test.each([
    ["base", { registry: "docker.io", repository: "library/base", tag: "latest", digest: undefined, shortName: "base" }],
    ["alpine", { registry: "docker.io", repository: "library/alpine", tag: "latest", digest: undefined, shortName: "alpine" }],
    ["alpine:3.20", { registry: "docker.io", repository: "library/alpine", tag: "3.20", digest: undefined, shortName: "alpine" }],
    ["library/alpine", { registry: "docker.io", repository: "library/alpine", tag: "latest", digest: undefined, shortName: "library/alpine" }],
    ["myuser/app:v1", { registry: "docker.io", repository: "myuser/app", tag: "v1", digest: undefined, shortName: "myuser/app" }],
    ["docker.io/library/x", { registry: "docker.io", repository: "library/x", tag: "latest", digest: undefined, shortName: undefined }],
    ["docker.io/x", { registry: "docker.io", repository: "library/x", tag: "latest", digest: undefined, shortName: undefined }],
    ["index.docker.io/foo/bar", { registry: "docker.io", repository: "foo/bar", tag: "latest", digest: undefined, shortName: undefined }],
    [`localhost:5000/a/b@${D}`, { registry: "localhost:5000", repository: "a/b", tag: undefined, digest: D, shortName: undefined }],
    ["localhost/app", { registry: "localhost", repository: "app", tag: "latest", digest: undefined, shortName: undefined }],
    ["ghcr.io/o/r:tag", { registry: "ghcr.io", repository: "o/r", tag: "tag", digest: undefined, shortName: undefined }],
    ["127.0.0.1:5000/x:y", { registry: "127.0.0.1:5000", repository: "x", tag: "y", digest: undefined, shortName: undefined }],
    ["[::1]:5000/app:v1", { registry: "[::1]:5000", repository: "app", tag: "v1", digest: undefined, shortName: undefined }],
    [`alpine:3.20@${D}`, { registry: "docker.io", repository: "library/alpine", tag: "3.20", digest: D, shortName: "alpine" }],
    [`ghcr.io/o/r:v2@${D}`, { registry: "ghcr.io", repository: "o/r", tag: "v2", digest: D, shortName: undefined }],
    // docker reads an upper-case first component as a registry, since a path never may be upper-case.
    ["Foo/bar", { registry: "Foo", repository: "bar", tag: "latest", digest: undefined, shortName: undefined }],
    // Without a slash the colon starts a tag: docker parses this as name "localhost", tag "5000".
    ["localhost:5000", { registry: "docker.io", repository: "library/localhost", tag: "5000", digest: undefined, shortName: "localhost" }],
    ["a-b__c/e---f_g.h:Tag_1.0-rc", { registry: "docker.io", repository: "a-b__c/e---f_g.h", tag: "Tag_1.0-rc", digest: undefined, shortName: "a-b__c/e---f_g.h" }],
    [`x:${"t".repeat(128)}`, { registry: "docker.io", repository: "library/x", tag: "t".repeat(128), digest: undefined, shortName: "x" }],
  ])("%s", (input, want) => {
    expect(fields(input)).toEqual(want);
  });

  test("familiar() drops docker.io and library/, toString() spells everything out", () => {
    const cases: [string, string, string][] = [
      ["alpine", "alpine:latest", "docker.io/library/alpine:latest"],
      ["docker.io/library/alpine:3.20", "alpine:3.20", "docker.io/library/alpine:3.20"],
      ["myuser/app:v1", "myuser/app:v1", "docker.io/myuser/app:v1"],
      ["docker.io/library/a/b", "library/a/b:latest", "docker.io/library/a/b:latest"],
      [`localhost:5000/a/b@${D}`, `localhost:5000/a/b@${D}`, `localhost:5000/a/b@${D}`],
      [`alpine:3.20@${D}`, `alpine:3.20@${D}`, `docker.io/library/alpine:3.20@${D}`],
    ];
    for (const [input, familiar, full] of cases) {
      const ref = parseReference(input);
      expect(ref.familiar()).toBe(familiar);
      expect(ref.toString()).toBe(full);
      expect(`${ref}`).toBe(full);
    }
  });

  test("manifestReference prefers the digest over the tag", () => {
    expect(parseReference(`alpine:3.20@${D}`).manifestReference).toBe(D);
    expect(parseReference("alpine:3.20").manifestReference).toBe("3.20");
    expect(parseReference("alpine").manifestReference).toBe("latest");
  });

  test("a parsed reference is frozen", () => {
    const ref = parseReference("alpine:3.20");
    expect(Object.isFrozen(ref)).toBe(true);
    expect(() => {
      (ref as { tag: string | undefined }).tag = "edge";
    }).toThrow(TypeError);
    expect(ref.tag).toBe("3.20");
  });

  test("a 255-character name is the limit", () => {
    const name = `a/${"b".repeat(253)}`;
    expect(parseReference(name).repository).toBe(name);
    expect(failure(`${name}b`).message).toContain("the name is 256 characters long; the limit is 255");
  });
});

describe("parseReference: what docker rejects, and why", () => {
  test.each([
    ["", "it is empty"],
    ["Alpine", 'repository name "Alpine" must be lower-case'],
    ["ghcr.io/Owner/repo", 'repository name "Owner/repo" must be lower-case'],
    ["alpine:", "the tag after ':' is empty"],
    ["alpine:-rc", 'tag "-rc" may only contain'],
    ["alpine:.hidden", 'tag ".hidden" may only contain'],
    [`alpine:${"t".repeat(129)}`, "the tag is 129 characters long; the limit is 128"],
    ["alpine@sha256:abc", 'digest "sha256:abc" must be "sha256:" followed by 64 lower-case hex characters'],
    [`alpine@${D.toUpperCase().replace("SHA256", "sha256")}`, "must be \"sha256:\" followed by 64 lower-case hex"],
    [`alpine@md5:${"a".repeat(32)}`, 'digest algorithm "md5" is not supported'],
    ["alpine@", 'digest "" must be algorithm:hex'],
    ["0123456789abcdef".repeat(4), "a 64-character hexadecimal string is an image ID"],
    ["a//b", 'repository name "a//b" has an empty path component'],
    ["-alpine", 'path component "-alpine" must be'],
    ["alpine_", 'path component "alpine_" must be'],
    ["a_.b", 'path component "a_.b" must be'],
    ["al pine", "it contains whitespace"],
    ["ghcr.io/", "the repository name after the registry is empty"],
    ["localhost:abc/x", '"localhost:abc" is not a valid registry host[:port]'],
    ["-bad.example.com/x", '"-bad.example.com" is not a valid registry host[:port]'],
    [":tag", "the repository name is empty"],
    ["a:b:c", 'path component "a:b" must be'],
  ])("%j", (input, why) => {
    const err = failure(input);
    expect(err.code).toBe("E_INVALID_INPUT");
    expect(err.message).toStartWith(`invalid image reference "${input}": `);
    expect(err.message).toContain(why);
    expect(err.hint).toBeString();
  });
});

describe("candidates: resolving short names through search registries", () => {
  test("a one-component name gets library/ on docker.io only", () => {
    const list = candidates(parseReference("alpine:3.20"), ["docker.io", "quay.io", "localhost:5000"]);
    expect(list.map(String)).toEqual([
      "docker.io/library/alpine:3.20",
      "quay.io/alpine:3.20",
      "localhost:5000/alpine:3.20",
    ]);
    expect(list.every((ref) => ref.shortName === undefined)).toBe(true);
  });

  test("a multi-component name is used as written on every registry", () => {
    expect(candidates(parseReference("library/alpine"), ["quay.io", "docker.io"]).map(String)).toEqual([
      "quay.io/library/alpine:latest",
      "docker.io/library/alpine:latest",
    ]);
    expect(candidates(parseReference(`myuser/app@${D}`), ["docker.io"]).map(String)).toEqual([`docker.io/myuser/app@${D}`]);
  });

  test("a qualified reference is its own only candidate, whatever the search list", () => {
    const ref = parseReference("ghcr.io/o/r:tag");
    expect(candidates(ref, ["docker.io"])).toEqual([ref]);
    expect(candidates(ref, [])).toEqual([ref]);
    expect(candidates(parseReference("docker.io/alpine"), ["quay.io"]).map(String)).toEqual(["docker.io/library/alpine:latest"]);
  });

  test("index.docker.io is docker.io, and duplicates are dropped", () => {
    expect(candidates(parseReference("alpine"), ["index.docker.io", "docker.io"]).map(String)).toEqual([
      "docker.io/library/alpine:latest",
    ]);
  });

  test("no search registries, or a malformed one, is an actionable error", () => {
    let err: unknown;
    try {
      candidates(parseReference("alpine"), []);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BoxError);
    expect((err as BoxError).code).toBe("E_INVALID_INPUT");
    expect((err as BoxError).message).toBe('cannot resolve short image name "alpine:latest": no search registries are configured');
    expect((err as BoxError).hint).toContain("docker.io/library/alpine");

    expect(() => candidates(parseReference("alpine"), ["https://quay.io"])).toThrow(
      'search registry "https://quay.io" is not a valid registry host[:port]',
    );
  });
});

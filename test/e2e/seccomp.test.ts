/**
 * The seccomp filter against the real kernel, as root and rootless: docker's default profile by
 * default, its capability-tied rules, `seccomp=unconfined`, `--privileged`, and custom profiles.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { box, makeEnv, sh, type BoxEnv } from "../helpers/box.ts";
import { can } from "../helpers/requires.ts";

const status = "grep -E '^Seccomp:' /proc/self/status | tr -d '\\t'";

/** A 64-bit program that makes i386 syscalls (int 0x80): the kernel filters them by the i386
 * audit arch and numbers, as it does a 32-bit binary's. Static and non-PIE, so its strings sit
 * below 4 GiB where 32-bit arguments reach them. */
const I386_PROBE = `#include <stdio.h>
static long i386_call(long nr, long a, long b) {
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b) : "memory");
  return ret;
}
int main(void) {
  static char dir[] = "/tmp/i386dir";
  printf("getpid %ld\\n", i386_call(20, 0, 0));
  printf("mkdir %ld\\n", i386_call(39, (long)dir, 0755));
  printf("unshare %ld\\n", i386_call(310, 0x10000000, 0));
  return 0;
}
`;
const gcc = Bun.which("gcc");

for (const kind of ["root", "rootless"] as const) {
  const unavailable = kind === "rootless" && !can.rootlessUser;
  describe.skipIf(unavailable)(`seccomp (${kind})${unavailable ? " (skipped: no unprivileged test user; run scripts/setup.sh)" : ""}`, () => {
    let env: BoxEnv;
    let scratch: string;
    const profile = (name: string, body: unknown): string => {
      const path = join(scratch, name);
      writeFileSync(path, typeof body === "string" ? body : JSON.stringify(body));
      if (env.user) chownSync(path, env.user.uid, env.user.gid);
      return path;
    };
    beforeAll(async () => {
      env = makeEnv(kind);
      scratch = mkdtempSync(join(tmpdir(), "box-seccomp-"));
      if (env.user) chownSync(scratch, env.user.uid, env.user.gid);
      expect((await box(env, ["pull", "-q", "base"])).code).toBe(0);
    });
    afterAll(() => {
      env.dispose();
      rmSync(scratch, { recursive: true, force: true });
    });

    test("a default container runs under a filter; ordinary programs work", async () => {
      const r = await sh(env, `${status}; ls / >/dev/null && echo ls-ok; wget -q -T 1 http://127.0.0.1:1/ 2>/dev/null || echo wget-refused; ps >/dev/null && echo ps-ok; date +%Y >/dev/null && echo date-ok`);
      expect(r).toEqual({ code: 0, stdout: "Seccomp:2\nls-ok\nwget-refused\nps-ok\ndate-ok\n", stderr: "" });
    });

    test("unshare and mount are refused with EPERM; seccomp=unconfined lets unshare through", async () => {
      const blocked = await sh(env, "unshare -U true; echo unshare=$?; mount -t tmpfs t /mnt; echo mount=$?");
      expect(blocked.stdout).toBe("unshare=1\nmount=1\n");
      expect(blocked.stderr).toContain("unshare(0x10000000): Operation not permitted");
      const free = await sh(env, `${status}; unshare -U true; echo unshare=$?`, ["--security-opt", "seccomp=unconfined"]);
      expect(free).toEqual({ code: 0, stdout: "Seccomp:0\nunshare=0\n", stderr: "" });
    });

    test("--cap-add SYS_ADMIN opens mount as docker's profile does, but not swapon", async () => {
      // busybox's swapon looks at the file first: an empty one reaches the syscall.
      const script = "mount -t tmpfs t /mnt && echo mounted; touch /tmp/swap; swapon /tmp/swap";
      const r = await sh(env, script, ["--cap-add", "SYS_ADMIN"]);
      expect(r.stdout).toBe("mounted\n");
      expect(r.stderr).toBe("swapon: /tmp/swap: Operation not permitted\n");
      // Unconfined, the same swapon reaches the kernel: as root it reads the file and finds no
      // swap signature; in a user namespace the kernel itself wants the host's CAP_SYS_ADMIN.
      const free = await sh(env, script, ["--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined"]);
      expect(free.stderr).toBe(`swapon: /tmp/swap: ${kind === "root" ? "Invalid argument" : "Operation not permitted"}\n`);
    });

    test("--privileged runs unconfined", async () => {
      const r = await sh(env, status, ["--privileged"]);
      expect(r).toEqual({ code: 0, stdout: "Seccomp:0\n", stderr: "" });
    });

    test("with no-new-privileges and a non-root user the filter is still installed", async () => {
      const r = await sh(env, `${status}; grep NoNewPrivs /proc/self/status | tr -d '\\t'; unshare -U true 2>/dev/null || echo refused`, ["--security-opt", "no-new-privileges", "-u", "65534"]);
      expect(r).toEqual({ code: 0, stdout: "Seccomp:2\nNoNewPrivs:1\nrefused\n", stderr: "" });
    });

    test("a custom profile that blocks mkdir makes mkdir fail with the errno it names", async () => {
      const path = profile("nomkdir.json", {
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13 }],
      });
      const r = await sh(env, "mkdir /tmp/x; echo mkdir=$?; touch /tmp/y && echo touch-ok", ["--security-opt", `seccomp=${path}`]);
      expect(r.stdout).toBe("mkdir=1\ntouch-ok\n");
      expect(r.stderr).toContain("Permission denied");
    });

    test("a malformed profile is a one-line error and exit code 125", async () => {
      const unknown = profile("typo.json", { defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdri"], action: "SCMP_ACT_ERRNO" }] });
      const a = await box(env, ["run", "--rm", "--security-opt", `seccomp=${unknown}`, "base", "true"]);
      expect(a.code).toBe(125);
      expect(a.stderr).toContain("unknown syscall `mkdri`");
      expect(a.stderr.trim().split("\n")).toHaveLength(1);
      const notJson = profile("broken.json", "{ defaultAction: ");
      const b = await box(env, ["run", "--rm", "--security-opt", `seccomp=${notJson}`, "base", "true"]);
      expect(b.code).toBe(125);
      expect(b.stderr).toContain("not valid JSON");
      const badAction = profile("action.json", { defaultAction: "SCMP_ACT_SOMETIMES" });
      const c = await box(env, ["run", "--rm", "--security-opt", `seccomp=${badAction}`, "base", "true"]);
      expect(c.code).toBe(125);
      expect(c.stderr).toContain("defaultAction must be one of");
      const missing = await box(env, ["run", "--rm", "--security-opt", "seccomp=/no/such/profile.json", "base", "true"]);
      expect(missing.code).toBe(125);
      expect(missing.stderr).toContain("cannot read `/no/such/profile.json`");
    });

    test("box exec runs under the container's filter", async () => {
      const started = await box(env, ["run", "-d", "base", "sleep", "30"]);
      expect(started.code).toBe(0);
      const id = started.stdout.trim();
      try {
        const r = await box(env, ["exec", id, "sh", "-c", `${status}; unshare -U true 2>/dev/null || echo refused`]);
        expect(r).toEqual({ code: 0, stdout: "Seccomp:2\nrefused\n", stderr: "" });
      } finally {
        await box(env, ["rm", "-f", id]);
      }
    });

    test.skipIf(!gcc)(`32-bit syscalls (int 0x80) get the same rules under i386 numbers${gcc ? "" : " (skipped: no gcc to build the probe)"}`, async () => {
      const src = join(scratch, "i386.c");
      const bin = join(scratch, "i386probe");
      writeFileSync(src, I386_PROBE);
      const cc = Bun.spawnSync([gcc as string, "-static", "-no-pie", "-O1", "-o", bin, src]);
      expect(cc.exitCode).toBe(0);
      const r = await box(env, ["run", "--rm", "-v", `${bin}:/probe:ro`, "base", "/probe"]);
      expect(r).toEqual({ code: 0, stdout: "getpid 1\nmkdir 0\nunshare -1\n", stderr: "" });
      const free = await box(env, ["run", "--rm", "--security-opt", "seccomp=unconfined", "-v", `${bin}:/probe:ro`, "base", "/probe"]);
      expect(free.stdout).toBe("getpid 1\nmkdir 0\nunshare 0\n");
    });

    test("build's RUN steps run under the default filter too (as buildah's do)", async () => {
      const ctx = join(scratch, "ctx");
      mkdirSync(ctx);
      writeFileSync(join(ctx, "Dockerfile"), "FROM base\nRUN grep Seccomp: /proc/self/status | tr -d '\\t' > /seccomp; unshare -U true 2>/dev/null || echo refused >> /seccomp\n");
      if (env.user) for (const p of [ctx, join(ctx, "Dockerfile")]) chownSync(p, env.user.uid, env.user.gid);
      const built = await box(env, ["build", "-q", "-t", "seccomp-probe", ctx]);
      expect(built.code).toBe(0);
      const r = await box(env, ["run", "--rm", "seccomp-probe", "cat", "/seccomp"]);
      expect(r).toEqual({ code: 0, stdout: "Seccomp:2\nrefused\n", stderr: "" });
    });

    test("inspect shows the security options; info names the profile", async () => {
      const created = await box(env, ["create", "--security-opt", "seccomp=unconfined", "base", "true"]);
      expect(created.code).toBe(0);
      const id = created.stdout.trim();
      const r = await box(env, ["inspect", "--format", "{{json .HostConfig.SecurityOpt}}", id]);
      expect(r.stdout.trim()).toBe('["seccomp=unconfined"]');
      await box(env, ["rm", id]);
      const info = await box(env, ["info"]);
      expect(info.stdout).toContain("Security Options:\n seccomp\n  Profile: builtin\n");
    });
  });
}

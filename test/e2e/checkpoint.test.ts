/**
 * `box container checkpoint` and `box container restore` with the real criu. Where criu cannot
 * run on this kernel, the tests that need a working dump say criu's own reason in their name, and
 * the rest prove what the kernel allows: that box reports criu's failure and leaves the container
 * as it was, that the restore path (a monitor running criu with a mounted root filesystem) gets
 * as far as criu and leaves nothing behind, and every refusal and bad archive.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tarBytes, type TarWriterEntry } from "../../core/image/tar-writer.ts";
import { box, makeEnv, type BoxEnv } from "../helpers/box.ts";
import { can } from "../helpers/requires.ts";
import { until } from "../helpers/wait.ts";

/** Whether criu works here, and if not, criu's first error line (what its own check says). */
function criuStatus(): { works: boolean; reason: string } {
  const bin = ["/usr/sbin/criu", "/usr/bin/criu"].find((p) => existsSync(p));
  if (!bin) return { works: false, reason: "criu is not installed (scripts/setup.sh installs it)" };
  if (!can.root) return { works: false, reason: "criu needs root" };
  const r = Bun.spawnSync([bin, "check"]);
  if (r.exitCode === 0) return { works: true, reason: "" };
  const text = r.stderr.toString() + r.stdout.toString();
  const m = /Error \(([^)]*)\): (.*)/.exec(text);
  return { works: false, reason: `criu check fails on this kernel: ${m ? `${m[2]} (${m[1]})` : text.trim().split("\n")[0]}` };
}

const criu = criuStatus();
const needsCriu = criu.works ? "" : ` (skipped: ${criu.reason})`;
const COUNTER = "i=0; while :; do echo $i; i=$((i+1)); sleep 0.1; done";

async function numbers(env: BoxEnv, name: string): Promise<number[]> {
  const r = await box(env, ["logs", name]);
  return r.stdout.split("\n").filter(Boolean).map(Number);
}

async function removeAll(env: BoxEnv): Promise<void> {
  const all = await box(env, ["ps", "-aq", "--no-trunc"]);
  for (const id of all.stdout.split("\n").filter(Boolean)) await box(env, ["rm", "-f", id]);
}

describe.skipIf(!can.root)(`checkpoint and restore (root)${can.root ? "" : " (skipped: needs root)"}`, () => {
  let env: BoxEnv;
  /** A second storage and state root: where exported checkpoints are imported. */
  let other: BoxEnv;
  beforeAll(async () => {
    env = makeEnv("root");
    other = makeEnv("root");
    expect((await box(env, ["pull", "-q", "base"])).code).toBe(0);
    expect((await box(other, ["pull", "-q", "base"])).code).toBe(0);
  });
  afterAll(async () => {
    await removeAll(env);
    await removeAll(other);
    env.dispose();
    other.dispose();
  });

  /** A well-formed archive around a real container configuration, with the given CRIU images. */
  async function craftedArchive(extra: {
    entries?: TarWriterEntry[];
    omit?: string[];
    images?: TarWriterEntry[];
    config?: Record<string, unknown>;
    layerIds?: string[];
  } = {}): Promise<string> {
    const created = await box(env, ["create", "--network", "none", "base", "sh", "-c", COUNTER]);
    expect(created.code).toBe(0);
    const id = created.stdout.trim();
    const stored = JSON.parse(readFileSync(join(env.root, "containers", id, "config.json"), "utf8")) as { layers: string[] };
    await box(env, ["rm", id]);
    const config = JSON.stringify({ ...stored, ...extra.config });
    const layers = extra.layerIds ?? stored.layers.map((l) => l.split("/").slice(-2, -1)[0]);
    const manifest = {
      format: 1, created: new Date().toISOString(), descriptors: ["/dev/null", "pipe:[1]", "pipe:[2]"],
      externalMounts: ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"],
      etc: { hostname: "restored\n", hosts: "127.0.0.1 localhost\n", resolvConf: "" }, layerIds: layers, tcpEstablished: false,
    };
    const diff = await tarBytes([{ name: "state.txt", type: "file", body: "written before checkpoint\n" }]);
    const standard: TarWriterEntry[] = [
      { name: "checkpoint.json", type: "file", body: JSON.stringify(manifest) },
      { name: "config.dump", type: "file", body: config },
      { name: "checkpoint", type: "directory" },
      ...(extra.images ?? [{ name: "checkpoint/inventory.img", type: "file", body: "not a criu image" }]),
      { name: "rootfs-diff.tar", type: "file", body: diff },
    ];
    const entries = [...standard.filter((e) => !(extra.omit ?? []).includes(e.name)), ...(extra.entries ?? [])];
    const file = join(env.root, `crafted-${Math.random().toString(16).slice(2)}.tar.gz`);
    writeFileSync(file, Bun.gzipSync(await tarBytes(entries)));
    return file;
  }

  /** The import root holds no container, name, layer or log it did not hold before. */
  async function expectNothingIn(e: BoxEnv): Promise<void> {
    expect((await box(e, ["ps", "-aq"])).stdout).toBe("");
    expect(readdirSync(join(e.root, "containers")).filter((n) => /^[0-9a-f]{64}$/.test(n))).toEqual([]);
    expect(existsSync(join(e.root, "names")) ? readdirSync(join(e.root, "names")) : []).toEqual([]);
  }

  test.skipIf(!criu.works)(`a counter checkpointed with --export continues counting in a second storage root, its files with it${needsCriu}`, async () => {
    const run = await box(env, ["run", "-d", "--name", "counter", "--network", "none", "base", "sh", "-c", `echo kept > /state.txt; ${COUNTER}`]);
    expect(run.code).toBe(0);
    expect(await until(async () => (await numbers(env, "counter")).length >= 5)).toBe(true);
    const file = join(env.root, "counter.tar.gz");
    const cp = await box(env, ["container", "checkpoint", "--export", file, "counter"]);
    expect(cp.stderr).toBe("");
    expect(cp.code).toBe(0);
    expect(cp.stdout).toBe("counter\n");
    expect((await box(env, ["inspect", "--format", "{{.State.Status}}", "counter"])).stdout).toBe("exited\n");
    const before = await numbers(env, "counter");
    const last = before[before.length - 1] as number;
    expect(before).toEqual([...Array(before.length).keys()]);

    const restored = await box(other, ["container", "restore", "--import", file]);
    expect(restored.stderr).toBe("");
    expect(restored.code).toBe(0);
    expect(restored.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect(await until(async () => (await numbers(other, "counter")).length >= 3)).toBe(true);
    const after = await numbers(other, "counter");
    // The sequence goes on from where it was, not from 0.
    expect(after[0]).toBe(last + 1);
    expect(after).toEqual(after.map((_, i) => last + 1 + i));
    expect((await box(other, ["exec", "counter", "cat", "/state.txt"])).stdout).toBe("kept\n");
    expect((await box(other, ["ps", "--format", "{{.Names}} {{.State}}"])).stdout).toBe("counter running\n");
    expect((await box(other, ["stop", "-t", "1", "counter"])).code).toBe(0);
    expect((await box(other, ["inspect", "--format", "{{.State.Status}}", "counter"])).stdout).toBe("exited\n");
    expect((await box(other, ["rm", "counter"])).code).toBe(0);
    await box(env, ["rm", "-f", "counter"]);
  }, 60000);

  test.skipIf(!criu.works)(`a TCP server on loopback answers again after a checkpoint and a restore in place${needsCriu}`, async () => {
    const script = "mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www";
    expect((await box(env, ["run", "-d", "--name", "web", "--network", "none", "base", "sh", "-c", script])).code).toBe(0);
    const get = () => box(env, ["exec", "web", "wget", "-qO-", "http://127.0.0.1:8080/"]);
    expect(await until(async () => (await get()).stdout === "hello\n")).toBe(true);
    expect((await box(env, ["container", "checkpoint", "web"])).code).toBe(0);
    expect((await box(env, ["inspect", "--format", "{{.State.Status}}", "web"])).stdout).toBe("exited\n");
    const restored = await box(env, ["container", "restore", "web"]);
    expect(restored.stderr).toBe("");
    expect(restored.code).toBe(0);
    expect((await get()).stdout).toBe("hello\n");
    // The restored tree is the monitor's child: a kill is seen, recorded and waited for.
    const waiter = box(env, ["wait", "web"]);
    expect((await box(env, ["kill", "web"])).code).toBe(0);
    expect((await waiter).stdout).toBe("137\n");
    expect((await box(env, ["rm", "web"])).code).toBe(0);
  }, 60000);

  test.skipIf(!criu.works)(`checkpoint -R leaves the container running${needsCriu}`, async () => {
    expect((await box(env, ["run", "-d", "--name", "stays", "--network", "none", "base", "sh", "-c", COUNTER])).code).toBe(0);
    expect((await box(env, ["container", "checkpoint", "-R", "stays"])).code).toBe(0);
    const n = (await numbers(env, "stays")).length;
    expect(await until(async () => (await numbers(env, "stays")).length > n)).toBe(true);
    expect((await box(env, ["rm", "-f", "stays"])).code).toBe(0);
  }, 30000);

  test.skipIf(criu.works)(`where criu cannot dump, checkpoint names criu's error, exits 125 and the container runs on${criu.works ? " (skipped: criu works here)" : ""}`, async () => {
    expect((await box(env, ["run", "-d", "--name", "survivor", "--network", "none", "base", "sh", "-c", COUNTER])).code).toBe(0);
    const r = await box(env, ["container", "checkpoint", "--export", join(env.root, "never.tar"), "survivor"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/^box: criu dump failed: .+ \(criu\/[^)]+\); criu's full log is \/\S+\/checkpoint\/dump\.log\n$/);
    const log = /log is (\S+)\n/.exec(r.stderr)?.[1] as string;
    expect(readFileSync(log, "utf8")).toContain("Error (");
    expect(existsSync(join(env.root, "never.tar"))).toBe(false);
    expect((await box(env, ["ps", "--format", "{{.Names}} {{.State}}"])).stdout).toContain("survivor running\n");
    const n = (await numbers(env, "survivor")).length;
    expect(await until(async () => (await numbers(env, "survivor")).length > n)).toBe(true);
    // Not marked as checkpointed: there is nothing to restore.
    const restore = await box(env, ["container", "restore", "survivor"]);
    expect(restore.code).toBe(125);
    expect(restore.stderr).toBe("box: cannot restore container survivor: container is running; stop it first, or checkpoint it\n");
    expect((await box(env, ["rm", "-f", "survivor"])).code).toBe(0);
  }, 30000);

  test("an imported archive reaches criu restore under the container's monitor; criu's refusal is named and nothing is left behind", async () => {
    const file = await craftedArchive();
    const r = await box(other, ["container", "restore", "--import", file]);
    expect(r.code).toBe(125);
    // Here criu fails for the kernel's sake or, where it works, for the images': either way its own words.
    expect(r.stderr).toMatch(/^box: criu restore failed: .+ \(criu\/[^)]+\); criu's full log is \/\S+\/restore-[0-9a-f]{12}\.log\n$/);
    const log = /log is (\S+)\n/.exec(r.stderr)?.[1] as string;
    expect(readFileSync(log, "utf8")).toContain("Error (");
    await expectNothingIn(other);
  }, 30000);

  test("checkpoint refuses a stopped or missing container with exit 125", async () => {
    expect((await box(env, ["run", "--name", "done", "--network", "none", "base", "true"])).code).toBe(0);
    const stopped = await box(env, ["container", "checkpoint", "done"]);
    expect(stopped.code).toBe(125);
    expect(stopped.stderr).toBe("box: cannot checkpoint container done: container is not running; only a running container can be checkpointed\n");
    const missing = await box(env, ["container", "checkpoint", "nosuch"]);
    expect(missing.code).toBe(125);
    expect(missing.stderr).toBe("box: no such container: nosuch; see 'box ps -a' for the containers that exist\n");
    const none = await box(env, ["container", "checkpoint"]);
    expect(none.code).toBe(125);
    expect(none.stderr).toStartWith('box: "box container checkpoint" requires at least 1 argument');
    await box(env, ["rm", "done"]);
  });

  test("checkpoint --export into a missing directory is refused before criu runs; the container runs on", async () => {
    expect((await box(env, ["run", "-d", "--name", "typo", "--network", "none", "base", "sh", "-c", COUNTER])).code).toBe(0);
    const r = await box(env, ["container", "checkpoint", "-e", "/nonexistent-dir/c.tar", "typo"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe("box: --export: directory `/nonexistent-dir` does not exist; create it first, or export to another path\n");
    expect((await box(env, ["ps", "--format", "{{.Names}} {{.State}}"])).stdout).toContain("typo running\n");
    expect((await box(env, ["rm", "-f", "typo"])).code).toBe(0);
  });

  test("checkpoint refuses what it cannot carry: a terminal, --rm, a paused container", async () => {
    expect((await box(env, ["run", "-d", "-t", "--name", "tty", "--network", "none", "base", "sleep", "60"])).code).toBe(0);
    const tty = await box(env, ["container", "checkpoint", "tty"]);
    expect(tty.code).toBe(125);
    expect(tty.stderr).toBe("box: cannot checkpoint container tty: it has a terminal (-t); checkpoint works for containers run without -t\n");
    expect((await box(env, ["run", "-d", "--rm", "--name", "gone", "--network", "none", "base", "sleep", "60"])).code).toBe(0);
    const rm = await box(env, ["container", "checkpoint", "gone"]);
    expect(rm.code).toBe(125);
    expect(rm.stderr).toStartWith("box: cannot checkpoint container gone: it was started with --rm;");
    expect((await box(env, ["run", "-d", "--name", "frozen", "--network", "none", "base", "sleep", "60"])).code).toBe(0);
    expect((await box(env, ["pause", "frozen"])).code).toBe(0);
    const paused = await box(env, ["container", "checkpoint", "frozen"]);
    expect(paused.code).toBe(125);
    expect(paused.stderr).toBe("box: cannot checkpoint container frozen: container is paused; unpause it first with box unpause frozen\n");
    const many = await box(env, ["container", "checkpoint", "-e", "x.tar", "tty", "frozen"]);
    expect(many.code).toBe(125);
    expect(many.stderr).toStartWith("box: --export can only be used with one container");
    expect((await box(env, ["unpause", "frozen"])).code).toBe(0);
    for (const n of ["tty", "gone", "frozen"]) await box(env, ["rm", "-f", n]);
  }, 30000);

  test("restore refuses a container without a checkpoint, a running one, and --name without --import", async () => {
    expect((await box(env, ["create", "--name", "plain", "--network", "none", "base", "true"])).code).toBe(0);
    const r = await box(env, ["container", "restore", "plain"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe("box: cannot restore container plain: it has no checkpoint; checkpoint it first with box container checkpoint plain\n");
    const named = await box(env, ["container", "restore", "--name", "x", "plain"]);
    expect(named.code).toBe(125);
    expect(named.stderr).toBe("box: --name can only be used with --import; a container restored in place keeps its name\n");
    const nothing = await box(env, ["container", "restore"]);
    expect(nothing.code).toBe(125);
    expect(nothing.stderr).toStartWith('box: "box container restore" requires at least 1 argument, or --import FILE');
    await box(env, ["rm", "plain"]);
  });

  test("restore --import of a missing, corrupt, truncated, escaping or incomplete archive fails clearly and creates nothing", async () => {
    const missing = await box(other, ["container", "restore", "-i", join(other.root, "nope.tar")]);
    expect(missing.code).toBe(125);
    expect(missing.stderr).toBe(`box: checkpoint archive \`${join(other.root, "nope.tar")}\` does not exist; give the file written by box container checkpoint --export\n`);

    const garbage = join(other.root, "garbage.tar");
    writeFileSync(garbage, "this is not a tar archive at all".repeat(40));
    const corrupt = await box(other, ["container", "restore", "-i", garbage]);
    expect(corrupt.code).toBe(125);
    expect(corrupt.stderr).toStartWith(`box: checkpoint archive \`${garbage}\` is damaged: `);

    const good = readFileSync(await craftedArchive());
    const truncated = join(other.root, "truncated.tar.gz");
    writeFileSync(truncated, good.subarray(0, Math.floor(good.length / 2)));
    const cut = await box(other, ["container", "restore", "-i", truncated]);
    expect(cut.code).toBe(125);
    expect(cut.stderr).toStartWith(`box: checkpoint archive \`${truncated}\` is damaged: `);

    const escaping = await craftedArchive({ images: [{ name: "checkpoint/../../evil", type: "file", body: "x" }] });
    const esc = await box(other, ["container", "restore", "-i", escaping]);
    expect(esc.code).toBe(125);
    expect(esc.stderr).toBe(`box: checkpoint archive \`${escaping}\` holds an unexpected entry \`checkpoint/../../evil\`; only archives written by box container checkpoint --export can be restored\n`);
    expect(existsSync(join(other.root, "..", "evil"))).toBe(false);

    const linked = await craftedArchive({ entries: [{ name: "checkpoint/link.img", type: "symlink", linkname: "/etc/passwd" }] });
    const link = await box(other, ["container", "restore", "-i", linked]);
    expect(link.code).toBe(125);
    expect(link.stderr).toContain("holds an unexpected entry `checkpoint/link.img`");

    const incomplete = await craftedArchive({ omit: ["checkpoint.json", "rootfs-diff.tar"] });
    const inc = await box(other, ["container", "restore", "-i", incomplete]);
    expect(inc.code).toBe(125);
    expect(inc.stderr).toBe(`box: checkpoint archive \`${incomplete}\` is incomplete: it has no checkpoint.json, rootfs-diff.tar; only archives written by box container checkpoint --export can be restored\n`);

    const badConfig = await craftedArchive({ omit: ["config.dump"], entries: [{ name: "config.dump", type: "file", body: JSON.stringify({ id: "x" }) }] });
    const bad = await box(other, ["container", "restore", "-i", badConfig]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toStartWith(`box: checkpoint archive \`${badConfig}\`: config.dump is invalid: `);
    await expectNothingIn(other);
  }, 30000);

  test("restore --import refuses an archive whose image this store lacks or holds in another version", async () => {
    const absent = await craftedArchive({ config: { image: "localhost/absent:1" } });
    const r = await box(other, ["container", "restore", "-i", absent]);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe("box: cannot restore: the checkpoint's image `localhost/absent:1` is not in this store; pull or load localhost/absent:1 first\n");
    const differs = await craftedArchive({ layerIds: ["0".repeat(64)] });
    const d = await box(other, ["container", "restore", "-i", differs]);
    expect(d.code).toBe(125);
    expect(d.stderr).toStartWith("box: cannot restore: image `base` in this store is not the image the container was checkpointed from;");
    await expectNothingIn(other);
  }, 30000);
});

const rootlessUnavailable = !can.rootlessUser;
describe.skipIf(rootlessUnavailable)(`checkpoint and restore (rootless)${rootlessUnavailable ? " (skipped: no unprivileged test user; run scripts/setup.sh)" : ""}`, () => {
  let env: BoxEnv;
  beforeAll(async () => {
    env = makeEnv("rootless");
    expect((await box(env, ["pull", "-q", "base"])).code).toBe(0);
  });
  afterAll(async () => {
    await removeAll(env);
    env.dispose();
  });

  test("checkpoint and restore say they require root, with exit 125", async () => {
    expect((await box(env, ["run", "-d", "--name", "mine", "--network", "none", "base", "sleep", "60"])).code).toBe(0);
    const cp = await box(env, ["container", "checkpoint", "mine"]);
    expect(cp.code).toBe(125);
    expect(cp.stderr).toBe("box: checkpoint requires root; CRIU needs CAP_SYS_ADMIN: run box as root to checkpoint and restore containers\n");
    const rs = await box(env, ["container", "restore", "-i", "/nonexistent.tar"]);
    expect(rs.code).toBe(125);
    expect(rs.stderr).toBe("box: restore requires root; CRIU needs CAP_SYS_ADMIN: run box as root to checkpoint and restore containers\n");
    expect((await box(env, ["ps", "--format", "{{.Names}} {{.State}}"])).stdout).toBe("mine running\n");
  }, 30000);
});


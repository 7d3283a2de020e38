/**
 * The reference registry (Debian's docker-registry, i.e. distribution 2.8) on 127.0.0.1 with
 * filesystem storage in a temporary directory, optionally behind htpasswd Basic auth. Tests talk
 * to it over loopback only and never pull from the internet.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const REGISTRY_BINARY = "/usr/bin/docker-registry";
export const hasRegistryBinary = existsSync(REGISTRY_BINARY);

export interface RunningRegistry {
  /** "http://127.0.0.1:PORT" */
  readonly url: string;
  /** "127.0.0.1:PORT", the registry as image references name it. */
  readonly host: string;
  stop(): Promise<void>;
}

export interface StartRegistryOptions {
  readonly auth?: { readonly user: string; readonly password: string };
}

const READY_TIMEOUT_MS = 15_000;
/** Another process may take the port between our probe and the registry's bind: try a fresh one. */
const START_ATTEMPTS = 3;

function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

function configYaml(dir: string, port: number, htpasswd: string | undefined): string {
  // JSON strings are valid YAML scalars, which saves quoting rules for the paths.
  const lines = [
    "version: 0.1",
    "log:",
    "  level: error",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${JSON.stringify(join(dir, "data"))}`,
    "  delete:",
    "    enabled: true",
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    "  secret: box-test-only-secret",
  ];
  if (htpasswd !== undefined) {
    lines.push("auth:", "  htpasswd:", "    realm: box-test", `    path: ${JSON.stringify(htpasswd)}`);
  }
  return `${lines.join("\n")}\n`;
}

async function waitUntilReady(url: string, proc: Bun.Subprocess, logPath: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) {
      const log = await readFile(logPath, "utf8").catch(() => "");
      throw new Error(`docker-registry exited with status ${proc.exitCode} before answering /v2/:\n${log}`);
    }
    try {
      const res = await fetch(`${url}/v2/`);
      await res.body?.cancel();
      if (res.status === 200 || res.status === 401) return;
    } catch {
      // Not listening yet.
    }
    await Bun.sleep(50);
  }
  throw new Error(`docker-registry did not answer ${url}/v2/ within ${READY_TIMEOUT_MS} ms`);
}

export async function startRegistry(options: StartRegistryOptions = {}): Promise<RunningRegistry> {
  const dir = await mkdtemp(join(tmpdir(), "box-registry-"));
  let htpasswd: string | undefined;
  if (options.auth !== undefined) {
    htpasswd = join(dir, "htpasswd");
    // distribution only accepts bcrypt entries in htpasswd files.
    const hash = await Bun.password.hash(options.auth.password, { algorithm: "bcrypt" });
    await writeFile(htpasswd, `${options.auth.user}:${hash}\n`, { mode: 0o600 });
  }
  const logPath = join(dir, "registry.log");
  let lastError: unknown;
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const port = freePort();
    const configPath = join(dir, "config.yml");
    await writeFile(configPath, configYaml(dir, port, htpasswd));
    const proc = Bun.spawn([REGISTRY_BINARY, "serve", configPath], {
      // A clean environment: REGISTRY_* variables would override the config file.
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir },
      stdin: "ignore",
      stdout: Bun.file(logPath),
      stderr: Bun.file(logPath),
    });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitUntilReady(url, proc, logPath);
    } catch (err) {
      lastError = err;
      proc.kill("SIGKILL");
      await proc.exited;
      continue;
    }
    return {
      url,
      host: `127.0.0.1:${port}`,
      async stop() {
        proc.kill("SIGTERM");
        await proc.exited;
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

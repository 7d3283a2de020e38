/**
 * The network of a container, set up while the shim holds its first process between clone and
 * exec (a PreStartHook): the namespace exists, nothing in it runs yet. Returns the undo for a
 * foreground container; a detached one is torn down by cleanupContainer and removeContainer.
 */
import { join } from "node:path";
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import { parseAddHost } from "../runtime/etc.ts";
import { parseNetworkChoice, type NetworkChoice, type RunOptions } from "../runtime/options.ts";
import type { PreStartHook } from "../runtime/run.ts";
import { attachContainer, detachContainer } from "./attach.ts";
import { loadContainer, processStartTime, type ContainerRecord } from "../state/containers.ts";
import { readContainerNetwork, writeContainerNetwork } from "./pool.ts";
import { allocatePorts, parseExpose, parsePublish, type PortRequest } from "./ports.ts";
import { proxyPorts, startProxy, stopProxy } from "./proxy.ts";
import { rootlessDefault, rootlessFallback, startPasta, startSlirp4netns, stopHelper } from "./rootless.ts";
import { DEFAULT_NETWORK, findNetwork } from "./store.ts";

export function networkFileOf(stateDir: string): string {
  return join(stateDir, "network.json");
}

/** The network a container gets once `default` is resolved for this user. */
export function resolveChoice(mode: string, rootless: boolean): Exclude<NetworkChoice, { kind: "default" }> {
  const c = parseNetworkChoice(mode);
  if (c.kind !== "default") return c;
  if (!rootless) return { kind: "bridge", name: DEFAULT_NETWORK };
  return { kind: rootlessDefault() };
}

/** -p, and with -P every port the image EXPOSEs and --expose adds (docker's union). */
export function portRequests(opts: Pick<RunOptions, "publish" | "publishAll" | "expose">, imageExposed: string[] = []): PortRequest[] {
  const reqs = (opts.publish ?? []).flatMap(parsePublish);
  if (opts.publishAll) {
    // An image may EXPOSE sctp, which box cannot publish: such entries are left out.
    const fromImage = imageExposed.filter((e) => /^\d+(-\d+)?(\/(tcp|udp))?$/i.test(e)).map((e) => e.toLowerCase());
    for (const e of [...fromImage, ...(opts.expose ?? [])].flatMap(parseExpose)) {
      if (!reqs.some((r) => r.containerPort === e.containerPort && r.proto === e.proto)) reqs.push(e);
    }
  }
  return reqs;
}

/** The hooks a container's network needs: none for none and host. */
export function networkHooks(paths: BoxPaths, opts: RunOptions): PreStartHook[] {
  const choice = resolveChoice(opts.network, paths.rootless);
  // Parsed now so a bad -p fails before anything starts; the image's EXPOSE joins in the hook.
  portRequests(opts);
  const portsOf = (record: ContainerRecord) => portRequests(opts, record.config.imageConfig.exposedPorts);
  // container:X joins a namespace someone else set up (share.ts): nothing to do here.
  if (choice.kind === "none" || choice.kind === "host" || choice.kind === "container") return [];
  if (choice.kind === "pasta" || choice.kind === "slirp4netns") {
    const isDefault = parseNetworkChoice(opts.network).kind === "default";
    return [async ({ pid, record }) => {
      const mapped = await allocatePorts(portsOf(record), []);
      const pidFile = join(record.dirs.state, "pasta.pid");
      // A socket path must fit in 108 bytes, which a state root's may not.
      const slirpSocket = join(process.env.TMPDIR || "/tmp", `box-slirp-${record.config.id.slice(0, 16)}.sock`);
      let mode: string = choice.kind;
      let helper: number;
      try {
        helper = choice.kind === "pasta" ? await startPasta(pid, mapped, pidFile) : await startSlirp4netns(pid, mapped, slirpSocket);
      } catch (e) {
        // The default falls back to slirp4netns when pasta cannot run (pasta refuses a host
        // without an interface holding a default route); an explicit --network pasta fails.
        if (!isDefault || choice.kind !== "pasta" || rootlessFallback() === undefined) throw e;
        helper = await startSlirp4netns(pid, mapped, slirpSocket);
        mode = "slirp4netns";
      }
      const startTime = processStartTime(helper);
      let proxy: { pid: number; startTime?: string } | undefined;
      // pasta listens on [::] itself; slirp4netns only on IPv4, so the IPv6 side ([::] for a
      // port on every address, [::1]) goes through box's proxy to the port slirp4netns holds on
      // 127.0.0.1 (slirpForward refuses any other IPv6 address).
      const v6 = mode === "slirp4netns" ? proxyPorts(mapped, false) : [];
      if (v6.length > 0) {
        try {
          const ctrStart = processStartTime(pid);
          const proxyPid = await startProxy({ pid, ...(ctrStart ? { startTime: ctrStart } : {}), target: "127.0.0.1", ports: v6.map((p) => ({ ...p, containerPort: p.hostPort })) });
          const proxyStart = processStartTime(proxyPid);
          proxy = { pid: proxyPid, ...(proxyStart ? { startTime: proxyStart } : {}) };
        } catch (e) {
          stopHelper(helper, startTime);
          throw e;
        }
      }
      writeContainerNetwork(networkFileOf(record.dirs.state), { mode, helper: { pid: helper, ...(startTime ? { startTime } : {}) }, ...(proxy ? { proxy } : {}), attachments: [], ports: mapped });
      return () => {
        stopHelper(helper, startTime);
        if (proxy) stopProxy(proxy.pid, proxy.startTime);
      };
    }];
  }
  if (paths.rootless) {
    throw new BoxError("E_UNSUPPORTED", `--network ${choice.name}: bridge networks need root`, { hint: "rootless containers use --network pasta (the default), slirp4netns or none" });
  }
  const network = findNetwork(paths, choice.name);
  return [async ({ pid, record, spec }) => {
    const id = record.config.id;
    await attachContainer(paths, {
      id, name: record.config.name, hostname: spec.hostname, hostsPath: record.dirs.hosts, networkFile: networkFileOf(record.dirs.state),
      extraHosts: (opts.addHosts ?? []).map(parseAddHost), pid,
    }, { network, ifname: "eth0", ports: portsOf(record), ...(opts.ip ? { ip: opts.ip } : {}), ...(opts.ip6 ? { ip6: opts.ip6 } : {}) });
    return async () => {
      await detachContainer(paths, id);
    };
  }];
}

/** Network teardown for a container that is gone (detached exit, rm). */
export async function teardownNetwork(paths: BoxPaths, id: string): Promise<void> {
  const r = loadContainer(paths, id);
  if (r) {
    const n = readContainerNetwork(networkFileOf(r.dirs.state));
    if (n?.helper) stopHelper(n.helper.pid, n.helper.startTime);
    if (n?.proxy) stopProxy(n.proxy.pid, n.proxy.startTime);
  }
  await detachContainer(paths, id);
}

/**
 * --network container:<name|id>: a container that lives in another one's network namespace, as
 * docker's does. The shim joins that namespace (the `join` it uses for exec) instead of making
 * one, so the two share interfaces, addresses, loopback and published ports; the newcomer gets
 * the target's /etc/hosts, /etc/resolv.conf and hostname, and the flags that would configure a
 * network of its own are refused, with docker's wording.
 */
import { readFileSync } from "node:fs";
import { CLONE_NEWNET, CLONE_NEWUSER } from "../../ffi/constants.ts";
import type { ShimPlan } from "../../ffi/shim-protocol.ts";
import { BoxError } from "../errors.ts";
import type { BoxPaths } from "../paths.ts";
import { parseNetworkChoice, type RunOptions } from "../runtime/options.ts";
import { findContainer, isProcessState } from "../state/containers.ts";

export interface SharedNetwork {
  /** The target's first process: its /proc/PID/ns/net is joined. */
  pid: number;
  name: string;
  hostname: string;
  hosts: string;
  resolvConf: string;
}

function refuseConflicts(opts: RunOptions): void {
  const conflicts: [boolean, string][] = [
    [opts.hostname !== undefined, "hostname"],
    [opts.dns.length > 0, "dns"],
    [(opts.addHosts ?? []).length > 0, "custom host-to-IP mapping"],
    [(opts.publish ?? []).length > 0 || opts.publishAll === true, "port publishing"],
    [opts.ip !== undefined || opts.ip6 !== undefined, "ip"],
  ];
  const hit = conflicts.find(([on]) => on);
  if (hit) {
    throw new BoxError("E_INVALID_INPUT", `conflicting options: ${hit[1]} and the network mode`, {
      hint: `--network ${opts.network} shares that container's network: set it there, or leave it out here`,
    });
  }
}

/** What joining the network of the container `--network container:X` names needs; undefined for other modes. */
export function sharedNetworkOf(paths: BoxPaths, opts: RunOptions): SharedNetwork | undefined {
  const choice = parseNetworkChoice(opts.network);
  if (choice.kind !== "container") return undefined;
  refuseConflicts(opts);
  const target = findContainer(paths, choice.ref);
  const s = target.state;
  if ((s.status !== "running" && s.status !== "paused") || s.pid === undefined || !isProcessState(s.pid, s.pidStartTime)) {
    throw new BoxError("E_BAD_STATE", `cannot join the network of container ${target.config.name}: it is not running`, {
      hint: `start it first with box start ${target.config.name}`,
    });
  }
  let hostname: string;
  try {
    hostname = readFileSync(target.dirs.hostname, "utf8").trim();
  } catch {
    hostname = target.config.id.slice(0, 12);
  }
  return { pid: s.pid, name: target.config.name, hostname, hosts: target.dirs.hosts, resolvConf: target.dirs.resolvConf };
}

/**
 * Make the plan join the target's network namespace instead of creating one. Rootless, the
 * target's network namespace belongs to its user namespace, where the new container has no
 * capabilities unless it joins that user namespace too (which already holds the id maps).
 */
export function joinSharedNetwork(plan: ShimPlan, shared: SharedNetwork, rootless: boolean): void {
  const h = plan.header;
  h.cloneFlags &= ~CLONE_NEWNET;
  const namespaces = ["net"];
  if (rootless) {
    h.cloneFlags &= ~CLONE_NEWUSER;
    delete h.uidMap;
    delete h.gidMap;
    delete h.setgroups;
    delete h.newuidmap;
    delete h.newgidmap;
    namespaces.unshift("user");
  }
  h.join = { pid: shared.pid, namespaces };
  // The target brought its loopback up already.
  plan.ops = plan.ops.filter((o) => o.op !== "lo");
}

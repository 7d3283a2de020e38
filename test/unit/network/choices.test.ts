/** What --network, -p/-P/--expose and container:X turn into, without the kernel. */
import { expect, test } from "bun:test";
import { CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER } from "../../../ffi/constants.ts";
import type { ShimPlan } from "../../../ffi/shim-protocol.ts";
import { portRequests } from "../../../core/network/hook.ts";
import { joinSharedNetwork } from "../../../core/network/share.ts";
import { parseNetworkChoice } from "../../../core/runtime/options.ts";

test("--network container:NAME|ID is a choice of its own; an empty target is refused", () => {
  expect(parseNetworkChoice("container:web")).toEqual({ kind: "container", ref: "web" });
  expect(parseNetworkChoice("container:3f2a")).toEqual({ kind: "container", ref: "3f2a" });
  expect(() => parseNetworkChoice("container:")).toThrow("--network container: needs a container");
  expect(() => parseNetworkChoice("bad/name")).toThrow("unsupported network mode `bad/name`");
});

test("-P publishes the image's EXPOSE and --expose (without duplicates, sctp left out); without -P neither", () => {
  const image = ["8080/tcp", "53/udp", "9/sctp", "7070"];
  const keys = (opts: Parameters<typeof portRequests>[0]) => portRequests(opts, image).map((r) => `${r.hostPort}:${r.containerPort}/${r.proto}`);
  expect(keys({ publish: ["18080:8080"], publishAll: true, expose: ["7070", "9000-9001/udp"] }))
    .toEqual(["18080:8080/tcp", "0:53/udp", "0:7070/tcp", "0:9000/udp", "0:9001/udp"]);
  expect(keys({ publish: ["18080:8080"], publishAll: false, expose: ["7070"] })).toEqual(["18080:8080/tcp"]);
});

function plan(userns: boolean): ShimPlan {
  return {
    header: {
      cloneFlags: CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | (userns ? CLONE_NEWUSER : 0), cgroupns: true, stdinNull: true, ownProcessGroup: true, init: false,
      ...(userns ? { newuidmap: "0 1001 1", newgidmap: "0 1001 1" } : {}),
    },
    ops: [{ op: "lo" }, { op: "hostname", name: "x" }],
  };
}

test("joining another container's network: no new network namespace, no loopback setup; rootless joins its user namespace, maps and all", () => {
  const shared = { pid: 4242, name: "web", hostname: "web", hosts: "/h", resolvConf: "/r" };
  const root = plan(false);
  joinSharedNetwork(root, shared, false);
  expect(root.header.cloneFlags).toBe(CLONE_NEWNS | CLONE_NEWPID);
  expect(root.header.join).toEqual({ pid: 4242, namespaces: ["net"] });
  expect(root.ops).toEqual([{ op: "hostname", name: "x" }]);
  const rootless = plan(true);
  joinSharedNetwork(rootless, shared, true);
  expect(rootless.header.cloneFlags).toBe(CLONE_NEWNS | CLONE_NEWPID);
  expect(rootless.header.join).toEqual({ pid: 4242, namespaces: ["user", "net"] });
  expect(rootless.header.newuidmap).toBeUndefined();
  expect(rootless.header.newgidmap).toBeUndefined();
});

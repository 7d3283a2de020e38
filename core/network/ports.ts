/**
 * Published ports: docker's `-p [ip:][hostPort]:containerPort[/proto]` grammar (ranges too),
 * `-P` for the exposed ports, and the choice of host ports: never one another container holds,
 * never one a process on the host is listening on (a bind probe), random ones from the
 * ephemeral range when none is given.
 */
import { BoxError } from "../errors.ts";
import { formatAddress, parseAddress } from "./ip.ts";
import type { PortMapping } from "./pool.ts";

export interface PortRequest {
  hostIp: string;
  /** 0: any free port. */
  hostPort: number;
  containerPort: number;
  proto: "tcp" | "udp";
}

function bad(spec: string, why: string): BoxError {
  return new BoxError("E_INVALID_INPUT", `-p ${spec}: ${why}`, { hint: "use -p [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp], e.g. -p 8080:80 or -p 127.0.0.1:8080:80/udp" });
}

function range(text: string, spec: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) throw bad(spec, `invalid port \`${text}\``);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (a < 1 || b > 65535 || b < a) throw bad(spec, `port \`${text}\` is out of range 1-65535`);
  return [a, b];
}

export function parsePublish(spec: string): PortRequest[] {
  let rest = spec;
  let proto: "tcp" | "udp" = "tcp";
  const slash = rest.lastIndexOf("/");
  if (slash >= 0) {
    const p = rest.slice(slash + 1).toLowerCase();
    if (p !== "tcp" && p !== "udp") throw bad(spec, `unsupported protocol \`${p}\``);
    proto = p;
    rest = rest.slice(0, slash);
  }
  let hostIp = "";
  // An IPv6 host address is bracketed: [::1]:8080:80.
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  if (v6) {
    hostIp = v6[1] as string;
    rest = v6[2] as string;
    rest = rest.includes(":") ? rest : `:${rest}`;
  }
  const parts = rest.split(":");
  if (parts.length > 3) throw bad(spec, "too many colons");
  if (parts.length === 3) {
    hostIp = parts[0] as string;
    parts.shift();
  }
  if (hostIp !== "") {
    const a = parseAddress(hostIp);
    if (!a) throw bad(spec, `invalid host IP \`${hostIp}\``);
    hostIp = formatAddress(a);
    if (hostIp === "0.0.0.0" || hostIp === "::") hostIp = "";
  }
  const [hostText, ctrText] = parts.length === 2 ? [parts[0] as string, parts[1] as string] : ["", parts[0] as string];
  const [c0, c1] = range(ctrText, spec);
  const [h0, h1] = hostText === "" ? [0, 0] : range(hostText, spec);
  if (hostText !== "" && h1 - h0 !== c1 - c0) throw bad(spec, "host and container port ranges differ in size");
  const out: PortRequest[] = [];
  for (let i = 0; i <= c1 - c0; i++) out.push({ hostIp, hostPort: hostText === "" ? 0 : h0 + i, containerPort: c0 + i, proto });
  return out;
}

/** `--expose 80[/tcp]` and ranges: the ports -P publishes. */
export function parseExpose(spec: string): PortRequest[] {
  const [port = "", p = "tcp"] = spec.split("/");
  if (p !== "tcp" && p !== "udp") throw new BoxError("E_INVALID_INPUT", `--expose ${spec}: unsupported protocol \`${p}\``, { hint: "use --expose PORT[/tcp|udp]" });
  const [a, b] = range(port, spec);
  const out: PortRequest[] = [];
  for (let n = a; n <= b; n++) out.push({ hostIp: "", hostPort: 0, containerPort: n, proto: p });
  return out;
}

function clashes(a: { hostIp: string; hostPort: number; proto: string }, b: { hostIp: string; hostPort: number; proto: string }): boolean {
  return a.proto === b.proto && a.hostPort === b.hostPort && (a.hostIp === "" || b.hostIp === "" || a.hostIp === b.hostIp);
}

/**
 * Whether the port can be had on the host: a bind, closed at once. For every address it binds
 * [::] dual-stack, which fails when any IPv4 or IPv6 address holds the port, so it covers both
 * the kernel's DNAT and the proxy's [::] listener (proxy.ts). "not-local": the address given
 * with -p is none of this namespace's.
 */
async function probe(p: { hostIp: string; hostPort: number; proto: "tcp" | "udp" }): Promise<"free" | "taken" | "not-local"> {
  const hostname = p.hostIp === "" ? "::" : p.hostIp;
  try {
    if (p.proto === "tcp") {
      const l = Bun.listen({ hostname, port: p.hostPort, socket: { data() {} } });
      l.stop(true);
    } else {
      const s = await Bun.udpSocket({ hostname, port: p.hostPort });
      s.close();
    }
    return "free";
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EADDRNOTAVAIL" ? "not-local" : "taken";
  }
}

/** `8080`, `127.0.0.1:8080`, `[2001:db8::1]:8080`. */
function hostPortText(p: { hostIp: string; hostPort: number }): string {
  return p.hostIp === "" ? String(p.hostPort) : `${p.hostIp.includes(":") ? `[${p.hostIp}]` : p.hostIp}:${p.hostPort}`;
}

const EPHEMERAL: [number, number] = [32768, 60999];

/** Resolve requests into mappings against the ports already held (`taken`). */
export async function allocatePorts(requests: PortRequest[], taken: PortMapping[]): Promise<PortMapping[]> {
  const out: PortMapping[] = [];
  for (const r of requests) {
    const held = [...taken, ...out];
    if (r.hostPort !== 0) {
      const owner = held.find((t) => clashes(t, r));
      const state = owner ? "taken" : await probe(r);
      if (state === "not-local") {
        throw new BoxError("E_INVALID_INPUT", `-p ${hostPortText(r)}:${r.containerPort}: ${r.hostIp} is not an address of this host`, {
          hint: "publish on one of the host's addresses (ip addr), or on all of them with -p HOST:CONTAINER",
        });
      }
      if (state === "taken") {
        throw new BoxError("E_EXISTS", `host port ${hostPortText(r)}/${r.proto} is already allocated`, {
          hint: "publish on another host port, e.g. -p 8081:" + r.containerPort + ", or stop what holds it",
        });
      }
      out.push({ ...r });
      continue;
    }
    let port = 0;
    for (let tries = 0; tries < 200 && port === 0; tries++) {
      const cand = EPHEMERAL[0] + Math.floor(Math.random() * (EPHEMERAL[1] - EPHEMERAL[0]));
      const c = { ...r, hostPort: cand };
      if (!held.some((t) => clashes(t, c)) && (await probe(c)) === "free") port = cand;
    }
    if (port === 0) throw new BoxError("E_EXISTS", "no free host port found in 32768-60999", { hint: "give host ports explicitly with -p HOST:CONTAINER" });
    out.push({ ...r, hostPort: port });
  }
  return out;
}

/**
 * docker port's lines: `80/tcp -> 0.0.0.0:8080` and `80/tcp -> [::]:8080` for a port on every
 * address, which every mode serves on both families (bridge: DNAT and the proxy; pasta itself;
 * slirp4netns with the proxy), and the one address otherwise.
 */
export function describePorts(ports: PortMapping[]): string[] {
  const lines: string[] = [];
  for (const p of ports) {
    const key = `${p.containerPort}/${p.proto}`;
    if (p.hostIp !== "") lines.push(`${key} -> ${p.hostIp.includes(":") ? `[${p.hostIp}]` : p.hostIp}:${p.hostPort}`);
    else lines.push(`${key} -> 0.0.0.0:${p.hostPort}`, `${key} -> [::]:${p.hostPort}`);
  }
  return lines;
}

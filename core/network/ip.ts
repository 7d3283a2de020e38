/**
 * IPv4 and IPv6 addresses and prefixes as plain values: parsing, formatting, containment and the
 * n-th address of a subnet. Addresses are bigints so one set of arithmetic serves both families.
 */
import { BoxError } from "../errors.ts";

export type Family = 4 | 6;

export interface Address {
  family: Family;
  value: bigint;
}

export interface Cidr {
  family: Family;
  /** The network address (host bits cleared). */
  base: bigint;
  prefix: number;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

function parseV4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255 || (p.length > 1 && p.startsWith("0"))) return undefined;
    v = (v << 8n) | BigInt(p);
  }
  return v;
}

function parseV6(text: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || text.split("::").length > 2) return undefined;
  let groups: string[];
  let tailV4: bigint | undefined;
  let t = text;
  // An embedded IPv4 tail (::ffff:10.0.0.1) counts as two groups.
  const lastColon = t.lastIndexOf(":");
  if (t.slice(lastColon + 1).includes(".")) {
    tailV4 = parseV4(t.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    t = `${t.slice(0, lastColon + 1)}0:0`;
  }
  const [head, tail] = t.split("::") as [string, string | undefined];
  const h = head === "" ? [] : head.split(":");
  const tl = tail === undefined ? [] : tail === "" ? [] : tail.split(":");
  if (tail === undefined) groups = h;
  else {
    const fill = 8 - h.length - tl.length;
    if (fill < 1) return undefined;
    groups = [...h, ...Array<string>(fill).fill("0"), ...tl];
  }
  if (groups.length !== 8) return undefined;
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    v = (v << 16n) | BigInt(`0x${g}`);
  }
  if (tailV4 !== undefined) v = (v & ~0xffffffffn) | tailV4;
  return v;
}

export function parseAddress(text: string): Address | undefined {
  const v4 = parseV4(text);
  if (v4 !== undefined) return { family: 4, value: v4 };
  const v6 = text.includes(":") ? parseV6(text) : undefined;
  return v6 === undefined ? undefined : { family: 6, value: v6 };
}

/** `what` names the flag or field in the error (`--subnet`, `--ip`). */
export function mustParseAddress(text: string, what: string): Address {
  const a = parseAddress(text);
  if (!a) throw new BoxError("E_INVALID_INPUT", `${what}: invalid IP address \`${text}\``, { hint: "use a dotted IPv4 address like 10.89.0.5 or an IPv6 address like fd00::5" });
  return a;
}

export function formatAddress(a: Address): string {
  if (a.family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((a.value >> s) & 0xffn)).join(".");
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((a.value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run of two or more zero groups, the first one on a tie.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

function mask(family: Family, prefix: number): bigint {
  const bits = BITS[family];
  return ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - prefix)) - 1n);
}

export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const a = parseAddress(text.slice(0, slash));
  const p = text.slice(slash + 1);
  if (!a || !/^\d{1,3}$/.test(p) || Number(p) > BITS[a.family]) return undefined;
  const prefix = Number(p);
  return { family: a.family, base: a.value & mask(a.family, prefix), prefix };
}

export function mustParseCidr(text: string, what: string): Cidr {
  const c = parseCidr(text);
  if (!c) {
    throw new BoxError("E_INVALID_INPUT", `${what}: invalid CIDR \`${text}\``, { hint: "write a subnet as ADDRESS/PREFIX, e.g. 10.89.0.0/24 or fd00:89::/64" });
  }
  return c;
}

export function formatCidr(c: Cidr): string {
  return `${formatAddress({ family: c.family, value: c.base })}/${c.prefix}`;
}

export function contains(c: Cidr, a: Address): boolean {
  return c.family === a.family && (a.value & mask(c.family, c.prefix)) === c.base;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const p = Math.min(a.prefix, b.prefix);
  const m = mask(a.family, p);
  return (a.base & m) === (b.base & m);
}

/** The n-th address of the subnet (n = 1 is the first host); undefined past its end. */
export function nth(c: Cidr, n: bigint): Address | undefined {
  const size = 1n << BigInt(BITS[c.family] - c.prefix);
  if (n < 0n || n >= size) return undefined;
  return { family: c.family, value: c.base + n };
}

/** The subnet an interface address with this prefix sits in. */
export function networkOf(a: Address, prefix: number): Cidr {
  return { family: a.family, base: a.value & mask(a.family, prefix), prefix };
}

export function isLinkLocal(a: Address): boolean {
  return a.family === 6 && a.value >> 118n === 0x3fan;
}

/** The first host address (the usual gateway). */
export function firstHost(c: Cidr): Address {
  return { family: c.family, value: c.base + 1n };
}

/** How many addresses a subnet holds (2^host bits). */
export function size(c: Cidr): bigint {
  return 1n << BigInt(BITS[c.family] - c.prefix);
}

/** The address as network-order bytes, the form netlink carries. */
export function addressBytes(a: Address): Uint8Array {
  const n = a.family === 4 ? 4 : 16;
  const out = new Uint8Array(n);
  let v = a.value;
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

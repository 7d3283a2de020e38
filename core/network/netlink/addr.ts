/**
 * Address requests (RTM_NEWADDR/DELADDR) and the parse of address dumps. IPv6 addresses are
 * added with IFA_F_NODAD: box assigns them from its own pool, so duplicate address detection
 * can only delay them (by about a second, while they stay "tentative" and unusable).
 */
import { addressBytes, formatAddress, isLinkLocal, type Address, type Family } from "../ip.ts";
import {
  attrU32, decodeAttrs, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, RTM_DELADDR, RTM_GETADDR,
  RTM_NEWADDR, u32Attr, type Attr,
} from "./message.ts";
import type { Request } from "./link.ts";

export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_BROADCAST = 4;
export const IFA_FLAGS = 8;
export const IFA_F_NODAD = 0x02;
export const AF_INET = 2;
export const AF_INET6 = 10;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;

export function familyCode(f: Family): number {
  return f === 4 ? AF_INET : AF_INET6;
}

/** struct ifaddrmsg: family, prefixlen, flags, scope (u8 each), index (u32). */
export function ifaddrmsg(family: Family, prefix: number, index: number, scope: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint8(0, familyCode(family));
  v.setUint8(1, prefix);
  v.setUint8(3, scope);
  v.setUint32(4, index, true);
  return b;
}

function addrAttrs(a: Address, prefix: number): Attr[] {
  const bytes = addressBytes(a);
  const attrs: Attr[] = [{ type: IFA_LOCAL, value: bytes }, { type: IFA_ADDRESS, value: bytes }];
  if (a.family === 4 && prefix < 31) {
    const host = (1n << BigInt(32 - prefix)) - 1n;
    attrs.push({ type: IFA_BROADCAST, value: addressBytes({ family: 4, value: a.value | host }) });
  }
  if (a.family === 6) attrs.push(u32Attr(IFA_FLAGS, IFA_F_NODAD));
  return attrs;
}

export function addAddress(index: number, a: Address, prefix: number, object: string): Request {
  const scope = isLinkLocal(a) ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  return {
    type: RTM_NEWADDR, flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
    header: ifaddrmsg(a.family, prefix, index, scope), attrs: addrAttrs(a, prefix), object: `${formatAddress(a)}/${prefix} on ${object}`,
  };
}

export function deleteAddress(index: number, a: Address, prefix: number, object: string): Request {
  return {
    type: RTM_DELADDR, flags: NLM_F_REQUEST | NLM_F_ACK,
    header: ifaddrmsg(a.family, prefix, index, 0), attrs: [{ type: IFA_LOCAL, value: addressBytes(a) }], object: `${formatAddress(a)}/${prefix} on ${object}`,
  };
}

export function dumpAddresses(): Request {
  return { type: RTM_GETADDR, flags: NLM_F_REQUEST | NLM_F_DUMP, header: ifaddrmsg(4, 0, 0, 0).fill(0), attrs: [], object: "addresses" };
}

export interface AddressInfo {
  index: number;
  address: Address;
  prefix: number;
  flags: number;
}

export function parseAddressMessage(payload: Uint8Array): AddressInfo | undefined {
  const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const family = v.getUint8(0) === AF_INET ? 4 : v.getUint8(0) === AF_INET6 ? 6 : undefined;
  if (!family) return undefined;
  const attrs = decodeAttrs(payload.subarray(8));
  const raw = attrs.get(IFA_LOCAL) ?? attrs.get(IFA_ADDRESS);
  if (!raw) return undefined;
  let value = 0n;
  for (const byte of raw) value = (value << 8n) | BigInt(byte);
  return { index: v.getUint32(4, true), address: { family, value }, prefix: v.getUint8(1), flags: attrU32(attrs.get(IFA_FLAGS)) ?? v.getUint8(2) };
}

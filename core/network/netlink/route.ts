/**
 * Route requests (RTM_NEWROUTE/DELROUTE): the container's default routes. An IPv6 default via a
 * link-local gateway (fe80::1) is valid only with the output interface named, so RTA_OIF is
 * always sent.
 */
import { addressBytes, type Address, type Family } from "../ip.ts";
import { NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, RTM_DELROUTE, RTM_NEWROUTE, u32Attr } from "./message.ts";
import { familyCode } from "./addr.ts";
import type { Request } from "./link.ts";

export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RT_TABLE_MAIN = 254;
export const RTPROT_BOOT = 3;
export const RT_SCOPE_UNIVERSE = 0;
export const RTN_UNICAST = 1;

/** struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type (u8 each), flags (u32). */
export function rtmsg(family: Family, dstLen: number): Uint8Array {
  const b = new Uint8Array(12);
  b[0] = familyCode(family);
  b[1] = dstLen;
  b[4] = RT_TABLE_MAIN;
  b[5] = RTPROT_BOOT;
  b[6] = RT_SCOPE_UNIVERSE;
  b[7] = RTN_UNICAST;
  return b;
}

export function addDefaultRoute(gateway: Address, oif: number, object: string): Request {
  return {
    type: RTM_NEWROUTE, flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, header: rtmsg(gateway.family, 0),
    attrs: [{ type: RTA_GATEWAY, value: addressBytes(gateway) }, u32Attr(RTA_OIF, oif)], object: `default via ${object}`,
  };
}

export function deleteDefaultRoute(family: Family, oif: number, object: string): Request {
  return { type: RTM_DELROUTE, flags: NLM_F_REQUEST | NLM_F_ACK, header: rtmsg(family, 0), attrs: [u32Attr(RTA_OIF, oif)], object: `default via ${object}` };
}

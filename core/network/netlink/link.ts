/**
 * Link requests (RTM_NEWLINK/DELLINK/GETLINK) as data: a bridge, a veth pair whose peer is born
 * in another network namespace, up/down, master, mtu, a move to another namespace, and the
 * parse of the kernel's link description. Values from include/uapi/linux/if_link.h.
 */
import {
  attrString, attrU32, concat, decodeAttrs, encodeAttrs, nested, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST,
  RTM_DELLINK, RTM_GETLINK, RTM_NEWLINK, strAttr, u32Attr, type Attr,
} from "./message.ts";

export const IFLA_ADDRESS = 1;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_MASTER = 10;
export const IFLA_LINKINFO = 18;
export const IFLA_NET_NS_PID = 19;
export const IFLA_NET_NS_FD = 28;
export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;
export const VETH_INFO_PEER = 1;
export const IFF_UP = 0x1;
const AF_UNSPEC = 0;

/** What the caller of a request needs: the message type, flags, family header and attributes. */
export interface Request {
  type: number;
  flags: number;
  header: Uint8Array;
  attrs: Attr[];
  /** What the request is about, for error messages (``RTM_NEWLINK `box0` ``). */
  object: string;
}

/** struct ifinfomsg: family, pad, type (u16), index (i32), flags (u32), change (u32). */
export function ifinfomsg(index = 0, flags = 0, change = 0): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint8(0, AF_UNSPEC);
  v.setInt32(4, index, true);
  v.setUint32(8, flags >>> 0, true);
  v.setUint32(12, change >>> 0, true);
  return b;
}

const CREATE = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
const CHANGE = NLM_F_REQUEST | NLM_F_ACK;

export function macBytes(mac: string): Uint8Array {
  return Uint8Array.from(mac.split(":").map((h) => Number.parseInt(h, 16)));
}

export function formatMac(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

export function createBridge(name: string, mtu?: number): Request {
  const attrs: Attr[] = [strAttr(IFLA_IFNAME, name), nested(IFLA_LINKINFO, [strAttr(IFLA_INFO_KIND, "bridge")])];
  if (mtu !== undefined) attrs.push(u32Attr(IFLA_MTU, mtu));
  return { type: RTM_NEWLINK, flags: CREATE, header: ifinfomsg(), attrs, object: name };
}

/** Where a link goes: a namespace by pid (resolved in the caller's pid namespace) or by fd. */
export type NetnsRef = { pid: number } | { fd: number };

function netnsAttr(ns: NetnsRef): Attr {
  return "pid" in ns ? u32Attr(IFLA_NET_NS_PID, ns.pid) : u32Attr(IFLA_NET_NS_FD, ns.fd);
}

export interface VethOptions {
  name: string;
  peer: string;
  /** Create the peer directly in this namespace: one request instead of create + move. */
  peerNetns?: NetnsRef;
  peerMac?: string;
  mtu?: number;
}

export function createVeth(o: VethOptions): Request {
  const peerAttrs: Attr[] = [strAttr(IFLA_IFNAME, o.peer)];
  if (o.peerMac) peerAttrs.push({ type: IFLA_ADDRESS, value: macBytes(o.peerMac) });
  if (o.mtu !== undefined) peerAttrs.push(u32Attr(IFLA_MTU, o.mtu));
  if (o.peerNetns) peerAttrs.push(netnsAttr(o.peerNetns));
  // VETH_INFO_PEER carries a whole ifinfomsg followed by the peer's attributes (veth.c).
  const peer: Attr = { type: VETH_INFO_PEER, value: concat(ifinfomsg(), encodeAttrs(peerAttrs)) };
  const attrs: Attr[] = [
    strAttr(IFLA_IFNAME, o.name),
    nested(IFLA_LINKINFO, [strAttr(IFLA_INFO_KIND, "veth"), nested(IFLA_INFO_DATA, [peer])]),
  ];
  if (o.mtu !== undefined) attrs.push(u32Attr(IFLA_MTU, o.mtu));
  return { type: RTM_NEWLINK, flags: CREATE, header: ifinfomsg(), attrs, object: `${o.name}` };
}

export function setUp(index: number, up: boolean, object: string): Request {
  return { type: RTM_NEWLINK, flags: CHANGE, header: ifinfomsg(index, up ? IFF_UP : 0, IFF_UP), attrs: [], object };
}

/** Enslave to a bridge; master 0 releases. */
export function setMaster(index: number, master: number, object: string): Request {
  return { type: RTM_NEWLINK, flags: CHANGE, header: ifinfomsg(index), attrs: [u32Attr(IFLA_MASTER, master)], object };
}

export function setMtu(index: number, mtu: number, object: string): Request {
  return { type: RTM_NEWLINK, flags: CHANGE, header: ifinfomsg(index), attrs: [u32Attr(IFLA_MTU, mtu)], object };
}

/** Move a link to another network namespace, optionally renaming it there (eth0). */
export function moveToNetns(index: number, ns: NetnsRef, object: string, newName?: string): Request {
  const attrs = [netnsAttr(ns)];
  if (newName) attrs.push(strAttr(IFLA_IFNAME, newName));
  return { type: RTM_NEWLINK, flags: CHANGE, header: ifinfomsg(index), attrs, object };
}

export function deleteLink(name: string): Request {
  return { type: RTM_DELLINK, flags: CHANGE, header: ifinfomsg(), attrs: [strAttr(IFLA_IFNAME, name)], object: name };
}

export function getLink(name: string): Request {
  return { type: RTM_GETLINK, flags: NLM_F_REQUEST, header: ifinfomsg(), attrs: [strAttr(IFLA_IFNAME, name)], object: name };
}

export interface LinkInfo {
  index: number;
  name: string;
  flags: number;
  mac?: string;
  mtu?: number;
  master?: number;
  kind?: string;
}

/** Parse an RTM_NEWLINK payload (the kernel's answer to RTM_GETLINK). */
export function parseLink(payload: Uint8Array): LinkInfo {
  const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const attrs = decodeAttrs(payload.subarray(16));
  const info: LinkInfo = { index: v.getInt32(4, true), flags: v.getUint32(8, true), name: attrString(attrs.get(IFLA_IFNAME)) ?? "" };
  const mac = attrs.get(IFLA_ADDRESS);
  if (mac) info.mac = formatMac(mac);
  const mtu = attrU32(attrs.get(IFLA_MTU));
  if (mtu !== undefined) info.mtu = mtu;
  const master = attrU32(attrs.get(IFLA_MASTER));
  if (master !== undefined) info.master = master;
  const linkinfo = attrs.get(IFLA_LINKINFO);
  if (linkinfo) {
    const kind = attrString(decodeAttrs(linkinfo).get(IFLA_INFO_KIND));
    if (kind) info.kind = kind;
  }
  return info;
}

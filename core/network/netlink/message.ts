/**
 * rtnetlink messages as bytes, built and parsed in plain TypeScript: a 16-byte nlmsghdr, a
 * family header (ifinfomsg, ifaddrmsg, rtmsg), then type-length-value attributes, each padded to
 * 4 bytes (include/uapi/linux/netlink.h). Host byte order: netlink is machine-local.
 */

export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_DUMP = 0x300;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLA_F_NESTED = 0x8000;

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;

export const NLMSG_HDRLEN = 16;

const RTM_NAMES: Record<number, string> = {
  16: "RTM_NEWLINK", 17: "RTM_DELLINK", 18: "RTM_GETLINK", 20: "RTM_NEWADDR", 21: "RTM_DELADDR",
  22: "RTM_GETADDR", 24: "RTM_NEWROUTE", 25: "RTM_DELROUTE",
};

export function messageTypeName(type: number): string {
  return RTM_NAMES[type] ?? `netlink message ${type}`;
}

/** An attribute: bytes, or nested attributes. */
export interface Attr {
  type: number;
  value: Uint8Array | Attr[];
}

export function align4(n: number): number {
  return (n + 3) & ~3;
}

export function u8Attr(type: number, v: number): Attr {
  return { type, value: Uint8Array.of(v) };
}

export function u16Attr(type: number, v: number): Attr {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, v, true);
  return { type, value: b };
}

export function u32Attr(type: number, v: number): Attr {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return { type, value: b };
}

/** A NUL-terminated string attribute (IFLA_IFNAME, IFLA_INFO_KIND). */
export function strAttr(type: number, s: string): Attr {
  const enc = new TextEncoder().encode(s);
  const b = new Uint8Array(enc.length + 1);
  b.set(enc);
  return { type, value: b };
}

export function nested(type: number, attrs: Attr[]): Attr {
  return { type: type | NLA_F_NESTED, value: attrs };
}

function attrsLength(attrs: Attr[]): number {
  let n = 0;
  for (const a of attrs) n += align4(4 + (a.value instanceof Uint8Array ? a.value.length : attrsLength(a.value)));
  return n;
}

function writeAttrs(view: DataView, bytes: Uint8Array, off: number, attrs: Attr[]): number {
  for (const a of attrs) {
    const payload = a.value instanceof Uint8Array ? a.value.length : attrsLength(a.value);
    view.setUint16(off, 4 + payload, true);
    view.setUint16(off + 2, a.type, true);
    if (a.value instanceof Uint8Array) bytes.set(a.value, off + 4);
    else writeAttrs(view, bytes, off + 4, a.value);
    off += align4(4 + payload);
  }
  return off;
}

/** Encode attributes alone (the payload of VETH_INFO_PEER starts with an ifinfomsg, then these). */
export function encodeAttrs(attrs: Attr[]): Uint8Array {
  const out = new Uint8Array(attrsLength(attrs));
  writeAttrs(new DataView(out.buffer), out, 0, attrs);
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** A whole request: nlmsghdr, the family header (padded), then attributes. */
export function encodeMessage(type: number, flags: number, seq: number, header: Uint8Array, attrs: Attr[] = []): Uint8Array {
  const headerLen = align4(header.length);
  const len = NLMSG_HDRLEN + headerLen + attrsLength(attrs);
  const out = new Uint8Array(len);
  const view = new DataView(out.buffer);
  view.setUint32(0, len, true);
  view.setUint16(4, type, true);
  view.setUint16(6, flags, true);
  view.setUint32(8, seq, true);
  view.setUint32(12, 0, true); // port id 0: the kernel
  out.set(header, NLMSG_HDRLEN);
  writeAttrs(view, out, NLMSG_HDRLEN + headerLen, attrs);
  return out;
}

export interface Message {
  type: number;
  flags: number;
  seq: number;
  /** Everything after the nlmsghdr. */
  payload: Uint8Array;
}

/** Split a datagram from the kernel into messages; a truncated tail is ignored. */
export function decodeMessages(buf: Uint8Array): Message[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Message[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = view.getUint32(off, true);
    if (len < NLMSG_HDRLEN || off + len > buf.length) break;
    out.push({
      type: view.getUint16(off + 4, true),
      flags: view.getUint16(off + 6, true),
      seq: view.getUint32(off + 8, true),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** The errno of an NLMSG_ERROR (0 is the acknowledgement), positive. */
export function errorCode(m: Message): number {
  return -new DataView(m.payload.buffer, m.payload.byteOffset, 4).getInt32(0, true);
}

/** Attributes by type (the last one wins), with the nested flag stripped. */
export function decodeAttrs(buf: Uint8Array): Map<number, Uint8Array> {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = new Map<number, Uint8Array>();
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = view.getUint16(off, true);
    const type = view.getUint16(off + 2, true) & ~NLA_F_NESTED;
    if (len < 4 || off + len > buf.length) break;
    out.set(type, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

export function attrString(b: Uint8Array | undefined): string | undefined {
  if (!b) return undefined;
  const end = b.indexOf(0);
  return new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
}

export function attrU32(b: Uint8Array | undefined): number | undefined {
  if (!b || b.length < 4) return undefined;
  return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
}

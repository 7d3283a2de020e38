/** rtnetlink messages byte by byte, against the layouts of include/uapi/linux/{netlink,rtnetlink,if_link}.h. */
import { expect, test } from "bun:test";
import { addAddress, parseAddressMessage } from "../../../core/network/netlink/addr.ts";
import { createBridge, createVeth, parseLink, setMaster, setUp } from "../../../core/network/netlink/link.ts";
import { decodeAttrs, decodeMessages, encodeMessage, errorCode, NLA_F_NESTED } from "../../../core/network/netlink/message.ts";
import { addDefaultRoute } from "../../../core/network/netlink/route.ts";
import { mustParseAddress } from "../../../core/network/ip.ts";

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

function encode(r: { type: number; flags: number; header: Uint8Array; attrs: Parameters<typeof encodeMessage>[4] }): Uint8Array {
  return encodeMessage(r.type, r.flags, 7, r.header, r.attrs);
}

test("a bridge: nlmsghdr, ifinfomsg, IFLA_IFNAME and a nested IFLA_LINKINFO/IFLA_INFO_KIND", () => {
  const m = encode(createBridge("box0"));
  expect(m.length).toBe(60);
  // len 60, RTM_NEWLINK (16), REQUEST|ACK|EXCL|CREATE (0x605), seq 7, pid 0
  expect(hex(m.subarray(0, 16))).toBe("3c000000" + "1000" + "0506" + "07000000" + "00000000");
  expect(hex(m.subarray(16, 32))).toBe("00".repeat(16));
  // IFLA_IFNAME (3): len 9 ("box0\0"), padded to 12
  expect(hex(m.subarray(32, 44))).toBe("0900" + "0300" + hex(new TextEncoder().encode("box0")) + "00" + "000000");
  // IFLA_LINKINFO (18 | NLA_F_NESTED), holding IFLA_INFO_KIND (1) "bridge\0"
  expect(hex(m.subarray(44, 48))).toBe("1000" + "1280");
  expect(hex(m.subarray(48, 52))).toBe("0b000100");
});

test("a veth whose peer is born in another namespace carries VETH_INFO_PEER with its own ifinfomsg", () => {
  const m = encode(createVeth({ name: "vethab", peer: "eth0", peerNetns: { pid: 4242 }, peerMac: "02:42:0a:58:00:02" }));
  const [msg] = decodeMessages(m);
  const attrs = decodeAttrs(msg!.payload.subarray(16));
  const info = decodeAttrs(attrs.get(18)!);
  expect(new TextDecoder().decode(info.get(1))).toBe("veth\0");
  const data = decodeAttrs(info.get(2)!);
  const peer = data.get(1)!;
  expect(peer.subarray(0, 16)).toEqual(new Uint8Array(16));
  const peerAttrs = decodeAttrs(peer.subarray(16));
  expect(new TextDecoder().decode(peerAttrs.get(3))).toBe("eth0\0");
  expect(hex(peerAttrs.get(1)!)).toBe("02420a580002");
  expect(new DataView(peerAttrs.get(19)!.buffer, peerAttrs.get(19)!.byteOffset).getUint32(0, true)).toBe(4242);
});

test("link up and set master address the link by index in ifinfomsg", () => {
  const up = encode(setUp(5, true, "x"));
  const v = new DataView(up.buffer);
  expect(v.getInt32(20, true)).toBe(5);
  expect(v.getUint32(24, true)).toBe(1); // IFF_UP in flags
  expect(v.getUint32(28, true)).toBe(1); // and in the change mask
  const master = encode(setMaster(5, 2, "x"));
  expect(hex(master.subarray(32))).toBe("0800" + "0a00" + "02000000");
});

test("an IPv6 address carries IFA_LOCAL, IFA_ADDRESS and IFA_F_NODAD; IPv4 also a broadcast", () => {
  const m6 = encode(addAddress(3, mustParseAddress("fd00:88::2", "t"), 64, "eth0"));
  expect(hex(m6.subarray(16, 24))).toBe("0a" + "40" + "00" + "00" + "03000000");
  const a6 = decodeAttrs(m6.subarray(24));
  expect(hex(a6.get(2)!)).toBe("fd000088000000000000000000000002");
  expect(hex(a6.get(8)!)).toBe("02000000");
  const m4 = encode(addAddress(3, mustParseAddress("10.88.0.2", "t"), 16, "eth0"));
  const a4 = decodeAttrs(m4.subarray(24));
  expect(hex(a4.get(1)!)).toBe("0a580002");
  expect(hex(a4.get(4)!)).toBe("0a58ffff");
  // Round trip through the parser of address dumps.
  const parsed = parseAddressMessage(m4.subarray(16));
  expect(parsed).toEqual({ index: 3, address: mustParseAddress("10.88.0.2", "t"), prefix: 16, flags: 0 });
});

test("a default route via fe80::1 names the output interface", () => {
  const m = encode(addDefaultRoute(mustParseAddress("fe80::1", "t"), 9, "eth0"));
  expect(hex(m.subarray(16, 28))).toBe("0a" + "00" + "00" + "00" + "fe" + "03" + "00" + "01" + "00000000");
  const a = decodeAttrs(m.subarray(28));
  expect(hex(a.get(5)!)).toBe("fe800000000000000000000000000001");
  expect(hex(a.get(4)!)).toBe("09000000");
});

test("kernel answers: NLMSG_ERROR codes and RTM_NEWLINK descriptions parse", () => {
  const err = new Uint8Array(36);
  const v = new DataView(err.buffer);
  v.setUint32(0, 36, true);
  v.setUint16(4, 2, true);
  v.setUint32(8, 7, true);
  v.setInt32(16, -17, true);
  const [m] = decodeMessages(err);
  expect(m?.type).toBe(2);
  expect(errorCode(m!)).toBe(17);
  const link = encode(createBridge("br-x"));
  const info = parseLink(link.subarray(16));
  expect(info.name).toBe("br-x");
  expect(info.kind).toBe("bridge");
  expect(NLA_F_NESTED).toBe(0x8000);
});

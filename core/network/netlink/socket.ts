/**
 * Requests to the kernel over one netlink socket: send, then read until the acknowledgement
 * (or the end of a dump). A kernel error becomes a SyscallError naming the request and its
 * object: ``RTM_NEWLINK `box0`: EEXIST (file exists)``.
 */
import { SyscallError } from "../../errors.ts";
import { closeNetlink, netlinkRecv, netlinkSend, openNetlink } from "../../../ffi/netlink.ts";
import { addAddress, deleteAddress, dumpAddresses, parseAddressMessage, type AddressInfo } from "./addr.ts";
import { createBridge, createVeth, deleteLink, getLink, moveToNetns, parseLink, setMaster, setMtu, setUp, type LinkInfo, type NetnsRef, type Request, type VethOptions } from "./link.ts";
import { decodeMessages, encodeMessage, errorCode, messageTypeName, NLM_F_ACK, NLM_F_MULTI, NLMSG_DONE, NLMSG_ERROR, type Message } from "./message.ts";
import { addDefaultRoute } from "./route.ts";
import type { Address } from "../ip.ts";

const ENODEV = 19;

export class Netlink implements Disposable {
  private seq = 1;
  private readonly buf = new Uint8Array(64 * 1024);

  private constructor(private fd: number) {}

  /** A socket in box's own network namespace, or in the one at `netnsPath`. */
  static open(netnsPath?: string): Netlink {
    return new Netlink(openNetlink(netnsPath));
  }

  close(): void {
    if (this.fd >= 0) closeNetlink(this.fd);
    this.fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Send `req` and collect the answers until its ack (or NLMSG_DONE for a dump). */
  exchange(req: Request): Message[] {
    const seq = this.seq++;
    const what = `${messageTypeName(req.type)} \`${req.object}\``;
    netlinkSend(this.fd, encodeMessage(req.type, req.flags, seq, req.header, req.attrs), what);
    const out: Message[] = [];
    for (;;) {
      const n = netlinkRecv(this.fd, this.buf, what);
      for (const m of decodeMessages(this.buf.subarray(0, n))) {
        if (m.seq !== seq) continue;
        if (m.type === NLMSG_ERROR) {
          const e = errorCode(m);
          if (e !== 0) throw new SyscallError(what, e);
          return out;
        }
        if (m.type === NLMSG_DONE) return out;
        out.push(m);
        // A single answer (RTM_GETLINK by name) is not multipart and has no ack of its own.
        if (!(m.flags & NLM_F_MULTI) && !(req.flags & NLM_F_ACK)) return out;
      }
    }
  }

  link(name: string): LinkInfo | undefined {
    try {
      const [m] = this.exchange(getLink(name));
      return m ? parseLink(m.payload) : undefined;
    } catch (e) {
      if (e instanceof SyscallError && e.errno === ENODEV) return undefined;
      throw e;
    }
  }

  mustLink(name: string): LinkInfo {
    const l = this.link(name);
    if (!l) throw new SyscallError(`RTM_GETLINK \`${name}\``, ENODEV);
    return l;
  }

  createBridge(name: string, mtu?: number): LinkInfo {
    this.exchange(createBridge(name, mtu));
    return this.mustLink(name);
  }

  createVeth(o: VethOptions): LinkInfo {
    this.exchange(createVeth(o));
    return this.mustLink(o.name);
  }

  setUp(link: LinkInfo, up = true): void {
    this.exchange(setUp(link.index, up, link.name));
  }

  setMaster(link: LinkInfo, master: LinkInfo): void {
    this.exchange(setMaster(link.index, master.index, `${link.name} master ${master.name}`));
  }

  setMtu(link: LinkInfo, mtu: number): void {
    this.exchange(setMtu(link.index, mtu, link.name));
  }

  moveToNetns(link: LinkInfo, ns: NetnsRef, newName?: string): void {
    this.exchange(moveToNetns(link.index, ns, link.name, newName));
  }

  /** Delete a link; false when it was already gone. */
  deleteLink(name: string): boolean {
    try {
      this.exchange(deleteLink(name));
      return true;
    } catch (e) {
      if (e instanceof SyscallError && e.errno === ENODEV) return false;
      throw e;
    }
  }

  addAddress(link: LinkInfo, a: Address, prefix: number): void {
    this.exchange(addAddress(link.index, a, prefix, link.name));
  }

  deleteAddress(link: LinkInfo, a: Address, prefix: number): void {
    this.exchange(deleteAddress(link.index, a, prefix, link.name));
  }

  addresses(): AddressInfo[] {
    return this.exchange(dumpAddresses()).map((m) => parseAddressMessage(m.payload)).filter((a): a is AddressInfo => a !== undefined);
  }

  addDefaultRoute(link: LinkInfo, gateway: Address): void {
    this.exchange(addDefaultRoute(gateway, link.index, link.name));
  }
}

/**
 * An AF_NETLINK/NETLINK_ROUTE socket through bun:ffi, and setns(CLONE_NEWNET) to open one inside
 * another network namespace. setns into a network namespace changes only the calling thread
 * (measured in Bun 1.4.5: /proc/thread-self/ns/net follows, and setns back to a saved fd
 * restores it), and a socket keeps the namespace it was created in: so box enters, creates the
 * socket and returns at once, and every request afterwards runs in the container's namespace
 * from the host's.
 */
import { dlopen, FFIType, ptr, read, type Pointer } from "bun:ffi";
import { SyscallError } from "../core/errors.ts";

const { i32, u32, ptr: P, cstring, i64 } = FFIType;

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const CLONE_NEWNET = 0x40000000;
const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;
const EINTR = 4;

let lib: ReturnType<typeof open> | undefined;

function open() {
  return dlopen("libc.so.6", {
    socket: { args: [i32, i32, i32], returns: i32 },
    setsockopt: { args: [i32, i32, i32, P, u32], returns: i32 },
    send: { args: [i32, P, u32, i32], returns: i64 },
    recv: { args: [i32, P, u32, i32], returns: i64 },
    setns: { args: [i32, i32], returns: i32 },
    open: { args: [cstring, i32, u32], returns: i32 },
    close: { args: [i32], returns: i32 },
    __errno_location: { args: [], returns: P },
  }).symbols;
}

function sym() {
  lib ??= open();
  return lib;
}

function errno(): number {
  return read.i32(sym().__errno_location() as Pointer, 0);
}

function openNs(path: string): number {
  const fd = sym().open(Buffer.from(`${path}\0`), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) throw new SyscallError(`open \`${path}\``, errno());
  return fd;
}

function createSocket(): number {
  const fd = sym().socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) throw new SyscallError("socket `AF_NETLINK`", errno());
  // A bound on every wait: the kernel answers rtnetlink requests synchronously, so silence
  // means something is badly wrong, and a hung box is worse than an error.
  const tv = new BigInt64Array([5n, 0n]);
  sym().setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, ptr(tv), 16);
  return fd;
}

/**
 * A netlink socket in the network namespace at `netnsPath` (e.g. /proc/PID/ns/net), or in box's
 * own when omitted.
 */
export function openNetlink(netnsPath?: string): number {
  if (netnsPath === undefined) return createSocket();
  const home = openNs("/proc/thread-self/ns/net");
  try {
    const target = openNs(netnsPath);
    try {
      if (sym().setns(target, CLONE_NEWNET) !== 0) throw new SyscallError(`setns \`${netnsPath}\``, errno());
    } finally {
      sym().close(target);
    }
    try {
      return createSocket();
    } finally {
      // Returning must not fail silently: the JS thread would stay in the container's network.
      if (sym().setns(home, CLONE_NEWNET) !== 0) throw new SyscallError("setns back to box's network namespace", errno());
    }
  } finally {
    sym().close(home);
  }
}

export function netlinkSend(fd: number, msg: Uint8Array, what: string): void {
  for (;;) {
    const n = Number(sym().send(fd, ptr(msg), msg.length, 0));
    if (n === msg.length) return;
    const e = errno();
    if (n < 0 && e === EINTR) continue;
    throw new SyscallError(`sendmsg netlink ${what}`, n < 0 ? e : 5);
  }
}

/** Receive one datagram into `buf`; returns its length. */
export function netlinkRecv(fd: number, buf: Uint8Array, what: string): number {
  for (;;) {
    const n = Number(sym().recv(fd, ptr(buf), buf.length, 0));
    if (n >= 0) return n;
    const e = errno();
    if (e !== EINTR) throw new SyscallError(`recvmsg netlink ${what}`, e);
  }
}

export function closeNetlink(fd: number): void {
  sym().close(fd);
}

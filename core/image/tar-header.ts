/**
 * The tar header block and PAX records: the byte layout both the reader (tar.ts) and the writer
 * (tar-writer.ts) speak. The layout is POSIX ustar (pax(1), "ustar Interchange Format") with the
 * two GNU extensions layer tars in the wild still use: base-256 numbers and the 'L'/'K' long-name
 * entries. Nothing here touches a stream; each function works on one 512-byte block.
 */
import { BoxError } from "../errors.ts";

export const BLOCK_SIZE = 512;

export type TarEntryType = "file" | "hardlink" | "symlink" | "char" | "block" | "directory" | "fifo";

/** ustar typeflag bytes, plus the extension types the reader consumes itself. */
export const TYPEFLAG = {
  file: 0x30, // '0'
  hardlink: 0x31, // '1'
  symlink: 0x32, // '2'
  char: 0x33, // '3'
  block: 0x34, // '4'
  directory: 0x35, // '5'
  fifo: 0x36, // '6'
  contiguous: 0x37, // '7': a regular file everywhere that matters
  paxLocal: 0x78, // 'x'
  paxGlobal: 0x67, // 'g'
  gnuLongName: 0x4c, // 'L'
  gnuLongLink: 0x4b, // 'K'
  gnuDumpDir: 0x44, // 'D': a directory whose data lists its contents
  gnuSparse: 0x53, // 'S'
  gnuVolume: 0x56, // 'V'
  gnuMultiVolume: 0x4d, // 'M'
} as const;

/** Field offsets and widths of the ustar header (POSIX.1-2017, pax, Table: ustar Header Block). */
const F = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const satisfies Record<string, readonly [number, number]>;

export type HeaderField = keyof typeof F;

export function fieldWidth(field: HeaderField): number {
  return F[field][1];
}

/** The header as stored in one block, before PAX or GNU long-name entries override fields. */
export interface RawHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: number;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

const utf8 = new TextDecoder("utf-8");
const utf8Encoder = new TextEncoder();

export function encodeUtf8(s: string): Uint8Array {
  return utf8Encoder.encode(s);
}

/**
 * Names are byte strings in tar and on Linux; box handles them as JavaScript strings. Invalid
 * UTF-8 becomes U+FFFD, which can never form "/" or "..", so a lossy name is still a safe one.
 */
export function decodeUtf8(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

/** The text of a NUL-terminated field, decoded without materialising a view when empty. */
function textField(block: Uint8Array, f: HeaderField): string {
  const [off, len] = F[f];
  let end = off;
  const max = off + len;
  while (end < max && block[end] !== 0) end++;
  return end === off ? "" : decodeUtf8(block.subarray(off, end));
}

export function corrupt(offset: number, what: string): BoxError {
  return new BoxError("E_INVALID_INPUT", `tar: corrupt header at offset ${offset}: ${what}`, {
    hint: "the archive is damaged or is not a tar file",
  });
}

/**
 * A numeric field: octal text (NUL/space padded), or GNU base-256 when the top bit of the first
 * byte is set, which GNU tar and Go's archive/tar use for sizes over 8 GiB and ids over 2097151.
 * Parsed in place: this runs a dozen times per entry, and a view per field showed in profiles.
 */
function numeric(block: Uint8Array, f: HeaderField, offset: number): number {
  const [off, len] = F[f];
  const end = off + len;
  const first = block[off] ?? 0;
  if (first & 0x80) {
    if (first === 0xff) throw corrupt(offset, `negative base-256 value in ${f}`);
    let n = first & 0x7f;
    for (let i = off + 1; i < end; i++) {
      n = n * 256 + (block[i] ?? 0);
      if (n > Number.MAX_SAFE_INTEGER) throw corrupt(offset, `${f} is too large`);
    }
    return n;
  }
  let i = off;
  while (i < end && (block[i] === 0x20 || block[i] === 0)) i++;
  let n = 0;
  for (; i < end; i++) {
    const c = block[i] ?? 0;
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) throw corrupt(offset, `invalid octal digit in ${f}`);
    n = n * 8 + (c - 0x30);
  }
  return n;
}

export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK_SIZE; i++) if (block[i] !== 0) return false;
  return true;
}

/**
 * The checksum is the sum of the header bytes with the checksum field read as spaces. Some
 * historic writers summed signed chars; like GNU tar, accept either.
 */
export function computeChecksum(block: Uint8Array): number {
  const [start, len] = F.chksum;
  let sum = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) sum += block[i] ?? 0;
  for (let i = start; i < start + len; i++) sum -= block[i] ?? 0;
  return sum + len * 0x20;
}

function signedChecksum(block: Uint8Array): number {
  const [start, len] = F.chksum;
  let sum = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) {
    const b = i >= start && i < start + len ? 0x20 : (block[i] ?? 0);
    sum += b > 127 ? b - 256 : b;
  }
  return sum;
}

const USTAR_MAGIC = [0x75, 0x73, 0x74, 0x61, 0x72, 0x00]; // "ustar\0": POSIX, has a prefix field

function isPosixUstar(block: Uint8Array): boolean {
  const [off] = F.magic;
  for (let i = 0; i < USTAR_MAGIC.length; i++) if (block[off + i] !== USTAR_MAGIC[i]) return false;
  return true;
}

/** Whether `block` is a tar header with a valid checksum: how an uncompressed layer is recognised. */
export function isTarHeader(block: Uint8Array): boolean {
  if (block.length < BLOCK_SIZE || isZeroBlock(block)) return false;
  let stored: number;
  try {
    stored = numeric(block, "chksum", 0);
  } catch {
    return false;
  }
  return stored === computeChecksum(block) || stored === signedChecksum(block);
}

/** Parse and verify one header block found at `offset` (decompressed bytes from the start). */
export function parseHeader(block: Uint8Array, offset: number): RawHeader {
  const stored = numeric(block, "chksum", offset);
  const unsigned = computeChecksum(block);
  if (stored !== unsigned && stored !== signedChecksum(block)) {
    throw corrupt(offset, `checksum mismatch (stored ${stored}, computed ${unsigned})`);
  }
  let name = textField(block, "name");
  // Only POSIX ustar has a prefix; GNU's "ustar  \0" header keeps atime/ctime in those bytes.
  if (isPosixUstar(block)) {
    const prefix = textField(block, "prefix");
    if (prefix !== "") name = `${prefix}/${name}`;
  }
  return {
    name,
    mode: numeric(block, "mode", offset),
    uid: numeric(block, "uid", offset),
    gid: numeric(block, "gid", offset),
    size: numeric(block, "size", offset),
    mtime: numeric(block, "mtime", offset),
    typeflag: block[F.typeflag[0]] ?? 0,
    linkname: textField(block, "linkname"),
    uname: textField(block, "uname"),
    gname: textField(block, "gname"),
    devmajor: numeric(block, "devmajor", offset),
    devminor: numeric(block, "devminor", offset),
  };
}

/** Text fields are written as raw bytes, NUL-padded; callers have checked that they fit. */
export function writeBytesField(block: Uint8Array, f: HeaderField, bytes: Uint8Array): void {
  const [off, len] = F[f];
  block.set(bytes.subarray(0, len), off);
}

/** Octal, zero-padded to the field width less its NUL terminator (the form GNU tar writes). */
export function writeOctalField(block: Uint8Array, f: HeaderField, value: number): void {
  const [off, len] = F[f];
  const text = Math.trunc(value).toString(8).padStart(len - 1, "0");
  for (let i = 0; i < len - 1; i++) block[off + i] = text.charCodeAt(i);
  block[off + len - 1] = 0;
}

/** The largest value an octal field holds (its width less the terminator, 3 bits a digit). */
export function octalMax(f: HeaderField): number {
  return 8 ** (F[f][1] - 1) - 1;
}

export function writeMagic(block: Uint8Array): void {
  block.set(USTAR_MAGIC, F.magic[0]);
  block[F.version[0]] = 0x30;
  block[F.version[0] + 1] = 0x30;
}

export function writeChecksum(block: Uint8Array): void {
  const sum = computeChecksum(block);
  const [off] = F.chksum;
  const text = sum.toString(8).padStart(6, "0");
  for (let i = 0; i < 6; i++) block[off + i] = text.charCodeAt(i);
  block[off + 6] = 0;
  block[off + 7] = 0x20;
}

/**
 * PAX extended header records: "<length> <key>=<value>\n", where length counts the whole record
 * in bytes including its own digits. Values stay bytes: SCHILY.xattr values are binary.
 */
export function parsePaxRecords(data: Uint8Array, offset: number): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // some writers NUL-pad the record area
    const space = data.indexOf(0x20, pos);
    if (space === -1 || space - pos > 20) throw corrupt(offset, `malformed PAX record at byte ${pos}`);
    let len = 0;
    for (let i = pos; i < space; i++) {
      const c = data[i] ?? 0;
      if (c < 0x30 || c > 0x39) throw corrupt(offset, `malformed PAX record length at byte ${pos}`);
      len = len * 10 + (c - 0x30);
    }
    const end = pos + len;
    if (len <= space - pos + 1 || end > data.length || data[end - 1] !== 0x0a) {
      throw corrupt(offset, `malformed PAX record at byte ${pos}`);
    }
    const eq = data.indexOf(0x3d, space + 1);
    if (eq === -1 || eq >= end) throw corrupt(offset, `PAX record without '=' at byte ${pos}`);
    out.set(decodeUtf8(data.subarray(space + 1, eq)), data.subarray(eq + 1, end - 1));
    pos = end;
  }
  return out;
}

export function formatPaxRecord(key: string, value: Uint8Array): Uint8Array {
  const keyBytes = encodeUtf8(key);
  const body = keyBytes.length + value.length + 3; // ' ', '=', '\n'
  let len = body + String(body).length;
  if (String(len).length !== String(body).length) len = body + String(len).length;
  const prefix = encodeUtf8(`${len} `);
  const out = new Uint8Array(len);
  out.set(prefix, 0);
  out.set(keyBytes, prefix.length);
  out[prefix.length + keyBytes.length] = 0x3d;
  out.set(value, prefix.length + keyBytes.length + 1);
  out[len - 1] = 0x0a;
  return out;
}

/** Bytes of padding that bring `size` up to a whole number of blocks. */
export function padding(size: number): number {
  const rem = size % BLOCK_SIZE;
  return rem === 0 ? 0 : BLOCK_SIZE - rem;
}

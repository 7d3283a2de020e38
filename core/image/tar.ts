/**
 * A streaming tar reader: `for await (const entry of readTar(stream))` yields one entry per file,
 * with PAX and GNU long-name extension entries already folded into the header they describe.
 *
 * Bodies are never buffered: `entry.body()` yields views into the decompressed chunks as they
 * arrive, and whatever the consumer leaves unread is skipped when the loop moves on. Header
 * blocks are parsed in place and copied only when one straddles two chunks.
 *
 * Formats: ustar, PAX (path, linkpath, size, uid, gid, mtime, uname, gname, SCHILY.xattr.*; global
 * headers are skipped, as Docker and containers/storage do), GNU ('L'/'K' long names, base-256
 * numbers). GNU sparse files are refused: image layers never contain them.
 */
import { BoxError } from "../errors.ts";
import { ByteSource, truncated } from "./tar-source.ts";
import {
  corrupt,
  decodeUtf8,
  isZeroBlock,
  padding,
  parseHeader,
  parsePaxRecords,
  type RawHeader,
  type TarEntryType,
  TYPEFLAG,
} from "./tar-header.ts";

export type { TarEntryType } from "./tar-header.ts";

export interface TarHeader {
  /** The name as archived (prefix, GNU long name and PAX path applied), not normalised. */
  name: string;
  type: TarEntryType;
  /** Permission bits including setuid, setgid and sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Bytes of body; 0 for every type but "file". */
  size: number;
  /** Seconds since the epoch; PAX mtimes may carry a fraction. */
  mtime: number;
  /** Symlink target, or for a hard link the archived name of the file it links to. */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** From SCHILY.xattr.<name> PAX records; values are raw bytes. */
  xattrs: Map<string, Uint8Array>;
  /** Offset of the entry's own header block in the uncompressed archive, for messages. */
  offset: number;
}

export interface TarEntry {
  readonly header: TarHeader;
  /**
   * The body as views into the stream's chunks. A view is valid until the next chunk is read:
   * copy it to keep it. Stops early without harm; the rest is skipped when iteration moves on.
   */
  body(): AsyncGenerator<Uint8Array, void, undefined>;
  /** The (rest of the) body in one fresh buffer; for small entries such as configs. */
  bytes(): Promise<Uint8Array>;
  /** Discard the rest of the body now (also done implicitly when the loop moves on). */
  skip(): Promise<void>;
}

export interface TarReaderOptions {
  /** Largest file body accepted; a bigger size field is treated as a corrupt or hostile archive. */
  maxEntrySize?: number;
  /** Largest PAX or GNU long-name entry, which is read into memory. */
  maxMetaSize?: number;
}

/** 1 TiB: bigger than any file in a real image, small enough to reject garbage size fields. */
export const DEFAULT_MAX_ENTRY_SIZE = 2 ** 40;
/** PATH_MAX is 4096; a PAX header carrying xattrs stays far below 1 MiB. */
export const DEFAULT_MAX_META_SIZE = 2 ** 20;
/** Largest body `bytes()` assembles in memory. */
const MAX_BYTES_IN_MEMORY = 2 ** 30;

const EMPTY = new Uint8Array(0);

class Entry implements TarEntry {
  private remaining: number;
  private finished = false;

  constructor(
    readonly header: TarHeader,
    private readonly src: ByteSource,
    /** Data bytes after the exposed body that the caller never sees (a GNU dumpdir's listing). */
    private readonly hidden: number,
  ) {
    this.remaining = header.size;
  }

  async *body(): AsyncGenerator<Uint8Array, void, undefined> {
    if (this.finished) {
      throw new BoxError("E_INTERNAL", `tar: body of \`${this.header.name}\` read after the reader moved past it`);
    }
    while (this.remaining > 0) {
      const v = await this.src.view(this.remaining);
      if (v === null) {
        throw truncated(this.src.offset, `entry \`${this.header.name}\` is missing ${this.remaining} bytes of its body`);
      }
      this.remaining -= v.length;
      yield v;
    }
  }

  async bytes(): Promise<Uint8Array> {
    if (this.remaining > MAX_BYTES_IN_MEMORY) {
      throw new BoxError("E_INVALID_INPUT", `tar: entry \`${this.header.name}\` is too large to read into memory (${this.remaining} bytes)`);
    }
    const out = new Uint8Array(this.remaining);
    let at = 0;
    for await (const chunk of this.body()) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }

  async skip(): Promise<void> {
    for await (const _ of this.body()) {
      // views are dropped unread
    }
  }

  /** Move the source past this entry's body, hidden data and padding. */
  async finish(): Promise<void> {
    if (this.finished) return;
    const total = this.header.size + this.hidden;
    const left = this.remaining + this.hidden + padding(total);
    this.finished = true;
    if (!(await this.src.skip(left))) {
      throw truncated(this.src.offset, `entry \`${this.header.name}\` is cut short`);
    }
  }
}

/** Extension state gathered from 'x', 'L' and 'K' entries for the next real entry. */
interface Pending {
  pax?: Map<string, Uint8Array>;
  longName?: string;
  longLink?: string;
}

function entryType(raw: RawHeader, offset: number): { type: TarEntryType; hasData: boolean } {
  switch (raw.typeflag) {
    case 0:
      // Pre-POSIX archives mark directories only by the trailing slash (Go's archive/tar agrees).
      return raw.name.endsWith("/") ? { type: "directory", hasData: false } : { type: "file", hasData: true };
    case TYPEFLAG.file:
    case TYPEFLAG.contiguous:
      return { type: "file", hasData: true };
    case TYPEFLAG.hardlink:
      return { type: "hardlink", hasData: false };
    case TYPEFLAG.symlink:
      return { type: "symlink", hasData: false };
    case TYPEFLAG.char:
      return { type: "char", hasData: false };
    case TYPEFLAG.block:
      return { type: "block", hasData: false };
    case TYPEFLAG.directory:
      return { type: "directory", hasData: false };
    case TYPEFLAG.fifo:
      return { type: "fifo", hasData: false };
    case TYPEFLAG.gnuDumpDir:
      return { type: "directory", hasData: false };
    case TYPEFLAG.gnuSparse:
      throw new BoxError("E_UNSUPPORTED", `tar: entry \`${raw.name}\` at offset ${offset} is a GNU sparse file`, {
        hint: "re-create the archive without --sparse",
      });
    default:
      throw new BoxError(
        "E_UNSUPPORTED",
        `tar: entry \`${raw.name}\` at offset ${offset} has unsupported type '${String.fromCharCode(raw.typeflag)}'`,
      );
  }
}

function paxNumber(pax: Map<string, Uint8Array>, key: string, offset: number, fraction: boolean): number | undefined {
  const v = pax.get(key);
  if (v === undefined) return undefined;
  const text = decodeUtf8(v);
  const ok = fraction ? /^-?\d+(\.\d+)?$/.test(text) : /^\d+$/.test(text);
  const n = Number(text);
  if (!ok || !Number.isFinite(n) || Math.abs(n) > Number.MAX_SAFE_INTEGER) {
    throw corrupt(offset, `invalid PAX ${key} \`${text}\``);
  }
  return n;
}

function applyPax(h: TarHeader, pax: Map<string, Uint8Array>, offset: number): number | undefined {
  for (const key of pax.keys()) {
    if (key.startsWith("GNU.sparse.")) {
      throw new BoxError("E_UNSUPPORTED", `tar: entry at offset ${offset} is a GNU sparse file (PAX ${key})`, {
        hint: "re-create the archive without --sparse",
      });
    }
    if (key.startsWith("SCHILY.xattr.")) {
      h.xattrs.set(key.slice("SCHILY.xattr.".length), pax.get(key) ?? EMPTY);
    }
  }
  const path = pax.get("path");
  if (path !== undefined) h.name = decodeUtf8(path);
  const linkpath = pax.get("linkpath");
  if (linkpath !== undefined) h.linkname = decodeUtf8(linkpath);
  const uname = pax.get("uname");
  if (uname !== undefined) h.uname = decodeUtf8(uname);
  const gname = pax.get("gname");
  if (gname !== undefined) h.gname = decodeUtf8(gname);
  h.uid = paxNumber(pax, "uid", offset, false) ?? h.uid;
  h.gid = paxNumber(pax, "gid", offset, false) ?? h.gid;
  h.mtime = paxNumber(pax, "mtime", offset, true) ?? h.mtime;
  return paxNumber(pax, "size", offset, false);
}

function buildHeader(raw: RawHeader, offset: number, pending: Pending, limits: Required<TarReaderOptions>) {
  const { type, hasData } = entryType(raw, offset);
  const header: TarHeader = {
    name: pending.longName ?? raw.name,
    type,
    mode: raw.mode & 0o7777,
    uid: raw.uid,
    gid: raw.gid,
    uname: raw.uname,
    gname: raw.gname,
    size: 0,
    mtime: raw.mtime,
    linkname: pending.longLink ?? raw.linkname,
    devmajor: raw.devmajor,
    devminor: raw.devminor,
    xattrs: new Map(),
    offset,
  };
  const paxSize = pending.pax === undefined ? undefined : applyPax(header, pending.pax, offset);
  const dataSize = paxSize ?? raw.size;
  if (dataSize > limits.maxEntrySize) {
    throw new BoxError(
      "E_INVALID_INPUT",
      `tar: entry \`${header.name}\` at offset ${offset} declares ${dataSize} bytes, over the limit of ${limits.maxEntrySize}`,
      { hint: "the archive is corrupt, or raise maxEntrySize if the file is genuinely this large" },
    );
  }
  // Go's archive/tar treats links, devices, fifos and directories as header-only whatever their
  // size field says, and layers are written by Go tools; a GNU dumpdir does carry data to skip.
  if (hasData) header.size = dataSize;
  const hidden = raw.typeflag === TYPEFLAG.gnuDumpDir ? dataSize : 0;
  return { header, hidden };
}

async function readMeta(src: ByteSource, raw: RawHeader, offset: number, max: number): Promise<Uint8Array> {
  if (raw.size > max) {
    throw corrupt(offset, `extension entry of ${raw.size} bytes is over the limit of ${max}`);
  }
  const out = new Uint8Array(raw.size);
  let at = 0;
  while (at < raw.size) {
    const v = await src.view(raw.size - at);
    if (v === null) throw truncated(src.offset, `extension entry at ${offset} is cut short`);
    out.set(v, at);
    at += v.length;
  }
  if (!(await src.skip(padding(raw.size)))) throw truncated(src.offset, `extension entry at ${offset} is cut short`);
  return out;
}

function metaString(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  return decodeUtf8(nul === -1 ? bytes : bytes.subarray(0, nul));
}

/**
 * Iterate over the entries of an uncompressed tar stream. Ends at the first zero block, or at a
 * clean end of stream on a header boundary: umoci 0.4.7 writes layers without the two zero
 * blocks and podman accepts them. Breaking out of the loop cancels the stream.
 */
export async function* readTar(
  stream: ReadableStream<Uint8Array>,
  options: TarReaderOptions = {},
): AsyncGenerator<TarEntry, void, undefined> {
  const limits: Required<TarReaderOptions> = {
    maxEntrySize: options.maxEntrySize ?? DEFAULT_MAX_ENTRY_SIZE,
    maxMetaSize: options.maxMetaSize ?? DEFAULT_MAX_META_SIZE,
  };
  const src = new ByteSource(stream.getReader());
  let complete = false;
  try {
    let pending: Pending = {};
    for (;;) {
      const offset = src.offset;
      const block = await src.block();
      if (block === null || isZeroBlock(block)) {
        if (pending.pax !== undefined || pending.longName !== undefined || pending.longLink !== undefined) {
          throw truncated(offset, "the archive ends after an extension header, before the entry it describes");
        }
        if (block !== null) await src.drain();
        complete = true;
        return;
      }
      const raw = parseHeader(block, offset);
      switch (raw.typeflag) {
        case TYPEFLAG.paxLocal:
          pending.pax = parsePaxRecords(await readMeta(src, raw, offset, limits.maxMetaSize), offset);
          continue;
        case TYPEFLAG.paxGlobal:
        case TYPEFLAG.gnuVolume:
          await readMeta(src, raw, offset, limits.maxMetaSize);
          continue;
        case TYPEFLAG.gnuLongName:
          pending.longName = metaString(await readMeta(src, raw, offset, limits.maxMetaSize));
          continue;
        case TYPEFLAG.gnuLongLink:
          pending.longLink = metaString(await readMeta(src, raw, offset, limits.maxMetaSize));
          continue;
      }
      const { header, hidden } = buildHeader(raw, offset, pending, limits);
      pending = {};
      const entry = new Entry(header, src, hidden);
      yield entry;
      await entry.finish();
    }
  } finally {
    if (!complete) await src.cancel();
    src.release();
  }
}

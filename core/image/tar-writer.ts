/**
 * A small deterministic tar writer: the same entries always give the same bytes, so a layer built
 * twice has one digest. Entries are written in the order given (sorting is the caller's choice),
 * in ustar, with a PAX header added only for what ustar cannot hold: long or non-ASCII names,
 * sizes over 8 GiB, big ids, fractional or out-of-range mtimes, and xattrs. Nothing from the
 * writing machine (time, pid, user) ever lands in the archive: PAX header entries are named
 * `PaxHeaders/<base>` with mtime 0.
 */
import { BoxError } from "../errors.ts";
import {
  BLOCK_SIZE,
  encodeUtf8,
  fieldWidth,
  formatPaxRecord,
  octalMax,
  padding,
  type TarEntryType,
  TYPEFLAG,
  writeBytesField,
  writeChecksum,
  writeMagic,
  writeOctalField,
} from "./tar-header.ts";

export interface TarStreamBody {
  /** Exact number of bytes the stream yields; a mismatch fails the write. */
  size: number;
  stream: AsyncIterable<Uint8Array>;
}

export interface TarWriterEntry {
  name: string;
  type: TarEntryType;
  /** Default 0o644 (0o755 for directories, 0o777 for symlinks). */
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** Seconds since the epoch; default 0 so that archives are reproducible. */
  mtime?: number;
  /** Symlink target, or the archived name a hard link points to. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Uint8Array | string>;
  /** Content of a "file" entry. */
  body?: Uint8Array | string | TarStreamBody;
}

export interface TarWriterOptions {
  /** Write the two zero blocks that end an archive (default true; tests turn it off). */
  endOfArchive?: boolean;
}

function defaultMode(type: TarEntryType): number {
  if (type === "directory") return 0o755;
  if (type === "symlink") return 0o777;
  return 0o644;
}

function isAscii(s: string, bytes: Uint8Array): boolean {
  return bytes.length === s.length;
}

/** Split a long ASCII name into ustar's prefix (≤155) and name (≤100) at a slash, if possible. */
function splitUstarName(bytes: Uint8Array): { prefix: Uint8Array; name: Uint8Array } | undefined {
  const nameMax = fieldWidth("name");
  const prefixMax = fieldWidth("prefix");
  for (let i = bytes.indexOf(0x2f); i !== -1 && i <= prefixMax; i = bytes.indexOf(0x2f, i + 1)) {
    if (i > 0 && bytes.length - i - 1 <= nameMax && bytes.length - i - 1 > 0) {
      return { prefix: bytes.subarray(0, i), name: bytes.subarray(i + 1) };
    }
  }
  return undefined;
}

function invalid(name: string, what: string): BoxError {
  return new BoxError("E_INVALID_INPUT", `tar writer: entry \`${name}\`: ${what}`);
}

function bodyBytes(e: TarWriterEntry): Uint8Array | undefined {
  if (e.body === undefined) return new Uint8Array(0);
  if (typeof e.body === "string") return encodeUtf8(e.body);
  if (e.body instanceof Uint8Array) return e.body;
  return undefined;
}

/** The ustar header for `e`, plus the PAX records for the fields it could not hold. */
function encodeHeader(e: TarWriterEntry, size: number): { header: Uint8Array; pax: Map<string, Uint8Array> } {
  const block = new Uint8Array(BLOCK_SIZE);
  const pax = new Map<string, Uint8Array>();

  const name = e.type === "directory" && !e.name.endsWith("/") ? `${e.name}/` : e.name;
  const nameBytes = encodeUtf8(name);
  if (nameBytes.length === 0) throw invalid(e.name, "empty name");
  if (isAscii(name, nameBytes) && nameBytes.length <= fieldWidth("name")) {
    writeBytesField(block, "name", nameBytes);
  } else {
    const split = isAscii(name, nameBytes) ? splitUstarName(nameBytes) : undefined;
    if (split) {
      writeBytesField(block, "prefix", split.prefix);
      writeBytesField(block, "name", split.name);
    } else {
      pax.set("path", nameBytes);
      writeBytesField(block, "name", nameBytes.subarray(0, fieldWidth("name")));
    }
  }

  const linkname = e.linkname ?? "";
  if ((e.type === "symlink" || e.type === "hardlink") && linkname === "") throw invalid(e.name, "a link needs a linkname");
  const linkBytes = encodeUtf8(linkname);
  if (!isAscii(linkname, linkBytes) || linkBytes.length > fieldWidth("linkname")) pax.set("linkpath", linkBytes);
  writeBytesField(block, "linkname", linkBytes.subarray(0, fieldWidth("linkname")));

  writeOctalField(block, "mode", (e.mode ?? defaultMode(e.type)) & 0o7777);
  for (const f of ["uid", "gid"] as const) {
    const v = e[f] ?? 0;
    if (!Number.isSafeInteger(v) || v < 0) throw invalid(e.name, `${f} must be a non-negative integer`);
    if (v > octalMax(f)) pax.set(f, encodeUtf8(String(v)));
    writeOctalField(block, f, v > octalMax(f) ? 0 : v);
  }
  if (size > octalMax("size")) pax.set("size", encodeUtf8(String(size)));
  writeOctalField(block, "size", size > octalMax("size") ? 0 : size);

  const mtime = e.mtime ?? 0;
  if (!Number.isFinite(mtime)) throw invalid(e.name, "mtime must be finite");
  if (!Number.isInteger(mtime) || mtime < 0 || mtime > octalMax("mtime")) pax.set("mtime", encodeUtf8(String(mtime)));
  writeOctalField(block, "mtime", Math.min(Math.max(Math.floor(mtime), 0), octalMax("mtime")));

  block[156] = TYPEFLAG[e.type];
  writeMagic(block);
  for (const f of ["uname", "gname"] as const) {
    const v = e[f] ?? "";
    const bytes = encodeUtf8(v);
    if (!isAscii(v, bytes) || bytes.length > fieldWidth(f)) pax.set(f, bytes);
    else writeBytesField(block, f, bytes);
  }
  for (const f of ["devmajor", "devminor"] as const) {
    const v = e[f] ?? 0;
    if (!Number.isSafeInteger(v) || v < 0 || v > octalMax(f)) throw invalid(e.name, `${f} out of range`);
    writeOctalField(block, f, v);
  }
  for (const [key, value] of Object.entries(e.xattrs ?? {})) {
    pax.set(`SCHILY.xattr.${key}`, typeof value === "string" ? encodeUtf8(value) : value);
  }
  writeChecksum(block);
  return { header: block, pax };
}

/** A PAX 'x' entry (header + records + padding) carrying `pax`, keys sorted for determinism. */
function encodePax(entryName: string, pax: Map<string, Uint8Array>): Uint8Array {
  const records = [...pax.keys()].sort().map((k) => formatPaxRecord(k, pax.get(k) ?? new Uint8Array(0)));
  const size = records.reduce((n, r) => n + r.length, 0);
  const base = entryName.replace(/\/+$/, "").split("/").pop() ?? "";
  const name = encodeUtf8(`PaxHeaders/${base}`).subarray(0, fieldWidth("name"));
  const out = new Uint8Array(BLOCK_SIZE + size + padding(size));
  const block = out.subarray(0, BLOCK_SIZE);
  writeBytesField(block, "name", name);
  writeOctalField(block, "mode", 0o644);
  writeOctalField(block, "uid", 0);
  writeOctalField(block, "gid", 0);
  writeOctalField(block, "size", size);
  writeOctalField(block, "mtime", 0);
  block[156] = TYPEFLAG.paxLocal;
  writeMagic(block);
  writeOctalField(block, "devmajor", 0);
  writeOctalField(block, "devminor", 0);
  writeChecksum(block);
  let at = BLOCK_SIZE;
  for (const r of records) {
    out.set(r, at);
    at += r.length;
  }
  return out;
}

async function* encodeEntries(
  entries: Iterable<TarWriterEntry> | AsyncIterable<TarWriterEntry>,
  options: TarWriterOptions,
): AsyncGenerator<Uint8Array, void, undefined> {
  for await (const e of entries) {
    const bytes = bodyBytes(e);
    const streamed = bytes === undefined ? (e.body as TarStreamBody) : undefined;
    const size = e.type === "file" ? (bytes?.length ?? streamed?.size ?? 0) : 0;
    if (e.type !== "file" && e.body !== undefined) throw invalid(e.name, `a ${e.type} entry cannot have a body`);
    if (!Number.isSafeInteger(size) || size < 0) throw invalid(e.name, "size must be a non-negative integer");
    const { header, pax } = encodeHeader(e, size);
    if (pax.size > 0) yield encodePax(e.name, pax);
    yield header;
    if (e.type !== "file") continue;
    if (bytes !== undefined) {
      if (bytes.length > 0) yield bytes;
    } else if (streamed !== undefined) {
      let written = 0;
      for await (const chunk of streamed.stream) {
        written += chunk.length;
        if (written > size) throw invalid(e.name, `body is longer than its declared size ${size}`);
        yield chunk;
      }
      if (written !== size) throw invalid(e.name, `body has ${written} bytes, declared size ${size}`);
    }
    const pad = padding(size);
    if (pad > 0) yield new Uint8Array(pad);
  }
  if (options.endOfArchive ?? true) yield new Uint8Array(BLOCK_SIZE * 2);
}

/** The archive as a stream; entries (and streamed bodies) are pulled as the consumer reads. */
export function writeTar(
  entries: Iterable<TarWriterEntry> | AsyncIterable<TarWriterEntry>,
  options: TarWriterOptions = {},
): ReadableStream<Uint8Array> {
  const gen = encodeEntries(entries, options);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const r = await gen.next();
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    async cancel() {
      await gen.return();
    },
  });
}

/** The whole archive in memory: for tests and small archives. */
export async function tarBytes(
  entries: Iterable<TarWriterEntry> | AsyncIterable<TarWriterEntry>,
  options: TarWriterOptions = {},
): Promise<Uint8Array<ArrayBuffer>> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of encodeEntries(entries, options)) {
    chunks.push(chunk);
    size += chunk.length;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

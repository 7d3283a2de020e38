/**
 * Random access to the members of an image archive, without unpacking it: a tar file is indexed
 * once by walking its headers with positional reads (bodies are skipped, never read), and each
 * member is then served as a byte range of the file. An image directory (an OCI layout on disk)
 * serves its files the same way. Either way a layer streams straight from where it lies into the
 * store, however large it is, and metadata can come after the layers in the archive (as it does
 * in every `docker save` and `podman save` archive) without anything being held in memory.
 *
 * Every member path is checked when the archive is indexed: an absolute path or a `..` component
 * anywhere refuses the whole archive, as do links that point outside it.
 */
import { closeSync, fstatSync, lstatSync, openSync, readlinkSync, readSync, realpathSync, statSync } from "node:fs";
import { join, posix } from "node:path";
import { BoxError } from "../../errors.ts";
import { corrupt, decodeUtf8, isZeroBlock, padding, parseHeader, parsePaxRecords, TYPEFLAG } from "../tar-header.ts";

/** One file in an archive, readable in pieces. */
export interface Member {
  /** The member's normalised path inside the archive. */
  readonly name: string;
  readonly size: number;
  /** The bytes from `start` to the end, streamed. */
  stream(start?: number): ReadableStream<Uint8Array>;
  /** Up to `n` bytes from the start (fewer if the member is shorter). */
  head(n: number): Uint8Array;
  /** The whole member in memory: only for small documents, whose size the caller has checked. */
  bytes(): Uint8Array;
}

export interface ArchiveSource {
  /** What to call the archive in messages. */
  readonly label: string;
  /** The file at `path`, following links inside the archive; undefined if there is none. */
  member(path: string): Member | undefined;
  close(): void;
}

/** More members than any image archive has; the index is kept in memory, so it is bounded. */
const MAX_MEMBERS = 1_000_000;
/** PAX and GNU long-name entries are read into memory. */
const MAX_META = 1 << 20;
/** Links followed before a path is given up on as a loop. */
const MAX_LINKS = 16;

function unsafePath(label: string, path: string): BoxError {
  return new BoxError("E_INVALID_INPUT", `${label}: member path \`${path}\` is absolute or contains \`..\`; refusing the archive`, {
    hint: "the archive is malformed or malicious: image archives only hold relative paths",
  });
}

/**
 * An archive path in canonical form ("./blobs//sha256/x" → "blobs/sha256/x"), or undefined if it
 * is absolute or has a `..` component, which no image archive needs and a hostile one uses.
 */
export function safeArchivePath(path: string): string | undefined {
  if (path.startsWith("/")) return undefined;
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") return undefined;
    parts.push(part);
  }
  return parts.join("/");
}

type Kind = "file" | "directory" | "symlink" | "hardlink" | "other";

interface Entry {
  kind: Kind;
  /** Offset of the body in the archive file. */
  offset: number;
  size: number;
  linkname: string;
}

function readAt(fd: number, buf: Uint8Array, position: number): number {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

function truncated(label: string, what: string): BoxError {
  return new BoxError("E_INVALID_INPUT", `${label}: archive is truncated: ${what}`, {
    hint: "the file was cut short (an interrupted copy or download); save the image again",
  });
}

function kindOf(typeflag: number, name: string): Kind {
  switch (typeflag) {
    case 0:
      return name.endsWith("/") ? "directory" : "file";
    case TYPEFLAG.file:
    case TYPEFLAG.contiguous:
      return "file";
    case TYPEFLAG.directory:
      return "directory";
    case TYPEFLAG.symlink:
      return "symlink";
    case TYPEFLAG.hardlink:
      return "hardlink";
    default:
      return "other";
  }
}

/** Resolve links among indexed entries the way `tar -x` would lay them out, never leaving the root. */
function resolveLinks<E>(label: string, path: string, lookup: (p: string) => E | undefined, link: (e: E) => { kind: "symlink" | "hardlink"; target: string } | undefined): E | undefined {
  let current = safeArchivePath(path);
  if (current === undefined) throw unsafePath(label, path);
  for (let hops = 0; hops <= MAX_LINKS; hops++) {
    const entry = lookup(current);
    if (entry === undefined) return undefined;
    const l = link(entry);
    if (l === undefined) return entry;
    // A symlink is relative to its own directory; a hard link names another member from the root.
    const joined = l.kind === "symlink" && !l.target.startsWith("/") ? posix.join(posix.dirname(current), l.target) : l.target;
    const next = safeArchivePath(joined);
    if (next === undefined || l.target.startsWith("/")) {
      throw new BoxError("E_INVALID_INPUT", `${label}: member \`${current}\` links to \`${l.target}\`, outside the archive`, {
        hint: "the archive is malformed or malicious",
      });
    }
    current = next;
  }
  throw new BoxError("E_INVALID_INPUT", `${label}: member \`${path}\` is a chain of more than ${MAX_LINKS} links`);
}

/** An uncompressed tar file, indexed by its headers. */
export class TarFileSource implements ArchiveSource {
  private readonly entries = new Map<string, Entry>();
  private readonly fd: number;
  /** Whether the two zero blocks that end a tar archive were found. */
  readonly complete: boolean;

  constructor(private readonly path: string, readonly label: string) {
    this.fd = openSync(path, "r");
    try {
      this.complete = this.index();
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
  }

  private index(): boolean {
    const fileSize = fstatSync(this.fd).size;
    const block = new Uint8Array(512);
    let pos = 0;
    let pax: Map<string, Uint8Array> | undefined;
    let longName: string | undefined;
    let longLink: string | undefined;
    const meta = (size: number, at: number): Uint8Array => {
      if (size > MAX_META) throw corrupt(at, `extension entry of ${size} bytes is over the limit of ${MAX_META}`);
      const buf = new Uint8Array(size);
      if (readAt(this.fd, buf, at + 512) < size) throw truncated(this.label, `the extension entry at offset ${at} is cut short`);
      return buf;
    };
    for (;;) {
      const got = readAt(this.fd, block, pos);
      if (got === 0) return false;
      if (got < 512) throw truncated(this.label, `the file ends inside the header block at offset ${pos}`);
      if (isZeroBlock(block)) return true;
      const raw = parseHeader(block, pos);
      const nul = (b: Uint8Array): string => {
        const i = b.indexOf(0);
        return decodeUtf8(i === -1 ? b : b.subarray(0, i));
      };
      switch (raw.typeflag) {
        case TYPEFLAG.paxLocal:
          pax = parsePaxRecords(meta(raw.size, pos), pos);
          pos += 512 + raw.size + padding(raw.size);
          continue;
        case TYPEFLAG.paxGlobal:
          pos += 512 + raw.size + padding(raw.size);
          continue;
        case TYPEFLAG.gnuLongName:
          longName = nul(meta(raw.size, pos));
          pos += 512 + raw.size + padding(raw.size);
          continue;
        case TYPEFLAG.gnuLongLink:
          longLink = nul(meta(raw.size, pos));
          pos += 512 + raw.size + padding(raw.size);
          continue;
      }
      const paxText = (key: string): string | undefined => {
        const value = pax?.get(key);
        return value === undefined ? undefined : decodeUtf8(value);
      };
      const name = paxText("path") ?? longName ?? raw.name;
      const linkname = paxText("linkpath") ?? longLink ?? raw.linkname;
      const paxSize = paxText("size");
      if (paxSize !== undefined && !/^\d+$/.test(paxSize)) throw corrupt(pos, `invalid PAX size \`${paxSize}\``);
      const size = paxSize === undefined ? raw.size : Number(paxSize);
      pax = undefined;
      longName = undefined;
      longLink = undefined;
      const kind = kindOf(raw.typeflag, name);
      const bodySize = kind === "file" || kind === "other" ? size : 0;
      const normal = safeArchivePath(name);
      if (normal === undefined) throw unsafePath(this.label, name);
      if (pos + 512 + bodySize > fileSize) {
        throw truncated(this.label, `member \`${name}\` needs ${bodySize} bytes at offset ${pos + 512}, but the file ends at ${fileSize}`);
      }
      if (normal !== "") {
        if (this.entries.size >= MAX_MEMBERS && !this.entries.has(normal)) {
          throw new BoxError("E_INVALID_INPUT", `${this.label}: more than ${MAX_MEMBERS} members; this is not an image archive`);
        }
        this.entries.set(normal, { kind, offset: pos + 512, size: kind === "file" ? size : 0, linkname });
      }
      pos += 512 + bodySize + padding(bodySize);
    }
  }

  member(path: string): Member | undefined {
    const entry = resolveLinks(this.label, path, (p) => this.entries.get(p), (e) =>
      e.kind === "symlink" || e.kind === "hardlink" ? { kind: e.kind, target: e.linkname } : undefined);
    if (entry === undefined || entry.kind !== "file") return undefined;
    const { offset, size } = entry;
    const file = this.path;
    const fd = this.fd;
    return {
      name: safeArchivePath(path) as string,
      size,
      stream: (start = 0) => Bun.file(file).slice(offset + start, offset + size).stream(),
      head(n) {
        const buf = new Uint8Array(Math.min(n, size));
        readAt(fd, buf, offset);
        return buf;
      },
      bytes() {
        const buf = new Uint8Array(size);
        if (readAt(fd, buf, offset) < size) throw truncated(this.name, "member cut short");
        return buf;
      },
    };
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** An image layout unpacked in a directory (`box save --format oci-dir`, `skopeo copy oci:DIR`). */
export class DirSource implements ArchiveSource {
  constructor(private readonly root: string, readonly label: string) {}

  member(path: string): Member | undefined {
    const found = resolveLinks(this.label, path, (p) => {
      try {
        const st = lstatSync(join(this.root, p));
        return { path: p, st };
      } catch {
        return undefined;
      }
    }, (e) => (e.st.isSymbolicLink() ? { kind: "symlink", target: readlinkSync(join(this.root, e.path)) } : undefined));
    if (found === undefined || !found.st.isFile()) return undefined;
    const file = realpathSync(join(this.root, found.path));
    // A directory on the way may itself be a link; what counts is where the file really is.
    const root = realpathSync(this.root);
    if (!file.startsWith(`${root}/`)) {
      throw new BoxError("E_INVALID_INPUT", `${this.label}: \`${path}\` resolves to \`${file}\`, outside the image directory`);
    }
    const size = statSync(file).size;
    const read = (n: number): Uint8Array => {
      const fd = openSync(file, "r");
      try {
        const buf = new Uint8Array(Math.min(n, size));
        readAt(fd, buf, 0);
        return buf;
      } finally {
        closeSync(fd);
      }
    };
    return {
      name: safeArchivePath(path) as string,
      size,
      stream: (start = 0) => Bun.file(file).slice(start, size).stream(),
      head: read,
      bytes: () => read(size),
    };
  }

  close(): void {}
}

/**
 * Choosing one image from a multi-platform index, with containerd's matching rules: os and
 * architecture must agree after normalising aliases (x86_64 → amd64, aarch64 → arm64), and a
 * variant matches itself or an older variant the machine can also run (an arm/v7 machine runs
 * arm/v6 images; arm64 without a variant means v8).
 */
import { endianness } from "node:os";
import { BoxError } from "../../errors.ts";
import type { Descriptor } from "../../schema/oci.ts";

export interface PlatformSpec {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string | undefined;
}

const ARCH_ALIASES: Record<string, { architecture: string; variant?: string }> = {
  x86_64: { architecture: "amd64" },
  "x86-64": { architecture: "amd64" },
  aarch64: { architecture: "arm64" },
  armhf: { architecture: "arm", variant: "v7" },
  armel: { architecture: "arm", variant: "v6" },
  i386: { architecture: "386" },
};

/** Node's process.arch names → OCI's GOARCH names. */
const NODE_ARCH: Record<string, string> = {
  x64: "amd64",
  arm64: "arm64",
  arm: "arm",
  ia32: "386",
  ppc64: "ppc64le",
  s390x: "s390x",
  riscv64: "riscv64",
  loong64: "loong64",
  mipsel: "mipsle",
};

/**
 * An absent variant means the architecture's baseline, which makes "linux/arm64" and
 * "linux/arm64/v8" (or "linux/amd64" and "linux/amd64/v1") the same platform.
 */
const DEFAULT_VARIANT: Record<string, string> = { arm: "v7", arm64: "v8", amd64: "v1" };

/** Canonical spelling, so "linux/aarch64" and "linux/arm64/v8" compare equal. */
export function normalizePlatform(p: PlatformSpec): { os: string; architecture: string; variant: string } {
  const os = p.os.toLowerCase();
  const alias = ARCH_ALIASES[p.architecture.toLowerCase()];
  const architecture = alias?.architecture ?? p.architecture.toLowerCase();
  let variant = (p.variant ?? alias?.variant ?? "").toLowerCase();
  if (/^\d+$/.test(variant)) variant = `v${variant}`;
  if (variant === "") variant = DEFAULT_VARIANT[architecture] ?? "";
  return { os, architecture, variant };
}

/**
 * The platform of this machine; images are Linux images whatever the host reports. Big-endian
 * ppc64 has no Node build that reports a distinct arch, so endianness decides.
 */
export function hostPlatform(arch: string = process.arch): PlatformSpec {
  let architecture = NODE_ARCH[arch];
  if (architecture === undefined) {
    throw new BoxError("E_UNSUPPORTED", `no OCI platform is known for CPU architecture "${arch}"`, {
      hint: "choose the platform explicitly, e.g. linux/amd64",
    });
  }
  if (arch === "ppc64" && endianness() === "BE") architecture = "ppc64";
  if (architecture === "arm64") return { os: "linux", architecture, variant: "v8" };
  if (architecture === "arm") {
    const armVersion = (process.config.variables as Record<string, unknown>).arm_version;
    return { os: "linux", architecture, variant: `v${typeof armVersion === "string" ? armVersion : "7"}` };
  }
  return { os: "linux", architecture };
}

/** "linux/arm64/v8" → { os, architecture, variant }. */
export function parsePlatform(text: string): PlatformSpec {
  const parts = text.split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => !/^[A-Za-z0-9_.-]+$/.test(part))) {
    throw new BoxError("E_INVALID_INPUT", `invalid platform "${text}": write it as os/architecture[/variant]`, {
      hint: "for example linux/amd64 or linux/arm/v7",
    });
  }
  const [os = "", architecture = "", variant] = parts;
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

export function formatPlatform(p: PlatformSpec): string {
  return p.variant === undefined || p.variant === "" ? `${p.os}/${p.architecture}` : `${p.os}/${p.architecture}/${p.variant}`;
}

/** The oldest level of each architecture whose variants are numbered levels. */
const LEVEL_FLOOR: Record<string, number> = { arm: 5, arm64: 8, amd64: 1 };

/**
 * Variants this machine accepts, best first. Where variants are levels (arm v5…v7, arm64 v8…,
 * amd64 v1…v4) an older level still runs; elsewhere the variant must be equal.
 */
function acceptedVariants(architecture: string, variant: string): string[] {
  const floor = LEVEL_FLOOR[architecture];
  const level = /^v(\d+)$/.exec(variant);
  if (floor === undefined || level === null) return [variant];
  const out: string[] = [];
  for (let n = Number(level[1]); n >= floor; n--) out.push(`v${n}`);
  return out;
}

/**
 * Pick the manifest for `want` from an index's entries. Entries without a platform (attestations,
 * signatures) are never picked. Throws E_NOT_FOUND naming the platforms the index does offer.
 */
export function selectManifest<D extends Descriptor>(manifests: readonly D[], want: PlatformSpec, subject: string): D {
  const target = normalizePlatform(want);
  const accepted = acceptedVariants(target.architecture, target.variant);
  let best: { entry: D; rank: number } | undefined;
  for (const entry of manifests) {
    if (entry.platform === undefined) continue;
    const have = normalizePlatform(entry.platform);
    if (have.os !== target.os || have.architecture !== target.architecture) continue;
    const rank = accepted.indexOf(have.variant);
    if (rank === -1) continue;
    if (best === undefined || rank < best.rank) best = { entry, rank };
  }
  if (best !== undefined) return best.entry;
  const offered = manifests
    .flatMap((m) => (m.platform === undefined || m.platform.os === "unknown" ? [] : [formatPlatform(m.platform)]));
  throw new BoxError(
    "E_NOT_FOUND",
    `${subject} has no image for platform ${formatPlatform(want)}${offered.length === 0 ? "" : ` (it offers ${[...new Set(offered)].join(", ")})`}`,
    { hint: offered.length === 0 ? "the index lists no runnable platform images" : "choose one of the offered platforms explicitly" },
  );
}

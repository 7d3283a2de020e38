/**
 * Detach keys, as docker spells them (`--detach-keys ctrl-p,ctrl-q`): the key sequence that
 * leaves an attached container running. Bytes that start the sequence are held back until it
 * either completes (detach) or breaks (they go to the container after all).
 */
import { BoxError } from "../errors.ts";

export const DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q";

/** "ctrl-p,ctrl-q" -> [0x10, 0x11]. An empty string means no detach keys, as with podman. */
export function parseDetachKeys(spec: string): Uint8Array {
  if (spec === "") return new Uint8Array(0);
  const keys: number[] = [];
  for (const part of spec.split(",")) {
    const ctrl = /^ctrl-(.)$/.exec(part);
    if (ctrl) {
      const c = (ctrl[1] as string).toLowerCase();
      const code = c >= "a" && c <= "z" ? c.charCodeAt(0) - 96 : "@[\\]^_".indexOf(c) >= 0 ? c.charCodeAt(0) - 64 : -1;
      if (code < 0) throw invalid(spec, part);
      keys.push(code);
    } else if (part.length === 1 && part.charCodeAt(0) < 128) {
      keys.push(part.charCodeAt(0));
    } else throw invalid(spec, part);
  }
  return Uint8Array.from(keys);
}

function invalid(spec: string, part: string): BoxError {
  return new BoxError("E_INVALID_INPUT", `invalid detach keys \`${spec}\`: unknown key \`${part}\``, {
    hint: "use a comma-separated list of single characters or ctrl-<a-z, @, [, \\, ], ^, _>, e.g. ctrl-p,ctrl-q",
  });
}

export class DetachKeyMatcher {
  private matched = 0;

  constructor(private readonly keys: Uint8Array) {}

  /** What of `input` goes to the container, and whether the sequence completed. */
  feed(input: Uint8Array): { forward: Uint8Array; detach: boolean } {
    if (this.keys.length === 0) return { forward: input, detach: false };
    const out: number[] = [];
    for (const b of input) {
      if (b === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) {
          this.matched = 0;
          return { forward: Uint8Array.from(out), detach: true };
        }
        continue;
      }
      for (let i = 0; i < this.matched; i++) out.push(this.keys[i] as number);
      this.matched = b === this.keys[0] ? 1 : 0;
      if (this.matched === 0) out.push(b);
    }
    return { forward: Uint8Array.from(out), detach: false };
  }
}

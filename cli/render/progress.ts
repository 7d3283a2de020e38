/**
 * Per-layer transfer progress on a terminal, docker-style: one line per layer, redrawn in place
 * ("3f2a1b0c9d8e: Downloading  12.5MB/48.2MB"). Used only when stdout is a TTY; piped output gets
 * no progress at all.
 */
import { out } from "./output.ts";
import { formatBytes } from "./units.ts";

interface Row {
  status: string;
  done?: number | undefined;
  total?: number | undefined;
}

const LABELS: Record<string, string> = {
  waiting: "Waiting",
  downloading: "Downloading",
  uploading: "Pushing",
  extracting: "Extracting",
  done: "Pull complete",
  pushed: "Pushed",
  exists: "Already exists",
  mounted: "Mounted from another repository",
};

/** Redraws at most this often: a loopback pull reports progress thousands of times a second. */
const FRAME_MS = 100;

export class LayerProgress {
  private readonly rows = new Map<string, Row>();
  private drawn = 0;
  private last = 0;

  /** `write` is stderr for the pull that `box run` makes, so the container's stdout stays its own. */
  constructor(private readonly doneLabel = "Pull complete", private readonly write: (text: string) => void = out) {}

  /** Declare the layers up front so the lines keep the manifest's order. */
  start(digests: string[]): void {
    for (const d of digests) if (!this.rows.has(d)) this.rows.set(d, { status: "waiting" });
    this.draw(true);
  }

  /** Only declared layers get a line (a push also sends the config, which docker does not show). */
  update(digest: string, status: string, done?: number, total?: number): void {
    if (!this.rows.has(digest)) return;
    this.rows.set(digest, { status, done, total });
    const final = status === "done" || status === "exists" || status === "pushed" || status === "mounted";
    this.draw(final);
  }

  finish(): void {
    this.draw(true);
  }

  private line(digest: string, row: Row): string {
    const label = row.status === "done" ? this.doneLabel : (LABELS[row.status] ?? row.status);
    const bytes = row.done !== undefined && (row.status === "downloading" || row.status === "uploading")
      ? `  ${formatBytes(row.done)}${row.total === undefined ? "" : `/${formatBytes(row.total)}`}`
      : "";
    return `${digest.slice(7, 19)}: ${label}${bytes}`;
  }

  private draw(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.last < FRAME_MS) return;
    this.last = now;
    // Move up over the previous frame, then rewrite every line, clearing what a longer line left.
    let text = this.drawn > 0 ? `\x1b[${this.drawn}A` : "";
    for (const [digest, row] of this.rows) text += `\r\x1b[2K${this.line(digest, row)}\n`;
    this.drawn = this.rows.size;
    this.write(text);
  }
}

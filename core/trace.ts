/**
 * Start-up timing marks for performance work: `BOX_TRACE=1 box run ...` prints, at exit, the
 * milliseconds since the process started at each step. Recording costs one array push.
 */
const enabled = process.env.BOX_TRACE === "1";
const marks: [string, number][] = [];

export function mark(label: string): void {
  if (enabled) marks.push([label, performance.now()]);
}

export function traceReport(): string | undefined {
  if (!enabled || marks.length === 0) return undefined;
  return marks.map(([l, t]) => `trace ${t.toFixed(2).padStart(8)} ms  ${l}`).join("\n");
}

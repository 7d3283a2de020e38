/**
 * Benchmark helpers: commands are timed interleaved (A B C A B C ...) so that machine noise hits
 * every contender alike, and medians are reported, never means.
 */
export interface Contender {
  name: string;
  cmd: string[];
  /** Run before each timed run (not timed), e.g. to remove a leftover container. */
  before?: () => void;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export function timeOnce(c: Contender): number {
  c.before?.();
  const t0 = Bun.nanoseconds();
  const r = Bun.spawnSync(c.cmd, { stdout: "ignore", stderr: "pipe" });
  const dt = (Bun.nanoseconds() - t0) / 1e6;
  if (r.exitCode !== 0) throw new Error(`${c.name} failed (${r.exitCode}): ${r.stderr.toString().trim()}`);
  return dt;
}

export function compare(contenders: Contender[], runs: number, warmup = 3): Map<string, number> {
  for (const c of contenders) for (let i = 0; i < warmup; i++) timeOnce(c);
  const times = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let i = 0; i < runs; i++) for (const c of contenders) times.get(c.name)?.push(timeOnce(c));
  return new Map([...times].map(([k, v]) => [k, median(v)]));
}

export function report(title: string, medians: Map<string, number>, reference: string): void {
  const ref = medians.get(reference) as number;
  console.log(`\n${title} (median of interleaved runs)`);
  for (const [name, ms] of medians) {
    const ratio = name === reference ? "" : `  ${(ms / ref).toFixed(2)}x ${reference}`;
    console.log(`  ${name.padEnd(34)} ${ms.toFixed(1).padStart(8)} ms${ratio}`);
  }
}

/** Columns aligned the way docker's tabwriter lays them out: each padded to its widest cell + 3. */
export function renderTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd((widths[i] ?? 0) + 3))).join("").trimEnd())
    .map((line) => `${line}\n`)
    .join("");
}

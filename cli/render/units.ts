/** Sizes and ages as docker prints them: "5.59MB" (powers of 1000), "3 days ago". */

export function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${n}B` : `${v.toPrecision(3).replace(/\.?0+$/, "")}${units[i]}`;
}

/** docker's units.HumanDuration, followed by "ago". */
export function formatAge(iso: string | undefined, now = Date.now()): string {
  if (iso === undefined) return "N/A";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "N/A";
  const s = Math.max(0, (now - t) / 1000);
  const ago = (text: string): string => `${text} ago`;
  if (s < 1) return "Less than a second ago";
  if (s < 60) return ago(`${Math.floor(s)} second${Math.floor(s) === 1 ? "" : "s"}`);
  const m = s / 60;
  if (m < 60) return ago(Math.floor(m) === 1 ? "About a minute" : `${Math.floor(m)} minutes`);
  const h = m / 60;
  if (h < 48) return ago(Math.round(h) === 1 ? "About an hour" : `${Math.round(h)} hours`);
  const d = h / 24;
  if (d < 14) return ago(`${Math.floor(d)} days`);
  if (d < 60) return ago(`${Math.floor(d / 7)} weeks`);
  if (d < 365 * 2) return ago(`${Math.floor(d / 30)} months`);
  return ago(`${Math.floor(d / 365)} years`);
}

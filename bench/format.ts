/** Fixed decimals; "–" for NaN/undefined. */
export function fmt(n: number | undefined, digits: number): string {
  return n === undefined || !Number.isFinite(n) ? "–" : n.toFixed(digits);
}

export function pad(s: string, width: number, right = false): string {
  return right ? s.padStart(width) : s.padEnd(width);
}

/** A plain text table: first row is the header. */
export function table(rows: string[][], rightAligned: (col: number) => boolean = (c) => c > 0): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  const line = (r: string[]): string => r.map((cell, c) => pad(cell, widths[c]!, rightAligned(c))).join("  ");
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

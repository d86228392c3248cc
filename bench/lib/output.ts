/** Output of the bench: progress lines on stderr (stdout is reserved for results), numbers, tables. */

/** Progress line to stderr (stdout is reserved for results). */
export function progress(message: string): void {
  const t = new Date().toISOString().slice(11, 23);
  process.stderr.write(`[${t}] ${message}\n`);
}

/** Round to a sensible number of significant digits for display. */
export function fmt(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return "-";
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString("en-US");
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** Render rows as a plain-text table. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

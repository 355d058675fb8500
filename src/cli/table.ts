/** Plain-text tables for people (`--json` prints the API's answer instead). */

/** Columns padded to their widest cell, two spaces apart; no trailing spaces. */
export function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return `${cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n')}\n`;
}

/** A TimeInfo (`{ nanoseconds }`) as an ISO time, or '-'. */
export function timeText(t: { nanoseconds?: string | number } | null | undefined): string {
  const ns = Number(t?.nanoseconds ?? NaN);
  return Number.isFinite(ns) && ns > 0 ? new Date(ns / 1e6).toISOString().replace(/\.\d{3}Z$/, 'Z') : '-';
}

/** Where a command writes (so tests can capture it). */
export interface CliOutput {
  stdout(s: string): void;
  stderr(s: string): void;
  /** Whether stdout is a terminal (progress is then rewritten in place). @default false */
  isTTY?(): boolean;
  /** The terminal's width in columns, when it is one. */
  columns?(): number | undefined;
}

/** Ends the command with an exit code after it has already said why (e.g. 78 for bad config). */
export class CliExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}

/**
 * The message as `--json` prints it: the documented fields only. The proto loader marks each set
 * proto3 `optional` field with a synthetic oneof (`"_cmd": "cmd"`); those markers are not part of the
 * message and are left out.
 */
export function jsonText(value: unknown): string {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return v;
    const o = v as Record<string, unknown>;
    return Object.fromEntries(Object.entries(o).filter(([k, x]) => !(k.startsWith('_') && x === k.slice(1) && k.slice(1) in o)).map(([k, x]) => [k, strip(x)]));
  };
  return `${JSON.stringify(strip(value), null, 2)}\n`;
}

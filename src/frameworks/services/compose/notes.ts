/**
 * What an import says about a Compose file besides the apps: keys it could not map (`unmapped`),
 * keys mapped with a difference worth knowing (`warnings`), and values it cannot import at all
 * (`errors`, which make the import fail). Each names the key by its path in the file
 * (`services.web.deploy.placement`), so the CLI can add the line it is on.
 */
import { describeValue } from '../../../common/wire/problems';

/** A key's path in the file: `['services', 'web', 'ports', 0]`. */
export type Path = readonly (string | number)[];

/** One thing said about one key. */
export interface Note {
  readonly at: Path;
  readonly message: string;
}

/** `services.web.ports[0]`, `services["my.app"].environment`. */
export function pathText(at: Path): string {
  let out = '';
  for (const seg of at) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** Collects the notes of one import. */
export class Notes {
  readonly unmapped: Note[] = [];
  readonly warnings: Note[] = [];
  readonly errors: Note[] = [];

  /** A key Berth has no equivalent for: listed, never silently dropped. */
  unmappedKey(at: Path, why: string): void {
    this.unmapped.push({ at, message: why });
  }

  /** A key mapped, but not exactly. */
  warn(at: Path, message: string): void {
    this.warnings.push({ at, message });
  }

  /** A value that cannot be imported. */
  error(at: Path, message: string): void {
    this.errors.push({ at, message });
  }

  /** An error for a value of the wrong shape: `must be …, got …`. */
  wrongShape(at: Path, expected: string, value: unknown): void {
    this.error(at, `must be ${expected}, got ${describeShape(value)}`);
  }
}

/** A value's kind and, for scalars, the value: for "got …" in messages. */
export function describeShape(v: unknown): string {
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v !== null && typeof v === 'object') return 'a mapping';
  return describeValue(v);
}

/** Whether `v` is a plain mapping (not a list, not null). */
export function isMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Handles each key of a mapping with `handlers`; a key without one is listed as not imported. */
export function eachKey(value: Record<string, unknown>, at: Path, notes: Notes, handlers: Record<string, (v: unknown, at: Path) => void>, notMapped: Record<string, string> = {}): void {
  for (const [k, v] of Object.entries(value)) {
    const here = [...at, k];
    if (k.startsWith('x-')) notes.warn(here, 'extension field: not read');
    else if (Object.hasOwn(handlers, k)) handlers[k]!(v, here);
    else notes.unmappedKey(here, notMapped[k] ?? 'not a Compose key Berth knows here (a typo?)');
  }
}

/** `value` read with `read`, or an error at `at` (and undefined). */
export function readOr<T>(read: (v: unknown) => { ok: true; value: T } | { ok: false; problem: string }, v: unknown, at: Path, notes: Notes): T | undefined {
  const r = read(v);
  if (r.ok) return r.value;
  notes.error(at, r.problem);
  return undefined;
}

/**
 * Readers for the primitive wire values that the generated types leave loose: 64-bit integers
 * (decimal strings when decoded, `number | string | Long` when built by hand), enums (names when
 * decoded, numbers allowed when built by hand) and doubles. Each reader returns the value or a
 * problem text naming it, and never throws, so callers can collect problems.
 */
import { describeValue } from './problems';

/** A value or the reason it is unusable. */
export type Read<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string };

const ok = <T>(value: T): Read<T> => ({ ok: true, value });
const bad = (problem: string): Read<never> => ({ ok: false, problem });

const INTEGER = /^-?\d+$/;

/** Decimal text of a wire integer: a number, a decimal string, or a `Long` (by its `toString`). */
function integerText(v: unknown): string | undefined {
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v).toString() : undefined;
  if (typeof v === 'string') return INTEGER.test(v) ? v : undefined;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'object' && v !== null && typeof (v as { low?: unknown }).low === 'number') {
    const text = String(v); // Long#toString: decimal
    return INTEGER.test(text) ? text : undefined;
  }
  return undefined;
}

/** Reads a wire int64/uint64 as a bigint. `undefined`/`null` read as 0 (the proto3 default). */
export function readBigInt(v: unknown): Read<bigint> {
  if (v === undefined || v === null) return ok(0n);
  const text = integerText(v);
  return text === undefined ? bad(`must be an integer, got ${describeValue(v)}`) : ok(BigInt(text));
}

/**
 * Reads a wire uint64 that Berth keeps as a JavaScript number (range bounds): a non-negative
 * integer no larger than `Number.MAX_SAFE_INTEGER`.
 */
export function readSafeUint(v: unknown): Read<number> {
  const r = readBigInt(v);
  if (!r.ok) return bad(`must be a non-negative integer, got ${describeValue(v)}`);
  if (r.value < 0n) return bad(`must be a non-negative integer, got ${r.value}`);
  if (r.value > BigInt(Number.MAX_SAFE_INTEGER)) return bad(`must be at most ${Number.MAX_SAFE_INTEGER}, got ${r.value}`);
  return ok(Number(r.value));
}

/** Reads a wire double (a number, or a decimal string when built by hand). Absent reads as 0. */
export function readDouble(v: unknown): Read<number> {
  if (v === undefined || v === null) return ok(0);
  if (typeof v === 'number') return ok(v);
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return ok(Number(v));
  return bad(`must be a number, got ${describeValue(v)}`);
}

/**
 * The name of an enum value given as a name or a number, against a generated enum object (whose
 * keys are in number order, which holds for every berth.v1 enum: they are dense from 0).
 * Unknown values give `undefined`; absent gives the `*_UNSPECIFIED` name (index 0).
 */
export function enumName<E extends Record<string, string>>(values: E, v: unknown): E[keyof E] | undefined {
  const names = Object.keys(values);
  if (v === undefined || v === null) return values[names[0]] as E[keyof E];
  if (typeof v === 'string') return Object.prototype.hasOwnProperty.call(values, v) ? (values[v] as E[keyof E]) : undefined;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < names.length) return values[names[v]] as E[keyof E];
  return undefined;
}

// Control characters (C0, DEL, C1) and the Unicode line/paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * Why `v` is not a usable identifier-like string (ids, names, principals), or `undefined`.
 * Rules: a string, non-empty, not whitespace only, no control characters, at most `maxLength`.
 */
export function textProblem(v: unknown, maxLength: number): string | undefined {
  if (typeof v !== 'string') return `must be a string, got ${describeValue(v)}`;
  if (v.length === 0) return 'must not be empty';
  if (v.trim().length === 0) return `must not be whitespace only, got ${describeValue(v)}`;
  if (CONTROL.test(v)) return `must not contain control characters, got ${describeValue(v)}`;
  if (v.length > maxLength) return `must be at most ${maxLength} characters, got ${v.length}`;
  return undefined;
}

/** Whether `v` holds a control character (see {@link textProblem}). */
export function hasControlCharacters(v: string): boolean {
  return CONTROL.test(v);
}


/**
 * Fixed-point scalars for resource arithmetic.
 *
 * Why: summing floats drifts (0.1 + 0.2 !== 0.3), and an allocator that adds and subtracts `cpus:0.1`
 * millions of times must end exactly where it started, or `contains` starts lying. Like Mesos (which
 * rounds every scalar to 0.001), Berth stores every scalar as an integer count of thousandths ("milli")
 * and does all arithmetic on those integers; integers below 2^53 add and subtract exactly.
 */
import { ResourceError } from './errors';

/** An integer count of thousandths of a resource unit: `cpus:1.5` is 1500 milli. */
export type Milli = number;

/**
 * Converts a user-facing number to milli, rounding to the nearest 0.001 (as Mesos does).
 * Called by parsers and by convenience constructors such as `Resources.scalar`.
 *
 * @throws ResourceError `INVALID_RESOURCES` for NaN, ±Infinity, non-numbers, or values whose milli
 *   count is not a safe integer (|x| ≳ 9·10^12).
 */
export function toMilli(x: number): Milli {
  if (typeof x !== 'number' || !Number.isFinite(x)) {
    throw new ResourceError('INVALID_RESOURCES', `scalar value must be a finite number, got ${String(x)}`);
  }
  const m = Math.round(x * 1000);
  if (!Number.isSafeInteger(m)) {
    throw new ResourceError('INVALID_RESOURCES', `scalar value ${x} is out of range`);
  }
  return m === 0 ? 0 : m; // normalise -0
}

/** Converts milli back to a plain number for display or for ratios (shares). Never throws. */
export function fromMilli(m: Milli): number {
  return m / 1000;
}

/**
 * Formats milli as the shortest exact decimal: 1500 → "1.5", 4000 → "4", 1 → "0.001", -250 → "-0.25".
 * Uses integer arithmetic only, so the text is exact (no `0.30000000000000004`). Never throws; a
 * non-integer input is rounded first.
 */
export function formatMilli(m: Milli): string {
  let a = Math.round(m);
  const sign = a < 0 ? '-' : '';
  if (a < 0) a = -a;
  const whole = Math.floor(a / 1000);
  const frac = a - whole * 1000;
  if (frac === 0) return sign + String(whole);
  let f = frac < 10 ? '00' + frac : frac < 100 ? '0' + frac : String(frac);
  while (f.endsWith('0')) f = f.slice(0, -1);
  return `${sign}${whole}.${f}`;
}

const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Parses the decimal text of a scalar value ("4", "0.5", "1e3", "-2"). Returns `undefined` when the
 * text is not a plain decimal number (so "NaN", "Infinity", "0x10", "" and "abc" are all rejected,
 * unlike `Number()`); the sign is kept so that callers can report "must be non-negative" precisely.
 * Used by the text parsers of resources and quantities. Never throws.
 */
export function parseDecimal(text: string): number | undefined {
  if (!DECIMAL.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * Quantities: scalar amounts by resource name (`Map<name, milli>`), with no reservations, ranges or
 * sets. The allocator uses them for quota (guarantees and limits), DRF shares, and
 * `min_allocatable_resources` checks, where only "how much" matters, as Mesos'
 * `ResourceQuantities` (which replaced full `Resources` there for speed).
 *
 * Plain functions over maps, meant for a namespace import:
 *
 *     import * as quantities from '../common/quantities';
 *     const headroom = quantities.subtractClamped(quota, consumed);
 *
 * Every function returns a fresh map, never mutates its arguments, and omits zero amounts, so two
 * maps are equal iff they hold the same non-zero amounts. A name absent from a map means zero.
 */
import { declarationTokens } from './resources-text';
import { ResourceError } from './errors';
import { nameProblem } from './resource-entry';
import { formatMilli, parseDecimal, toMilli, type Milli } from './scalar';

/** Read-only quantities, as accepted by every function here (same as `Quantities` in resources.ts). */
export type ReadonlyQuantities = ReadonlyMap<string, Milli>;

/** `a + b` per name. Never throws. */
export function add(a: ReadonlyQuantities, b: ReadonlyQuantities): Map<string, Milli> {
  const out = new Map<string, Milli>();
  for (const [name, v] of a) if (v !== 0) out.set(name, v);
  for (const [name, v] of b) {
    const sum = (out.get(name) ?? 0) + v;
    if (sum === 0) out.delete(name);
    else out.set(name, sum);
  }
  return out;
}

/**
 * `a − b` per name, clamped at 0 (names where `b` exceeds `a` are absent from the result). For
 * headroom computations ("how much quota is left"). Never throws.
 */
export function subtractClamped(a: ReadonlyQuantities, b: ReadonlyQuantities): Map<string, Milli> {
  const out = new Map<string, Milli>();
  for (const [name, v] of a) {
    const d = v - (b.get(name) ?? 0);
    if (d > 0) out.set(name, d);
  }
  return out;
}

/**
 * `a − b` per name, for bookkeeping that must never go negative (e.g. removing an allocation from a
 * role's consumed quota).
 *
 * @throws ResourceError `RESOURCES_NOT_CONTAINED` naming the first name where `b` exceeds `a`.
 */
export function subtractOrThrow(a: ReadonlyQuantities, b: ReadonlyQuantities): Map<string, Milli> {
  for (const [name, v] of b) {
    const have = a.get(name) ?? 0;
    if (v > have) {
      throw new ResourceError(
        'RESOURCES_NOT_CONTAINED',
        `cannot subtract ${name}:${formatMilli(v)} from quantities with only ${name}:${formatMilli(have)}`,
      );
    }
  }
  const out = new Map<string, Milli>();
  for (const [name, v] of a) {
    const d = v - (b.get(name) ?? 0);
    if (d !== 0) out.set(name, d);
  }
  return out;
}

/** Whether `a ≤ b` on every name of `a` (names missing from `b` count as 0). Never throws. */
export function le(a: ReadonlyQuantities, b: ReadonlyQuantities): boolean {
  for (const [name, v] of a) if (v > (b.get(name) ?? 0)) return false;
  return true;
}

/** Whether every amount is zero (or the map is empty). Never throws. */
export function isZero(q: ReadonlyQuantities): boolean {
  for (const v of q.values()) if (v !== 0) return false;
  return true;
}

/**
 * Parses `cpus:1;mem:32` (units, not milli; rounded to 0.001; repeated names add). Used for quota and
 * `min_allocatable_resources` flags and API fields. Empty text gives an empty map.
 *
 * @throws ResourceError `INVALID_RESOURCES` naming the offending token and its position (reserved
 *   names like `cpus(eng)`, ranges and sets are rejected: quantities are scalars only).
 */
export function parse(text: string): Map<string, Milli> {
  const out = new Map<string, Milli>();
  for (const { token, position } of declarationTokens(text)) {
    const fail = (problem: string): never => {
      throw new ResourceError('INVALID_RESOURCES', `invalid quantity ${JSON.stringify(token)} at position ${position}: ${problem}`);
    };
    const colon = token.indexOf(':');
    if (colon < 0) fail('expected "name:value"');
    const name = token.slice(0, colon).trim();
    const np = nameProblem(name);
    if (np !== undefined) fail(`invalid name ${JSON.stringify(name)}: ${np} (quantities have no roles, ranges or sets)`);
    const valueText = token.slice(colon + 1).trim();
    if (valueText === '') fail('missing value');
    const n = parseDecimal(valueText);
    if (n === undefined) fail(`value ${JSON.stringify(valueText)} is not a number (quantities are scalars only)`);
    if (n! < 0) fail('value must be non-negative');
    let m: Milli = 0;
    try {
      m = toMilli(n!);
    } catch {
      fail(`value ${JSON.stringify(valueText)} is out of range`);
    }
    if (name === 'gpus' && m % 1000 !== 0) fail('gpus must be a whole number');
    const sum = (out.get(name) ?? 0) + m;
    if (sum === 0) out.delete(name);
    else out.set(name, sum);
  }
  return out;
}

/**
 * Formats as `cpus:1.5;mem:32`, names sorted, zero amounts omitted; `parse(format(q))` equals `q`.
 * Never throws.
 */
export function format(q: ReadonlyQuantities): string {
  return [...q.keys()]
    .filter((name) => q.get(name) !== 0)
    .sort()
    .map((name) => `${name}:${formatMilli(q.get(name)!)}`)
    .join(';');
}

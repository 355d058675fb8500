/**
 * Wire `ResourceQuantity` lists ↔ quantities (`Map<name, milli>`), as used by quota,
 * `min_allocatable_resources` and demand declarations.
 */
import type { ResourceQuantity, ResourceQuantity__Output } from '../../generated/berth/v1/ResourceQuantity';
import { formatMilli, toMilli, type Milli } from '../scalar';
import { collectProblems, describeValue, type Problems } from './problems';
import { resourceNameProblem } from './resources';
import { readDouble } from './values';

/** One validated quantity. */
export interface QuantityEntry {
  readonly name: string;
  /** The amount in thousandths (non-negative; whole units for `gpus`). */
  readonly milli: Milli;
}

/**
 * Validates one wire quantity: a valid resource name and a finite, non-negative amount (whole for
 * `gpus`), rounded to 0.001. Records problems at `at.name` / `at.value` and returns `undefined` then.
 */
export function readQuantity(q: ResourceQuantity | null | undefined, at: string, problems: Problems): QuantityEntry | undefined {
  const name = q?.name;
  const before = problems.size;
  const np = resourceNameProblem(name);
  if (np !== undefined) problems.add(`${at}.name`, np);
  const d = readDouble(q?.value);
  if (!d.ok) problems.add(`${at}.value`, d.problem);
  else if (!Number.isFinite(d.value)) problems.add(`${at}.value`, `must be a finite number, got ${describeValue(d.value)}`);
  else if (d.value < 0) problems.add(`${at}.value`, `must be non-negative, got ${describeValue(d.value)}`);
  if (problems.size > before || !d.ok) return undefined;
  const milli = problems.capture(`${at}.value`, () => toMilli(d.value));
  if (milli === undefined) return undefined;
  if (name === 'gpus' && milli % 1000 !== 0) {
    problems.add(`${at}.value`, `gpus must be a whole number, got ${describeValue(d.value)}`);
    return undefined;
  }
  return { name: name!, milli };
}

/**
 * Converts a wire quantity list to a map; repeated names add up, zero amounts are omitted.
 *
 * @throws ValidationError naming every bad entry, e.g. `quantities[1].value: must be non-negative, got -2`.
 */
export function quantitiesFromWire(list: readonly ResourceQuantity[] | null | undefined, path = 'quantities'): Map<string, Milli> {
  return collectProblems((problems) => readQuantities(list, path, problems));
}

/** {@link quantitiesFromWire} that records problems in `problems` instead of throwing. */
export function readQuantities(list: readonly ResourceQuantity[] | null | undefined, path: string, problems: Problems): Map<string, Milli> {
  const out = new Map<string, Milli>();
  (list ?? []).forEach((q, i) => {
    const e = readQuantity(q, `${path}[${i}]`, problems);
    if (e !== undefined && e.milli !== 0) out.set(e.name, (out.get(e.name) ?? 0) + e.milli);
  });
  return out;
}

/** The wire form of quantities, names sorted, zero amounts omitted, values exact. Never throws. */
export function quantitiesToWire(q: ReadonlyMap<string, Milli>): ResourceQuantity__Output[] {
  return [...q.keys()]
    .sort()
    .filter((name) => q.get(name) !== 0)
    .map((name) => ({ name, value: Number(formatMilli(q.get(name)!)) }));
}

/**
 * What describes an agent besides its resources: attributes (`rack:r1`, `level:2`, `slots:[1-4]`)
 * and the fault domain (region, zone), wire ↔ the allocator's plain data.
 *
 * The types here mirror `src/allocator/types.ts` (`Attribute`, `AgentDescription.domain`) field for
 * field; `common` may not import the allocator, and a type test keeps the two assignable both ways.
 */
import type { Attribute as WireAttribute, Attribute__Output } from '../../generated/berth/v1/Attribute';
import type { DomainInfo, DomainInfo__Output } from '../../generated/berth/v1/DomainInfo';
import type { Attribute } from '../attributes';
import { ValueType } from '../../generated/berth/v1/ValueType';
import { collectProblems, describeValue, ValidationError, type Problems } from './problems';
import { enumName, readDouble, readSafeUint, textProblem } from './values';
import { normalizeRanges } from '../resource-values';

export type { Attribute };

/** A fault domain (same shape as the allocator's `AgentDescription.domain`, both parts required). */
export interface FaultDomain {
  readonly region: string;
  readonly zone: string;
}

/** Longest attribute name accepted. */
export const MAX_ATTRIBUTE_NAME_LENGTH = 256;

/**
 * Converts and validates wire attributes: non-empty names without control characters, no name
 * twice (constraints look attributes up by name), `type` TEXT, SCALAR or RANGES matching the value
 * set, finite scalars, integer ranges with begin ≤ end (sorted and merged).
 *
 * @throws ValidationError naming every bad attribute, e.g. `attributes[1].scalar.value: must be a finite number, got NaN`.
 */
export function attributesFromWire(list: readonly WireAttribute[] | null | undefined, path = 'attributes'): Attribute[] {
  return collectProblems((problems) => readAttributes(list, path, problems));
}

/** {@link attributesFromWire} that records problems in `problems` instead of throwing. */
export function readAttributes(list: readonly WireAttribute[] | null | undefined, path: string, problems: Problems): Attribute[] {
  const out: Attribute[] = [];
  const seen = new Map<string, number>();
  (list ?? []).forEach((w, i) => {
    const at = `${path}[${i}]`;
    const before = problems.size;
    const name = w?.name;
    const np = textProblem(name, MAX_ATTRIBUTE_NAME_LENGTH);
    if (np !== undefined) problems.add(`${at}.name`, np);
    else if (seen.has(name!)) problems.add(`${at}.name`, `${describeValue(name)} repeats ${path}[${seen.get(name!)}]: attribute names must be unique`);
    else seen.set(name!, i);
    const type = enumName(ValueType, w?.type);
    const member = type === 'TEXT' ? 'text' : type === 'SCALAR' ? 'scalar' : type === 'RANGES' ? 'ranges' : undefined;
    if (member === undefined) {
      problems.add(`${at}.type`, `must be TEXT, SCALAR or RANGES, got ${describeValue(type ?? w?.type)}`);
      return;
    }
    for (const m of ['text', 'scalar', 'ranges'] as const) {
      const present = w[m] !== undefined && w[m] !== null;
      if (m === member && !present) problems.add(`${at}.${m}`, `is required for a ${type} attribute`);
      if (m !== member && present) problems.add(`${at}.${m}`, `must not be set for a ${type} attribute`);
    }
    if (problems.size > before) return;
    if (member === 'text') {
      const text = w.text!.value ?? '';
      if (typeof text !== 'string') return void problems.add(`${at}.text.value`, `must be a string, got ${describeValue(text)}`);
      out.push({ name: name!, text });
    } else if (member === 'scalar') {
      const d = readDouble(w.scalar!.value);
      if (!d.ok) return void problems.add(`${at}.scalar.value`, d.problem);
      if (!Number.isFinite(d.value)) return void problems.add(`${at}.scalar.value`, `must be a finite number, got ${describeValue(d.value)}`);
      out.push({ name: name!, scalar: d.value });
    } else {
      const ranges: { begin: number; end: number }[] = [];
      (w.ranges!.range ?? []).forEach((r, j) => {
        const b = readSafeUint(r?.begin);
        const e = readSafeUint(r?.end);
        if (!b.ok) problems.add(`${at}.ranges.range[${j}].begin`, b.problem);
        if (!e.ok) problems.add(`${at}.ranges.range[${j}].end`, e.problem);
        if (b.ok && e.ok) {
          if (b.value > e.value) problems.add(`${at}.ranges.range[${j}]`, `begin ${b.value} is greater than end ${e.value}`);
          else ranges.push({ begin: b.value, end: e.value });
        }
      });
      if (problems.size === before) out.push({ name: name!, ranges: normalizeRanges(ranges) });
    }
  });
  return out;
}

/**
 * The wire form of attributes, in the given order (decoded shape).
 *
 * @throws ValidationError for an attribute the wire cannot carry (a `set`, or no value at all).
 */
export function attributesToWire(list: readonly Attribute[]): Attribute__Output[] {
  return list.map((a, i) => {
    if (a.text !== undefined) return { name: a.name, type: 'TEXT', text: { value: a.text }, value: 'text' };
    if (a.scalar !== undefined) return { name: a.name, type: 'SCALAR', scalar: { value: a.scalar }, value: 'scalar' };
    if (a.ranges !== undefined) {
      const range = a.ranges.map((r) => ({ begin: String(r.begin), end: String(r.end) }));
      return { name: a.name, type: 'RANGES', ranges: { range }, value: 'ranges' };
    }
    throw ValidationError.of(`attributes[${i}]`, `attribute ${describeValue(a.name)} has no TEXT, SCALAR or RANGES value (SET attributes cannot be sent)`);
  });
}

/**
 * Converts a wire DomainInfo: absent (or without `fault_domain`) gives `undefined`; a fault domain
 * needs both a region and a zone name.
 *
 * @throws ValidationError e.g. `domain.fault_domain.zone.name: must not be empty`.
 */
export function domainFromWire(d: DomainInfo | null | undefined, path = 'domain'): FaultDomain | undefined {
  return collectProblems((problems) => readDomain(d, path, problems));
}

/** {@link domainFromWire} that records problems in `problems` instead of throwing. */
export function readDomain(d: DomainInfo | null | undefined, path: string, problems: Problems): FaultDomain | undefined {
  const fd = d?.fault_domain;
  if (fd === undefined || fd === null) return undefined;
  const region = fd.region?.name;
  const zone = fd.zone?.name;
  const rp = textProblem(region ?? '', MAX_ATTRIBUTE_NAME_LENGTH);
  const zp = textProblem(zone ?? '', MAX_ATTRIBUTE_NAME_LENGTH);
  if (rp !== undefined) problems.add(`${path}.fault_domain.region.name`, rp);
  if (zp !== undefined) problems.add(`${path}.fault_domain.zone.name`, zp);
  return rp === undefined && zp === undefined ? { region: region!, zone: zone! } : undefined;
}

/**
 * The wire form of a fault domain; `undefined` gives a DomainInfo without one.
 *
 * @throws ValidationError if only one of region and zone is given (the wire needs both).
 */
export function domainToWire(d: { readonly region?: string; readonly zone?: string } | undefined): DomainInfo__Output {
  if (d === undefined || (d.region === undefined && d.zone === undefined)) return { fault_domain: null };
  if (d.region === undefined || d.zone === undefined) {
    throw ValidationError.of('domain', `a fault domain needs both a region and a zone, got region ${describeValue(d.region)} and zone ${describeValue(d.zone)}`);
  }
  return { fault_domain: { region: { name: d.region }, zone: { name: d.zone } } };
}

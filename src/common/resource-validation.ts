/**
 * What makes a resource valid (names, set items, reservation stacks, disk info, values): the
 * checks every entry passes before the resources library holds it. Re-exported by resource-entry.ts.
 */
import { DEFAULT_ROLE, isSubroleOf, roleProblem } from './roles';
import { findOverlap, formatRange, type Range } from './resource-values';
import type { DiskInfo, Reservation, Resource } from './resource-model';

// Characters that would make a resource name or set item ambiguous in the text form
// (`name(role):value;…`, `{a,b}`), plus whitespace and control characters.
const NAME_FORBIDDEN = /[\s\u0000-\u001f\u007f;:,()[\]{}<>=]/;
const ITEM_FORBIDDEN = /[\s\u0000-\u001f\u007f;,{}[\]]/;

/** Why `name` is not a valid resource name, or `undefined`. */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'name must be a non-empty string';
  const bad = NAME_FORBIDDEN.exec(name);
  return bad ? `name must not contain ${JSON.stringify(bad[0])}` : undefined;
}

/** Why `item` is not a valid set item, or `undefined`. */
export function itemProblem(item: unknown): string | undefined {
  if (typeof item !== 'string' || item.length === 0) return 'set items must be non-empty strings';
  const bad = ITEM_FORBIDDEN.exec(item);
  return bad ? `set item ${JSON.stringify(item)} must not contain ${JSON.stringify(bad[0])}` : undefined;
}

/** Why a reservation is invalid on top of `below` (the stack under it), or `undefined`. */
export function reservationProblem(r: Reservation, below: readonly Reservation[]): string | undefined {
  if (typeof r !== 'object' || r === null) return 'reservation must be an object';
  if (r.type !== 'STATIC' && r.type !== 'DYNAMIC') return `reservation type must be STATIC or DYNAMIC, got ${JSON.stringify(r.type)}`;
  if (r.role === DEFAULT_ROLE) return 'cannot reserve to role "*" (it means unreserved)';
  const rp = roleProblem(r.role);
  if (rp !== undefined) return `invalid role ${JSON.stringify(r.role)}: ${rp}`;
  if (r.principal !== undefined && (typeof r.principal !== 'string' || r.principal === '')) {
    return 'reservation principal must be a non-empty string';
  }
  if (r.labels !== undefined) {
    if (typeof r.labels !== 'object' || r.labels === null || Array.isArray(r.labels)) return 'reservation labels must be an object of strings';
    for (const [k, v] of Object.entries(r.labels)) {
      if (typeof v !== 'string') return `reservation label ${JSON.stringify(k)} must be a string`;
    }
  }
  if (below.length > 0) {
    const owner = below[below.length - 1];
    if (!isSubroleOf(r.role, owner.role)) {
      return `reservation to ${JSON.stringify(r.role)} cannot refine one to ${JSON.stringify(owner.role)}: not a subrole`;
    }
    if (r.type === 'STATIC' && owner.type === 'DYNAMIC') return 'a STATIC reservation cannot refine a DYNAMIC one';
  }
  return undefined;
}

function diskProblem(r: Resource): string | undefined {
  const d = r.disk;
  if (d === undefined) return undefined;
  if (typeof d !== 'object' || d === null) return 'disk info must be an object';
  if (r.name !== 'disk' || r.kind !== 'scalar') return `disk info is only allowed on the scalar resource "disk", not on "${r.name}"`;
  if (d.persistence !== undefined) {
    if (typeof d.persistence.id !== 'string' || d.persistence.id === '') return 'persistence id must be a non-empty string';
    if (d.persistence.principal !== undefined && (typeof d.persistence.principal !== 'string' || d.persistence.principal === '')) {
      return 'persistence principal must be a non-empty string';
    }
  }
  if (d.volume !== undefined) {
    if (typeof d.volume.containerPath !== 'string' || d.volume.containerPath === '') return 'volume containerPath must be a non-empty string';
    if (d.volume.mode !== 'RW' && d.volume.mode !== 'RO') return `volume mode must be RW or RO, got ${JSON.stringify(d.volume.mode)}`;
  }
  return undefined;
}

/**
 * Explains why a resource is invalid, or returns `undefined`. Accepts unsorted ranges and sets (they
 * are normalised afterwards) and zero values (they are dropped afterwards). Never throws.
 * Rules: valid name; kind matches the one value field present; scalars are non-negative integers of
 * milli, and `gpus` whole numbers; ranges are non-negative integers with begin ≤ end and no overlap;
 * set items are valid and unique; reservation stacks refine (see {@link reservationProblem}); disk info
 * only on `disk`; only persistent volumes are shared; revocable resources are unreserved.
 */
export function resourceProblem(r: Resource): string | undefined {
  if (typeof r !== 'object' || r === null) return 'resource must be an object';
  const np = nameProblem(r.name);
  if (np !== undefined) return np;
  switch (r.kind) {
    case 'scalar': {
      if (r.ranges !== undefined || r.set !== undefined) return 'a scalar resource must not have ranges or a set';
      const v = r.scalar;
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) return 'scalar must be an integer number of milli';
      if (v < 0) return 'value must be non-negative';
      if (r.name === 'gpus' && v % 1000 !== 0) return 'gpus must be a whole number';
      break;
    }
    case 'ranges': {
      if (r.scalar !== undefined || r.set !== undefined) return 'a ranges resource must not have a scalar or a set';
      if (!Array.isArray(r.ranges)) return 'ranges must be an array';
      for (const range of r.ranges as readonly Range[]) {
        if (typeof range !== 'object' || range === null) return 'each range must be an object {begin, end}';
        const { begin, end } = range;
        if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end < 0) {
          return `range [${String(begin)}-${String(end)}]: bounds must be non-negative integers`;
        }
        if (begin > end) return `range ${formatRange(range)}: begin is greater than end`;
      }
      const overlap = findOverlap(r.ranges);
      if (overlap !== undefined) return `${r.name}: ranges ${formatRange(overlap[0])} and ${formatRange(overlap[1])} overlap`;
      break;
    }
    case 'set': {
      if (r.scalar !== undefined || r.ranges !== undefined) return 'a set resource must not have a scalar or ranges';
      if (!Array.isArray(r.set)) return 'set must be an array';
      const seen = new Set<string>();
      for (const item of r.set as readonly string[]) {
        const ip = itemProblem(item);
        if (ip !== undefined) return ip;
        if (seen.has(item)) return `duplicate set item ${JSON.stringify(item)}`;
        seen.add(item);
      }
      break;
    }
    default:
      return `kind must be scalar, ranges or set, got ${JSON.stringify((r as { kind: unknown }).kind)}`;
  }
  const res = r.reservations ?? [];
  if (!Array.isArray(res)) return 'reservations must be an array';
  for (let i = 0; i < res.length; i++) {
    const rp = reservationProblem(res[i], res.slice(0, i));
    if (rp !== undefined) return rp;
  }
  const dp = diskProblem(r);
  if (dp !== undefined) return dp;
  if (r.shared && r.disk?.persistence === undefined) return 'only persistent volumes can be shared';
  if (r.revocable && res.length > 0) return 'revocable resources cannot be reserved';
  return undefined;
}

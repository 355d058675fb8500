/**
 * One resource entry: the `Resource` model, its identity key, normalisation, text form and per-entry
 * arithmetic (the validity checks are in resource-validation.ts).
 *
 * Internal to the resources library except for the types and the functions that `resources.ts`
 * re-exports (`isAddable`, `reservationRole`, `validateResource`). `Resources` only ever holds
 * {@link Entry} objects: validated, normalised, and carrying a precomputed identity key, so that the
 * matching inside `plus`/`minus`/`contains` is one string comparison instead of a deep compare of
 * reservation stacks and labels (Mesos spent a good part of its allocation cycle in such compares).
 */
import { ResourceError } from './errors';
import { reservationProblem, resourceProblem } from './resource-validation';
import { formatMilli, type Milli } from './scalar';
import type { DiskInfo, Reservation, ReservationType, Resource, ResourceKind } from './resource-model';
import {
  formatRanges,
  formatSet,
  normalizeRanges,
  rangesDifference,
  rangesEqual,
  rangesSubset,
  rangesUnion,
  setDifference,
  setEqual,
  setSubset,
  setUnion,
  type Range,
} from './resource-values';

export type { Range };
export { itemProblem, nameProblem, reservationProblem, resourceProblem } from './resource-validation';

export type { DiskInfo, Reservation, ReservationType, Resource, ResourceKind } from './resource-model';

// Separators of the identity key. Names, roles and set items can never contain control characters
// (validation forbids them) and free-form strings (principal, labels, disk) are JSON-encoded, so the
// key is unambiguous. It starts with the name followed by \u0001, which makes all entries of one
// name contiguous when a collection is sorted by key.
const SEP = '\u0001';
const RES_END = '\u0002';
const FIELD = '\u0003';

function labelsKey(labels: Readonly<Record<string, string>>): string {
  const keys = Object.keys(labels).sort();
  let k = '';
  for (const name of keys) k += JSON.stringify(name) + '=' + JSON.stringify(labels[name]) + ',';
  return k;
}

function hasLabels(labels: Readonly<Record<string, string>> | undefined): labels is Readonly<Record<string, string>> {
  if (labels === undefined || labels === null) return false;
  for (const _ in labels) return true;
  return false;
}

function reservationKey(r: Reservation): string {
  let k = (r.type === 'STATIC' ? 'S' : 'D') + r.role;
  if (r.principal !== undefined && r.principal !== '') k += FIELD + 'p' + JSON.stringify(r.principal);
  if (hasLabels(r.labels)) k += FIELD + 'l' + labelsKey(r.labels);
  return k + RES_END;
}

function diskKey(d: DiskInfo | undefined): string {
  if (d === undefined || d === null) return '';
  const p = d.persistence;
  const v = d.volume;
  if (p === undefined && v === undefined) return '';
  return SEP + JSON.stringify([p?.id ?? null, p?.principal ?? null, v?.containerPath ?? null, v?.mode ?? null]);
}

/**
 * The identity key of a resource: equal keys ⇔ same name, kind, reservation stack (deep, including
 * principal and labels), disk info, revocable and shared flags. Computed once per {@link Entry}.
 */
export function computeKey(r: Resource): string {
  let k = r.name + SEP + (r.kind === 'scalar' ? 's' : r.kind === 'ranges' ? 'r' : 't');
  if (r.revocable) k += 'R';
  if (r.shared) k += 'S';
  k += SEP;
  const res = r.reservations ?? [];
  for (let i = 0; i < res.length; i++) k += reservationKey(res[i]);
  return k + diskKey(r.disk);
}

/**
 * The normalised, validated form of a resource, as held by `Resources`. Carries its identity key in a
 * private field (invisible to `toEqual`, `JSON.stringify` and spreads). Not exported from the public
 * surface: create entries through `Resources.of` / `parse` / `fromJSON`.
 *
 * Immutability is by type (`readonly`); entries are not frozen because `Object.freeze` on every
 * intermediate result of `plus`/`minus` costs more than it protects in a hot loop.
 */
export class Entry implements Resource {
  readonly #key: string;
  readonly name: string;
  readonly kind: ResourceKind;
  readonly scalar: Milli | undefined;
  readonly ranges: readonly Range[] | undefined;
  readonly set: readonly string[] | undefined;
  readonly reservations: readonly Reservation[];
  readonly disk: DiskInfo | undefined;
  readonly revocable: boolean | undefined;
  readonly shared: boolean | undefined;

  // Positional on purpose: this is the allocation site of every intermediate result in the hot path,
  // and an options object would double the allocations. Callers are the few factories below.
  private constructor(
    name: string,
    kind: ResourceKind,
    scalar: Milli | undefined,
    ranges: readonly Range[] | undefined,
    set: readonly string[] | undefined,
    reservations: readonly Reservation[],
    disk: DiskInfo | undefined,
    revocable: boolean | undefined,
    shared: boolean | undefined,
    key: string | undefined,
  ) {
    this.name = name;
    this.kind = kind;
    this.scalar = scalar;
    this.ranges = ranges;
    this.set = set;
    this.reservations = reservations;
    this.disk = disk;
    this.revocable = revocable;
    this.shared = shared;
    this.#key = key ?? computeKey(this);
  }

  /** Builds an entry from already-normalised parts (computes the key). */
  static create(r: Resource): Entry {
    return new Entry(r.name, r.kind, r.scalar, r.ranges, r.set, r.reservations, r.disk, r.revocable, r.shared, undefined);
  }

  /** The identity key (see {@link computeKey}). */
  get key(): string {
    return this.#key;
  }

  /** Whether this is a persistent volume (never split, never merged). */
  get isVolume(): boolean {
    return this.disk !== undefined && this.disk.persistence !== undefined;
  }

  /** Whether the value is zero / has no ranges / has no items. */
  isEmpty(): boolean {
    return this.kind === 'scalar' ? this.scalar === 0 : this.kind === 'ranges' ? this.ranges!.length === 0 : this.set!.length === 0;
  }

  /** Same identity, new scalar value (shares the key). */
  withScalar(value: Milli): Entry {
    return new Entry(this.name, 'scalar', value, undefined, undefined, this.reservations, this.disk, this.revocable, this.shared, this.#key);
  }

  /** Same identity, new ranges (shares the key). */
  withRanges(ranges: readonly Range[]): Entry {
    return new Entry(this.name, 'ranges', undefined, ranges, undefined, this.reservations, this.disk, this.revocable, this.shared, this.#key);
  }

  /** Same identity, new set (shares the key). */
  withSet(set: readonly string[]): Entry {
    return new Entry(this.name, 'set', undefined, undefined, set, this.reservations, this.disk, this.revocable, this.shared, this.#key);
  }

  /** Same value, new reservation stack (new key). */
  withReservations(reservations: readonly Reservation[]): Entry {
    return new Entry(this.name, this.kind, this.scalar, this.ranges, this.set, reservations, this.disk, this.revocable, this.shared, undefined);
  }
}

const keyCache = new WeakMap<object, string>();

/** The identity key of any resource object; cached for objects that are not {@link Entry}. */
export function keyOf(r: Resource): string {
  if (r instanceof Entry) return r.key;
  let k = keyCache.get(r);
  if (k === undefined) {
    k = computeKey(r);
    keyCache.set(r, k);
  }
  return k;
}

/**
 * Whether two resources combine into one entry when added: same name, kind, reservation stack (deep,
 * including principal and labels), disk info, revocable and shared flags. Persistent volumes are never
 * addable (they are never merged; identical shared volumes are kept as separate copies). A string
 * comparison of cached keys. Never throws. Used by the allocator and master when grouping resources.
 */
export function isAddable(a: Resource, b: Resource): boolean {
  if (a.disk?.persistence !== undefined || b.disk?.persistence !== undefined) return false;
  return keyOf(a) === keyOf(b);
}

/**
 * The current owner role of a resource (its last reservation), or `undefined` if unreserved.
 * Never throws.
 */
export function reservationRole(r: Resource): string | undefined {
  const res = r.reservations;
  return res.length === 0 ? undefined : res[res.length - 1].role;
}

/**
 * Best-effort text of a possibly invalid resource, for error messages. Never throws.
 */
export function describeResource(r: Resource): string {
  try {
    return entryText(r);
  } catch {
    return typeof r === 'object' && r !== null && typeof r.name === 'string' ? r.name : String(r);
  }
}

/**
 * Validates one resource (see {@link resourceProblem} for the rules). Called by `Resources.of`; the
 * master calls it on resources arriving from frameworks before using them.
 *
 * @throws ResourceError `INVALID_RESOURCES`, e.g. `invalid resource "cpus:-1": value must be non-negative`.
 */
export function validateResource(r: Resource): void {
  const problem = resourceProblem(r);
  if (problem !== undefined) {
    throw new ResourceError('INVALID_RESOURCES', `invalid resource ${JSON.stringify(describeResource(r))}: ${problem}`);
  }
}



function normalizeReservation(r: Reservation): Reservation {
  const out: { type: ReservationType; role: string; principal?: string; labels?: Record<string, string> } = { type: r.type, role: r.role };
  if (r.principal !== undefined) out.principal = r.principal;
  if (hasLabels(r.labels)) {
    const labels: Record<string, string> = {};
    for (const k of Object.keys(r.labels).sort()) labels[k] = r.labels[k];
    out.labels = labels;
  }
  return out;
}

/** Validates and normalises a reservation to push on top of `below`. @throws ResourceError */
export function toReservation(r: Reservation, below: readonly Reservation[]): Reservation {
  const problem = reservationProblem(r, below);
  if (problem !== undefined) throw new ResourceError('INVALID_RESOURCES', `invalid reservation: ${problem}`);
  return normalizeReservation(r);
}

function normalizeDisk(d: DiskInfo | undefined): DiskInfo | undefined {
  if (d === undefined || (d.persistence === undefined && d.volume === undefined)) return undefined;
  const out: { persistence?: { id: string; principal?: string }; volume?: { containerPath: string; mode: 'RW' | 'RO' } } = {};
  if (d.persistence !== undefined) {
    out.persistence = d.persistence.principal === undefined ? { id: d.persistence.id } : { id: d.persistence.id, principal: d.persistence.principal };
  }
  if (d.volume !== undefined) out.volume = { containerPath: d.volume.containerPath, mode: d.volume.mode };
  return out;
}

const NO_RESERVATIONS: readonly Reservation[] = Object.freeze([]);

/**
 * Validates and normalises any resource object into an {@link Entry} (entries pass through). The
 * result may be empty (zero); collections drop those.
 *
 * @throws ResourceError `INVALID_RESOURCES` (see {@link validateResource}).
 */
export function toEntry(r: Resource): Entry {
  if (r instanceof Entry) return r;
  validateResource(r);
  const res = r.reservations ?? NO_RESERVATIONS;
  return Entry.create({
    name: r.name,
    kind: r.kind,
    scalar: r.kind === 'scalar' ? r.scalar : undefined,
    ranges: r.kind === 'ranges' ? normalizeRanges(r.ranges!) : undefined,
    set: r.kind === 'set' ? [...r.set!].sort() : undefined,
    reservations: res.length === 0 ? NO_RESERVATIONS : res.map(normalizeReservation),
    disk: normalizeDisk(r.disk),
    revocable: r.revocable ? true : undefined,
    shared: r.shared ? true : undefined,
  });
}

/** The shared empty reservation stack. */
export { NO_RESERVATIONS };

// ---------------------------------------------------------------------------------------------------
// Text of one entry.

function isPlainStatic(r: Reservation): boolean {
  return r.type === 'STATIC' && r.principal === undefined && !hasLabels(r.labels);
}

/**
 * Whether an entry can be written in the parseable `name(role):value` form: unreserved or a single
 * plain STATIC reservation, and no disk info, revocable or shared flag.
 */
export function isExpressible(r: Resource): boolean {
  const res = r.reservations;
  return (
    (res.length === 0 || (res.length === 1 && isPlainStatic(res[0]))) &&
    (r.disk === undefined || (r.disk.persistence === undefined && r.disk.volume === undefined)) &&
    !r.revocable &&
    !r.shared
  );
}

function reservationText(r: Reservation): string {
  if (isPlainStatic(r)) return r.role;
  let s = `${r.role}[${r.type}`;
  if (r.principal !== undefined) s += ` by ${r.principal}`;
  if (hasLabels(r.labels)) {
    s += ' {' + Object.keys(r.labels).sort().map((k) => `${k}=${r.labels![k]}`).join(',') + '}';
  }
  return s + ']';
}

/**
 * Text of one entry. Expressible entries (see {@link isExpressible}) give the parseable
 * `name(role):value`; others add readable, deliberately unparseable decorations:
 * `disk(eng,eng/ci[DYNAMIC by alice {k=v}])[vol1:data:RW]<SHARED>:1024`, `cpus{REV}:2`.
 */
export function entryText(r: Resource): string {
  let s = r.name;
  const res = r.reservations ?? NO_RESERVATIONS;
  if (res.length > 0) s += '(' + res.map(reservationText).join(',') + ')';
  const d = r.disk;
  if (d !== undefined && (d.persistence !== undefined || d.volume !== undefined)) {
    s += '[' + (d.persistence?.id ?? '') + (d.volume !== undefined ? `:${d.volume.containerPath}:${d.volume.mode}` : '') + ']';
  }
  if (r.shared) s += '<SHARED>';
  if (r.revocable) s += '{REV}';
  s += ':';
  if (r.kind === 'scalar') s += formatMilli(r.scalar!);
  else if (r.kind === 'ranges') s += formatRanges(r.ranges!);
  else s += formatSet(r.set!);
  return s;
}

// ---------------------------------------------------------------------------------------------------
// Per-entry arithmetic. Callers guarantee equal keys (same identity, hence same kind).

/** Adds the values of two entries with the same key (never persistent volumes). */
export function addEntry(a: Entry, b: Entry): Entry {
  switch (a.kind) {
    case 'scalar':
      return a.withScalar(a.scalar! + b.scalar!);
    case 'ranges': {
      const u = rangesUnion(a.ranges!, b.ranges!);
      return u === a.ranges ? a : u === b.ranges ? b : a.withRanges(u);
    }
    default: {
      const u = setUnion(a.set!, b.set!);
      return u === a.set ? a : u === b.set ? b : a.withSet(u);
    }
  }
}

/**
 * Whether `b`'s value is contained in `a`'s (same key). A persistent volume is contained only in an
 * identical one: volumes are never split.
 */
export function entryContains(a: Entry, b: Entry): boolean {
  switch (a.kind) {
    case 'scalar':
      return a.isVolume ? a.scalar === b.scalar : b.scalar! <= a.scalar!;
    case 'ranges':
      return rangesSubset(b.ranges!, a.ranges!);
    default:
      return setSubset(b.set!, a.set!);
  }
}

/** `a − b` for entries with the same key where `entryContains(a, b)`; `undefined` if nothing is left. */
export function subtractEntry(a: Entry, b: Entry): Entry | undefined {
  switch (a.kind) {
    case 'scalar': {
      const v = a.scalar! - b.scalar!;
      return v === 0 ? undefined : a.withScalar(v);
    }
    case 'ranges': {
      const d = rangesDifference(a.ranges!, b.ranges!);
      return d.length === 0 ? undefined : a.withRanges(d);
    }
    default: {
      const d = setDifference(a.set!, b.set!);
      return d.length === 0 ? undefined : a.withSet(d);
    }
  }
}

/** Value equality of two entries with the same key. */
export function entryValueEquals(a: Entry, b: Entry): boolean {
  switch (a.kind) {
    case 'scalar':
      return a.scalar === b.scalar;
    case 'ranges':
      return rangesEqual(a.ranges!, b.ranges!);
    default:
      return setEqual(a.set!, b.set!);
  }
}

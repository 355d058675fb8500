/**
 * `Resources`: an immutable collection of resource entries with exact arithmetic, modelled on Apache
 * Mesos' `Resources` (src/common/resources.cpp). The allocator and master do all their bookkeeping
 * with it: agent totals, allocations, offers, reservations, quota headroom.
 *
 * Representation (why it is fast for 4–10 entries): a collection is a plain array of normalised
 * entries sorted by a precomputed identity key (see `resource-entry.ts`). Addable entries are always
 * combined, so within one collection every key is unique, except that identical shared persistent
 * volumes repeat (one element per copy, as Mesos' shared count). `plus`, `minus`, `contains` and
 * `equals` are therefore linear merges of two sorted arrays comparing key strings, with no hashing,
 * no deep comparison and no re-sorting; derived entries reuse the key string of their source, so most
 * comparisons hit V8's pointer-equality fast path. Results share unchanged entries with their inputs,
 * and operations that change nothing return the receiver itself.
 *
 * Cost, measured ad hoc (Node 20, shared 2-core VM; no timed test on purpose, timings flake in CI):
 * on 5-entry agent-like collections `plus` ≈ 0.15–0.35 µs, `minus` ≈ 0.2–0.6 µs (ranges difference
 * dominates), `contains` ≈ 0.1–0.2 µs, `containsQuantities` ≈ 0.12 µs. Building from untrusted input
 * (`of`, `parse`, `fromJSON`) validates everything and costs ≈ 5 µs; keep it off the hot path.
 *
 * Where its semantics differ from Mesos: docs/architecture.md, "Resources".
 */
import { ResourceError } from './errors';
import { isSubroleOf } from './roles';
import type { Milli } from './scalar';
import { toMilli } from './scalar';
import {
  addEntry,
  Entry,
  entryContains,
  entryText,
  entryValueEquals,
  NO_RESERVATIONS,
  subtractEntry,
  toEntry,
  toReservation,
  type Reservation,
  type Resource,
} from './resource-entry';
import { resourcesFromJSON, resourcesToJSON, type ResourceJSON } from './resources-json';
import { formatResourceList, parseResourceList, type ParseOptions } from './resources-text';
import { rangesCount, rangesUnion, type Range } from './resource-values';
import { checkVolumes, countVolumes, notContained } from './resource-checks';

export type { Milli } from './scalar';
export type { Range } from './resource-values';
export type { DiskInfo, Reservation, ReservationType, Resource, ResourceKind } from './resource-entry';
export { isAddable, reservationRole, validateResource } from './resource-entry';
export { isSubroleOf, validateRole } from './roles';
export type { ResourceJSON, ReservationJSON, DiskInfoJSON } from './resources-json';
export type { ParseOptions } from './resources-text';

/** Scalar totals by resource name, in milli. Ranges and sets are not quantities. */
export type Quantities = ReadonlyMap<string, Milli>;

function byKey(a: Entry, b: Entry): number {
  const ka = a.key;
  const kb = b.key;
  return ka === kb ? 0 : ka < kb ? -1 : 1;
}

/**
 * Sorts valid entries by key and combines those with equal keys (dropping empty ones): the one place
 * that establishes the collection invariant for arbitrary input.
 */
function normalise(list: Entry[]): Resources {
  const nonEmpty = list.filter((e) => !e.isEmpty());
  nonEmpty.sort(byKey);
  const out: Entry[] = [];
  let volumes = 0;
  for (const e of nonEmpty) {
    if (e.isVolume) volumes++;
    const last = out[out.length - 1];
    if (last !== undefined && last.key === e.key && !e.isVolume) out[out.length - 1] = addEntry(last, e);
    else out.push(e);
  }
  if (volumes > 1) checkVolumes(out, undefined);
  return makeResources(out, volumes);
}

let EMPTY: Resources | undefined;
// Module-private factory for already-normalised arrays, bound in the class's static block so that the
// constructor stays private.
let makeResources: (entries: readonly Entry[], volumes: number) => Resources;

/**
 * An immutable collection of resources with exact arithmetic. Every method returns a new collection
 * (or the receiver when nothing changes) and never mutates its arguments.
 *
 * Callers: the allocator (agent totals and allocations, offer sizes, quota headroom, DRF shares via
 * `quantities`), the master (validating ACCEPT operations, RESERVE/UNRESERVE, CREATE/DESTROY), the
 * agent (`--resources` via `parse`) and frameworks (matching task shapes to offers).
 */
export class Resources {
  /**
   * Normalised entries sorted by identity key: addable entries combined, zero scalars and empty
   * ranges/sets dropped. Treat as read-only (it is typed so, but not frozen, for speed).
   */
  readonly entries: readonly Resource[];
  readonly #volumes: number;

  private constructor(entries: readonly Entry[], volumes: number) {
    this.entries = entries;
    this.#volumes = volumes;
  }

  static {
    makeResources = (entries, volumes) => (entries.length === 0 ? Resources.empty() : new Resources(entries, volumes));
  }

  private get list(): readonly Entry[] {
    return this.entries as readonly Entry[];
  }

  /** The empty collection (one shared, frozen instance). Never throws. */
  static empty(): Resources {
    if (EMPTY === undefined) {
      EMPTY = new Resources(Object.freeze([]), 0);
      Object.freeze(EMPTY);
    }
    return EMPTY;
  }

  /**
   * Builds a collection from arbitrary entries: validates each (see `validateResource`), normalises
   * (sorts ranges and sets), combines addable ones and drops empty ones. Entries taken from another
   * `Resources` are trusted and not re-validated. Overlapping ranges across entries union.
   *
   * @throws ResourceError `INVALID_RESOURCES` for an invalid entry or conflicting persistent volumes.
   */
  static of(entries: Iterable<Resource>): Resources {
    const list: Entry[] = [];
    for (const r of entries) list.push(toEntry(r));
    return list.length === 0 ? Resources.empty() : normalise(list);
  }

  /**
   * Convenience: one scalar entry, e.g. `Resources.scalar('cpus', 0.5)` or reserved with
   * `Resources.scalar('mem', 512, [{ type: 'STATIC', role: 'eng' }])`. `value` is in units (not milli).
   *
   * @throws ResourceError `INVALID_RESOURCES` for a negative, non-finite or (gpus) fractional value.
   */
  static scalar(name: string, value: number, reservations?: Reservation[]): Resources {
    return Resources.of([{ name, kind: 'scalar', scalar: toMilli(value), reservations: reservations ?? NO_RESERVATIONS }]);
  }

  /**
   * Parses the text form (`cpus:4;mem:8192;ports:[31000-32000];cpus(ads):2`) or, if the text starts
   * with `[`, the JSON form. Called by the agent for `--resources` and by tests and tools.
   *
   * @throws ResourceError `INVALID_RESOURCES` naming the offending token and position (or JSON path).
   */
  static parse(text: string, opts?: ParseOptions): Resources {
    return Resources.of(parseResourceList(text, opts));
  }

  /**
   * Parses the JSON form (see {@link Resources.toJSON}), validating every field.
   *
   * @throws ResourceError `INVALID_RESOURCES` naming the path, e.g.
   *   `[2].scalar.value: must be a non-negative number, got -3`.
   */
  static fromJSON(json: unknown): Resources {
    return Resources.of(resourcesFromJSON(json));
  }

  /** Whether there are no entries. */
  isEmpty(): boolean {
    return this.entries.length === 0;
  }

  /**
   * Union: entries with equal identity combine (scalars add, ranges and sets union); persistent
   * volumes are kept whole. Called by the allocator when resources are recovered or agents added.
   *
   * @throws ResourceError `INVALID_RESOURCES` if both sides hold a persistent volume with the same
   *   id that are not identical shared copies.
   */
  plus(other: Resources): Resources {
    const a = this.list;
    const b = other.list;
    if (b.length === 0) return this;
    if (a.length === 0) return other;
    if (this.#volumes > 0 && other.#volumes > 0) checkVolumes(a, b);
    const out: Entry[] = [];
    let i = 0;
    let j = 0;
    while (i < a.length && j < b.length) {
      const x = a[i];
      const y = b[j];
      const kx = x.key;
      const ky = y.key;
      if (kx === ky) {
        if (x.isVolume) {
          out.push(x); // an identical shared copy (checked above); y follows as another copy
          i++;
        } else {
          out.push(addEntry(x, y));
          i++;
          j++;
        }
      } else if (kx < ky) {
        out.push(x);
        i++;
      } else {
        out.push(y);
        j++;
      }
    }
    while (i < a.length) out.push(a[i++]);
    while (j < b.length) out.push(b[j++]);
    return new Resources(out, this.#volumes + other.#volumes);
  }

  /**
   * Difference. Each entry of `other` is taken from the entry with the same identity here;
   * persistent volumes only as a whole identical entry (one copy at a time for shared ones).
   * Called by the allocator when allocating and by the master when applying operations.
   *
   * @throws ResourceError `RESOURCES_NOT_CONTAINED` unless `this.contains(other)`; the message names
   *   the entry that does not fit and what is available for it.
   */
  minus(other: Resources): Resources {
    const a = this.list;
    const b = other.list;
    if (b.length === 0) return this;
    const out: Entry[] = [];
    let volumes = this.#volumes;
    let i = 0;
    for (let j = 0; j < b.length; j++) {
      const y = b[j];
      const ky = y.key;
      while (i < a.length && a[i].key !== ky && a[i].key < ky) out.push(a[i++]);
      if (i === a.length || a[i].key !== ky) notContained(y, undefined);
      const x = a[i];
      if (!entryContains(x, y)) notContained(y, x);
      i++;
      if (x.isVolume) {
        volumes--;
      } else {
        const rest = subtractEntry(x, y);
        if (rest !== undefined) out.push(rest);
      }
    }
    while (i < a.length) out.push(a[i++]);
    return makeResources(out, volumes);
  }

  /**
   * Whether every entry of `other` is contained in the entry with the same identity here (scalars ≤,
   * ranges and sets ⊆, persistent volumes identical, with enough copies). Never throws.
   */
  contains(other: Resources): boolean {
    const a = this.list;
    const b = other.list;
    if (b.length > a.length) return false;
    let i = 0;
    for (let j = 0; j < b.length; j++) {
      const y = b[j];
      const ky = y.key;
      while (i < a.length && a[i].key !== ky && a[i].key < ky) i++;
      if (i === a.length || a[i].key !== ky || !entryContains(a[i], y)) return false;
      i++;
    }
    return true;
  }

  /** Whether both hold exactly the same entries. Never throws. */
  equals(other: Resources): boolean {
    if (this === other) return true;
    const a = this.list;
    const b = other.list;
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) {
      if (a[i] !== b[i] && (a[i].key !== b[i].key || !entryValueEquals(a[i], b[i]))) return false;
    }
    return true;
  }

  /** Total milli of scalar `name` over all entries (any reservation, revocable or not); 0 if none. */
  scalar(name: string): Milli {
    const a = this.list;
    let total = 0;
    for (let i = 0; i < a.length; i++) {
      const e = a[i];
      if (e.name === name && e.kind === 'scalar') total += e.scalar!;
    }
    return total;
  }

  /** Scalar totals by name over all entries (any reservation). A fresh map; never throws. */
  quantities(): Map<string, Milli> {
    const q = new Map<string, Milli>();
    const a = this.list;
    for (let i = 0; i < a.length; i++) {
      const e = a[i];
      if (e.kind === 'scalar') q.set(e.name, (q.get(e.name) ?? 0) + e.scalar!);
    }
    return q;
  }

  /**
   * Whether, for every name in `q`, `this.scalar(name) >= q.get(name)`. Used for min-allocatable and
   * quota checks. Never throws.
   */
  containsQuantities(q: Quantities): boolean {
    for (const [name, want] of q) {
      if (want > 0 && this.scalar(name) < want) return false;
    }
    return true;
  }

  /** Union of the ranges of every entry named `name` (any reservation). A fresh array. */
  ranges(name: string): Range[] {
    let acc: readonly Range[] = [];
    const a = this.list;
    for (let i = 0; i < a.length; i++) {
      const e = a[i];
      if (e.name === name && e.kind === 'ranges') acc = rangesUnion(acc, e.ranges!);
    }
    return acc.slice();
  }

  /** Number of values in {@link Resources.ranges} (e.g. how many ports). */
  rangeCount(name: string): number {
    return rangesCount(this.ranges(name));
  }

  /** The entries satisfying `pred`. Returns the receiver when all do. */
  filter(pred: (r: Resource) => boolean): Resources {
    const a = this.list;
    let out: Entry[] | undefined;
    for (let i = 0; i < a.length; i++) {
      const keep = pred(a[i]);
      if (!keep && out === undefined) out = a.slice(0, i);
      else if (keep && out !== undefined) out.push(a[i]);
    }
    return out === undefined ? this : makeResources(out, this.#volumes === 0 ? 0 : countVolumes(out));
  }

  /** Entries with an empty reservation stack. */
  unreserved(): Resources {
    return this.filter((r) => r.reservations.length === 0);
  }

  /**
   * Reserved entries; with `role`, only those whose current (last) reservation is exactly `role`.
   */
  reserved(role?: string): Resources {
    if (role === undefined) return this.filter((r) => r.reservations.length > 0);
    return this.filter((r) => r.reservations.length > 0 && r.reservations[r.reservations.length - 1].role === role);
  }

  /** Entries whose current reservation role is `role` or a descendant (`eng` covers `eng/backend`). */
  reservedToSubtree(role: string): Resources {
    return this.filter((r) => r.reservations.length > 0 && isSubroleOf(r.reservations[r.reservations.length - 1].role, role));
  }

  /**
   * What may be offered to `role`: unreserved entries, and entries reserved to `role` or to an
   * ancestor of it (Mesos `isAllocatableTo`): `eng` resources may go to `eng/backend`, never to a
   * sibling (`eng/frontend`) or a child of `role`.
   */
  allocatableTo(role: string): Resources {
    return this.filter((r) => r.reservations.length === 0 || isSubroleOf(role, r.reservations[r.reservations.length - 1].role));
  }

  /** Revocable entries. */
  revocable(): Resources {
    return this.filter((r) => r.revocable === true);
  }

  /** Non-revocable entries. */
  nonRevocable(): Resources {
    return this.filter((r) => !r.revocable);
  }

  /** Persistent volumes (entries with `disk.persistence`). */
  persistentVolumes(): Resources {
    return this.filter((r) => r.disk?.persistence !== undefined);
  }

  /**
   * All reservations stripped and entries recombined; disk info (persistent volumes) and flags kept.
   * Used for "what is this physically" comparisons (e.g. RESERVE validation).
   *
   * @throws ResourceError `INVALID_RESOURCES` if two volumes with one id now collide.
   */
  flatten(): Resources {
    const a = this.list;
    let reserved = false;
    for (let i = 0; i < a.length && !reserved; i++) reserved = a[i].reservations.length > 0;
    if (!reserved) return this;
    return normalise(a.map((e) => (e.reservations.length === 0 ? e : e.withReservations(NO_RESERVATIONS))));
  }

  /**
   * RESERVE (or a refinement): pushes `r` on top of every entry's reservation stack. Called by the
   * master for RESERVE operations, on exactly the resources being reserved.
   *
   * @throws ResourceError `INVALID_RESOURCES` if `r` is malformed (bad role, `*`), an entry is
   *   revocable, or `r.role` is not a subrole of an entry's current owner (non-strict), or `r` is
   *   STATIC on top of a DYNAMIC reservation.
   */
  pushReservation(r: Reservation): Resources {
    const a = this.list;
    const out: Entry[] = [];
    let prepared: Reservation | undefined;
    for (const e of a) {
      if (e.revocable) {
        throw new ResourceError('INVALID_RESOURCES', `cannot reserve ${JSON.stringify(entryText(e))}: revocable resources cannot be reserved`);
      }
      let res: Reservation;
      try {
        res = toReservation(r, e.reservations);
      } catch (err) {
        throw new ResourceError('INVALID_RESOURCES', `cannot reserve ${JSON.stringify(entryText(e))}: ${(err as Error).message}`, { cause: err });
      }
      prepared ??= res;
      out.push(e.withReservations([...e.reservations, prepared]));
    }
    if (prepared === undefined) toReservation(r, []); // validate even when there is nothing to reserve
    return out.length === 0 ? this : normalise(out);
  }

  /**
   * UNRESERVE: pops the last reservation of every entry (a refined reservation falls back to its
   * parent role; a single one becomes unreserved). Entries are recombined.
   *
   * @throws ResourceError `INVALID_RESOURCES` if any entry is unreserved.
   */
  popReservation(): Resources {
    const a = this.list;
    if (a.length === 0) return this;
    const out = a.map((e) => {
      if (e.reservations.length === 0) {
        throw new ResourceError('INVALID_RESOURCES', `cannot unreserve ${JSON.stringify(entryText(e))}: it is not reserved`);
      }
      return e.withReservations(e.reservations.length === 1 ? NO_RESERVATIONS : e.reservations.slice(0, -1));
    });
    return normalise(out);
  }

  /**
   * Caps every scalar name in `limits` to at most its limit (names absent from `limits` are
   * unlimited), taking from entries in collection order; persistent volumes are kept whole or dropped
   * if they do not fit; ranges and sets are untouched. The result is contained in the receiver.
   * Used by the allocator to cut offers down to quota headroom. Never throws.
   */
  shrinkScalars(limits: Quantities): Resources {
    const a = this.list;
    let out: Entry[] | undefined;
    // Entries of one name are contiguous (keys start with the name), so one running budget suffices:
    // no per-call map, one `limits.get` per distinct name.
    let name: string | undefined;
    let limited = false;
    let room = 0;
    for (let i = 0; i < a.length; i++) {
      const e = a[i];
      let kept: Entry | undefined = e;
      if (e.kind === 'scalar') {
        if (e.name !== name) {
          name = e.name;
          const limit = limits.get(name);
          limited = limit !== undefined;
          room = limited ? Math.max(0, limit!) : 0;
        }
        if (limited) {
          const v = e.scalar!;
          if (v <= room) {
            room -= v;
          } else if (e.isVolume) {
            kept = undefined; // never split a volume; it takes nothing, so later entries may still fit
          } else {
            kept = room === 0 ? undefined : e.withScalar(room);
            room = 0;
          }
        }
      }
      if (kept !== e && out === undefined) out = a.slice(0, i);
      if (out !== undefined && kept !== undefined) out.push(kept);
    }
    return out === undefined ? this : makeResources(out, this.#volumes === 0 ? 0 : countVolumes(out));
  }

  /**
   * The text form, entries in their stable (key) order, e.g. `cpus:4;cpus(ads):2;mem:8192`. Parses
   * back to an equal collection when every entry is expressible in text (unreserved or one plain
   * STATIC reservation; no disk info, revocable or shared flags) and no ranges of one name overlap.
   * Never throws.
   */
  toString(): string {
    return formatResourceList(this.entries);
  }

  /** The Mesos-like JSON form; `Resources.fromJSON(r.toJSON())` equals `r`. Never throws. */
  toJSON(): ResourceJSON[] {
    return resourcesToJSON(this.entries);
  }
}

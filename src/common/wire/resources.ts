/**
 * Wire `Resource` lists ↔ the exact {@link Resources} library.
 *
 * `resourcesFromWire` is the only way resources from a framework, an agent or an operator enter
 * Berth: it checks every field with the field's own path (`task_infos[0].resources[2].scalar.value:
 * must be non-negative, got -1`), then hands the result to the library, whose own rules (names, role
 * refinement, volumes, revocable) are reported with the resource's path as prefix. Every problem of
 * every resource is reported at once.
 *
 * What the wire allows and the library does not is normalised here, as resources.proto promises:
 * ranges in any order and overlapping (merged), set items repeated (deduplicated), volume mode unset
 * (RW). Nothing else is dropped: an input that cannot be represented exactly is rejected.
 *
 * `resourcesToWire` emits the decoded (`__Output`) shape, which is also a valid input shape, with
 * scalars printed from their exact milli value (`formatMilli` → `Number`), so `0.1` stays `0.1`.
 */
import type { Resource as WireResource, Resource__Output } from '../../generated/berth/v1/Resource';
import type { ReservationInfo, ReservationInfo__Output } from '../../generated/berth/v1/ReservationInfo';
import type { DiskInfo as WireDiskInfo, DiskInfo__Output } from '../../generated/berth/v1/DiskInfo';
import { _berth_v1_ReservationInfo_Type as ReservationType } from '../../generated/berth/v1/ReservationInfo';
import { _berth_v1_Volume_Mode as VolumeMode } from '../../generated/berth/v1/Volume';
import { ValueType } from '../../generated/berth/v1/ValueType';
import { Resources, validateResource, type DiskInfo, type Range, type Reservation, type Resource } from '../resources';
import { DEFAULT_ROLE, isSubroleOf, roleProblem } from '../roles';
import { formatMilli, toMilli } from '../scalar';
import { readLabels, recordOfLabels, labelsToWire } from './labels';
import { collectProblems, describeValue, type Problems } from './problems';
import { enumName, readDouble, readSafeUint } from './values';
import { normalizeRanges } from '../resource-values';

export type { WireResource };

const KINDS = { SCALAR: 'scalar', RANGES: 'ranges', SET: 'set' } as const;
type WireKind = keyof typeof KINDS;
const MEMBERS = ['scalar', 'ranges', 'set'] as const;

/**
 * Converts and validates a wire resource list. `null`/absent gives the empty collection.
 *
 * @param path field path of the list, used in every problem (e.g. `task_infos[0].resources`).
 * @throws ValidationError listing every problem of every resource.
 */
export function resourcesFromWire(list: readonly WireResource[] | null | undefined, path = 'resources'): Resources {
  return collectProblems((problems) => readResources(list, path, problems) ?? Resources.empty());
}

/**
 * {@link resourcesFromWire} that records problems in `problems` instead of throwing; returns
 * `undefined` if it recorded any. For validators that report several fields at once.
 */
export function readResources(list: readonly WireResource[] | null | undefined, path: string, problems: Problems): Resources | undefined {
  const before = problems.size;
  if (list !== undefined && list !== null && !Array.isArray(list)) {
    problems.add(path, `must be a list of resources, got ${describeValue(list)}`);
    return undefined;
  }
  const key = list === undefined || list === null ? undefined : plainKey(list);
  const known = key === undefined ? undefined : PLAIN_LISTS.get(key);
  if (known !== undefined) return known;
  const entries: Resource[] = [];
  (list ?? []).forEach((w, i) => {
    const r = readResource(w, `${path}[${i}]`, problems);
    if (r !== undefined) entries.push(r);
  });
  if (problems.size > before) return undefined;
  const read = problems.capture(path, () => Resources.of(entries));
  if (key !== undefined && read !== undefined) {
    if (PLAIN_LISTS.size >= MAX_PLAIN_LISTS) PLAIN_LISTS.clear();
    PLAIN_LISTS.set(key, read);
  }
  return read;
}

/**
 * Valid lists of plain resources (unreserved scalars and ranges, no disk, not revocable or shared),
 * by {@link plainKey}: a new leader reads the reports of 100,000 tasks of a few shapes, and reading
 * each list anew left ~3 KB of garbage per task. `Resources` are immutable, so one serves every
 * equal list. Bounded: emptied when full.
 */
const PLAIN_LISTS = new Map<string, Resources>();
const MAX_PLAIN_LISTS = 4096;

/**
 * Everything `readResource` reads of a list of plain resources, as one string, so that lists with
 * equal keys read alike; undefined for anything else (reservations, disk, flags, sets, a name not
 * seen valid before, values that are not plain numbers), which is read in full every time. Every
 * part is from a closed alphabet (valid names, two type names, numbers, digit strings), so the
 * separators cannot be forged by a value.
 */
function plainKey(list: readonly WireResource[]): string | undefined {
  let key = '';
  for (let i = 0; i < list.length; i++) {
    const w = list[i];
    if (typeof w !== 'object' || w === null || typeof w.name !== 'string' || !VALID_NAMES.has(w.name)) return undefined;
    if ((w.reservations !== undefined && w.reservations !== null && (!Array.isArray(w.reservations) || w.reservations.length > 0)) || (w.disk !== undefined && w.disk !== null)) return undefined;
    if ((w.revocable !== undefined && w.revocable !== false) || (w.shared !== undefined && w.shared !== false) || (w.set !== undefined && w.set !== null)) return undefined;
    const type = w.type === 'SCALAR' ? 'S' : w.type === 'RANGES' ? 'R' : undefined; // decoded enums are names
    if (type === undefined) return undefined;
    key += `${w.name}:${type}`;
    if (w.scalar !== undefined && w.scalar !== null) {
      if (typeof w.scalar.value !== 'number') return undefined;
      key += `=${w.scalar.value}`;
    }
    if (w.ranges !== undefined && w.ranges !== null) {
      const ranges = w.ranges.range;
      if (!Array.isArray(ranges)) return undefined;
      key += '[';
      for (const r of ranges) {
        if (typeof r !== 'object' || r === null) return undefined;
        const begin = boundKey(r.begin);
        const end = boundKey(r.end);
        if (begin === undefined || end === undefined) return undefined;
        key += `${begin}-${end},`;
      }
      key += ']';
    }
    key += ';';
  }
  return key;
}

/** A range bound in a key: a number as it prints, a string of digits quoted (read alike or not, never confused). */
function boundKey(v: unknown): string | undefined {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string' && /^[0-9]{1,20}$/.test(v)) return `'${v}`;
  return undefined;
}

const VALID_NAMES = new Set<string>();

/**
 * Why `name` is not a valid resource name (the library's rule), or `undefined`. Also used for
 * resource quantities, which share the names.
 */
export function resourceNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name === '') return `must be a non-empty string, got ${describeValue(name)}`;
  // A cluster uses a handful of names (cpus, mem, disk, ports, gpus…), each checked ~3 times per
  // task report: remember the valid ones (bounded, so odd names cannot grow it).
  if (VALID_NAMES.has(name)) return undefined;
  try {
    validateResource({ name, kind: 'scalar', scalar: 0, reservations: [] });
    if (VALID_NAMES.size < 1024) VALID_NAMES.add(name);
    return undefined;
  } catch (err) {
    const message = (err as Error).message;
    const prefix = `invalid resource ${JSON.stringify(`${name}:0`)}: `;
    return `invalid name ${describeValue(name)}: ${message.startsWith(prefix) ? message.slice(prefix.length) : message}`;
  }
}

function readResource(w: WireResource, at: string, problems: Problems): Resource | undefined {
  if (typeof w !== 'object' || w === null) {
    problems.add(at, `must be a resource message, got ${describeValue(w)}`);
    return undefined;
  }
  const before = problems.size;
  const name = w.name;
  const nameProblem = resourceNameProblem(name);
  if (nameProblem !== undefined) problems.add(`${at}.name`, nameProblem);

  const type = enumName(ValueType, w.type);
  const kind = type !== undefined && type in KINDS ? KINDS[type as WireKind] : undefined;
  if (kind === undefined) {
    problems.add(`${at}.type`, `must be SCALAR, RANGES or SET, got ${describeValue(type ?? w.type)}`);
  } else {
    for (const m of MEMBERS) {
      const present = w[m] !== undefined && w[m] !== null;
      if (m === kind && !present) problems.add(`${at}.${m}`, `is required for a ${type} resource`);
      if (m !== kind && present) problems.add(`${at}.${m}`, `must not be set for a ${type} resource`);
    }
  }
  let scalar: number | undefined;
  let ranges: Range[] | undefined;
  let set: string[] | undefined;
  if (kind === 'scalar' && w.scalar) scalar = readScalar(w.scalar.value, String(name), `${at}.scalar.value`, problems);
  if (kind === 'ranges' && w.ranges) ranges = readRanges(w.ranges.range, `${at}.ranges`, problems);
  if (kind === 'set' && w.set) set = readSet(w.set.item, String(name), `${at}.set`, problems);

  const reservations = readReservations(w.reservations, `${at}.reservations`, problems);
  const disk = readDisk(w.disk, `${at}.disk`, problems);
  if (problems.size > before || kind === undefined) return undefined;

  const r: Resource = {
    name: name!,
    kind,
    scalar,
    ranges,
    set,
    reservations,
    disk,
    revocable: w.revocable === true ? true : undefined,
    shared: w.shared === true ? true : undefined,
  };
  return problems.capture(at, () => {
    validateResource(r);
    return r;
  });
}

function readScalar(v: unknown, name: string, at: string, problems: Problems): number | undefined {
  const d = readDouble(v);
  if (!d.ok) return void problems.add(at, d.problem);
  if (!Number.isFinite(d.value)) return void problems.add(at, `must be a finite number, got ${describeValue(d.value)}`);
  if (d.value < 0) return void problems.add(at, `must be non-negative, got ${describeValue(d.value)}`);
  const milli = problems.capture(at, () => toMilli(d.value));
  if (milli !== undefined && name === 'gpus' && milli % 1000 !== 0) {
    return void problems.add(at, `gpus must be a whole number, got ${describeValue(d.value)}`);
  }
  return milli;
}

function readRanges(list: readonly unknown[] | undefined, at: string, problems: Problems): Range[] | undefined {
  const out: Range[] = [];
  const before = problems.size;
  (list ?? []).forEach((raw, i) => {
    const r = (raw ?? {}) as { begin?: unknown; end?: unknown };
    const b = readSafeUint(r.begin);
    const e = readSafeUint(r.end);
    if (!b.ok) problems.add(`${at}.range[${i}].begin`, b.problem);
    if (!e.ok) problems.add(`${at}.range[${i}].end`, e.problem);
    if (!b.ok || !e.ok) return;
    if (b.value > e.value) problems.add(`${at}.range[${i}]`, `begin ${b.value} is greater than end ${e.value}`);
    else out.push({ begin: b.value, end: e.value });
  });
  return problems.size > before ? undefined : normalizeRanges(out);
}

function readSet(items: readonly unknown[] | undefined, name: string, at: string, problems: Problems): string[] | undefined {
  const out = new Set<string>();
  const before = problems.size;
  (items ?? []).forEach((item, i) => {
    if (typeof item !== 'string') return void problems.add(`${at}.item[${i}]`, `must be a string, got ${describeValue(item)}`);
    // Probe the item alone, under the resource's name when that is valid (its problem is reported apart).
    const probeName = resourceNameProblem(name) === undefined ? name : 'set';
    problems.capture(`${at}.item[${i}]`, () => validateResource({ name: probeName, kind: 'set', set: [item], reservations: [] }));
    out.add(item);
  });
  return problems.size > before ? undefined : [...out];
}

function readReservations(list: readonly ReservationInfo[] | undefined, at: string, problems: Problems): Reservation[] {
  const out: Reservation[] = [];
  (list ?? []).forEach((w, i) => {
    const here = `${at}[${i}]`;
    const type = enumName(ReservationType, w?.type);
    if (type !== 'STATIC' && type !== 'DYNAMIC') problems.add(`${here}.type`, `must be STATIC or DYNAMIC, got ${describeValue(type ?? w?.type)}`);
    const role = w?.role;
    const rp = role === DEFAULT_ROLE ? 'cannot reserve to role "*" (it means unreserved)' : roleProblem(role as string);
    if (rp !== undefined) problems.add(`${here}.role`, `invalid role ${describeValue(role)}: ${rp}`);
    const below = out[out.length - 1];
    if (rp === undefined && below !== undefined && out.length === i) {
      if (!isSubroleOf(role!, below.role)) {
        problems.add(`${here}.role`, `${describeValue(role)} does not refine the reservation below it (${describeValue(below.role)}): not a subrole`);
      } else if (type === 'STATIC' && below.type === 'DYNAMIC') {
        problems.add(`${here}.type`, 'a STATIC reservation cannot refine a DYNAMIC one');
      }
    }
    const principal = w?.principal;
    if (principal !== undefined && principal !== null && typeof principal !== 'string') {
      problems.add(`${here}.principal`, `must be a string, got ${describeValue(principal)}`);
    }
    const labels = recordOfLabels(readLabels(w?.labels, `${here}.labels`, problems), `${here}.labels`, problems);
    if ((type === 'STATIC' || type === 'DYNAMIC') && rp === undefined) {
      const res: { type: 'STATIC' | 'DYNAMIC'; role: string; principal?: string; labels?: Record<string, string> } = { type, role: role! };
      if (typeof principal === 'string' && principal !== '') res.principal = principal;
      if (Object.keys(labels).length > 0) res.labels = labels;
      out.push(res);
    }
  });
  return out;
}

function readDisk(w: WireDiskInfo | null | undefined, at: string, problems: Problems): DiskInfo | undefined {
  if (w === undefined || w === null) return undefined;
  const out: { persistence?: { id: string; principal?: string }; volume?: { containerPath: string; mode: 'RW' | 'RO' } } = {};
  const p = w.persistence;
  if (p !== undefined && p !== null) {
    if (typeof p.id !== 'string' || p.id === '') problems.add(`${at}.persistence.id`, `must be a non-empty string, got ${describeValue(p.id)}`);
    else out.persistence = typeof p.principal === 'string' && p.principal !== '' ? { id: p.id, principal: p.principal } : { id: p.id };
  }
  const v = w.volume;
  if (v !== undefined && v !== null) {
    const mode = enumName(VolumeMode, v.mode);
    if (mode === undefined) problems.add(`${at}.volume.mode`, `must be RW or RO, got ${describeValue(v.mode)}`);
    for (const source of ['host_path', 'persistence_id'] as const) {
      if (v[source] !== undefined && v[source] !== null) {
        problems.add(`${at}.volume.${source}`, 'must not be set inside DiskInfo (the disk itself is the volume source)');
      }
    }
    if (typeof v.container_path !== 'string' || v.container_path === '') {
      problems.add(`${at}.volume.container_path`, `must be a non-empty path, got ${describeValue(v.container_path)}`);
    } else if (mode !== undefined) {
      out.volume = { containerPath: v.container_path, mode: mode === 'RO' ? 'RO' : 'RW' };
    }
  }
  return out.persistence === undefined && out.volume === undefined ? undefined : out;
}

/**
 * The wire form of a collection, entries in the collection's stable order, in the decoded
 * (`__Output`) shape, which any encoder also accepts. Never throws.
 */
export function resourcesToWire(r: Resources): Resource__Output[] {
  return r.entries.map(resourceToWire);
}

/** The wire form of one (valid, normalised) resource entry. Never throws. */
export function resourceToWire(r: Resource): Resource__Output {
  const out: Resource__Output = {
    name: r.name,
    type: r.kind === 'scalar' ? 'SCALAR' : r.kind === 'ranges' ? 'RANGES' : 'SET',
    reservations: r.reservations.map(reservationToWire),
    disk: diskToWire(r.disk),
    revocable: r.revocable === true,
    shared: r.shared === true,
    value: r.kind,
  };
  if (r.kind === 'scalar') out.scalar = { value: Number(formatMilli(r.scalar!)) };
  else if (r.kind === 'ranges') out.ranges = { range: r.ranges!.map((x) => ({ begin: String(x.begin), end: String(x.end) })) };
  else out.set = { item: [...r.set!] };
  return out;
}

function reservationToWire(r: Reservation): ReservationInfo__Output {
  return { type: r.type, role: r.role, principal: r.principal ?? '', labels: r.labels === undefined ? null : labelsToWire(r.labels) };
}

function diskToWire(d: DiskInfo | undefined): DiskInfo__Output | null {
  if (d === undefined || (d.persistence === undefined && d.volume === undefined)) return null;
  return {
    persistence: d.persistence === undefined ? null : { id: d.persistence.id, principal: d.persistence.principal ?? '' },
    volume: d.volume === undefined ? null : { container_path: d.volume.containerPath, mode: d.volume.mode },
  };
}

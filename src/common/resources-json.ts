/**
 * The JSON form of resources, shaped like Mesos' `Resource` JSON so that agent `--resources` documents
 * written for Mesos mostly work unchanged:
 *
 * ```json
 * [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 4}},
 *  {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 32000}]}},
 *  {"name": "zones", "type": "SET", "set": {"item": ["a", "b"]}},
 *  {"name": "disk", "type": "SCALAR", "scalar": {"value": 1024},
 *   "reservations": [{"type": "DYNAMIC", "role": "eng", "principal": "ops",
 *                     "labels": {"labels": [{"key": "team", "value": "db"}]}}],
 *   "disk": {"persistence": {"id": "vol1"}, "volume": {"container_path": "data", "mode": "RW"}},
 *   "shared": {}}]
 * ```
 *
 * Input is validated field by field; errors name the path (`[2].scalar.value: must be a non-negative
 * number, got -3`). Accepted leniencies: `type` may be omitted (inferred from the value field), labels
 * may be a plain `{key: value}` object, `revocable`/`shared` may be `true`, `containerPath` may be
 * camel-case, and a Mesos pre-1.x `"role": "eng"` field means a STATIC reservation to `eng`.
 */
import { ResourceError } from './errors';
import { DEFAULT_ROLE } from './roles';
import { fromMilli, toMilli } from './scalar';
import {
  NO_RESERVATIONS,
  resourceProblem,
  type DiskInfo,
  type Reservation,
  type Resource,
  type ResourceKind,
} from './resource-entry';
import type { Range } from './resource-values';

/** JSON of one reservation level. */
export interface ReservationJSON {
  type: 'STATIC' | 'DYNAMIC';
  role: string;
  principal?: string;
  labels?: { labels: { key: string; value: string }[] };
}

/** JSON of disk info (Mesos field names). */
export interface DiskInfoJSON {
  persistence?: { id: string; principal?: string };
  volume?: { container_path: string; mode: 'RW' | 'RO' };
}

/** JSON of one resource entry (Mesos-like). */
export interface ResourceJSON {
  name: string;
  type: 'SCALAR' | 'RANGES' | 'SET';
  scalar?: { value: number };
  ranges?: { range: { begin: number; end: number }[] };
  set?: { item: string[] };
  /** Omitted when unreserved. */
  reservations?: ReservationJSON[];
  disk?: DiskInfoJSON;
  /** Present (as `{}`) only when revocable. */
  revocable?: Record<string, never>;
  /** Present (as `{}`) only when shared. */
  shared?: Record<string, never>;
}

/** Options of {@link resourcesFromJSON}. */
export interface FromJSONOptions {
  /**
   * Role that statically reserves entries without `reservations` (and without a legacy `role`), as
   * the Mesos agent's `--default_role`. `*` leaves them unreserved.
   * @default '*'
   */
  readonly defaultRole?: string;
}

/** Converts normalised entries to JSON. Never throws. */
export function resourcesToJSON(entries: readonly Resource[]): ResourceJSON[] {
  return entries.map(entryToJSON);
}

function entryToJSON(r: Resource): ResourceJSON {
  const out: ResourceJSON = { name: r.name, type: r.kind === 'scalar' ? 'SCALAR' : r.kind === 'ranges' ? 'RANGES' : 'SET' };
  if (r.kind === 'scalar') out.scalar = { value: fromMilli(r.scalar!) };
  else if (r.kind === 'ranges') out.ranges = { range: r.ranges!.map((x) => ({ begin: x.begin, end: x.end })) };
  else out.set = { item: [...r.set!] };
  if (r.reservations.length > 0) {
    out.reservations = r.reservations.map((res) => {
      const j: ReservationJSON = { type: res.type, role: res.role };
      if (res.principal !== undefined) j.principal = res.principal;
      if (res.labels !== undefined) {
        j.labels = { labels: Object.keys(res.labels).map((key) => ({ key, value: res.labels![key] })) };
      }
      return j;
    });
  }
  if (r.disk !== undefined) {
    const d: DiskInfoJSON = {};
    if (r.disk.persistence !== undefined) d.persistence = { ...r.disk.persistence };
    if (r.disk.volume !== undefined) d.volume = { container_path: r.disk.volume.containerPath, mode: r.disk.volume.mode };
    out.disk = d;
  }
  if (r.revocable) out.revocable = {};
  if (r.shared) out.shared = {};
  return out;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

function fail(path: string, problem: string): never {
  throw new ResourceError('INVALID_RESOURCES', `invalid resources JSON: ${path}: ${problem}`);
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: unknown, path: string): Obj {
  if (!isObj(v)) fail(path, `must be an object, got ${describe(v)}`);
  return v;
}

function str(v: unknown, path: string): string {
  if (typeof v !== 'string' || v === '') fail(path, `must be a non-empty string, got ${describe(v)}`);
  return v;
}

function arr(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) fail(path, `must be an array, got ${describe(v)}`);
  return v;
}

function flag(v: unknown, path: string): boolean {
  if (v === undefined || v === false || v === null) return false;
  if (v === true || isObj(v)) return true;
  fail(path, `must be {} or a boolean, got ${describe(v)}`);
}

function labelsFromJSON(v: unknown, path: string): Record<string, string> | undefined {
  if (v === undefined) return undefined;
  const o = obj(v, path);
  const out: Record<string, string> = {};
  if (Array.isArray(o.labels)) {
    o.labels.forEach((l, i) => {
      const lo = obj(l, `${path}.labels[${i}]`);
      const key = str(lo.key, `${path}.labels[${i}].key`);
      const value = lo.value === undefined ? '' : lo.value;
      if (typeof value !== 'string') fail(`${path}.labels[${i}].value`, `must be a string, got ${describe(value)}`);
      out[key] = value;
    });
  } else {
    for (const [key, value] of Object.entries(o)) {
      if (typeof value !== 'string') fail(`${path}.${key}`, `must be a string, got ${describe(value)}`);
      out[key] = value;
    }
  }
  return out;
}

function reservationFromJSON(v: unknown, path: string): Reservation {
  const o = obj(v, path);
  const type = o.type;
  if (type !== 'STATIC' && type !== 'DYNAMIC') fail(`${path}.type`, `must be STATIC or DYNAMIC, got ${describe(type)}`);
  const role = str(o.role, `${path}.role`);
  const res: { type: 'STATIC' | 'DYNAMIC'; role: string; principal?: string; labels?: Record<string, string> } = { type, role };
  if (o.principal !== undefined) res.principal = str(o.principal, `${path}.principal`);
  const labels = labelsFromJSON(o.labels, `${path}.labels`);
  if (labels !== undefined) res.labels = labels;
  return res;
}

function diskFromJSON(v: unknown, path: string): DiskInfo | undefined {
  if (v === undefined) return undefined;
  const o = obj(v, path);
  const out: { persistence?: { id: string; principal?: string }; volume?: { containerPath: string; mode: 'RW' | 'RO' } } = {};
  if (o.persistence !== undefined) {
    const p = obj(o.persistence, `${path}.persistence`);
    out.persistence = { id: str(p.id, `${path}.persistence.id`) };
    if (p.principal !== undefined) out.persistence.principal = str(p.principal, `${path}.persistence.principal`);
  }
  if (o.volume !== undefined) {
    const vo = obj(o.volume, `${path}.volume`);
    const cp = vo.container_path ?? vo.containerPath;
    const containerPath = str(cp, `${path}.volume.container_path`);
    const mode = vo.mode;
    if (mode !== 'RW' && mode !== 'RO') fail(`${path}.volume.mode`, `must be RW or RO, got ${describe(mode)}`);
    out.volume = { containerPath, mode };
  }
  return out;
}

function nonNegInt(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(path, `must be a non-negative integer, got ${describe(v)}`);
  return v;
}

const TYPES: Record<string, ResourceKind> = { SCALAR: 'scalar', RANGES: 'ranges', SET: 'set' };

function entryFromJSON(v: unknown, path: string, defaultStack: readonly Reservation[]): Resource {
  const o = obj(v, path);
  const name = str(o.name, `${path}.name`);
  let kind: ResourceKind;
  if (o.type === undefined) {
    const present = (['scalar', 'ranges', 'set'] as const).filter((k) => o[k] !== undefined);
    if (present.length !== 1) fail(`${path}.type`, 'is missing and cannot be inferred (give exactly one of scalar, ranges, set)');
    kind = present[0];
  } else {
    const k = typeof o.type === 'string' ? TYPES[o.type] : undefined;
    if (k === undefined) fail(`${path}.type`, `must be one of SCALAR, RANGES, SET, got ${describe(o.type)}`);
    kind = k;
  }
  for (const other of ['scalar', 'ranges', 'set'] as const) {
    if (other !== kind && o[other] !== undefined) fail(`${path}.${other}`, `must be absent for a ${kind} resource`);
  }
  let scalar: number | undefined;
  let ranges: Range[] | undefined;
  let set: string[] | undefined;
  if (kind === 'scalar') {
    const value = obj(o.scalar, `${path}.scalar`).value;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      fail(`${path}.scalar.value`, `must be a non-negative number, got ${describe(value)}`);
    }
    scalar = toMilli(value);
  } else if (kind === 'ranges') {
    const list = arr(obj(o.ranges, `${path}.ranges`).range ?? [], `${path}.ranges.range`);
    ranges = list.map((r, i) => {
      const ro = obj(r, `${path}.ranges.range[${i}]`);
      return { begin: nonNegInt(ro.begin, `${path}.ranges.range[${i}].begin`), end: nonNegInt(ro.end, `${path}.ranges.range[${i}].end`) };
    });
  } else {
    const list = arr(obj(o.set, `${path}.set`).item ?? [], `${path}.set.item`);
    set = list.map((item, i) => {
      if (typeof item !== 'string') fail(`${path}.set.item[${i}]`, `must be a string, got ${describe(item)}`);
      return item;
    });
  }
  let reservations: readonly Reservation[];
  if (o.reservations !== undefined) {
    reservations = arr(o.reservations, `${path}.reservations`).map((r, i) => reservationFromJSON(r, `${path}.reservations[${i}]`));
  } else if (o.role !== undefined && o.role !== DEFAULT_ROLE) {
    reservations = [{ type: 'STATIC', role: str(o.role, `${path}.role`) }];
  } else if (o.role === DEFAULT_ROLE) {
    reservations = NO_RESERVATIONS;
  } else {
    reservations = defaultStack;
  }
  const r: Resource = {
    name,
    kind,
    scalar,
    ranges,
    set,
    reservations,
    disk: diskFromJSON(o.disk, `${path}.disk`),
    revocable: flag(o.revocable, `${path}.revocable`) || undefined,
    shared: flag(o.shared, `${path}.shared`) || undefined,
  };
  const problem = resourceProblem(r);
  if (problem !== undefined) fail(path, problem);
  return r;
}

/**
 * Parses and validates the JSON form into resource objects (not yet combined). Called by
 * `Resources.fromJSON` and by `Resources.parse` for text starting with `[`.
 *
 * @throws ResourceError `INVALID_RESOURCES` naming the JSON path of the first problem.
 */
export function resourcesFromJSON(json: unknown, opts: FromJSONOptions = {}): Resource[] {
  const defaultRole = opts.defaultRole ?? DEFAULT_ROLE;
  let defaultStack: readonly Reservation[] = NO_RESERVATIONS;
  if (defaultRole !== DEFAULT_ROLE) {
    defaultStack = [{ type: 'STATIC', role: defaultRole }];
    const problem = resourceProblem({ name: 'default', kind: 'scalar', scalar: 0, reservations: defaultStack });
    if (problem !== undefined) throw new ResourceError('INVALID_RESOURCES', `invalid default role: ${problem}`);
  }
  if (!Array.isArray(json)) {
    throw new ResourceError('INVALID_RESOURCES', `invalid resources JSON: must be an array of resources, got ${describe(json)}`);
  }
  return json.map((v, i) => entryFromJSON(v, `[${i}]`, defaultStack));
}

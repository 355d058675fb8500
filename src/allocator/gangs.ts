/**
 * Gangs in the allocator: the compiled form of a `GangSpec`, and the pure placement that decides
 * whether (and where) a whole gang fits. No state of the allocator is changed here; the gang
 * phase (gang-phase.ts) gives the placement to the framework.
 *
 * Placement is first-fit over the agents in the order given, the biggest shapes first, under the
 * spread rule's per-agent cap (ONE_PER_AGENT 1, MAX_PER_AGENT K, otherwise unbounded); SAME_ZONE
 * tries each zone on its own, the roomiest zone first. It is a heuristic (bin packing is NP-hard):
 * a gang it cannot place may fit in some other arrangement, but what it places always fits.
 */
import { Resources } from '../common/resources';
import type { Resource } from '../common/resource-entry';
import { compileConstraints, type AgentPredicate } from './constraints';
import type { AgentDescription, GangSpec, GangSpread, Quantities } from './types';

/** Tasks one gang may hold; the wire contract refuses more. */
export const MAX_GANG_TASKS = 10_000;

export interface CompiledGangShape {
  readonly quantities: Quantities;
  readonly ports: number;
  readonly constraints?: AgentPredicate;
  readonly count: number;
}

export interface CompiledGang {
  readonly id: string;
  readonly role: string;
  /** Biggest first (the placement order). */
  readonly shapes: readonly CompiledGangShape[];
  readonly spread: GangSpread;
  readonly tasks: number;
  /** Σ count × quantities over the shapes. */
  readonly need: Quantities;
  readonly ports: number;
  /** GangSpec.priority (0 when unset). */
  readonly priority: number;
  readonly priorityClass?: string;
}

/** Compiles a spec; throws a RangeError naming `where` for what the master's validation lets through by mistake. */
export function compileGang(spec: GangSpec, role: string, where: string): CompiledGang {
  if (spec.shapes.length === 0) throw new RangeError(`${where}.shapes: a gang needs at least one shape`);
  const need = new Map<string, number>();
  let tasks = 0;
  let ports = 0;
  const shapes = spec.shapes.map((s, i) => {
    const count = s.count ?? 1;
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`${where}.shapes[${i}].count: must be a whole number >= 1, got ${count}`);
    tasks += count;
    ports += count * (s.ports ?? 0);
    for (const [name, v] of s.quantities) need.set(name, (need.get(name) ?? 0) + v * count);
    return { quantities: s.quantities, ports: s.ports ?? 0, constraints: compileConstraints(s.constraints, `${where}.shapes[${i}].constraints`), count };
  });
  if (tasks > MAX_GANG_TASKS) throw new RangeError(`${where}: ${tasks} tasks, at most ${MAX_GANG_TASKS}`);
  const spread = spec.spread ?? { kind: 'ANY' };
  if (spread.kind === 'MAX_PER_AGENT' && !(Number.isInteger(spread.maxPerAgent) && spread.maxPerAgent >= 1)) {
    throw new RangeError(`${where}.spread.maxPerAgent: must be a whole number >= 1, got ${spread.maxPerAgent}`);
  }
  shapes.sort((a, b) => size(b.quantities) - size(a.quantities));
  if (spec.priority !== undefined && !Number.isInteger(spec.priority)) throw new RangeError(`${where}.priority: must be a whole number, got ${spec.priority}`);
  return { id: spec.id, role, shapes, spread, tasks, need, ports, priority: spec.priority ?? 0, ...(spec.priorityClass === undefined ? {} : { priorityClass: spec.priorityClass }) };
}

function size(q: Quantities): number {
  return (q.get('cpus') ?? 0) * 1024 + (q.get('mem') ?? 0);
}

/** An agent the gang could use, with what the framework could be given there now. */
export interface GangCandidate<A> {
  readonly agent: A;
  readonly info: AgentDescription;
  readonly room: Resources;
}

/** Where the gang goes: per agent, its quantities, ports and task count. */
export interface GangPart<A> {
  readonly agent: A;
  readonly quantities: Map<string, number>;
  ports: number;
  tasks: number;
}

/** Places the whole gang on `candidates`, or returns undefined (nothing partial, ever). */
export function placeGang<A>(gang: CompiledGang, candidates: readonly GangCandidate<A>[]): GangPart<A>[] | undefined {
  if (gang.spread.kind !== 'SAME_ZONE') return placeIn(gang, candidates);
  const zones = new Map<string, GangCandidate<A>[]>();
  for (const c of candidates) {
    const zone = c.info.domain?.zone;
    if (zone === undefined || zone === '') continue;
    let list = zones.get(zone);
    if (list === undefined) zones.set(zone, (list = []));
    list.push(c);
  }
  const roomiest = [...zones.values()].map((list) => ({ list, cpus: list.reduce((n, c) => n + c.room.scalar('cpus'), 0) })).sort((a, b) => b.cpus - a.cpus);
  for (const { list } of roomiest) {
    const placed = placeIn(gang, list);
    if (placed !== undefined) return placed;
  }
  return undefined;
}

function perAgentCap(spread: GangSpread): number {
  if (spread.kind === 'ONE_PER_AGENT') return 1;
  if (spread.kind === 'MAX_PER_AGENT') return spread.maxPerAgent;
  return Number.POSITIVE_INFINITY;
}

function placeIn<A>(gang: CompiledGang, candidates: readonly GangCandidate<A>[]): GangPart<A>[] | undefined {
  const cap = perAgentCap(gang.spread);
  if (candidates.length * cap < gang.tasks) return undefined;
  const left = gang.shapes.map((s) => s.count);
  let remaining = gang.tasks;
  const parts: GangPart<A>[] = [];
  for (const c of candidates) {
    const room = c.room.quantities();
    let ports = c.room.rangeCount('ports');
    let part: GangPart<A> | undefined;
    for (let i = 0; i < gang.shapes.length && (part?.tasks ?? 0) < cap; i++) {
      const s = gang.shapes[i]!;
      if (left[i] === 0 || (s.constraints !== undefined && !s.constraints(c.info))) continue;
      while (left[i]! > 0 && (part?.tasks ?? 0) < cap && ports >= s.ports && fits(room, s.quantities)) {
        for (const [name, v] of s.quantities) room.set(name, room.get(name)! - v);
        ports -= s.ports;
        part ??= { agent: c.agent, quantities: new Map(), ports: 0, tasks: 0 };
        for (const [name, v] of s.quantities) part.quantities.set(name, (part.quantities.get(name) ?? 0) + v);
        part.ports += s.ports;
        part.tasks++;
        left[i]!--;
        remaining--;
      }
    }
    if (part !== undefined) parts.push(part);
    if (remaining === 0) return parts;
  }
  return undefined;
}

function fits(room: ReadonlyMap<string, number>, q: Quantities): boolean {
  for (const [name, v] of q) if ((room.get(name) ?? 0) < v) return false;
  return true;
}

/**
 * The resources of `room` a gang part takes: exactly `quantities` of scalars (reserved entries
 * first, as the room lists them) and the `ports` lowest free ports, nothing else — so a held gang
 * never keeps more of an agent than its tasks need. `room` must contain them (placeGang checked).
 */
export function carvePart(room: Resources, quantities: ReadonlyMap<string, number>, ports: number): Resources {
  const scalars = room.filter((r) => r.kind === 'scalar' && quantities.has(r.name) && r.disk?.persistence === undefined).shrinkScalars(quantities);
  if (ports === 0) return scalars;
  const picked: Resource[] = [];
  let want = ports;
  for (const r of room.entries) {
    if (r.name !== 'ports' || r.kind !== 'ranges' || want === 0) continue;
    for (const g of r.ranges ?? []) {
      if (want === 0) break;
      const end = Math.min(g.end, g.begin + want - 1);
      picked.push({ ...r, ranges: [{ begin: g.begin, end }] });
      want -= end - g.begin + 1;
    }
  }
  return scalars.plus(Resources.of(picked));
}

/** `need` ≤ `limit` for every name of `limit`; the first short name otherwise. */
export function shortOf(need: Quantities, limit: Quantities): string | undefined {
  for (const [name, l] of limit) if ((need.get(name) ?? 0) > l) return name;
  return undefined;
}

/**
 * Gang declarations (`RoleDemand.gangs`) at the master's edge: the wire form → the allocator's
 * `GangSpec`, every problem named by field and value; and the submit-time check that a gang is not
 * larger than the whole cluster (`gangClusterProblems`).
 */
import { MAX_GANG_TASKS } from '../../allocator/gangs';
import type { GangSpec, GangSpread, TaskShape } from '../../allocator/types';
import type { Resources } from '../../common/resources';
import { formatMilli } from '../../common/scalar';
import { domainFromWire } from '../../common/wire';
import type { DomainInfo__Output } from '../../generated/berth/v1/DomainInfo';
import { enumName, textProblem } from '../../common/wire/values';
import type { GangDemand__Output } from '../../generated/berth/v1/GangDemand';
import { _berth_v1_GangSpread_Kind as SpreadKind } from '../../generated/berth/v1/GangSpread';
import type { GangSpread__Output } from '../../generated/berth/v1/GangSpread';
import { describeValue, type Problem, type Problems } from './errors';

/** Longest gang id accepted. */
export const MAX_GANG_ID_LENGTH = 128;

const KINDS = Object.keys(SpreadKind).filter((k) => k !== 'KIND_UNSPECIFIED');

/**
 * Reads one role's gangs. `readShape` converts a wire TaskShape as plain demand does (resources,
 * constraints), recording its problems; `seen` maps gang ids to where they were first declared,
 * across roles.
 */
export function readGangs(
  list: readonly GangDemand__Output[] | undefined | null,
  at: string,
  problems: Problems,
  seen: Map<string, string>,
  readShape: (shape: GangDemand__Output['shapes'][number], at: string) => TaskShape | undefined,
  readPriority: (name: string | undefined, at: string) => { priorityClass: string; priority: number } | undefined = () => undefined,
): GangSpec[] {
  const gangs: GangSpec[] = [];
  (list ?? []).forEach((g, i) => {
    const here = `${at}.gangs[${i}]`;
    const before = problems.size;
    const id = g?.gang_id ?? '';
    const idProblem = id === '' ? 'must be set: the framework chooses each gang\'s id' : textProblem(id, MAX_GANG_ID_LENGTH) ?? (/\s/.test(id) ? `must not contain whitespace, got ${describeValue(id)}` : undefined);
    if (idProblem !== undefined) problems.add(`${here}.gang_id`, idProblem);
    else if (seen.has(id)) problems.add(`${here}.gang_id`, `duplicate gang id ${describeValue(id)} (also ${seen.get(id)}); gang ids are unique per framework`);
    else seen.set(id, `${here}.gang_id`);
    const shapes: TaskShape[] = [];
    let tasks = 0;
    (g?.shapes ?? []).forEach((wire, j) => {
      const where = `${here}.shapes[${j}]`;
      const count = wire?.count ?? 0;
      if (!(Number.isInteger(count) && count >= 1)) problems.add(`${where}.count`, `a gang's shape needs count >= 1 (how many tasks of this shape the gang has), got ${describeValue(count)}`);
      const shape = readShape(wire, where);
      if (shape !== undefined && count >= 1) {
        shapes.push({ ...shape, count });
        tasks += count;
      }
    });
    if ((g?.shapes ?? []).length === 0) problems.add(`${here}.shapes`, 'a gang needs at least one task shape (resources and count)');
    if (tasks > MAX_GANG_TASKS) problems.add(`${here}.shapes`, `the gang has ${tasks} tasks; at most ${MAX_GANG_TASKS} are allowed`);
    const spread = readSpread(g?.spread, `${here}.spread`, problems);
    const priority = readPriority(g?.priority_class, `${here}.priority_class`);
    if (problems.size === before && spread !== undefined) gangs.push({ id, shapes, spread, ...priority });
  });
  return gangs;
}

function readSpread(s: GangSpread__Output | null | undefined, at: string, problems: Problems): GangSpread | undefined {
  if (s === null || s === undefined) return { kind: 'ANY' };
  const kind = enumName(SpreadKind, s.kind);
  const k = s.max_per_agent ?? 0;
  if (kind === undefined) {
    problems.add(`${at}.kind`, `unknown spread kind ${describeValue(s.kind)}: use one of ${KINDS.join(', ')}`);
    return undefined;
  }
  if (kind === 'MAX_PER_AGENT') {
    if (!(Number.isInteger(k) && k >= 1)) {
      problems.add(`${at}.max_per_agent`, `MAX_PER_AGENT needs max_per_agent >= 1 (the most tasks of the gang on one agent), got ${describeValue(k)}`);
      return undefined;
    }
    return { kind, maxPerAgent: k };
  }
  if (k !== 0) {
    problems.add(`${at}.max_per_agent`, `is used only with kind MAX_PER_AGENT, got ${describeValue(k)} with ${kind === 'KIND_UNSPECIFIED' ? 'no kind' : kind}`);
    return undefined;
  }
  if (kind === 'ONE_PER_AGENT' || kind === 'SAME_ZONE') return { kind };
  return { kind: 'ANY' };
}

/** What the cluster has, for the submit-time size check. */
export interface ClusterCapacity {
  readonly agents: number;
  /** Σ of the agents' total scalars (milli). */
  readonly totals: ReadonlyMap<string, number>;
  /** Σ of ports (values) over agents. */
  readonly ports: number;
  /** Per fault-domain zone: agents and total scalars. */
  readonly zones: ReadonlyMap<string, { readonly agents: number; readonly totals: ReadonlyMap<string, number> }>;
}

/**
 * Gangs that cannot fit even in an empty cluster, with the numbers: what the gang asks (N × shape)
 * against the cluster's totals, or its spread against the number of agents (or the biggest zone).
 * `path(role, i)` names the gang's field.
 */
export function gangClusterProblems(gangs: Readonly<Record<string, readonly GangSpec[]>>, cluster: ClusterCapacity, path: (role: string, i: number) => string): Problem[] {
  const problems: Problem[] = [];
  for (const [role, list] of Object.entries(gangs)) {
    list.forEach((g, i) => {
      const tasks = g.shapes.reduce((n, s) => n + (s.count ?? 1), 0);
      const need = new Map<string, number>();
      let ports = 0;
      for (const s of g.shapes) {
        for (const [name, v] of s.quantities) need.set(name, (need.get(name) ?? 0) + v * (s.count ?? 1));
        ports += (s.ports ?? 0) * (s.count ?? 1);
      }
      const asked = g.shapes.map((s) => `${s.count ?? 1} × {${[...s.quantities].map(([n, v]) => `${n} ${formatMilli(v)}`).concat(s.ports ? [`ports ${s.ports}`] : []).join(', ')}}`).join(' + ');
      const field = path(role, i);
      const says = (message: string) => problems.push({ field, message: `gang ${describeValue(g.id)} can never be placed: ${message}` });
      const over = (totals: ReadonlyMap<string, number>) => [...need].filter(([n, v]) => v > (totals.get(n) ?? 0));
      const numbers = (totals: ReadonlyMap<string, number>) => [...need.keys()].map((n) => `${n} ${formatMilli(need.get(n)!)} of ${formatMilli(totals.get(n) ?? 0)}`).join(', ');
      const short = over(cluster.totals);
      if (short.length > 0) says(`it asks ${asked} = ${numbers(cluster.totals)} in the whole cluster (${cluster.agents} agents); ${short.map(([n]) => n).join(', ')} exceed the cluster's total`);
      else if (ports > cluster.ports) says(`it asks ${ports} ports; the whole cluster has ${cluster.ports}`);
      const spread = g.spread ?? { kind: 'ANY' };
      const cap = spread.kind === 'ONE_PER_AGENT' ? 1 : spread.kind === 'MAX_PER_AGENT' ? spread.maxPerAgent : undefined;
      if (cap !== undefined && tasks > cap * cluster.agents) says(`${tasks} tasks at most ${cap} per agent need ${Math.ceil(tasks / cap)} agents; the cluster has ${cluster.agents}`);
      if (spread.kind === 'SAME_ZONE') {
        const fits = [...cluster.zones.values()].some((z) => over(z.totals).length === 0);
        if (!fits) says(`SAME_ZONE: no zone has ${numbers(cluster.totals).replace(/ of [^,]+/g, '')} (${cluster.zones.size === 0 ? 'no agent has a zone' : [...cluster.zones].map(([z, c]) => `${z}: ${numbers(c.totals)}`).join('; ')})`);
      }
    });
  }
  return problems;
}

/** Sums what the agents that may run tasks (registered, or recovered after a failover) have. */
export function clusterCapacity(agents: Iterable<{ readonly total: Resources; readonly lifecycle: string; readonly info: { readonly domain?: DomainInfo__Output | null } }>): ClusterCapacity {
  const totals = new Map<string, number>();
  const zones = new Map<string, { agents: number; totals: Map<string, number> }>();
  let count = 0;
  let ports = 0;
  for (const a of agents) {
    if (a.lifecycle !== 'REGISTERED' && a.lifecycle !== 'RECOVERED') continue;
    count++;
    ports += a.total.rangeCount('ports');
    const q = a.total.quantities();
    for (const [n, v] of q) totals.set(n, (totals.get(n) ?? 0) + v);
    const zone = domainFromWire(a.info.domain)?.zone;
    if (zone === undefined || zone === '') continue;
    let z = zones.get(zone);
    if (z === undefined) zones.set(zone, (z = { agents: 0, totals: new Map() }));
    z.agents++;
    for (const [n, v] of q) z.totals.set(n, (z.totals.get(n) ?? 0) + v);
  }
  return { agents: count, totals, ports, zones };
}

/**
 * Choosing preemption victims for a gang that free resources cannot hold: a pure function of the
 * agents' free room and what could be taken from them, so it is tested on its own (fast-check
 * properties in test/unit/allocator/preemption.test.ts) and the master only carries it out.
 *
 * The rules, in order:
 * - only candidates of strictly lower priority than the gang are taken;
 * - a candidate with a disruption budget is taken only while its group's allowance lasts;
 * - lowest priority first; at equal priority, what costs no task (an unused offer) before a task,
 *   bigger tasks before smaller (fewer tasks stopped), and younger before older (less work lost);
 * - candidates are added in that order until the gang can be placed whole (gangs.ts `placeGang`
 *   over the room plus what the victims free), then every victim the placement can do without is
 *   given back, the most valued first — so the victims are a minimal set for that placement,
 *   though not necessarily the smallest possible one (that is a hard packing problem).
 * Nothing is taken when even every eligible candidate would not make the gang fit.
 */
import type { Resources } from '../common/resources';
import { placeGang, type CompiledGang, type GangCandidate } from './gangs';
import type { AgentDescription } from './types';

/** Something preemption could take: a running task (cost 1) or an outstanding offer (cost 0). */
export interface PreemptionCandidate<T> {
  readonly ref: T;
  readonly agentId: string;
  readonly priority: number;
  /** What taking it frees on its agent (for the gang's role: only what the gang could use). */
  readonly resources: Resources;
  /** Tasks it stops. */
  readonly cost: 0 | 1;
  /** Disruption budget group (see `allowance`); undefined: no budget. */
  readonly budget?: string;
  /** When it started (ms); younger ones go first. */
  readonly startedAt: number;
}

export interface PreemptionAgent {
  readonly id: string;
  readonly info: AgentDescription;
  /** What the gang could use here now, before anything is taken. */
  readonly free: Resources;
}

export interface PreemptionInput<T> {
  readonly gang: CompiledGang;
  readonly agents: readonly PreemptionAgent[];
  readonly candidates: readonly PreemptionCandidate<T>[];
  /** Per budget group: how many more of its tasks may go down now (missing: 0). */
  readonly allowance: ReadonlyMap<string, number>;
}

export interface PreemptionPlan<T> {
  /** What to take, in the order chosen. */
  readonly victims: readonly T[];
  /** Tasks the victims stop (Σ cost). */
  readonly tasks: number;
  /** The agents the gang is placed on once the victims are gone. */
  readonly agents: readonly string[];
}

function size(r: Resources): number {
  return r.scalar('cpus') * 1024 + r.scalar('mem');
}

/** The victims that let `gang` be placed whole, or undefined when none do. */
export function planPreemption<T>(input: PreemptionInput<T>): PreemptionPlan<T> | undefined {
  const { gang } = input;
  const agents = new Map(input.agents.map((a) => [a.id, a]));
  const eligible = input.candidates
    .filter((c) => c.priority < gang.priority && agents.has(c.agentId) && !c.resources.isEmpty())
    .map((c) => ({ c, size: size(c.resources) }))
    .sort((a, b) => a.c.priority - b.c.priority || a.c.cost - b.c.cost || b.size - a.size || b.c.startedAt - a.c.startedAt)
    .map((e) => e.c);

  const room = new Map<string, Resources>(input.agents.map((a) => [a.id, a.free]));
  const total = new Map<string, number>();
  const addTotal = (r: Resources, sign: 1 | -1) => {
    for (const [name, v] of r.quantities()) total.set(name, (total.get(name) ?? 0) + sign * v);
  };
  for (const a of input.agents) addTotal(a.free, 1);
  const covered = () => {
    for (const [name, v] of gang.need) if ((total.get(name) ?? 0) < v) return false;
    return true;
  };
  const place = () => {
    const candidates: GangCandidate<string>[] = [];
    for (const a of input.agents) {
      const r = room.get(a.id)!;
      if (!r.isEmpty()) candidates.push({ agent: a.id, info: a.info, room: r });
    }
    return placeGang(gang, candidates);
  };

  const left = new Map(input.allowance);
  const chosen: PreemptionCandidate<T>[] = [];
  let parts = covered() ? place() : undefined;
  for (const c of eligible) {
    if (parts !== undefined) break;
    if (c.budget !== undefined) {
      const n = left.get(c.budget) ?? 0;
      if (n <= 0) continue;
      left.set(c.budget, n - 1);
    }
    chosen.push(c);
    room.set(c.agentId, room.get(c.agentId)!.plus(c.resources));
    addTotal(c.resources, 1);
    if (covered()) parts = place();
  }
  if (parts === undefined) return undefined;

  // Give back every victim the placement does not need, most valued first (the reverse of the order taken).
  for (let i = chosen.length - 1; i >= 0; i--) {
    const c = chosen[i]!;
    const before = room.get(c.agentId)!;
    room.set(c.agentId, before.minus(c.resources));
    addTotal(c.resources, -1);
    const without = covered() ? place() : undefined;
    if (without !== undefined) {
      parts = without;
      chosen.splice(i, 1);
    } else {
      room.set(c.agentId, before);
      addTotal(c.resources, 1);
    }
  }
  return {
    victims: chosen.map((c) => c.ref),
    tasks: chosen.reduce((n, c) => n + c.cost, 0),
    agents: parts.map((p) => p.agent),
  };
}

import type { Resources } from '../common/resources';
import { carvePart, placeGang, shortOf, type GangCandidate } from './gangs';
import type { Headroom, QuotaTracker } from './quota';
import type { Sorter } from './sorter';
import { dropClaim, type AgentEntry, type FrameworkEntry, type GangState } from './state';
import type { Allocation } from './types';

/** What the gang phase reads of the allocator, and how it gives. */
export interface GangPhaseHost {
  readonly roleSorter: Sorter;
  readonly frameworkSorters: ReadonlyMap<string, Sorter>;
  readonly quota: QuotaTracker;
  readonly holdMs: number;
  /** What `fw` could be offered of `agent` in `role` now (after every per-framework check), or undefined. */
  room(agent: AgentEntry, fw: FrameworkEntry, role: string, headroom: Headroom | undefined): Resources | undefined;
  /** Takes `r` from the agent's available resources and records it as allocated to `fw` in `role`. */
  give(agent: AgentEntry, fw: FrameworkEntry, role: string, r: Resources, headroom: Headroom | undefined): void;
}

/**
 * The gang phase of an allocation cycle, before the ordinary stages: frameworks with pending gangs,
 * roles in role-sorter order and frameworks in DRF order within each role (the order is taken once
 * per phase), then — stable over that order — gangs holding a claim first (resources preemption
 * freed for them) and higher priority before lower; each pending gang placed whole (gangs.ts) on
 * the agents' current room or skipped. An agent claimed for one gang is no candidate for another.
 * A placed gang becomes one allocation per agent it uses, all in this cycle's result and all with
 * its id; its resources count in the sorters and quota like any allocation, so a held gang weighs
 * on its framework's share.
 */
export class GangPhase {
  constructor(private readonly host: GangPhaseHost) {}

  run(agents: readonly AgentEntry[], now: number, out: Allocation[], headroom: Headroom | undefined): void {
    const turns: [FrameworkEntry, GangState][] = [];
    this.host.roleSorter.forEach((role) => {
      this.host.frameworkSorters.get(role)?.forEach((id) => {
        const fw = this.frameworks.get(id);
        if (fw === undefined || !fw.gangRoles.has(role)) return;
        for (const state of fw.gangs.values()) {
          if (state.spec?.role !== role || state.hold !== undefined || state.accepted || now < state.notBefore) continue;
          turns.push([fw, state]);
        }
      });
    });
    const rank = (s: GangState) => (s.claim !== undefined && s.claim.expiresAt > now ? 1 : 0);
    turns.sort(([, a], [, b]) => rank(b) - rank(a) || (b.spec!.priority - a.spec!.priority));
    for (const [fw, state] of turns) this.tryPlace(fw, state, agents, now, out, headroom);
  }

  /** Frameworks by id, set by the allocator (the same map it keeps). */
  frameworks: ReadonlyMap<string, FrameworkEntry> = new Map();

  private tryPlace(fw: FrameworkEntry, state: GangState, agents: readonly AgentEntry[], now: number, out: Allocation[], headroom: Headroom | undefined): void {
    const gang = state.spec!;
    const role = gang.role;
    if (this.host.quota.isLimited(role) && shortOf(gang.need, this.host.quota.limitHeadroom(role)) !== undefined) return;
    if (headroom !== undefined && headroom.required.size > 0 && shortOf(gang.need, headroom.allowance(role)) !== undefined) return;
    const candidates: GangCandidate<AgentEntry>[] = [];
    for (const agent of agents) {
      if (!agent.active || agent.draining) continue;
      if (agent.claim !== undefined) {
        const claim = agent.claimAt(now);
        if (claim !== undefined && claim !== state.claim) continue;
      }
      const room = this.host.room(agent, fw, role, headroom);
      if (room !== undefined) candidates.push({ agent, info: agent.info, room });
    }
    const parts = placeGang(gang, candidates);
    if (parts === undefined) return;
    const rooms = new Map(candidates.map((c) => [c.agent, c.room]));
    const expiresAt = now + this.host.holdMs;
    const held: { agent: AgentEntry; resources: Resources; tasks: number }[] = [];
    for (const p of parts) {
      const resources = carvePart(rooms.get(p.agent)!, p.quantities, p.ports);
      this.host.give(p.agent, fw, role, resources, headroom);
      held.push({ agent: p.agent, resources, tasks: p.tasks });
    }
    state.hold = { role, expiresAt, parts: held };
    dropClaim(state);
    for (const h of held) {
      out.push({
        frameworkId: fw.id,
        agentId: h.agent.id,
        role,
        resources: h.resources,
        unavailability: h.agent.info.unavailability,
        gang: { id: gang.id, tasksHere: h.tasks, tasks: gang.tasks, expiresAt },
      });
    }
  }
}

import { Resources } from '../common/resources';
import { accumulate, Headroom, unreservedQuantities, type QuotaTracker } from './quota';
import type { GangPhase } from './gang-phase';
import type { Sorter } from './sorter';
import type { AgentEntry, Claim, FrameworkEntry, MinimumAlternatives } from './state';
import { fitsDemand } from './state';
import type { Allocation, Quantities } from './types';

/** What the cycle reads of the allocator, and the one thing it changes through it. */
export interface CycleHost {
  readonly roleSorter: Sorter;
  readonly frameworkSorters: ReadonlyMap<string, Sorter>;
  readonly frameworks: ReadonlyMap<string, FrameworkEntry>;
  /** Every agent (for headroom), in any order. */
  readonly agents: readonly AgentEntry[];
  readonly quota: QuotaTracker;
  readonly minAllocatable: MinimumAlternatives;
  readonly filterGpus: boolean;
  readonly region: string | undefined;
  /** Records an allocation in every ledger (sorters, quota, headroom, the agent's slots). */
  account(agent: AgentEntry, fw: FrameworkEntry, role: string, r: Resources, headroom: Headroom | undefined): void;
}

type Stage = 'guarantees' | 'fair';

/**
 * One allocation cycle of the hierarchical allocator: for each agent (in the order given), roles
 * in role-sorter order and, in each role, frameworks in framework-sorter order; the first framework
 * that passes the checks gets everything the agent can give that role. Two stages: roles with
 * unmet quota guarantees first (only when any guarantee is set), then fair sharing for all, during
 * which unreserved resources still needed for others' guarantees are held back (headroom).
 *
 * The checks, cheap ones first, each a reason not to offer: region (REGION_AWARE), GPU agent
 * (GPU_RESOURCES), revocable resources (REVOCABLE_RESOURCES), minimum allocatable size, offer
 * constraints, declared demand (some pending task shape must fit), and decline filters.
 */
export class AllocationCycle {
  constructor(private readonly host: CycleHost) {}

  /**
   * Runs both stages over `agents`; returns the allocations (one per agent × role × framework).
   * With `gangs`, the gang phase runs first, over `gangs.agents` (see gang-phase.ts).
   */
  run(agents: readonly AgentEntry[], now: number, batch: number, gangs?: { phase: GangPhase; agents: readonly AgentEntry[] }): Allocation[] {
    const out: Allocation[] = [];
    this.cycle.batch = batch;
    let headroom: Headroom | undefined;
    if (this.host.quota.hasGuarantees()) headroom = this.computeHeadroom();
    if (gangs !== undefined) gangs.phase.run(gangs.agents, now, out, headroom);
    if (headroom !== undefined) this.runStage('guarantees', agents, now, out, headroom);
    this.runStage('fair', agents, now, out, headroom);
    return out;
  }

  private runStage(stage: Stage, agents: readonly AgentEntry[], now: number, out: Allocation[], headroom: Headroom | undefined): void {
    const c = this.cycle;
    c.stage = stage;
    c.now = now;
    c.out = out;
    c.headroom = headroom;
    for (const agent of agents) {
      if (!agent.active || agent.draining) continue;
      // A claimed agent is kept for a gang (the gang phase's), or offered only to its claimant.
      c.only = agent.claim === undefined ? undefined : agent.claimAt(now);
      if (c.only?.gangId !== undefined) continue;
      // Each allocation takes something from the agent, so this loop ends. It restarts the role
      // walk because an allocation reorders the sorter being walked; `given` keeps a framework
      // from getting a second offer of the same agent and role in one stage (as in Mesos).
      c.agent = agent;
      c.givenFrameworks.length = 0;
      c.givenRoles.length = 0;
      c.allocated = true;
      while (c.allocated && !agent.available.isEmpty()) {
        c.allocated = false;
        this.host.roleSorter.forEach(this.visitRole);
      }
    }
    c.agent = undefined;
    c.only = undefined;
    c.out = undefined;
  }

  /**
   * State of the running stage, read by the two visitors below. The visitors are created once
   * rather than as closures per agent: at 50,000 agents the closures alone were a measurable
   * share of a cycle. `allocate` is therefore not re-entrant (it never needs to be).
   */
  private readonly cycle: {
    stage: Stage;
    now: number;
    /** The allocation batch this cycle belongs to (see `OfferFilter.batch`). */
    batch: number;
    out: Allocation[] | undefined;
    headroom: Headroom | undefined;
    agent: AgentEntry | undefined;
    /** The demand claim on the agent: only its framework, in its role, may be offered it. */
    only: Claim | undefined;
    /** Frameworks (and their roles, same index) already given this agent in this stage. */
    givenFrameworks: string[];
    givenRoles: string[];
    allocated: boolean;
    role: string;
    base: Resources;
    baseMeetsMinimum: boolean;
    foreignRegion: boolean;
  } = {
    stage: 'fair',
    now: 0,
    batch: 0,
    out: undefined,
    headroom: undefined,
    agent: undefined,
    only: undefined,
    givenFrameworks: [],
    givenRoles: [],
    allocated: false,
    role: '',
    base: Resources.empty(),
    baseMeetsMinimum: false,
    foreignRegion: false,
  };

  /** Role-sorter visitor: offers the agent to this role's frameworks; stops after an allocation. */
  private readonly visitRole = (role: string): boolean => {
    const c = this.cycle;
    if (c.stage === 'guarantees' && !c.headroom!.gaps.has(role)) return true;
    if (c.only !== undefined && c.only.role !== role) return true;
    const sorter = this.host.frameworkSorters.get(role);
    if (sorter === undefined) return true;
    const agent = c.agent!;
    const offerable = this.offerable(agent, role, c.stage, c.headroom);
    if (offerable === undefined) return true;
    c.role = role;
    c.base = offerable;
    c.baseMeetsMinimum = meetsMinimum(offerable, this.host.minAllocatable);
    c.foreignRegion = this.host.region !== undefined && agent.region !== undefined && agent.region !== this.host.region;
    // A demand claim: its framework alone (when the sorter would visit it: subscribed and active).
    if (c.only !== undefined) {
      if (sorter.isActive(c.only.frameworkId)) this.visitFramework(c.only.frameworkId);
    } else sorter.forEach(this.visitFramework);
    return !c.allocated;
  };

  /** Framework-sorter visitor: the eligibility checks, cheap ones first, then the allocation. */
  private readonly visitFramework = (frameworkId: string): boolean => {
    const c = this.cycle;
    const agent = c.agent!;
    const role = c.role;
    const base = c.base;
    for (let i = 0; i < c.givenFrameworks.length; i++) if (c.givenFrameworks[i] === frameworkId && c.givenRoles[i] === role) return true;
    const fw = this.host.frameworks.get(frameworkId)!;
    if (c.foreignRegion && fw.capabilities.regionAware !== true) return true;
    if (this.host.filterGpus && agent.hasGpus && fw.capabilities.gpuResources !== true) return true;
    let offer = base;
    if (agent.hasRevocable && fw.capabilities.revocableResources !== true) {
      offer = base.nonRevocable();
      if (offer.isEmpty()) return true;
    }
    const settings = fw.settings.get(role);
    const minimum = settings?.minAllocatable;
    const big = minimum !== undefined || offer !== base ? meetsMinimum(offer, minimum ?? this.host.minAllocatable) : c.baseMeetsMinimum;
    if (!big) return true;
    if (settings?.constraints !== undefined && !settings.constraints(agent.info)) return true;
    if (settings?.demand !== undefined && !fitsDemand(settings.demand, offer, agent.info)) return true;
    if (agent.hasFilters(frameworkId)) {
      const filtered = agent.isFiltered(frameworkId, role, offer, c.now, c.batch);
      if (!agent.hasFilters(frameworkId)) fw.filteredAgents.delete(agent);
      if (filtered) return true;
    }
    agent.available = offer === agent.available ? Resources.empty() : agent.available.minus(offer);
    this.host.account(agent, fw, role, offer, c.headroom);
    if (c.only !== undefined) {
      // The claimant has what was freed for it here: the agent goes round as usual again.
      agent.claim = undefined;
      c.only = undefined;
    }
    c.out!.push({ frameworkId, agentId: agent.id, role, resources: offer, unavailability: agent.info.unavailability });
    c.givenFrameworks.push(frameworkId);
    c.givenRoles.push(role);
    c.allocated = true;
    return false;
  };

  /**
   * What a gang of `fw` may use of `agent` in `role`: the fair stage's offerable resources, less
   * revocable ones, where the framework's checks pass (region, GPU agents, the role's offer
   * constraints). Decline filters and minimum offer sizes do not apply to gangs.
   */
  gangRoom(agent: AgentEntry, fw: FrameworkEntry, role: string, headroom: Headroom | undefined): Resources | undefined {
    if (this.host.region !== undefined && agent.region !== undefined && agent.region !== this.host.region && fw.capabilities.regionAware !== true) return undefined;
    if (this.host.filterGpus && agent.hasGpus && fw.capabilities.gpuResources !== true) return undefined;
    const constraints = fw.settings.get(role)?.constraints;
    if (constraints !== undefined && !constraints(agent.info)) return undefined;
    let r = this.offerable(agent, role, 'fair', headroom);
    if (r !== undefined && agent.hasRevocable) r = r.nonRevocable();
    return r === undefined || r.isEmpty() ? undefined : r;
  }

  /** What `agent` can offer `role` now: allocatable resources within quota limits and headroom. */
  private offerable(agent: AgentEntry, role: string, stage: Stage, headroom: Headroom | undefined): Resources | undefined {
    let r = agent.hasReservations ? agent.available.allocatableTo(role) : agent.available;
    if (r.isEmpty()) return undefined;
    const holdBack = headroom !== undefined && headroom.required.size > 0;
    if (this.host.quota.isLimited(role) || holdBack || stage === 'guarantees') {
      const cap = this.host.quota.isLimited(role) ? this.host.quota.limitHeadroom(role) : new Map<string, number>();
      if (holdBack) minInto(cap, headroom.allowance(role));
      if (stage === 'guarantees') minInto(cap, headroom!.gaps.get(role)!);
      const unreserved = r.unreserved();
      const shrunk = unreserved.shrinkScalars(cap);
      if (!shrunk.equals(unreserved)) r = r.reserved().plus(shrunk);
      if (r.isEmpty()) return undefined;
    }
    return r;
  }

  private computeHeadroom(): Headroom {
    const h = new Headroom();
    for (const [role, q] of this.host.quota.all()) {
      if ((q.guarantees?.size ?? 0) === 0) continue;
      const gap = this.host.quota.unsatisfiedGuarantee(role);
      if (gap.size === 0) continue;
      h.gaps.set(role, gap);
      accumulate(h.required, gap, 1);
    }
    for (const agent of this.host.agents) {
      if (!agent.active || agent.draining) continue;
      accumulate(h.available, unreservedQuantities(agent.available), 1);
    }
    return h;
  }
}

/** Whether the offer holds at least one of the alternatives (each a list of name, milli pairs). */
function meetsMinimum(offer: Resources, alternatives: MinimumAlternatives): boolean {
  const n = alternatives.length;
  if (n === 0) return true;
  for (let i = 0; i < n; i++) {
    const alternative = alternatives[i]!;
    let ok = true;
    for (let j = 0; j < alternative.length && ok; j++) ok = offer.scalar(alternative[j]![0]) >= alternative[j]![1];
    if (ok) return true;
  }
  return false;
}

/** `into[name] = min(into[name], other[name])` for every name of `other`. */
function minInto(into: Map<string, number>, other: Quantities): void {
  for (const [name, v] of other) {
    const prev = into.get(name);
    into.set(name, prev === undefined ? v : Math.min(prev, v));
  }
}

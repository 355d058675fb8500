import { seededRandom, shuffleInPlace } from '../common/random';
import { Resources } from '../common/resources';
import type { Allocator, ClaimView, PendingGang, RoleSummary } from './allocator';
import { DrfSorter } from './drf-sorter';
import { Headroom, QuotaTracker, unreservedQuantities } from './quota';
import { ResourcePool, type Sorter, type SorterFactory } from './sorter';
import { AllocationCycle } from './allocation-cycle';
import { GangPhase } from './gang-phase';
import { AgentEntry, compileMinimum, FrameworkEntry, refuseMillis, type MinimumAlternatives } from './state';
import { AllocatorError } from './errors';
import { GangBook } from './gang-book';
import { RoleMembership } from './role-membership';
import type {
  AgentDescription,
  Allocation,
  Filters,
  FrameworkDescription,
  HeldGang,
  Quantities,
  QuotaConfig,
  ResourceConversion,
  UsedResources,
} from './types';

export { AllocatorError };

/** Options of the hierarchical allocator; every field is optional. */
export interface HierarchicalAllocatorOptions {
  /** Orders roles. @default DRF (`(pool) => new DrfSorter(pool)`) */
  readonly roleSorter?: SorterFactory;
  /** Orders the frameworks within each role. @default DRF */
  readonly frameworkSorter?: SorterFactory;
  /**
   * An offer must contain at least one of these quantity sets (Mesos `--min_allocatable_resources`,
   * alternatives separated by `|`). Frameworks can override it per role.
   * @default [{cpus: 0.01}, {mem: 32}]
   */
  readonly minAllocatableResources?: readonly Quantities[];
  /** Resource names left out of fair shares (e.g. `gpus`). @default [] */
  readonly fairnessExcludedResourceNames?: readonly string[];
  /** Offer agents with GPUs only to frameworks with the GPU_RESOURCES capability. @default true */
  readonly filterGpuResources?: boolean;
  /** The master's region: agents elsewhere go only to REGION_AWARE frameworks. @default undefined (no filtering) */
  readonly region?: string;
  /** Randomness for agent order and the random sorter. @default a PRNG seeded with 1 */
  readonly random?: () => number;
  /** How long a gang is held for its framework before `expireGangs` takes it back (ms). @default 20000 */
  readonly gangHoldMs?: number;
}

export const DEFAULT_GANG_HOLD_MS = 20_000;

export const DEFAULT_MIN_ALLOCATABLE: readonly Quantities[] = [new Map([['cpus', 10]]), new Map([['mem', 32_000]])];

const drf: SorterFactory = (pool) => new DrfSorter(pool);

/**
 * Mesos's hierarchical allocator, with incremental DRF sorters and Berth's `demand`.
 *
 * This class keeps the books — agents, frameworks, allocations, filters, quota (sorter membership
 * is `RoleMembership`, role-membership.ts) — and answers the `Allocator` commands; one cycle, over agents in random order, is
 * `AllocationCycle` (allocation-cycle.ts), which reads these books and records what it gives.
 */
export class HierarchicalAllocator implements Allocator {
  private readonly pool: ResourcePool;
  private readonly random: () => number;
  /** Which frameworks are clients of (and active in) which roles: the sorters. */
  private readonly membership: RoleMembership;
  private readonly roleSorter: Sorter;
  private readonly frameworkSorters: Map<string, Sorter>;
  private readonly agents = new Map<string, AgentEntry>();
  private readonly agentList: AgentEntry[] = [];
  private readonly frameworks = new Map<string, FrameworkEntry>();
  private readonly quota = new QuotaTracker();
  private readonly weights = new Map<string, number>();
  private readonly minAllocatable: MinimumAlternatives;
  private readonly filterGpus: boolean;
  private readonly region: string | undefined;
  private readonly cycle: AllocationCycle;
  /** Allocation batches (cycles over all agents) so far; decline filters hold through their batch. */
  private batch = 0;
  private readonly gangPhase: GangPhase;
  private readonly gangs: GangBook;

  constructor(options: HierarchicalAllocatorOptions = {}) {
    this.pool = new ResourcePool(options.fairnessExcludedResourceNames);
    this.random = options.random ?? seededRandom(1);
    this.membership = new RoleMembership(this.pool, this.random, options.roleSorter ?? drf, options.frameworkSorter ?? drf);
    this.roleSorter = this.membership.roleSorter;
    this.frameworkSorters = this.membership.frameworkSorters;
    this.minAllocatable = compileMinimum(options.minAllocatableResources ?? DEFAULT_MIN_ALLOCATABLE);
    this.filterGpus = options.filterGpuResources ?? true;
    this.region = options.region;
    this.cycle = new AllocationCycle({
      roleSorter: this.roleSorter,
      frameworkSorters: this.frameworkSorters,
      frameworks: this.frameworks,
      agents: this.agentList,
      quota: this.quota,
      minAllocatable: this.minAllocatable,
      filterGpus: this.filterGpus,
      region: this.region,
      account: (agent, fw, role, r, headroom) => this.account(agent, fw, role, r, 1, headroom),
    });
    const gangHoldMs = options.gangHoldMs ?? DEFAULT_GANG_HOLD_MS;
    if (!(gangHoldMs > 0) || !Number.isFinite(gangHoldMs)) throw new RangeError(`gangHoldMs: must be a positive number of milliseconds, got ${options.gangHoldMs}`);
    this.gangs = new GangBook({
      frameworks: this.frameworks,
      framework: (id) => this.framework(id),
      agent: (id) => this.agent(id),
      release: (agent, fw, role, r) => this.release(agent, fw, role, r),
    }, gangHoldMs);
    this.gangPhase = new GangPhase({
      roleSorter: this.roleSorter,
      frameworkSorters: this.frameworkSorters,
      quota: this.quota,
      holdMs: gangHoldMs,
      room: (agent, fw, role, headroom) => this.cycle.gangRoom(agent, fw, role, headroom),
      give: (agent, fw, role, r, headroom) => {
        agent.available = agent.available.minus(r);
        this.account(agent, fw, role, r, 1, headroom);
      },
    });
    this.gangPhase.frameworks = this.frameworks;
  }

  // ---- frameworks ------------------------------------------------------------------------------

  addFramework(id: string, desc: FrameworkDescription, active = true): void {
    const fw = this.frameworks.get(id) ?? new FrameworkEntry(id);
    const oldRoles = fw.roles;
    this.describe(fw, desc);
    this.frameworks.set(id, fw);
    fw.active = active;
    this.membership.reconcile(fw, oldRoles);
  }

  updateFramework(id: string, desc: FrameworkDescription): void {
    const fw = this.framework(id);
    const oldRoles = fw.roles;
    this.describe(fw, desc);
    this.membership.reconcile(fw, oldRoles);
  }

  private describe(fw: FrameworkEntry, desc: FrameworkDescription): void {
    this.gangs.described(fw, fw.describe(desc));
  }

  removeFramework(id: string): void {
    const fw = this.frameworks.get(id);
    if (fw === undefined) return;
    for (const agent of [...fw.agents]) {
      for (const [role, held] of agent.allocationsOf(id)) this.release(agent, fw, role, held);
    }
    for (const agent of fw.filteredAgents) agent.clearFilters(id);
    fw.filteredAgents.clear();
    const roles = new Set([...fw.roles, ...this.membership.rolesWithClient(id)]);
    fw.roles = new Set();
    for (const role of roles) this.membership.untrack(fw, role);
    this.gangs.forget(fw);
    this.frameworks.delete(id);
  }

  activateFramework(id: string): void {
    this.membership.setFrameworkActive(this.framework(id), true);
  }

  deactivateFramework(id: string): void {
    this.membership.setFrameworkActive(this.framework(id), false);
  }

  suppressOffers(frameworkId: string, roles?: readonly string[]): void {
    const fw = this.framework(frameworkId);
    for (const role of roles ?? [...fw.roles]) {
      if (!fw.roles.has(role)) continue;
      fw.suppressed.add(role);
      this.membership.refreshActivation(fw, role);
    }
  }

  reviveOffers(frameworkId: string, roles?: readonly string[]): void {
    const fw = this.framework(frameworkId);
    const which = new Set(roles ?? fw.roles);
    for (const role of which) {
      if (!fw.suppressed.delete(role)) continue;
      this.membership.refreshActivation(fw, role);
    }
    for (const agent of [...fw.filteredAgents]) {
      agent.clearFilters(frameworkId, which);
      if (!agent.hasFilters(frameworkId)) fw.filteredAgents.delete(agent);
    }
  }

  // ---- agents ----------------------------------------------------------------------------------

  addAgent(id: string, info: AgentDescription, total: Resources, used?: ReadonlyMap<string, readonly UsedResources[]>): void {
    if (this.agents.has(id)) throw new AllocatorError(`agent ${id} is already added`);
    // Summed per framework and role first: an agent coming back with ten tasks of one framework is
    // one subtraction and one allocation to account, not ten of each.
    const groups: { frameworkId: string; byRole: Map<string, Resources> }[] = [];
    let usedTotal = Resources.empty();
    for (const [frameworkId, list] of used ?? []) {
      const byRole = new Map<string, Resources>();
      for (const u of list) if (!u.resources.isEmpty()) byRole.set(u.role, (byRole.get(u.role) ?? Resources.empty()).plus(u.resources));
      for (const r of byRole.values()) usedTotal = usedTotal.plus(r);
      groups.push({ frameworkId, byRole });
    }
    if (!total.contains(usedTotal)) {
      throw new AllocatorError(`agent ${id}: used resources ${usedTotal} exceed its total ${total}`);
    }
    const agent = new AgentEntry(id, info, total);
    this.agents.set(id, agent);
    this.agentList.push(agent);
    this.pool.add(total.quantities());
    this.quota.trackReserved(total, 1);
    for (const { frameworkId, byRole } of groups) {
      const fw = this.frameworks.get(frameworkId) ?? this.lazyFramework(frameworkId);
      for (const [role, r] of byRole) {
        agent.available = agent.available.minus(r);
        this.membership.track(fw, role);
        this.account(agent, fw, role, r, 1);
      }
    }
  }

  updateAgent(id: string, change: { info?: AgentDescription; total?: Resources }): void {
    const agent = this.agent(id);
    if (change.info !== undefined) agent.setInfo(change.info);
    if (change.total !== undefined && !change.total.equals(agent.total)) {
      const allocated = agent.total.minus(agent.available);
      if (!change.total.contains(allocated)) {
        throw new AllocatorError(`agent ${id}: new total ${change.total} does not contain what is allocated (${allocated})`);
      }
      this.pool.remove(agent.total.quantities());
      this.quota.trackReserved(agent.total, -1);
      agent.setTotal(change.total, change.total.minus(allocated));
      this.pool.add(change.total.quantities());
      this.quota.trackReserved(change.total, 1);
    }
  }

  removeAgent(id: string): void {
    const agent = this.agents.get(id);
    if (agent === undefined) return;
    this.gangs.agentRemoved(agent);
    for (const a of agent.allocations()) this.release(agent, this.frameworks.get(a.frameworkId)!, a.role, a.resources);
    for (const frameworkId of agent.filteringFrameworks()) this.frameworks.get(frameworkId)?.filteredAgents.delete(agent);
    this.pool.remove(agent.total.quantities());
    this.quota.trackReserved(agent.total, -1);
    this.agents.delete(id);
    const i = this.agentList.indexOf(agent);
    this.agentList[i] = this.agentList[this.agentList.length - 1]!;
    this.agentList.pop();
  }

  activateAgent(id: string): void {
    this.agent(id).active = true;
  }

  deactivateAgent(id: string): void {
    this.agent(id).active = false;
  }

  setAgentDraining(id: string, draining: boolean): void {
    this.agent(id).draining = draining;
  }

  // ---- allocations -----------------------------------------------------------------------------

  updateAllocation(frameworkId: string, agentId: string, role: string, conversions: readonly ResourceConversion[]): void {
    const agent = this.agent(agentId);
    const fw = this.framework(frameworkId);
    const held = agent.allocated(frameworkId, role);
    if (held === undefined) throw new AllocatorError(`framework ${frameworkId} holds nothing on agent ${agentId} in role "${role}"`);
    const { result: nextHeld, total } = this.convert(held, agent.total, conversions, `allocation of ${frameworkId} on ${agentId}`);
    this.account(agent, fw, role, held, -1);
    this.setTotal(agent, total, agent.available);
    this.account(agent, fw, role, nextHeld, 1);
  }

  updateAvailable(agentId: string, conversions: readonly ResourceConversion[]): void {
    const agent = this.agent(agentId);
    const { result, total } = this.convert(agent.available, agent.total, conversions, `available resources of ${agentId}`);
    this.setTotal(agent, total, result);
  }

  recoverResources(frameworkId: string, agentId: string, role: string, resources: Resources, filters: Filters | undefined, now: number): void {
    const agent = this.agents.get(agentId);
    const fw = this.frameworks.get(frameworkId);
    // The agent or framework went away and took its allocations along: nothing left to recover.
    if (agent === undefined || fw === undefined || resources.isEmpty()) return;
    const held = agent.allocated(frameworkId, role);
    if (held === undefined || !held.contains(resources)) {
      throw new AllocatorError(`cannot recover ${resources} of ${frameworkId} on ${agentId} in role "${role}": it holds ${held ?? 'nothing'}`);
    }
    this.release(agent, fw, role, resources);
    this.gangs.freed(agent);
    if (filters !== undefined) {
      agent.addFilter(frameworkId, role, resources, now + refuseMillis(filters.refuseSeconds), this.batch);
      fw.filteredAgents.add(agent);
    }
  }

  updateWeights(weights: ReadonlyMap<string, number>): void {
    for (const [role, w] of weights) {
      if (!(w > 0) || !Number.isFinite(w)) throw new RangeError(`weights.${role}: must be a positive number, got ${w}`);
    }
    for (const [role, w] of weights) {
      this.weights.set(role, w);
      this.roleSorter.updateWeight(role, w);
    }
  }

  updateQuota(role: string, quota: QuotaConfig | undefined): void {
    for (const [name, g] of quota?.guarantees ?? []) {
      const limit = quota?.limits?.get(name);
      if (!(g >= 0)) throw new RangeError(`quota.${role}.guarantees.${name}: must be non-negative`);
      if (limit !== undefined && g > limit) throw new RangeError(`quota.${role}.guarantees.${name}: guarantee exceeds limit`);
    }
    for (const [name, l] of quota?.limits ?? []) {
      if (!(l >= 0)) throw new RangeError(`quota.${role}.limits.${name}: must be non-negative`);
    }
    this.quota.set(role, quota);
    this.quota.rebuildAllocated(this.allAllocations());
  }

  private *allAllocations(): Iterable<{ role: string; resources: Resources }> {
    for (const agent of this.agentList) {
      yield* agent.allocations();
    }
  }

  allocate(now: number, agentIds?: Iterable<string>): Allocation[] {
    const agents: AgentEntry[] = [];
    if (agentIds === undefined) {
      agents.push(...this.agentList);
      this.batch++;
    } else for (const id of agentIds) {
      const a = this.agents.get(id);
      if (a !== undefined) agents.push(a);
    }
    shuffleInPlace(agents, this.random);
    // Gangs are tried in every batch, in any cycle after a gang became placeable, and in prompt
    // cycles at most every GANG_RETRY_MS (gang-book.ts) — before the ordinary stages, so resources freed by
    // declines reach a waiting gang before they go round the other frameworks again. Always over
    // every agent: a gang needs the whole cluster's view, not just the agents that freed something.
    const gangs = this.gangs.runNow(now, agentIds === undefined) ? { phase: this.gangPhase, agents: agentIds === undefined ? agents : this.agentList } : undefined;
    return this.cycle.run(agents, now, this.batch, gangs);
  }

  // ---- gangs -----------------------------------------------------------------------------------

  acceptGang(frameworkId: string, gangId: string): HeldGang {
    return this.gangs.accept(frameworkId, gangId);
  }

  releaseGang(frameworkId: string, gangId: string, now: number, retryAfterMs: number): boolean {
    return this.gangs.release(frameworkId, gangId, now, retryAfterMs);
  }

  expireGangs(now: number): HeldGang[] {
    return this.gangs.expire(now);
  }

  heldGangs(): HeldGang[] {
    return this.gangs.held();
  }

  pendingGangs(now: number): PendingGang[] {
    return this.gangs.pending(now);
  }

  claims(now: number): ClaimView[] {
    return this.gangs.claims(now);
  }

  claimForGang(frameworkId: string, gangId: string, agentIds: readonly string[], expiresAt: number): void {
    this.gangs.claimForGang(frameworkId, gangId, agentIds, expiresAt);
  }

  claimForDemand(frameworkId: string, role: string, agentIds: readonly string[], expiresAt: number): void {
    this.gangs.claimForDemand(frameworkId, role, agentIds, expiresAt);
  }

  // ---- introspection ---------------------------------------------------------------------------

  roles(): RoleSummary[] {
    const names = new Set<string>([...this.frameworkSorters.keys(), ...this.quota.all().keys(), ...this.weights.keys()]);
    return [...names].sort().map((role) => {
      const sorter = this.frameworkSorters.get(role);
      const frameworks: string[] = [];
      if (sorter !== undefined) for (const fw of this.frameworks.values()) if (sorter.contains(fw.id)) frameworks.push(fw.id);
      return {
        role,
        weight: this.weights.get(role) ?? 1,
        share: this.roleSorter.share(role),
        allocated: this.roleSorter.allocation(role),
        frameworks,
        quota: this.quota.get(role),
        consumed: this.quota.consumed(role),
      };
    });
  }

  available(agentId: string): Resources | undefined {
    return this.agents.get(agentId)?.available;
  }

  allocation(frameworkId: string, agentId: string): ReadonlyMap<string, Resources> | undefined {
    const agent = this.agents.get(agentId);
    return agent === undefined || !agent.holds(frameworkId) ? undefined : agent.allocationsOf(frameworkId);
  }

  // ---- bookkeeping -----------------------------------------------------------------------------

  /** Adds (sign 1) or removes (sign −1) an allocation in every ledger except `agent.available`. */
  private account(agent: AgentEntry, fw: FrameworkEntry, role: string, r: Resources, sign: 1 | -1, headroom?: Headroom): void {
    // Whole offers come back whole (declines), so the same Resources object is counted twice in a
    // row: a one-entry cache per agent saves rebuilding its vector.
    let q = agent.vectorOf === r ? agent.vector : undefined;
    if (q === undefined) {
      q = this.pool.vectorOf(r);
      agent.vectorOf = r;
      agent.vector = q;
    }
    const sorter = this.frameworkSorters.get(role)!;
    if (sign === 1) {
      agent.addAllocation(fw.id, role, r);
      fw.agents.add(agent);
      this.roleSorter.allocated(role, q);
      sorter.allocated(fw.id, q);
      if (headroom !== undefined) headroom.took(role, unreservedQuantities(r));
    } else {
      agent.removeAllocation(fw.id, role, r);
      if (!agent.holds(fw.id)) fw.agents.delete(agent);
      this.roleSorter.unallocated(role, q);
      sorter.unallocated(fw.id, q);
    }
    this.quota.trackAllocated(role, r, sign);
  }

  /** Returns allocated resources to the agent's available pool. */
  private release(agent: AgentEntry, fw: FrameworkEntry, role: string, r: Resources): void {
    this.account(agent, fw, role, r, -1);
    agent.available = agent.available.plus(r);
    if (!fw.roles.has(role)) this.membership.untrack(fw, role);
  }

  private setTotal(agent: AgentEntry, total: Resources, available: Resources): void {
    this.pool.remove(agent.total.quantities());
    this.quota.trackReserved(agent.total, -1);
    agent.setTotal(total, available);
    this.pool.add(total.quantities());
    this.quota.trackReserved(total, 1);
  }

  private convert(target: Resources, total: Resources, conversions: readonly ResourceConversion[], what: string): { result: Resources; total: Resources } {
    let result = target;
    let nextTotal = total;
    for (const [i, c] of conversions.entries()) {
      if (!result.contains(c.consumed)) throw new AllocatorError(`conversion ${i}: ${what} does not contain ${c.consumed}`);
      result = result.minus(c.consumed).plus(c.converted);
      nextTotal = nextTotal.minus(c.consumed).plus(c.converted);
    }
    return { result, total: nextTotal };
  }

  private lazyFramework(id: string): FrameworkEntry {
    const fw = new FrameworkEntry(id);
    this.frameworks.set(id, fw);
    return fw;
  }

  private framework(id: string): FrameworkEntry {
    const fw = this.frameworks.get(id);
    if (fw === undefined) throw new AllocatorError(`unknown framework ${id}`);
    return fw;
  }

  private agent(id: string): AgentEntry {
    const agent = this.agents.get(id);
    if (agent === undefined) throw new AllocatorError(`unknown agent ${id}`);
    return agent;
  }
}

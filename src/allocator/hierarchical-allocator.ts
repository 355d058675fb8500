import { BerthError } from '../common/errors';
import { seededRandom, shuffleInPlace } from '../common/random';
import { Resources } from '../common/resources';
import type { Allocator, ClaimView, PendingGang, RoleSummary } from './allocator';
import { DrfSorter } from './drf-sorter';
import { Headroom, QuotaTracker, unreservedQuantities } from './quota';
import { ResourcePool, type Sorter, type SorterFactory } from './sorter';
import { AllocationCycle } from './allocation-cycle';
import { GangPhase } from './gang-phase';
import { AgentEntry, compileMinimum, dropClaim, FrameworkEntry, refuseMillis, type Claim, type ClaimHolder, type GangState, type MinimumAlternatives } from './state';
import { giveClaim, liveClaim, liveClaims } from './claims';
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

/** A caller broke the allocator's bookkeeping contract (unknown id, recovering what was not allocated). */
export class AllocatorError extends BerthError {
  constructor(message: string) {
    super('ALLOCATOR_INVARIANT', message);
  }
}

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
/** Prompt cycles try pending gangs at most this often (a gang attempt looks at every agent). */
const GANG_RETRY_MS = 100;

export const DEFAULT_MIN_ALLOCATABLE: readonly Quantities[] = [new Map([['cpus', 10]]), new Map([['mem', 32_000]])];

const drf: SorterFactory = (pool) => new DrfSorter(pool);

/**
 * Mesos's hierarchical allocator, with incremental DRF sorters and Berth's `demand`.
 *
 * This class keeps the books — agents, frameworks, allocations, filters, quota, sorter membership
 * — and answers the `Allocator` commands; one cycle, over agents in random order, is
 * `AllocationCycle` (allocation-cycle.ts), which reads these books and records what it gives.
 */
export class HierarchicalAllocator implements Allocator {
  private readonly pool: ResourcePool;
  private readonly random: () => number;
  private readonly roleSorter: Sorter;
  private readonly frameworkSorters = new Map<string, Sorter>();
  private readonly makeFrameworkSorter: SorterFactory;
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
  private readonly gangHoldMs: number;
  /** Frameworks that declare or hold gangs: with none, cycles skip the gang phase entirely. */
  private readonly gangFrameworks = new Set<FrameworkEntry>();
  /** A gang became placeable (declared, or released): the next cycle, even a prompt one, tries gangs. */
  private gangsDirty = false;
  /** When the gang phase last ran (prompt cycles retry pending gangs at most every GANG_RETRY_MS). */
  private lastGangPhase = Number.NEGATIVE_INFINITY;

  constructor(options: HierarchicalAllocatorOptions = {}) {
    this.pool = new ResourcePool(options.fairnessExcludedResourceNames);
    this.random = options.random ?? seededRandom(1);
    this.roleSorter = (options.roleSorter ?? drf)(this.pool, this.random);
    this.makeFrameworkSorter = options.frameworkSorter ?? drf;
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
    this.gangHoldMs = options.gangHoldMs ?? DEFAULT_GANG_HOLD_MS;
    if (!(this.gangHoldMs > 0) || !Number.isFinite(this.gangHoldMs)) throw new RangeError(`gangHoldMs: must be a positive number of milliseconds, got ${options.gangHoldMs}`);
    this.gangPhase = new GangPhase({
      roleSorter: this.roleSorter,
      frameworkSorters: this.frameworkSorters,
      quota: this.quota,
      holdMs: this.gangHoldMs,
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
    this.reconcileRoles(fw, oldRoles);
  }

  updateFramework(id: string, desc: FrameworkDescription): void {
    const fw = this.framework(id);
    const oldRoles = fw.roles;
    this.describe(fw, desc);
    this.reconcileRoles(fw, oldRoles);
  }

  private describe(fw: FrameworkEntry, desc: FrameworkDescription): void {
    if (fw.describe(desc)) this.gangsDirty = true;
    if (fw.gangs.size > 0) this.gangFrameworks.add(fw);
    else this.gangFrameworks.delete(fw);
  }

  removeFramework(id: string): void {
    const fw = this.frameworks.get(id);
    if (fw === undefined) return;
    for (const agent of [...fw.agents]) {
      for (const [role, held] of agent.allocationsOf(id)) this.release(agent, fw, role, held);
    }
    for (const agent of fw.filteredAgents) agent.clearFilters(id);
    fw.filteredAgents.clear();
    const roles = new Set([...fw.roles, ...this.rolesWithClient(id)]);
    fw.roles = new Set();
    for (const role of roles) this.untrack(fw, role);
    for (const holder of [...fw.gangs.values(), ...fw.demandClaims.values()]) dropClaim(holder);
    this.frameworks.delete(id);
    this.gangFrameworks.delete(fw);
  }

  activateFramework(id: string): void {
    this.setFrameworkActive(this.framework(id), true);
  }

  deactivateFramework(id: string): void {
    this.setFrameworkActive(this.framework(id), false);
  }

  suppressOffers(frameworkId: string, roles?: readonly string[]): void {
    const fw = this.framework(frameworkId);
    for (const role of roles ?? [...fw.roles]) {
      if (!fw.roles.has(role)) continue;
      fw.suppressed.add(role);
      this.refreshActivation(fw, role);
    }
  }

  reviveOffers(frameworkId: string, roles?: readonly string[]): void {
    const fw = this.framework(frameworkId);
    const which = new Set(roles ?? fw.roles);
    for (const role of which) {
      if (!fw.suppressed.delete(role)) continue;
      this.refreshActivation(fw, role);
    }
    for (const agent of [...fw.filteredAgents]) {
      agent.clearFilters(frameworkId, which);
      if (!agent.hasFilters(frameworkId)) fw.filteredAgents.delete(agent);
    }
  }

  // ---- agents ----------------------------------------------------------------------------------

  addAgent(id: string, info: AgentDescription, total: Resources, used?: ReadonlyMap<string, readonly UsedResources[]>): void {
    if (this.agents.has(id)) throw new AllocatorError(`agent ${id} is already added`);
    let usedTotal = Resources.empty();
    for (const list of used?.values() ?? []) for (const u of list) usedTotal = usedTotal.plus(u.resources);
    if (!total.contains(usedTotal)) {
      throw new AllocatorError(`agent ${id}: used resources ${usedTotal} exceed its total ${total}`);
    }
    const agent = new AgentEntry(id, info, total);
    this.agents.set(id, agent);
    this.agentList.push(agent);
    this.pool.add(total.quantities());
    this.quota.trackReserved(total, 1);
    for (const [frameworkId, list] of used ?? []) {
      const fw = this.frameworks.get(frameworkId) ?? this.lazyFramework(frameworkId);
      for (const u of list) {
        if (u.resources.isEmpty()) continue;
        agent.available = agent.available.minus(u.resources);
        this.track(fw, u.role);
        this.account(agent, fw, u.role, u.resources, 1);
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
    // A gang with a part here goes back whole: no partial gang is ever held.
    for (const fw of this.gangFrameworks) {
      for (const [gangId, state] of fw.gangs) if (state.hold?.parts.some((p) => p.agent === agent)) this.releaseHold(fw, gangId, state, 0);
    }
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
    if (agent.claim !== undefined) this.gangsDirty = true; // freed for a waiting gang: try it in the next cycle
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
    // cycles at most every GANG_RETRY_MS — before the ordinary stages, so resources freed by
    // declines reach a waiting gang before they go round the other frameworks again. Always over
    // every agent: a gang needs the whole cluster's view, not just the agents that freed something.
    let gangs: { phase: GangPhase; agents: readonly AgentEntry[] } | undefined;
    if (this.gangFrameworks.size > 0 && (agentIds === undefined || this.gangsDirty || now - this.lastGangPhase >= GANG_RETRY_MS)) {
      gangs = { phase: this.gangPhase, agents: agentIds === undefined ? agents : this.agentList };
      this.gangsDirty = false;
      this.lastGangPhase = now;
    }
    return this.cycle.run(agents, now, this.batch, gangs);
  }

  // ---- gangs -----------------------------------------------------------------------------------

  acceptGang(frameworkId: string, gangId: string): HeldGang {
    const fw = this.framework(frameworkId);
    const state = fw.gangs.get(gangId);
    if (state?.hold === undefined) throw new AllocatorError(`framework ${frameworkId} holds no gang "${gangId}"`);
    const held = describeHold(fw.id, gangId, state);
    state.hold = undefined;
    if (state.spec === undefined) fw.gangs.delete(gangId);
    else state.accepted = true;
    return held;
  }

  releaseGang(frameworkId: string, gangId: string, now: number, retryAfterMs: number): boolean {
    const fw = this.frameworks.get(frameworkId);
    const state = fw?.gangs.get(gangId);
    if (fw === undefined || state?.hold === undefined) return false;
    this.releaseHold(fw, gangId, state, now + Math.max(0, retryAfterMs));
    return true;
  }

  expireGangs(now: number): HeldGang[] {
    const out: HeldGang[] = [];
    for (const fw of this.gangFrameworks) {
      for (const [gangId, state] of fw.gangs) {
        if (state.hold === undefined || state.hold.expiresAt > now) continue;
        out.push(describeHold(fw.id, gangId, state));
        // Not placed again for one hold time: a framework that never answers must not hoard.
        this.releaseHold(fw, gangId, state, now + this.gangHoldMs);
      }
    }
    return out;
  }

  heldGangs(): HeldGang[] {
    const out: HeldGang[] = [];
    for (const fw of this.gangFrameworks) for (const [gangId, state] of fw.gangs) if (state.hold !== undefined) out.push(describeHold(fw.id, gangId, state));
    return out;
  }

  pendingGangs(now: number): PendingGang[] {
    const out: PendingGang[] = [];
    for (const fw of this.gangFrameworks) {
      for (const [gangId, state] of fw.gangs) {
        if (state.spec === undefined || state.hold !== undefined || state.accepted || now < state.notBefore) continue;
        const until = liveClaim(state.claim, now)?.expiresAt;
        out.push({ frameworkId: fw.id, gangId, gang: state.spec, ...(until === undefined ? {} : { claimedUntil: until }) });
      }
    }
    return out;
  }

  claims(now: number): ClaimView[] {
    return liveClaims(this.frameworks.values(), now);
  }

  claimForGang(frameworkId: string, gangId: string, agentIds: readonly string[], expiresAt: number): void {
    const state = this.frameworks.get(frameworkId)?.gangs.get(gangId);
    if (state?.spec === undefined || state.hold !== undefined || state.accepted) throw new AllocatorError(`framework ${frameworkId} has no pending gang "${gangId}" to claim agents for`);
    this.claim(state, { frameworkId, role: state.spec.role, gangId, agents: agentIds.map((id) => this.agent(id)), expiresAt });
  }

  claimForDemand(frameworkId: string, role: string, agentIds: readonly string[], expiresAt: number): void {
    const fw = this.framework(frameworkId);
    if (!fw.roles.has(role)) throw new AllocatorError(`framework ${frameworkId} is not subscribed to role "${role}"`);
    let holder = fw.demandClaims.get(role);
    if (holder === undefined) fw.demandClaims.set(role, (holder = { claim: undefined }));
    this.claim(holder, { frameworkId, role, agents: agentIds.map((id) => this.agent(id)), expiresAt });
  }

  private claim(holder: ClaimHolder, claim: Claim): void {
    giveClaim(holder, claim, this.frameworks);
    this.gangsDirty = true;
  }

  /** Returns every part of a held gang to its agent; the gang may be placed again from `notBefore`. */
  private releaseHold(fw: FrameworkEntry, gangId: string, state: GangState, notBefore: number): void {
    const hold = state.hold!;
    state.hold = undefined;
    for (const p of hold.parts) this.release(p.agent, fw, hold.role, p.resources);
    if (state.spec === undefined) fw.gangs.delete(gangId);
    else state.notBefore = notBefore;
    if (fw.gangs.size === 0) this.gangFrameworks.delete(fw);
    this.gangsDirty = true;
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
    if (!fw.roles.has(role)) this.untrack(fw, role);
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

  // ---- roles and sorter membership -------------------------------------------------------------

  /** Makes `fw` a client of `role` (creating the role's sorter) and sets its activity. */
  private track(fw: FrameworkEntry, role: string): void {
    let sorter = this.frameworkSorters.get(role);
    if (sorter === undefined) {
      sorter = this.makeFrameworkSorter(this.pool, this.random);
      this.frameworkSorters.set(role, sorter);
      this.roleSorter.add(role);
    }
    sorter.add(fw.id);
    this.refreshActivation(fw, role);
  }

  /** Drops `fw` from `role` unless it is subscribed or still holds something there. */
  private untrack(fw: FrameworkEntry, role: string): void {
    const sorter = this.frameworkSorters.get(role);
    if (sorter === undefined || !sorter.contains(fw.id)) return;
    if (fw.roles.has(role) || this.holdsAnything(fw, role)) {
      this.refreshActivation(fw, role);
      return;
    }
    sorter.remove(fw.id);
    if (sorter.count() === 0) {
      this.frameworkSorters.delete(role);
      this.roleSorter.remove(role);
    } else {
      this.refreshRole(role);
    }
  }

  private holdsAnything(fw: FrameworkEntry, role: string): boolean {
    for (const agent of fw.agents) if (agent.allocated(fw.id, role) !== undefined) return true;
    return false;
  }

  private reconcileRoles(fw: FrameworkEntry, oldRoles: ReadonlySet<string>): void {
    for (const role of fw.roles) this.track(fw, role);
    for (const role of oldRoles) if (!fw.roles.has(role)) this.untrack(fw, role);
  }

  private setFrameworkActive(fw: FrameworkEntry, active: boolean): void {
    fw.active = active;
    for (const role of this.rolesWithClient(fw.id)) this.refreshActivation(fw, role);
  }

  /** Active in a role: connected, subscribed, not suppressed, and not declaring zero demand. */
  private refreshActivation(fw: FrameworkEntry, role: string): void {
    const sorter = this.frameworkSorters.get(role);
    if (sorter === undefined) return;
    const demand = fw.settings.get(role)?.demand;
    const active = fw.active && fw.roles.has(role) && !fw.suppressed.has(role) && (demand === undefined || demand.length > 0 || fw.gangRoles.has(role));
    if (active) sorter.activate(fw.id);
    else sorter.deactivate(fw.id);
    this.refreshRole(role);
  }

  private refreshRole(role: string): void {
    if (this.frameworkSorters.get(role)!.hasActive()) this.roleSorter.activate(role);
    else this.roleSorter.deactivate(role);
  }

  private rolesWithClient(frameworkId: string): string[] {
    const out: string[] = [];
    for (const [role, sorter] of this.frameworkSorters) if (sorter.contains(frameworkId)) out.push(role);
    return out;
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

function describeHold(frameworkId: string, gangId: string, state: GangState): HeldGang {
  const hold = state.hold!;
  return { frameworkId, gangId, role: hold.role, expiresAt: hold.expiresAt, parts: hold.parts.map((p) => ({ agentId: p.agent.id, resources: p.resources, tasks: p.tasks })) };
}

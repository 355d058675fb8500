import { Resources } from '../common/resources';
import { compileConstraints, type AgentPredicate } from './constraints';
import type { QuantityVector } from './sorter';
import { compileGang, type CompiledGang } from './gangs';
import type { AgentDescription, FrameworkCapabilities, FrameworkDescription, Quantities, TaskShape } from './types';

/** Seconds in 365 days: the longest decline filter, as Mesos caps `refuse_seconds`. */
export const MAX_REFUSE_SECONDS = 365 * 24 * 3600;
/** `refuse_seconds` when a framework declines without saying. */
export const DEFAULT_REFUSE_SECONDS = 5;

/**
 * "Do not offer me these resources of this agent in this role again before `expiresAt`", and in
 * any case not before the next allocation batch (a cycle over all agents) after `batch`: resources
 * declined with `refuse_seconds` 0 come back at the next batch, not in the prompt cycle that the
 * decline itself triggers (which is how one framework was offered the same leftovers ~760 times a
 * second). Mesos gets the same by allocating declined resources only in its batches.
 * Filters of one framework on one agent form a short chain: at 50,000 agents × 20 rounds of
 * declines there are a million of them, and a chain costs one small object each where an array
 * per (agent, framework) cost several times more heap.
 */
export interface OfferFilter {
  readonly role: string;
  readonly refused: Resources;
  readonly expiresAt: number;
  /** The allocation batch during which the filter was made; it holds through that batch. */
  readonly batch: number;
  next: OfferFilter | undefined;
}

/** Converts `refuse_seconds` to a filter duration in ms (0: until the next allocation batch). */
export function refuseMillis(refuseSeconds: number | undefined): number {
  let s = refuseSeconds;
  if (s === undefined || Number.isNaN(s) || s < 0) s = DEFAULT_REFUSE_SECONDS;
  return Math.round(Math.min(s, MAX_REFUSE_SECONDS) * 1000);
}

export class AgentEntry {
  /** Resources not allocated (offered or used) to anyone. */
  available: Resources;
  /**
   * Allocations by framework: a short chain of (role, resources) slots per framework. Most
   * frameworks hold one role on an agent, and a plain object per pair is much cheaper to create
   * and drop every cycle than a nested Map.
   */
  private readonly slots = new Map<string, RoleSlot>();
  /** Decline filters by framework (see `OfferFilter`). */
  private readonly filters = new Map<string, OfferFilter>();
  active = true;
  draining = false;
  hasReservations = false;
  hasRevocable = false;
  hasGpus = false;
  region: string | undefined;
  /** Resources freed here for a waiting gang or demand (preemption): see `Claim`. */
  claim: Claim | undefined = undefined;
  /** The last Resources counted on this agent and its quantity vector (see `account`). */
  vectorOf: Resources | undefined;
  vector: QuantityVector | undefined;

  constructor(
    readonly id: string,
    public info: AgentDescription,
    public total: Resources,
  ) {
    this.available = total;
    this.setTotal(total, total);
    this.setInfo(info);
  }

  /** The claim that holds here at `now` (an expired one is dropped on the way). */
  claimAt(now: number): Claim | undefined {
    const c = this.claim;
    if (c === undefined || c.expiresAt > now) return c;
    this.claim = undefined;
    return undefined;
  }

  setInfo(info: AgentDescription): void {
    this.info = info;
    this.region = info.domain?.region;
  }

  setTotal(total: Resources, available: Resources): void {
    this.total = total;
    this.available = available;
    this.hasReservations = total.entries.some((e) => e.reservations.length > 0);
    this.hasRevocable = total.entries.some((e) => e.revocable === true);
    this.hasGpus = total.scalar('gpus') > 0;
  }

  addFilter(frameworkId: string, role: string, refused: Resources, expiresAt: number, batch: number): void {
    this.filters.set(frameworkId, { role, refused, expiresAt, batch, next: this.filters.get(frameworkId) });
  }

  hasFilters(frameworkId: string): boolean {
    return this.filters.has(frameworkId);
  }

  /** Frameworks with filters here. */
  filteringFrameworks(): IterableIterator<string> {
    return this.filters.keys();
  }

  /**
   * Whether an unexpired filter of the framework covers `offer` in `role`: the offer is a subset
   * of what was declined. Expired filters are dropped on the way (a filter holds while
   * `now < expiresAt` or while `batch` is still the batch it was made in).
   */
  isFiltered(frameworkId: string, role: string, offer: Resources, now: number, batch: number): boolean {
    let filtered = false;
    let prev: OfferFilter | undefined;
    for (let f = this.filters.get(frameworkId); f !== undefined; f = f.next) {
      if (f.expiresAt <= now && f.batch < batch) {
        if (prev === undefined) this.setChain(frameworkId, f.next);
        else prev.next = f.next;
        continue;
      }
      if (!filtered && f.role === role && f.refused.contains(offer)) filtered = true;
      prev = f;
    }
    return filtered;
  }

  /** Drops the framework's filters in `roles` (all roles when omitted), as REVIVE does. */
  clearFilters(frameworkId: string, roles?: ReadonlySet<string>): void {
    let prev: OfferFilter | undefined;
    for (let f = this.filters.get(frameworkId); f !== undefined; f = f.next) {
      if (roles !== undefined && !roles.has(f.role)) {
        prev = f;
        continue;
      }
      if (prev === undefined) this.setChain(frameworkId, f.next);
      else prev.next = f.next;
    }
  }

  private setChain(frameworkId: string, head: OfferFilter | undefined): void {
    if (head === undefined) this.filters.delete(frameworkId);
    else this.filters.set(frameworkId, head);
  }

  allocated(frameworkId: string, role: string): Resources | undefined {
    for (let slot = this.slots.get(frameworkId); slot !== undefined; slot = slot.next) if (slot.role === role) return slot.resources;
    return undefined;
  }

  holds(frameworkId: string): boolean {
    return this.slots.has(frameworkId);
  }

  /** What a framework holds here, by role (a fresh map). */
  allocationsOf(frameworkId: string): Map<string, Resources> {
    const out = new Map<string, Resources>();
    for (let slot = this.slots.get(frameworkId); slot !== undefined; slot = slot.next) out.set(slot.role, slot.resources);
    return out;
  }

  /** Every (framework, role, resources) held here. */
  *allocations(): Iterable<{ frameworkId: string; role: string; resources: Resources }> {
    for (const [frameworkId, first] of [...this.slots]) {
      for (let slot: RoleSlot | undefined = first; slot !== undefined; slot = slot.next) yield { frameworkId, role: slot.role, resources: slot.resources };
    }
  }

  addAllocation(frameworkId: string, role: string, r: Resources): void {
    const first = this.slots.get(frameworkId);
    for (let slot = first; slot !== undefined; slot = slot.next) {
      if (slot.role === role) {
        slot.resources = slot.resources.plus(r);
        return;
      }
    }
    this.slots.set(frameworkId, { role, resources: r, next: first });
  }

  /** Removes `r` from an allocation; the caller checked containment. */
  removeAllocation(frameworkId: string, role: string, r: Resources): void {
    let prev: RoleSlot | undefined;
    for (let slot = this.slots.get(frameworkId); slot !== undefined; prev = slot, slot = slot.next) {
      if (slot.role !== role) continue;
      slot.resources = slot.resources.minus(r);
      if (slot.resources.isEmpty()) {
        if (prev !== undefined) prev.next = slot.next;
        else if (slot.next !== undefined) this.slots.set(frameworkId, slot.next);
        else this.slots.delete(frameworkId);
      }
      return;
    }
  }
}

interface RoleSlot {
  readonly role: string;
  resources: Resources;
  next: RoleSlot | undefined;
}

/** Minimum-offer alternatives as (name, milli) pairs: iterating arrays beats iterating maps per offer. */
export type MinimumAlternatives = readonly (readonly (readonly [string, number])[])[];

export function compileMinimum(alternatives: readonly Quantities[]): MinimumAlternatives {
  return alternatives.map((q) => [...q].filter(([, v]) => v > 0));
}

/** Per-role settings of a framework, compiled once. */
export interface FrameworkRoleSettings {
  readonly constraints?: AgentPredicate;
  readonly minAllocatable?: MinimumAlternatives;
  /** Undefined: no declaration (classic offers). Empty: offer nothing. */
  readonly demand?: readonly CompiledShape[];
}

export interface CompiledShape {
  readonly quantities: Quantities;
  readonly ports: number;
  readonly constraints?: AgentPredicate;
}

/**
 * One gang of a framework: declared in its demand (`spec`), held (`hold`: placed whole and given
 * to the framework until accepted, released or expired), or accepted (placed once; not placed
 * again while it stays in the demand). A held gang whose declaration went away keeps its hold
 * (spec undefined) until the master releases it.
 */
export interface GangState {
  spec: CompiledGang | undefined;
  hold: GangHold | undefined;
  accepted: boolean;
  /** Not placed before this time (a decline's refuse_seconds, or one hold time after expiry). */
  notBefore: number;
  /** Agents kept for this gang while it waits (preemption). */
  claim: Claim | undefined;
}

/**
 * Agents whose resources are kept for one waiting gang (`gangId`) or for a framework's plain demand
 * in `role` until the gang is placed, the framework is given the agent, or `expiresAt`: the master's
 * preemption frees them for it, and nobody else is offered them meanwhile (the gang phase tries
 * claimed gangs first; a demand claim lets only its framework, in its role, be offered the agent).
 */
export interface Claim {
  readonly frameworkId: string;
  readonly role: string;
  readonly gangId?: string;
  readonly agents: readonly AgentEntry[];
  readonly expiresAt: number;
}

/** Something that holds a claim: a gang's state, or a framework's demand in one role. */
export interface ClaimHolder {
  claim: Claim | undefined;
}

/** Ends a holder's claim on every agent that still carries it. */
export function dropClaim(holder: ClaimHolder): void {
  const claim = holder.claim;
  if (claim === undefined) return;
  holder.claim = undefined;
  for (const agent of claim.agents) if (agent.claim === claim) agent.claim = undefined;
}

export interface GangHold {
  readonly role: string;
  readonly expiresAt: number;
  readonly parts: readonly { readonly agent: AgentEntry; readonly resources: Resources; readonly tasks: number }[];
}

export class FrameworkEntry {
  roles = new Set<string>();
  /** Gangs by id, across roles (see `GangState`). */
  readonly gangs = new Map<string, GangState>();
  /** Roles in which gangs are declared. */
  gangRoles: ReadonlySet<string> = new Set();
  suppressed = new Set<string>();
  capabilities: FrameworkCapabilities = {};
  settings = new Map<string, FrameworkRoleSettings>();
  active = false;
  /** Agents where this framework holds decline filters (to clear them on revive). */
  readonly filteredAgents = new Set<AgentEntry>();
  /** Agents where this framework holds allocations. */
  readonly agents = new Set<AgentEntry>();
  /** Claims for its plain demand, by role (preemption). */
  readonly demandClaims = new Map<string, ClaimHolder>();

  constructor(readonly id: string) {}

  /**
   * Applies a description; throws a RangeError naming a bad constraint or gang (changing nothing).
   * Returns whether a gang id new to this framework was declared.
   */
  describe(desc: FrameworkDescription): boolean {
    const specs = new Map<string, CompiledGang>();
    for (const role of desc.roles) {
      (desc.gangs?.[role] ?? []).forEach((g, i) => {
        if (specs.has(g.id)) throw new RangeError(`gangs.${role}[${i}].id: duplicate gang id "${g.id}" (also in role "${specs.get(g.id)!.role}")`);
        specs.set(g.id, compileGang(g, role, `gangs.${role}[${i}]`));
      });
    }
    const settings = new Map<string, FrameworkRoleSettings>();
    for (const role of desc.roles) {
      const demand = desc.demand?.[role];
      settings.set(role, {
        constraints: compileConstraints(desc.offerConstraints?.[role], `offer_constraints.${role}`),
        minAllocatable: desc.minAllocatableResources?.[role] === undefined ? undefined : compileMinimum(desc.minAllocatableResources[role]),
        demand: demand === undefined ? undefined : demand.map((s, i) => compileShape(s, `demand.${role}[${i}]`)),
      });
    }
    this.roles = new Set(desc.roles);
    this.suppressed = new Set((desc.suppressedRoles ?? []).filter((r) => this.roles.has(r)));
    this.capabilities = desc.capabilities ?? {};
    this.settings = settings;
    return this.declareGangs(specs);
  }

  private declareGangs(specs: ReadonlyMap<string, CompiledGang>): boolean {
    for (const [id, state] of this.gangs) {
      state.spec = specs.get(id);
      if (state.spec === undefined) dropClaim(state);
      if (state.spec === undefined && state.hold === undefined) this.gangs.delete(id);
    }
    let fresh = false;
    for (const [id, spec] of specs) {
      if (this.gangs.has(id)) continue;
      this.gangs.set(id, { spec, hold: undefined, accepted: false, notBefore: 0, claim: undefined });
      fresh = true;
    }
    this.gangRoles = new Set([...specs.values()].map((g) => g.role));
    return fresh;
  }
}

function compileShape(s: TaskShape, where: string): CompiledShape {
  return { quantities: s.quantities, ports: s.ports ?? 0, constraints: compileConstraints(s.constraints, `${where}.constraints`) };
}

/** Whether `offer` on `agent` can hold at least one of the shapes. */
export function fitsDemand(shapes: readonly CompiledShape[], offer: Resources, agent: AgentDescription): boolean {
  for (const s of shapes) {
    if (!offer.containsQuantities(s.quantities)) continue;
    if (s.ports > 0 && offer.rangeCount('ports') < s.ports) continue;
    if (s.constraints !== undefined && !s.constraints(agent)) continue;
    return true;
  }
  return false;
}

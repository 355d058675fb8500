import type { CompiledGang } from './gangs';
import type { Resources } from '../common/resources';
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

/**
 * The allocator: decides which framework is offered which agent's resources, in which role.
 *
 * A list of commands, as Mesos's allocator interface, issued by the master (one caller, one
 * thread): it reports every change of agents, frameworks and allocations, and asks for
 * `allocate(now)` when it wants offers. The allocator never does I/O, never reads a clock and
 * never sets a timer — time comes in as `now` (epoch ms) — so it is tested with plain calls.
 *
 * Resources handed out by `allocate` stay allocated to the framework until the master gives
 * them back with `recoverResources` (declined, unused part of an accept, finished task,
 * rescinded offer). Errors: unknown ids and impossible bookkeeping throw `AllocatorError`
 * (a bug in the caller); invalid descriptions throw `RangeError` naming the field.
 */
export interface Allocator {
  /** Adds (or re-describes) a framework. Inactive frameworks are tracked but not offered. */
  addFramework(id: string, desc: FrameworkDescription, active?: boolean): void;
  /** Changes roles, capabilities, suppressed roles, constraints, demand (UPDATE_FRAMEWORK). */
  updateFramework(id: string, desc: FrameworkDescription): void;
  /** Removes a framework; all it held returns to the agents. Unknown ids are ignored. */
  removeFramework(id: string): void;
  /** A disconnected framework is deactivated and keeps its allocations; both are idempotent. */
  activateFramework(id: string): void;
  deactivateFramework(id: string): void;

  /**
   * Adds an agent with its total resources and what frameworks already use on it (tasks it
   * still runs after a master failover). Frameworks not yet added are tracked lazily.
   */
  addAgent(id: string, info: AgentDescription, total: Resources, used?: ReadonlyMap<string, readonly UsedResources[]>): void;
  /** Changes an agent's attributes/domain/unavailability and/or total resources. */
  updateAgent(id: string, change: { info?: AgentDescription; total?: Resources }): void;
  /** Removes an agent and every allocation on it. Unknown ids are ignored. */
  removeAgent(id: string): void;
  /** Deactivated (or draining) agents are not offered; allocations on them stay. */
  activateAgent(id: string): void;
  deactivateAgent(id: string): void;
  setAgentDraining(id: string, draining: boolean): void;

  /** Applies RESERVE/UNRESERVE/CREATE/DESTROY to resources allocated to a framework. */
  updateAllocation(frameworkId: string, agentId: string, role: string, conversions: readonly ResourceConversion[]): void;
  /** Applies operator RESERVE/UNRESERVE/CREATE/DESTROY to an agent's unallocated resources. */
  updateAvailable(agentId: string, conversions: readonly ResourceConversion[]): void;
  /**
   * Returns resources to the agent. With `filters` (a DECLINE, or the unused part of an ACCEPT),
   * the framework is not offered them again in that role for `refuse_seconds`, and in any case not
   * before the next allocation batch (`refuse_seconds` 0 means exactly that): other frameworks may
   * be offered them in a prompt cycle at once. Without `filters` (a rescind) they are free at once.
   */
  recoverResources(frameworkId: string, agentId: string, role: string, resources: Resources, filters: Filters | undefined, now: number): void;

  /** SUPPRESS: no offers for these roles (all roles when omitted) until revived. */
  suppressOffers(frameworkId: string, roles?: readonly string[]): void;
  /** REVIVE: undoes SUPPRESS and clears the framework's decline filters for these roles. */
  reviveOffers(frameworkId: string, roles?: readonly string[]): void;

  /** Sets role weights (missing roles keep theirs; weight 1 is the default). */
  updateWeights(weights: ReadonlyMap<string, number>): void;
  /** Sets (or with `undefined`, removes) a role's quota. */
  updateQuota(role: string, quota: QuotaConfig | undefined): void;

  /**
   * One allocation cycle over all agents — an allocation *batch*, which ends the decline filters
   * of the batch before it that have no time left — or over `agentIds` (a prompt cycle after an
   * event freed resources, within the current batch). Each result is one agent × one role × one
   * framework, as an offer.
   */
  allocate(now: number, agentIds?: Iterable<string>): Allocation[];

  // ---- gangs (FrameworkDescription.gangs; Allocation.gang) ----------------------------------------
  //
  // `allocate` gives a declared gang whole — one allocation per agent it uses, all in one result,
  // all with `gang` set — or nothing; it is then *held*: its resources stay allocated to the
  // framework (counting in its share and quota) until one of the calls below ends the hold. A held
  // gang is never partial: `removeAgent` on an agent with a part releases the whole gang.

  /**
   * ACCEPT_GANG: ends the hold; the parts stay allocated as ordinary allocations (recover the
   * unused part with `recoverResources`). The gang is not placed again while it stays declared.
   * Throws AllocatorError when the framework holds no such gang.
   */
  acceptGang(frameworkId: string, gangId: string): HeldGang;
  /**
   * DECLINE_GANG or a rescind: every part returns to its agent at once, and the gang may be
   * placed again from `now + retryAfterMs`. Returns false when no such gang was held.
   */
  releaseGang(frameworkId: string, gangId: string, now: number, retryAfterMs: number): boolean;
  /**
   * Releases every gang whose hold ended (`expiresAt <= now`) and returns them; an expired gang
   * is not placed again for one hold time. The caller calls it from a timer at the earliest
   * `expiresAt` (and before each cycle), so no gang is held past its bound.
   */
  expireGangs(now: number): HeldGang[];
  /** Every gang held now. */
  heldGangs(): HeldGang[];

  // ---- preemption (optional: an allocator without these gets no preemption) ----------------------

  /** Gangs declared and due that are neither held nor accepted: what the master may preempt for. */
  pendingGangs?(now: number): PendingGang[];
  /**
   * Keeps `agentIds` for a pending gang until `expiresAt` (ms): the room they have or get back —
   * as the master's preemption stops tasks there — is offered to no one else, and the gang is
   * tried first. Ends when the gang is placed, undeclared, or at `expiresAt`. Throws
   * AllocatorError for a gang that is not pending.
   */
  claimForGang?(frameworkId: string, gangId: string, agentIds: readonly string[], expiresAt: number): void;
  /**
   * Keeps `agentIds` for a framework's plain demand in `role` until `expiresAt`: while it holds,
   * only that framework, in that role, is offered those agents; a claim ends on an agent once the
   * framework is given it. Throws AllocatorError when the framework is not subscribed to the role.
   */
  claimForDemand?(frameworkId: string, role: string, agentIds: readonly string[], expiresAt: number): void;
  /** Every claim that still holds some agent. */
  claims?(now: number): ClaimView[];

  /** Per-role view for operators: weight, share, allocation, quota and consumption. */
  roles(): RoleSummary[];
  /** What is unallocated on an agent, or undefined for an unknown agent. */
  available(agentId: string): Resources | undefined;
  /** What a framework holds on an agent, by role. */
  allocation(frameworkId: string, agentId: string): ReadonlyMap<string, Resources> | undefined;
}

/** A gang waiting to be placed (`pendingGangs`). */
export interface PendingGang {
  readonly frameworkId: string;
  readonly gangId: string;
  readonly gang: CompiledGang;
  /** Until when its claim holds, when it has one. */
  readonly claimedUntil?: number;
}

/** A claim (`claims`): for a gang (`gangId`) or for a framework's plain demand in `role`. */
export interface ClaimView {
  readonly frameworkId: string;
  readonly role: string;
  readonly gangId?: string;
  /** The agents it still holds. */
  readonly agentIds: readonly string[];
  readonly expiresAt: number;
}

export interface RoleSummary {
  readonly role: string;
  readonly weight: number;
  /** Weighted dominant share among roles. */
  readonly share: number;
  readonly allocated: Quantities;
  readonly frameworks: readonly string[];
  readonly quota?: QuotaConfig;
  readonly consumed: Quantities;
}

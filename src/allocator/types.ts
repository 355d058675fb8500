import type { Milli } from '../common/scalar';
import type { Attribute } from '../common/attributes';
import type { Resources } from '../common/resources';

/**
 * The allocator's own view of agents and frameworks: plain data, independent of the wire types,
 * so the allocator can be driven by the master, by tests and by benchmarks alike.
 */

/** Scalar quantities by resource name (thousandths). */
export type Quantities = ReadonlyMap<string, Milli>;

export type { Attribute } from '../common/attributes';

/** A maintenance window announced for an agent; offers from it carry the window. */
export interface Unavailability {
  /** Epoch milliseconds when the agent becomes unavailable. */
  readonly startMs: number;
  /** How long it stays unavailable; absent means indefinitely. */
  readonly durationMs?: number;
}

/** What the allocator needs to know about an agent besides its resources. */
export interface AgentDescription {
  readonly hostname: string;
  readonly attributes?: readonly Attribute[];
  /** Fault domain. Agents outside the allocator's region are offered only to REGION_AWARE frameworks. */
  readonly domain?: { readonly region?: string; readonly zone?: string };
  readonly unavailability?: Unavailability;
}

/** What an offer constraint predicate looks at. */
export type ConstraintSelector = { readonly attribute: string } | { readonly pseudo: 'HOSTNAME' | 'REGION' | 'ZONE' };

/** One predicate on an agent, true or false. `TEXT_*` compare the selected value as text. */
export type ConstraintPredicate =
  | { readonly selector: ConstraintSelector; readonly op: 'EXISTS' | 'NOT_EXISTS' }
  | { readonly selector: ConstraintSelector; readonly op: 'TEXT_EQUALS' | 'TEXT_NOT_EQUALS'; readonly value: string }
  | { readonly selector: ConstraintSelector; readonly op: 'TEXT_MATCHES' | 'TEXT_NOT_MATCHES'; readonly regex: string };

/**
 * Offer constraints for one role, in disjunctive normal form: an agent qualifies when every
 * predicate of at least one group holds. No groups means no constraint.
 */
export interface RoleOfferConstraints {
  readonly groups: readonly { readonly predicates: readonly ConstraintPredicate[] }[];
}

/** A pending task the framework wants to place: the shape of what one offer must fit. */
export interface TaskShape {
  /** Scalar quantities one task needs (`cpus`, `mem`, `disk`, `gpus`, custom). */
  readonly quantities: Quantities;
  /** How many ports (values of the `ports` range resource) one task needs. @default 0 */
  readonly ports?: number;
  /** Agent predicates the task needs, as for offer constraints. */
  readonly constraints?: RoleOfferConstraints;
  /** How many such tasks are pending (informational; one fit is enough to be offered). @default 1 */
  readonly count?: number;
}

/** How a gang's tasks may be spread over agents. */
export type GangSpread =
  | { readonly kind: 'ANY' }
  | { readonly kind: 'ONE_PER_AGENT' }
  | { readonly kind: 'SAME_ZONE' }
  | { readonly kind: 'MAX_PER_AGENT'; readonly maxPerAgent: number };

/**
 * A gang: `count` tasks of each shape, offered whole (one allocation per agent it uses, all
 * carrying the gang's id) or not at all. Shapes' `count` is required here (at least 1).
 */
export interface GangSpec {
  /** Chosen by the framework; unique among its gangs (all roles). */
  readonly id: string;
  readonly shapes: readonly TaskShape[];
  /** @default { kind: 'ANY' } */
  readonly spread?: GangSpread;
  /** Higher first: pending gangs are placed in priority order (then role and framework order). @default 0 */
  readonly priority?: number;
  /** The name of the gang's priority class, for reports. */
  readonly priorityClass?: string;
}

export interface FrameworkCapabilities {
  /** Offered agents that have GPUs (when the allocator filters GPU agents). */
  readonly gpuResources?: boolean;
  /** Offered agents outside the allocator's region. */
  readonly regionAware?: boolean;
  /** Offered revocable resources. */
  readonly revocableResources?: boolean;
}

/** What the allocator needs to know about a framework. */
export interface FrameworkDescription {
  /** Roles the framework is subscribed to; each offer belongs to one of them. */
  readonly roles: readonly string[];
  readonly capabilities?: FrameworkCapabilities;
  /** Roles for which it wants no offers (as after SUPPRESS). */
  readonly suppressedRoles?: readonly string[];
  /** Per role: only agents satisfying these are offered. */
  readonly offerConstraints?: Readonly<Record<string, RoleOfferConstraints>>;
  /** Per role: an offer must contain at least one of these quantity sets (overrides the global setting). */
  readonly minAllocatableResources?: Readonly<Record<string, readonly Quantities[]>>;
  /**
   * Per role: pending task shapes. A role with a declared list is offered only agents that fit
   * at least one shape, and nothing at all when the list is empty; a role without a declaration
   * gets classic offers.
   */
  readonly demand?: Readonly<Record<string, readonly TaskShape[]>>;
  /**
   * Per role: gangs waiting to be placed (see `GangSpec`). A role with gangs is active even when
   * its `demand` list is empty (it then gets gang allocations only).
   */
  readonly gangs?: Readonly<Record<string, readonly GangSpec[]>>;
}

/** Quota of one role, on scalar resources only. */
export interface QuotaConfig {
  /** Resources the role is guaranteed: served first, and held back from others as headroom. */
  readonly guarantees?: Quantities;
  /** The most the role (with its sub-roles) may consume: reservations plus unreserved allocations. */
  readonly limits?: Quantities;
}

/** `refuse_seconds` semantics of Mesos's Filters. */
export interface Filters {
  /** Seconds during which the same (or a subset of the) declined resources are not re-offered.
   * @default 5 (negative also means 5; capped at 365 days; 0 sets no filter) */
  readonly refuseSeconds?: number;
}

/** One decision of `allocate`: offer `resources` of `agentId`, in `role`, to `frameworkId`. */
export interface Allocation {
  readonly frameworkId: string;
  readonly agentId: string;
  readonly role: string;
  readonly resources: Resources;
  readonly unavailability?: Unavailability;
  /** Set when the allocation is one part of a gang; every part of the gang is in the same result. */
  readonly gang?: GangAllocation;
}

/** What a gang allocation says about its gang. */
export interface GangAllocation {
  readonly id: string;
  /** Tasks of the gang placed on this part's agent. */
  readonly tasksHere: number;
  /** Tasks of the whole gang. */
  readonly tasks: number;
  /** Epoch ms at which the hold ends (`expireGangs`). */
  readonly expiresAt: number;
}

/** A gang held for a framework, as `heldGangs` and `expireGangs` report it. */
export interface HeldGang {
  readonly frameworkId: string;
  readonly gangId: string;
  readonly role: string;
  readonly expiresAt: number;
  readonly parts: readonly { readonly agentId: string; readonly resources: Resources; readonly tasks: number }[];
}

/** Resources used on an agent by a framework in a role (tasks that survived a failover). */
export interface UsedResources {
  readonly role: string;
  readonly resources: Resources;
}

/** A transformation of allocated or available resources (RESERVE, UNRESERVE, CREATE, DESTROY). */
export interface ResourceConversion {
  readonly consumed: Resources;
  readonly converted: Resources;
}

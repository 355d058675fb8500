/** The allocator: pure, synchronous offer decisions (DESIGN §5). Nothing here does I/O. */
export type { Allocator, ClaimView, PendingGang, RoleSummary } from './allocator';
export { HierarchicalAllocator, AllocatorError, DEFAULT_MIN_ALLOCATABLE, DEFAULT_GANG_HOLD_MS, type HierarchicalAllocatorOptions } from './hierarchical-allocator';
export { MAX_GANG_TASKS } from './gangs';
export { planPreemption, type PreemptionAgent, type PreemptionCandidate, type PreemptionInput, type PreemptionPlan } from './preemption';
export { DrfSorter } from './drf-sorter';
export { RandomSorter } from './random-sorter';
export { ResourcePool, type Sorter, type SorterFactory, type QuantityMap } from './sorter';
export { compileConstraints, attributeText, type AgentPredicate } from './constraints';
export { MAX_REFUSE_SECONDS, DEFAULT_REFUSE_SECONDS } from './state';
export type * from './types';

/**
 * Quota arithmetic over a set of queues: what a queue may hold at most (its nominal quota plus what
 * it may borrow from the rest of its cohort), and what a cohort holds in all.
 */
import { add, amountOf, RESOURCE_NAMES, type Amounts, type ResourceName } from './quantities';
import type { QueueSpec } from './queue-spec';

/** The queues of `queue`'s cohort other than itself (none without a cohort). */
export function siblingsOf(queue: QueueSpec, queues: readonly QueueSpec[]): QueueSpec[] {
  return queue.cohort === undefined ? [] : queues.filter((q) => q.cohort === queue.cohort && q.name !== queue.name);
}

/** The sum of the nominal quotas of `queue`'s cohort (its own alone without a cohort). */
export function cohortCapacity(queue: QueueSpec, queues: readonly QueueSpec[]): Amounts {
  return siblingsOf(queue, queues).reduce<Amounts>((sum, q) => add(sum, q.nominalQuota), queue.nominalQuota);
}

/** The most `queue` may borrow of resource `r`: its borrowing limit, or all its siblings lend. */
export function borrowable(queue: QueueSpec, queues: readonly QueueSpec[], r: ResourceName): number {
  const lendable = siblingsOf(queue, queues).reduce((sum, q) => sum + amountOf(q.nominalQuota, r), 0);
  const limit = queue.borrowingLimit?.[r];
  return limit === undefined ? lendable : Math.min(limit, lendable);
}

/** The most `queue` may ever hold: nominal quota plus {@link borrowable}, every resource. */
export function queueCeiling(queue: QueueSpec, queues: readonly QueueSpec[]): Amounts {
  const out: Partial<Record<ResourceName, number>> = {};
  for (const r of RESOURCE_NAMES) out[r] = amountOf(queue.nominalQuota, r) + borrowable(queue, queues, r);
  return out;
}

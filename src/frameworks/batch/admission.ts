/**
 * Admission: which pending batch jobs get quota now, which admitted ones must give theirs back, and
 * why every other job waits. Pure and synchronous — no clock, no I/O: the framework calls
 * {@link decide} after every change (a submit, a job ending, a queue applied) and acts on the answer.
 *
 * The rules (docs/batch.md says why):
 * - A job is a workload with one `demand` (its whole gang). It is admitted when, with it, its queue
 *   holds no more than its nominal quota plus what it may borrow (its borrowing limit, or all its
 *   cohort's other queues' nominal quota), and its cohort holds no more than the sum of its queues'
 *   nominal quotas. A queue without a cohort holds at most its nominal quota.
 * - Within a queue: higher `priority` first, then submission order; strict FIFO — a head that does
 *   not fit blocks its queue (a big gang is never starved by small jobs behind it).
 * - Across the queues of a cohort: the queue with the lowest weighted dominant share goes first —
 *   `max over resources (usage / cohort's nominal sum) / weight` — re-evaluated after each admission,
 *   so equal weights converge to equal shares of what is contended.
 * - Reclaim: a head that fits its queue's own nominal quota but not the cohort (its siblings borrow
 *   what it lent) takes the quota back from jobs of queues that borrow, youngest admission first,
 *   skipping a queue once it no longer borrows — and only when that frees enough; otherwise nobody is
 *   evicted and the head waits.
 */
import { borrowable, cohortCapacity, siblingsOf } from './cohorts';
import { add, amountOf, exceeding, fitsWithin, formatUse, RESOURCE_NAMES, subtract, type Amounts, type ResourceName } from './quantities';
import type { QueueSpec } from './queue-spec';

/** A job as admission sees it. */
export interface Workload {
  readonly id: string;
  readonly queue: string;
  /** What the whole gang needs. */
  readonly demand: Amounts;
  /** Higher first within its queue. */
  readonly priority: number;
  /** Submission order (smaller: older). */
  readonly seq: number;
  /** For an admitted workload: admission order (larger: younger; evicted first). */
  readonly admittedSeq?: number;
}

/** An admitted workload to evict so that `by` can be admitted. */
export interface Eviction {
  readonly id: string;
  /** The job admitted in its place. */
  readonly by: string;
  readonly reason: string;
}

/** What {@link decide} answers. */
export interface Decision {
  /** Pending workloads to admit now, in admission order. */
  readonly admit: readonly string[];
  /** Admitted workloads to evict (kill their tasks, requeue them), youngest first. */
  readonly evict: readonly Eviction[];
  /** Every pending workload left waiting, with why. */
  readonly waiting: ReadonlyMap<string, string>;
}

/** What a queue holds now. */
export interface QueueUsage {
  /** The sum of its admitted workloads' demand. */
  readonly used: Amounts;
  /** `used` above the nominal quota, every resource (0 where it does not borrow). */
  readonly borrowed: Amounts;
}

/** What each queue holds, given the admitted workloads. */
export function queueUsage(queues: readonly QueueSpec[], admitted: readonly Workload[]): Map<string, QueueUsage> {
  const used = new Map<string, Amounts>(queues.map((q) => [q.name, {}]));
  for (const w of admitted) used.set(w.queue, add(used.get(w.queue) ?? {}, w.demand));
  const out = new Map<string, QueueUsage>();
  for (const q of queues) {
    const u = used.get(q.name) ?? {};
    out.set(q.name, { used: u, borrowed: above(u, q.nominalQuota) });
  }
  return out;
}

/** The weighted dominant share of a queue holding `used`: max over resources of used / cohort capacity, over its weight. */
export function dominantShare(queue: QueueSpec, queues: readonly QueueSpec[], used: Amounts): number {
  const capacity = cohortCapacity(queue, queues);
  let share = 0;
  for (const r of RESOURCE_NAMES) {
    const cap = amountOf(capacity, r);
    if (cap > 0) share = Math.max(share, amountOf(used, r) / cap);
  }
  return share / queue.weight;
}

function above(a: Amounts, b: Amounts): Amounts {
  const out: Partial<Record<ResourceName, number>> = {};
  for (const r of RESOURCE_NAMES) if (amountOf(a, r) > amountOf(b, r)) out[r] = amountOf(a, r) - amountOf(b, r);
  return out;
}

const inQueueOrder = (a: Workload, b: Workload): number => b.priority - a.priority || a.seq - b.seq;

/** Mutable bookkeeping of one {@link decide} call. */
class Ledger {
  readonly used = new Map<string, Amounts>();
  readonly admitted: Workload[];

  constructor(
    readonly queues: readonly QueueSpec[],
    admitted: readonly Workload[],
  ) {
    this.admitted = [...admitted];
    for (const q of queues) this.used.set(q.name, {});
    for (const w of admitted) this.used.set(w.queue, add(this.used.get(w.queue) ?? {}, w.demand));
  }

  cohortOf(q: QueueSpec): QueueSpec[] {
    return q.cohort === undefined ? [q] : this.queues.filter((s) => s.cohort === q.cohort);
  }

  cohortUsed(q: QueueSpec): Amounts {
    return this.cohortOf(q).reduce<Amounts>((sum, s) => add(sum, this.used.get(s.name) ?? {}), {});
  }

  /** The most `q` may hold: nominal plus borrowable, every resource. */
  ceiling(q: QueueSpec): Amounts {
    const out: Partial<Record<ResourceName, number>> = {};
    for (const r of RESOURCE_NAMES) out[r] = amountOf(q.nominalQuota, r) + borrowable(q, this.queues, r);
    return out;
  }

  fits(q: QueueSpec, demand: Amounts): boolean {
    return fitsWithin(add(this.used.get(q.name)!, demand), this.ceiling(q)) && fitsWithin(add(this.cohortUsed(q), demand), cohortCapacity(q, this.queues));
  }

  take(q: QueueSpec, w: Workload): void {
    this.used.set(q.name, add(this.used.get(q.name)!, w.demand));
  }

  release(w: Workload): void {
    this.used.set(w.queue, subtract(this.used.get(w.queue) ?? {}, w.demand));
    this.admitted.splice(this.admitted.indexOf(w), 1);
  }

  /** Youngest-first borrowers' workloads whose eviction lets `demand` into `q`'s cohort; undefined when they cannot free enough. */
  reclaimFor(q: QueueSpec, demand: Amounts): Workload[] | undefined {
    if (q.cohort === undefined || !fitsWithin(add(this.used.get(q.name)!, demand), q.nominalQuota)) return undefined;
    const byName = new Map(this.queues.map((s) => [s.name, s]));
    const candidates = this.admitted.filter((w) => w.queue !== q.name && byName.get(w.queue)?.cohort === q.cohort).sort((a, b) => (b.admittedSeq ?? 0) - (a.admittedSeq ?? 0));
    const capacity = cohortCapacity(q, this.queues);
    const freed = new Map<string, Amounts>();
    const victims: Workload[] = [];
    let cohortUsed = this.cohortUsed(q);
    for (const w of candidates) {
      if (fitsWithin(add(cohortUsed, demand), capacity)) break;
      const owner = byName.get(w.queue)!;
      const still = subtract(this.used.get(w.queue)!, freed.get(w.queue) ?? {});
      // Only quota lent out comes back: a queue within its nominal quota keeps its jobs.
      if (fitsWithin(still, owner.nominalQuota)) continue;
      victims.push(w);
      freed.set(w.queue, add(freed.get(w.queue) ?? {}, w.demand));
      cohortUsed = subtract(cohortUsed, w.demand);
    }
    return fitsWithin(add(cohortUsed, demand), capacity) ? victims : undefined;
  }

  /** Why `w` does not fit `q` now. */
  reason(q: QueueSpec, w: Workload): string {
    const used = this.used.get(q.name)!;
    const need = add(used, w.demand);
    const overNominal = exceeding(need, q.nominalQuota);
    const parts: string[] = [];
    if (overNominal.length > 0) parts.push(`queue ${q.name} at quota (${formatUse(used, q.nominalQuota, overNominal)}; the job needs ${overNominal.map((r) => `${r} ${round(amountOf(w.demand, r))}`).join(', ')})`);
    if (q.cohort === undefined) {
      if (overNominal.length > 0) parts.push('and it has no cohort to borrow from');
      return parts.join(' ');
    }
    // Its own borrowing limit binds only where it is below what the siblings could lend.
    const limited = exceeding(need, this.ceiling(q)).filter((r) => q.borrowingLimit?.[r] !== undefined && borrowable(q, this.queues, r) < lendable(q, this.queues, r));
    if (limited.length > 0) {
      parts.push(`its borrowing limit is reached (${limited.map((r) => `${r} ${round(Math.max(0, amountOf(used, r) - amountOf(q.nominalQuota, r)))} borrowed of ${round(borrowable(q, this.queues, r))}`).join(', ')})`);
      return parts.join(', ');
    }
    const capacity = cohortCapacity(q, this.queues);
    const cohortUsed = this.cohortUsed(q);
    const overCohort = exceeding(add(cohortUsed, w.demand), capacity);
    if (overCohort.length > 0) {
      const free = subtract(capacity, cohortUsed);
      const nothing = overCohort.every((r) => amountOf(free, r) <= 0);
      const cohortText = nothing ? `cohort ${q.cohort} has nothing to lend (${formatUse(cohortUsed, capacity, overCohort)} in use)` : `cohort ${q.cohort} can lend only ${overCohort.map((r) => `${r} ${round(amountOf(free, r))}`).join(', ')} (${formatUse(cohortUsed, capacity, overCohort)} in use)`;
      // Within its nominal quota, reclaim frees enough unless borrowers' evictions are still under way.
      parts.push(overNominal.length === 0 ? `${cohortText}; quota lent to other queues is being taken back` : cohortText);
    }
    return parts.join(', ');
  }
}

const round = (v: number): number => Math.round(v * 1000) / 1000;

/** What `q`'s cohort siblings could lend of `r` at most (their nominal quotas). */
function lendable(q: QueueSpec, queues: readonly QueueSpec[], r: ResourceName): number {
  return siblingsOf(q, queues).reduce((sum, s) => sum + amountOf(s.nominalQuota, r), 0);
}

/**
 * Decides one admission round.
 *
 * @param queues every queue
 * @param pending workloads waiting for quota (any order)
 * @param admitted workloads holding quota now
 */
export function decide(queues: readonly QueueSpec[], pending: readonly Workload[], admitted: readonly Workload[]): Decision {
  const ledger = new Ledger(queues, admitted);
  const byName = new Map(queues.map((q) => [q.name, q]));
  const lines = new Map<string, Workload[]>();
  const waiting = new Map<string, string>();
  for (const w of pending) {
    if (!byName.has(w.queue)) {
      waiting.set(w.id, `queue ${w.queue} does not exist (apply it with berth queue apply)`);
      continue;
    }
    let line = lines.get(w.queue);
    if (line === undefined) lines.set(w.queue, (line = []));
    line.push(w);
  }
  for (const line of lines.values()) line.sort(inQueueOrder);
  const admit: string[] = [];
  const evict: Eviction[] = [];
  const open = new Set(lines.keys());
  while (open.size > 0) {
    // The open queue with the lowest weighted dominant share; ties: the older head first.
    let best: { q: QueueSpec; head: Workload; share: number } | undefined;
    for (const name of open) {
      const q = byName.get(name)!;
      const head = lines.get(name)![0]!;
      const share = dominantShare(q, queues, ledger.used.get(name)!);
      if (best === undefined || share < best.share - 1e-12 || (Math.abs(share - best.share) <= 1e-12 && head.seq < best.head.seq)) best = { q, head, share };
    }
    const { q, head } = best!;
    const line = lines.get(q.name)!;
    if (ledger.fits(q, head.demand)) {
      ledger.take(q, head);
      admit.push(head.id);
    } else {
      const victims = ledger.reclaimFor(q, head.demand);
      if (victims === undefined) {
        waiting.set(head.id, ledger.reason(q, head));
        for (const w of line.slice(1)) waiting.set(w.id, `waiting behind job ${head.id}, first in queue ${q.name}`);
        open.delete(q.name);
        continue;
      }
      for (const v of victims) {
        ledger.release(v);
        evict.push({ id: v.id, by: head.id, reason: `reclaimed: queue ${q.name} needs its nominal quota back for job ${head.id} (queue ${v.queue} was borrowing)` });
      }
      ledger.take(q, head);
      admit.push(head.id);
    }
    line.shift();
    if (line.length === 0) open.delete(q.name);
  }
  return { admit, evict, waiting };
}

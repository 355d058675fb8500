/**
 * What the batch API shows: a queue with its usage (used, borrowed, pending and admitted jobs,
 * weighted dominant share) and a job with why it waits.
 */
import { dominantShare, queueUsage } from './admission';
import { gangDemand } from './job-spec';
import { workloadOf } from './lifecycle';
import { HOLDS_QUOTA, type BatchJobRecord } from './model';
import { formatAmounts, type Amounts } from './quantities';
import type { QueueSpec } from './queue-spec';

export interface QueueView {
  readonly spec: QueueSpec;
  readonly used: Amounts;
  readonly borrowed: Amounts;
  readonly pendingJobs: number;
  readonly admittedJobs: number;
  readonly dominantShare: number;
}

export interface JobView {
  readonly record: BatchJobRecord;
  /** Why it waits (PENDING, ADMITTED); empty otherwise. */
  readonly reason: string;
  readonly demand: Amounts;
  readonly deadlineAt?: number;
}

/** Every queue's view, by name. */
export function queueViews(queues: readonly QueueSpec[], jobs: readonly BatchJobRecord[]): QueueView[] {
  const admitted = jobs.filter((j) => HOLDS_QUOTA.has(j.state)).map(workloadOf);
  const usage = queueUsage(queues, admitted);
  return [...queues].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((q) => {
    const u = usage.get(q.name)!;
    return {
      spec: q,
      used: u.used,
      borrowed: u.borrowed,
      pendingJobs: jobs.filter((j) => j.spec.queue === q.name && j.state === 'PENDING').length,
      admittedJobs: jobs.filter((j) => j.spec.queue === q.name && HOLDS_QUOTA.has(j.state)).length,
      dominantShare: dominantShare(q, queues, u.used),
    };
  });
}

/** A job's view; `waiting` is why a PENDING job waits (from the last admission round). */
export function jobView(job: BatchJobRecord, waiting: string | undefined): JobView {
  const demand = gangDemand(job.spec);
  const reason = job.state === 'PENDING' ? (waiting ?? 'waiting for the next admission round')
    : job.state === 'ADMITTED' ? `admitted; waiting for the master to place the whole gang (${job.spec.tasks} tasks, ${formatAmounts(demand)} in all)` : '';
  return { record: structuredClone(job), reason, demand, ...(job.spec.deadlineSeconds !== undefined ? { deadlineAt: job.submittedAt + job.spec.deadlineSeconds * 1000 } : {}) };
}

/**
 * Steps of a batch job's life that only touch its record: starting an attempt (a new gang id),
 * ending one (which of its tasks must be killed), and the gang demand of every admitted job whose
 * current attempt waits for its gang offer (oldest admission first).
 */
import type { Workload } from './admission';
import { gangDemand as demandOfSpec } from './job-spec';
import type { FrameworkInfo } from '../../generated/berth/v1/FrameworkInfo';
import { gangDemand } from '../sdk/gangs';
import { TERMINAL_STATES } from '../sdk/task-reconciler';
import { currentAttempt, type AttemptOutcome, type BatchJobRecord, type TaskRecord } from './model';
import { batchTaskShape } from './task-builder';

/** Adds attempt n+1 with gang id `<job>.<n+1>`; its tasks come with the gang offer. */
export function startAttempt(job: BatchJobRecord): void {
  const n = job.attempts.length + 1;
  job.attempts.push({ attempt: n, gangId: `${job.id}.${n}`, tasks: [] });
}

/** Ends the current attempt, if any; returns its tasks that may still run (to kill). */
export function endAttempt(job: BatchJobRecord, outcome: AttemptOutcome, message: string, now: number): TaskRecord[] {
  const a = currentAttempt(job);
  if (a === undefined) return [];
  a.outcome = outcome;
  a.message = message;
  a.endedAt = now;
  return a.tasks.filter((t) => t.state === undefined || !TERMINAL_STATES.has(t.state));
}

/** The demand to declare: one gang per admitted job whose current attempt is not launched. */
export function gangDemandOf(jobs: Iterable<BatchJobRecord>, role: string): NonNullable<FrameworkInfo['demand']> {
  const gangs = [];
  for (const job of [...jobs].sort((a, b) => (a.admittedSeq ?? 0) - (b.admittedSeq ?? 0))) {
    const a = currentAttempt(job);
    if (job.state !== 'ADMITTED' || a === undefined || a.launchedAt !== undefined) continue;
    gangs.push(gangDemand({ id: a.gangId, shapes: [{ ...batchTaskShape(job.spec), count: job.spec.tasks }], ...(job.spec.priorityClass === undefined ? {} : { priorityClass: job.spec.priorityClass }) }));
  }
  return { [role]: { shapes: [], gangs } };
}

/** The job as admission sees it. */
export function workloadOf(j: BatchJobRecord): Workload {
  return { id: j.id, queue: j.spec.queue, demand: demandOfSpec(j.spec), priority: j.spec.priority, seq: j.seq, ...(j.admittedSeq !== undefined ? { admittedSeq: j.admittedSeq } : {}) };
}

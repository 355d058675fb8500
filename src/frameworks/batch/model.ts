/**
 * The batch framework's durable records and their store keys: queues (`queues/<name>`), jobs
 * (`jobs/<id>`) and the counters (`meta/counters`: submission and admission order). A job record
 * holds every attempt with its tasks, so a restarted framework knows what it launched.
 */
import type { BatchJobSpec } from './job-spec';

/** Where a batch job is (proto BatchJob.State). */
export type BatchJobState = 'PENDING' | 'ADMITTED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'KILLED';

/** How an attempt ended. */
export type AttemptOutcome = 'FAILED' | 'RECLAIMED' | 'PREEMPTED' | 'KILLED' | 'DEADLINE' | 'SUCCEEDED';

export interface TaskRecord {
  readonly taskId: string;
  readonly index: number;
  agentId?: string;
  state?: string;
}

export interface AttemptRecord {
  readonly attempt: number;
  readonly gangId: string;
  launchedAt?: number;
  endedAt?: number;
  outcome?: AttemptOutcome;
  message?: string;
  tasks: TaskRecord[];
}

export interface BatchJobRecord {
  readonly id: string;
  readonly spec: BatchJobSpec;
  /** Submission order. */
  readonly seq: number;
  readonly submittedAt: number;
  state: BatchJobState;
  /** Admission order of the current admission (youngest evicted first). */
  admittedSeq?: number;
  admittedAt?: number;
  finishedAt?: number;
  message?: string;
  /** Failed attempts (reclaimed and killed ones do not count). */
  failures: number;
  attempts: AttemptRecord[];
}

export interface Counters {
  submitted: number;
  admitted: number;
}

export const QUEUE_KEY_PREFIX = 'queues/';
export const JOB_KEY_PREFIX = 'jobs/';
export const COUNTERS_KEY = 'meta/counters';
export const queueKey = (name: string): string => `${QUEUE_KEY_PREFIX}${name}`;
export const jobKey = (id: string): string => `${JOB_KEY_PREFIX}${id}`;

/** States of a job that holds quota. */
export const HOLDS_QUOTA: ReadonlySet<BatchJobState> = new Set(['ADMITTED', 'RUNNING']);
/** States of a job that ended. */
export const ENDED: ReadonlySet<BatchJobState> = new Set(['SUCCEEDED', 'FAILED', 'KILLED']);

/** The current attempt (undefined before the first admission). */
export function currentAttempt(job: BatchJobRecord): AttemptRecord | undefined {
  const a = job.attempts[job.attempts.length - 1];
  return a !== undefined && a.outcome === undefined ? a : undefined;
}


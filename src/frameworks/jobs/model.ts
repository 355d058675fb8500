/**
 * What the jobs framework keeps, in the shapes it is persisted in (`context.store`, JSON), and the
 * small pure rules over them: task ids, which task states end an attempt, run id formats.
 *
 * Store layout (keys are private to the plugin):
 *
 * | key                      | value        | written when                                            |
 * |--------------------------|--------------|---------------------------------------------------------|
 * | `jobs/<jobId>`           | {@link JobRecord} | PutJob; a schedule instant handled; a run created or finished (stats) |
 * | `runs/<jobId>/<runId>`   | {@link RunRecord} | a run is created, an attempt is created or launched, a task changes state, the run ends |
 *
 * The exactly-once rule lives in {@link AttemptRecord.phase}: an attempt is written `LAUNCHED`
 * (with its agent) *before* the LAUNCH is sent, so a restarted framework never launches a task id
 * twice — it reconciles `LAUNCHED` attempts with the master instead.
 */
import type { Attribute } from '../../common/attributes';
import type { TaskState__Output } from '../../generated/berth/v1/TaskState';
import type { RunSpec, JobSpec } from './job-spec';

/** Task states as strings (`TASK_RUNNING`, …). */
export type TaskState = Exclude<TaskState__Output, 'TASK_STATE_UNSPECIFIED'>;

/** Where a run is (the wire's JobRun.Status). */
export type RunStatus = 'INITIAL' | 'STARTING' | 'ACTIVE' | 'SUCCESS' | 'FAILED' | 'STOPPED' | 'MISSED' | 'SKIPPED';
/** What started a run. */
export type RunTrigger = 'MANUAL' | 'SCHEDULE' | 'DEPENDENCY';

/** Whether a run with this status is over. */
export function isFinished(status: RunStatus): boolean {
  return status !== 'INITIAL' && status !== 'STARTING' && status !== 'ACTIVE';
}

/**
 * - `PENDING`: waiting for an offer; its task id was never sent to the master, so it may be launched.
 * - `LAUNCHED`: the launch was (or may have been) sent; this task id is never launched again.
 * - `DONE`: the task reached a terminal state (or was declared failed by reconciliation).
 */
export type AttemptPhase = 'PENDING' | 'LAUNCHED' | 'DONE';

/** One attempt of a run: exactly one task. */
export interface AttemptRecord {
  /** 1, 2, … */
  readonly attempt: number;
  /** `<jobId>.<runId>.<attempt>` */
  readonly taskId: string;
  phase: AttemptPhase;
  /** Latest task state known (undefined before launch). */
  taskState?: TaskState;
  agentId?: string;
  hostname?: string;
  /** The agent's attributes and fault domain (from the offer), for constraints of later runs. */
  attributes?: Attribute[];
  domain?: { readonly region: string; readonly zone: string };
  readonly createdAt: number;
  launchedAt?: number;
  finishedAt?: number;
  message?: string;
}

/** One run of a job, or one scheduled instant that did not run (MISSED, SKIPPED: no attempts). */
export interface RunRecord {
  readonly jobId: string;
  readonly runId: string;
  readonly trigger: RunTrigger;
  readonly scheduleId?: string;
  readonly scheduledAt?: number;
  /** Scheduled runs: the latest time the first attempt may launch (scheduledAt + startingDeadline). */
  readonly startBy?: number;
  status: RunStatus;
  readonly createdAt: number;
  finishedAt?: number;
  message?: string;
  /** The run spec at creation: a run keeps the definition it started with. */
  readonly spec: RunSpec;
  readonly attempts: AttemptRecord[];
  /** StopRun was asked: the next terminal state ends the run STOPPED. */
  stopRequested?: boolean;
}

/** Counts and times over finished runs, kept when old runs leave the history. */
export interface JobStats {
  successCount: number;
  failureCount: number;
  stoppedCount: number;
  missedCount: number;
  skippedCount: number;
  lastSuccessAt?: number;
  lastFailureAt?: number;
  /** When the job's latest real run (not MISSED/SKIPPED) was created: dependencies compare to it. */
  lastRunCreatedAt?: number;
  /** Runs already counted (the newest ones), so a restart between the two writes never counts twice. */
  counted: string[];
}

/** Per schedule: how far instants have been handled. */
export interface ScheduleState {
  /** Instants at or before this (epoch ms) have been handled, or predate the schedule. */
  handledUntil: number;
  /** The last instant handled (ran, skipped or missed). */
  lastFireAt?: number;
  /** The cron and zone `handledUntil` refers to; a change restarts the schedule from "now". */
  cron: string;
  timezone: string;
  enabled: boolean;
}

/** A job as stored. */
export interface JobRecord {
  spec: JobSpec;
  readonly createdAt: number;
  updatedAt: number;
  schedules: Record<string, ScheduleState>;
  stats: JobStats;
  /** When the dependency list was last set: parents' successes before it do not trigger the job. */
  dependenciesSince?: number;
}

export function emptyStats(): JobStats {
  return { successCount: 0, failureCount: 0, stoppedCount: 0, missedCount: 0, skippedCount: 0, counted: [] };
}

export const JOB_KEY_PREFIX = 'jobs/';
export const RUN_KEY_PREFIX = 'runs/';

export function jobKey(jobId: string): string {
  return `${JOB_KEY_PREFIX}${jobId}`;
}

export function runKey(jobId: string, runId: string): string {
  return `${RUN_KEY_PREFIX}${jobId}/${runId}`;
}

/** The task id of an attempt. Run ids hold no dot, so the id parses back from the right. */
export function taskIdOf(jobId: string, runId: string, attempt: number): string {
  return `${jobId}.${runId}.${attempt}`;
}

/** `<jobId>.<runId>.<attempt>` back into its parts; undefined for ids not made by {@link taskIdOf}. */
export function parseTaskId(taskId: string): { jobId: string; runId: string; attempt: number } | undefined {
  const m = /^(.+)\.([A-Za-z0-9-]+)\.([1-9][0-9]*)$/.exec(taskId);
  if (m === null) return undefined;
  return { jobId: m[1]!, runId: m[2]!, attempt: Number(m[3]) };
}

/** `20260329T013000Z`: a UTC instant, sortable, safe in keys and task ids. */
export function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

/**
 * Run ids sort by creation time and never contain a dot:
 * - scheduled: `<instant>-s-<scheduleId>` (deterministic: one run per scheduled instant, also across restarts);
 * - manual: `<now>-m`, dependency: `<now>-d`, with `-2`, `-3`, … when the same second is taken.
 */
export function runIdFor(trigger: RunTrigger, at: number, scheduleId?: string): string {
  if (trigger === 'SCHEDULE') return `${stamp(at)}-s-${scheduleId}`;
  return `${stamp(at)}-${trigger === 'MANUAL' ? 'm' : 'd'}`;
}

/** Task states after which the attempt's task does not run. TASK_LOST counts (Mesos: "may come back"; if it does, it is killed). */
const ATTEMPT_ENDING = new Set<TaskState>(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_UNKNOWN']);

export function endsAttempt(state: TaskState): boolean {
  return ATTEMPT_ENDING.has(state);
}

/** The attempt a run is on (the last one). */
export function current(run: RunRecord): AttemptRecord {
  return run.attempts[run.attempts.length - 1]!;
}

/** A new attempt, waiting for an offer. */
export function newAttempt(jobId: string, runId: string, attempt: number, now: number): AttemptRecord {
  return { attempt, taskId: taskIdOf(jobId, runId, attempt), phase: 'PENDING', createdAt: now };
}

/**
 * After an attempt ended in `state` (not TASK_FINISHED) at `now`: another attempt, or why not.
 * ON_FAILURE retries while `now` is before the run's start + activeDeadlineSeconds (no deadline:
 * always), except after TASK_ERROR, which would fail the same way again.
 */
export function retryDecision(run: RunRecord, state: TaskState, now: number): { retry: true } | { retry: false; why: string } {
  const restart = run.spec.restart;
  if (restart.policy === 'NEVER') return { retry: false, why: 'restart policy NEVER' };
  if (state === 'TASK_ERROR') return { retry: false, why: 'TASK_ERROR is not retried (the task description is invalid)' };
  const deadlineAt = restart.activeDeadlineSeconds === undefined ? Infinity : run.createdAt + restart.activeDeadlineSeconds * 1000;
  if (now >= deadlineAt) return { retry: false, why: `activeDeadlineSeconds (${restart.activeDeadlineSeconds} s) passed` };
  return { retry: true };
}

/**
 * Adds the finished runs of `history` not counted yet to `stats`; true if any was. Idempotent (the
 * ids go to `stats.counted`), so a restart between writing a run and its job's stats counts it once.
 */
export function countFinishedRuns(stats: JobStats, history: readonly RunRecord[]): boolean {
  const counted = new Set(stats.counted);
  let changed = false;
  for (const r of history) {
    if (counted.has(r.runId)) continue;
    counted.add(r.runId);
    stats.counted.push(r.runId);
    changed = true;
    const at = r.finishedAt ?? r.createdAt;
    switch (r.status) {
      case 'SUCCESS':
        stats.successCount++;
        stats.lastSuccessAt = Math.max(stats.lastSuccessAt ?? at, at);
        break;
      case 'FAILED':
        stats.failureCount++;
        stats.lastFailureAt = Math.max(stats.lastFailureAt ?? at, at);
        break;
      case 'STOPPED':
        stats.stoppedCount++;
        break;
      case 'MISSED':
        stats.missedCount++;
        break;
      case 'SKIPPED':
        stats.skippedCount++;
        break;
      default:
        break;
    }
  }
  return changed;
}

/** A job definition as PutJob takes it: JSON or YAML text, or an already parsed definition. */
export type JobInput = { readonly text: string } | { readonly definition: unknown };

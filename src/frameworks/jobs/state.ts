/**
 * The jobs framework's shared in-memory state, owned by {@link JobsFramework} and handed to its
 * parts (schedules.ts, runs.ts, offers.ts, views.ts): the jobs with their active runs and retained
 * history, the dependency reverse index, the launched/pending/unreconciled attempt indexes, the
 * timer queue, and the store writes of job and run records (including history trimming).
 *
 * It decides nothing: every change is made by the framework's parts, one at a time on the
 * framework's queue.
 */
import { JobsMetrics } from './metrics';
import type { Clock } from '../../common/clock';
import type { Logger } from '../../common/logging';
import type { SchedulerApi } from '../sdk/framework';
import type { KeyValueStore } from '../sdk/store';
import type { CronSchedule } from './cron';
import { JobsError } from './errors';
import { countFinishedRuns, jobKey, runKey, type JobRecord, type RunRecord } from './model';
import type { JobsOptions } from './options';
import { TimerQueue } from './timer-queue';

/** A job in memory: its record, parsed schedules, active runs and retained history. */
export interface JobState {
  record: JobRecord;
  crons: Map<string, CronSchedule>;
  /** Runs not finished, by run id. */
  readonly active: Map<string, RunRecord>;
  /** Finished runs, oldest first (at most `historySize`). */
  history: RunRecord[];
}

/** Where a run is: its job and run id. */
export interface RunRef {
  readonly jobId: string;
  readonly runId: string;
}

/** Runs `fn` after everything queued before it (the framework's serial queue). */
export type Exclusive = <T>(fn: () => Promise<T>) => Promise<T>;

export class JobsState {
  readonly jobs = new Map<string, JobState>();
  /** Parent job id → ids of the jobs that depend on it (so a success does not scan every job). */
  readonly children = new Map<string, Set<string>>();
  /** Launched attempts not done yet: task id → where. */
  readonly tasks = new Map<string, RunRef>();
  /** Runs whose current attempt waits for an offer, in arrival order (key: runKey). */
  readonly pending = new Map<string, RunRef>();
  /** Task ids of LAUNCHED attempts the master has not answered about since the last start or registration (nothing is decided for them). */
  readonly unreconciled = new Set<string>();
  /** Why the last offer did not take a waiting run (runKey → reason), for failure messages. */
  readonly rejections = new Map<string, string>();
  /** Every deadline (schedule instants, create retries, launch deadlines); see the key helpers below. */
  readonly timers: TimerQueue;

  constructor(
    readonly options: JobsOptions,
    readonly clock: Clock,
    readonly logger: Logger,
    readonly store: KeyValueStore,
    readonly scheduler: SchedulerApi,
    onDeadline: (key: string, at: number) => void,
    readonly metrics: JobsMetrics = new JobsMetrics(),
  ) {
    this.timers = new TimerQueue(clock, onDeadline);
  }

  /** @throws JobsError NOT_FOUND */
  job(id: string): JobState {
    const job = this.jobs.get(id);
    if (job === undefined) throw new JobsError('NOT_FOUND', `no job ${JSON.stringify(id)}`);
    return job;
  }

  hasRun(job: JobState, runId: string): boolean {
    return job.active.has(runId) || job.history.some((r) => r.runId === runId);
  }

  dependentsOf(jobId: string): string[] {
    return [...(this.children.get(jobId) ?? [])].sort(cmp);
  }

  /** Moves `child`'s edges in the reverse index from the parents `before` to the parents `after`. */
  link(child: string, before: readonly string[], after: readonly string[]): void {
    for (const p of before) this.children.get(p)?.delete(child);
    for (const p of after) {
      let set = this.children.get(p);
      if (set === undefined) this.children.set(p, (set = new Set()));
      set.add(child);
    }
  }

  /** Adds a finished run to the history and the stats; drops the oldest beyond historySize. */
  async addToHistory(job: JobState, run: RunRecord): Promise<void> {
    job.history.push(run);
    countFinishedRuns(job.record.stats, job.history);
    await this.trimHistory(job);
    const kept = new Set(job.history.map((r) => r.runId));
    job.record.stats.counted = job.record.stats.counted.filter((id) => kept.has(id));
  }

  /** Deletes the oldest finished runs beyond historySize (from memory and the store). */
  async trimHistory(job: JobState): Promise<void> {
    while (job.history.length > this.options.historySize) {
      const old = job.history.shift()!;
      await this.store.delete(runKey(old.jobId, old.runId));
    }
  }

  saveRun(run: RunRecord): Promise<void> {
    return this.store.put(runKey(run.jobId, run.runId), run);
  }

  saveJob(job: JobState): Promise<void> {
    return this.store.put(jobKey(job.record.spec.id), job.record);
  }
}

/** The timer of a schedule's next instant. */
export function scheduleKey(jobId: string, scheduleId: string): string {
  return `s|${jobId}|${scheduleId}`;
}

/** The timer of a waiting run's launch deadline. */
export function launchKey(jobId: string, runId: string): string {
  return `l|${jobId}|${runId}`;
}

/** The timer of a retried store write of a schedule's run. */
export function retryKey(jobId: string, scheduleId: string): string {
  return `c|${jobId}|${scheduleId}`;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function copy<T>(v: T): T {
  return structuredClone(v);
}

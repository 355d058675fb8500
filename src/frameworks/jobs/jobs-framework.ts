/**
 * The jobs framework: cron and one-off batch jobs (Metronome/Chronos semantics) as a Berth plugin.
 *
 * Everything that changes state — framework events (offers, status updates, registration), timer
 * deadlines and API calls — runs one at a time on an internal queue, and every decision is persisted
 * through `context.store` before it acts on the cluster. Timers all live in one {@link TimerQueue} on
 * `context.clock` (a heap: O(log n) per deadline, one clock timer).
 *
 * **Exactly one task per attempt**, also across restarts of this framework and master failovers
 * (Metronome and Chronos launched duplicates after restarts):
 * 1. an attempt's task id is deterministic, `<jobId>.<runId>.<attempt>`;
 * 2. the attempt is written `LAUNCHED` (with its agent) to the store *before* the LAUNCH is sent;
 * 3. on start and on every (re-)registration with a master (also under a new framework id, after
 *    the master removed the framework), `LAUNCHED` attempts are reconciled with the master
 *    (`scheduler.reconcile`) and their run does nothing until the master answers; a
 *    TASK_LOST/DROPPED/UNKNOWN/GONE answer counts as that attempt failing, and a retry (ON_FAILURE)
 *    gets the next attempt number — a new task id;
 * 4. an attempt is only ever launched from `PENDING`, so no task id is launched twice;
 * 5. a task the framework does not expect to run (a stale attempt reported alive, a deleted job's
 *    task) is killed when it shows up.
 *
 * **Schedules**: a schedule's next instant comes from croner in its IANA zone (see cron.ts for DST).
 * Each schedule persists `handledUntil`; an instant is handled once (ran, SKIPPED by FORBID, or
 * MISSED), and a scheduled run's id is derived from its instant, so a restart never runs an instant
 * twice. After downtime the latest missed instant runs if it is within `startingDeadlineSeconds`;
 * earlier missed instants are recorded MISSED (as Kubernetes CronJobs do: no burst of catch-up runs).
 * The same holds while running when a timer fires late (host suspend, blocked event loop, clock
 * step): every instant due by the time the work runs is handled at once, only the latest may run.
 * A scheduled run whose record cannot be written is retried with a backoff within its starting
 * deadline, and recorded MISSED (with the store error) when it cannot be written in time.
 * A scheduled run whose first task has not launched by `scheduledAt + startingDeadlineSeconds`
 * (master unavailable, no offers) ends MISSED.
 *
 * **Dependencies** (Chronos): a job with parents runs when every parent's last success is later than
 * both the job's last run and the moment its dependency list was set; it is re-checked whenever a
 * parent succeeds and when the job's own active run ends (a trigger that came while it ran waits).
 */
import type { Attribute } from '../../common/attributes';
import type { Clock } from '../../common/clock';
import type { Logger } from '../../common/logging';
import { Resources } from '../../common/resources';
import type { GrpcServiceBinding } from '../../common/rpc/proto';
import type { FrameworkInfo } from '../../generated/berth/v1/FrameworkInfo';
import type { Offer__Output } from '../../generated/berth/v1/Offer';
import type { TaskInfo } from '../../generated/berth/v1/TaskInfo';
import type { TaskStatus__Output } from '../../generated/berth/v1/TaskStatus';
import { checkConstraints, type PlacementCandidate } from '../sdk/constraints';
import type { Framework, FrameworkContext, Registration, SchedulerApi } from '../sdk/framework';
import { fitTask } from '../sdk/offer-match';
import type { KeyValueStore } from '../sdk/store';
import { jobsService } from './api';
import { CronSchedule } from './cron';
import { JobsError } from './errors';
import { checkDependencies, parseJobSpec, validateJobSpec, type JobSpec, type ScheduleSpec } from './job-spec';
import {
  countFinishedRuns,
  current,
  emptyStats,
  endsAttempt,
  isFinished,
  JOB_KEY_PREFIX,
  jobKey,
  newAttempt,
  retryDecision,
  RUN_KEY_PREFIX,
  runIdFor,
  runKey,
  type AttemptRecord,
  type JobRecord,
  type RunRecord,
  type RunStatus,
  type RunTrigger,
  type TaskState,
} from './model';
import { parseJobsOptions, type JobsOptions } from './options';
import { buildTaskInfo, offerCandidate, taskShape } from './task-builder';
import { TimerQueue } from './timer-queue';

/** Instants enumerated per schedule when catching up after downtime (beyond: counted, not listed). */
const MAX_CATCH_UP_INSTANTS = 1000;
/** Backoff of the retries of a scheduled run's store write: doubling from the first, capped. */
const CREATE_RETRY_FIRST_MS = 1000;
const CREATE_RETRY_MAX_MS = 30_000;
/** Why instants are MISSED when several were due at once while the framework was running. */
const LATE_REASON = 'the schedule was handled late (its timer fired late: host suspended, event loop blocked or clock stepped)';

/** A job in memory: its record, parsed schedules, active runs and retained history. */
interface JobState {
  record: JobRecord;
  crons: Map<string, CronSchedule>;
  /** Runs not finished, by run id. */
  readonly active: Map<string, RunRecord>;
  /** Finished runs, oldest first (at most `historySize`). */
  history: RunRecord[];
}

/** A job as the API shows it. Copies: callers may keep them. */
export interface JobView {
  readonly spec: JobSpec;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly schedules: readonly { readonly spec: ScheduleSpec; readonly nextFireAt?: number; readonly lastFireAt?: number }[];
  readonly activeRuns: readonly RunRecord[];
  readonly stats: JobRecord['stats'];
  readonly dependents: readonly string[];
}

/** What PutJob takes: a JSON/YAML document, or an already parsed object. */
export type JobInput = { readonly text: string } | { readonly definition: unknown };

export class JobsFramework implements Framework {
  readonly options: JobsOptions;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly store: KeyValueStore;
  private readonly scheduler: SchedulerApi;
  private readonly jobs = new Map<string, JobState>();
  /** Parent job id → ids of the jobs that depend on it (so a success does not scan every job). */
  private readonly children = new Map<string, Set<string>>();
  /** Launched attempts not done yet: task id → where. */
  private readonly tasks = new Map<string, { readonly jobId: string; readonly runId: string }>();
  /** Runs whose current attempt waits for an offer, in arrival order (key: runKey). */
  private readonly pending = new Map<string, { readonly jobId: string; readonly runId: string }>();
  /** Task ids of LAUNCHED attempts the master has not answered about since the last start or registration (nothing is decided for them). */
  private readonly unreconciled = new Set<string>();
  /** Scheduled instants whose run could not be written yet and waits for a retry (key: scheduleKey). */
  private readonly createRetries = new Map<string, { readonly instant: number; readonly failures: number; readonly error: string }>();
  /** Why the last offer did not take a waiting run (runKey → reason), for failure messages. */
  private readonly rejections = new Map<string, string>();
  private readonly timers: TimerQueue;
  private queue: Promise<unknown> = Promise.resolve();
  private offerInterest: 'revived' | 'suppressed' | undefined;
  private stopped = false;

  constructor(context: FrameworkContext) {
    this.options = parseJobsOptions(context.options);
    this.clock = context.clock;
    this.logger = context.logger.child({ component: 'jobs' });
    this.store = context.store;
    this.scheduler = context.scheduler;
    this.timers = new TimerQueue(this.clock, (key, at) => this.onDeadline(key, at));
  }

  // ------------------------------------------------------------------------------------------
  // Framework
  // ------------------------------------------------------------------------------------------

  frameworkInfo(): Partial<FrameworkInfo> & { readonly name: string } {
    const capabilities: FrameworkInfo['capabilities'] = [{ type: 'PARTITION_AWARE' }, { type: 'TASK_KILLING_STATE' }];
    if (this.options.gpus) capabilities.push({ type: 'GPU_RESOURCES' });
    return {
      name: this.options.name,
      roles: [...this.options.roles],
      failover_timeout: this.options.failoverTimeoutSeconds,
      capabilities,
      ...(this.options.user !== undefined ? { user: this.options.user } : {}),
      labels: { labels: [{ key: 'berth.framework', value: 'jobs' }] },
    };
  }

  registered(registration: Registration): Promise<void> {
    return this.exclusive(async () => {
      this.logger.info('registered', { frameworkId: registration.frameworkId, reregistered: registration.reregistered, master: registration.master });
      this.offerInterest = undefined; // say it again to this master
      // Every launched attempt, not only those loaded at start: after a re-subscription (and all
      // the more under a new framework id, when the master removed the framework and its tasks)
      // the master is the only one who knows whether they still run.
      this.markLaunchedUnreconciled();
      this.reconcileUnanswered();
      // Kills asked for before a disconnect may have been dropped: ask again.
      for (const job of this.jobs.values()) {
        for (const run of job.active.values()) {
          const a = current(run);
          if (run.stopRequested && a.phase === 'LAUNCHED') this.killAttempt(run, a);
        }
      }
    });
  }

  offers(offers: readonly Offer__Output[]): Promise<void> {
    return this.exclusive(() => this.placeOffers(offers));
  }

  statusUpdate(status: TaskStatus__Output): Promise<void> {
    return this.exclusive(() => this.applyStatus(status));
  }

  disconnected(): void {
    // Nothing to undo: calls made while away are dropped by the driver, and `registered` re-sends
    // what matters (offer interest, kills, reconciliation).
    this.logger.warn('disconnected from the master');
  }

  grpcServices(): readonly GrpcServiceBinding[] {
    return [jobsService(this)];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timers.close();
    await this.queue.catch(() => undefined);
  }

  /** Logs an unexpected error of an API call (the gRPC edge answers INTERNAL). */
  reportApiError(err: unknown): void {
    this.logger.error('unexpected error in a jobs API call', { err });
  }

  /** Resolves when every queued piece of work (timers, events, API calls) has run. For tests. */
  async idle(): Promise<void> {
    for (;;) {
      const q = this.queue;
      await q.catch(() => undefined);
      if (q === this.queue) return;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Start: load, reconcile, catch up
  // ------------------------------------------------------------------------------------------

  /** Loads jobs and runs from the store, asks the master about launched attempts, catches up schedules. */
  start(): Promise<void> {
    return this.exclusive(async () => {
      const now = this.clock.now();
      for (const { value } of await this.store.list<JobRecord>(JOB_KEY_PREFIX)) {
        const crons = new Map<string, CronSchedule>();
        for (const s of value.spec.schedules) {
          const c = CronSchedule.tryCreate(s.cron, s.timezone);
          if (c.ok) crons.set(s.id, c.schedule);
          else this.logger.error('stored schedule no longer parses; it will not fire', { jobId: value.spec.id, scheduleId: s.id, reason: c.message });
        }
        this.jobs.set(value.spec.id, { record: value, crons, active: new Map(), history: [] });
        this.link(value.spec.id, [], value.spec.dependencies);
      }
      for (const { key, value: run } of await this.store.list<RunRecord>(RUN_KEY_PREFIX)) {
        const job = this.jobs.get(run.jobId);
        if (job === undefined) {
          // Left over by a DeleteJob interrupted between its writes; its tasks were killed then.
          await this.store.delete(key);
          continue;
        }
        if (isFinished(run.status)) {
          job.history.push(run);
          continue;
        }
        job.active.set(run.runId, run);
        const a = current(run);
        if (a.phase === 'PENDING') this.addPending(run);
        else if (a.phase === 'LAUNCHED') {
          this.tasks.set(a.taskId, { jobId: run.jobId, runId: run.runId });
          this.unreconciled.add(a.taskId);
        }
      }
      for (const job of this.jobs.values()) {
        job.history.sort((a, b) => cmp(a.runId, b.runId));
        if (countFinishedRuns(job.record.stats, job.history)) await this.saveJob(job);
        // historySize may have been lowered since.
        while (job.history.length > this.options.historySize) {
          const old = job.history.shift()!;
          await this.store.delete(runKey(old.jobId, old.runId));
        }
      }
      this.reconcileUnanswered();
      for (const job of this.jobs.values()) {
        for (const s of job.record.spec.schedules) await this.catchUp(job, s, now);
      }
      for (const job of this.jobs.values()) await this.evaluateDependencies(job, now);
      this.logger.info('jobs loaded', { jobs: this.jobs.size, activeRuns: [...this.jobs.values()].reduce((n, j) => n + j.active.size, 0), reconciling: this.unreconciled.size });
    });
  }

  /** Every LAUNCHED attempt of an active run waits for the master's answer again. */
  private markLaunchedUnreconciled(): void {
    for (const job of this.jobs.values()) {
      for (const run of job.active.values()) {
        for (const a of run.attempts) {
          if (a.phase !== 'LAUNCHED') continue;
          this.tasks.set(a.taskId, { jobId: run.jobId, runId: run.runId });
          this.unreconciled.add(a.taskId);
        }
      }
    }
  }

  private reconcileUnanswered(): void {
    if (this.unreconciled.size === 0) return;
    const list: { taskId: string; agentId?: string }[] = [];
    for (const taskId of this.unreconciled) {
      const where = this.tasks.get(taskId);
      const run = where === undefined ? undefined : this.jobs.get(where.jobId)?.active.get(where.runId);
      const agentId = run === undefined ? undefined : current(run).agentId;
      list.push(agentId === undefined ? { taskId } : { taskId, agentId });
    }
    this.scheduler.reconcile(list);
  }

  // ------------------------------------------------------------------------------------------
  // API (called by api.ts; each call is one step on the queue)
  // ------------------------------------------------------------------------------------------

  /** Creates or replaces a job. @throws ValidationError, or JobsError */
  putJob(input: JobInput): Promise<{ job: JobView; created: boolean }> {
    return this.exclusive(async () => {
      const now = this.clock.now();
      const spec = 'text' in input ? parseJobSpec(input.text, now) : validateJobSpec(input.definition, now);
      checkDependencies(spec, { has: (id) => this.jobs.has(id), get: (id) => this.jobs.get(id)?.record.spec });
      const existing = this.jobs.get(spec.id);
      const prev = existing?.record;
      const schedules: JobRecord['schedules'] = {};
      for (const s of spec.schedules) {
        const was = prev?.schedules[s.id];
        const unchanged = was !== undefined && was.cron === s.cron && was.timezone === s.timezone && was.enabled && s.enabled;
        // A new, changed or re-enabled schedule starts from now: no catch-up for time it did not exist.
        schedules[s.id] = {
          handledUntil: unchanged ? was.handledUntil : now,
          cron: s.cron,
          timezone: s.timezone,
          enabled: s.enabled,
          ...(was?.lastFireAt !== undefined ? { lastFireAt: was.lastFireAt } : {}),
        };
      }
      const depsChanged = prev === undefined || prev.spec.dependencies.join('\n') !== spec.dependencies.join('\n');
      const record: JobRecord = {
        spec,
        createdAt: prev?.createdAt ?? now,
        updatedAt: now,
        schedules,
        stats: prev?.stats ?? emptyStats(),
        dependenciesSince: depsChanged ? now : prev.dependenciesSince,
      };
      const crons = new Map<string, CronSchedule>();
      for (const s of spec.schedules) crons.set(s.id, CronSchedule.create(s.cron, s.timezone));
      await this.store.put(jobKey(spec.id), record);
      const job: JobState = existing ?? { record, crons, active: new Map(), history: [] };
      job.record = record;
      job.crons = crons;
      this.jobs.set(spec.id, job);
      this.link(spec.id, prev?.spec.dependencies ?? [], spec.dependencies);
      for (const s of prev?.spec.schedules ?? []) if (!crons.has(s.id)) this.dropSchedule(spec.id, s.id);
      for (const s of spec.schedules) {
        const retry = this.createRetries.get(scheduleKey(spec.id, s.id));
        if (retry !== undefined && retry.instant <= schedules[s.id]!.handledUntil) {
          // Changed or disabled: it starts from now, and the instant waiting for its store write goes.
          this.logger.warn('schedule changed: its instant waiting for a store write is dropped', { jobId: spec.id, scheduleId: s.id, scheduledAt: new Date(retry.instant).toISOString(), err: retry.error });
          this.settleCreateRetry(job, s);
        }
        this.armSchedule(job, s, Math.max(schedules[s.id]!.handledUntil, now));
      }
      this.logger.info(existing === undefined ? 'job created' : 'job updated', { jobId: spec.id });
      return { job: this.view(job, now), created: existing === undefined };
    });
  }

  /** @throws JobsError NOT_FOUND */
  getJob(id: string): Promise<JobView> {
    return this.exclusive(async () => this.view(this.job(id), this.clock.now()));
  }

  listJobs(prefix = ''): Promise<JobView[]> {
    return this.exclusive(async () => {
      const now = this.clock.now();
      return [...this.jobs.keys()].filter((id) => id.startsWith(prefix)).sort(cmp).map((id) => this.view(this.jobs.get(id)!, now));
    });
  }

  /** @throws JobsError NOT_FOUND, FAILED_PRECONDITION (dependents, active runs without `stopCurrentRuns`) */
  deleteJob(id: string, stopCurrentRuns = false): Promise<{ stoppedRunIds: string[] }> {
    return this.exclusive(async () => {
      const job = this.job(id);
      const dependents = this.dependentsOf(id);
      if (dependents.length > 0) throw new JobsError('FAILED_PRECONDITION', `job ${id} is a dependency of ${dependents.join(', ')}: change or delete those first`);
      if (job.active.size > 0 && !stopCurrentRuns) {
        throw new JobsError('FAILED_PRECONDITION', `job ${id} has active runs (${[...job.active.keys()].join(', ')}): stop them or pass stop_current_runs`);
      }
      const stopped: string[] = [];
      for (const run of job.active.values()) {
        const a = current(run);
        if (a.phase === 'LAUNCHED') this.killAttempt(run, a);
        this.forgetRun(run);
        stopped.push(run.runId);
      }
      for (const s of job.record.spec.schedules) this.dropSchedule(id, s.id);
      this.jobs.delete(id);
      this.link(id, job.record.spec.dependencies, []);
      this.children.delete(id);
      // The job first: runs without their job are cleaned up on the next start.
      await this.store.delete(jobKey(id));
      for (const run of [...job.active.values(), ...job.history]) await this.store.delete(runKey(id, run.runId));
      this.logger.info('job deleted', { jobId: id, stoppedRuns: stopped.length });
      return { stoppedRunIds: stopped };
    });
  }

  /** Run now. @throws JobsError NOT_FOUND */
  startRun(jobId: string): Promise<RunRecord> {
    return this.exclusive(async () => {
      const job = this.job(jobId);
      const run = await this.createRun(job, 'MANUAL', this.clock.now());
      await this.saveJob(job);
      return copy(run);
    });
  }

  /** @throws JobsError NOT_FOUND, FAILED_PRECONDITION (already finished) */
  stopRun(jobId: string, runId: string): Promise<RunRecord> {
    return this.exclusive(async () => {
      const job = this.job(jobId);
      const run = job.active.get(runId);
      if (run === undefined) {
        const done = job.history.find((r) => r.runId === runId);
        if (done !== undefined) throw new JobsError('FAILED_PRECONDITION', `run ${runId} of job ${jobId} already ended ${done.status}`);
        throw new JobsError('NOT_FOUND', `job ${jobId} has no run ${runId}`);
      }
      const a = current(run);
      if (a.phase === 'PENDING') {
        await this.finishRun(job, run, 'STOPPED', 'stopped before its task was launched', this.clock.now());
      } else {
        run.stopRequested = true;
        await this.saveRun(run);
        this.killAttempt(run, a);
      }
      return copy(run);
    });
  }

  /** Active and retained finished runs, newest first. @throws JobsError NOT_FOUND */
  listRuns(jobId: string, limit = 0): Promise<{ runs: RunRecord[]; stats: JobRecord['stats'] }> {
    return this.exclusive(async () => {
      const job = this.job(jobId);
      const all = [...job.history, ...job.active.values()].sort((a, b) => cmp(b.runId, a.runId));
      return { runs: (limit > 0 ? all.slice(0, limit) : all).map(copy), stats: copy(job.record.stats) };
    });
  }

  // ------------------------------------------------------------------------------------------
  // Schedules
  // ------------------------------------------------------------------------------------------

  private armSchedule(job: JobState, s: ScheduleSpec, after: number): void {
    const key = scheduleKey(job.record.spec.id, s.id);
    const cron = job.crons.get(s.id);
    const next = s.enabled && cron !== undefined ? cron.next(after) : undefined;
    if (next === undefined) this.timers.delete(key);
    else this.timers.set(key, next);
  }

  /** Handles the instants a schedule missed while the framework was not running, then arms it. */
  private async catchUp(job: JobState, s: ScheduleSpec, now: number): Promise<void> {
    const state = job.record.schedules[s.id];
    if (state === undefined || !job.crons.has(s.id) || !s.enabled) return;
    await this.handleDue(job, s, now, 'the jobs framework was not running at the scheduled time');
    this.armSchedule(job, s, Math.max(state.handledUntil, now));
  }

  /**
   * Handles every instant of a schedule in `(handledUntil, now]` — after downtime (start), or while
   * running when the work comes late (a late timer: host suspend, blocked event loop, clock step; a
   * long queue; a run whose store write is being retried). Only the latest instant may still run;
   * the ones before it are MISSED, the newest `maxMissedRecords` of them as history entries, the
   * rest only counted (as Kubernetes CronJobs do: no burst of catch-up runs). With more than
   * MAX_CATCH_UP_INSTANTS instants the exact count is not worth the walk: it is a lower bound.
   * `why` says why several instants were due at once.
   */
  private async handleDue(job: JobState, s: ScheduleSpec, now: number, why: string): Promise<void> {
    const state = job.record.schedules[s.id];
    const cron = job.crons.get(s.id);
    if (state === undefined || cron === undefined || !s.enabled) return;
    const { instants, truncated } = cron.between(state.handledUntil, now, MAX_CATCH_UP_INSTANTS);
    if (instants.length > 0) {
      const latest = truncated ? cron.latestAtOrBefore(now) ?? instants[instants.length - 1]! : instants[instants.length - 1]!;
      const older = truncated ? MAX_CATCH_UP_INSTANTS : instants.length - 1;
      const listed = cron.before(latest, Math.min(this.options.maxMissedRecords, older)).filter((t) => t > state.handledUntil);
      const unlisted = older - listed.length;
      job.record.stats.missedCount += unlisted;
      const retry = this.createRetries.get(scheduleKey(job.record.spec.id, s.id));
      for (const t of listed) {
        const detail = now <= t + s.startingDeadlineSeconds * 1000 ? `superseded by the later instant ${new Date(latest).toISOString()}` : `past its starting deadline (${s.startingDeadlineSeconds} s)`;
        const unwritten = retry?.instant === t ? `; its run could not be written to the store (${retry.error})` : '';
        await this.recordUnrun(job, s, t, 'MISSED', `${why}${unwritten}; ${detail}`, now);
      }
      if (older > 0) {
        // Everything before `latest` is handled now (also the unlisted ones: never counted twice).
        const before = cron.before(latest, 1)[0];
        if (before !== undefined && before > state.handledUntil) {
          state.handledUntil = before;
          state.lastFireAt = before;
        }
        this.logger.warn('schedule instants missed', { jobId: job.record.spec.id, scheduleId: s.id, missed: truncated ? `at least ${older}` : older, reason: why });
      }
      await this.handleInstant(job, s, latest, now);
    }
    this.settleCreateRetry(job, s);
  }

  /** A schedule's deadline came (synchronously, from the timer): arm the next one, queue the work. */
  private onScheduleDue(jobId: string, scheduleId: string, instant: number): void {
    const job = this.jobs.get(jobId);
    const s = job?.record.spec.schedules.find((x) => x.id === scheduleId);
    if (job === undefined || s === undefined) return;
    // The next instant after now, not after `instant`: a late timer does not fire once per missed
    // instant; the work below handles every instant due by then, at once.
    this.armSchedule(job, s, Math.max(instant, this.clock.now()));
    const { cron, timezone } = s;
    void this.exclusive(async () => {
      const j = this.jobs.get(jobId);
      const cur = j?.record.spec.schedules.find((x) => x.id === scheduleId);
      // Changed or removed since it fired: the new definition decides (PutJob re-armed it).
      if (j === undefined || cur === undefined || !cur.enabled || cur.cron !== cron || cur.timezone !== timezone) return;
      // The time the work runs, not the time the timer fired: instants that came meanwhile are
      // handled together (only the latest may run), as after a restart.
      await this.handleDue(j, cur, this.clock.now(), LATE_REASON);
    }).catch((err) => this.logger.error('schedule handling failed', { jobId, scheduleId, err }));
  }

  /** The retry of a scheduled run's store write is due. */
  private onCreateRetry(jobId: string, scheduleId: string): void {
    void this.exclusive(async () => {
      const key = scheduleKey(jobId, scheduleId);
      if (!this.createRetries.has(key)) return;
      const j = this.jobs.get(jobId);
      const cur = j?.record.spec.schedules.find((x) => x.id === scheduleId);
      if (j === undefined || cur === undefined || !cur.enabled) {
        this.createRetries.delete(key);
        return;
      }
      await this.handleDue(j, cur, this.clock.now(), LATE_REASON);
    }).catch((err) => this.logger.error('schedule handling failed', { jobId, scheduleId, err }));
  }

  /** One scheduled instant: run, SKIPPED (FORBID) or MISSED (too late). Idempotent per instant. */
  private async handleInstant(job: JobState, s: ScheduleSpec, instant: number, now: number): Promise<void> {
    const state = job.record.schedules[s.id];
    if (state === undefined || instant <= state.handledUntil) return;
    const runId = runIdFor('SCHEDULE', instant, s.id);
    const deadline = instant + s.startingDeadlineSeconds * 1000;
    if (this.hasRun(job, runId)) {
      // Created before a restart that came before handledUntil was written.
    } else if (now > deadline) {
      const retry = this.createRetries.get(scheduleKey(job.record.spec.id, s.id));
      const unwritten = retry?.instant === instant ? ` (its run could not be written to the store: ${retry.error})` : '';
      await this.recordUnrun(job, s, instant, 'MISSED', `starting deadline (${s.startingDeadlineSeconds} s) passed before the run could start${unwritten}`, now);
    } else if (s.concurrencyPolicy === 'FORBID' && job.active.size > 0) {
      await this.recordUnrun(job, s, instant, 'SKIPPED', `concurrencyPolicy FORBID: run(s) ${[...job.active.keys()].join(', ')} still active`, now);
    } else {
      try {
        await this.createRun(job, 'SCHEDULE', now, { scheduleId: s.id, scheduledAt: instant, startBy: deadline });
      } catch (err) {
        const failed = this.retryCreateLater(job, s, instant, deadline, now, err);
        if (failed === undefined) {
          // Not handled yet (handledUntil stays before it); what was handled before it is kept.
          await this.saveJob(job).catch((e: unknown) => this.logger.warn('could not write the job record; written with its next change', { jobId: job.record.spec.id, err: e }));
          return;
        }
        await this.recordUnrun(
          job,
          s,
          instant,
          'MISSED',
          `its run could not be written to the store within the starting deadline (${s.startingDeadlineSeconds} s) after ${failed.failures} ${failed.failures === 1 ? 'try' : 'tries'}: ${failed.error}`,
          now,
        );
      }
    }
    state.handledUntil = instant;
    state.lastFireAt = instant;
    this.settleCreateRetry(job, s);
    await this.saveJob(job);
  }

  /**
   * A scheduled run's store write failed: retry it (backoff on the clock) while its starting
   * deadline allows; undefined if a retry is armed, else how it failed (the caller records the
   * instant MISSED).
   */
  private retryCreateLater(job: JobState, s: ScheduleSpec, instant: number, deadline: number, now: number, err: unknown): { failures: number; error: string } | undefined {
    const jobId = job.record.spec.id;
    const key = scheduleKey(jobId, s.id);
    const prev = this.createRetries.get(key);
    const failures = (prev?.instant === instant ? prev.failures : 0) + 1;
    const error = errorMessage(err);
    const retryAt = Math.min(now + Math.min(CREATE_RETRY_FIRST_MS * 2 ** Math.min(failures - 1, 30), CREATE_RETRY_MAX_MS), deadline);
    const scheduledAt = new Date(instant).toISOString();
    if (retryAt > now) {
      this.createRetries.set(key, { instant, failures, error });
      this.timers.set(retryKey(jobId, s.id), retryAt);
      this.logger.warn('could not write a scheduled run; retrying', { jobId, scheduleId: s.id, scheduledAt, failures, retryInMs: retryAt - now, err });
      return undefined;
    }
    this.createRetries.delete(key);
    this.timers.delete(retryKey(jobId, s.id));
    this.logger.error('could not write a scheduled run within its starting deadline; the instant is recorded MISSED', { jobId, scheduleId: s.id, scheduledAt, failures, err });
    return { failures, error };
  }

  /** Forgets a schedule's pending store-write retry once its instant is handled (or the schedule restarted from a later time). */
  private settleCreateRetry(job: JobState, s: ScheduleSpec): void {
    const key = scheduleKey(job.record.spec.id, s.id);
    const retry = this.createRetries.get(key);
    const state = job.record.schedules[s.id];
    if (retry === undefined || (state !== undefined && retry.instant > state.handledUntil)) return;
    this.createRetries.delete(key);
    this.timers.delete(retryKey(job.record.spec.id, s.id));
  }

  /** Cancels a schedule's timers (removed schedule, deleted job). */
  private dropSchedule(jobId: string, scheduleId: string): void {
    this.timers.delete(scheduleKey(jobId, scheduleId));
    this.timers.delete(retryKey(jobId, scheduleId));
    this.createRetries.delete(scheduleKey(jobId, scheduleId));
  }

  /** A scheduled instant that did not run, as a finished run record (counted in the job's stats). */
  private async recordUnrun(job: JobState, s: ScheduleSpec, instant: number, status: 'MISSED' | 'SKIPPED', message: string, now: number): Promise<void> {
    const runId = runIdFor('SCHEDULE', instant, s.id);
    const state = job.record.schedules[s.id];
    const advance = (): void => {
      if (state !== undefined && instant > state.handledUntil) {
        state.handledUntil = instant;
        state.lastFireAt = instant;
      }
    };
    if (this.hasRun(job, runId)) {
      // The instant did run: its run was written just before a crash that lost handledUntil.
      advance();
      return;
    }
    const run: RunRecord = {
      jobId: job.record.spec.id,
      runId,
      trigger: 'SCHEDULE',
      scheduleId: s.id,
      scheduledAt: instant,
      status,
      createdAt: now,
      finishedAt: now,
      message,
      spec: job.record.spec.run,
      attempts: [],
    };
    this.logger.info(`scheduled instant ${status.toLowerCase()}`, { jobId: run.jobId, scheduleId: s.id, scheduledAt: new Date(instant).toISOString(), reason: message });
    try {
      await this.saveRun(run);
    } catch (err) {
      // Still listed and counted (in memory, and in the job record's stats): the instant is not
      // lost silently. If the job record is not written either, a restart handles it again.
      this.logger.error('could not write the record of a scheduled instant that did not run; it is kept in memory', { jobId: run.jobId, runId, status, err });
    }
    await this.addToHistory(job, run);
    advance();
  }

  private hasRun(job: JobState, runId: string): boolean {
    return job.active.has(runId) || job.history.some((r) => r.runId === runId);
  }

  // ------------------------------------------------------------------------------------------
  // Runs and attempts
  // ------------------------------------------------------------------------------------------

  /** Creates a run with its first attempt PENDING and persists it (the caller saves the job record). */
  private async createRun(job: JobState, trigger: RunTrigger, now: number, scheduled?: { scheduleId: string; scheduledAt: number; startBy: number }): Promise<RunRecord> {
    const jobId = job.record.spec.id;
    const base = runIdFor(trigger, scheduled?.scheduledAt ?? now, scheduled?.scheduleId);
    let runId = base;
    for (let n = 2; this.hasRun(job, runId); n++) runId = `${base}-${n}`;
    const run: RunRecord = {
      jobId,
      runId,
      trigger,
      ...(scheduled !== undefined ? scheduled : {}),
      status: 'INITIAL',
      createdAt: now,
      spec: job.record.spec.run,
      attempts: [newAttempt(jobId, runId, 1, now)],
    };
    await this.saveRun(run);
    job.active.set(runId, run);
    job.record.stats.lastRunCreatedAt = now;
    this.addPending(run);
    this.logger.info('run created', { jobId, runId, trigger });
    return run;
  }

  private addPending(run: RunRecord): void {
    const a = current(run);
    this.pending.set(runKey(run.jobId, run.runId), { jobId: run.jobId, runId: run.runId });
    let deadline = a.createdAt + run.spec.maxLaunchDelaySeconds * 1000;
    if (a.attempt === 1 && run.startBy !== undefined) deadline = Math.min(deadline, run.startBy);
    this.timers.set(launchKey(run.jobId, run.runId), deadline);
  }

  private forgetRun(run: RunRecord): void {
    const key = runKey(run.jobId, run.runId);
    this.pending.delete(key);
    this.rejections.delete(key);
    this.timers.delete(launchKey(run.jobId, run.runId));
    for (const a of run.attempts) {
      this.tasks.delete(a.taskId);
      this.unreconciled.delete(a.taskId);
    }
  }

  /** The launch deadline of a waiting run passed: MISSED (starting deadline) or FAILED (maxLaunchDelay). */
  private async launchDeadline(jobId: string, runId: string, now: number): Promise<void> {
    const job = this.jobs.get(jobId);
    const run = job?.active.get(runId);
    if (job === undefined || run === undefined) return;
    const a = current(run);
    if (a.phase !== 'PENDING') return;
    const lastOffer = this.rejections.get(runKey(jobId, runId));
    const why = lastOffer === undefined ? 'no offer was received' : `last offer: ${lastOffer}`;
    const maxDelayAt = a.createdAt + run.spec.maxLaunchDelaySeconds * 1000;
    if (a.attempt === 1 && run.startBy !== undefined && run.startBy < maxDelayAt) {
      await this.finishRun(job, run, 'MISSED', `not started within startingDeadlineSeconds of the scheduled instant ${new Date(run.scheduledAt!).toISOString()} (${why})`, now);
    } else {
      await this.finishRun(job, run, 'FAILED', `attempt ${a.attempt} found no fitting offer within maxLaunchDelaySeconds (${run.spec.maxLaunchDelaySeconds} s); ${why}`, now);
    }
  }

  /** Ends a run: history, stats, store; then dependents (on success) and the job's own deferred dependency trigger. */
  private async finishRun(job: JobState, run: RunRecord, status: RunStatus, message: string | undefined, now: number): Promise<void> {
    for (const a of run.attempts) {
      if (a.phase === 'PENDING') {
        a.phase = 'DONE';
        a.finishedAt = now;
        a.message ??= 'never launched';
      }
    }
    run.status = status;
    run.finishedAt = now;
    if (message !== undefined) run.message = message;
    this.forgetRun(run);
    job.active.delete(run.runId);
    await this.saveRun(run);
    await this.addToHistory(job, run);
    await this.saveJob(job);
    this.logger.info('run finished', { jobId: run.jobId, runId: run.runId, status, attempts: run.attempts.length, reason: message });
    if (status === 'SUCCESS') {
      for (const child of this.dependentsOf(run.jobId)) await this.evaluateDependencies(this.jobs.get(child)!, now);
    }
    await this.evaluateDependencies(job, now);
  }

  /** Adds a finished run to the history and the stats; drops the oldest beyond historySize. */
  private async addToHistory(job: JobState, run: RunRecord): Promise<void> {
    job.history.push(run);
    countFinishedRuns(job.record.stats, job.history);
    while (job.history.length > this.options.historySize) {
      const old = job.history.shift()!;
      await this.store.delete(runKey(old.jobId, old.runId));
    }
    const kept = new Set(job.history.map((r) => r.runId));
    job.record.stats.counted = job.record.stats.counted.filter((id) => kept.has(id));
  }

  private async evaluateDependencies(job: JobState, now: number): Promise<void> {
    const spec = job.record.spec;
    if (spec.dependencies.length === 0 || job.active.size > 0 || !this.jobs.has(spec.id)) return;
    const since = Math.max(job.record.stats.lastRunCreatedAt ?? -Infinity, job.record.dependenciesSince ?? job.record.createdAt);
    const ready = spec.dependencies.every((p) => {
      const last = this.jobs.get(p)?.record.stats.lastSuccessAt;
      return last !== undefined && last > since;
    });
    if (!ready) return;
    await this.createRun(job, 'DEPENDENCY', now);
    await this.saveJob(job);
  }

  private dependentsOf(jobId: string): string[] {
    return [...(this.children.get(jobId) ?? [])].sort(cmp);
  }

  /** Moves `child`'s edges in the reverse index from the parents `before` to the parents `after`. */
  private link(child: string, before: readonly string[], after: readonly string[]): void {
    for (const p of before) this.children.get(p)?.delete(child);
    for (const p of after) {
      let set = this.children.get(p);
      if (set === undefined) this.children.set(p, (set = new Set()));
      set.add(child);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Offers
  // ------------------------------------------------------------------------------------------

  private async placeOffers(offers: readonly Offer__Output[]): Promise<void> {
    const now = this.clock.now();
    const launches: { offer: Offer__Output; items: { run: RunRecord; attempt: AttemptRecord; task: TaskInfo }[] }[] = [];
    const unused: string[] = [];
    for (const offer of offers) {
      const candidate = offerCandidate(offer);
      let used = Resources.empty();
      const items: { run: RunRecord; attempt: AttemptRecord; task: TaskInfo }[] = [];
      for (const [key, ref] of this.pending) {
        const job = this.jobs.get(ref.jobId);
        const run = job?.active.get(ref.runId);
        if (job === undefined || run === undefined) {
          this.pending.delete(key);
          continue;
        }
        if (run.spec.constraints.length > 0) {
          const ok = checkConstraints(run.spec.constraints, candidate, this.placedTasks(job));
          if (!ok.ok) {
            this.rejections.set(key, `agent ${candidate.hostname}: ${ok.reason}`);
            continue;
          }
        }
        const fit = fitTask(offer, taskShape(run.spec), used);
        if (!fit.ok) {
          this.rejections.set(key, `agent ${candidate.hostname}: ${fit.message}`);
          continue;
        }
        used = used.plus(fit.taken);
        const a = current(run);
        if (a.phase !== 'PENDING') throw new Error(`invariant: attempt ${a.taskId} is ${a.phase}, not PENDING`);
        // Marked before the store write so that constraints of the next pending run see it.
        a.phase = 'LAUNCHED';
        a.agentId = offer.agent_id?.value ?? '';
        a.hostname = candidate.hostname;
        a.attributes = [...candidate.attributes] as Attribute[];
        if (candidate.domain !== undefined) a.domain = candidate.domain;
        a.launchedAt = now;
        run.status = 'STARTING';
        this.pending.delete(key);
        const task = buildTaskInfo({ jobId: run.jobId, runId: run.runId, attempt: a.attempt, taskId: a.taskId, spec: run.spec, offer, resources: fit.resources });
        items.push({ run, attempt: a, task });
      }
      if (items.length > 0) launches.push({ offer, items });
      else unused.push(offer.id?.value ?? '');
    }
    // Intent first: every attempt is LAUNCHED in the store before its LAUNCH is sent.
    for (const { offer, items } of launches) {
      const written = await Promise.allSettled(items.map((i) => this.saveRun(i.run)));
      const ok = items.filter((_, n) => written[n]!.status === 'fulfilled');
      items.forEach((i, n) => {
        if (written[n]!.status === 'rejected') {
          // Never sent: the attempt may stay PENDING (its task id is still unused).
          this.logger.error('could not persist a launch; the attempt waits for another offer', { taskId: i.attempt.taskId, err: (written[n] as PromiseRejectedResult).reason });
          this.revertToPending(i.run, i.attempt);
        }
      });
      if (ok.length === 0) {
        unused.push(offer.id?.value ?? '');
        continue;
      }
      for (const i of ok) {
        this.tasks.set(i.attempt.taskId, { jobId: i.run.jobId, runId: i.run.runId });
        this.timers.delete(launchKey(i.run.jobId, i.run.runId));
        this.rejections.delete(runKey(i.run.jobId, i.run.runId));
        this.logger.info('launching', { jobId: i.run.jobId, runId: i.run.runId, taskId: i.attempt.taskId, agentId: i.attempt.agentId });
      }
      this.scheduler.launch(offer, ok.map((i) => i.task), this.options.declineRefuseSeconds);
    }
    if (unused.length > 0) this.scheduler.decline(unused, this.pending.size > 0 ? this.options.declineRefuseSeconds : this.options.idleRefuseSeconds);
  }

  private revertToPending(run: RunRecord, a: AttemptRecord): void {
    a.phase = 'PENDING';
    delete a.agentId;
    delete a.hostname;
    delete a.attributes;
    delete a.domain;
    delete a.launchedAt;
    run.status = 'INITIAL';
    this.pending.set(runKey(run.jobId, run.runId), { jobId: run.jobId, runId: run.runId });
  }

  /** The agents of a job's launched attempts, for constraints ("placed" = the job's other runs). */
  private placedTasks(job: JobState): PlacementCandidate[] {
    const out: PlacementCandidate[] = [];
    for (const run of job.active.values()) {
      for (const a of run.attempts) {
        if (a.phase === 'LAUNCHED' && a.hostname !== undefined) out.push({ hostname: a.hostname, attributes: a.attributes ?? [], ...(a.domain !== undefined ? { domain: a.domain } : {}) });
      }
    }
    return out;
  }

  private syncOfferInterest(): void {
    if (this.stopped) return;
    if (this.pending.size > 0 && this.offerInterest !== 'revived') {
      this.scheduler.revive();
      this.offerInterest = 'revived';
    } else if (this.pending.size === 0 && this.offerInterest !== 'suppressed') {
      this.scheduler.suppress();
      this.offerInterest = 'suppressed';
    }
  }

  // ------------------------------------------------------------------------------------------
  // Status updates
  // ------------------------------------------------------------------------------------------

  private async applyStatus(status: TaskStatus__Output): Promise<void> {
    const taskId = status.task_id?.value ?? '';
    const state = status.state as TaskState;
    const where = this.tasks.get(taskId);
    const job = where === undefined ? undefined : this.jobs.get(where.jobId);
    const run = where === undefined ? undefined : job?.active.get(where.runId);
    const a = run?.attempts.find((x) => x.taskId === taskId);
    if (job === undefined || run === undefined || a === undefined || a.phase !== 'LAUNCHED') {
      // Not a task we expect to run: an older attempt reported alive again (after LOST), a deleted
      // job's task, a duplicate terminal update. A live one is killed, so one attempt = one task.
      if (!endsAttempt(state) && taskId !== '') {
        this.logger.warn('killing a task no run expects', { taskId, state });
        this.scheduler.kill(taskId, status.agent_id?.value || undefined);
      }
      return;
    }
    const now = this.clock.now();
    const wasUnreconciled = this.unreconciled.delete(taskId);
    if (!endsAttempt(state)) {
      if (a.taskState === state && !wasUnreconciled) return; // a repeat (reconciliation answer, resend)
      a.taskState = state;
      if (status.message) a.message = status.message;
      if (state === 'TASK_RUNNING') run.status = 'ACTIVE';
      else if ((state === 'TASK_STAGING' || state === 'TASK_STARTING') && run.status === 'INITIAL') run.status = 'STARTING';
      await this.saveRun(run);
      // A stop asked for before a restart: the kill may not have reached the master.
      if (run.stopRequested && wasUnreconciled) this.killAttempt(run, a);
      return;
    }
    a.taskState = state;
    a.phase = 'DONE';
    a.finishedAt = now;
    const detail = `${state}${status.reason && status.reason !== 'REASON_UNSPECIFIED' ? ` (${status.reason})` : ''}${status.message ? `: ${status.message}` : ''}`;
    a.message = detail;
    this.tasks.delete(taskId);
    if (run.stopRequested) {
      await this.finishRun(job, run, 'STOPPED', `stopped on request; task ended ${state}`, now);
      return;
    }
    if (state === 'TASK_FINISHED') {
      await this.finishRun(job, run, 'SUCCESS', undefined, now);
      return;
    }
    const decision = retryDecision(run, state, now);
    if (decision.retry) {
      const next = newAttempt(run.jobId, run.runId, a.attempt + 1, now);
      run.attempts.push(next);
      run.status = 'INITIAL';
      run.message = `attempt ${a.attempt} failed: ${detail}; retrying as attempt ${next.attempt}`;
      await this.saveRun(run);
      this.addPending(run);
      this.logger.info('retrying run', { jobId: run.jobId, runId: run.runId, attempt: next.attempt, taskId: next.taskId, previous: detail });
      return;
    }
    await this.finishRun(job, run, 'FAILED', `attempt ${a.attempt} failed: ${detail}; ${decision.why}`, now);
  }

  private killAttempt(run: RunRecord, a: AttemptRecord): void {
    const grace = run.spec.taskKillGracePeriodSeconds;
    this.scheduler.kill(a.taskId, a.agentId || undefined, grace === undefined ? undefined : grace * 1000);
  }

  // ------------------------------------------------------------------------------------------
  // Plumbing
  // ------------------------------------------------------------------------------------------

  private onDeadline(key: string, at: number): void {
    const [kind, jobId, id] = key.split('|') as [string, string, string];
    if (kind === 's') {
      this.onScheduleDue(jobId, id, at);
      return;
    }
    if (kind === 'c') {
      this.onCreateRetry(jobId, id);
      return;
    }
    const now = this.clock.now();
    void this.exclusive(() => this.launchDeadline(jobId, id, now)).catch((err) => this.logger.error('launch deadline handling failed', { jobId, runId: id, err }));
  }

  /** Runs `fn` after everything queued before it; offer interest is brought up to date after each step. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const step = this.queue.then(async () => {
      try {
        return await fn();
      } finally {
        this.syncOfferInterest();
      }
    });
    this.queue = step.catch(() => undefined);
    return step;
  }

  private job(id: string): JobState {
    const job = this.jobs.get(id);
    if (job === undefined) throw new JobsError('NOT_FOUND', `no job ${JSON.stringify(id)}`);
    return job;
  }

  private view(job: JobState, now: number): JobView {
    const spec = job.record.spec;
    return copy({
      spec,
      createdAt: job.record.createdAt,
      updatedAt: job.record.updatedAt,
      schedules: spec.schedules.map((s) => {
        const state = job.record.schedules[s.id];
        const armed = this.timers.get(scheduleKey(spec.id, s.id));
        const nextFireAt = !s.enabled ? undefined : armed ?? job.crons.get(s.id)?.next(Math.max(state?.handledUntil ?? now, now));
        return { spec: s, ...(nextFireAt !== undefined ? { nextFireAt } : {}), ...(state?.lastFireAt !== undefined ? { lastFireAt: state.lastFireAt } : {}) };
      }),
      activeRuns: [...job.active.values()].sort((a, b) => cmp(a.runId, b.runId)),
      stats: job.record.stats,
      dependents: this.dependentsOf(spec.id),
    });
  }

  private saveRun(run: RunRecord): Promise<void> {
    return this.store.put(runKey(run.jobId, run.runId), run);
  }

  private saveJob(job: JobState): Promise<void> {
    return this.store.put(jobKey(job.record.spec.id), job.record);
  }
}

function scheduleKey(jobId: string, scheduleId: string): string {
  return `s|${jobId}|${scheduleId}`;
}

function launchKey(jobId: string, runId: string): string {
  return `l|${jobId}|${runId}`;
}

/** The timer of a retried store write of a schedule's run. */
function retryKey(jobId: string, scheduleId: string): string {
  return `c|${jobId}|${scheduleId}`;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function copy<T>(v: T): T {
  return structuredClone(v);
}

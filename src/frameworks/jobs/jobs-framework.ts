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
 *
 * **Layout**: this file is the coordinator — the Framework handlers, the serial queue, start
 * (load, reconcile, catch up), the API calls and the dispatch of timer deadlines. It owns one
 * {@link JobsState} (state.ts: in-memory jobs, indexes, timers, store writes, history trimming) and
 * the parts that act on it: {@link Schedules} (schedules.ts), {@link Runs} (runs.ts: runs, attempts,
 * status updates, reconciliation, dependencies), {@link OfferPlacement} (offers.ts) and the API's
 * views (views.ts).
 */
import { JobsMetrics } from './metrics';
import type { GrpcServiceBinding } from '../../common/rpc/proto';
import type { FrameworkInfo } from '../../generated/berth/v1/FrameworkInfo';
import type { Offer__Output } from '../../generated/berth/v1/Offer';
import type { TaskStatus__Output } from '../../generated/berth/v1/TaskStatus';
import type { Framework, FrameworkContext, Registration } from '../sdk/framework';
import { jobsService, type JobsBackend } from './api';
import { CronSchedule } from './cron';
import { JobsError } from './errors';
import { checkDependencies, parseJobSpec, validateJobSpec } from './job-spec';
import { countFinishedRuns, current, emptyStats, isFinished, JOB_KEY_PREFIX, jobKey, RUN_KEY_PREFIX, runKey, type JobInput, type JobRecord, type RunRecord } from './model';
import { OfferPlacement } from './offers';
import { parseJobsOptions, type JobsOptions } from './options';
import { Runs } from './runs';
import { Schedules } from './schedules';
import { cmp, copy, JobsState, type JobState } from './state';
import { jobView, type JobView } from './views';

export type { JobView } from './views';

/** What PutJob takes: a JSON/YAML document, or an already parsed object. */
export type { JobInput } from './model';

export class JobsFramework implements Framework, JobsBackend {
  readonly options: JobsOptions;
  private readonly st: JobsState;
  private readonly runs: Runs;
  private readonly schedules: Schedules;
  private readonly placement: OfferPlacement;
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(context: FrameworkContext) {
    this.options = parseJobsOptions(context.options);
    const logger = context.logger.child({ component: 'jobs' });
    this.st = new JobsState(this.options, context.clock, logger, context.store, context.scheduler, (key, at) => this.onDeadline(key, at), new JobsMetrics(context.metrics));
    this.runs = new Runs(this.st);
    this.schedules = new Schedules(this.st, this.runs, (fn) => this.exclusive(fn));
    this.placement = new OfferPlacement(this.st);
  }

  // ------------------------------------------------------------------------------------------
  // Framework
  // ------------------------------------------------------------------------------------------

  frameworkInfo(): Partial<FrameworkInfo> & { readonly name: string } {
    const capabilities: FrameworkInfo['capabilities'] = [{ type: 'PARTITION_AWARE' }, { type: 'TASK_KILLING_STATE' }];
    if (this.st.options.gpus) capabilities.push({ type: 'GPU_RESOURCES' });
    return {
      name: this.st.options.name,
      roles: [...this.st.options.roles],
      failover_timeout: this.st.options.failoverTimeoutSeconds,
      capabilities,
      ...(this.st.options.user !== undefined ? { user: this.st.options.user } : {}),
      labels: { labels: [{ key: 'berth.framework', value: 'jobs' }] },
    };
  }

  registered(registration: Registration): Promise<void> {
    return this.exclusive(async () => {
      this.st.logger.info('registered', { frameworkId: registration.frameworkId, reregistered: registration.reregistered, master: registration.master });
      this.placement.forgetOfferInterest(); // say it again to this master
      // Every launched attempt, not only those loaded at start: after a re-subscription (and all
      // the more under a new framework id, when the master removed the framework and its tasks)
      // the master is the only one who knows whether they still run.
      this.runs.markLaunchedUnreconciled();
      this.runs.reconcileUnanswered();
      // Kills asked for before a disconnect may have been dropped: ask again.
      for (const job of this.st.jobs.values()) {
        for (const run of job.active.values()) {
          const a = current(run);
          if (run.stopRequested && a.phase === 'LAUNCHED') this.runs.killAttempt(run, a);
        }
      }
    });
  }

  offers(offers: readonly Offer__Output[]): Promise<void> {
    return this.exclusive(() => this.placement.placeOffers(offers));
  }

  statusUpdate(status: TaskStatus__Output): Promise<void> {
    return this.exclusive(() => this.runs.applyStatus(status));
  }

  disconnected(): void {
    // Nothing to undo: calls made while away are dropped by the driver, and `registered` re-sends
    // what matters (offer interest, kills, reconciliation).
    this.st.logger.warn('disconnected from the master');
  }

  grpcServices(): readonly GrpcServiceBinding[] {
    return [jobsService(this)];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.st.timers.close();
    await this.queue.catch(() => undefined);
  }

  /** Logs an unexpected error of an API call (the gRPC edge answers INTERNAL). */
  reportApiError(err: unknown): void {
    this.st.logger.error('unexpected error in a jobs API call', { err });
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
      const now = this.st.clock.now();
      for (const { value } of await this.st.store.list<JobRecord>(JOB_KEY_PREFIX)) {
        const crons = new Map<string, CronSchedule>();
        for (const s of value.spec.schedules) {
          const c = CronSchedule.tryCreate(s.cron, s.timezone);
          if (c.ok) crons.set(s.id, c.schedule);
          else this.st.logger.error('stored schedule no longer parses; it will not fire', { jobId: value.spec.id, scheduleId: s.id, reason: c.message });
        }
        this.st.jobs.set(value.spec.id, { record: value, crons, active: new Map(), history: [] });
        this.st.link(value.spec.id, [], value.spec.dependencies);
      }
      for (const { key, value: run } of await this.st.store.list<RunRecord>(RUN_KEY_PREFIX)) {
        const job = this.st.jobs.get(run.jobId);
        if (job === undefined) {
          // Left over by a DeleteJob interrupted between its writes; its tasks were killed then.
          await this.st.store.delete(key);
          continue;
        }
        if (isFinished(run.status)) {
          job.history.push(run);
          continue;
        }
        job.active.set(run.runId, run);
        const a = current(run);
        if (a.phase === 'PENDING') this.runs.addPending(run);
        else if (a.phase === 'LAUNCHED') {
          this.st.tasks.set(a.taskId, { jobId: run.jobId, runId: run.runId });
          this.st.unreconciled.add(a.taskId);
        }
      }
      for (const job of this.st.jobs.values()) {
        job.history.sort((a, b) => cmp(a.runId, b.runId));
        if (countFinishedRuns(job.record.stats, job.history)) await this.st.saveJob(job);
        // historySize may have been lowered since.
        await this.st.trimHistory(job);
      }
      this.runs.reconcileUnanswered();
      for (const job of this.st.jobs.values()) {
        for (const s of job.record.spec.schedules) await this.schedules.catchUp(job, s, now);
      }
      for (const job of this.st.jobs.values()) await this.runs.evaluateDependencies(job, now);
      this.st.logger.info('jobs loaded', { jobs: this.st.jobs.size, activeRuns: [...this.st.jobs.values()].reduce((n, j) => n + j.active.size, 0), reconciling: this.st.unreconciled.size });
    });
  }

  // ------------------------------------------------------------------------------------------
  // API (called by api.ts; each call is one step on the queue)
  // ------------------------------------------------------------------------------------------

  /**
   * Creates or replaces a job. `authorize` sees the job's id once the definition is valid, before
   * anything is stored (it throws to refuse). @throws ValidationError, or JobsError
   */
  putJob(input: JobInput, authorize: (id: string) => void = () => undefined): Promise<{ job: JobView; created: boolean }> {
    return this.exclusive(async () => {
      const now = this.st.clock.now();
      const spec = 'text' in input ? parseJobSpec(input.text, now) : validateJobSpec(input.definition, now);
      authorize(spec.id);
      checkDependencies(spec, { has: (id) => this.st.jobs.has(id), get: (id) => this.st.jobs.get(id)?.record.spec });
      const existing = this.st.jobs.get(spec.id);
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
      await this.st.store.put(jobKey(spec.id), record);
      const job: JobState = existing ?? { record, crons, active: new Map(), history: [] };
      job.record = record;
      job.crons = crons;
      this.st.jobs.set(spec.id, job);
      this.st.link(spec.id, prev?.spec.dependencies ?? [], spec.dependencies);
      for (const s of prev?.spec.schedules ?? []) if (!crons.has(s.id)) this.schedules.dropSchedule(spec.id, s.id);
      for (const s of spec.schedules) {
        const retry = this.schedules.pendingCreate(spec.id, s.id);
        if (retry !== undefined && retry.instant <= schedules[s.id]!.handledUntil) {
          // Changed or disabled: it starts from now, and the instant waiting for its store write goes.
          this.st.logger.warn('schedule changed: its instant waiting for a store write is dropped', { jobId: spec.id, scheduleId: s.id, scheduledAt: new Date(retry.instant).toISOString(), err: retry.error });
          this.schedules.settleCreateRetry(job, s);
        }
        this.schedules.armSchedule(job, s, Math.max(schedules[s.id]!.handledUntil, now));
      }
      this.st.logger.info(existing === undefined ? 'job created' : 'job updated', { jobId: spec.id });
      return { job: jobView(this.st, job, now), created: existing === undefined };
    });
  }

  /** @throws JobsError NOT_FOUND */
  getJob(id: string): Promise<JobView> {
    return this.exclusive(async () => jobView(this.st, this.st.job(id), this.st.clock.now()));
  }

  listJobs(prefix = ''): Promise<JobView[]> {
    return this.exclusive(async () => {
      const now = this.st.clock.now();
      return [...this.st.jobs.keys()].filter((id) => id.startsWith(prefix)).sort(cmp).map((id) => jobView(this.st, this.st.jobs.get(id)!, now));
    });
  }

  /** @throws JobsError NOT_FOUND, FAILED_PRECONDITION (dependents, active runs without `stopCurrentRuns`) */
  deleteJob(id: string, stopCurrentRuns = false): Promise<{ stoppedRunIds: string[] }> {
    return this.exclusive(async () => {
      const job = this.st.job(id);
      const dependents = this.st.dependentsOf(id);
      if (dependents.length > 0) throw new JobsError('FAILED_PRECONDITION', `job ${id} is a dependency of ${dependents.join(', ')}: change or delete those first`);
      if (job.active.size > 0 && !stopCurrentRuns) {
        throw new JobsError('FAILED_PRECONDITION', `job ${id} has active runs (${[...job.active.keys()].join(', ')}): stop them or pass stop_current_runs`);
      }
      const stopped: string[] = [];
      for (const run of job.active.values()) {
        const a = current(run);
        if (a.phase === 'LAUNCHED') this.runs.killAttempt(run, a);
        this.runs.forgetRun(run);
        stopped.push(run.runId);
      }
      for (const s of job.record.spec.schedules) this.schedules.dropSchedule(id, s.id);
      this.st.jobs.delete(id);
      this.st.link(id, job.record.spec.dependencies, []);
      this.st.children.delete(id);
      // The job first: runs without their job are cleaned up on the next start.
      await this.st.store.delete(jobKey(id));
      for (const run of [...job.active.values(), ...job.history]) await this.st.store.delete(runKey(id, run.runId));
      this.st.logger.info('job deleted', { jobId: id, stoppedRuns: stopped.length });
      return { stoppedRunIds: stopped };
    });
  }

  /** Run now. @throws JobsError NOT_FOUND */
  startRun(jobId: string): Promise<RunRecord> {
    return this.exclusive(async () => {
      const job = this.st.job(jobId);
      const run = await this.runs.createRun(job, 'MANUAL', this.st.clock.now());
      await this.st.saveJob(job);
      return copy(run);
    });
  }

  /** @throws JobsError NOT_FOUND, FAILED_PRECONDITION (already finished) */
  stopRun(jobId: string, runId: string): Promise<RunRecord> {
    return this.exclusive(async () => {
      const job = this.st.job(jobId);
      const run = job.active.get(runId);
      if (run === undefined) {
        const done = job.history.find((r) => r.runId === runId);
        if (done !== undefined) throw new JobsError('FAILED_PRECONDITION', `run ${runId} of job ${jobId} already ended ${done.status}`);
        throw new JobsError('NOT_FOUND', `job ${jobId} has no run ${runId}`);
      }
      const a = current(run);
      if (a.phase === 'PENDING') {
        await this.runs.finishRun(job, run, 'STOPPED', 'stopped before its task was launched', this.st.clock.now());
      } else {
        run.stopRequested = true;
        await this.st.saveRun(run);
        this.runs.killAttempt(run, a);
      }
      return copy(run);
    });
  }

  /** Active and retained finished runs, newest first. @throws JobsError NOT_FOUND */
  listRuns(jobId: string, limit = 0): Promise<{ runs: RunRecord[]; stats: JobRecord['stats'] }> {
    return this.exclusive(async () => {
      const job = this.st.job(jobId);
      const all = [...job.history, ...job.active.values()].sort((a, b) => cmp(b.runId, a.runId));
      return { runs: (limit > 0 ? all.slice(0, limit) : all).map(copy), stats: copy(job.record.stats) };
    });
  }

  // ------------------------------------------------------------------------------------------
  // Plumbing
  // ------------------------------------------------------------------------------------------

  private onDeadline(key: string, at: number): void {
    const [kind, jobId, id] = key.split('|') as [string, string, string];
    if (kind === 's') {
      this.schedules.onScheduleDue(jobId, id, at);
      return;
    }
    if (kind === 'c') {
      this.schedules.onCreateRetry(jobId, id);
      return;
    }
    const now = this.st.clock.now();
    void this.exclusive(() => this.runs.launchDeadline(jobId, id, now)).catch((err) => this.st.logger.error('launch deadline handling failed', { jobId, runId: id, err }));
  }

  /** Runs `fn` after everything queued before it; offer interest is brought up to date after each step. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const step = this.queue.then(async () => {
      try {
        return await fn();
      } finally {
        if (!this.stopped) this.placement.syncOfferInterest();
      }
    });
    this.queue = step.catch(() => undefined);
    return step;
  }
}

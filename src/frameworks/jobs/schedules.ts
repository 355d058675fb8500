/**
 * Schedules of the jobs framework: each schedule's next instant (croner in its IANA zone, see
 * cron.ts), catch-up after downtime and after late timers, MISSED/SKIPPED records of instants that
 * did not run, and the retries (with backoff, within the starting deadline) of a scheduled run whose
 * store write failed.
 *
 * Each schedule persists `handledUntil`; an instant is handled once (ran, SKIPPED by FORBID, or
 * MISSED), and a scheduled run's id is derived from its instant, so a restart never runs an instant
 * twice. Only the latest of several instants due at once may run; the earlier ones are MISSED.
 * The runs themselves are created through {@link Runs}.
 */
import type { ScheduleSpec } from './job-spec';
import { runIdFor, type RunRecord } from './model';
import type { Runs } from './runs';
import { errorMessage, retryKey, scheduleKey, type Exclusive, type JobsState, type JobState } from './state';

/** Instants enumerated per schedule when catching up after downtime (beyond: counted, not listed). */
const MAX_CATCH_UP_INSTANTS = 1000;
/** Backoff of the retries of a scheduled run's store write: doubling from the first, capped. */
const CREATE_RETRY_FIRST_MS = 1000;
const CREATE_RETRY_MAX_MS = 30_000;
/** Why instants are MISSED when several were due at once while the framework was running. */
const LATE_REASON = 'the schedule was handled late (its timer fired late: host suspended, event loop blocked or clock stepped)';
/** Why instants are MISSED when they came while the framework was not running. */
const DOWNTIME_REASON = 'the jobs framework was not running at the scheduled time';

export class Schedules {
  /** Scheduled instants whose run could not be written yet and waits for a retry (key: scheduleKey). */
  private readonly createRetries = new Map<string, { readonly instant: number; readonly failures: number; readonly error: string }>();
  /**
   * Schedules whose deadline came and whose work waits for the next step of the queue, in firing
   * order (key: scheduleKey), with the definition they fired under. All schedules due together —
   * 1,000 jobs at the top of a minute — are handled in one step, jobs side by side, so their
   * store writes overlap instead of queueing one after another behind each other's fsyncs.
   */
  private readonly due = new Map<string, { readonly jobId: string; readonly scheduleId: string; readonly cron: string; readonly timezone: string; readonly instant: number }>();

  constructor(
    private readonly st: JobsState,
    private readonly runs: Runs,
    private readonly exclusive: Exclusive,
  ) {}

  /** The instant waiting for a retried store write of its run, if any. */
  pendingCreate(jobId: string, scheduleId: string): { readonly instant: number; readonly error: string } | undefined {
    return this.createRetries.get(scheduleKey(jobId, scheduleId));
  }

  armSchedule(job: JobState, s: ScheduleSpec, after: number): void {
    const key = scheduleKey(job.record.spec.id, s.id);
    const cron = job.crons.get(s.id);
    const next = s.enabled && cron !== undefined ? cron.next(after) : undefined;
    if (next === undefined) this.st.timers.delete(key);
    else this.st.timers.set(key, next);
  }

  /** Handles the instants a schedule missed while the framework was not running, then arms it. */
  async catchUp(job: JobState, s: ScheduleSpec, now: number): Promise<void> {
    const state = job.record.schedules[s.id];
    if (state === undefined || !job.crons.has(s.id) || !s.enabled) return;
    await this.handleDue(job, s, now, DOWNTIME_REASON);
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
      const listed = cron.before(latest, Math.min(this.st.options.maxMissedRecords, older)).filter((t) => t > state.handledUntil);
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
        this.st.logger.warn('schedule instants missed', { jobId: job.record.spec.id, scheduleId: s.id, missed: truncated ? `at least ${older}` : older, reason: why });
      }
      await this.handleInstant(job, s, latest, now);
    }
    this.settleCreateRetry(job, s);
  }

  /**
   * A schedule's deadline came (synchronously, from the timer, for every schedule due at once):
   * queue the work. Nothing costly happens here — the next instant is computed by the work, after
   * the run is created, so that the thousandth schedule of a minute does not wait for 999 cron
   * evaluations before its run exists.
   */
  onScheduleDue(jobId: string, scheduleId: string, instant: number): void {
    const job = this.st.jobs.get(jobId);
    const s = job?.record.spec.schedules.find((x) => x.id === scheduleId);
    if (job === undefined || s === undefined) return;
    const first = this.due.size === 0;
    this.due.set(scheduleKey(jobId, scheduleId), { jobId, scheduleId, cron: s.cron, timezone: s.timezone, instant });
    if (first) void this.exclusive(() => this.handleDueSchedules());
  }

  /** One step for every schedule that came due since the last: each job's in order, jobs in parallel. */
  private async handleDueSchedules(): Promise<void> {
    const byJob = new Map<string, { scheduleId: string; cron: string; timezone: string; instant: number }[]>();
    for (const d of this.due.values()) {
      let list = byJob.get(d.jobId);
      if (list === undefined) byJob.set(d.jobId, (list = []));
      list.push(d);
    }
    this.due.clear();
    // The time the work runs, not the time the timers fired: instants that came meanwhile are
    // handled together (only the latest may run), as after a restart. One time for the whole
    // step: the schedules are handled side by side, and the thousandth's cron arithmetic must not
    // count as its lateness.
    const now = this.st.clock.now();
    await Promise.all([...byJob].map(async ([jobId, list]) => {
      for (const { scheduleId, cron, timezone, instant } of list) {
        const j = this.st.jobs.get(jobId);
        const cur = j?.record.spec.schedules.find((x) => x.id === scheduleId);
        // Changed or removed since it fired: the new definition decides (PutJob re-armed it).
        if (j === undefined || cur === undefined || !cur.enabled || cur.cron !== cron || cur.timezone !== timezone) continue;
        try {
          await this.handleDue(j, cur, now, LATE_REASON);
        } catch (err) {
          this.st.logger.error('schedule handling failed', { jobId, scheduleId, err });
        } finally {
          // The next instant after now, not after `instant`: a late timer does not fire once per
          // missed instant; the work above handled every instant due by then, at once.
          if (this.st.timers.get(scheduleKey(jobId, scheduleId)) === undefined) this.armSchedule(j, cur, Math.max(instant, this.st.clock.now()));
        }
      }
    }));
  }

  /** The retry of a scheduled run's store write is due. */
  onCreateRetry(jobId: string, scheduleId: string): void {
    void this.exclusive(async () => {
      const key = scheduleKey(jobId, scheduleId);
      if (!this.createRetries.has(key)) return;
      const j = this.st.jobs.get(jobId);
      const cur = j?.record.spec.schedules.find((x) => x.id === scheduleId);
      if (j === undefined || cur === undefined || !cur.enabled) {
        this.createRetries.delete(key);
        return;
      }
      await this.handleDue(j, cur, this.st.clock.now(), LATE_REASON);
    }).catch((err) => this.st.logger.error('schedule handling failed', { jobId, scheduleId, err }));
  }

  /** One scheduled instant: run, SKIPPED (FORBID) or MISSED (too late). Idempotent per instant. */
  private async handleInstant(job: JobState, s: ScheduleSpec, instant: number, now: number): Promise<void> {
    const state = job.record.schedules[s.id];
    if (state === undefined || instant <= state.handledUntil) return;
    const runId = runIdFor('SCHEDULE', instant, s.id);
    const deadline = instant + s.startingDeadlineSeconds * 1000;
    if (this.st.hasRun(job, runId)) {
      // Created before a restart that came before handledUntil was written.
    } else if (now > deadline) {
      const retry = this.createRetries.get(scheduleKey(job.record.spec.id, s.id));
      const unwritten = retry?.instant === instant ? ` (its run could not be written to the store: ${retry.error})` : '';
      await this.recordUnrun(job, s, instant, 'MISSED', `starting deadline (${s.startingDeadlineSeconds} s) passed before the run could start${unwritten}`, now);
    } else if (s.concurrencyPolicy === 'FORBID' && job.active.size > 0) {
      await this.recordUnrun(job, s, instant, 'SKIPPED', `concurrencyPolicy FORBID: run(s) ${[...job.active.keys()].join(', ')} still active`, now);
    } else {
      try {
        await this.runs.createRun(job, 'SCHEDULE', now, { scheduleId: s.id, scheduledAt: instant, startBy: deadline });
      } catch (err) {
        const failed = this.retryCreateLater(job, s, instant, deadline, now, err);
        if (failed === undefined) {
          // Not handled yet (handledUntil stays before it); what was handled before it is kept.
          await this.st.saveJob(job).catch((e: unknown) => this.st.logger.warn('could not write the job record; written with its next change', { jobId: job.record.spec.id, err: e }));
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
    await this.st.saveJob(job);
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
      this.st.timers.set(retryKey(jobId, s.id), retryAt);
      this.st.logger.warn('could not write a scheduled run; retrying', { jobId, scheduleId: s.id, scheduledAt, failures, retryInMs: retryAt - now, err });
      return undefined;
    }
    this.createRetries.delete(key);
    this.st.timers.delete(retryKey(jobId, s.id));
    this.st.logger.error('could not write a scheduled run within its starting deadline; the instant is recorded MISSED', { jobId, scheduleId: s.id, scheduledAt, failures, err });
    return { failures, error };
  }

  /** Forgets a schedule's pending store-write retry once its instant is handled (or the schedule restarted from a later time). */
  settleCreateRetry(job: JobState, s: ScheduleSpec): void {
    const key = scheduleKey(job.record.spec.id, s.id);
    const retry = this.createRetries.get(key);
    const state = job.record.schedules[s.id];
    if (retry === undefined || (state !== undefined && retry.instant > state.handledUntil)) return;
    this.createRetries.delete(key);
    this.st.timers.delete(retryKey(job.record.spec.id, s.id));
  }

  /** Cancels a schedule's timers (removed schedule, deleted job). */
  dropSchedule(jobId: string, scheduleId: string): void {
    this.st.timers.delete(scheduleKey(jobId, scheduleId));
    this.st.timers.delete(retryKey(jobId, scheduleId));
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
    if (this.st.hasRun(job, runId)) {
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
    this.st.logger.info(`scheduled instant ${status.toLowerCase()}`, { jobId: run.jobId, scheduleId: s.id, scheduledAt: new Date(instant).toISOString(), reason: message });
    try {
      await this.st.saveRun(run);
    } catch (err) {
      // Still listed and counted (in memory, and in the job record's stats): the instant is not
      // lost silently. If the job record is not written either, a restart handles it again.
      this.st.logger.error('could not write the record of a scheduled instant that did not run; it is kept in memory', { jobId: run.jobId, runId, status, err });
    }
    await this.st.addToHistory(job, run);
    advance();
  }
}

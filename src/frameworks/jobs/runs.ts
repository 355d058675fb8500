/**
 * Runs and attempts of the jobs framework: creating a run (first attempt PENDING, with its launch
 * deadline), status updates of launched attempts (restart policy: a retry is a new attempt with the
 * next task id), launch deadlines (MISSED past the starting deadline, FAILED past
 * maxLaunchDelaySeconds), kills, ending a run (history, stats), reconciliation of LAUNCHED attempts
 * with the master, and dependencies (Chronos: a job with parents runs when every parent's last
 * success is later than both its last run and the moment its dependency list was set; re-checked
 * when a parent succeeds and when the job's own active run ends).
 *
 * Launching on offers is in offers.ts; schedules (which create runs through this) in schedules.ts.
 */
import type { TaskStatus__Output } from '../../generated/berth/v1/TaskStatus';
import { current, endsAttempt, newAttempt, retryDecision, runIdFor, runKey, type AttemptRecord, type RunRecord, type RunStatus, type RunTrigger, type TaskState } from './model';
import { launchKey, type JobsState, type JobState } from './state';

export class Runs {
  constructor(private readonly st: JobsState) {}

  /** Every LAUNCHED attempt of an active run waits for the master's answer again. */
  markLaunchedUnreconciled(): void {
    for (const job of this.st.jobs.values()) {
      for (const run of job.active.values()) {
        for (const a of run.attempts) {
          if (a.phase !== 'LAUNCHED') continue;
          this.st.tasks.set(a.taskId, { jobId: run.jobId, runId: run.runId });
          this.st.unreconciled.add(a.taskId);
        }
      }
    }
  }

  reconcileUnanswered(): void {
    if (this.st.unreconciled.size === 0) return;
    const list: { taskId: string; agentId?: string }[] = [];
    for (const taskId of this.st.unreconciled) {
      const where = this.st.tasks.get(taskId);
      const run = where === undefined ? undefined : this.st.jobs.get(where.jobId)?.active.get(where.runId);
      const agentId = run === undefined ? undefined : current(run).agentId;
      list.push(agentId === undefined ? { taskId } : { taskId, agentId });
    }
    this.st.scheduler.reconcile(list);
  }

  /** Creates a run with its first attempt PENDING and persists it (the caller saves the job record). */
  async createRun(job: JobState, trigger: RunTrigger, now: number, scheduled?: { scheduleId: string; scheduledAt: number; startBy: number }): Promise<RunRecord> {
    const jobId = job.record.spec.id;
    const base = runIdFor(trigger, scheduled?.scheduledAt ?? now, scheduled?.scheduleId);
    let runId = base;
    for (let n = 2; this.st.hasRun(job, runId); n++) runId = `${base}-${n}`;
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
    await this.st.saveRun(run);
    this.st.metrics.runCreated(run);
    job.active.set(runId, run);
    job.record.stats.lastRunCreatedAt = now;
    this.addPending(run);
    this.st.logger.info('run created', { jobId, runId, trigger });
    return run;
  }

  addPending(run: RunRecord): void {
    const a = current(run);
    this.st.pending.set(runKey(run.jobId, run.runId), { jobId: run.jobId, runId: run.runId });
    let deadline = a.createdAt + run.spec.maxLaunchDelaySeconds * 1000;
    if (a.attempt === 1 && run.startBy !== undefined) deadline = Math.min(deadline, run.startBy);
    this.st.timers.set(launchKey(run.jobId, run.runId), deadline);
  }

  forgetRun(run: RunRecord): void {
    const key = runKey(run.jobId, run.runId);
    this.st.pending.delete(key);
    this.st.rejections.delete(key);
    this.st.timers.delete(launchKey(run.jobId, run.runId));
    for (const a of run.attempts) {
      this.st.tasks.delete(a.taskId);
      this.st.unreconciled.delete(a.taskId);
    }
  }

  /** The launch deadline of a waiting run passed: MISSED (starting deadline) or FAILED (maxLaunchDelay). */
  async launchDeadline(jobId: string, runId: string, now: number): Promise<void> {
    const job = this.st.jobs.get(jobId);
    const run = job?.active.get(runId);
    if (job === undefined || run === undefined) return;
    const a = current(run);
    if (a.phase !== 'PENDING') return;
    const lastOffer = this.st.rejections.get(runKey(jobId, runId));
    const why = lastOffer === undefined ? 'no offer was received' : `last offer: ${lastOffer}`;
    const maxDelayAt = a.createdAt + run.spec.maxLaunchDelaySeconds * 1000;
    if (a.attempt === 1 && run.startBy !== undefined && run.startBy < maxDelayAt) {
      await this.finishRun(job, run, 'MISSED', `not started within startingDeadlineSeconds of the scheduled instant ${new Date(run.scheduledAt!).toISOString()} (${why})`, now);
    } else {
      await this.finishRun(job, run, 'FAILED', `attempt ${a.attempt} found no fitting offer within maxLaunchDelaySeconds (${run.spec.maxLaunchDelaySeconds} s); ${why}`, now);
    }
  }

  /** Ends a run: history, stats, store; then dependents (on success) and the job's own deferred dependency trigger. */
  async finishRun(job: JobState, run: RunRecord, status: RunStatus, message: string | undefined, now: number): Promise<void> {
    this.st.metrics.runEnded(status);
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
    await this.st.saveRun(run);
    await this.st.addToHistory(job, run);
    await this.st.saveJob(job);
    this.st.logger.info('run finished', { jobId: run.jobId, runId: run.runId, status, attempts: run.attempts.length, reason: message });
    if (status === 'SUCCESS') {
      for (const child of this.st.dependentsOf(run.jobId)) await this.evaluateDependencies(this.st.jobs.get(child)!, now);
    }
    await this.evaluateDependencies(job, now);
  }

  async evaluateDependencies(job: JobState, now: number): Promise<void> {
    const spec = job.record.spec;
    if (spec.dependencies.length === 0 || job.active.size > 0 || !this.st.jobs.has(spec.id)) return;
    const since = Math.max(job.record.stats.lastRunCreatedAt ?? -Infinity, job.record.dependenciesSince ?? job.record.createdAt);
    const ready = spec.dependencies.every((p) => {
      const last = this.st.jobs.get(p)?.record.stats.lastSuccessAt;
      return last !== undefined && last > since;
    });
    if (!ready) return;
    await this.createRun(job, 'DEPENDENCY', now);
    await this.st.saveJob(job);
  }

  async applyStatus(status: TaskStatus__Output): Promise<void> {
    const taskId = status.task_id?.value ?? '';
    const state = status.state as TaskState;
    const where = this.st.tasks.get(taskId);
    const job = where === undefined ? undefined : this.st.jobs.get(where.jobId);
    const run = where === undefined ? undefined : job?.active.get(where.runId);
    const a = run?.attempts.find((x) => x.taskId === taskId);
    if (job === undefined || run === undefined || a === undefined || a.phase !== 'LAUNCHED') {
      // Not a task we expect to run: an older attempt reported alive again (after LOST), a deleted
      // job's task, a duplicate terminal update. A live one is killed, so one attempt = one task.
      if (!endsAttempt(state) && taskId !== '') {
        this.st.logger.warn('killing a task no run expects', { taskId, state });
        this.st.scheduler.kill(taskId, status.agent_id?.value || undefined);
      }
      return;
    }
    const now = this.st.clock.now();
    const wasUnreconciled = this.st.unreconciled.delete(taskId);
    if (!endsAttempt(state)) {
      if (a.taskState === state && !wasUnreconciled) return; // a repeat (reconciliation answer, resend)
      a.taskState = state;
      if (status.message) a.message = status.message;
      if (state === 'TASK_RUNNING') run.status = 'ACTIVE';
      else if ((state === 'TASK_STAGING' || state === 'TASK_STARTING') && run.status === 'INITIAL') run.status = 'STARTING';
      await this.st.saveRun(run);
      // A stop asked for before a restart: the kill may not have reached the master.
      if (run.stopRequested && wasUnreconciled) this.killAttempt(run, a);
      return;
    }
    a.taskState = state;
    a.phase = 'DONE';
    a.finishedAt = now;
    const detail = `${state}${status.reason && status.reason !== 'REASON_UNSPECIFIED' ? ` (${status.reason})` : ''}${status.message ? `: ${status.message}` : ''}`;
    a.message = detail;
    this.st.tasks.delete(taskId);
    if (run.stopRequested) {
      await this.finishRun(job, run, 'STOPPED', `stopped on request; task ended ${state}`, now);
      return;
    }
    if (state === 'TASK_FINISHED') {
      // After retries the message tells of the last failure; say how it ended instead.
      const retried = a.attempt > 1 ? `succeeded on attempt ${a.attempt} after ${a.attempt - 1} failed` : undefined;
      await this.finishRun(job, run, 'SUCCESS', retried, now);
      return;
    }
    const decision = retryDecision(run, state, now);
    if (decision.retry) {
      const next = newAttempt(run.jobId, run.runId, a.attempt + 1, now);
      run.attempts.push(next);
      run.status = 'INITIAL';
      run.message = `attempt ${a.attempt} failed: ${detail}; retrying as attempt ${next.attempt}`;
      await this.st.saveRun(run);
      this.addPending(run);
      this.st.logger.info('retrying run', { jobId: run.jobId, runId: run.runId, attempt: next.attempt, taskId: next.taskId, previous: detail });
      return;
    }
    await this.finishRun(job, run, 'FAILED', `attempt ${a.attempt} failed: ${detail}; ${decision.why}`, now);
  }

  killAttempt(run: RunRecord, a: AttemptRecord): void {
    const grace = run.spec.taskKillGracePeriodSeconds;
    this.st.scheduler.kill(a.taskId, a.agentId || undefined, grace === undefined ? undefined : grace * 1000);
  }
}

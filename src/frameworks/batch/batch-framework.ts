/**
 * The batch framework: queues with nominal quota in cohorts, and batch jobs that each run as one
 * gang of N tasks (docs/batch.md).
 *
 * Everything that changes state — framework events, deadline timers and API calls — runs one at a
 * time on an internal queue, and each change is written to `context.store` before it acts on the
 * cluster. After every change {@link BatchFramework.reschedule} asks the admission core
 * (admission.ts) what to admit and whom to evict, and brings the gang demand up to date:
 *
 * 1. a job is submitted PENDING in its queue (refused at once if it could never fit: cluster-size.ts,
 *    job-spec.ts `checkJobFits`);
 * 2. admitted, it holds quota and its attempt's gang (`<job>.<attempt>`) is declared in the demand;
 * 3. when the master offers the gang whole, the attempt's tasks are written LAUNCHED, then launched
 *    with one ACCEPT_GANG (`launchGang`), and the gang leaves the demand — the job is RUNNING;
 * 4. every task TASK_FINISHED: SUCCEEDED. Any task ending otherwise fails the attempt: the others are
 *    killed, and with a retry left a new attempt (a new gang, new task ids) keeps the quota;
 *    without, the job is FAILED;
 * 5. reclaimed (its queue borrowed what a sibling now needs back): its tasks are killed and it is
 *    PENDING again in its queue — a reclaim is not a failure and costs no retry;
 * 6. the deadline (from submission) or KillJob kill its tasks and end it FAILED / KILLED.
 *
 * Task updates of an attempt that already ended are only recorded. A task reported alive that no
 * attempt expects (a job deleted while away) is killed.
 */
import type { Clock, TimerHandle } from '../../common/clock';
import type { Logger } from '../../common/logging';
import type { GrpcServiceBinding } from '../../common/rpc/proto';
import type { FrameworkInfo } from '../../generated/berth/v1/FrameworkInfo';
import type { Offer__Output } from '../../generated/berth/v1/Offer';
import type { TaskStatus__Output } from '../../generated/berth/v1/TaskStatus';
import type { Framework, FrameworkContext, Registration, SchedulerApi } from '../sdk/framework';
import { planGang, type GangOffer, type GangLaunch } from '../sdk/gangs';
import type { KeyValueStore } from '../sdk/store';
import { TERMINAL_STATES } from '../sdk/task-reconciler';
import { decide } from './admission';
import { batchService } from './api';
import { MasterClusterSource, type ClusterSource } from './cluster-size';
import { BatchError } from './errors';
import { checkJobFits, parseBatchJob } from './job-spec';
import { COUNTERS_KEY, currentAttempt, ENDED, HOLDS_QUOTA, JOB_KEY_PREFIX, jobKey, QUEUE_KEY_PREFIX, queueKey, type AttemptOutcome, type BatchJobRecord, type Counters } from './model';
import { parseBatchOptions, type BatchOptions } from './options';
import { checkQueueSet, parseQueues, type QueueSpec } from './queue-spec';
import { endAttempt, gangDemandOf, startAttempt, workloadOf } from './lifecycle';
import { batchTaskBuilder, batchTaskId, batchTaskShape } from './task-builder';
import { jobView, queueViews, type JobView, type QueueView } from './views';

export class BatchFramework implements Framework {
  readonly options: BatchOptions;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly store: KeyValueStore;
  private readonly scheduler: SchedulerApi;
  private readonly cluster: ClusterSource;
  readonly queues = new Map<string, QueueSpec>();
  readonly jobs = new Map<string, BatchJobRecord>();
  private counters: Counters = { submitted: 0, admitted: 0 };
  /** Why each pending job waits (from the last admission round). */
  private readonly reasons = new Map<string, string>();
  /** Task id → job id, for every task of every attempt kept. */
  private readonly tasks = new Map<string, string>();
  private readonly deadlines = new Map<string, TimerHandle>();
  private master: string | undefined;
  private declared = '';
  private work: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(context: FrameworkContext, cluster?: ClusterSource) {
    this.options = parseBatchOptions(context.options);
    this.clock = context.clock;
    this.logger = context.logger.child({ component: 'batch' });
    this.store = context.store;
    this.scheduler = context.scheduler;
    this.cluster = cluster ?? new MasterClusterSource(() => this.master, this.logger);
  }

  // ---- Framework ----

  frameworkInfo(): Partial<FrameworkInfo> & { readonly name: string } {
    return {
      name: this.options.name,
      roles: [this.options.role],
      failover_timeout: this.options.failoverTimeoutSeconds,
      capabilities: [{ type: 'PARTITION_AWARE' }, { type: 'TASK_KILLING_STATE' }],
      labels: { labels: [{ key: 'berth.framework', value: 'batch' }] },
      demand: this.demand(),
    };
  }

  registered(registration: Registration): Promise<void> {
    return this.exclusive(async () => {
      this.master = registration.master;
      this.logger.info('registered', { frameworkId: registration.frameworkId, reregistered: registration.reregistered });
      this.declared = '';
      // The master is the one who knows whether launched tasks still run; kills of ended attempts may have been lost.
      const ask: { taskId: string; agentId?: string }[] = [];
      for (const job of this.jobs.values()) {
        for (const a of job.attempts) {
          for (const t of a.tasks) {
            if (t.state !== undefined && TERMINAL_STATES.has(t.state)) continue;
            if (a.outcome === undefined) ask.push({ taskId: t.taskId, ...(t.agentId !== undefined ? { agentId: t.agentId } : {}) });
            else this.scheduler.kill(t.taskId, t.agentId, this.options.killGracePeriodMs);
          }
        }
      }
      if (ask.length > 0) this.scheduler.reconcile(ask);
    });
  }

  offers(offers: readonly Offer__Output[]): Promise<void> {
    // Its demand holds gangs only: an ordinary offer is not wanted.
    this.scheduler.decline(offers.map((o) => o.id?.value ?? ''), { refuseSeconds: 60 });
    return Promise.resolve();
  }

  gangOffers(gang: GangOffer): Promise<void> {
    return this.exclusive(async () => {
      const jobId = gang.gangId.slice(0, gang.gangId.lastIndexOf('.'));
      const job = this.jobs.get(jobId);
      const attempt = job === undefined ? undefined : currentAttempt(job);
      if (job === undefined || attempt === undefined || attempt.gangId !== gang.gangId || attempt.launchedAt !== undefined || job.state !== 'ADMITTED') {
        this.scheduler.declineGang(gang.gangId, { refuseSeconds: 3600 });
        return;
      }
      const build = batchTaskBuilder(job.id, attempt.attempt, job.spec, this.options.killGracePeriodMs);
      const agents: string[] = [];
      let launches: GangLaunch[];
      try {
        launches = planGang(gang, batchTaskShape(job.spec), job.spec.tasks, (i, offer, fit) => {
          agents[i] = offer.agent_id?.value ?? '';
          return build(i, offer, fit);
        });
      } catch (err) {
        this.logger.error('a gang offer does not fit its declared shape; declined', { gangId: gang.gangId, err });
        this.scheduler.declineGang(gang.gangId);
        return;
      }
      // Intent first: a restart after this reconciles these tasks instead of launching them again.
      attempt.launchedAt = this.clock.now();
      attempt.tasks = agents.map((agentId, index) => ({ taskId: batchTaskId(job.id, attempt.attempt, index), index, agentId, state: 'TASK_STAGING' }));
      for (const t of attempt.tasks) this.tasks.set(t.taskId, job.id);
      job.state = 'RUNNING';
      await this.save(job);
      this.scheduler.acceptGang(gang.gangId, launches);
      this.logger.info('gang launched', { jobId: job.id, attempt: attempt.attempt, tasks: job.spec.tasks, agents: gang.offers.length });
    });
  }

  statusUpdate(status: TaskStatus__Output): Promise<void> {
    return this.exclusive(async () => {
      const taskId = status.task_id?.value ?? '';
      const job = this.jobs.get(this.tasks.get(taskId) ?? '');
      const attempt = job?.attempts.find((a) => a.tasks.some((t) => t.taskId === taskId));
      const task = attempt?.tasks.find((t) => t.taskId === taskId);
      if (job === undefined || attempt === undefined || task === undefined) {
        if (!TERMINAL_STATES.has(status.state)) this.scheduler.kill(taskId, status.agent_id?.value);
        return;
      }
      task.state = status.state;
      if (attempt.outcome !== undefined || currentAttempt(job) !== attempt) {
        await this.save(job);
        return;
      }
      if (status.state === 'TASK_FINISHED') {
        if (attempt.tasks.every((t) => t.state === 'TASK_FINISHED')) this.finish(job, 'SUCCEEDED', 'SUCCEEDED', `all ${job.spec.tasks} tasks finished`);
      } else if (status.state === 'TASK_KILLED' && status.reason === 'REASON_CONTAINER_PREEMPTED') {
        // The master took the gang's resources for a higher priority (docs/preemption.md): not the
        // job's failure — it keeps its quota, uses no retry, and its gang is declared again.
        this.endAttempt(job, 'PREEMPTED', `task ${taskId} ${status.message || 'was preempted'}`);
        startAttempt(job);
        job.state = 'ADMITTED';
      } else if (TERMINAL_STATES.has(status.state)) {
        const why = `task ${taskId} ended ${status.state}${status.message ? `: ${status.message}` : ''}`;
        job.failures++;
        if (job.failures <= job.spec.retries) {
          this.endAttempt(job, 'FAILED', `${why}; retrying (${job.failures} of ${job.spec.retries} retries used)`);
          startAttempt(job);
          job.state = 'ADMITTED';
        } else {
          this.finish(job, 'FAILED', 'FAILED', job.spec.retries === 0 ? why : `${why}; no retry left (${job.spec.retries} used)`);
        }
      }
      await this.save(job);
      await this.reschedule();
    });
  }

  error(message: string): Promise<void> {
    return this.exclusive(async () => {
      // The master refuses a declared gang it can never place (larger than the cluster): that job fails with its words.
      for (const job of this.jobs.values()) {
        const a = currentAttempt(job);
        if (a === undefined || !message.includes(`"${a.gangId}"`)) continue;
        if (a.launchedAt !== undefined && message.includes('accept_gang')) {
          // A refused ACCEPT_GANG launched nothing: declare the gang again.
          for (const t of a.tasks) this.tasks.delete(t.taskId);
          delete a.launchedAt;
          a.tasks = [];
          job.state = 'ADMITTED';
        } else if (a.launchedAt === undefined) {
          this.finish(job, 'FAILED', 'FAILED', `the master refused its gang: ${message}`);
        } else continue;
        await this.save(job);
        await this.reschedule();
        return;
      }
      this.logger.warn('error from the master', { message });
    });
  }

  gangRescinded(gangId: string, reason: string): void {
    this.logger.info('gang offer rescinded; it is offered again when it fits', { gangId, reason });
  }

  grpcServices(): readonly GrpcServiceBinding[] {
    return [batchService(this)];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.deadlines.values()) this.clock.clearTimeout(t);
    this.deadlines.clear();
    this.cluster.close();
    await this.work.catch(() => undefined);
  }

  /** Resolves when every queued piece of work has run. For tests. */
  async idle(): Promise<void> {
    for (;;) {
      const w = this.work;
      await w.catch(() => undefined);
      if (w === this.work) return;
    }
  }

  /** Logs an unexpected error of an API call (answered INTERNAL). */
  reportApiError(err: unknown): void {
    this.logger.error('unexpected error in a batch API call', { err });
  }

  // ---- start ----

  /** Loads queues, jobs and counters from the store and re-arms deadlines. */
  start(): Promise<void> {
    return this.exclusive(async () => {
      for (const { value } of await this.store.list<QueueSpec>(QUEUE_KEY_PREFIX)) this.queues.set(value.name, value);
      this.counters = (await this.store.get<Counters>(COUNTERS_KEY)) ?? this.counters;
      for (const { value } of await this.store.list<BatchJobRecord>(JOB_KEY_PREFIX)) {
        this.jobs.set(value.id, value);
        for (const a of value.attempts) for (const t of a.tasks) this.tasks.set(t.taskId, value.id);
        this.armDeadline(value);
      }
      await this.reschedule();
      this.logger.info('batch loaded', { queues: this.queues.size, jobs: this.jobs.size });
    });
  }

  // ---- API (api.ts) ----

  /** Creates or updates queues. @throws ValidationError */
  async applyQueues(text: string): Promise<{ queues: QueueView[]; created: string[] }> {
    const applied = parseQueues(text);
    const size = await this.cluster.size();
    return this.exclusive(async () => {
      checkQueueSet([...this.queues.values()], applied, size?.total);
      const created = applied.filter((q) => !this.queues.has(q.name)).map((q) => q.name);
      for (const q of applied) {
        await this.store.put(queueKey(q.name), q);
        this.queues.set(q.name, q);
      }
      await this.reschedule();
      const names = new Set(applied.map((q) => q.name));
      return { queues: this.queueViews().filter((v) => names.has(v.spec.name)), created };
    });
  }

  listQueues(): Promise<QueueView[]> {
    return this.exclusive(async () => this.queueViews());
  }

  /** @throws BatchError NOT_FOUND */
  getQueue(name: string): Promise<{ queue: QueueView; jobs: JobView[] }> {
    return this.exclusive(async () => {
      const queue = this.queueViews().find((v) => v.spec.name === name);
      if (queue === undefined) throw this.noQueue(name);
      return { queue, jobs: [...this.jobs.values()].filter((j) => j.spec.queue === name && !ENDED.has(j.state)).sort((a, b) => a.seq - b.seq).map((j) => this.view(j)) };
    });
  }

  /** @throws BatchError NOT_FOUND, FAILED_PRECONDITION (jobs that have not ended); ValidationError (another queue's borrowing limit needs it) */
  deleteQueue(name: string): Promise<void> {
    return this.exclusive(async () => {
      if (!this.queues.has(name)) throw this.noQueue(name);
      const left = [...this.jobs.values()].filter((j) => j.spec.queue === name && !ENDED.has(j.state)).sort((a, b) => a.seq - b.seq);
      if (left.length > 0) throw new BatchError('FAILED_PRECONDITION', `queue ${name} still has ${left.length} job(s) that have not ended: ${left.slice(0, 10).map((j) => `${j.id} (${j.state.toLowerCase()})`).join(', ')}${left.length > 10 ? ', …' : ''}; kill them (berth batch kill ID) or wait for them to end`);
      checkQueueSet([...this.queues.values()].filter((q) => q.name !== name), []);
      await this.store.delete(queueKey(name));
      this.queues.delete(name);
      await this.reschedule();
    });
  }

  /** @throws ValidationError (the definition; a gang that can never be admitted, with the numbers) */
  async submit(text: string): Promise<JobView> {
    const spec = parseBatchJob(text);
    const size = await this.cluster.size();
    return this.exclusive(async () => {
      checkJobFits(spec, [...this.queues.values()], size);
      const seq = ++this.counters.submitted;
      const job: BatchJobRecord = { id: `${spec.name ?? 'job'}-${seq}`, spec, seq, submittedAt: this.clock.now(), state: 'PENDING', failures: 0, attempts: [] };
      await this.store.put(COUNTERS_KEY, this.counters);
      this.jobs.set(job.id, job);
      await this.save(job);
      this.armDeadline(job);
      await this.reschedule();
      this.logger.info('job submitted', { jobId: job.id, queue: spec.queue, tasks: spec.tasks });
      return this.view(job);
    });
  }

  listJobs(queue: string, includeFinished: boolean): Promise<JobView[]> {
    return this.exclusive(async () => [...this.jobs.values()].filter((j) => (queue === '' || j.spec.queue === queue) && (includeFinished || !ENDED.has(j.state))).sort((a, b) => a.seq - b.seq).map((j) => this.view(j)));
  }

  /** @throws BatchError NOT_FOUND */
  getJob(id: string): Promise<JobView> {
    return this.exclusive(async () => this.view(this.job(id)));
  }

  /** @throws BatchError NOT_FOUND, FAILED_PRECONDITION (ended) */
  killJob(id: string): Promise<JobView> {
    return this.exclusive(async () => {
      const job = this.job(id);
      if (ENDED.has(job.state)) throw new BatchError('FAILED_PRECONDITION', `job ${id} already ended ${job.state}`);
      this.finish(job, 'KILLED', 'KILLED', 'killed through the API');
      await this.save(job);
      await this.reschedule();
      return this.view(job);
    });
  }

  // ---- admission ----

  /**
   * Admission rounds until nothing changes (an eviction can leave room for more; the last round says
   * why each pending job waits). Runs inside a step, which declares the new demand when it ends.
   */
  private async reschedule(): Promise<void> {
    for (let round = 0; round < 5 && (await this.admissionRound()); round++);
    await this.trimHistory();
  }

  /** One admission round: evict, admit, record why the others wait. Whether it changed anything. */
  private async admissionRound(): Promise<boolean> {
    const all = [...this.jobs.values()];
    const decision = decide([...this.queues.values()], all.filter((j) => j.state === 'PENDING').map(workloadOf), all.filter((j) => HOLDS_QUOTA.has(j.state)).map(workloadOf));
    this.reasons.clear();
    for (const [id, reason] of decision.waiting) this.reasons.set(id, reason);
    for (const e of decision.evict) {
      const job = this.jobs.get(e.id)!;
      this.endAttempt(job, 'RECLAIMED', e.reason);
      job.state = 'PENDING';
      delete job.admittedSeq;
      this.reasons.set(job.id, e.reason);
      await this.save(job);
      this.logger.info('job reclaimed', { jobId: job.id, by: e.by });
    }
    for (const id of decision.admit) {
      const job = this.jobs.get(id)!;
      job.state = 'ADMITTED';
      job.admittedSeq = ++this.counters.admitted;
      job.admittedAt = this.clock.now();
      startAttempt(job);
      await this.save(job);
    }
    if (decision.admit.length > 0) await this.store.put(COUNTERS_KEY, this.counters);
    return decision.admit.length > 0 || decision.evict.length > 0;
  }

  private demand(): NonNullable<FrameworkInfo['demand']> {
    return gangDemandOf(this.jobs.values(), this.options.role);
  }

  private syncDemand(): void {
    if (this.stopped) return;
    const demand = this.demand();
    const text = JSON.stringify(demand);
    if (text === this.declared || !this.scheduler.connected) return;
    this.declared = text;
    this.scheduler.updateFramework({ ...this.frameworkInfo(), demand });
  }

  /** Ends the current attempt (if any) and kills its tasks that may still run. */
  private endAttempt(job: BatchJobRecord, outcome: AttemptOutcome, message: string): void {
    for (const t of endAttempt(job, outcome, message, this.clock.now())) this.scheduler.kill(t.taskId, t.agentId, this.options.killGracePeriodMs);
  }

  private finish(job: BatchJobRecord, state: 'SUCCEEDED' | 'FAILED' | 'KILLED', outcome: AttemptOutcome, message: string): void {
    this.endAttempt(job, outcome, message);
    job.state = state;
    job.message = message;
    job.finishedAt = this.clock.now();
    delete job.admittedSeq;
    this.clock.clearTimeout(this.deadlines.get(job.id));
    this.deadlines.delete(job.id);
    this.logger.info('job ended', { jobId: job.id, state, message });
  }

  private armDeadline(job: BatchJobRecord): void {
    if (job.spec.deadlineSeconds === undefined || ENDED.has(job.state)) return;
    const at = job.submittedAt + job.spec.deadlineSeconds * 1000;
    this.deadlines.set(job.id, this.clock.setTimeout(() => {
      void this.exclusive(async () => {
        this.deadlines.delete(job.id);
        if (ENDED.has(job.state) || this.jobs.get(job.id) !== job) return;
        this.finish(job, 'FAILED', 'DEADLINE', `its deadline of ${job.spec.deadlineSeconds} s from submission passed while ${job.state.toLowerCase()}`);
        await this.save(job);
        await this.reschedule();
      }).catch((err) => this.logger.error('deadline handling failed', { jobId: job.id, err }));
    }, Math.max(0, at - this.clock.now())));
  }

  private async trimHistory(): Promise<void> {
    const ended = [...this.jobs.values()].filter((j) => ENDED.has(j.state)).sort((a, b) => a.seq - b.seq);
    for (const job of ended.slice(0, Math.max(0, ended.length - this.options.historySize))) {
      await this.store.delete(jobKey(job.id));
      this.jobs.delete(job.id);
      for (const a of job.attempts) for (const t of a.tasks) this.tasks.delete(t.taskId);
    }
  }

  // ---- plumbing ----

  private save(job: BatchJobRecord): Promise<void> {
    return this.store.put(jobKey(job.id), job);
  }

  private job(id: string): BatchJobRecord {
    const job = this.jobs.get(id);
    if (job === undefined) throw new BatchError('NOT_FOUND', `no batch job ${JSON.stringify(id)} (berth batch list shows them; ended jobs are kept up to historySize)`);
    return job;
  }

  private noQueue(name: string): BatchError {
    return new BatchError('NOT_FOUND', `no queue ${JSON.stringify(name)} (known: ${[...this.queues.keys()].sort().join(', ') || 'none'})`);
  }

  private queueViews(): QueueView[] {
    return queueViews([...this.queues.values()], [...this.jobs.values()]);
  }

  private view(job: BatchJobRecord): JobView {
    return jobView(job, this.reasons.get(job.id));
  }

  /** Runs `fn` after everything queued before it; the declared demand is brought up to date after each step. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const step = this.work.then(async () => {
      try {
        return await fn();
      } finally {
        this.syncDemand();
      }
    });
    this.work = step.catch(() => undefined);
    return step;
  }
}

/**
 * Offers of the jobs framework: placing waiting runs (in arrival order) on offers — constraints
 * against the job's other launched attempts, resource fit, the attempt written LAUNCHED to the store
 * *before* its LAUNCH is sent — declining what is left, and reviving/suppressing offers as runs wait
 * or not.
 */
import type { Attribute } from '../../common/attributes';
import { Resources } from '../../common/resources';
import type { Offer__Output } from '../../generated/berth/v1/Offer';
import type { TaskInfo } from '../../generated/berth/v1/TaskInfo';
import { checkConstraints, type PlacementCandidate } from '../sdk/constraints';
import { fitTask } from '../sdk/offer-match';
import { current, runKey, type AttemptRecord, type RunRecord } from './model';
import { launchKey, type JobsState, type JobState } from './state';
import { buildTaskInfo, offerCandidate, taskShape } from './task-builder';

export class OfferPlacement {
  /** What the master was last told about offers (undefined: say it again, e.g. to a new master). */
  private offerInterest: 'revived' | 'suppressed' | undefined;

  constructor(private readonly st: JobsState) {}

  /** The master may not know our offer interest (a (re-)registration): say it again on the next sync. */
  forgetOfferInterest(): void {
    this.offerInterest = undefined;
  }

  async placeOffers(offers: readonly Offer__Output[]): Promise<void> {
    const now = this.st.clock.now();
    const launches: { offer: Offer__Output; items: { run: RunRecord; attempt: AttemptRecord; task: TaskInfo }[] }[] = [];
    const unused: string[] = [];
    for (const offer of offers) {
      const candidate = offerCandidate(offer);
      let used = Resources.empty();
      const items: { run: RunRecord; attempt: AttemptRecord; task: TaskInfo }[] = [];
      for (const [key, ref] of this.st.pending) {
        const job = this.st.jobs.get(ref.jobId);
        const run = job?.active.get(ref.runId);
        if (job === undefined || run === undefined) {
          this.st.pending.delete(key);
          continue;
        }
        if (run.spec.constraints.length > 0) {
          const ok = checkConstraints(run.spec.constraints, candidate, this.placedTasks(job));
          if (!ok.ok) {
            this.st.rejections.set(key, `agent ${candidate.hostname}: ${ok.reason}`);
            continue;
          }
        }
        const fit = fitTask(offer, taskShape(run.spec), used);
        if (!fit.ok) {
          this.st.rejections.set(key, `agent ${candidate.hostname}: ${fit.message}`);
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
        this.st.metrics.attemptLaunched(run, a, now);
        run.status = 'STARTING';
        this.st.pending.delete(key);
        const task = buildTaskInfo({ jobId: run.jobId, runId: run.runId, attempt: a.attempt, taskId: a.taskId, spec: run.spec, offer, resources: fit.resources });
        items.push({ run, attempt: a, task });
      }
      if (items.length > 0) launches.push({ offer, items });
      else unused.push(offer.id?.value ?? '');
    }
    // Intent first: every attempt is LAUNCHED in the store before its LAUNCH is sent — all of this
    // batch's offers written at once (their fsyncs overlap), each offer then sent or declined.
    const writes = await Promise.all(launches.map(({ items }) => Promise.allSettled(items.map((i) => this.st.saveRun(i.run)))));
    for (const [index, { offer, items }] of launches.entries()) {
      const written = writes[index]!;
      const ok = items.filter((_, n) => written[n]!.status === 'fulfilled');
      items.forEach((i, n) => {
        if (written[n]!.status === 'rejected') {
          // Never sent: the attempt may stay PENDING (its task id is still unused).
          this.st.logger.error('could not persist a launch; the attempt waits for another offer', { taskId: i.attempt.taskId, err: (written[n] as PromiseRejectedResult).reason });
          this.revertToPending(i.run, i.attempt);
        }
      });
      if (ok.length === 0) {
        unused.push(offer.id?.value ?? '');
        continue;
      }
      for (const i of ok) {
        this.st.tasks.set(i.attempt.taskId, { jobId: i.run.jobId, runId: i.run.runId });
        this.st.timers.delete(launchKey(i.run.jobId, i.run.runId));
        this.st.rejections.delete(runKey(i.run.jobId, i.run.runId));
        this.st.logger.info('launching', { jobId: i.run.jobId, runId: i.run.runId, taskId: i.attempt.taskId, agentId: i.attempt.agentId });
      }
      this.st.scheduler.launch(offer, ok.map((i) => i.task), this.st.options.declineRefuseSeconds);
    }
    if (unused.length > 0) this.st.scheduler.decline(unused, this.st.pending.size > 0 ? this.st.options.declineRefuseSeconds : this.st.options.idleRefuseSeconds);
  }

  revertToPending(run: RunRecord, a: AttemptRecord): void {
    a.phase = 'PENDING';
    delete a.agentId;
    delete a.hostname;
    delete a.attributes;
    delete a.domain;
    delete a.launchedAt;
    run.status = 'INITIAL';
    this.st.pending.set(runKey(run.jobId, run.runId), { jobId: run.jobId, runId: run.runId });
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

  syncOfferInterest(): void {
    if (this.st.pending.size > 0 && this.offerInterest !== 'revived') {
      this.st.scheduler.revive();
      this.offerInterest = 'revived';
    } else if (this.st.pending.size === 0 && this.offerInterest !== 'suppressed') {
      this.st.scheduler.suppress();
      this.offerInterest = 'suppressed';
    }
  }
}

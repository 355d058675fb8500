/**
 * Deployments of the services framework: starting one for a change of an app, ending it (succeeded,
 * failed, cancelled, superseded), rolling back, pruning finished ones beyond `maxFinishedDeployments`,
 * and the progress deadline (measured from the deployment's last progress or from when the process
 * loaded its state, whichever is later).
 *
 * {@link Deployments} changes the records it is given (and marks them to be written); *when* a
 * deployment moves along — after each input, as the scheduler converges — is the scheduler's.
 */
import type { Logger } from '../../common/logging';
import { ServicesError } from './errors';
import type { AppRecord, AppVersion, DeploymentKind, DeploymentRecord, DeploymentStep } from './model';
import type { ServicesOptions } from './options';
import { clone, type Records } from './records';
import { describeNotReady } from './readiness';
import { describeDraining, describeRejections } from './rejections';

/** A time (or distance) that never comes. */
export const NEVER = Number.MAX_SAFE_INTEGER;

const STEPS: Record<DeploymentKind, readonly string[]> = {
  CREATE: ['StartApplication', 'ScaleApplication'],
  SCALE: ['ScaleApplication'],
  UPGRADE: ['RestartApplication'],
  RESTART: ['RestartApplication'],
  ROLLBACK: ['RestartApplication'],
  DELETE: ['StopApplication'],
};

/** When a running deployment misses its progress deadline: downtime of the framework does not count. */
export function deadlineOf(dep: DeploymentRecord, loadedAt: number): number {
  return Math.max(dep.lastProgressAt, loadedAt) + dep.progressDeadlineSeconds * 1000;
}

/**
 * What a deployment replacing `active` rolls back to: the last stable version — the target of a
 * running rollback, the start of any other running deployment (none for a CREATE), or the
 * current version when nothing runs.
 */
export function stableVersion(app: AppRecord, active: DeploymentRecord | undefined): AppVersion | undefined {
  if (active === undefined) return app.current;
  return active.kind === 'ROLLBACK' ? active.to : active.from;
}

/** Starts, ends and rolls back deployments over the records; the scheduler owns one. */
export class Deployments {
  constructor(
    private readonly records: Records,
    private readonly options: Pick<ServicesOptions, 'maxFinishedDeployments'>,
    private readonly newId: () => string,
    private readonly logger: Logger,
  ) {}

  /** The app's running deployment, if any. */
  active(appId: string): DeploymentRecord | undefined {
    for (const d of this.records.deployments.values()) if (d.appId === appId && d.state === 'RUNNING') return d;
    return undefined;
  }

  /** Applies a new target version to an existing app as a deployment of `kind`. */
  change(app: AppRecord, next: AppVersion, kind: DeploymentKind, force: boolean, now: number): DeploymentRecord {
    if (app.deleting) throw new ServicesError('FAILED_PRECONDITION', `app_id: app ${app.id} is being deleted`);
    const active = this.active(app.id);
    if (active !== undefined && !force) {
      throw new ServicesError('FAILED_PRECONDITION', `app ${app.id} is locked by deployment ${active.id} (${active.kind}); wait for it, cancel it, or set force to replace it`);
    }
    const from = stableVersion(app, active);
    if (active !== undefined) this.end(active, 'SUPERSEDED', now, 'replaced by a forced change');
    if (next.configVersion !== app.current.configVersion) app.slots = {};
    app.current = next;
    this.records.recordVersion(app);
    const dep = this.start(app, kind, from, now);
    if (active !== undefined) {
      active.supersededBy = dep.id;
      this.records.markDeployment(active);
    }
    this.logger.info('deployment started', { appId: app.id, deploymentId: dep.id, kind, version: next.version, forced: active !== undefined });
    return dep;
  }

  start(app: AppRecord, kind: DeploymentKind, from: AppVersion | undefined, now: number, rollbackOf?: string): DeploymentRecord {
    const steps: DeploymentStep[] = STEPS[kind].map((action, i) => ({ action, status: i === 0 ? 'RUNNING' : 'PENDING' }));
    if (kind === 'CREATE') {
      steps[0].status = 'DONE';
      steps[1].status = 'RUNNING';
    }
    const dep: DeploymentRecord = {
      id: this.newId(), appId: app.id, kind, state: 'RUNNING',
      ...(from === undefined ? {} : { from: clone(from) }),
      to: clone(app.current),
      startedAt: now, lastProgressAt: now, bestDistance: NEVER,
      progressDeadlineSeconds: app.current.def.progressDeadlineSeconds,
      ...(rollbackOf === undefined ? {} : { rollbackOf }),
      steps,
    };
    this.records.deployments.set(dep.id, dep);
    this.records.markDeployment(dep);
    return dep;
  }

  end(dep: DeploymentRecord, state: Exclude<DeploymentRecord['state'], 'RUNNING'>, now: number, message?: string): void {
    dep.state = state;
    dep.finishedAt = now;
    if (message !== undefined) dep.message = message;
    if (state === 'SUCCEEDED') for (const s of dep.steps) s.status = 'DONE';
    this.records.markDeployment(dep);
    if (state === 'SUCCEEDED') this.logger.info('deployment succeeded', { appId: dep.appId, deploymentId: dep.id, kind: dep.kind });
    this.prune();
  }

  /**
   * Undoes `dep` (already ended): back to the version before it, or — when there is none (a CREATE)
   * — deletes the app. Returns the new deployment.
   */
  rollback(app: AppRecord, dep: DeploymentRecord, now: number): DeploymentRecord {
    let rb: DeploymentRecord;
    if (dep.from === undefined) {
      app.deleting = true;
      this.records.markApp(app);
      rb = this.start(app, 'DELETE', app.current, now, dep.id);
    } else {
      const abandoned = app.current;
      if (dep.from.configVersion !== app.current.configVersion) app.slots = {};
      app.current = clone(dep.from);
      app.deleting = false;
      this.records.markApp(app);
      rb = this.start(app, 'ROLLBACK', abandoned, now, dep.id);
    }
    dep.rolledBackBy = rb.id;
    this.records.markDeployment(dep);
    this.logger.warn('rolling back', { appId: app.id, deploymentId: dep.id, rollbackDeploymentId: rb.id, toVersion: app.current.version });
    return rb;
  }

  /**
   * Moves the app's running deployment along after `plan`: records progress, ends it when the plan is
   * complete, or fails it once it missed its progress deadline — and then rolls back when `mayRollBack`
   * and there is an earlier version. Returns whether it rolled back (the app must be converged again).
   */
  advance(app: AppRecord, plan: { readonly distance: number; readonly complete: boolean }, now: number, loadedAt: number, mayRollBack: boolean): boolean {
    const dep = this.active(app.id);
    if (dep === undefined) return false;
    if (plan.distance < dep.bestDistance) {
      dep.bestDistance = plan.distance;
      dep.lastProgressAt = now;
      this.records.markDeployment(dep);
    }
    if (plan.complete) {
      this.end(dep, 'SUCCEEDED', now);
    } else if (dep.kind !== 'DELETE' && now >= deadlineOf(dep, loadedAt)) {
      const why = this.stuckReason(app);
      this.end(dep, 'FAILED', now, `no progress for ${dep.progressDeadlineSeconds} s (progressDeadlineSeconds)${why === '' ? '' : `: ${why}`}`);
      this.logger.warn('deployment missed its progress deadline', { appId: app.id, deploymentId: dep.id, kind: dep.kind, reason: why });
      // A rollback that fails is not rolled back again, and without an earlier version (a CREATE,
      // or what replaced one) the app stays as it is: a missed deadline never deletes an app.
      if (mayRollBack && dep.kind !== 'ROLLBACK' && dep.from !== undefined) {
        this.rollback(app, dep, now);
        return true;
      }
    }
    return false;
  }

  /** Why the app's deployment makes no progress (offers rejected, the last task failure); '' if unknown. */
  private stuckReason(app: AppRecord): string {
    const parts: string[] = [];
    const need = this.records.need.get(app.id) ?? 0;
    if (need > 0) {
      const s = this.records.rejectionLog(app.id).summary();
      const draining = describeDraining(this.records.drainingAgents);
      if (draining !== '') parts.push(draining);
      if (s.considered > 0 && s.considered > s.launched) parts.push(describeRejections(s));
    }
    const notReady = describeNotReady(this.records, app.id);
    if (notReady !== '') parts.push(notReady);
    if (app.lastFailure !== undefined) parts.push(`last task failure: ${app.lastFailure.state} ${app.lastFailure.message}`.trim());
    return parts.join('; ');
  }

  private prune(): void {
    const finished = [...this.records.deployments.values()].filter((d) => d.state !== 'RUNNING').sort((a, b) => (a.finishedAt ?? 0) - (b.finishedAt ?? 0));
    for (const d of finished.slice(0, Math.max(0, finished.length - this.options.maxFinishedDeployments))) this.records.removeDeployment(d.id);
  }
}

/**
 * The in-memory state of the services framework: apps, tasks (also by app), deployments, and what
 * is kept only in memory (the rejected-offer log, the launches each app wants and which instance slots
 * they fill, per app; the readiness probes in flight, per task).
 *
 * Owns the bookkeeping that keeps these maps consistent with each other and with the store: every
 * change to a record is marked here, which queues its write (or delete) in the pending writes of
 * the {@link StoreWriter} (see persistence.ts); nothing here talks to the store or the master.
 */
import type { Logger } from '../../common/logging';
import { appKey } from './app-definition';
import { ServicesError } from './errors';
import { storeKeys, type AppRecord, type DeploymentRecord, type TaskRecord } from './model';
import type { ServicesOptions } from './options';
import { RejectionLog } from './rejections';
import type { SlotPlan } from './slots';

export function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/**
 * A version id (ISO time) later than any this app had — also than versions abandoned by a
 * rollback, whose tasks may still be around and must not pass for the new version's.
 */
export function nextVersion(app: AppRecord | undefined, now: number): string {
  let v = new Date(now).toISOString();
  if (app !== undefined) {
    const last = app.lastVersion !== undefined && app.lastVersion > app.current.version ? app.lastVersion : app.current.version;
    if (v <= last) v = new Date(Date.parse(last) + 1).toISOString();
    app.lastVersion = v;
  }
  return v;
}

export class Records {
  readonly apps = new Map<string, AppRecord>();
  readonly tasks = new Map<string, TaskRecord>();
  /** The same task records, by app. */
  readonly tasksByApp = new Map<string, Set<TaskRecord>>();
  readonly deployments = new Map<string, DeploymentRecord>();
  readonly rejections = new Map<string, RejectionLog>();
  /** Launches each app wants now (past their slots' backoff), from the last convergence. */
  readonly need = new Map<string, number>();
  /** Which slots those launches fill (`due`, taken as tasks are placed) and which wait for their backoff. */
  readonly slotPlans = new Map<string, SlotPlan>();
  readonly probes = new Map<string, { nextAt: number; inFlight: boolean; lastFailure?: string }>();
  /**
   * Agents that killed tasks of ours because they drain (REASON_AGENT_DRAINING) and have sent no
   * offer since: agent id → hostname. In memory only: it explains waiting, nothing depends on it.
   */
  readonly drainingAgents = new Map<string, string>();

  /**
   * @param writes the pending store writes (value) and deletes (undefined), by key
   * @param prefixDeletes key prefixes to delete entirely at the next flush
   */
  constructor(
    private readonly options: Pick<ServicesOptions, 'rejectSummaryOffers' | 'maxVersions'>,
    private readonly logger: Logger,
    private readonly writes: Map<string, unknown>,
    private readonly prefixDeletes: Set<string>,
  ) {}

  getApp(appId: string): AppRecord {
    const app = this.apps.get(appId) ?? this.apps.get(appId.startsWith('/') ? appId : `/${appId}`);
    if (app === undefined) throw new ServicesError('NOT_FOUND', `app_id: unknown app "${appId}"`);
    return app;
  }

  tasksOf(appId: string): TaskRecord[] {
    return [...(this.tasksByApp.get(appId) ?? [])];
  }

  addTask(t: TaskRecord): void {
    this.tasks.set(t.taskId, t);
    let set = this.tasksByApp.get(t.appId);
    if (set === undefined) {
      set = new Set();
      this.tasksByApp.set(t.appId, set);
    }
    set.add(t);
  }

  forgetTask(t: TaskRecord): void {
    this.tasks.delete(t.taskId);
    const set = this.tasksByApp.get(t.appId);
    set?.delete(t);
    if (set?.size === 0) this.tasksByApp.delete(t.appId);
    this.probes.delete(t.taskId);
    this.writes.set(storeKeys.task(t.taskId), undefined);
  }

  rejectionLog(appId: string): RejectionLog {
    let log = this.rejections.get(appId);
    if (log === undefined) {
      log = new RejectionLog(this.options.rejectSummaryOffers);
      this.rejections.set(appId, log);
    }
    return log;
  }

  /** Writes the app's current version as its next numbered version (pruning the oldest kept). */
  recordVersion(app: AppRecord): void {
    app.versionSeq++;
    const key = appKey(app.id);
    this.writes.set(storeKeys.version(key, app.versionSeq), app.current);
    if (app.versionSeq > this.options.maxVersions) this.writes.set(storeKeys.version(key, app.versionSeq - this.options.maxVersions), undefined);
    this.markApp(app);
  }

  removeApp(app: AppRecord): void {
    this.apps.delete(app.id);
    this.need.delete(app.id);
    this.slotPlans.delete(app.id);
    this.rejections.delete(app.id);
    this.writes.set(storeKeys.app(appKey(app.id)), undefined);
    this.prefixDeletes.add(storeKeys.versions(appKey(app.id)));
    this.logger.info('app deleted', { appId: app.id });
  }

  /** Forgets a deployment record (pruned), deleting it from the store. */
  removeDeployment(id: string): void {
    this.deployments.delete(id);
    this.writes.set(storeKeys.deployment(id), undefined);
  }

  markApp(app: AppRecord): void {
    if (this.apps.has(app.id)) this.writes.set(storeKeys.app(appKey(app.id)), app);
  }

  markTask(t: TaskRecord): void {
    if (this.tasks.has(t.taskId)) this.writes.set(storeKeys.task(t.taskId), t);
  }

  markDeployment(d: DeploymentRecord): void {
    if (this.deployments.has(d.id)) this.writes.set(storeKeys.deployment(d.id), d);
  }
}

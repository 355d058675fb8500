/**
 * The services framework: a level-triggered controller for long-running apps.
 *
 * Inputs are only the Framework handlers (registered, offers, statusUpdate, …), API commands and
 * its own timer; each runs to completion, one at a time, on one promise chain (gRPC calls and timers
 * can arrive while a handler runs). After every input the controller {@link ServicesScheduler.converge
 * converges}: for each app it asks the planner what to kill and how many to launch, moves the app's
 * deployment along (success, progress, missed deadline → rollback), then revives or suppresses
 * offers and sets one timer for the next time-based event (launch backoff, progress deadline,
 * unreachable timeouts, launch timeouts, kill retries, readiness probes).
 *
 * Durability: every change is written to the store at the end of the input that made it, and task
 * records are written *before* their launch, so after a restart the framework knows every task it
 * may have launched; it then reconciles them explicitly with the master, replaces the ones the master
 * reports gone, and launches no duplicates.
 * - An API command that changes something (put, scale, restart, delete, cancel) answers only once its
 *   change is in the store, and before anything acts on it (no kill, no launch). When the store fails,
 *   the command's in-memory change is undone, the call fails with UNAVAILABLE ("… could not be saved
 *   …; it was not applied; retry") and the undo is written back in turn — so an answer always matches
 *   what is durable. (Only version history pruned by the undone change is not brought back.)
 * - When the task records of an offer round cannot be written, nothing is launched: the tasks are
 *   dropped again and the offers declined.
 * - A write that fails goes back into the pending writes (unless a newer value for its key replaced
 *   it) and is retried with the next flush and by a retry timer (1 s, doubling up to 60 s).
 * - Once {@link ServicesScheduler.stop stopping}, changing API calls fail with UNAVAILABLE ("the
 *   services framework is stopping; retry"); what is pending is flushed one last time.
 *
 * Progress deadlines are measured from the deployment's last progress or from when this process
 * loaded its state, whichever is later: time the framework was down does not count against a
 * deployment (launch timeouts work the same way).
 *
 * Offers: at most {@link MAX_LAUNCHES_PER_ROUND} tasks are placed per offer round, so a big scale-up
 * never blocks the framework for long; the rest go on the next offers.
 */
import { randomUUID } from 'node:crypto';
import type { Clock, TimerHandle } from '../../common/clock';
import type { Logger } from '../../common/logging';
import { Resources } from '../../common/resources';
import { attributesFromWire } from '../../common/wire/attributes';
import { timeFromWire } from '../../common/wire/time';
import { ValidationError } from '../../common/wire/problems';
import type { GrpcServiceBinding } from '../../common/rpc/proto';
import type { FrameworkInfo } from '../../generated/berth/v1/FrameworkInfo';
import type { Offer__Output } from '../../generated/berth/v1/Offer';
import type { TaskInfo } from '../../generated/berth/v1/TaskInfo';
import type { TaskStatus__Output } from '../../generated/berth/v1/TaskStatus';
import { checkConstraints, type Constraint, type PlacementCandidate } from '../sdk/constraints';
import type { Framework, FrameworkContext, Registration, SchedulerApi } from '../sdk/framework';
import { fitTask, offerRole, type Fit } from '../sdk/offer-match';
import type { KeyValueStore } from '../sdk/store';
import { createServicesApi, servicesServiceBinding } from './api';
import { appKey, canonicalJson, constraintsOf, instancesProblem, needsRestart, portRequest, readinessPortIndex, type AppDefinition } from './app-definition';
import { ServicesError } from './errors';
import {
  FAILURE_STATES, TERMINAL_STATES, storeKeys,
  type AppRecord, type AppVersion, type DeploymentKind, type DeploymentRecord, type DeploymentStep, type ReadinessSpec, type TaskFailure, type TaskRecord,
} from './model';
import type { ServicesOptions } from './options';
import { isHealthy, isKilling, nextBackoffMs, planApp } from './planner';
import { httpReadinessProbe, type ReadinessProbe, type ReadinessResult } from './readiness';
import { describeRejections, RejectionLog, type RejectionSummary } from './rejections';
import { buildTaskInfo, newTaskId, portsInDefinitionOrder } from './task-builder';

/** Replaceable parts, for tests. */
export interface ServicesDeps {
  /** Runs readiness checks. @default an HTTP GET to the task's host and port */
  readonly readinessProbe?: ReadinessProbe;
  /** New ids for instances and deployments. @default crypto.randomUUID */
  readonly newId?: () => string;
}

/** An app as the API shows it. */
export interface AppView {
  readonly id: string;
  readonly version: string;
  readonly configVersion: string;
  readonly definition: AppDefinition;
  readonly createdAt: number;
  readonly deleting: boolean;
  /** The target number of instances. */
  readonly instances: number;
  readonly staged: number;
  readonly running: number;
  readonly healthy: number;
  readonly unhealthy: number;
  readonly unreachable: number;
  readonly killing: number;
  /** Tasks still to launch (0 when the app has what it needs, or waits for old tasks to go). */
  readonly waitingInstances: number;
  readonly deployment?: DeploymentRecord;
  readonly lastFailure?: TaskFailure;
  /** The current launch backoff delay (0: none). */
  readonly backoffSeconds: number;
  /** Seconds until launches may resume (0: now). */
  readonly launchDelayRemainingSeconds: number;
  readonly rejections: RejectionSummary;
  /** One line answering "why is it not running (yet)?"; empty when nothing is missing. */
  readonly waiting: string;
  readonly tasks: readonly TaskRecord[];
}

/** What placing one instance on an offer came to. */
type Placement = { ok: true; fit: Extract<Fit, { ok: true }> } | { ok: false; reason: string; detail: string };

const NEVER = Number.MAX_SAFE_INTEGER;

/** Most tasks placed in one offer round (one `offers` call); the rest wait for the next offers. */
export const MAX_LAUNCHES_PER_ROUND = 1000;
/** First and longest delay before failed store writes are retried. */
const STORE_RETRY_MIN_MS = 1000;
const STORE_RETRY_MAX_MS = 60_000;

/** What a changing API command may touch, as it was before (to put back when the change cannot be saved). */
interface Undo {
  readonly appId: string;
  /** The app record as JSON; undefined: the app did not exist. */
  readonly app: string | undefined;
  /** Every deployment record as JSON, in map order. */
  readonly deployments: readonly (readonly [string, string])[];
}

const STEPS: Record<DeploymentKind, readonly string[]> = {
  CREATE: ['StartApplication', 'ScaleApplication'],
  SCALE: ['ScaleApplication'],
  UPGRADE: ['RestartApplication'],
  RESTART: ['RestartApplication'],
  ROLLBACK: ['RestartApplication'],
  DELETE: ['StopApplication'],
};

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

export class ServicesScheduler implements Framework {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly store: KeyValueStore;
  private readonly scheduler: SchedulerApi;
  private readonly probe: ReadinessProbe;
  private readonly newId: () => string;
  private readonly defaultRole: string;

  private readonly apps = new Map<string, AppRecord>();
  private readonly tasks = new Map<string, TaskRecord>();
  /** The same task records, by app. */
  private readonly tasksByApp = new Map<string, Set<TaskRecord>>();
  private readonly deployments = new Map<string, DeploymentRecord>();
  private readonly rejections = new Map<string, RejectionLog>();
  /** Launches each app wants, from the last convergence. */
  private readonly need = new Map<string, number>();
  private readonly probes = new Map<string, { nextAt: number; inFlight: boolean }>();
  /** Store writes (value) and deletes (undefined) not yet flushed, by key. */
  private readonly writes = new Map<string, unknown>();
  /** Prefixes to delete entirely at the next flush (versions of deleted apps). */
  private readonly prefixDeletes = new Set<string>();

  private loaded = false;
  private loadedAt = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly background = new Set<Promise<unknown>>();
  /** Store writes, one batch at a time. */
  private flushChain: Promise<void> = Promise.resolve();
  /** A background batch is queued and not started yet (later changes join it). */
  private flushQueued = false;
  private wake: { timer: TimerHandle; at: number } | undefined;
  private offerInterest: 'revived' | 'suppressed' | undefined;
  private lastNeed = 0;
  private stopped = false;
  /** Retries failed store writes; `storeRetryMs` is the next delay (doubling, reset by a batch that works). */
  private storeRetry: TimerHandle | undefined;
  private storeRetryMs = 0;

  constructor(context: FrameworkContext, readonly options: ServicesOptions, deps: ServicesDeps = {}) {
    this.clock = context.clock;
    this.logger = context.logger;
    this.store = context.store;
    this.scheduler = context.scheduler;
    this.probe = deps.readinessProbe ?? httpReadinessProbe;
    this.newId = deps.newId ?? randomUUID;
    this.defaultRole = options.defaultRole ?? options.roles[0];
  }

  // ------------------------------------------------------------------------------------------
  // Framework handlers
  // ------------------------------------------------------------------------------------------

  frameworkInfo(): Partial<FrameworkInfo> & { readonly name: string } {
    const o = this.options;
    return {
      name: o.name,
      roles: [...o.roles],
      failover_timeout: o.failoverTimeoutSeconds,
      checkpoint: true,
      capabilities: [{ type: 'PARTITION_AWARE' }, { type: 'TASK_KILLING_STATE' }, ...(o.gpuResources ? [{ type: 'GPU_RESOURCES' as const }] : [])],
      ...(o.principal === undefined ? {} : { principal: o.principal }),
      ...(o.user === undefined ? {} : { user: o.user }),
    };
  }

  registered(registration: Registration): Promise<void> {
    return this.run(async () => {
      this.logger.info('subscribed', { frameworkId: registration.frameworkId, reregistered: registration.reregistered, tasks: this.tasks.size });
      this.offerInterest = undefined;
      const known = [...this.tasks.values()].map((t) => ({ taskId: t.taskId, agentId: t.agentId }));
      if (known.length > 0) this.scheduler.reconcile(known);
      for (const t of this.tasks.values()) if (t.killRequestedAt !== undefined) this.scheduler.kill(t.taskId, t.agentId);
      await this.converge();
    });
  }

  offers(offers: readonly Offer__Output[]): Promise<void> {
    return this.run(() => this.handleOffers(offers));
  }

  rescinded(): void {
    // Offers are answered within the handler that received them; nothing is held.
  }

  statusUpdate(status: TaskStatus__Output): Promise<void> {
    return this.run(() => this.applyStatus(status));
  }

  agentLost(agentId: string): void {
    this.logger.info('agent lost; its tasks\' updates follow', { agentId });
  }

  disconnected(): void {
    this.offerInterest = undefined;
  }

  error(message: string): void {
    this.logger.warn('master reported an error', { message });
  }

  grpcServices(): readonly GrpcServiceBinding[] {
    return [servicesServiceBinding(createServicesApi(this))];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clearWake();
    this.clearStoreRetry();
    await this.idle();
    // Whatever is still pending (e.g. task states of the last status updates): one last try.
    await this.flush().catch(() => undefined);
    this.clearWake();
    this.clearStoreRetry();
  }

  /** Resolves once every queued input and readiness probe has been handled (for tests). */
  async idle(): Promise<void> {
    for (;;) {
      const chain = this.chain;
      await chain;
      await Promise.all([...this.background]);
      if (chain === this.chain && this.background.size === 0) return;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Commands (the API calls these)
  // ------------------------------------------------------------------------------------------

  /** Creates or updates an app. Returns the deployment ('' when the definition did not change). */
  putApp(def: AppDefinition, opts: { force?: boolean } = {}): Promise<{ deploymentId: string; created: boolean }> {
    return this.command(() => def.id, () => {
      const now = this.clock.now();
      const existing = this.apps.get(def.id);
      if (existing === undefined) {
        const version = this.nextVersion(undefined, now);
        const app: AppRecord = { id: def.id, current: { version, configVersion: version, def }, lastVersion: version, createdAt: now, deleting: false, backoff: { delayMs: 0, nextLaunchAt: 0 }, versionSeq: 0 };
        this.apps.set(app.id, app);
        this.recordVersion(app);
        const dep = this.startDeployment(app, 'CREATE', undefined, now);
        this.logger.info('app created', { appId: app.id, deploymentId: dep.id, instances: def.instances });
        return { deploymentId: dep.id, created: true };
      }
      if (canonicalJson(def) === canonicalJson(existing.current.def) && !existing.deleting) {
        return { deploymentId: this.activeDeployment(existing.id)?.id ?? '', created: false };
      }
      const restart = needsRestart(existing.current.def, def);
      const version = this.nextVersion(existing, now);
      const dep = this.change(existing, { version, configVersion: restart ? version : existing.current.configVersion, def }, restart ? 'UPGRADE' : 'SCALE', opts.force === true, now);
      return { deploymentId: dep.id, created: false };
    });
  }

  /** Changes the number of instances. */
  scaleApp(appId: string, instances: number, opts: { force?: boolean } = {}): Promise<{ deploymentId: string }> {
    return this.command(() => this.getAppRecord(appId).id, () => {
      const problem = instancesProblem(instances);
      if (problem !== undefined) throw ValidationError.of('instances', problem);
      const app = this.getAppRecord(appId);
      if (instances === app.current.def.instances) return { deploymentId: this.activeDeployment(app.id)?.id ?? '' };
      const now = this.clock.now();
      const def = { ...app.current.def, instances };
      const dep = this.change(app, { version: this.nextVersion(app, now), configVersion: app.current.configVersion, def }, 'SCALE', opts.force === true, now);
      return { deploymentId: dep.id };
    });
  }

  /** Replaces every task of the app (rolling, per its upgrade strategy). */
  restartApp(appId: string, opts: { force?: boolean } = {}): Promise<{ deploymentId: string }> {
    return this.command(() => this.getAppRecord(appId).id, () => {
      const app = this.getAppRecord(appId);
      const now = this.clock.now();
      const version = this.nextVersion(app, now);
      const dep = this.change(app, { version, configVersion: version, def: app.current.def }, 'RESTART', opts.force === true, now);
      return { deploymentId: dep.id };
    });
  }

  /** Kills every task of the app, then forgets it. Replaces a running deployment. */
  deleteApp(appId: string): Promise<{ deploymentId: string }> {
    return this.command(() => this.getAppRecord(appId).id, () => {
      const app = this.getAppRecord(appId);
      const active = this.activeDeployment(app.id);
      if (app.deleting && active?.kind === 'DELETE') return { deploymentId: active.id };
      const now = this.clock.now();
      const from = this.stableVersion(app, active) ?? app.current;
      if (active !== undefined) this.endDeployment(active, 'SUPERSEDED', now, 'replaced by a delete');
      app.deleting = true;
      this.markApp(app);
      const dep = this.startDeployment(app, 'DELETE', from, now);
      if (active !== undefined) {
        active.supersededBy = dep.id;
        this.markDeployment(active);
      }
      return { deploymentId: dep.id };
    });
  }

  /**
   * Stops a running deployment and rolls the app back: to the version before it, or — for a
   * CREATE — deletes the app. Returns the rolling-back deployment.
   */
  cancelDeployment(deploymentId: string): Promise<{ rollbackDeploymentId: string }> {
    const find = (): DeploymentRecord => {
      const dep = this.deployments.get(deploymentId);
      if (dep === undefined) throw new ServicesError('NOT_FOUND', `deployment_id: unknown deployment "${deploymentId}"`);
      return dep;
    };
    return this.command(() => find().appId, () => {
      const dep = find();
      if (dep.state !== 'RUNNING') throw new ServicesError('FAILED_PRECONDITION', `deployment_id: deployment "${deploymentId}" is ${dep.state}; only a RUNNING deployment can be cancelled`);
      const app = this.apps.get(dep.appId)!;
      const now = this.clock.now();
      this.endDeployment(dep, 'CANCELLED', now, 'cancelled');
      const rb = this.rollback(app, dep, now);
      return { rollbackDeploymentId: rb.id };
    });
  }

  getApp(appId: string): Promise<AppView> {
    return this.run(() => this.view(this.getAppRecord(appId)));
  }

  /** Apps whose id is `prefix` or under it (`/shop` lists `/shop/web` too). */
  listApps(prefix = ''): Promise<AppView[]> {
    return this.run(() => {
      const p = prefix === '' || prefix === '/' ? '' : prefix.replace(/\/$/, '');
      return [...this.apps.values()].filter((a) => p === '' || a.id === p || a.id.startsWith(`${p}/`)).sort((a, b) => (a.id < b.id ? -1 : 1)).map((a) => this.view(a));
    });
  }

  /** Deployments, newest first; finished ones only when asked. */
  listDeployments(opts: { appId?: string; includeFinished?: boolean } = {}): Promise<DeploymentRecord[]> {
    return this.run(() =>
      // Newest first; among equal start times the later created (the map keeps creation order).
      [...this.deployments.values()]
        .reverse()
        .filter((d) => (opts.appId === undefined || opts.appId === '' || d.appId === opts.appId) && (opts.includeFinished === true || d.state === 'RUNNING'))
        .sort((a, b) => b.startedAt - a.startedAt)
        .map((d) => clone(d)),
    );
  }

  // ------------------------------------------------------------------------------------------
  // The serial queue and loading
  // ------------------------------------------------------------------------------------------

  private run<T>(fn: () => Promise<T> | T): Promise<T> {
    const result = this.chain.then(async () => {
      await this.ensureLoaded();
      return fn();
    });
    this.chain = result.catch(() => undefined);
    return result;
  }

  /**
   * Runs a changing API command: `change` (synchronous) alters the records of the app `appIdOf` names;
   * its change is written to the store before anything acts on it (the convergence that follows), and
   * undone when it throws or cannot be written (then UNAVAILABLE). See the file comment.
   */
  private command<T>(appIdOf: () => string, change: () => T): Promise<T> {
    return this.run(async () => {
      if (this.stopped) throw new ServicesError('UNAVAILABLE', 'the services framework is stopping; retry');
      const undo = this.snapshot(appIdOf());
      let result: T;
      try {
        result = change();
      } catch (err) {
        this.restore(undo);
        throw err;
      }
      try {
        if (this.writes.size > 0 || this.prefixDeletes.size > 0) await this.flush();
      } catch (err) {
        this.restore(undo);
        // Whatever of the change did reach the store is overwritten by the next flush (or the retry timer).
        this.logger.warn('an API change could not be saved; undone', { appId: undo.appId, err });
        throw new ServicesError('UNAVAILABLE', `the change to app ${undo.appId} could not be saved (${err instanceof Error ? err.message : String(err)}); it was not applied; retry`);
      }
      await this.converge();
      return result;
    });
  }

  private snapshot(appId: string): Undo {
    const app = this.apps.get(appId);
    return {
      appId,
      app: app === undefined ? undefined : JSON.stringify(app),
      deployments: [...this.deployments.values()].map((d) => [d.id, JSON.stringify(d)] as const),
    };
  }

  /** Puts the app and the deployments back as they were in `undo`, and marks what differs to be written. */
  private restore(undo: Undo): void {
    const present = this.apps.get(undo.appId);
    if (undo.app === undefined) {
      if (present !== undefined) {
        this.apps.delete(present.id);
        this.need.delete(present.id);
        this.rejections.delete(present.id);
        this.writes.set(storeKeys.app(appKey(present.id)), undefined);
        for (let seq = 1; seq <= present.versionSeq; seq++) this.writes.set(storeKeys.version(appKey(present.id), seq), undefined);
      }
    } else if (present === undefined || JSON.stringify(present) !== undo.app) {
      const previous = JSON.parse(undo.app) as AppRecord;
      if (present !== undefined) for (let seq = previous.versionSeq + 1; seq <= present.versionSeq; seq++) this.writes.set(storeKeys.version(appKey(present.id), seq), undefined);
      this.apps.set(previous.id, previous);
      this.markApp(previous);
    }
    const before = new Map(undo.deployments);
    const current = new Map(this.deployments);
    for (const id of current.keys()) if (!before.has(id)) this.writes.set(storeKeys.deployment(id), undefined);
    this.deployments.clear();
    for (const [id, json] of undo.deployments) {
      const d = current.get(id);
      if (d !== undefined && JSON.stringify(d) === json) {
        this.deployments.set(id, d);
      } else {
        const restored = JSON.parse(json) as DeploymentRecord;
        this.deployments.set(id, restored);
        this.markDeployment(restored);
      }
    }
  }

  private async ensureLoaded(): Promise<void> {
    if (this.loaded) return;
    for (const { value } of await this.store.list<AppRecord>(storeKeys.APPS)) this.apps.set(value.id, value);
    for (const { value } of await this.store.list<TaskRecord>(storeKeys.TASKS)) this.addTask(value);
    for (const { value } of await this.store.list<DeploymentRecord>(storeKeys.DEPLOYMENTS)) this.deployments.set(value.id, value);
    this.loaded = true;
    this.loadedAt = this.clock.now();
    if (this.apps.size + this.tasks.size > 0) this.logger.info('state loaded', { apps: this.apps.size, tasks: this.tasks.size, deployments: this.deployments.size });
  }

  // ------------------------------------------------------------------------------------------
  // Convergence
  // ------------------------------------------------------------------------------------------

  /**
   * Moves every app towards its target; see the file comment. `durable: false` (after a status update
   * or a probe) writes what changed in the background instead of before returning: task states and
   * what follows from them are rebuilt by reconciliation after a crash, and an acknowledgement need not
   * wait for a disk. Launch intents and API changes are always written before anyone hears of them
   * (by {@link handleOffers} and {@link command}); a write failing here is retried, and does not fail
   * the input.
   */
  private async converge(durable = true): Promise<void> {
    if (this.stopped) return;
    const now = this.clock.now();
    this.expireTasks(now);
    for (const app of [...this.apps.values()]) this.convergeApp(app, now, true);
    this.startProbes(now);
    this.updateOfferInterest(now);
    await this.flush(durable).catch(() => undefined); // logged, and retried, by flush
    this.scheduleWake(now);
  }

  /** When a running deployment misses its progress deadline: downtime of the framework does not count. */
  private deadlineOf(dep: DeploymentRecord): number {
    return Math.max(dep.lastProgressAt, this.loadedAt) + dep.progressDeadlineSeconds * 1000;
  }

  private convergeApp(app: AppRecord, now: number, mayRollBack: boolean): void {
    const tasks = this.tasksOf(app.id);
    const current = app.current;
    if (app.backoff.delayMs > 0) {
      const stable = tasks.some((t) => t.configVersion === current.configVersion && t.healthySince !== undefined && now - t.healthySince >= this.options.backoffResetSeconds * 1000);
      if (stable) {
        app.backoff = { delayMs: 0, nextLaunchAt: 0 };
        this.markApp(app);
      }
    }
    const plan = planApp({ def: current.def, configVersion: current.configVersion, deleting: app.deleting }, tasks, now);
    for (const t of plan.kill) this.killTask(t, now);
    this.need.set(app.id, plan.launch);
    const dep = this.activeDeployment(app.id);
    if (dep !== undefined) {
      if (plan.distance < dep.bestDistance) {
        dep.bestDistance = plan.distance;
        dep.lastProgressAt = now;
        this.markDeployment(dep);
      }
      if (plan.complete) {
        this.endDeployment(dep, 'SUCCEEDED', now);
      } else if (dep.kind !== 'DELETE' && now >= this.deadlineOf(dep)) {
        const why = this.stuckReason(app);
        this.endDeployment(dep, 'FAILED', now, `no progress for ${dep.progressDeadlineSeconds} s (progressDeadlineSeconds)${why === '' ? '' : `: ${why}`}`);
        this.logger.warn('deployment missed its progress deadline', { appId: app.id, deploymentId: dep.id, kind: dep.kind, reason: why });
        // A rollback that fails is not rolled back again, and without an earlier version (a CREATE,
        // or what replaced one) the app stays as it is: a missed deadline never deletes an app.
        if (mayRollBack && dep.kind !== 'ROLLBACK' && dep.from !== undefined) {
          this.rollback(app, dep, now);
          this.convergeApp(app, now, false);
          return;
        }
      }
    }
    if (app.deleting && plan.complete) this.removeApp(app);
  }

  /** Launch timeouts, unreachable expunges, kill retries. */
  private expireTasks(now: number): void {
    const o = this.options;
    for (const t of [...this.tasks.values()]) {
      const app = this.apps.get(t.appId);
      const def = app?.current.def;
      if (app === undefined) {
        if (!isKilling(t)) this.killTask(t, now);
      }
      if (t.state === 'TASK_UNREACHABLE' && def !== undefined && !def.unreachableStrategy.disabled && now - (t.unreachableSince ?? now) >= def.unreachableStrategy.expungeAfterSeconds * 1000) {
        this.logger.info('expunging unreachable task', { taskId: t.taskId, appId: t.appId });
        this.scheduler.kill(t.taskId, t.agentId);
        this.forgetTask(t);
        continue;
      }
      if ((t.state === 'TASK_STAGING' || t.state === 'TASK_STARTING') && !isKilling(t) && now - Math.max(t.launchedAt, t.lastStatusAt, this.loadedAt) >= o.taskLaunchTimeoutSeconds * 1000) {
        this.logger.warn('task did not start in time; killing it', { taskId: t.taskId, appId: t.appId, state: t.state });
        this.scheduler.kill(t.taskId, t.agentId);
        this.forgetTask(t);
        if (app !== undefined) {
          app.lastFailure = { taskId: t.taskId, state: t.state, reason: 'launch timeout', message: `not running ${o.taskLaunchTimeoutSeconds} s after launch`, at: now, version: t.version };
          this.markApp(app);
        }
        continue;
      }
      if (t.killRequestedAt !== undefined && now - t.killRequestedAt >= o.killRetrySeconds * 1000) {
        t.killRequestedAt = now;
        this.markTask(t);
        this.scheduler.kill(t.taskId, t.agentId);
      }
    }
  }

  private updateOfferInterest(now: number): void {
    let need = 0;
    for (const app of this.apps.values()) {
      const n = this.need.get(app.id) ?? 0;
      if (n > 0 && !app.deleting && app.backoff.nextLaunchAt <= now) need += n;
    }
    if (!this.scheduler.connected) {
      this.offerInterest = undefined;
      this.lastNeed = need;
      return;
    }
    if (need > 0 && (this.offerInterest !== 'revived' || need > this.lastNeed)) {
      this.scheduler.revive();
      this.offerInterest = 'revived';
    } else if (need === 0 && this.offerInterest !== 'suppressed') {
      this.scheduler.suppress();
      this.offerInterest = 'suppressed';
    }
    this.lastNeed = need;
  }

  private scheduleWake(now: number): void {
    if (this.stopped) return;
    let at = NEVER;
    const consider = (t: number | undefined): void => {
      if (t !== undefined && t > now && t < at) at = t;
    };
    const o = this.options;
    for (const app of this.apps.values()) {
      if ((this.need.get(app.id) ?? 0) > 0) consider(app.backoff.nextLaunchAt);
      if (app.backoff.delayMs > 0) {
        for (const t of this.tasksOf(app.id)) if (t.healthySince !== undefined) consider(t.healthySince + o.backoffResetSeconds * 1000);
      }
    }
    for (const d of this.deployments.values()) if (d.state === 'RUNNING' && d.kind !== 'DELETE') consider(this.deadlineOf(d));
    for (const t of this.tasks.values()) {
      const def = this.apps.get(t.appId)?.current.def;
      if (t.state === 'TASK_UNREACHABLE' && def !== undefined && !def.unreachableStrategy.disabled) {
        const since = t.unreachableSince ?? now;
        consider(since + def.unreachableStrategy.inactiveAfterSeconds * 1000);
        consider(since + def.unreachableStrategy.expungeAfterSeconds * 1000);
      }
      if ((t.state === 'TASK_STAGING' || t.state === 'TASK_STARTING') && !isKilling(t)) consider(Math.max(t.launchedAt, t.lastStatusAt, this.loadedAt) + o.taskLaunchTimeoutSeconds * 1000);
      if (t.killRequestedAt !== undefined) consider(t.killRequestedAt + o.killRetrySeconds * 1000);
    }
    for (const p of this.probes.values()) if (!p.inFlight) consider(p.nextAt);
    if (this.wake !== undefined && this.wake.at === at) return;
    this.clearWake();
    if (at === NEVER) return;
    const timer = this.clock.setTimeout(() => {
      this.wake = undefined;
      this.run(() => this.converge()).catch((err: unknown) => this.logger.error('timer run failed', { err }));
    }, at - now);
    this.wake = { timer, at };
  }

  private clearWake(): void {
    if (this.wake !== undefined) this.clock.clearTimeout(this.wake.timer);
    this.wake = undefined;
  }

  // ------------------------------------------------------------------------------------------
  // Offers
  // ------------------------------------------------------------------------------------------

  private async handleOffers(offers: readonly Offer__Output[]): Promise<void> {
    const now = this.clock.now();
    const candidates = [...this.apps.values()]
      .filter((a) => !a.deleting && (this.need.get(a.id) ?? 0) > 0 && a.backoff.nextLaunchAt <= now)
      .sort((a, b) => Number(this.activeDeployment(b.id) !== undefined) - Number(this.activeDeployment(a.id) !== undefined) || (a.id < b.id ? -1 : 1));
    const launches: { offer: Offer__Output; infos: TaskInfo[]; refuseSeconds: number }[] = [];
    const declines: string[] = [];
    /** Offers not (fully) looked at because the round's launch budget ran out: wanted again soon. */
    const deferred: string[] = [];
    let budget = MAX_LAUNCHES_PER_ROUND;
    for (const offer of offers) {
      const offerId = offer.id?.value ?? '';
      const infos: TaskInfo[] = [];
      let cut = false;
      try {
        const agent = this.placementOf(offer);
        let used = Resources.empty();
        for (const app of candidates) {
          let left = this.need.get(app.id) ?? 0;
          if (left <= 0) continue;
          if (budget <= 0) {
            cut = true;
            break;
          }
          const constraints = constraintsOf(app.current.def);
          // Where the app's tasks are (those just placed included): built once, and only when needed.
          const placed = constraints.length === 0 ? [] : this.placedOf(app.id);
          let rejection: Extract<Placement, { ok: false }> | undefined;
          let launched = 0;
          while (left > 0 && budget > 0) {
            const placement = this.place(app, offer, agent, used, constraints, placed);
            if (!placement.ok) {
              rejection = placement;
              break;
            }
            infos.push(this.newTask(app, offer, agent, placement.fit, now));
            if (constraints.length > 0) placed.push(agent);
            used = used.plus(placement.fit.taken);
            left--;
            launched++;
            budget--;
          }
          this.need.set(app.id, left);
          if (left > 0 && rejection === undefined) cut = true;
          if (launched > 0 || rejection !== undefined) {
            this.rejectionLog(app.id).record({
              at: now, offerId, hostname: offer.hostname,
              outcome: launched > 0 ? 'launched' : rejection!.reason,
              ...(launched > 0 ? {} : { detail: rejection!.detail }),
            });
          }
          if (cut) break;
        }
      } catch (err) {
        this.logger.warn('cannot use an offer', { offerId, err });
      }
      if (infos.length > 0) launches.push({ offer, infos, refuseSeconds: cut ? 0 : this.options.refuseSeconds });
      else if (cut) deferred.push(offerId);
      else declines.push(offerId);
    }
    if (launches.length > 0) {
      try {
        // The task records must be durable before the master hears of the tasks.
        await this.flush();
      } catch (err) {
        this.logger.warn('task records could not be saved; launching nothing', { tasks: launches.reduce((n, l) => n + l.infos.length, 0), err });
        for (const { offer, infos } of launches.splice(0)) {
          for (const info of infos) {
            const t = this.tasks.get(info.task_id?.value ?? '');
            if (t !== undefined) this.forgetTask(t);
          }
          declines.push(offer.id?.value ?? '');
        }
      }
    }
    for (const { offer, infos, refuseSeconds } of launches) {
      const ids = infos.map((i) => i.task_id?.value);
      this.logger.info('launching', { agentId: offer.agent_id?.value, hostname: offer.hostname, count: ids.length, tasks: ids.length <= 20 ? ids : [...ids.slice(0, 20), '…'] });
      this.scheduler.launch(offer, infos, refuseSeconds);
    }
    if (declines.length > 0) this.scheduler.decline(declines, this.options.refuseSeconds);
    if (deferred.length > 0) this.scheduler.decline(deferred, 0);
    await this.converge();
  }

  /** Where the app's live tasks are, for constraints. */
  private placedOf(appId: string): PlacementCandidate[] {
    const placed: PlacementCandidate[] = [];
    for (const t of this.tasksByApp.get(appId) ?? []) {
      if (!isKilling(t)) placed.push({ hostname: t.hostname, attributes: t.attributes, ...(t.domain === undefined ? {} : { domain: t.domain }) });
    }
    return placed;
  }

  private placementOf(offer: Offer__Output): PlacementCandidate {
    const region = offer.domain?.fault_domain?.region?.name;
    const zone = offer.domain?.fault_domain?.zone?.name;
    return {
      hostname: offer.hostname,
      attributes: attributesFromWire(offer.attributes, 'offer.attributes'),
      ...(region && zone ? { domain: { region, zone } } : {}),
    };
  }

  /**
   * Whether one more instance of `app` fits on the offer; the checks in Marathon's order: role,
   * constraints (against `placed`, where the app's tasks are), resources, ports.
   */
  private place(app: AppRecord, offer: Offer__Output, agent: PlacementCandidate, used: Resources, constraints: readonly Constraint[], placed: readonly PlacementCandidate[]): Placement {
    const def = app.current.def;
    const role = def.role ?? this.defaultRole;
    const got = offerRole(offer);
    if (got !== role) return { ok: false, reason: 'role', detail: `the offer is for role ${got}, the app runs in ${role}` };
    if (constraints.length > 0) {
      const check = checkConstraints(constraints, agent, placed);
      if (!check.ok) return { ok: false, reason: `constraint:${check.constraint.text}`, detail: check.reason };
    }
    const fit = fitTask(offer, { cpus: def.cpus, mem: def.mem, disk: def.disk, gpus: def.gpus, ports: portRequest(def) }, used);
    if (!fit.ok) return { ok: false, reason: fit.short === 'ports' ? 'ports' : `resources:${fit.short}`, detail: fit.message };
    return { ok: true, fit };
  }

  private newTask(app: AppRecord, offer: Offer__Output, agent: PlacementCandidate, fit: Extract<Fit, { ok: true }>, now: number): TaskInfo {
    const { def, version, configVersion } = app.current;
    const taskId = newTaskId(app.id, this.newId());
    const ports = portsInDefinitionOrder(def, fit.ports);
    const check = def.readinessChecks[0];
    const readiness: ReadinessSpec | undefined = check === undefined ? undefined : {
      protocol: check.protocol,
      port: ports[readinessPortIndex(def, check)] ?? 0,
      path: check.path,
      intervalMs: check.intervalSeconds * 1000,
      timeoutMs: check.timeoutSeconds * 1000,
      statuses: [...check.httpStatusCodesForReady],
    };
    const record: TaskRecord = {
      taskId, appId: app.id, version, configVersion,
      agentId: offer.agent_id?.value ?? '', hostname: offer.hostname, attributes: [...agent.attributes],
      ...(agent.domain === undefined ? {} : { domain: agent.domain }),
      ports, state: 'TASK_STAGING', hasHealthCheck: def.healthChecks.length > 0,
      ...(readiness === undefined ? {} : { readiness }),
      ready: false, launchedAt: now, lastStatusAt: now,
    };
    this.addTask(record);
    this.markTask(record);
    return buildTaskInfo({ def, version, taskId, offer, resources: fit.resources, ports });
  }

  // ------------------------------------------------------------------------------------------
  // Status updates
  // ------------------------------------------------------------------------------------------

  private async applyStatus(s: TaskStatus__Output): Promise<void> {
    const now = this.clock.now();
    const taskId = s.task_id?.value ?? '';
    const state = String(s.state);
    const t = this.tasks.get(taskId);
    if (t === undefined) {
      if (taskId !== '' && !TERMINAL_STATES.has(state) && state !== 'TASK_UNREACHABLE') {
        this.logger.warn('killing a task this framework does not know', { taskId, state });
        this.scheduler.kill(taskId, s.agent_id?.value);
      }
      return;
    }
    t.lastStatusAt = now;
    if (s.message) t.message = s.message;
    if (TERMINAL_STATES.has(state)) {
      this.taskEnded(t, s, now);
    } else {
      t.state = state;
      if (state === 'TASK_RUNNING') {
        t.runningSince ??= now;
        delete t.unreachableSince;
      }
      if (state === 'TASK_UNREACHABLE') t.unreachableSince ??= this.unreachableTime(s) ?? now;
      if (s.healthy !== undefined && s.healthy !== null) t.healthy = s.healthy;
      this.updateHealthySince(t, now);
      this.markTask(t);
    }
    await this.converge(false);
  }

  private unreachableTime(s: TaskStatus__Output): number | undefined {
    try {
      return timeFromWire(s.unreachable_time);
    } catch {
      return undefined;
    }
  }

  private updateHealthySince(t: TaskRecord, now: number): void {
    if (isHealthy(t)) t.healthySince ??= now;
    else delete t.healthySince;
  }

  private taskEnded(t: TaskRecord, s: TaskStatus__Output, now: number): void {
    const state = String(s.state);
    this.forgetTask(t);
    const app = this.apps.get(t.appId);
    if (app === undefined || t.killRequestedAt !== undefined) return;
    const reason = String(s.reason ?? 'REASON_UNSPECIFIED');
    app.lastFailure = { taskId: t.taskId, state, reason, message: s.message ?? '', at: now, version: t.version };
    this.logger.info('task ended', { taskId: t.taskId, appId: app.id, state, reason, message: s.message });
    const appFailure = FAILURE_STATES.has(state) && reason !== 'REASON_AGENT_DRAINING' && reason !== 'REASON_FRAMEWORK_REMOVED';
    if (appFailure && t.configVersion === app.current.configVersion) {
      const delayMs = nextBackoffMs(app.backoff.delayMs, app.current.def);
      app.backoff = { delayMs, nextLaunchAt: now + delayMs };
    }
    this.markApp(app);
  }

  // ------------------------------------------------------------------------------------------
  // Readiness
  // ------------------------------------------------------------------------------------------

  private startProbes(now: number): void {
    for (const taskId of [...this.probes.keys()]) {
      const t = this.tasks.get(taskId);
      if (t === undefined || t.ready) this.probes.delete(taskId);
    }
    for (const t of this.tasks.values()) {
      const spec = t.readiness;
      if (spec === undefined || t.ready || t.state !== 'TASK_RUNNING' || isKilling(t)) continue;
      const p = this.probes.get(t.taskId);
      if (p !== undefined && (p.inFlight || p.nextAt > now)) continue;
      this.probes.set(t.taskId, { nextAt: now + spec.intervalMs, inFlight: true });
      const taskId = t.taskId;
      const done = this.probe({ protocol: spec.protocol, host: t.hostname, port: spec.port, path: spec.path }, spec.timeoutMs)
        .catch((err: unknown): ReadinessResult => ({ error: String(err) }))
        .then((result) => this.run(() => this.applyReadiness(taskId, result)))
        .catch((err: unknown) => this.logger.error('readiness result not applied', { taskId, err }));
      this.background.add(done);
      void done.finally(() => this.background.delete(done));
    }
  }

  private async applyReadiness(taskId: string, result: ReadinessResult): Promise<void> {
    const p = this.probes.get(taskId);
    if (p !== undefined) p.inFlight = false;
    const t = this.tasks.get(taskId);
    if (t === undefined || t.readiness === undefined || t.ready) return;
    if ('status' in result && t.readiness.statuses.includes(result.status)) {
      t.ready = true;
      this.probes.delete(taskId);
      this.updateHealthySince(t, this.clock.now());
      this.markTask(t);
    }
    await this.converge();
  }

  // ------------------------------------------------------------------------------------------
  // Deployments
  // ------------------------------------------------------------------------------------------

  private activeDeployment(appId: string): DeploymentRecord | undefined {
    for (const d of this.deployments.values()) if (d.appId === appId && d.state === 'RUNNING') return d;
    return undefined;
  }

  /** Applies a new target version to an existing app as a deployment of `kind`. */
  private change(app: AppRecord, next: AppVersion, kind: DeploymentKind, force: boolean, now: number): DeploymentRecord {
    if (app.deleting) throw new ServicesError('FAILED_PRECONDITION', `app_id: app ${app.id} is being deleted`);
    const active = this.activeDeployment(app.id);
    if (active !== undefined && !force) {
      throw new ServicesError('FAILED_PRECONDITION', `app ${app.id} is locked by deployment ${active.id} (${active.kind}); wait for it, cancel it, or set force to replace it`);
    }
    const from = this.stableVersion(app, active);
    if (active !== undefined) this.endDeployment(active, 'SUPERSEDED', now, 'replaced by a forced change');
    if (next.configVersion !== app.current.configVersion) app.backoff = { delayMs: 0, nextLaunchAt: 0 };
    app.current = next;
    this.recordVersion(app);
    const dep = this.startDeployment(app, kind, from, now);
    if (active !== undefined) {
      active.supersededBy = dep.id;
      this.markDeployment(active);
    }
    this.logger.info('deployment started', { appId: app.id, deploymentId: dep.id, kind, version: next.version, forced: active !== undefined });
    return dep;
  }

  /**
   * What a deployment replacing `active` rolls back to: the last stable version — the target of a
   * running rollback, the start of any other running deployment (none for a CREATE), or the
   * current version when nothing runs.
   */
  private stableVersion(app: AppRecord, active: DeploymentRecord | undefined): AppVersion | undefined {
    if (active === undefined) return app.current;
    return active.kind === 'ROLLBACK' ? active.to : active.from;
  }

  private startDeployment(app: AppRecord, kind: DeploymentKind, from: AppVersion | undefined, now: number, rollbackOf?: string): DeploymentRecord {
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
    this.deployments.set(dep.id, dep);
    this.markDeployment(dep);
    return dep;
  }

  private endDeployment(dep: DeploymentRecord, state: Exclude<DeploymentRecord['state'], 'RUNNING'>, now: number, message?: string): void {
    dep.state = state;
    dep.finishedAt = now;
    if (message !== undefined) dep.message = message;
    if (state === 'SUCCEEDED') for (const s of dep.steps) s.status = 'DONE';
    this.markDeployment(dep);
    if (state === 'SUCCEEDED') this.logger.info('deployment succeeded', { appId: dep.appId, deploymentId: dep.id, kind: dep.kind });
    this.pruneDeployments();
  }

  /**
   * Undoes `dep` (already ended): back to the version before it, or — when there is none (a CREATE)
   * — deletes the app. Returns the new deployment.
   */
  private rollback(app: AppRecord, dep: DeploymentRecord, now: number): DeploymentRecord {
    let rb: DeploymentRecord;
    if (dep.from === undefined) {
      app.deleting = true;
      this.markApp(app);
      rb = this.startDeployment(app, 'DELETE', app.current, now, dep.id);
    } else {
      const abandoned = app.current;
      if (dep.from.configVersion !== app.current.configVersion) app.backoff = { delayMs: 0, nextLaunchAt: 0 };
      app.current = clone(dep.from);
      app.deleting = false;
      this.markApp(app);
      rb = this.startDeployment(app, 'ROLLBACK', abandoned, now, dep.id);
    }
    dep.rolledBackBy = rb.id;
    this.markDeployment(dep);
    this.logger.warn('rolling back', { appId: app.id, deploymentId: dep.id, rollbackDeploymentId: rb.id, toVersion: app.current.version });
    return rb;
  }

  private pruneDeployments(): void {
    const finished = [...this.deployments.values()].filter((d) => d.state !== 'RUNNING').sort((a, b) => (a.finishedAt ?? 0) - (b.finishedAt ?? 0));
    for (const d of finished.slice(0, Math.max(0, finished.length - this.options.maxFinishedDeployments))) {
      this.deployments.delete(d.id);
      this.writes.set(storeKeys.deployment(d.id), undefined);
    }
  }

  private stuckReason(app: AppRecord): string {
    const parts: string[] = [];
    const need = this.need.get(app.id) ?? 0;
    if (need > 0) {
      const s = this.rejectionLog(app.id).summary();
      if (s.considered > 0 && s.considered > s.launched) parts.push(describeRejections(s));
    }
    if (app.lastFailure !== undefined) parts.push(`last task failure: ${app.lastFailure.state} ${app.lastFailure.message}`.trim());
    return parts.join('; ');
  }

  // ------------------------------------------------------------------------------------------
  // Records and the store
  // ------------------------------------------------------------------------------------------

  private getAppRecord(appId: string): AppRecord {
    const app = this.apps.get(appId) ?? this.apps.get(appId.startsWith('/') ? appId : `/${appId}`);
    if (app === undefined) throw new ServicesError('NOT_FOUND', `app_id: unknown app "${appId}"`);
    return app;
  }

  private tasksOf(appId: string): TaskRecord[] {
    return [...(this.tasksByApp.get(appId) ?? [])];
  }

  private addTask(t: TaskRecord): void {
    this.tasks.set(t.taskId, t);
    let set = this.tasksByApp.get(t.appId);
    if (set === undefined) {
      set = new Set();
      this.tasksByApp.set(t.appId, set);
    }
    set.add(t);
  }

  private rejectionLog(appId: string): RejectionLog {
    let log = this.rejections.get(appId);
    if (log === undefined) {
      log = new RejectionLog(this.options.rejectSummaryOffers);
      this.rejections.set(appId, log);
    }
    return log;
  }

  /**
   * A version id (ISO time) later than any this app had — also than versions abandoned by a
   * rollback, whose tasks may still be around and must not pass for the new version's.
   */
  private nextVersion(app: AppRecord | undefined, now: number): string {
    let v = new Date(now).toISOString();
    if (app !== undefined) {
      const last = app.lastVersion !== undefined && app.lastVersion > app.current.version ? app.lastVersion : app.current.version;
      if (v <= last) v = new Date(Date.parse(last) + 1).toISOString();
      app.lastVersion = v;
    }
    return v;
  }

  private recordVersion(app: AppRecord): void {
    app.versionSeq++;
    const key = appKey(app.id);
    this.writes.set(storeKeys.version(key, app.versionSeq), app.current);
    if (app.versionSeq > this.options.maxVersions) this.writes.set(storeKeys.version(key, app.versionSeq - this.options.maxVersions), undefined);
    this.markApp(app);
  }

  private removeApp(app: AppRecord): void {
    this.apps.delete(app.id);
    this.need.delete(app.id);
    this.rejections.delete(app.id);
    this.writes.set(storeKeys.app(appKey(app.id)), undefined);
    this.prefixDeletes.add(storeKeys.versions(appKey(app.id)));
    this.logger.info('app deleted', { appId: app.id });
  }

  private killTask(t: TaskRecord, now: number): void {
    t.killRequestedAt = now;
    this.markTask(t);
    this.scheduler.kill(t.taskId, t.agentId);
  }

  private forgetTask(t: TaskRecord): void {
    this.tasks.delete(t.taskId);
    const set = this.tasksByApp.get(t.appId);
    set?.delete(t);
    if (set?.size === 0) this.tasksByApp.delete(t.appId);
    this.probes.delete(t.taskId);
    this.writes.set(storeKeys.task(t.taskId), undefined);
  }

  private markApp(app: AppRecord): void {
    if (this.apps.has(app.id)) this.writes.set(storeKeys.app(appKey(app.id)), app);
  }

  private markTask(t: TaskRecord): void {
    if (this.tasks.has(t.taskId)) this.writes.set(storeKeys.task(t.taskId), t);
  }

  private markDeployment(d: DeploymentRecord): void {
    if (this.deployments.has(d.id)) this.writes.set(storeKeys.deployment(d.id), d);
  }

  /**
   * Writes what changed, one batch after another (so a key never goes back to an older value):
   * awaited when `durable` (and then rejects when a write failed), else queued behind the batch being
   * written (and coalesced with any other change made before it starts). Failed writes are queued
   * again (see {@link writeOut}) and retried by a timer, with backoff.
   */
  private flush(durable = true): Promise<void> {
    if (!durable) {
      if (this.flushQueued) return Promise.resolve();
      this.flushQueued = true;
    }
    const batch = this.flushChain.then(() => {
      this.flushQueued = false;
      return this.writeOut();
    });
    this.flushChain = batch.then(() => this.flushed(), (err: unknown) => this.flushFailed(err));
    if (durable) return batch;
    const chain = this.flushChain;
    this.background.add(chain);
    void chain.finally(() => this.background.delete(chain));
    return Promise.resolve();
  }

  private flushed(): void {
    // Everything that failed before was queued again and has now been written.
    this.storeRetryMs = 0;
    this.clearStoreRetry();
  }

  private flushFailed(err: unknown): void {
    if (this.stopped || this.storeRetry !== undefined) {
      this.logger.error('writing the framework state failed', { err });
      return;
    }
    // The delay grows with each retry that fails (not with every input failing meanwhile).
    const delay = Math.max(STORE_RETRY_MIN_MS, this.storeRetryMs);
    this.storeRetryMs = Math.min(STORE_RETRY_MAX_MS, delay * 2);
    this.logger.error('writing the framework state failed; retrying', { err, retryInMs: delay });
    this.storeRetry = this.clock.setTimeout(() => {
      this.storeRetry = undefined;
      if (!this.stopped) void this.flush(false);
    }, delay);
  }

  private clearStoreRetry(): void {
    if (this.storeRetry !== undefined) this.clock.clearTimeout(this.storeRetry);
    this.storeRetry = undefined;
  }

  /**
   * Writes every pending change. A write that fails goes back into `writes` — unless a newer value
   * for its key was set meanwhile, which is then written instead — and so does a failed prefix delete;
   * then the batch rejects.
   */
  private async writeOut(): Promise<void> {
    const pending = [...this.writes.entries()];
    const writes = pending.map(([key, value]) => [key, value === undefined ? undefined : clone(value)] as const);
    this.writes.clear();
    const prefixes = [...this.prefixDeletes];
    this.prefixDeletes.clear();
    const errors: unknown[] = [];
    const results = await Promise.allSettled(writes.map(([key, value]) => (value === undefined ? this.store.delete(key) : this.store.put(key, value))));
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') return;
      errors.push(r.reason);
      const [key, value] = pending[i];
      if (!this.writes.has(key)) this.writes.set(key, value);
    });
    const written = new Set(writes.map(([key]) => key));
    for (const prefix of prefixes) {
      try {
        const entries = await this.store.list(prefix);
        // Not what was just written or is pending (an app created again under the same id).
        const doomed = entries.filter((e) => !written.has(e.key) && !this.writes.has(e.key));
        const deleted = await Promise.allSettled(doomed.map((e) => this.store.delete(e.key)));
        const failed = deleted.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed !== undefined) throw failed.reason;
      } catch (err) {
        errors.push(err);
        this.prefixDeletes.add(prefix);
      }
    }
    if (errors.length > 0) {
      const first = errors[0] instanceof Error ? errors[0].message : String(errors[0]);
      throw new Error(`${errors.length} store write${errors.length === 1 ? '' : 's'} failed: ${first}`);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Views
  // ------------------------------------------------------------------------------------------

  private view(app: AppRecord): AppView {
    const now = this.clock.now();
    const tasks = this.tasksOf(app.id).sort((a, b) => a.launchedAt - b.launchedAt || (a.taskId < b.taskId ? -1 : 1));
    const count = (p: (t: TaskRecord) => boolean): number => tasks.filter(p).length;
    const need = this.need.get(app.id) ?? 0;
    const rejections = this.rejectionLog(app.id).summary();
    const remaining = Math.max(0, app.backoff.nextLaunchAt - now);
    let waiting = '';
    if (need > 0) {
      if (remaining > 0) waiting = `launch delayed ${(remaining / 1000).toFixed(1)} s after task failures (backoff ${(app.backoff.delayMs / 1000).toFixed(3)} s)`;
      else waiting = `waiting for offers for ${need} instance${need === 1 ? '' : 's'}: ${describeRejections(rejections)}`;
      if (app.lastFailure !== undefined) waiting += `; last failure: ${app.lastFailure.state} ${app.lastFailure.message}`.trimEnd();
    }
    const dep = this.activeDeployment(app.id);
    return clone({
      id: app.id,
      version: app.current.version,
      configVersion: app.current.configVersion,
      definition: app.current.def,
      createdAt: app.createdAt,
      deleting: app.deleting,
      instances: app.current.def.instances,
      staged: count((t) => t.state === 'TASK_STAGING' || t.state === 'TASK_STARTING'),
      running: count((t) => t.state === 'TASK_RUNNING'),
      healthy: count((t) => isHealthy(t) && !isKilling(t)),
      unhealthy: count((t) => t.state === 'TASK_RUNNING' && !isHealthy(t)),
      unreachable: count((t) => t.state === 'TASK_UNREACHABLE'),
      killing: count(isKilling),
      waitingInstances: need,
      ...(dep === undefined ? {} : { deployment: dep }),
      ...(app.lastFailure === undefined ? {} : { lastFailure: app.lastFailure }),
      backoffSeconds: app.backoff.delayMs / 1000,
      launchDelayRemainingSeconds: remaining / 1000,
      rejections,
      waiting,
      tasks,
    });
  }
}

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
 *
 * This file is the coordinator: the Framework handlers, the API commands, the serial queue,
 * convergence, offer interest, the wake-up timer and starting readiness probes. The parts live in:
 * records.ts (the in-memory records and marking them to be written), persistence.ts (pending
 * writes, flushing and store retries, undo snapshots, loading), placement.ts (placing instances on
 * offers, rejected-offer logs), slots.ts (instance slots and their launch backoff), deployments.ts
 * (start/end/rollback, progress deadlines), tasks.ts
 * (status updates, launch timeouts, unreachable expunges, kill retries), readiness.ts (the probe,
 * which probes are due, applying their answers), timing.ts (what falls due next) and views.ts.
 */
import { randomUUID } from 'node:crypto';
import type { Clock, TimerHandle } from '../../common/clock';
import type { Logger } from '../../common/logging';
import { ValidationError } from '../../common/wire/problems';
import type { GrpcServiceBinding } from '../../common/rpc/proto';
import type { FrameworkInfo } from '../../generated/berth/v1/FrameworkInfo';
import type { Offer__Output } from '../../generated/berth/v1/Offer';
import type { TaskStatus__Output } from '../../generated/berth/v1/TaskStatus';
import type { Framework, FrameworkContext, Registration, SchedulerApi } from '../sdk/framework';
import type { KeyValueStore } from '../sdk/store';
import { createServicesApi, servicesServiceBinding, type ServicesBackend } from './api';
import { canonicalJson, instancesProblem, needsRestart, type AppDefinition } from './app-definition';
import { Deployments, NEVER, stableVersion } from './deployments';
import { ServicesError } from './errors';
import type { AppRecord, DeploymentRecord } from './model';
import type { ServicesOptions } from './options';
import { loadRecords, restore, snapshot, StoreWriter } from './persistence';
import { planApp } from './planner';
import { MAX_LAUNCHES_PER_ROUND, placeOffers, type PlacementContext } from './placement';
import { applyReadinessResult, dueProbes, httpReadinessProbe, type ReadinessProbe, type ReadinessResult } from './readiness';
import { nextVersion, Records } from './records';
import { planSlots, settleSlots } from './slots';
import { applyStatus, expireTasks, killTask, type TaskContext } from './tasks';
import { launchNeed, nextWakeAt } from './timing';
import { appsUnder, appView, deploymentsView, type AppView } from './views';

export { MAX_LAUNCHES_PER_ROUND } from './placement';
export type { AppView } from './views';

/** Replaceable parts, for tests. */
export interface ServicesDeps {
  /** Runs readiness checks. @default an HTTP GET to the task's host and port */
  readonly readinessProbe?: ReadinessProbe;
  /** New ids for instances and deployments. @default crypto.randomUUID */
  readonly newId?: () => string;
}

export class ServicesScheduler implements Framework, ServicesBackend {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly store: KeyValueStore;
  private readonly scheduler: SchedulerApi;
  private readonly probe: ReadinessProbe;
  private readonly newId: () => string;
  private readonly defaultRole: string;

  private readonly writer: StoreWriter;
  private readonly records: Records;
  private readonly deployments: Deployments;
  private readonly placement: PlacementContext;
  private readonly taskContext: TaskContext;

  private loaded = false;
  private loadedAt = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly background = new Set<Promise<unknown>>();
  private wake: { timer: TimerHandle; at: number } | undefined;
  private offerInterest: 'revived' | 'suppressed' | undefined;
  private lastNeed = 0;
  private stopped = false;

  constructor(context: FrameworkContext, readonly options: ServicesOptions, deps: ServicesDeps = {}) {
    this.clock = context.clock;
    this.logger = context.logger;
    this.store = context.store;
    this.scheduler = context.scheduler;
    this.probe = deps.readinessProbe ?? httpReadinessProbe;
    this.newId = deps.newId ?? randomUUID;
    this.defaultRole = options.defaultRole ?? options.roles[0];
    this.writer = new StoreWriter(this.store, this.clock, this.logger, () => this.stopped, (batch) => this.track(batch));
    this.records = new Records(options, this.logger, this.writer.writes, this.writer.prefixDeletes);
    this.deployments = new Deployments(this.records, options, this.newId, this.logger);
    this.placement = {
      records: this.records, options, defaultRole: this.defaultRole, newId: this.newId, logger: this.logger,
      hasActiveDeployment: (appId) => this.deployments.active(appId) !== undefined,
    };
    this.taskContext = { records: this.records, scheduler: this.scheduler, logger: this.logger };
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
      const tasks = this.records.tasks;
      this.logger.info('subscribed', { frameworkId: registration.frameworkId, reregistered: registration.reregistered, tasks: tasks.size });
      this.offerInterest = undefined;
      const known = [...tasks.values()].map((t) => ({ taskId: t.taskId, agentId: t.agentId }));
      if (known.length > 0) this.scheduler.reconcile(known);
      for (const t of tasks.values()) if (t.killRequestedAt !== undefined) this.scheduler.kill(t.taskId, t.agentId);
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
    return this.run(async () => {
      applyStatus(this.taskContext, status, this.clock.now());
      await this.converge(false);
    });
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
    this.writer.clearRetry();
    await this.idle();
    // Whatever is still pending (e.g. task states of the last status updates): one last try.
    await this.writer.flush().catch(() => undefined);
    this.clearWake();
    this.writer.clearRetry();
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
      const existing = this.records.apps.get(def.id);
      if (existing === undefined) {
        const version = nextVersion(undefined, now);
        const app: AppRecord = { id: def.id, current: { version, configVersion: version, def }, lastVersion: version, createdAt: now, deleting: false, slots: {}, versionSeq: 0 };
        this.records.apps.set(app.id, app);
        this.records.recordVersion(app);
        const dep = this.deployments.start(app, 'CREATE', undefined, now);
        this.logger.info('app created', { appId: app.id, deploymentId: dep.id, instances: def.instances });
        return { deploymentId: dep.id, created: true };
      }
      if (canonicalJson(def) === canonicalJson(existing.current.def) && !existing.deleting) {
        return { deploymentId: this.deployments.active(existing.id)?.id ?? '', created: false };
      }
      const restart = needsRestart(existing.current.def, def);
      const version = nextVersion(existing, now);
      const dep = this.deployments.change(existing, { version, configVersion: restart ? version : existing.current.configVersion, def }, restart ? 'UPGRADE' : 'SCALE', opts.force === true, now);
      return { deploymentId: dep.id, created: false };
    });
  }

  /** Changes the number of instances. */
  scaleApp(appId: string, instances: number, opts: { force?: boolean } = {}): Promise<{ deploymentId: string }> {
    return this.command(() => this.records.getApp(appId).id, () => {
      const problem = instancesProblem(instances);
      if (problem !== undefined) throw ValidationError.of('instances', problem);
      const app = this.records.getApp(appId);
      if (instances === app.current.def.instances) return { deploymentId: this.deployments.active(app.id)?.id ?? '' };
      const now = this.clock.now();
      const def = { ...app.current.def, instances };
      const dep = this.deployments.change(app, { version: nextVersion(app, now), configVersion: app.current.configVersion, def }, 'SCALE', opts.force === true, now);
      return { deploymentId: dep.id };
    });
  }

  /** Replaces every task of the app (rolling, per its upgrade strategy). */
  restartApp(appId: string, opts: { force?: boolean } = {}): Promise<{ deploymentId: string }> {
    return this.command(() => this.records.getApp(appId).id, () => {
      const app = this.records.getApp(appId);
      const now = this.clock.now();
      const version = nextVersion(app, now);
      const dep = this.deployments.change(app, { version, configVersion: version, def: app.current.def }, 'RESTART', opts.force === true, now);
      return { deploymentId: dep.id };
    });
  }

  /** Kills every task of the app, then forgets it. Replaces a running deployment. */
  deleteApp(appId: string): Promise<{ deploymentId: string }> {
    return this.command(() => this.records.getApp(appId).id, () => {
      const app = this.records.getApp(appId);
      const active = this.deployments.active(app.id);
      if (app.deleting && active?.kind === 'DELETE') return { deploymentId: active.id };
      const now = this.clock.now();
      const from = stableVersion(app, active) ?? app.current;
      if (active !== undefined) this.deployments.end(active, 'SUPERSEDED', now, 'replaced by a delete');
      app.deleting = true;
      this.records.markApp(app);
      const dep = this.deployments.start(app, 'DELETE', from, now);
      if (active !== undefined) {
        active.supersededBy = dep.id;
        this.records.markDeployment(active);
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
      const dep = this.records.deployments.get(deploymentId);
      if (dep === undefined) throw new ServicesError('NOT_FOUND', `deployment_id: unknown deployment "${deploymentId}"`);
      return dep;
    };
    return this.command(() => find().appId, () => {
      const dep = find();
      if (dep.state !== 'RUNNING') throw new ServicesError('FAILED_PRECONDITION', `deployment_id: deployment "${deploymentId}" is ${dep.state}; only a RUNNING deployment can be cancelled`);
      const app = this.records.apps.get(dep.appId)!;
      const now = this.clock.now();
      this.deployments.end(dep, 'CANCELLED', now, 'cancelled');
      const rb = this.deployments.rollback(app, dep, now);
      return { rollbackDeploymentId: rb.id };
    });
  }

  getApp(appId: string): Promise<AppView> {
    return this.run(() => this.view(this.records.getApp(appId)));
  }

  /** Apps whose id is `prefix` or under it (`/shop` lists `/shop/web` too). */
  listApps(prefix = ''): Promise<AppView[]> {
    return this.run(() => appsUnder(this.records, prefix).map((a) => this.view(a)));
  }

  /** Deployments, newest first; finished ones only when asked. */
  listDeployments(opts: { appId?: string; includeFinished?: boolean } = {}): Promise<DeploymentRecord[]> {
    return this.run(() => deploymentsView(this.records, opts));
  }

  private view(app: AppRecord): AppView {
    return appView(this.records, app, this.deployments.active(app.id), this.clock.now());
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

  /** Keeps `work` (a background flush or probe) among what {@link idle} waits for. */
  private track(work: Promise<unknown>): void {
    this.background.add(work);
    void work.finally(() => this.background.delete(work));
  }

  /**
   * Runs a changing API command: `change` (synchronous) alters the records of the app `appIdOf` names;
   * its change is written to the store before anything acts on it (the convergence that follows), and
   * undone when it throws or cannot be written (then UNAVAILABLE). See the file comment.
   */
  private command<T>(appIdOf: () => string, change: () => T): Promise<T> {
    return this.run(async () => {
      if (this.stopped) throw new ServicesError('UNAVAILABLE', 'the services framework is stopping; retry');
      const undo = snapshot(this.records, appIdOf());
      let result: T;
      try {
        result = change();
      } catch (err) {
        restore(this.records, this.writer.writes, undo);
        throw err;
      }
      try {
        if (this.writer.pending) await this.writer.flush();
      } catch (err) {
        restore(this.records, this.writer.writes, undo);
        // Whatever of the change did reach the store is overwritten by the next flush (or the retry timer).
        this.logger.warn('an API change could not be saved; undone', { appId: undo.appId, err });
        throw new ServicesError('UNAVAILABLE', `the change to app ${undo.appId} could not be saved (${err instanceof Error ? err.message : String(err)}); it was not applied; retry`);
      }
      await this.converge();
      return result;
    });
  }

  private async ensureLoaded(): Promise<void> {
    if (this.loaded) return;
    await loadRecords(this.store, this.records);
    this.loaded = true;
    this.loadedAt = this.clock.now();
    const { apps, tasks, deployments } = this.records;
    if (apps.size + tasks.size > 0) this.logger.info('state loaded', { apps: apps.size, tasks: tasks.size, deployments: deployments.size });
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
    expireTasks(this.taskContext, this.options, this.loadedAt, now);
    for (const app of [...this.records.apps.values()]) this.convergeApp(app, now, true);
    this.startProbes(now);
    this.updateOfferInterest();
    await this.writer.flush(durable).catch(() => undefined); // logged, and retried, by flush
    this.scheduleWake(now);
  }

  private convergeApp(app: AppRecord, now: number, mayRollBack: boolean): void {
    const tasks = this.records.tasksOf(app.id);
    const current = app.current;
    const plan = planApp({ def: current.def, configVersion: current.configVersion, deleting: app.deleting }, tasks, now);
    for (const t of plan.kill) killTask(this.taskContext, t, now);
    // Which instance slots the launches fill, and which of those wait for their own backoff (slots.ts).
    const currentTasks = tasks.filter((t) => t.configVersion === current.configVersion);
    const slots = planSlots(app, currentTasks, plan.missing, plan.launch, now);
    if (settleSlots(app, currentTasks, slots.wanted, this.options.backoffResetSeconds * 1000, now)) this.records.markApp(app);
    this.records.need.set(app.id, slots.due.length);
    this.records.slotPlans.set(app.id, slots);
    if (this.deployments.advance(app, plan, now, this.loadedAt, mayRollBack)) {
      this.convergeApp(app, now, false);
      return;
    }
    if (app.deleting && plan.complete) this.records.removeApp(app);
  }

  private updateOfferInterest(): void {
    const need = launchNeed(this.records);
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
    const at = nextWakeAt(this.records, this.options, this.loadedAt, now);
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

  /**
   * Places what the apps need on the offers (at most {@link MAX_LAUNCHES_PER_ROUND} tasks), writes the
   * new task records, and only then launches; when they cannot be written, launches nothing.
   */
  private async handleOffers(offers: readonly Offer__Output[]): Promise<void> {
    const { launches, declines, deferred } = placeOffers(this.placement, offers, this.clock.now());
    if (launches.length > 0) {
      try {
        // The task records must be durable before the master hears of the tasks.
        await this.writer.flush();
      } catch (err) {
        this.logger.warn('task records could not be saved; launching nothing', { tasks: launches.reduce((n, l) => n + l.infos.length, 0), err });
        for (const { offer, infos } of launches.splice(0)) {
          for (const info of infos) {
            const t = this.records.tasks.get(info.task_id?.value ?? '');
            if (t !== undefined) this.records.forgetTask(t);
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

  // ------------------------------------------------------------------------------------------
  // Readiness
  // ------------------------------------------------------------------------------------------

  private startProbes(now: number): void {
    for (const { taskId, target, timeoutMs } of dueProbes(this.records, now)) {
      const done = this.probe(target, timeoutMs)
        .catch((err: unknown): ReadinessResult => ({ error: String(err) }))
        .then((result) => this.run(async () => {
          applyReadinessResult(this.records, taskId, result, this.clock.now());
          await this.converge();
        }))
        .catch((err: unknown) => this.logger.error('readiness result not applied', { taskId, err }));
      this.track(done);
    }
  }
}

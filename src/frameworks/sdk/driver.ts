/**
 * `SchedulerDriver`: the framework's end of `Scheduler.Connect` (proto/berth/v1/scheduler.proto),
 * kept alive for the framework's whole life, and the {@link SchedulerApi} plugins call.
 *
 * - **Subscribe / fail over**: the first call on each stream is SUBSCRIBE with the FrameworkInfo (and
 *   the roles currently suppressed); once a framework id is known (from the store, or the first
 *   SUBSCRIBED) it is sent along, so a restarted framework process takes its tasks back. A master that
 *   says the id was removed (NOT_FOUND) makes the driver forget it and register anew (logged loudly).
 * - **The connection** is a {@link SchedulerLink} (scheduler-link.ts): it follows a standby's pointer
 *   to the leader at once, re-dials a broken stream every ~250 ms for 30 s (a new leader serves
 *   within its lease), then with capped exponential backoff, trying the configured masters in turn,
 *   and drops a stream silent for `missedHeartbeats` heartbeat intervals (a master gone silently).
 * - **Acknowledgements**: an UPDATE with a uuid is acknowledged once the framework's `statusUpdate`
 *   has returned; if it throws, it is not (the master resends it later).
 * - **Reconciliation**: after every subscription, explicit reconciliation of every non-terminal task
 *   the driver knows (launched through it, seen in updates, or passed to `reconcile`) is sent once —
 *   the master answers each task at once or, while its agent is still expected back after a master
 *   failover, when that agent re-registers or is given up on — then one implicit reconciliation.
 *   Tasks still unanswered after `reconcileMinMs` (a safety net) are asked again, with backoff.
 * - Events reach the framework one at a time, in order; calls made while not subscribed are dropped
 *   (logged) — the framework re-decides after `registered`.
 */
import { nullLogger, type Logger } from '../../common/logging';
import type { Call } from '../../generated/berth/v1/Call';
import type { Event__Output } from '../../generated/berth/v1/Event';
import type { FrameworkInfo } from '../../generated/berth/v1/FrameworkInfo';
import type { Offer__Output } from '../../generated/berth/v1/Offer';
import type { Operation } from '../../generated/berth/v1/Operation';
import type { TaskInfo } from '../../generated/berth/v1/TaskInfo';
import type { TaskStatus__Output } from '../../generated/berth/v1/TaskStatus';
import type { FiltersArg, SchedulerApi } from './framework';
import { planGang, type GangLaunch, type GangOffer, type GangTaskBuilder } from './gangs';
import type { TaskShape } from './offer-match';
import { TaskReconciler } from './task-reconciler';
import { wireFilters } from './stream-calls';
import { FRAMEWORK_ID_KEY, type SchedulerDriverOptions } from './driver-options';
import { SchedulerLink } from './scheduler-link';

export { FRAMEWORK_ID_KEY, type SchedulerDriverOptions };

const NOT_FOUND = 5;

export class SchedulerDriver implements SchedulerApi {
  private readonly logger: Logger;
  /** The stream to the master, and keeping one open. */
  private readonly link: SchedulerLink;
  private id: string | undefined;
  private info: Partial<FrameworkInfo> & { name: string };
  private readonly suppressed = new Set<string>();
  /** The tasks the driver knows of, and their explicit reconciliation. */
  private readonly reconciler: TaskReconciler;
  private started = false;
  private stopped = false;
  /** Holds the event loop open while the driver runs ({@link SchedulerDriverOptions.keepProcessAlive}). */
  private keepAlive: NodeJS.Timeout | undefined;
  /** Events are handled one after another. */
  private queue: Promise<void> = Promise.resolve();
  private subscribedWaiters: (() => void)[] = [];

  constructor(private readonly options: SchedulerDriverOptions) {
    if (options.masters.length === 0) throw new Error('SchedulerDriver: at least one master address is needed');
    this.logger = (options.logger ?? nullLogger).child({ component: 'scheduler-driver' });
    this.reconciler = new TaskReconciler({
      clock: options.clock,
      minMs: options.reconcileMinMs ?? 60_000,
      maxMs: options.reconcileMaxMs ?? 600_000,
      send: (reconcile) => this.connected && (this.send({ type: 'RECONCILE', reconcile }), true),
    });
    this.link = new SchedulerLink(
      { ...options, logger: this.logger },
      {
        hello: () => ({ type: 'SUBSCRIBE', subscribe: { framework_info: this.frameworkInfo(), suppressed_roles: [...this.suppressed] } }),
        event: (event, master) => this.onEvent(event, master),
        refused: (code, message) => this.onRefused(code, message),
        ended: (subscribed) => this.onEnded(subscribed),
      },
    );
    this.info = options.framework.frameworkInfo();
  }

  get frameworkId(): string | undefined {
    return this.id;
  }

  get connected(): boolean {
    return this.link.subscribed;
  }

  /** The master dialled (the last leader learnt of). */
  get master(): string {
    return this.link.master;
  }

  /** Loads the stored framework id and dials the master. */
  async start(): Promise<void> {
    if (this.started) throw new Error('driver already started');
    this.started = true;
    if (this.options.keepProcessAlive !== false) this.keepAlive = setInterval(() => undefined, 1 << 30);
    this.id = (await this.options.store?.get<string>(FRAMEWORK_ID_KEY)) ?? undefined;
    this.link.start();
  }

  /** Resolves once subscribed and the framework's `registered` has run (at once when subscribed). */
  whenSubscribed(): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve) => this.subscribedWaiters.push(resolve));
  }

  /**
   * Closes the stream and stops re-dialling; the framework stays registered at the master until its
   * failover timeout (a new driver with the same store takes over). Waits for the event in progress.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    await this.halt();
    await this.queue;
  }

  /**
   * Unregisters the framework: the master kills its tasks and forgets it; the stored id is
   * forgotten and the driver stops. Rejects, changing nothing, when not subscribed. Does not wait
   * for the event in progress, so a handler may call it.
   */
  async teardown(): Promise<void> {
    if (this.stopped) throw new Error('teardown: the driver is stopped');
    if (!this.connected) throw new Error('teardown: not subscribed to a master; call it again after registered');
    this.send({ type: 'TEARDOWN', teardown: {} });
    this.logger.info('framework tearing itself down', { frameworkId: this.id });
    await this.halt();
    await this.options.store?.delete(FRAMEWORK_ID_KEY);
  }

  /** Stops re-dialling and ends the stream, after the master has taken every call written before. */
  private async halt(): Promise<void> {
    this.stopped = true;
    clearInterval(this.keepAlive);
    this.keepAlive = undefined;
    this.reconciler.pause();
    await this.link.halt();
  }

  // ---- SchedulerApi ----

  accept(offerIds: readonly string[], operations: readonly Operation[], filters?: FiltersArg): void {
    for (const op of operations) {
      const infos = op.launch?.task_infos ?? op.launch_group?.task_group?.tasks ?? [];
      for (const t of infos) if (t.task_id?.value) this.reconciler.track(t.task_id.value, t.agent_id?.value ?? undefined);
    }
    this.send({
      type: 'ACCEPT',
      accept: { offer_ids: offerIds.map((value) => ({ value })), operations: [...operations], ...wireFilters(filters) },
    });
  }

  launch(offer: Offer__Output, tasks: readonly TaskInfo[], filters?: FiltersArg): void {
    const infos = tasks.map((t) => ({ ...t, agent_id: t.agent_id ?? { value: offer.agent_id?.value ?? '' } }));
    this.accept([offer.id?.value ?? ''], [{ type: 'LAUNCH', launch: { task_infos: infos } }], filters);
  }

  acceptGang(gangId: string, launches: readonly GangLaunch[], filters?: FiltersArg): void {
    for (const l of launches) for (const t of l.tasks) if (t.task_id?.value) this.reconciler.track(t.task_id.value, l.offer.agent_id?.value ?? undefined);
    this.send({
      type: 'ACCEPT_GANG',
      accept_gang: {
        gang_id: gangId,
        launches: launches.map((l) => ({ offer_id: { value: l.offer.id?.value ?? '' }, operations: l.tasks.length === 0 ? [] : [{ type: 'LAUNCH', launch: { task_infos: [...l.tasks] } }] })),
        ...wireFilters(filters),
      },
    });
  }

  launchGang(gang: GangOffer, shape: TaskShape, build: GangTaskBuilder, filters?: FiltersArg): void {
    this.acceptGang(gang.gangId, planGang(gang, shape, gang.tasks, build), filters);
  }

  declineGang(gangId: string, filters?: FiltersArg): void {
    this.send({ type: 'DECLINE_GANG', decline_gang: { gang_id: gangId, ...wireFilters(filters) } });
  }

  decline(offerIds: readonly string[], filters?: FiltersArg): void {
    if (offerIds.length === 0) return;
    this.send({ type: 'DECLINE', decline: { offer_ids: offerIds.map((value) => ({ value })), ...wireFilters(filters) } });
  }

  kill(taskId: string, agentId?: string, gracePeriodMs?: number): void {
    const agent = agentId ?? this.reconciler.agentOf(taskId);
    this.send({
      type: 'KILL',
      kill: {
        task_id: { value: taskId },
        ...(agent !== undefined ? { agent_id: { value: agent } } : {}),
        ...(gracePeriodMs !== undefined ? { kill_policy: { grace_period: { nanoseconds: String(Math.round(gracePeriodMs * 1e6)) } } } : {}),
      },
    });
  }

  revive(roles?: readonly string[]): void {
    const list = roles ?? this.roles();
    for (const r of list) this.suppressed.delete(r);
    this.send({ type: 'REVIVE', revive: { roles: [...(roles ?? [])] } });
  }

  suppress(roles?: readonly string[]): void {
    for (const r of roles ?? this.roles()) this.suppressed.add(r);
    this.send({ type: 'SUPPRESS', suppress: { roles: [...(roles ?? [])] } });
  }

  reconcile(tasks: readonly { readonly taskId: string; readonly agentId?: string }[]): void {
    if (tasks.length === 0) {
      this.send({ type: 'RECONCILE', reconcile: { tasks: [] } });
      return;
    }
    this.reconciler.reconcile(tasks);
  }

  updateFramework(info: Partial<FrameworkInfo>): void {
    this.info = { ...this.info, ...info };
    if (this.id === undefined) return; // sent with the next SUBSCRIBE
    this.send({ type: 'UPDATE_FRAMEWORK', update_framework: { framework_info: this.frameworkInfo(), suppressed_roles: [...this.suppressed] } });
  }

  // ---- the stream ----

  private roles(): string[] {
    return [...(this.info.roles ?? ['*'])];
  }

  private frameworkInfo(): FrameworkInfo {
    return { user: '', roles: ['*'], ...this.info, ...(this.id !== undefined ? { id: { value: this.id } } : {}) } as FrameworkInfo;
  }

  private send(call: Omit<Call, 'framework_id'>): void {
    if (!this.link.write({ ...call, framework_id: { value: this.id ?? '' } })) this.logger.debug('call dropped: not subscribed', { type: call.type });
  }

  /** An event of the subscribed stream (a fatal ERROR is the link's: {@link onRefused}). */
  private onEvent(event: Event__Output, master: string): void {
    switch (event.type) {
      case 'SUBSCRIBED':
        this.onSubscribed(master, event.subscribed!);
        return;
      case 'ERROR': {
        const e = event.error!;
        this.logger.warn('the master refused a call', { message: e.message, requestId: e.request_id });
        this.dispatch(() => this.options.framework.error?.(e.message));
        return;
      }
      case 'HEARTBEAT':
        return;
      case 'OFFERS': {
        const all = event.offers?.offers ?? [];
        const offers = all.filter((o) => !o.gang_id);
        if (offers.length > 0 || all.length === 0) this.dispatch(() => this.options.framework.offers(offers));
        for (const g of event.offers?.gangs ?? []) {
          const gang: GangOffer = {
            gangId: g.gang_id,
            role: g.role,
            offers: all.filter((o) => o.gang_id === g.gang_id),
            tasks: g.tasks,
            holdUntilMs: Number(BigInt(g.hold_until?.nanoseconds ?? '0') / 1_000_000n),
          };
          const handler = this.options.framework.gangOffers;
          if (handler === undefined) {
            this.logger.warn('gang offer declined: the framework has no gangOffers handler', { gangId: gang.gangId });
            this.declineGang(gang.gangId);
          } else this.dispatch(() => handler.call(this.options.framework, gang));
        }
        return;
      }
      case 'RESCIND_GANG':
        this.dispatch(() => this.options.framework.gangRescinded?.(event.rescind_gang?.gang_id ?? '', event.rescind_gang?.reason ?? ''));
        return;
      case 'RESCIND':
        this.dispatch(() => this.options.framework.rescinded?.(event.rescind?.offer_id?.value ?? ''));
        return;
      case 'UPDATE':
        this.onUpdate(event.update!.status!);
        return;
      case 'FAILURE': {
        const agentId = event.failure?.agent_id?.value;
        if (agentId && event.failure?.executor_id == null) this.dispatch(() => this.options.framework.agentLost?.(agentId));
        return;
      }
      default:
        this.logger.debug('event not handled', { type: event.type });
    }
  }

  private onSubscribed(master: string, sub: NonNullable<Event__Output['subscribed']>): void {
    const id = sub.framework_id?.value ?? '';
    const reregistered = this.id === id;
    if (this.id !== id) {
      this.id = id;
      // Durable before the framework acts: a restart without it would register a second framework
      // while the first one's tasks live on until its failover timeout.
      this.dispatch(() => this.storeFrameworkId(id));
    }
    this.logger.info(reregistered ? 'framework re-subscribed' : 'framework subscribed', { frameworkId: id, master });
    // Everything the driver knows that is not over yet is asked for again, then everything else.
    this.reconciler.subscribed();
    this.send({ type: 'RECONCILE', reconcile: { tasks: [] } });
    this.dispatch(() => this.options.framework.registered?.({ frameworkId: id, reregistered, master }));
    this.dispatch(() => {
      for (const w of this.subscribedWaiters.splice(0)) w();
    });
  }

  private async storeFrameworkId(id: string): Promise<void> {
    const store = this.options.store;
    if (store === undefined) return;
    for (let attempt = 1, delay = 200; ; attempt++, delay *= 2) {
      try {
        await store.put(FRAMEWORK_ID_KEY, id);
        return;
      } catch (err) {
        if (attempt >= 5 || this.stopped) {
          this.logger.error('storing the framework id failed: a restart of this framework would register a new one', { frameworkId: id, err });
          return;
        }
        this.logger.warn('storing the framework id failed; retrying', { err, retryInMs: delay });
        await new Promise<void>((resolve) => this.options.clock.setTimeout(resolve, delay));
      }
    }
  }

  private onUpdate(status: TaskStatus__Output): void {
    this.reconciler.updated(status);
    const uuid = status.uuid;
    this.dispatch(async () => {
      await this.options.framework.statusUpdate(status);
      if (uuid !== undefined && uuid !== null && uuid.length > 0) {
        this.send({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: status.agent_id ?? undefined, task_id: status.task_id ?? undefined, uuid } });
      }
    }, 'statusUpdate');
  }

  /**
   * A fatal ERROR that does not point at the leader (the link follows those). NOT_FOUND for a known
   * id: the master removed the framework, so it registers anew at once; otherwise after a backoff.
   */
  private onRefused(code: number, message: string): boolean {
    if (code === NOT_FOUND && this.id !== undefined) {
      this.logger.error('the master no longer knows this framework (removed or past its failover timeout): registering anew', { frameworkId: this.id, message });
      this.id = undefined;
      this.reconciler.clear();
      this.options.store?.delete(FRAMEWORK_ID_KEY).catch((err: unknown) => this.logger.warn('forgetting the framework id failed', { err }));
      return true;
    }
    this.logger.warn('the master ended the stream', { code, message });
    this.dispatch(() => this.options.framework.error?.(message));
    return false;
  }

  /** The stream ended; the link dials again (unless stopped). */
  private onEnded(subscribed: boolean): void {
    this.reconciler.pause();
    if (subscribed) this.dispatch(() => this.options.framework.disconnected?.());
  }

  /** Runs a framework handler after the previous one; a throw is logged (and, for updates, not acked). */
  private dispatch(handler: () => unknown, what = 'handler'): void {
    this.queue = this.queue.then(async () => {
      try {
        await handler();
      } catch (err) {
        this.logger.error(`the framework's ${what} failed`, { err });
      }
    });
  }
}

import { randomUUID } from 'node:crypto';
import { status as Status } from '@grpc/grpc-js';
import type { FrameworkInfo__Output } from '../generated/berth/v1/FrameworkInfo';
import { CompletedFrameworks } from './completed-frameworks';
import { MasterError } from './errors';
import type { CoreServices, FrameworksPort, MaintenancePort, OffersPort, TasksPort } from './core-ports';
import type { FrameworkEntry, FrameworkSink } from './model';
import { validateFrameworkInfo, type PriorityCheck, type ValidFramework } from './validation/framework-info';
import { clusterCapacity, gangClusterProblems } from './validation/gangs';
import { ValidationError } from '../common/wire';
import { isTerminal } from './task-states';
import type { RegistryOp } from './registry/registry';

/** A framework as stored in the registry. */
interface FrameworkRecord {
  readonly info: FrameworkInfo__Output;
  readonly registeredAt: number;
  readonly disconnectedAt?: number;
}

/** Completed frameworks kept when the options name no bound (the master config's default). */
const DEFAULT_MAX_COMPLETED_FRAMEWORKS = 50;

const KEY = (id: string) => `frameworks/${id}`;
const TOMBSTONE = (id: string) => `removed-frameworks/${id}`;

/**
 * Framework lifecycle: subscribe (new or failover), one live stream per framework, heartbeats,
 * disconnect → failover timeout → removal, teardown, UPDATE_FRAMEWORK. Frameworks are persisted
 * with their failover timeout and disconnection time, so a master failover does not forget a
 * pending timeout (Mesos did: MESOS-4659) nor kill a framework that is merely reconnecting.
 */
/** What the framework manager needs of the core. */
export type FrameworkManagerCore = CoreServices & {
  readonly offers: Pick<OffersPort, 'offers' | 'rescind' | 'rescindForFramework' | 'rescindUndeclaredGangs'>;
  readonly tasks: Pick<TasksPort, 'pending' | 'sendKill' | 'masterUpdate'>;
  readonly maintenance: Pick<MaintenancePort, 'resend' | 'forgetFramework'>;
};

export class FrameworkManager implements FrameworksPort {
  /** Removed frameworks (teardown or failover timeout) with their completed tasks, bounded. */
  readonly completed: CompletedFrameworks;
  /** Ids of every removed framework (tombstones in the registry), so agents cannot bring one back. */
  private readonly removedIds = new Set<string>();

  constructor(private readonly core: FrameworkManagerCore) {
    this.completed = new CompletedFrameworks(() => core.options.maxCompletedFrameworks ?? DEFAULT_MAX_COMPLETED_FRAMEWORKS);
  }

  /**
   * SUBSCRIBE. Returns the framework; throws MasterError (PERMISSION_DENIED, NOT_FOUND,
   * INVALID_ARGUMENT) for a subscription the master refuses.
   */
  subscribe(sink: FrameworkSink, given: FrameworkInfo__Output, principal: string | undefined, suppressedRoles: readonly string[]): FrameworkEntry {
    const wire = withPrincipal(given, principal);
    const info = validateFrameworkInfo(wire, 'framework_info', this.priorities(true));
    this.checkGangsFit(info);
    this.authorize(info, principal);
    const now = this.core.clock.now();
    const existing = info.id === undefined ? undefined : this.core.frameworks.get(info.id);
    if (info.id !== undefined && existing === undefined) {
      const gone = this.removedIds.has(info.id);
      throw new MasterError(Status.NOT_FOUND, `framework_info.id: framework "${info.id}" ${gone ? 'has been removed (torn down or past its failover timeout)' : 'is unknown to this master'}; subscribe without an id to register anew`);
    }
    if (existing !== undefined) return this.failover(existing, sink, info, wire, suppressedRoles, now);
    const id = randomUUID();
    const fw: FrameworkEntry = {
      id,
      info: { ...info, id },
      wire: { ...wire, id: { value: id } },
      sink,
      connected: true,
      registered: true,
      provisional: false,
      registeredAt: now,
      reregisteredAt: undefined,
      disconnectedAt: undefined,
      failoverTimer: undefined,
      heartbeatTimer: undefined,
      suppressed: suppressedOf(info.roles, suppressedRoles),
      tasks: new Map(),
      completed: [],
      offers: new Set(),
    };
    this.core.frameworks.set(id, fw);
    this.core.allocator.addFramework(id, { ...info.description, suppressedRoles: [...fw.suppressed] }, true);
    this.subscribed(fw);
    this.persist(fw);
    this.core.publish('FRAMEWORK_ADDED', { frameworkId: id, name: info.name });
    this.core.logger.info('framework registered', { frameworkId: id, name: info.name, roles: info.roles });
    this.core.allocateSoon();
    return fw;
  }

  /**
   * Refuses (INVALID_ARGUMENT, with the numbers) a gang that could not fit even in the empty
   * cluster of the agents registered now. With no agent registered yet nothing is checked: the
   * gang waits for agents.
   */
  private checkGangsFit(info: ValidFramework): void {
    const gangs = info.description.gangs ?? {};
    if (Object.keys(gangs).length === 0) return;
    const cluster = clusterCapacity(this.core.agents.values());
    if (cluster.agents === 0) return;
    const problems = gangClusterProblems(gangs, cluster, (role, i) => `framework_info.demand[${JSON.stringify(role)}].gangs[${i}]`);
    if (problems.length > 0) throw new ValidationError(problems);
  }

  /** Priority classes as validation uses them: strict for what a framework sends, lenient for what the master recovers. */
  private priorities(strict: boolean): PriorityCheck {
    return { classes: this.core.priorityClasses, strict };
  }

  /** The stream of a framework ended: keep its tasks until its failover timeout. */
  disconnected(fw: FrameworkEntry, sink: FrameworkSink): void {
    if (fw.sink !== sink) return; // an older stream closed after a failover: nothing to do
    fw.sink = undefined;
    fw.connected = false;
    fw.disconnectedAt = this.core.clock.now();
    this.core.tasks.pending.dropFramework(fw.id); // it reconciles again when it re-subscribes
    this.core.clock.clearInterval(fw.heartbeatTimer);
    fw.heartbeatTimer = undefined;
    this.core.allocator.deactivateFramework(fw.id);
    this.core.offers.rescindForFramework(fw.id, 'framework_disconnected');
    this.startFailoverTimer(fw, this.failoverTimeout(fw.info));
    this.persist(fw);
    this.core.publish('FRAMEWORK_UPDATED', { frameworkId: fw.id, connected: false });
    this.core.logger.info('framework disconnected', { frameworkId: fw.id, failoverTimeoutMs: fw.info.failoverTimeoutMs });
  }

  /** UPDATE_FRAMEWORK: roles, capabilities, constraints, demand and suppressed roles change at once. */
  update(fw: FrameworkEntry, given: FrameworkInfo__Output, principal: string | undefined, suppressedRoles: readonly string[]): void {
    const wire = withPrincipal(given, principal);
    const info = validateFrameworkInfo({ ...wire, id: { value: fw.id } }, 'framework_info', this.priorities(true));
    this.checkGangsFit(info);
    this.checkUnchangeable(fw.info, info);
    this.authorize(info, principal);
    fw.info = info;
    fw.wire = { ...wire, id: { value: fw.id } };
    fw.suppressed = suppressedOf(info.roles, suppressedRoles);
    this.core.allocator.updateFramework(fw.id, { ...info.description, suppressedRoles: [...fw.suppressed] });
    for (const offerId of [...fw.offers]) {
      const offer = this.core.offers.offers.get(offerId);
      if (offer !== undefined && !info.roles.includes(offer.role)) this.core.offers.rescind(offerId, 'framework_disconnected');
    }
    this.core.offers.rescindUndeclaredGangs(fw.id, new Set(Object.values(info.description.gangs ?? {}).flat().map((g) => g.id)));
    for (const agent of this.core.agents.values()) {
      if ([...agent.tasks.values()].some((t) => t.frameworkId === fw.id)) agent.sink?.send({ type: 'UPDATE_FRAMEWORK', update_framework: { framework_info: fw.wire } });
    }
    this.persist(fw);
    this.core.publish('FRAMEWORK_UPDATED', { frameworkId: fw.id });
    this.core.allocateSoon();
  }

  /**
   * SUPPRESS: no offers for `roles` (undefined: all the framework's roles) until REVIVE. Watch gets
   * FRAMEWORK_UPDATED when the set of suppressed roles changed (suppressing a suppressed role is
   * not a change).
   */
  suppress(fw: FrameworkEntry, roles: readonly string[] | undefined): void {
    const before = fw.suppressed.size;
    for (const r of roles ?? fw.info.roles) fw.suppressed.add(r);
    this.core.allocator.suppressOffers(fw.id, roles);
    if (fw.suppressed.size !== before) this.core.publish('FRAMEWORK_UPDATED', { frameworkId: fw.id, suppressedRoles: [...fw.suppressed] });
  }

  /**
   * REVIVE: offers again for `roles` (undefined: all), filters cleared. FRAMEWORK_UPDATED follows
   * when a role left the suppressed set.
   */
  revive(fw: FrameworkEntry, roles: readonly string[] | undefined): void {
    const before = fw.suppressed.size;
    for (const r of roles ?? fw.info.roles) fw.suppressed.delete(r);
    this.core.allocator.reviveOffers(fw.id, roles);
    if (fw.suppressed.size !== before) this.core.publish('FRAMEWORK_UPDATED', { frameworkId: fw.id, suppressedRoles: [...fw.suppressed] });
    this.core.allocateSoon();
  }

  /**
   * TEARDOWN (by the framework or an operator): kill everything, forget the framework. The removal
   * is durable first (a lost tombstone would let the framework re-subscribe after a failover); a
   * failed write rejects with UNAVAILABLE and changes nothing.
   */
  async teardown(fw: FrameworkEntry, reason: string): Promise<void> {
    await this.core.persistFirst(this.removalOps(fw), `teardown of framework ${fw.id}`);
    if (this.core.frameworks.get(fw.id) !== fw) return; // removed meanwhile
    this.remove(fw, reason, false);
  }

  /** Rebuilds frameworks from the registry after an election; none is connected yet. */
  recover(records: ReadonlyMap<string, unknown>): void {
    const now = this.core.clock.now();
    for (const key of records.keys()) if (key.startsWith('removed-frameworks/')) this.removedIds.add(key.slice('removed-frameworks/'.length));
    for (const [key, value] of records) {
      if (!key.startsWith('frameworks/')) continue;
      const record = value as FrameworkRecord;
      let info: ValidFramework;
      try {
        info = validateFrameworkInfo(record.info, 'framework_info', this.priorities(false));
      } catch (err) {
        this.core.logger.error('registry holds an invalid framework record; skipping it', { key, err });
        continue;
      }
      const id = key.slice('frameworks/'.length);
      const fw = this.newEntry(id, { ...info, id }, record.info, record.registeredAt, record.disconnectedAt ?? now);
      this.core.frameworks.set(id, fw);
      this.core.allocator.addFramework(id, info.description, false);
      // The old leader may have died while the framework was connected: it gets its full failover
      // timeout from now, and never less than a grace period to find the new leader.
      const elapsed = record.disconnectedAt === undefined ? 0 : now - record.disconnectedAt;
      this.startFailoverTimer(fw, Math.max(this.failoverTimeout(info) - elapsed, this.core.options.heartbeatIntervalMs * 5));
    }
  }

  /** Whether the framework was removed (torn down or past its failover timeout); survives failovers. */
  isRemoved(id: string): boolean {
    return this.removedIds.has(id);
  }

  /** A repeated SUBSCRIBE on an already subscribed stream: answered again, nothing changes. */
  resendSubscribed(fw: FrameworkEntry): void {
    this.subscribed(fw);
  }

  /** A framework known only from an agent's re-registration (the registry lost it, or it predates it). */
  adopt(wire: FrameworkInfo__Output): FrameworkEntry | undefined {
    const id = wire.id?.value;
    if (id === undefined || id === '') return undefined;
    const known = this.core.frameworks.get(id);
    if (known !== undefined) return known;
    let info: ValidFramework;
    try {
      info = validateFrameworkInfo(wire, 'framework_info', this.priorities(false));
    } catch {
      return undefined;
    }
    const now = this.core.clock.now();
    const fw = this.newEntry(id, info, wire, now, now);
    fw.provisional = true;
    this.core.frameworks.set(id, fw);
    this.core.allocator.addFramework(id, info.description, false);
    this.startFailoverTimer(fw, Math.max(this.failoverTimeout(info), this.core.options.heartbeatIntervalMs * 5));
    return fw;
  }

  stop(reason: string): void {
    for (const fw of this.core.frameworks.values()) {
      this.core.clock.clearInterval(fw.heartbeatTimer);
      this.core.clock.clearTimeout(fw.failoverTimer);
      fw.sink?.close({ code: Status.UNAVAILABLE, message: reason });
      fw.sink = undefined;
    }
  }

  private failover(fw: FrameworkEntry, sink: FrameworkSink, given: ValidFramework, givenWire: FrameworkInfo__Output, suppressedRoles: readonly string[], now: number): FrameworkEntry {
    // A re-subscription that names no user keeps the one registered (FrameworkInfo.user is fixed):
    // frameworks of SDKs that used to send a default user fail over after an upgrade.
    const keepUser = given.user === '' && fw.info.user !== '' && !fw.provisional;
    const info = keepUser ? { ...given, user: fw.info.user } : given;
    const wire = keepUser ? { ...givenWire, user: fw.info.user } : givenWire;
    if (fw.registered && !fw.provisional) this.checkUnchangeable(fw.info, info);
    fw.provisional = false;
    const old = fw.sink;
    fw.sink = sink;
    if (old !== undefined && old !== sink) old.close({ code: Status.ABORTED, message: 'framework failed over: a newer SUBSCRIBE with the same id took over' });
    this.core.tasks.pending.dropFramework(fw.id); // asks of an older stream: it reconciles after SUBSCRIBED
    this.core.clock.clearTimeout(fw.failoverTimer);
    fw.failoverTimer = undefined;
    fw.info = info;
    fw.wire = { ...wire, id: { value: fw.id } };
    fw.connected = true;
    fw.registered = true;
    fw.reregisteredAt = now;
    fw.disconnectedAt = undefined;
    fw.suppressed = suppressedOf(info.roles, suppressedRoles);
    this.core.offers.rescindForFramework(fw.id, 'framework_disconnected');
    this.core.allocator.updateFramework(fw.id, { ...info.description, suppressedRoles: [...fw.suppressed] });
    this.core.allocator.activateFramework(fw.id);
    this.subscribed(fw);
    this.core.maintenance.resend(fw);
    this.persist(fw);
    this.core.publish('FRAMEWORK_UPDATED', { frameworkId: fw.id, connected: true });
    this.core.logger.info('framework re-subscribed', { frameworkId: fw.id });
    this.core.allocateSoon();
    return fw;
  }

  private subscribed(fw: FrameworkEntry): void {
    const interval = this.core.options.heartbeatIntervalMs;
    fw.sink!.send({ type: 'SUBSCRIBED', subscribed: { framework_id: { value: fw.id }, heartbeat_interval_seconds: interval / 1000, master_info: this.core.masterInfo() } });
    this.core.clock.clearInterval(fw.heartbeatTimer);
    fw.heartbeatTimer = this.core.clock.setInterval(() => fw.sink?.send({ type: 'HEARTBEAT', heartbeat: {} }), interval);
  }

  private failoverTimeout(info: ValidFramework): number {
    return info.failoverTimeoutMs > 0 ? info.failoverTimeoutMs : (this.core.options.defaultFailoverTimeoutMs ?? 0);
  }

  private startFailoverTimer(fw: FrameworkEntry, ms: number): void {
    this.core.clock.clearTimeout(fw.failoverTimer);
    fw.failoverTimer = this.core.clock.setTimeout(() => {
      fw.failoverTimer = undefined;
      if (!fw.connected) this.remove(fw, 'failover timeout expired');
    }, Math.max(0, ms));
  }

  private removalOps(fw: FrameworkEntry): RegistryOp[] {
    return [{ key: KEY(fw.id), delete: true }, { key: TOMBSTONE(fw.id), value: this.core.clock.now() }];
  }

  private remove(fw: FrameworkEntry, reason: string, write = true): void {
    this.core.clock.clearTimeout(fw.failoverTimer);
    this.core.clock.clearInterval(fw.heartbeatTimer);
    this.core.offers.rescindForFramework(fw.id, 'framework_disconnected');
    for (const task of [...fw.tasks.values()]) {
      if (!isTerminal(task.state)) this.core.tasks.sendKill(task);
      this.core.tasks.masterUpdate(task, 'TASK_KILLED', 'REASON_FRAMEWORK_REMOVED', `framework removed: ${reason}`);
    }
    for (const agent of this.core.agents.values()) agent.sink?.send({ type: 'SHUTDOWN_FRAMEWORK', shutdown_framework: { framework_id: { value: fw.id } } });
    const sink = fw.sink;
    fw.sink = undefined;
    fw.connected = false;
    sink?.close({ code: Status.CANCELLED, message: `framework removed: ${reason}` });
    this.core.allocator.removeFramework(fw.id);
    this.core.frameworks.delete(fw.id);
    this.core.tasks.pending.dropFramework(fw.id);
    this.completed.add(fw);
    this.removedIds.add(fw.id);
    this.core.maintenance.forgetFramework(fw.id);
    if (write) void this.core.persist(this.removalOps(fw)).catch(() => undefined);
    this.core.publish('FRAMEWORK_REMOVED', { frameworkId: fw.id, reason });
    this.core.logger.info('framework removed', { frameworkId: fw.id, reason });
    this.core.allocateSoon();
  }

  private authorize(info: ValidFramework, principal: string | undefined): void {
    if (this.core.authorizer === undefined) return;
    if (info.principal !== undefined && principal !== undefined && info.principal !== principal) {
      throw new MasterError(Status.PERMISSION_DENIED, `framework_info.principal: "${info.principal}" does not match the authenticated principal "${principal}"`);
    }
    for (const role of info.roles) {
      if (!this.core.allowed(principal === undefined ? undefined : { name: principal }, 'register_framework', role)) {
        throw new MasterError(Status.PERMISSION_DENIED, `framework_info.roles: principal "${principal ?? '(none)'}" may not register in role "${role}"`);
      }
    }
  }

  private checkUnchangeable(before: ValidFramework, after: ValidFramework): void {
    const changed: string[] = [];
    if (before.principal !== after.principal) changed.push(`principal ("${before.principal ?? ''}" → "${after.principal ?? ''}")`);
    if (before.checkpoint !== after.checkpoint) changed.push(`checkpoint (${before.checkpoint} → ${after.checkpoint})`);
    if (before.user !== after.user) changed.push(`user ("${before.user}" → "${after.user}")`);
    if (changed.length > 0) throw new MasterError(Status.INVALID_ARGUMENT, `framework_info: these fields cannot change after registration: ${changed.join(', ')}`);
  }

  private newEntry(id: string, info: ValidFramework, wire: FrameworkInfo__Output, registeredAt: number, disconnectedAt: number): FrameworkEntry {
    return {
      id,
      info,
      wire: { ...wire, id: { value: id } },
      sink: undefined,
      connected: false,
      registered: true,
      provisional: false,
      registeredAt,
      reregisteredAt: undefined,
      disconnectedAt,
      failoverTimer: undefined,
      heartbeatTimer: undefined,
      suppressed: new Set(),
      tasks: new Map(),
      completed: [],
      offers: new Set(),
    };
  }

  private persist(fw: FrameworkEntry): void {
    const record: FrameworkRecord = { info: fw.wire, registeredAt: fw.registeredAt, disconnectedAt: fw.disconnectedAt };
    void this.core.persist([{ key: KEY(fw.id), value: record }]).catch(() => undefined);
  }
}

/**
 * An authenticated framework that names no principal in its FrameworkInfo acts as the principal it
 * authenticated as (as Mesos fills it in): the ACLs for its tasks, reservations and teardown are
 * checked against that name. Without this, every task of such a framework was TASK_UNAUTHORIZED.
 */
function withPrincipal(wire: FrameworkInfo__Output, principal: string | undefined): FrameworkInfo__Output {
  return principal === undefined || (wire.principal ?? '') !== '' ? wire : { ...wire, principal };
}

/** The suppressed roles that are the framework's (linear: both lists may be long). */
function suppressedOf(roles: readonly string[], suppressedRoles: readonly string[]): Set<string> {
  const own = new Set(roles);
  return new Set(suppressedRoles.filter((r) => own.has(r)));
}

import { randomUUID } from 'node:crypto';
import type { Allocator } from '../allocator/allocator';
import type { AgentDescription } from '../allocator/types';
import type { Clock, TimerHandle } from '../common/clock';
import type { Logger } from '../common/logging';
import type { MasterInfo } from '../generated/berth/v1/MasterInfo';
import { AgentManager } from './agent-manager';
import { MaintenanceManager } from './maintenance';
import type { AccessPolicy, AuthAction, Principal } from '../common/auth';
import type { ClusterEventKind } from './event-bus';
import { EventBus } from './event-bus';
import { FrameworkManager } from './framework-manager';
import type { MasterMetrics } from './metrics';
import type { AgentEntry, FrameworkEntry } from './model';
import { OfferManager } from './offer-manager';
import { RoleAllocationEvents } from './role-events';
import type { Registry, RegistryOp } from './registry/registry';
import { RegistryFencedError } from './registry/registry';
import { status as Status } from '@grpc/grpc-js';
import { MasterError } from './errors';
import { TaskTracker } from './task-tracker';
import type { MasterCoreOptions, TaskLabelDecorators } from './core-ports';
import { Preemptor } from './preemption';
import { PriorityClasses } from './priorities';
import { agentDescription } from './agent-description';

export type { MasterCoreOptions } from './core-ports';
export { agentDescription } from './agent-description';


export interface MasterCoreDeps {
  readonly clock: Clock;
  readonly allocator: Allocator;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly metrics?: MasterMetrics;
  /** Undefined: authorization disabled (explicitly configured so). */
  readonly authorizer?: AccessPolicy;
  /** Hooks run on every task launched (docs/modules.md). @default none */
  readonly taskLabelDecorators?: TaskLabelDecorators;
  /** Called when a registry write was fenced: another master leads; this one must step down. */
  readonly onDeposed?: (reason: string) => void;
}

/**
 * The leading master's state and the components that change it. One instance per term of
 * leadership: a master that is deposed drops it, a master that is elected builds a new one from
 * the registry (`recover`). Everything runs on the event loop; no method is re-entrant-unsafe
 * beyond what JavaScript's single thread gives.
 */
export class MasterCore {
  readonly frameworks = new Map<string, FrameworkEntry>();
  readonly agents = new Map<string, AgentEntry>();
  readonly bus: EventBus;
  /**
   * This term's identity, for Watch: sequence numbers restart with every term, so a stream may
   * resume only within the epoch its numbers came from. Random, not just the start time: a master
   * re-elected within the same millisecond (or on a fake clock) must not reuse it.
   */
  readonly epoch: string;
  readonly offers: OfferManager;
  readonly tasks: TaskTracker;
  readonly frameworkManager: FrameworkManager;
  readonly agentManager: AgentManager;
  readonly clock: Clock;
  readonly allocator: Allocator;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly metrics: MasterMetrics | undefined;
  readonly authorizer: AccessPolicy | undefined;
  readonly taskLabelDecorators: NonNullable<MasterCoreDeps['taskLabelDecorators']>;
  readonly startedAt: number;
  readonly maintenance: MaintenanceManager;
  readonly priorityClasses: PriorityClasses;
  readonly preemptor: Preemptor;
  private allocationTimer: TimerHandle | undefined;
  private promptAllocation: TimerHandle | undefined;
  private readonly pendingAgents = new Set<string>();
  /** A prompt cycle over all agents was asked for (it subsumes agent-specific requests). */
  private pendingAll = false;
  private stopped = false;
  private readonly roleEvents: RoleAllocationEvents;
  private writes: Promise<void> = Promise.resolve();
  private readonly stopListeners = new Set<(reason: string) => void>();

  constructor(
    readonly options: MasterCoreOptions,
    private readonly deps: MasterCoreDeps,
  ) {
    this.clock = deps.clock;
    this.allocator = deps.allocator;
    this.registry = deps.registry;
    this.logger = deps.logger;
    this.metrics = deps.metrics;
    this.authorizer = deps.authorizer;
    this.taskLabelDecorators = deps.taskLabelDecorators ?? [];
    this.priorityClasses = new PriorityClasses(options.priorityClasses);
    this.startedAt = deps.clock.now();
    this.bus = new EventBus(options.maxBufferedEvents ?? 10_000);
    this.epoch = `${options.masterId}@${this.startedAt}/${randomUUID().slice(0, 8)}`;
    this.offers = new OfferManager(this);
    this.tasks = new TaskTracker(this);
    this.frameworkManager = new FrameworkManager(this);
    this.agentManager = new AgentManager(this);
    this.maintenance = new MaintenanceManager(this);
    this.preemptor = new Preemptor(this, options.preemption);
    this.roleEvents = new RoleAllocationEvents(() => this.allocator.roles(), (role) => this.publish('ROLE_UPDATED', { role, reason: 'allocation' }));
  }

  /** Rebuilds state from the registry, then starts the allocation timer. */
  /** Recovers from the registry (`records` when the caller read it ahead) and starts allocating. */
  async start(records?: ReadonlyMap<string, unknown>): Promise<void> {
    records ??= await this.registry.load();
    this.recoverPolicy(records);
    this.agentManager.recover(records);
    this.frameworkManager.recover(records);
    this.maintenance.recover(records);
    this.maintenance.apply();
    this.allocationTimer = this.clock.setInterval(() => this.allocate(), this.options.allocationIntervalMs);
    this.logger.info('master core started', { agents: this.agents.size, frameworks: this.frameworks.size });
  }

  /** Weights and quotas from the registry. */
  private recoverPolicy(records: ReadonlyMap<string, unknown>): void {
    const weights = new Map<string, number>();
    for (const [key, value] of records) {
      if (key.startsWith('weights/')) weights.set(key.slice('weights/'.length), value as number);
      else if (key.startsWith('quotas/')) {
        const q = value as { guarantees: [string, number][]; limits: [string, number][] };
        this.allocator.updateQuota(key.slice('quotas/'.length), { guarantees: new Map(q.guarantees), limits: new Map(q.limits) });
      }
    }
    if (weights.size > 0) this.allocator.updateWeights(weights);
  }

  /** Stops timers and closes every stream (frameworks and agents reconnect to the next leader). */
  stop(reason = 'master stopping'): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clock.clearInterval(this.allocationTimer);
    this.clock.clearTimeout(this.promptAllocation);
    for (const offer of this.offers.offers.values()) this.clock.clearTimeout(offer.timer);
    this.offers.stopTimers();
    this.frameworkManager.stop(reason);
    this.agentManager.stop(reason);
    for (const listener of [...this.stopListeners]) listener(reason);
    this.stopListeners.clear();
  }

  /**
   * Calls `listener` when this core stops (deposed or shutting down), for what lives outside the
   * core but must end with it (Watch streams). Returns an unsubscribe function.
   */
  whenStopped(listener: (reason: string) => void): () => void {
    this.stopListeners.add(listener);
    return () => this.stopListeners.delete(listener);
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** One allocation cycle over all agents (or those that freed resources), turned into offers. */
  allocate(agentIds?: Iterable<string>): void {
    if (this.stopped) return;
    this.offers.expireGangs(); // a late hold timer must not let a gang outlive its bound
    const started = process.hrtime.bigint();
    const allocations = this.allocator.allocate(this.clock.now(), agentIds);
    this.metrics?.allocationCycle.observe(Number(process.hrtime.bigint() - started) / 1e9);
    if (allocations.length > 0) this.offers.makeOffers(allocations);
    if (agentIds === undefined) this.preemptor.afterBatch();
    this.roleEvents.afterCycle();
  }

  /**
   * Asks for a prompt allocation of an agent's freed resources, batched: all agents freed within
   * one turn of the event loop go into a single cycle.
   */
  allocateSoon(agentId?: string): void {
    if (this.stopped) return;
    if (agentId === undefined) this.pendingAll = true;
    else this.pendingAgents.add(agentId);
    if (this.promptAllocation !== undefined) return;
    this.promptAllocation = this.clock.setTimeout(() => {
      this.promptAllocation = undefined;
      const ids = this.pendingAll ? undefined : [...this.pendingAgents];
      this.pendingAgents.clear();
      this.pendingAll = false;
      this.allocate(ids);
    }, 0);
  }

  /**
   * Queues registry changes. Writes are issued in order without waiting for each other (the
   * registry pipelines them); the promise settles when this batch is durable. A fenced write
   * means another master leads: this one steps down.
   */
  persist(ops: readonly RegistryOp[]): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    const started = process.hrtime.bigint();
    const write = this.registry.write(ops);
    const done = write.then(
      () => {
        this.metrics?.registryWrite.observe(Number(process.hrtime.bigint() - started) / 1e9);
        this.metrics?.registryWrites.inc({ result: 'ok' });
      },
      (err: unknown) => {
        this.metrics?.registryWrites.inc({ result: err instanceof RegistryFencedError ? 'fenced' : 'error' });
        if (err instanceof RegistryFencedError) {
          this.logger.error('registry write fenced: another master leads, stepping down', { err });
          this.deps.onDeposed?.('registry write fenced');
        } else {
          this.logger.error('registry write failed', { err });
        }
        throw err;
      },
    );
    this.writes = done.catch(() => undefined);
    return done;
  }

  /**
   * For operator-visible changes, as Mesos's registrar: the caller persists, then applies, then
   * answers. A failed write becomes UNAVAILABLE naming `what` and saying nothing changed; the
   * caller must not apply the change then.
   */
  async persistFirst(ops: readonly RegistryOp[], what: string): Promise<void> {
    try {
      await this.persist(ops);
    } catch (err) {
      const why = err instanceof RegistryFencedError ? 'this master is no longer the leader' : (err as Error).message;
      throw new MasterError(Status.UNAVAILABLE, `${what}: the registry write failed (${why}); nothing was changed`, { cause: err });
    }
    if (this.stopped) throw new MasterError(Status.UNAVAILABLE, `${what}: this master stopped leading before the change was applied; nothing was changed here`);
  }

  /** Resolves when every write queued so far has settled. */
  flush(): Promise<void> {
    return this.writes;
  }

  publish(kind: ClusterEventKind, payload: Record<string, unknown>): void {
    this.bus.publish(kind, this.clock.now(), payload);
  }

  /** Whether `principal` may do `action` on `object` (always, when authorization is disabled). */
  allowed(principal: Principal | undefined, action: AuthAction, object?: string, user?: string): boolean {
    return this.authorizer === undefined || this.authorizer.allowed(principal, action, object, user);
  }

  masterInfo(): MasterInfo {
    return describeMaster(this.options, { leading: !this.stopped, startedAt: this.options.processStartedAt ?? this.startedAt, electedAt: this.startedAt });
  }
}

/** A master as MasterInfo describes it: the leader's core, or a standby's daemon. */
export function describeMaster(options: Pick<MasterCoreOptions, 'masterId' | 'version' | 'grpcAddress' | 'httpAddress' | 'region' | 'zone'>, state: { leading: boolean; startedAt: number; electedAt?: number }): MasterInfo {
  const [host, port] = splitAddress(options.grpcAddress);
  const time = (ms: number) => ({ nanoseconds: String(BigInt(Math.round(ms)) * 1_000_000n) });
  return {
    id: options.masterId,
    address: { hostname: host, ip: host, port },
    hostname: host,
    version: options.version,
    leader: state.leading,
    domain: options.region === undefined ? undefined : { fault_domain: { region: { name: options.region }, zone: { name: options.zone ?? '' } } },
    start_time: time(state.startedAt),
    elected_time: state.electedAt === undefined ? undefined : time(state.electedAt),
    http_url: options.httpAddress === undefined ? '' : `http://${options.httpAddress}`,
  };
}

/** What the allocator knows of an agent besides its resources. */

function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i), Number(address.slice(i + 1))];
}

import { status as Status } from '@grpc/grpc-js';
import type * as grpc from '@grpc/grpc-js';
import type { HierarchicalAllocatorOptions } from '../allocator/hierarchical-allocator';
import { HierarchicalAllocator } from '../allocator/hierarchical-allocator';
import type { Clock } from '../common/clock';
import type { Logger } from '../common/logging';
import { agentLinkServiceUndecoded, operatorService, schedulerService } from '../common/rpc/proto';
import { startGrpcServer, type GrpcServerHandle } from '../common/rpc/server';
import { AgentApi } from './agent-api';
import type { AccessPolicy } from '../common/auth';
import { MasterError } from './errors';
import type { BusEvent } from './event-bus';
import type { MasterInfo } from '../generated/berth/v1/MasterInfo';
import { describeMaster, MasterCore, type MasterCoreDeps, type MasterCoreOptions } from './master-core';
import type { AllocatorFactory } from './extensions';
import type { MasterMetrics } from './metrics';
import { operatorHandlers, type MasterStatus } from './operator-api';
import type { LeaderElection, LeaderInfo, Registry } from './registry/registry';
import type { Authenticate } from './client-stream';
import { SchedulerApi } from './scheduler-api';

/** How long a master that could not take over waits before campaigning again. */
const TAKEOVER_RETRY_MS = 5000;

/** Everything a master process is made of; built by the composition root (`berth master`, `berth dev`, tests). */
export interface MasterDaemonOptions {
  readonly core: Omit<MasterCoreOptions, 'grpcAddress'>;
  /** @default '127.0.0.1' */
  readonly grpcHost?: string;
  /** 0 picks a free port. @default 0 */
  readonly grpcPort?: number;
  /** Largest message accepted from any client, bytes. @default 4 MiB */
  readonly maxMessageBytes?: number;
  /** Transport security of the gRPC server. @default plaintext */
  readonly grpcCredentials?: grpc.ServerCredentials;
  readonly allocator?: Omit<HierarchicalAllocatorOptions, 'region'>;
  /** Builds each term's allocator from `allocator` (the `allocator` extension point). @default the hierarchical allocator */
  readonly createAllocator?: AllocatorFactory;
  /** The `taskLabelDecorator` hooks, run on every task launched. @default none */
  readonly taskLabelDecorators?: MasterCoreDeps['taskLabelDecorators'];
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics?: MasterMetrics;
  readonly election: LeaderElection;
  /** Opens the registry for a term of leadership (fenced from earlier terms where shared). */
  readonly openRegistry: (term: number) => Promise<Registry>;
  /** Undefined: authentication disabled (explicitly configured so). */
  readonly authenticate?: Authenticate;
  readonly authorizer?: AccessPolicy;
  /** Receives every cluster event while this master leads (the NATS mirror). @default none */
  readonly publishEvent?: (event: BusEvent) => void;
  /** Metrics as name/value pairs for the operator API. @default none */
  readonly metricsSnapshot?: () => Promise<{ name: string; value: number }[]>;
}

/**
 * One master process: serves the three gRPC services at all times, and leads while elected. A
 * standby answers health and tells every caller where the leader is (UNAVAILABLE with the
 * leader's address); a leader that loses its election or is fenced in the registry drops its
 * state at once and becomes a standby.
 */
export class MasterDaemon {
  private server: GrpcServerHandle | undefined;
  private current: MasterCore | undefined;
  private registry: Registry | undefined;
  private unsubscribe: (() => void) | undefined;
  private transition: Promise<void> = Promise.resolve();
  /** The registry of a term won and not yet led, opened and read ahead (see {@link prepare}). */
  private prepared: { readonly term: number; readonly ready: Promise<PreparedTerm> } | undefined;
  /** The agent edge (also used by the dashboard to read task logs through the agents). */
  readonly agentApi: AgentApi;
  private readonly schedulerApi: SchedulerApi;
  private readonly startedAt: number;

  constructor(private readonly options: MasterDaemonOptions) {
    this.startedAt = options.clock.now();
    const core = () => this.current;
    const notLeader = () => this.notLeader();
    this.agentApi = new AgentApi(core, options.authenticate, notLeader);
    this.schedulerApi = new SchedulerApi(core, options.authenticate, notLeader);
    // Population gauges are counted at scrape time: cheaper than on every change, never stale.
    options.metrics?.beforeCollect(() => countPopulation(this.current, options.metrics!));
  }

  /** The leading core, while this master leads (tests and the composition root read it). */
  get core(): MasterCore | undefined {
    return this.current;
  }

  get grpcAddress(): string {
    if (this.server === undefined) throw new Error('master not started');
    return this.server.address;
  }

  async start(): Promise<void> {
    this.server = await startGrpcServer({
      host: this.options.grpcHost ?? '127.0.0.1',
      port: this.options.grpcPort ?? 0,
      maxReceiveMessageLength: this.options.maxMessageBytes ?? 4 * 1024 * 1024,
      ...(this.options.grpcCredentials !== undefined ? { credentials: this.options.grpcCredentials } : {}),
      initialHealth: 'NOT_SERVING',
      services: [
        schedulerService({ Connect: (s) => this.schedulerApi.connect(s) }),
        // Registrations queue behind each other (agent-api.ts): they wait as bytes, not as objects.
        agentLinkServiceUndecoded((s) => this.agentApi.connect(s)),
        operatorService(operatorHandlers({
            core: () => this.current,
            authenticate: this.options.authenticate,
            notLeader: () => this.notLeader(),
            agentApi: this.agentApi,
            version: this.options.core.version,
            metricsSnapshot: this.options.metricsSnapshot ?? (async () => []),
            status: () => this.status(),
          })),
      ],
    });
    this.unsubscribe = this.options.election.onChange((change) => {
      if (change.kind === 'won') this.prepare(change.term);
      else if (change.kind === 'elected') this.queue(() => this.lead(change.term));
      else if (change.kind === 'deposed') {
        this.discardPrepared();
        this.queue(() => this.standBy(change.reason));
      }
    });
    await this.options.election.start();
    // A master that won at once (a single master) serves as leader when start() resolves, so a
    // client that connects right after it is answered, not told that no leader is known yet.
    await this.transition;
    this.options.logger.info('master started', { grpc: this.server.address, masterId: this.options.core.masterId });
  }

  /** This master and the leader, as GetMaster and GetHealth tell them (also on a standby). */
  status(): MasterStatus {
    const core = this.current;
    const serving = core !== undefined && !core.isStopped;
    const self = serving ? core.masterInfo() : describeMaster({ ...this.options.core, grpcAddress: this.grpcAddress }, { leading: false, startedAt: this.startedAt });
    const known = this.options.election.leader();
    return { self, leader: serving ? self : known === undefined ? undefined : leaderMasterInfo(known), elected: this.options.election.isLeader || serving, serving };
  }

  /**
   * Where clients should go, for `/leader`: this master while it serves (its own, bound gRPC
   * address), otherwise the leader the election last named; undefined while none is known.
   */
  leader(): LeaderInfo | undefined {
    if (this.current !== undefined && !this.current.isStopped && this.server !== undefined) {
      return { id: this.options.core.masterId, grpcAddress: this.server.address, ...(this.options.core.httpAddress !== undefined ? { httpAddress: this.options.core.httpAddress } : {}) };
    }
    return this.options.election.leader();
  }

  /** Resolves once the current leadership transition (if any) has finished. */
  settled(): Promise<void> {
    return this.transition;
  }

  /** Graceful stop: give up leadership, close streams, stop serving. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.discardPrepared();
    await this.transition;
    await this.standBy('master stopping', true);
    await this.options.election.stop();
    await this.server?.shutdown(2000);
    this.server = undefined;
  }

  private queue(step: () => Promise<void>): void {
    this.transition = this.transition.then(step).catch((err: unknown) => {
      this.options.logger.error('leadership transition failed', { err });
    });
  }

  /**
   * A term won but not yet ours to act on (the election waits a renew interval): open the registry
   * (which fences older terms' writes) and read it now, so that taking over when `elected` comes is
   * only building the core — at 10,000 agents and 100,000 tasks the read was ~1 s of the failover.
   */
  private prepare(term: number): void {
    this.discardPrepared();
    const ready = (async (): Promise<PreparedTerm> => {
      const registry = await this.options.openRegistry(term);
      try {
        return { registry, records: await registry.load() };
      } catch (err) {
        await registry.close().catch(() => undefined);
        throw err;
      }
    })();
    ready.catch(() => undefined); // lead() reports it; a discarded one has nobody to tell
    this.prepared = { term, ready };
  }

  /** Drops a prepared term that will not be led (lost before `elected`, or the master stops). */
  private discardPrepared(): void {
    const prepared = this.prepared;
    this.prepared = undefined;
    void prepared?.ready.then(({ registry }) => registry.close()).catch(() => undefined);
  }

  private async lead(term: number): Promise<void> {
    if (this.current !== undefined) return;
    const began = this.options.clock.now();
    const prepared = this.prepared?.term === term ? this.prepared.ready : undefined;
    this.prepared = undefined;
    let registry: Registry | undefined;
    let core: MasterCore | undefined;
    try {
      let records: ReadonlyMap<string, unknown> | undefined;
      if (prepared !== undefined) ({ registry, records } = await prepared);
      else registry = await this.options.openRegistry(term);
      core = this.newCore(term, registry);
      await core.start(records);
    } catch (err) {
      // Could not take over (registry unreachable or unreadable, a bad record): give leadership up
      // so another master can lead, and campaign again later rather than hold the lease without
      // serving (every other master would point clients at a leader that refuses them).
      core?.stop('failed to take over leadership');
      await registry?.close().catch(() => undefined);
      this.options.logger.error('taking over leadership failed; giving it up and campaigning again shortly', { err, term });
      await this.options.election.resign(`failed to take over leadership: ${(err as Error).message}`, TAKEOVER_RETRY_MS);
      return;
    }
    if (this.options.publishEvent !== undefined) core.bus.subscribe(this.options.publishEvent);
    this.registry = registry;
    this.current = core;
    this.options.metrics?.elected.set(1);
    for (const service of ['', 'berth.v1.Scheduler', 'berth.v1.AgentLink', 'berth.v1.Operator']) this.server!.health.setStatus(service, 'SERVING');
    this.options.logger.info('elected leader', { term, takeoverMs: Math.round(this.options.clock.now() - began) });
  }

  private newCore(term: number, registry: Registry): MasterCore {
    const options = { ...this.options.allocator, region: this.options.core.region };
    const allocator = this.options.createAllocator?.(options) ?? new HierarchicalAllocator(options);
    const core: MasterCore = new MasterCore(
      { ...this.options.core, grpcAddress: this.server!.address, processStartedAt: this.startedAt },
      {
        clock: this.options.clock,
        allocator,
        registry,
        logger: this.options.logger.child({ term }),
        metrics: this.options.metrics,
        authorizer: this.options.authorizer,
        taskLabelDecorators: this.options.taskLabelDecorators,
        // Only this term's core may depose: a late fenced write of an older core must not.
        onDeposed: (reason) => this.queue(() => (this.current === core ? this.standBy(reason) : Promise.resolve())),
      },
    );
    return core;
  }

  /**
   * Stops serving as leader. Losing leadership (deposed, fenced) is worth a warning; giving it up
   * because this master stops (`stopping`: SIGTERM, `stop()`) is the normal end and logs at info.
   */
  private async standBy(reason: string, stopping = false): Promise<void> {
    const core = this.current;
    if (core === undefined) return;
    this.current = undefined;
    this.options.metrics?.elected.set(0);
    for (const service of ['', 'berth.v1.Scheduler', 'berth.v1.AgentLink', 'berth.v1.Operator']) this.server?.health.setStatus(service, 'NOT_SERVING');
    core.stop(`this master is no longer the leader: ${reason}`);
    await core.flush();
    await this.registry?.close();
    this.registry = undefined;
    if (stopping) this.options.logger.info('stopped leading: the master is stopping', { reason });
    else this.options.logger.warn('stopped leading', { reason });
  }

  private notLeader(): MasterError {
    const leader = this.options.election.leader();
    // Elected but still taking over: the pointer names this master, so clients dial it again shortly.
    const why = leader?.id === this.options.core.masterId ? 'this master was elected and is taking over leadership; retry shortly' : 'this master is not the leader';
    const err = new MasterError(Status.UNAVAILABLE, leader === undefined ? 'this master is not the leader and no leader is known; retry shortly' : `${why}; the leader is ${leader.id} at ${leader.grpcAddress}`);
    return Object.assign(err, { leader: leader === undefined ? undefined : leaderMasterInfo(leader) });
  }
}

interface PreparedTerm {
  readonly registry: Registry;
  readonly records: ReadonlyMap<string, unknown>;
}

/** The leader the election names, as a MasterInfo (what a standby knows of it). */
function leaderMasterInfo(leader: LeaderInfo): MasterInfo {
  const host = hostOf(leader.grpcAddress);
  return { id: leader.id, address: { hostname: host, ip: host, port: portOf(leader.grpcAddress) }, hostname: host, leader: true, http_url: leader.httpAddress === undefined ? '' : `http://${leader.httpAddress}` };
}

function countPopulation(core: MasterCore | undefined, metrics: MasterMetrics): void {
  const agents: Record<string, number> = {};
  const frameworks: Record<string, number> = {};
  const bump = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);
  for (const a of core?.agents.values() ?? []) {
    if (a.lifecycle === 'GONE') bump(agents, 'gone');
    else if (a.lifecycle === 'UNREACHABLE') bump(agents, 'unreachable');
    else if (a.drain !== undefined) bump(agents, a.drain.state === 'DRAINED' ? 'drained' : 'draining');
    else if (a.deactivated) bump(agents, 'deactivated');
    else bump(agents, 'registered');
  }
  for (const f of core?.frameworks.values() ?? []) {
    bump(frameworks, f.connected ? 'connected' : f.registered ? 'disconnected' : 'inactive');
  }
  metrics.setAgentCounts(agents);
  metrics.setFrameworkCounts(frameworks);
  metrics.setTaskCounts(Object.fromEntries(core?.tasks.countsByState() ?? []));
  metrics.reconciliationsPending.set(core?.tasks.pending.size ?? 0);
}

const hostOf = (a: string) => a.slice(0, a.lastIndexOf(':'));
const portOf = (a: string) => Number(a.slice(a.lastIndexOf(':') + 1));

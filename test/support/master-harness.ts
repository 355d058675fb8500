import { randomUUID } from 'node:crypto';
import { channelCredentials, loadTls, serverCredentials } from '../../src/common/tls';
import { makeCerts, type TestCerts } from './certs';
import * as grpc from '@grpc/grpc-js';
import { HierarchicalAllocator } from '../../src/allocator/hierarchical-allocator';
import { FakeClock, type Clock } from '../../src/common/clock';
import { memoryLogger } from '../../src/common/logging';
import { berthV1 } from '../../src/common/rpc/proto';
import type { AgentMessage } from '../../src/generated/berth/v1/AgentMessage';
import type { Call } from '../../src/generated/berth/v1/Call';
import type { Event__Output } from '../../src/generated/berth/v1/Event';
import type { FrameworkInfo } from '../../src/generated/berth/v1/FrameworkInfo';
import type { MasterMessage__Output } from '../../src/generated/berth/v1/MasterMessage';
import type { Resource } from '../../src/generated/berth/v1/Resource';
import type { TaskStatus__Output } from '../../src/generated/berth/v1/TaskStatus';
import type { ClusterEvent__Output } from '../../src/generated/berth/v1/ClusterEvent';
import type { OperatorClient } from '../../src/generated/berth/v1/Operator';
import type { Task } from '../../src/generated/berth/v1/Task';
import type { WatchRequest } from '../../src/generated/berth/v1/WatchRequest';
import { resourcesToWire } from '../../src/common/wire';
import { Resources } from '../../src/common/resources';
import type { Authenticator, Authorizer } from '../../src/common/auth';
import { MasterDaemon, type MasterDaemonOptions } from '../../src/master/daemon';
import type { LeaderElection, LeaderInfo, LeadershipChange } from '../../src/master/registry/registry';
import { MemoryStore } from './memory-registry';

/** Waits are bounded: nothing in a test waits longer than this for one event. */
export const WAIT_MS = 5000;

/** A stream's messages, with bounded waits for the one a test expects. */
export class Inbox<T> {
  private readonly items: T[] = [];
  /** Every item ever pushed, in arrival order (for assertions about order). */
  readonly log: T[] = [];
  private readonly waiters: { match: (t: T) => boolean; resolve: (t: T) => void }[] = [];
  private readonly endWaiters: ((err: Error) => void)[] = [];
  /** How the stream ended (a gRPC error carries its `code`); undefined while it is open. */
  ended: Error | undefined;

  /** Records the end of the stream; the first reason wins (grpc-js emits `error` before `end`). */
  end(err: Error): void {
    if (this.ended !== undefined) return;
    this.ended = err;
    for (const w of this.endWaiters.splice(0)) w(err);
  }

  /** Resolves with how the stream ended; rejects after `ms`. */
  whenEnded(what: string, ms = WAIT_MS): Promise<Error> {
    if (this.ended !== undefined) return Promise.resolve(this.ended);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what} to end`)), ms);
      this.endWaiters.push((err) => (clearTimeout(timer), resolve(err)));
    });
  }

  push(item: T): void {
    this.log.push(item);
    const i = this.waiters.findIndex((w) => w.match(item));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      w!.resolve(item);
      return;
    }
    this.items.push(item);
  }

  /** The first buffered or future item matching `match`; rejects after `ms`. */
  next(match: (t: T) => boolean, what: string, ms = WAIT_MS): Promise<T> {
    const i = this.items.findIndex(match);
    if (i >= 0) return Promise.resolve(this.items.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; buffered: ${JSON.stringify(this.items.map((x) => (x as { type?: string }).type))}`));
      }, ms);
      const waiter = { match, resolve: (t: T) => (clearTimeout(timer), resolve(t)) };
      this.waiters.push(waiter);
    });
  }

  /** Buffered items (not yet taken), for assertions that something did not arrive. */
  peek(match: (t: T) => boolean = () => true): T[] {
    return this.items.filter(match);
  }
}

/** A test double for elections: the test decides who leads. */
export class ManualElection implements LeaderElection {
  private listeners = new Set<(c: LeadershipChange) => void>();
  private term = 0;
  isLeader = false;
  current: LeaderInfo | undefined;

  /**
   * @param nextTerm where a new term comes from; masters sharing a store share it, so a second
   *   master's election is always a newer term (which fences the first one's registry)
   */
  constructor(
    private readonly autoElect: boolean,
    private readonly nextTerm?: () => number,
    private readonly clock?: Clock,
  ) {}

  /** Not leading; with `autoElect`, elected again `holdOffMs` later on the clock. */
  async resign(reason: string, holdOffMs: number): Promise<void> {
    if (!this.isLeader) return;
    this.depose(reason);
    if (this.autoElect && this.clock !== undefined) this.clock.setTimeout(() => this.elect(), holdOffMs);
  }

  async start(): Promise<void> {
    if (this.autoElect) this.elect();
  }

  async stop(): Promise<void> {
    this.isLeader = false;
  }

  leader(): LeaderInfo | undefined {
    return this.current;
  }

  onChange(listener: (c: LeadershipChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Wins `term` without acting yet (as the NATS election does for a renew interval); `elect(term)` or `depose()` follows. */
  win(term = this.nextTerm?.() ?? this.term + 1): number {
    this.term = term;
    for (const l of this.listeners) l({ kind: 'won', term });
    return term;
  }

  elect(term = this.nextTerm?.() ?? this.term + 1): void {
    this.term = term;
    this.isLeader = true;
    for (const l of this.listeners) l({ kind: 'elected', term });
  }

  depose(reason = 'test'): void {
    this.isLeader = false;
    for (const l of this.listeners) l({ kind: 'deposed', reason });
  }
}

export interface TestMaster {
  readonly daemon: MasterDaemon;
  readonly clock: FakeClock;
  readonly store: MemoryStore;
  readonly election: ManualElection;
  readonly address: string;
  readonly logs: ReturnType<typeof memoryLogger>;
  stop(): Promise<void>;
}

/** A real master (real gRPC on loopback) with a fake clock, an in-memory registry and a manual election. */
export interface TestMasterOptions extends Partial<MasterDaemonOptions['core']> {
  /** Share one with another master to test failover and fencing. @default a new one */
  readonly store?: MemoryStore;
  readonly clock?: FakeClock;
  /** Lead at once; false: stand by until `election.elect()`. @default true */
  readonly autoElect?: boolean;
  readonly maxMessageBytes?: number;
  /** Bearer-token authentication; undefined: off. */
  readonly authenticate?: Authenticator;
  /** ACLs; undefined: every caller may do everything. */
  readonly authorizer?: Authorizer;
  /** The gRPC port (to restart a master in place); @default an ephemeral one */
  readonly grpcPort?: number;
  /** Metrics to count into; @default none */
  readonly metrics?: MasterDaemonOptions['metrics'];
  /**
   * Serve TLS only, with a certificate of the test CA ({@link testCerts}); the harness's clients
   * (TestScheduler, FakeAgent, TestOperator) dial it with the CA. @default plaintext
   */
  readonly tls?: boolean;
}

let certs: TestCerts | undefined;
// Registered when a test file loads this module (hooks cannot be added from inside a test).
afterAll(() => {
  certs?.remove();
  certs = undefined;
});
/** The test file's CA and a server certificate for 127.0.0.1 (made on first use, removed after the file). */
export function testCerts(): TestCerts {
  certs ??= makeCerts(['master', 'agent']);
  return certs;
}

/** Channel credentials per TLS master address, for the harness's clients. */
const secureAddresses = new Map<string, grpc.ChannelCredentials>();
function credentialsFor(address: string): grpc.ChannelCredentials {
  return secureAddresses.get(address) ?? grpc.credentials.createInsecure();
}

/** A real master (real gRPC on loopback) with a fake clock, an in-memory registry and a manual election. */
export async function startTestMaster(options: TestMasterOptions = {}): Promise<TestMaster> {
  const { store: sharedStore, clock: sharedClock, autoElect, maxMessageBytes, authenticate, authorizer, grpcPort, metrics, tls, ...core } = options;
  const serverTls = tls === true ? loadTls({ ...testCerts().files('master') }, 'tls', 'server') : undefined;
  const clock = sharedClock ?? new FakeClock();
  const store = sharedStore ?? new MemoryStore();
  const election = new ManualElection(autoElect ?? true, () => store.term + 1, clock);
  const logs = memoryLogger();
  const daemon = new MasterDaemon({
    core: {
      masterId: `master-${randomUUID().slice(0, 8)}`,
      version: 'test',
      allocationIntervalMs: 1000,
      heartbeatIntervalMs: 15_000,
      agentPingTimeoutMs: 15_000,
      maxAgentPingTimeouts: 5,
      maxCompletedTasksPerFramework: 100,
      maxFrameworkBufferBytes: 16 << 20,
      ...core,
    },
    clock,
    logger: logs,
    election,
    maxMessageBytes,
    authenticate: authenticate === undefined ? undefined : (metadata) => authenticate.authenticate(metadata),
    authorizer,
    metrics,
    ...(serverTls !== undefined ? { grpcCredentials: serverCredentials(serverTls) } : {}),
    openRegistry: async (term) => store.open(term),
    ...(grpcPort !== undefined ? { grpcPort } : {}),
  });
  await daemon.start();
  await daemon.settled();
  const address = daemon.grpcAddress;
  if (serverTls !== undefined) secureAddresses.set(address, channelCredentials(loadTls({ caFile: testCerts().caFile }, 'tls', 'client')));
  return {
    daemon, clock, store, election, address, logs,
    stop: async () => {
      await daemon.stop();
      secureAddresses.delete(address);
    },
  };
}

type Duplex<Req, Res> = grpc.ClientDuplexStream<Req, Res>;

/** A framework speaking Scheduler.Connect over a real socket. */
export class TestScheduler {
  readonly events = new Inbox<Event__Output>();
  frameworkId = '';
  private constructor(
    private readonly client: grpc.Client,
    private readonly stream: Duplex<Call, Event__Output>,
  ) {}

  static async subscribe(address: string, info: Partial<FrameworkInfo> = {}, opts: { suppressedRoles?: string[]; metadata?: grpc.Metadata } = {}): Promise<TestScheduler> {
    const s = TestScheduler.open(address, opts.metadata);
    s.send({ type: 'SUBSCRIBE', subscribe: { framework_info: { name: 'test', user: '', roles: ['*'], ...info }, suppressed_roles: opts.suppressedRoles ?? [] } });
    const first = await s.events.next((e) => e.type === 'SUBSCRIBED' || e.type === 'ERROR', 'SUBSCRIBED');
    if (first.type === 'ERROR') {
      s.close();
      throw Object.assign(new Error(first.error!.message), { code: first.error!.code });
    }
    s.frameworkId = first.subscribed!.framework_id!.value;
    return s;
  }

  /** Opens a stream without subscribing (to test protocol errors). */
  static open(address: string, metadata?: grpc.Metadata): TestScheduler {
    const Client = berthV1().Scheduler;
    const client = new Client(address, credentialsFor(address));
    const stream = client.Connect(metadata ?? new grpc.Metadata()) as unknown as Duplex<Call, Event__Output>;
    const s = new TestScheduler(client, stream);
    stream.on('data', (e: Event__Output) => s.events.push(e));
    stream.on('error', (err) => s.events.end(err));
    stream.on('end', () => s.events.end(new Error('stream ended')));
    return s;
  }

  send(call: Call): void {
    this.stream.write({ framework_id: { value: this.frameworkId }, ...call });
  }

  nextOffers(what = 'OFFERS'): Promise<Event__Output> {
    return this.events.next((e) => e.type === 'OFFERS', what);
  }

  nextUpdate(taskId: string, state?: string, ms = WAIT_MS): Promise<TaskStatus__Output> {
    return this.events.next((e) => e.type === 'UPDATE' && e.update?.status?.task_id?.value === taskId && (state === undefined || e.update.status.state === state), `UPDATE ${taskId} ${state ?? ''}`, ms).then((e) => e.update!.status!);
  }

  nextError(): Promise<NonNullable<Event__Output['error']>> {
    return this.events.next((e) => e.type === 'ERROR', 'ERROR').then((e) => e.error!);
  }

  /**
   * Resolves once the master has handled every call sent before: calls on one stream are handled
   * in order, so the answer to a reconciliation sent last comes after them.
   */
  async settled(): Promise<void> {
    const marker = `settled-${randomUUID()}`;
    this.send({ type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: marker } }] } });
    await this.nextUpdate(marker);
  }

  ack(status: TaskStatus__Output): void {
    this.send({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: status.agent_id!, task_id: status.task_id!, uuid: status.uuid } });
  }

  close(): void {
    try {
      this.stream.end();
      this.stream.cancel();
    } catch {
      // already closed
    }
    this.client.close();
  }
}

/** What a FakeAgent registers with. */
export interface FakeAgentOptions {
  readonly hostname?: string;
  /** Resources in the text form. @default 'cpus:4;mem:4096;disk:10000;ports:[31000-31099]' */
  readonly resources?: string;
  /** Set: REREGISTER with this id (and `tasks`, `frameworks`); unset: REGISTER. */
  readonly id?: string;
  /** Tasks it still runs, for REREGISTER (see {@link reportedTask}). */
  readonly tasks?: readonly Task[];
  readonly frameworks?: readonly FrameworkInfo[];
  /** Unacknowledged status updates, for REREGISTER. */
  readonly unacknowledgedUpdates?: readonly AgentMessage['status_update'][];
  /** Sent with the stream (an `authorization` header). */
  readonly metadata?: grpc.Metadata;
  /** @default true */
  readonly answerPings?: boolean;
}

/** A simulated agent speaking AgentLink.Connect: registers, answers pings, records run/kill orders. */
export class FakeAgent {
  readonly messages = new Inbox<MasterMessage__Output>();
  agentId = '';
  /** Whether it answers PINGs with PONGs; false: an agent that is cut off but whose stream stays up. */
  answerPings = true;
  private constructor(
    private readonly client: grpc.Client,
    private readonly stream: Duplex<AgentMessage, MasterMessage__Output>,
  ) {}

  /** Connects and registers (or re-registers); resolves once the master accepted it. */
  static async register(address: string, opts: FakeAgentOptions = {}): Promise<FakeAgent> {
    const agent = FakeAgent.connect(address, opts);
    const first = await agent.messages.next((m) => m.type === 'REGISTERED' || m.type === 'REREGISTERED', 'REGISTERED').catch((err: Error) => {
      agent.close();
      throw agent.messages.ended ?? err;
    });
    agent.agentId = (first.registered ?? first.reregistered)!.agent_id!.value;
    return agent;
  }

  /** Connects and sends REGISTER or REREGISTER without waiting for the answer (to test refusals). */
  static connect(address: string, opts: FakeAgentOptions = {}): FakeAgent {
    const Client = berthV1().AgentLink;
    const client = new Client(address, credentialsFor(address));
    const stream = client.Connect(opts.metadata ?? new grpc.Metadata()) as unknown as Duplex<AgentMessage, MasterMessage__Output>;
    const agent = new FakeAgent(client, stream);
    agent.answerPings = opts.answerPings ?? true;
    agent.agentId = opts.id ?? '';
    stream.on('data', (m: MasterMessage__Output) => {
      if (m.type === 'PING' && agent.answerPings) agent.send({ type: 'PONG', pong: {} });
      agent.messages.push(m);
    });
    stream.on('error', (err) => agent.messages.end(err));
    stream.on('end', () => agent.messages.end(new Error('stream ended')));
    const resources: Resource[] = resourcesToWire(Resources.parse(opts.resources ?? 'cpus:4;mem:4096;disk:10000;ports:[31000-31099]'));
    const agentInfo = { hostname: opts.hostname ?? 'localhost', resources, id: opts.id === undefined ? undefined : { value: opts.id } };
    if (opts.id === undefined) agent.send({ type: 'REGISTER', register: { agent_info: agentInfo, version: 'test' } });
    else agent.send({ type: 'REREGISTER', reregister: { agent_info: agentInfo, version: 'test', tasks: [...(opts.tasks ?? [])], frameworks: [...(opts.frameworks ?? [])], unacknowledged_updates: [...(opts.unacknowledgedUpdates ?? [])] as never } });
    return agent;
  }

  send(m: AgentMessage): void {
    this.stream.write(m);
  }

  /** Sends a status update with a fresh uuid (as the real agent does) and returns the uuid. */
  status(frameworkId: string, taskId: string, state: string, extra: Record<string, unknown> = {}): Buffer {
    const uuid = Buffer.from(randomUUID().replace(/-/g, ''), 'hex');
    this.send({ type: 'STATUS_UPDATE', status_update: { framework_id: { value: frameworkId }, status: { task_id: { value: taskId }, state: state as never, source: 'SOURCE_AGENT', uuid, agent_id: { value: this.agentId }, ...extra }, latest_state: state as never } });
    return uuid;
  }

  nextRun(): Promise<MasterMessage__Output> {
    return this.messages.next((m) => m.type === 'RUN_TASK', 'RUN_TASK');
  }

  close(): void {
    try {
      this.stream.end();
      this.stream.cancel();
    } catch {
      // already closed
    }
    this.client.close();
  }
}

/** A LAUNCH operation of one task on the offer's agent with the given resources. */
export function launch(offer: { agent_id?: { value: string } | null }, taskId: string, resources: string, extra: Record<string, unknown> = {}) {
  return { type: 'LAUNCH' as const, launch: { task_infos: [{ name: taskId, task_id: { value: taskId }, agent_id: { value: offer.agent_id!.value }, resources: resourcesToWire(Resources.parse(resources)), command: { value: 'sleep 1000', shell: true }, ...extra }] } };
}

export { HierarchicalAllocator };

/** Metadata carrying `authorization: Bearer <token>`. */
export function bearer(token: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
}

type OperatorMethod = { [K in keyof OperatorClient]: OperatorClient[K] extends (...args: never[]) => unknown ? K : never }[keyof OperatorClient] & Capitalize<string>;

/** An operator API client (unary calls as promises, Watch as an inbox). */
export class TestOperator {
  private readonly client: OperatorClient;
  private readonly watches: grpc.ClientReadableStream<ClusterEvent__Output>[] = [];

  constructor(
    address: string,
    private readonly metadata: grpc.Metadata = new grpc.Metadata(),
  ) {
    this.client = new (berthV1().Operator)(address, credentialsFor(address));
  }

  /** Calls `method`; rejects with the grpc.ServiceError when the master refuses. */
  call<Res = Record<string, unknown>>(method: OperatorMethod, request: object = {}): Promise<Res> {
    return new Promise((resolve, reject) => {
      const fn = (this.client[method] as unknown as (req: object, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: Res) => void) => void).bind(this.client);
      fn(request, this.metadata, (err, res) => (err ? reject(err) : resolve(res)));
    });
  }

  /** Calls `method` expecting a refusal; resolves with it (and fails the test if the call succeeds). */
  async refusal(method: OperatorMethod, request: object = {}): Promise<grpc.ServiceError> {
    const res = await this.call(method, request).then(
      (ok) => ({ ok }),
      (err: grpc.ServiceError) => ({ err }),
    );
    if ('ok' in res) throw new Error(`${method} succeeded but was expected to be refused: ${JSON.stringify(res.ok)}`);
    return res.err;
  }

  /** Opens a Watch stream; its events (and how it ended) land in the returned inbox. */
  watch(request: WatchRequest = {}): Inbox<ClusterEvent__Output> {
    const stream = this.client.Watch(request, this.metadata) as unknown as grpc.ClientReadableStream<ClusterEvent__Output>;
    this.watches.push(stream);
    const inbox = new Inbox<ClusterEvent__Output>();
    stream.on('data', (e: ClusterEvent__Output) => inbox.push(e));
    stream.on('error', (err) => inbox.end(err));
    stream.on('end', () => inbox.end(new Error('stream ended')));
    return inbox;
  }

  close(): void {
    for (const w of this.watches) w.cancel();
    this.client.close();
  }
}

/** A task as an agent reports it in REREGISTER (running, unless told otherwise). */
export function reportedTask(frameworkId: string, taskId: string, resources: string, opts: { role?: string; state?: string } = {}): Task {
  return {
    name: taskId,
    task_id: { value: taskId },
    framework_id: { value: frameworkId },
    state: (opts.state ?? 'TASK_RUNNING') as never,
    resources: resourcesToWire(Resources.parse(resources)),
    role: opts.role ?? '*',
    command: { value: 'sleep 1000', shell: true },
  };
}

/** The sum of a scalar resource over wire resources (or offers). */
export function scalar(resources: readonly { name: string; scalar?: { value: number } | null }[], name: string): number {
  return resources.filter((r) => r.name === name).reduce((sum, r) => sum + (r.scalar?.value ?? 0), 0);
}

/**
 * Polls a condition the master reaches on its own, for what no event announces (a stream close is
 * noticed asynchronously); bounded by WAIT_MS.
 */
export async function waitFor(cond: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * For a describe block: `track(x)` returns `x` and closes it after each test (clients, fake agents,
 * schedulers). Call it before the block's own afterEach, so what a test opened is closed before the
 * master it talks to stops.
 */
export function closeAfterEach(): <T extends { close(): void }>(x: T) => T {
  const closers: (() => void)[] = [];
  afterEach(() => {
    for (const close of closers.splice(0)) close();
  });
  return (x) => {
    closers.push(() => x.close());
    return x;
  };
}

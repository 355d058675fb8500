import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { HierarchicalAllocator } from '../../src/allocator/hierarchical-allocator';
import { FakeClock } from '../../src/common/clock';
import { memoryLogger } from '../../src/common/logging';
import { berthV1 } from '../../src/common/rpc/proto';
import type { AgentMessage } from '../../src/generated/berth/v1/AgentMessage';
import type { Call } from '../../src/generated/berth/v1/Call';
import type { Event__Output } from '../../src/generated/berth/v1/Event';
import type { FrameworkInfo } from '../../src/generated/berth/v1/FrameworkInfo';
import type { MasterMessage__Output } from '../../src/generated/berth/v1/MasterMessage';
import type { Resource } from '../../src/generated/berth/v1/Resource';
import type { TaskStatus__Output } from '../../src/generated/berth/v1/TaskStatus';
import { resourcesToWire } from '../../src/common/wire';
import { Resources } from '../../src/common/resources';
import { MasterDaemon, type MasterDaemonOptions } from '../../src/master/daemon';
import type { LeaderElection, LeaderInfo, LeadershipChange } from '../../src/master/registry/registry';
import { MemoryStore } from './memory-registry';

/** Waits are bounded: nothing in a test waits longer than this for one event. */
export const WAIT_MS = 5000;

/** A stream's messages, with bounded waits for the one a test expects. */
export class Inbox<T> {
  private readonly items: T[] = [];
  private readonly waiters: { match: (t: T) => boolean; resolve: (t: T) => void }[] = [];
  ended: Error | undefined;

  push(item: T): void {
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

  constructor(private readonly autoElect: boolean) {}

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

  elect(term = ++this.term): void {
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
export async function startTestMaster(overrides: Partial<MasterDaemonOptions['core']> & { store?: MemoryStore; clock?: FakeClock; autoElect?: boolean; maxMessageBytes?: number } = {}): Promise<TestMaster> {
  const clock = overrides.clock ?? new FakeClock();
  const store = overrides.store ?? new MemoryStore();
  const election = new ManualElection(overrides.autoElect ?? true);
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
      ...overrides,
    },
    clock,
    logger: logs,
    election,
    maxMessageBytes: overrides.maxMessageBytes,
    openRegistry: async (term) => store.open(term),
  });
  await daemon.start();
  await daemon.settled();
  return { daemon, clock, store, election, address: daemon.grpcAddress, logs, stop: () => daemon.stop() };
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
    s.send({ type: 'SUBSCRIBE', subscribe: { framework_info: { name: 'test', user: 'test', roles: ['*'], ...info }, suppressed_roles: opts.suppressedRoles ?? [] } });
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
    const client = new Client(address, grpc.credentials.createInsecure());
    const stream = client.Connect(metadata ?? new grpc.Metadata()) as unknown as Duplex<Call, Event__Output>;
    const s = new TestScheduler(client, stream);
    stream.on('data', (e: Event__Output) => s.events.push(e));
    stream.on('error', (err) => (s.events.ended = err));
    stream.on('end', () => (s.events.ended ??= new Error('stream ended')));
    return s;
  }

  send(call: Call): void {
    this.stream.write({ framework_id: { value: this.frameworkId }, ...call });
  }

  nextOffers(what = 'OFFERS'): Promise<Event__Output> {
    return this.events.next((e) => e.type === 'OFFERS', what);
  }

  nextUpdate(taskId: string, state?: string): Promise<TaskStatus__Output> {
    return this.events.next((e) => e.type === 'UPDATE' && e.update?.status?.task_id?.value === taskId && (state === undefined || e.update.status.state === state), `UPDATE ${taskId} ${state ?? ''}`).then((e) => e.update!.status!);
  }

  nextError(): Promise<NonNullable<Event__Output['error']>> {
    return this.events.next((e) => e.type === 'ERROR', 'ERROR').then((e) => e.error!);
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

/** A simulated agent speaking AgentLink.Connect: registers, answers pings, records run/kill orders. */
export class FakeAgent {
  readonly messages = new Inbox<MasterMessage__Output>();
  agentId = '';
  private constructor(
    private readonly client: grpc.Client,
    private readonly stream: Duplex<AgentMessage, MasterMessage__Output>,
  ) {}

  static async register(address: string, opts: { hostname?: string; resources?: string; attributes?: AgentMessage['register'] extends infer R ? unknown : never; id?: string; tasks?: unknown[]; frameworks?: FrameworkInfo[] } = {}): Promise<FakeAgent> {
    const Client = berthV1().AgentLink;
    const client = new Client(address, grpc.credentials.createInsecure());
    const stream = client.Connect() as unknown as Duplex<AgentMessage, MasterMessage__Output>;
    const agent = new FakeAgent(client, stream);
    stream.on('data', (m: MasterMessage__Output) => {
      if (m.type === 'PING') agent.send({ type: 'PONG', pong: {} });
      agent.messages.push(m);
    });
    stream.on('error', (err) => (agent.messages.ended = err));
    stream.on('end', () => (agent.messages.ended ??= new Error('stream ended')));
    const resources: Resource[] = resourcesToWire(Resources.parse(opts.resources ?? 'cpus:4;mem:4096;disk:10000;ports:[31000-31099]'));
    const agentInfo = { hostname: opts.hostname ?? 'localhost', resources, id: opts.id === undefined ? undefined : { value: opts.id } };
    if (opts.id === undefined) agent.send({ type: 'REGISTER', register: { agent_info: agentInfo, version: 'test' } });
    else agent.send({ type: 'REREGISTER', reregister: { agent_info: agentInfo, version: 'test', tasks: (opts.tasks ?? []) as never, frameworks: opts.frameworks ?? [] } });
    const first = await agent.messages.next((m) => m.type === 'REGISTERED' || m.type === 'REREGISTERED', 'REGISTERED');
    agent.agentId = (first.registered ?? first.reregistered)!.agent_id!.value;
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

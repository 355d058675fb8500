/**
 * A multi-process Berth cluster on loopback for fault injection (DESIGN §12, issue 7):
 *
 *   3 nats-server (a JetStream cluster)  ←  3 `berth master` (registry and election on NATS, R3)
 *        ↑ agents: real `berth agent` processes (process or Docker containerizer) and fake-container
 *          agents (agent-child.ts: the real Agent with a fake containerizer — the many, cheaply)
 *        ↑ frameworks: framework-child.ts (the SDK driver; history written to a file)
 *
 * Agents and frameworks are given either every master's address (`via: 'direct'`, the way users
 * configure them: they follow the leader by redirects) or one loopback TCP proxy that forwards to
 * the current leader (`via: 'proxy'`, like a `leader.mesos` DNS name) and can be cut, delayed or
 * partitioned. Every process can be SIGKILLed, SIGSTOPped/SIGCONTed and restarted on the same ports
 * and directories.
 *
 * While a scenario runs, a sampler records the ground truth (containers really running: the fake
 * agents' tables over IPC, pid files of process tasks checked in /proc, Docker containers by label)
 * and the leader's allocations, every `sampleMs`. `finish()` waits for convergence, reconciles,
 * collects everything into {@link Observations} and runs the checkers.
 *
 * The registry bucket is created by the harness before the masters start with every revision kept
 * (the masters' own bucket keeps one per key), so the fencing checker reads the whole write log.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import Docker from 'dockerode';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { berthV1 } from '../../../src/common/rpc/proto';
import { findFiles } from '../../support/find-files';
import { freePorts, startNats, type NatsTestServers } from '../../support/nats';
import { startTcpProxy, type TcpProxy } from '../../support/tcp-proxy';
import { checkAll, describeFailures, type CheckResult, type Observations } from './checkers';
import { readHistory, TERMINAL_STATES, type AllocationSample, type RegistryRecord, type Scalars, type TruthSample } from './history';
import { ManagedProcess, ProcessGroup } from './procs';
import type { FrameworkChildConfig } from './framework-child';

export const REGISTRY_BUCKET = 'berth-registry';
const AGENT_CHILD = path.join(__dirname, 'agent-child.ts');
const FRAMEWORK_CHILD = path.join(__dirname, 'framework-child.ts');
export const TEST_IMAGE = 'berth-test/busybox:latest';

export interface AgentSpec {
  readonly kind: 'fake' | 'process' | 'docker';
  readonly via?: 'direct' | 'proxy';
  /** @default cpus 2, mem 2048 */
  readonly cpus?: number;
  readonly mem?: number;
}

export interface FrameworkSpec extends Partial<Omit<FrameworkChildConfig, 'masters' | 'historyFile' | 'storeDir'>> {
  readonly name: string;
  readonly via?: 'direct' | 'proxy';
}

export interface ClusterOptions {
  readonly agents: readonly AgentSpec[];
  readonly frameworks?: readonly FrameworkSpec[];
  /** @default 1500 */
  readonly leaseMs?: number;
  /** Extra `berth master` flags. */
  readonly masterArgs?: readonly string[];
  /** @default 500 */
  readonly sampleMs?: number;
}

export interface ClusterAgent {
  readonly hostname: string;
  readonly spec: AgentSpec;
  readonly proc: ManagedProcess;
  readonly workDir: string;
  readonly proxy?: TcpProxy;
  readonly total: Scalars;
  /** The HTTP port of a real `berth agent` (metrics, health); undefined for fake agents. */
  readonly httpPort?: number;
}

export interface ClusterFramework {
  readonly name: string;
  readonly proc: ManagedProcess;
  readonly config: FrameworkChildConfig;
  readonly proxy?: TcpProxy;
}

interface MasterSlot { readonly id: string; readonly address: string; readonly httpPort: number; readonly proc: ManagedProcess }

type Unary = (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: unknown) => void) => void;

export class FaultCluster {
  readonly procs = new ProcessGroup();
  readonly masters: MasterSlot[] = [];
  readonly agents: ClusterAgent[] = [];
  readonly frameworks: ClusterFramework[] = [];
  readonly truth: TruthSample[] = [];
  readonly allocations: AllocationSample[] = [];
  /** When the last fault was healed (convergence is measured from it). */
  lastFaultAt = Date.now();
  /** A fault was healed and the cluster has not been seen converged since. */
  private healing = false;
  /** Time from each healed fault to convergence. */
  readonly convergenceMs: number[] = [];
  /** When {@link waitForLeader} last saw a leader answer as leader. */
  private leaderSeenAt = Date.now();
  /** Per failover awaited with {@link waitBack}: leader's first answer → everyone back on it. */
  readonly rejoinMs: number[] = [];
  private sampler: NodeJS.Timeout | undefined;
  private sampling: Promise<void> = Promise.resolve();
  private readonly clients = new Map<string, grpc.Client>();
  private readonly docker = new Docker();
  private leaderAddress: string | undefined;

  private constructor(readonly root: string, readonly nats: NatsTestServers, private readonly options: ClusterOptions) {}

  static async start(options: ClusterOptions): Promise<FaultCluster> {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-fault-'));
    const nats = await startNats({ cluster: 3 });
    const c = new FaultCluster(root, nats, options);
    try {
      await c.createRegistryBucket();
      await c.startMasters();
      await c.waitForLeader(20_000);
      for (const spec of options.agents) await c.addAgent(spec);
      for (const spec of options.frameworks ?? []) await c.addFramework(spec);
      await c.waitConverged(30_000);
      c.startSampling();
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  // -------------------------------------------------------------------------------------------
  // Starting things

  private async createRegistryBucket(): Promise<void> {
    const nc = await connect({ servers: [...this.nats.urls], timeout: 5000 });
    try {
      const js = jetstream(nc, { timeout: 10_000 });
      await new Kvm(js).create(REGISTRY_BUCKET, { replicas: 3, history: 64 });
      const jsm = await jetstreamManager(nc, { timeout: 10_000 });
      const info = await jsm.streams.info(`KV_${REGISTRY_BUCKET}`);
      await jsm.streams.update(`KV_${REGISTRY_BUCKET}`, { ...info.config, max_msgs_per_subject: -1, duplicate_window: 30_000 * 1_000_000 });
    } finally {
      await nc.close();
    }
  }

  private async startMasters(): Promise<void> {
    const ports = await freePorts(6);
    for (let i = 0; i < 3; i++) {
      const id = `m${i + 1}`;
      const workDir = path.join(this.root, id);
      fs.mkdirSync(workDir);
      const grpcPort = ports[i * 2]!;
      const httpPort = ports[i * 2 + 1]!;
      const proc = this.procs.add({
        name: `master-${id}`, kind: 'berth',
        args: ['master', '--master-id', id, '--grpc-port', String(grpcPort), '--http-port', String(httpPort), '--work-dir', workDir,
          '--registry-kind', 'nats', '--nats-servers', this.nats.urls.join(','), '--nats-replicas', '3',
          '--nats-lease-ms', String(this.options.leaseMs ?? 1500), '--auth-enabled', 'false',
          '--allocation-interval-ms', '250', '--heartbeat-interval-ms', '1000',
          '--agent-ping-timeout-ms', '500', '--max-agent-ping-timeouts', '4',
          '--agent-reregister-timeout-ms', '20000', '--log-level', 'info', ...(this.options.masterArgs ?? [])],
      });
      proc.start();
      this.masters.push({ id, address: `127.0.0.1:${grpcPort}`, httpPort, proc });
    }
  }

  async addAgent(spec: AgentSpec): Promise<ClusterAgent> {
    const i = this.agents.length + 1;
    const hostname = `a${i}-${spec.kind}`;
    const workDir = path.join(this.root, hostname);
    fs.mkdirSync(workDir);
    const proxy = spec.via === 'proxy' ? await startTcpProxy(`tcp://${await this.leaderOrFirst()}`) : undefined;
    const master = proxy !== undefined ? proxy.url.replace('tcp://', '') : this.masters.map((m) => m.address).join(',');
    const total = { cpus: spec.cpus ?? 2, mem: spec.mem ?? 2048 };
    const resources = `cpus:${total.cpus};mem:${total.mem};disk:1024;ports:[${31000 + i * 100}-${31000 + i * 100 + 99}]`;
    const httpPort = spec.kind === 'fake' ? undefined : (await freePorts(1))[0]!;
    const proc = spec.kind === 'fake'
      ? this.procs.add({ name: `agent-${hostname}`, kind: 'ts-module', file: AGENT_CHILD, args: [JSON.stringify({ master, hostname, workDir, resources })] })
      : this.procs.add({
        name: `agent-${hostname}`, kind: 'berth',
        args: ['agent', '--master', master, '--hostname', hostname, '--work-dir', workDir, '--http-port', String(httpPort),
          '--containerizers', spec.kind, '--resources', resources, '--reconnect-max-ms', '1000',
          '--kill-tasks-on-shutdown', 'true', '--log-level', 'info'],
      });
    proc.start();
    const agent: ClusterAgent = { hostname, spec, proc, workDir, total, ...(proxy !== undefined ? { proxy } : {}), ...(httpPort !== undefined ? { httpPort } : {}) };
    this.agents.push(agent);
    return agent;
  }

  async addFramework(spec: FrameworkSpec): Promise<ClusterFramework> {
    const proxy = spec.via === 'proxy' ? await startTcpProxy(`tcp://${await this.leaderOrFirst()}`) : undefined;
    const { via: _via, ...rest } = spec;
    const config: FrameworkChildConfig = {
      role: 'fault', partitionAware: false, failoverTimeoutS: 3600, ack: 'auto', target: 0, replace: false,
      cpus: 0.1, mem: 32, command: 'sleep 3600',
      ...rest,
      masters: proxy !== undefined ? [proxy.url.replace('tcp://', '')] : this.masters.map((m) => m.address),
      historyFile: path.join(this.root, `${spec.name}.history.jsonl`),
      storeDir: path.join(this.root, `${spec.name}-store`),
    };
    const proc = this.procs.add({ name: `framework-${spec.name}`, kind: 'ts-module', file: FRAMEWORK_CHILD, args: [JSON.stringify(config)] });
    proc.start();
    const fw: ClusterFramework = { name: spec.name, proc, config, ...(proxy !== undefined ? { proxy } : {}) };
    this.frameworks.push(fw);
    return fw;
  }

  framework(name: string): ClusterFramework {
    const fw = this.frameworks.find((f) => f.name === name);
    if (fw === undefined) throw new Error(`no framework ${name}`);
    return fw;
  }

  /** Sends an IPC command to a framework child (target, reconcile, kill). */
  command(name: string, message: { type: 'target'; n: number } | { type: 'reconcile' } | { type: 'kill'; taskId: string }): Promise<void> {
    return this.framework(name).proc.request(message).then(() => undefined);
  }

  // -------------------------------------------------------------------------------------------
  // The leader

  /** GetHealth of every running master; the single one that leads, or undefined. */
  async leader(): Promise<MasterSlot | undefined> {
    const answers = await Promise.all(this.masters.map(async (m) => {
      if (!m.proc.running || m.proc.paused) return undefined;
      const h = await this.call<{ leader: boolean }>(m.address, 'GetHealth', {}, 500).catch(() => undefined);
      return h?.leader === true ? m : undefined;
    }));
    const leaders = answers.filter((m): m is MasterSlot => m !== undefined);
    return leaders.length === 1 ? leaders[0] : undefined;
  }

  /** Waits until exactly one master leads; points every proxy at it. Returns it and how long it took. */
  async waitForLeader(ms: number, except?: MasterSlot): Promise<{ leader: MasterSlot; ms: number }> {
    const t0 = Date.now();
    const leader = await this.until(`a single leading master${except ? ` other than ${except.id}` : ''}`, ms, async () => {
      const l = await this.leader();
      return l !== undefined && l !== except ? l : undefined;
    }, 50);
    this.leaderSeenAt = Date.now();
    this.followLeader(leader);
    return { leader, ms: Date.now() - t0 };
  }

  private followLeader(leader: MasterSlot): void {
    if (this.leaderAddress === leader.address) return;
    this.leaderAddress = leader.address;
    for (const x of [...this.agents, ...this.frameworks]) x.proxy?.retarget(`tcp://${leader.address}`);
  }

  private async leaderOrFirst(): Promise<string> {
    return this.leaderAddress ?? (await this.leader())?.address ?? this.masters[0]!.address;
  }

  // -------------------------------------------------------------------------------------------
  // Operator calls

  async call<T>(address: string, method: string, request: object, ms = 3000): Promise<T> {
    let client = this.clients.get(address);
    if (client === undefined) {
      client = new (berthV1().Operator)(address, grpc.credentials.createInsecure());
      this.clients.set(address, client);
    }
    const fn = (client as unknown as Record<string, Unary>)[method]!;
    return new Promise((resolve, reject) => fn.call(client, request, new grpc.Metadata(), { deadline: Date.now() + ms }, (e, v) => (e ? reject(e) : resolve(v as T))));
  }

  /** An operator call on the leader (found again if it changed). */
  async onLeader<T>(method: string, request: object = {}, ms = 3000): Promise<T> {
    const leader = (await this.leader()) ?? (await this.waitForLeader(15_000)).leader;
    return this.call<T>(leader.address, method, request, ms);
  }

  // -------------------------------------------------------------------------------------------
  // Convergence

  /**
   * Waits until one master leads, every running agent is registered and connected to it, and every
   * running framework is subscribed; returns the time since `lastFaultAt`.
   */
  async waitConverged(ms: number): Promise<number> {
    await this.until('the cluster to converge (leader, agents registered, frameworks subscribed)', ms, () => this.converged());
    const elapsed = Date.now() - this.lastFaultAt;
    if (this.healing) this.convergenceMs.push(elapsed);
    this.healing = false;
    return elapsed;
  }

  /**
   * After a leader failover ({@link waitForLeader} saw the new leader answer as leader): waits until
   * every running agent and framework is back on it, polling every 50 ms, and records how long that
   * took from the leader's first answer (checked against `rejoinBoundMs` by {@link finish}).
   */
  async waitBack(ms: number): Promise<number> {
    const since = this.leaderSeenAt;
    await this.until('agents and frameworks back on the new leader', ms, () => this.converged(), 50);
    const elapsed = Date.now() - since;
    this.rejoinMs.push(elapsed);
    return elapsed;
  }

  private async converged(): Promise<true | undefined> {
    const leader = await this.leader();
    if (leader === undefined) return undefined;
    this.followLeader(leader);
    const agents = await this.call<{ agents: { agent_info: { hostname: string }; lifecycle: string; connected: boolean }[] }>(leader.address, 'GetAgents', {}).catch(() => undefined);
    const fws = await this.call<{ frameworks: { framework_info: { name: string }; connected: boolean }[] }>(leader.address, 'GetFrameworks', {}).catch(() => undefined);
    if (agents === undefined || fws === undefined) return undefined;
    const up = new Set(agents.agents.filter((a) => a.lifecycle === 'REGISTERED' && a.connected).map((a) => a.agent_info.hostname));
    const subscribed = new Set(fws.frameworks.filter((f) => f.connected).map((f) => f.framework_info.name));
    const agentsOk = this.agents.filter((a) => a.proc.running && !a.proc.paused && a.proxy?.partitioned !== true).every((a) => up.has(a.hostname));
    const fwOk = this.frameworks.filter((f) => f.proc.running).every((f) => subscribed.has(f.name));
    return agentsOk && fwOk ? true : undefined;
  }

  /** Marks now as the end of the last fault: the next {@link waitConverged} measures from it. */
  faultHealed(): void {
    this.lastFaultAt = Date.now();
    this.healing = true;
  }

  /**
   * Polls `cond` every 100 ms (other processes: no push signal) until it gives a value; throws after
   * `ms` naming `what`, with the processes' logs.
   */
  async until<T>(what: string, ms: number, cond: () => Promise<T | undefined>, pollMs = 100): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = await cond();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}\n${this.procs.logs(1500)}`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  // -------------------------------------------------------------------------------------------
  // Observation

  private startSampling(): void {
    const tick = (): void => {
      this.sampling = this.sampling.then(() => this.sample()).catch(() => undefined);
    };
    this.sampler = setInterval(tick, this.options.sampleMs ?? 500);
  }

  private async sample(): Promise<void> {
    this.truth.push(await this.groundTruth());
    const leader = this.leaderAddress;
    if (leader === undefined) return;
    const res = await this.call<{ agents: { agent_info: { hostname: string }; total_resources: WireResource[]; allocated_resources: WireResource[] }[] }>(leader, 'GetAgents', {}, 1000).catch(() => undefined);
    if (res === undefined) return;
    this.allocations.push({
      t: Date.now(),
      agents: res.agents.map((a) => ({ hostname: a.agent_info.hostname, total: scalars(a.total_resources), allocated: scalars(a.allocated_resources) })),
    });
  }

  /** The containers running now on every agent, whatever the agents' processes say. */
  async groundTruth(): Promise<TruthSample> {
    const byAgent = new Map<string, string[]>();
    for (const a of this.agents) {
      if (a.spec.kind === 'fake') {
        if (!a.proc.running || a.proc.paused) {
          byAgent.set(a.hostname, []); // a killed fake agent's containers died with it
          continue;
        }
        // An agent that does not answer is not an agent with nothing running: ask again, then fail.
        let r: { taskIds: string[] } | undefined;
        for (let attempt = 1; r === undefined; attempt++) {
          r = await a.proc.request<{ taskIds: string[] }>({ type: 'containers' }, 5000).catch((err: Error) => {
            if (attempt === 3 || !a.proc.running) throw new Error(`no ground truth from ${a.hostname}: ${err.message}`);
            return undefined;
          });
        }
        byAgent.set(a.hostname, r.taskIds);
      } else if (a.spec.kind === 'process') {
        byAgent.set(a.hostname, processTasks(a.workDir));
      } else {
        const list = await this.docker.listContainers({ filters: { label: [`io.berth.scope=${a.workDir}`] } }).catch(() => []);
        byAgent.set(a.hostname, list.map((c) => c.Labels['io.berth.task-id']!).filter(Boolean));
      }
    }
    const running = new Map<string, number>();
    for (const tasks of byAgent.values()) for (const t of tasks) running.set(t, (running.get(t) ?? 0) + 1);
    return { t: Date.now(), running, byAgent };
  }

  /** Every message of the registry stream, in order. */
  async registryLog(): Promise<RegistryRecord[]> {
    const nc = await connect({ servers: [...this.nats.urls], timeout: 5000 });
    try {
      const jsm = await jetstreamManager(nc, { timeout: 10_000 });
      const stream = `KV_${REGISTRY_BUCKET}`;
      const info = await jsm.streams.info(stream);
      const out: RegistryRecord[] = [];
      const prefix = `$KV.${REGISTRY_BUCKET}.`;
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
        if (m === null) continue;
        const key = m.subject.slice(prefix.length);
        const instance = (m.header?.get('Nats-Msg-Id') ?? '').split('.')[0]!;
        if (key === '_epoch') {
          const epoch = m.json<{ term: number; leaderId: string; instance: string }>();
          out.push({ seq, key, instance: epoch.instance, epoch });
        } else {
          out.push({ seq, key, instance });
        }
      }
      return out;
    } finally {
      await nc.close();
    }
  }

  /**
   * The end of a scenario: waits for convergence (bounded by `convergeBoundMs`, measured from the
   * last fault), asks every running framework to reconcile and waits until each of its live tasks
   * is answered, collects the observations and runs every checker.
   */
  async finish(opts: { convergeBoundMs: number; rejoinBoundMs?: number; runOf?: (taskId: string) => string | undefined; taskResources?: (taskId: string) => Scalars }): Promise<{ results: CheckResult[]; failures: string; observations: Observations }> {
    await this.waitConverged(opts.convergeBoundMs + 30_000);
    const convergedMs = Math.max(0, ...this.convergenceMs);
    const finalReconcileAt = Date.now();
    for (const fw of this.frameworks.filter((f) => f.proc.running)) await this.command(fw.name, { type: 'reconcile' });
    const files = this.frameworks.map((f) => f.config.historyFile);
    // Each launched task of a running framework that it still believes alive gets an answer.
    await this.until('the final reconciliation to be answered', 20_000, async () => {
      const h = readHistory(files);
      const alive = new Map<string, boolean>();
      for (const e of h) {
        if (e.kind === 'launch') alive.set(e.taskId!, true);
        if (e.kind === 'update' && e.state !== undefined && TERMINAL_STATES.has(e.state)) alive.set(e.taskId!, false);
      }
      const answered = new Set(h.filter((e) => e.kind === 'update' && e.t >= finalReconcileAt && e.reason === 'REASON_RECONCILIATION').map((e) => e.taskId!));
      const waiting = [...alive].filter(([id, a]) => a && !answered.has(id) && this.frameworks.some((f) => f.proc.running && id.startsWith(`${f.name}.`)));
      return waiting.length === 0 ? true : undefined;
    });
    if (this.sampler !== undefined) clearInterval(this.sampler);
    this.sampler = undefined;
    await this.sampling;
    await this.sample();
    const tasks = await this.onLeader<{ tasks: WireTask[]; completed_tasks: WireTask[] }>('GetTasks', { include_completed: true });
    const leaderTasks = new Map<string, string>();
    for (const t of [...tasks.completed_tasks, ...tasks.tasks]) leaderTasks.set(t.task_id.value, t.state);
    const byName = new Map(this.frameworks.map((f) => [f.name, f.config]));
    const observations: Observations = {
      history: readHistory(files),
      truth: this.truth,
      allocations: this.allocations,
      registry: await this.registryLog(),
      leaderTasks,
      finalReconcileAt,
      agentTotals: new Map(this.agents.map((a) => [a.hostname, a.total])),
      taskResources: opts.taskResources ?? ((taskId) => {
        const cfg = byName.get(taskId.split('.')[0]!);
        return { cpus: cfg?.cpus ?? 0, mem: cfg?.mem ?? 0 };
      }),
      convergence: { ms: convergedMs, boundMs: opts.convergeBoundMs },
      ...(opts.rejoinBoundMs !== undefined ? { rejoin: { ms: this.rejoinMs, boundMs: opts.rejoinBoundMs } } : {}),
      ...(opts.runOf !== undefined ? { runOf: opts.runOf } : {}),
    };
    const results = checkAll(observations);
    return { results, failures: describeFailures(results), observations };
  }

  /** Processes that died without being told to. */
  unexpectedExits(): string[] {
    return this.procs.unexpectedExits();
  }

  async stop(): Promise<void> {
    if (this.sampler !== undefined) clearInterval(this.sampler);
    await this.sampling;
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
    await this.procs.stopAll(['framework', 'agent', 'master']);
    for (const x of [...this.agents, ...this.frameworks]) await x.proxy?.close();
    // Safety net: task processes and containers of agents that could not stop them.
    for (const a of this.agents) {
      for (const pid of processTaskPids(a.workDir)) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      if (a.spec.kind === 'docker') {
        const list = await this.docker.listContainers({ all: true, filters: { label: [`io.berth.scope=${a.workDir}`] } }).catch(() => []);
        await Promise.all(list.map((c) => this.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
      }
    }
    await this.nats.cleanup();
    if (process.env['BERTH_FAULT_KEEP'] !== undefined) {
      for (const p of this.procs.all) fs.writeFileSync(path.join(this.root, `${p.name}.log`), p.log());
      process.stdout.write(`fault cluster kept in ${this.root}\n`);
    }
    else fs.rmSync(this.root, { recursive: true, force: true });
  }
}

interface WireResource { name: string; scalar?: { value: number } | null }
interface WireTask { task_id: { value: string }; state: string }

function scalars(resources: readonly WireResource[]): Scalars {
  const sum = (name: string): number => resources.filter((r) => r.name === name).reduce((acc, r) => acc + (r.scalar?.value ?? 0), 0);
  return { cpus: sum('cpus'), mem: sum('mem') };
}

function liveRecords(dir: string): { taskId: string; pid: number }[] {
  const out: { taskId: string; pid: number }[] = [];
  for (const file of findFiles(dir, 'berth-container.json')) {
    try {
      const r = JSON.parse(fs.readFileSync(file, 'utf8')) as { taskId: string; pid?: number; startTime?: string };
      if (r.pid === undefined || r.pid <= 1) continue;
      const stat = fs.readFileSync(`/proc/${r.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue;
      if (r.startTime !== undefined && fields[19] !== r.startTime) continue; // pid reused
      out.push({ taskId: r.taskId, pid: r.pid });
    } catch {
      // no such process, or a file being rewritten
    }
  }
  return out;
}

function processTasks(dir: string): string[] {
  return liveRecords(dir).map((r) => r.taskId);
}

function processTaskPids(dir: string): number[] {
  return liveRecords(dir).map((r) => r.pid);
}

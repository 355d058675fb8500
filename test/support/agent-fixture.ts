/**
 * A real Agent (real time: containers need it) against the in-process test master (fake clock: the
 * test drives allocation cycles) with one framework over real gRPC — shared by the agent end-to-end
 * tests. Each fixture has its own work directory, hence its own Docker scope label
 * (`io.berth.scope=<workDir>`), and a few free loopback ports the agent offers. `close()` stops every
 * agent (killing its tasks), kills agent child processes, force-removes the scope's containers, stops
 * the master and removes the work directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import Dockerode from 'dockerode';
import { Agent, type AgentOptions } from '../../src/agent/agent';
import type { Containerizer } from '../../src/agent/containerizer/containerizer';
import { selectContainerizer } from '../../src/agent/containerizer/select';
import { SystemClock } from '../../src/common/clock';
import { memoryLogger } from '../../src/common/logging';
import { Resources } from '../../src/common/resources';
import type { Offer__Output } from '../../src/generated/berth/v1/Offer';
import type { TaskStatus__Output } from '../../src/generated/berth/v1/TaskStatus';
import { loadTls } from '../../src/common/tls';
import { launch, startTestMaster, testCerts, TestScheduler, WAIT_MS, type TestMaster, type TestMasterOptions } from './master-harness';
import { freePort } from './master-process';

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const { TEST_IMAGE } = require('../../scripts/docker-engine') as { TEST_IMAGE: string };

export const docker = new Dockerode({ socketPath: '/var/run/docker.sock' });

const RUN_BERTH = path.join(__dirname, 'run-berth.js');
/** Agent child processes still running: killed if the test process exits without closing them. */
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of liveChildren) c.kill('SIGKILL');
});

/** A DOCKER container of the test image (TaskInfo.container). */
export const DOCKER = { type: 'DOCKER', docker: { image: TEST_IMAGE } } as const;

/** A wire duration (DurationInfo) of `ms` milliseconds. */
export function duration(ms: number): { nanoseconds: string } {
  return { nanoseconds: String(Math.round(ms * 1e6)) };
}

/** Resolves after `ms` of real time (only where real time is the point: grace periods). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Expects the task's next updates at `fw` in this order, acknowledging each; returns them. */
export async function expectStates(fw: TestScheduler, taskId: string, states: string[]): Promise<TaskStatus__Output[]> {
  const seen: TaskStatus__Output[] = [];
  for (const state of states) {
    const status = await fw.nextUpdate(taskId);
    expect(`${status.state}: ${status.message}`).toMatch(new RegExp(`^${state}:`));
    fw.ack(status);
    seen.push(status);
  }
  return seen;
}

/** Polls an asynchronous condition (real time), bounded. */
export async function until(cond: () => Promise<boolean> | boolean, what: string, ms = WAIT_MS): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
}

export interface AgentStartOptions {
  /** @default 'process' */
  readonly containerizers?: 'process' | 'docker,process';
  readonly statusRetryMinMs?: number;
  readonly reconnectMaxMs?: number;
  readonly allowedHostPaths?: readonly string[];
  /** Wraps the agent's containerizer (to hold a launch back, for instance). */
  readonly wrap?: (containerizer: Containerizer) => Containerizer;
}

/** One task of a launch: its id, shell command, resources and extra TaskInfo fields. */
export interface TaskSpec {
  readonly taskId: string;
  readonly command?: string;
  /** @default 'cpus:0.1;mem:32' */
  readonly resources?: string;
  readonly extra?: Record<string, unknown>;
}

/** An agent run as a child process (`berth agent`, from the sources). */
export interface AgentProcess {
  readonly child: ChildProcess;
  readonly httpPort: number;
  readonly log: () => string;
  /** The value of an unlabelled gauge of its /metrics, or undefined when it does not answer. */
  metric(name: string): Promise<number | undefined>;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
}

export class AgentFixture {
  readonly agents: Agent[] = [];
  /** Whether the master speaks TLS only (its agents then dial it with the test CA). */
  private tls = false;
  readonly processes: AgentProcess[] = [];
  private constructor(
    public master: TestMaster,
    public fw: TestScheduler,
    readonly workDir: string,
    /** Free loopback ports the agent offers (as single-port ranges). */
    readonly ports: readonly number[],
    readonly name: string,
  ) {}

  /** `frameworkMetadata`: sent with the framework's SUBSCRIBE (a bearer token when the master authenticates). */
  static async start(name: string, masterOptions: TestMasterOptions = {}, frameworkMetadata?: grpc.Metadata): Promise<AgentFixture> {
    const master = await startTestMaster(masterOptions);
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `berth-${name}-`));
    const ports: number[] = [];
    while (ports.length < 4) {
      const p = await freePort();
      if (!ports.includes(p)) ports.push(p);
    }
    const fw = await TestScheduler.subscribe(master.address, { name, failover_timeout: 3600 }, { metadata: frameworkMetadata });
    const fixture = new AgentFixture(master, fw, workDir, ports, name);
    fixture.tls = masterOptions.tls === true;
    return fixture;
  }

  /** The agent's total resources. */
  get resources(): string {
    return `cpus:4;mem:4096;disk:1000;ports:[${this.ports.map((p) => `${p}-${p}`).join(',')}]`;
  }

  /** Starts an in-process agent on the fixture's work directory and waits for its registration. */
  async startAgent(opts: AgentStartOptions = {}, extra: Partial<AgentOptions> = {}): Promise<Agent> {
    const clock = new SystemClock();
    const logger = memoryLogger('warn');
    const selected = await selectContainerizer({ setting: opts.containerizers ?? 'process', dockerSocket: '/var/run/docker.sock', workDir: this.workDir, clock, logger });
    const containerizer = opts.wrap?.(selected) ?? selected;
    const agent = new Agent({
      master: this.master.address,
      hostname: 'localhost',
      resources: Resources.parse(this.resources),
      workDir: this.workDir,
      clock,
      containerizer,
      reconnectMinMs: 50,
      ...(this.tls ? { tls: loadTls({ caFile: testCerts().caFile }, 'tls', 'client')! } : {}),
      ...(opts.reconnectMaxMs !== undefined ? { reconnectMaxMs: opts.reconnectMaxMs } : {}),
      ...(opts.statusRetryMinMs !== undefined ? { statusRetryMinMs: opts.statusRetryMinMs } : {}),
      ...(opts.allowedHostPaths !== undefined ? { allowedHostPaths: opts.allowedHostPaths } : {}),
      logger,
      ...extra,
    });
    this.agents.push(agent);
    await agent.start();
    await agent.whenRegistered();
    return agent;
  }

  /** Stops an in-process agent WITHOUT killing its tasks (as a crash would leave them). */
  async stopAgent(agent: Agent): Promise<void> {
    await agent.stop();
    this.agents.splice(this.agents.indexOf(agent), 1);
  }

  /**
   * Starts `berth agent` as a child process (docker and process containerizers) on the fixture's work
   * directory; resolves once its /metrics says it is registered.
   */
  async startAgentProcess(): Promise<AgentProcess> {
    const httpPort = await freePort();
    const args = [
      RUN_BERTH, 'agent',
      '--master', this.master.address,
      '--hostname', 'localhost',
      '--work-dir', this.workDir,
      '--containerizers', 'docker,process',
      '--resources', this.resources,
      '--http-port', String(httpPort),
      '--reconnect-max-ms', '500',
      '--log-level', 'info',
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    liveChildren.add(child);
    const exited = new Promise<void>((resolve) => child.once('exit', () => (liveChildren.delete(child), resolve())));
    const metric = (name: string): Promise<number | undefined> =>
      new Promise((resolve) => {
        const req = http.get({ host: '127.0.0.1', port: httpPort, path: '/metrics', timeout: 1000 }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => {
            const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
            resolve(m === null ? undefined : Number(m[1]));
          });
        });
        req.on('timeout', () => req.destroy());
        req.on('error', () => resolve(undefined));
      });
    const proc: AgentProcess = {
      child,
      httpPort,
      log: () => log,
      metric,
      kill: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGKILL');
        await exited;
      },
    };
    this.processes.push(proc);
    const registered = async (): Promise<boolean> => {
      if (child.exitCode !== null) throw new Error(`berth agent exited with ${child.exitCode}:\n${log}`);
      return (await metric('berth_agent_registered')) === 1;
    };
    await until(registered, `berth agent to register (log so far:\n${log})`, 15_000);
    return proc;
  }

  /**
   * Stops the master and starts another on the same address, the same registry store and the same
   * fake clock (a master process restarted in place); the framework's stream ends with the old one,
   * so `fw` is re-subscribed (same framework id) on the new master.
   */
  async restartMaster(): Promise<void> {
    const old = this.master;
    const port = Number(old.address.slice(old.address.lastIndexOf(':') + 1));
    this.fw.close();
    await old.stop();
    this.master = await startTestMaster({ store: old.store, clock: old.clock, grpcPort: port });
    this.fw = await TestScheduler.subscribe(this.master.address, { id: { value: this.fw.frameworkId }, name: this.name, failover_timeout: 3600 });
  }

  /** Runs an allocation cycle and returns the first offer. */
  async nextOffer(): Promise<Offer__Output> {
    this.master.clock.advance(1000);
    return (await this.fw.nextOffers()).offers!.offers[0]!;
  }

  private taskInfo(offer: Offer__Output, t: TaskSpec) {
    const extra = { ...(t.command !== undefined ? { command: { value: t.command, shell: true } } : {}), ...t.extra };
    return launch(offer, t.taskId, t.resources ?? 'cpus:0.1;mem:32', extra).launch.task_infos[0]!;
  }

  /** Launches tasks (one LAUNCH each) on the next offer. */
  async launch(...tasks: TaskSpec[]): Promise<void> {
    const offer = await this.nextOffer();
    const operations = tasks.map((t) => ({ type: 'LAUNCH' as const, launch: { task_infos: [this.taskInfo(offer, t)] } }));
    this.fw.send({ type: 'ACCEPT', accept: { offer_ids: [offer.id!], operations, filters: { refuse_seconds: 0 } } });
  }

  /** Launches the tasks as one LAUNCH_GROUP on the next offer. */
  async launchGroup(...tasks: TaskSpec[]): Promise<void> {
    const offer = await this.nextOffer();
    const group = tasks.map((t) => this.taskInfo(offer, t));
    this.fw.send({ type: 'ACCEPT', accept: { offer_ids: [offer.id!], operations: [{ type: 'LAUNCH_GROUP', launch_group: { task_group: { tasks: group } } }], filters: { refuse_seconds: 0 } } });
  }

  /** Expects the task's next updates in this order, acknowledging each; returns them. */
  expectStates(taskId: string, states: string[], fw: TestScheduler = this.fw): Promise<TaskStatus__Output[]> {
    return expectStates(fw, taskId, states);
  }

  /** Sends KILL for a task. */
  kill(taskId: string, agentId: string): void {
    this.fw.send({ type: 'KILL', kill: { task_id: { value: taskId }, agent_id: { value: agentId } } });
  }

  /** The sandbox directory of the task's (only) container. */
  sandboxOf(taskId: string): string {
    const dir = path.join(this.workDir, 'sandboxes', encodeURIComponent(this.fw.frameworkId), encodeURIComponent(taskId));
    const [containerId] = fs.readdirSync(dir);
    return path.join(dir, containerId!);
  }

  /** Every Docker container (any state) of this fixture's agents. */
  containers(): Promise<Dockerode.ContainerInfo[]> {
    return docker.listContainers({ all: true, filters: { label: [`io.berth.scope=${this.workDir}`] } });
  }

  /** The Docker container of a task ('absent' state: none). */
  async container(taskId: string): Promise<{ id: string; state: string }> {
    const c = (await this.containers()).find((x) => x.Labels['io.berth.task-id'] === taskId);
    return c === undefined ? { id: '', state: 'absent' } : { id: c.Id, state: c.State };
  }

  async close(): Promise<void> {
    for (const a of this.agents.splice(0)) await a.stop({ killTasks: true }).catch(() => undefined);
    for (const p of this.processes.splice(0)) await p.kill();
    const left = await this.containers().catch(() => []);
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
    this.fw.close();
    await this.master.stop();
    fs.rmSync(this.workDir, { recursive: true, force: true });
  }
}

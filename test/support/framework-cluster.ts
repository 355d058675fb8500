/**
 * A small cluster for framework tests: a real master (fake clock: the test runs the allocation
 * cycles), real agents with hostnames h1…hN and the fake containerizer (containers add nothing to
 * scheduling; see {@link crashOnDemand}) — or, with `containerizers`, the real ones (processes, Docker)
 * for tests about what tasks really do — and a framework
 * host running the given plugins (fake clock for their timers) whose gRPC APIs the test calls as a
 * client would. `stop()` releases everything.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import Dockerode from 'dockerode';
import { Agent } from '../../src/agent/agent';
import { FakeContainerizer, type FakeBehaviour } from '../../src/agent/containerizer/fake-containerizer';
import type { Containerizer, LaunchSpec } from '../../src/agent/containerizer/containerizer';
import { selectContainerizer } from '../../src/agent/containerizer/select';
import { FakeClock, SystemClock } from '../../src/common/clock';
import { memoryLogger } from '../../src/common/logging';
import { Resources } from '../../src/common/resources';
import { loadBerthProto } from '../../src/common/rpc/proto';
import { FrameworkHost, type PluginSpec } from '../../src/frameworks/host/host';
import { MemoryKeyValueStore } from '../../src/frameworks/sdk/store';
import { startTestMaster, waitFor, type TestMaster } from './master-harness';

/**
 * The default fake behaviour: a task whose command contains "crash" ends with status 1 after 20 ms,
 * one with "quick" ends with status 0 after 20 ms; others run until killed.
 */
export function crashOnDemand(spec: LaunchSpec): FakeBehaviour {
  if (spec.command.value.includes('crash')) return { exitAfterMs: 20, exitCode: 1 };
  if (spec.command.value.includes('quick')) return { exitAfterMs: 20, exitCode: 0 };
  return {};
}

export class FrameworkCluster {
  readonly store = new MemoryKeyValueStore();
  readonly hostClock = new FakeClock(Date.now());
  host!: FrameworkHost;
  private clients = new Map<string, grpc.Client>();

  private constructor(
    readonly master: TestMaster,
    readonly agents: Agent[],
    private readonly dirs: string[],
    private readonly plugins: PluginSpec[],
    private readonly usesDocker: boolean,
  ) {}

  static async start(opts: {
    agents: number;
    plugins: PluginSpec[];
    behaviour?: (spec: LaunchSpec) => FakeBehaviour;
    /** Real containerizers instead of the fake one. */
    containerizers?: 'process' | 'docker,process';
    /** The agents' resources. @default 'cpus:4;mem:4096;disk:1000;ports:[31000-31099]' */
    resources?: string;
  }): Promise<FrameworkCluster> {
    const master = await startTestMaster({ allocationIntervalMs: 1000 });
    const agents: Agent[] = [];
    const dirs: string[] = [];
    for (let i = 1; i <= opts.agents; i++) {
      const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `berth-fw-h${i}-`));
      dirs.push(workDir);
      const containerizer: Containerizer = opts.containerizers === undefined
        ? new FakeContainerizer(new SystemClock(), opts.behaviour ?? crashOnDemand)
        : await selectContainerizer({ setting: opts.containerizers, dockerSocket: '/var/run/docker.sock', workDir, clock: new SystemClock(), logger: memoryLogger('error') });
      const agent = new Agent({ master: master.address, hostname: `h${i}`, resources: Resources.parse(opts.resources ?? 'cpus:4;mem:4096;disk:1000;ports:[31000-31099]'), workDir, clock: new SystemClock(), containerizer, reconnectMinMs: 50, logger: memoryLogger('error') });
      await agent.start();
      await agent.whenRegistered();
      agents.push(agent);
    }
    const cluster = new FrameworkCluster(master, agents, dirs, opts.plugins, opts.containerizers?.includes('docker') === true);
    await cluster.startHost();
    return cluster;
  }

  /** Starts (again) the framework host on the cluster's store, as a restarted process would. */
  async startHost(): Promise<void> {
    this.host = new FrameworkHost({ masters: [this.master.address], plugins: this.plugins, store: this.store, clock: this.hostClock, grpc: { host: '127.0.0.1', port: 0 }, logger: memoryLogger('error') });
    await this.host.start();
    for (const p of this.plugins) await waitFor(() => this.host.driver(p.name)?.connected === true, `plugin ${p.name} to subscribe`);
  }

  /** Stops the host (its tasks keep running: the frameworks have a failover timeout). */
  async stopHost(): Promise<void> {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
    await this.host.stop();
  }

  /** Calls `method` of the plugin API `service` (e.g. 'Services', 'Jobs') on the host. */
  call<T>(service: string, method: string, request: object): Promise<T> {
    let client = this.clients.get(service);
    if (client === undefined) {
      const Ctor = (loadBerthProto() as unknown as { berth: { v1: Record<string, grpc.ServiceClientConstructor> } }).berth.v1[service]!;
      client = new Ctor(this.host.grpcAddress!, grpc.credentials.createInsecure());
      this.clients.set(service, client);
    }
    const c = client as unknown as Record<string, (r: object, cb: (e: grpc.ServiceError | null, v: T) => void) => void>;
    return new Promise((resolve, reject) => c[method]!.call(client, request, (e, v) => (e ? reject(e) : resolve(v))));
  }

  /** Runs allocation cycles (and the host's timers, `hostStepMs` per cycle) until `cond` holds. */
  async cycleUntil(cond: () => Promise<boolean>, what: string, hostStepMs = 100, ms = 15_000): Promise<void> {
    const end = Date.now() + ms;
    for (;;) {
      if (await cond()) return;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      this.master.clock.advance(1000);
      this.hostClock.advance(hostStepMs);
      await new Promise((r) => setTimeout(r, 15));
    }
  }

  /** Removes the (killed) Docker containers the agents leave behind: each carries its agent's work dir as its scope. */
  private async removeContainers(): Promise<void> {
    if (!this.usesDocker) return;
    const docker = new Dockerode({ socketPath: '/var/run/docker.sock' });
    for (const dir of this.dirs) {
      const left = await docker.listContainers({ all: true, filters: { label: [`io.berth.scope=${dir}`] } }).catch(() => []);
      await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
    }
  }

  async stop(): Promise<void> {
    await this.stopHost();
    for (const a of this.agents) await a.stop({ killTasks: true });
    await this.removeContainers();
    await this.master.stop();
    for (const d of this.dirs) fs.rmSync(d, { recursive: true, force: true });
  }
}

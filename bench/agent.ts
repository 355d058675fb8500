/**
 * Agent benchmark: the real `berth agent` (a child process, Docker containerizer, real engine) driven
 * by a stand-in master in this process, printed as one JSON object.
 *
 *   npm run bench:agent -- [--tasks 50] [--concurrent 50] [--json]
 *
 * This process serves `AgentLink.Connect` on 127.0.0.1 the way the master does for one agent: it
 * answers REGISTER, sends RUN_TASK / KILL_TASK and acknowledges every status update at once (no
 * allocator, no framework: only the agent is measured). The run:
 *
 *   1. `--tasks` launches one after the other, interleaved with as many plain dockerode
 *      create+start calls of the same image with the same container settings the agent asks for
 *      (host network, init, CPU/memory limits, a sandbox directory bind-mounted), so the ratio isolates
 *      the agent's own work and both see the same engine in the same minute of this shared host. `launch_ms` is RUN_TASK
 *      written → TASK_RUNNING received here (the agent's launch plus a loopback round trip);
 *      `raw_docker_ms` is create → start resolved; `overhead_ratio` = p50 / p50.
 *   2. `--concurrent` more RUN_TASKs written at once; `concurrent_tasks_running` counts those that
 *      reach TASK_RUNNING (all should), `concurrent_launch_s` how long the last took.
 *   3. with tasks + concurrent tasks running, the agent's RSS (from /proc) is `agent_rss_mb`.
 *
 * Then every task is killed through the agent, the raw containers are removed, the agent stopped and
 * its work directory deleted; anything left with this run's label is force-removed, also on failure.
 * Needs a Docker engine (started as root when absent, see scripts/docker-engine.js) and the test image.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type * as grpc from '@grpc/grpc-js';
import Dockerode from 'dockerode';
import { agentLinkService } from '../src/common/rpc/proto';
import { startGrpcServer, type GrpcServerHandle } from '../src/common/rpc/server';
import type { AgentMessage__Output } from '../src/generated/berth/v1/AgentMessage';
import type { MasterMessage } from '../src/generated/berth/v1/MasterMessage';
import { percentile, round3 } from './sim-shared';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const engine = require('../../scripts/docker-engine.js') as {
  TEST_IMAGE: string;
  ensureDockerEngine(o?: { log?: (m: string) => void }): Promise<{ pid: number | undefined }>;
  stopDockerEngine(pid: number | undefined): Promise<void>;
  ensureTestImage(): void;
};

interface Options {
  tasks: number;
  concurrent: number;
  json: boolean;
  timeoutS: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { tasks: 50, concurrent: 50, json: false, timeoutS: 300 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) throw new Error(`${a} needs a non-negative integer, got ${argv[i]}`);
      return v;
    };
    if (a === '--tasks') o.tasks = Math.max(1, num());
    else if (a === '--concurrent') o.concurrent = num();
    else if (a === '--timeout-s') o.timeoutS = Math.max(1, num());
    else if (a === '--json') o.json = true;
    else throw new Error(`unknown argument ${a} (use --tasks N --concurrent N --timeout-s S --json)`);
  }
  return o;
}

const FRAMEWORK = { id: { value: 'bench-fw' }, name: 'bench', user: 'root', roles: ['*'] };
const COMMAND = 'sleep 3600';
/** A typical small service's share; under a CFS quota a much smaller one slows the container's own start. */
const TASK_CPUS = 0.5;

/** The stand-in master: one agent stream, RUN_TASK out, TASK_RUNNING back. */
class StandInMaster {
  private stream: grpc.ServerDuplexStream<AgentMessage__Output, MasterMessage> | undefined;
  private readonly waiting = new Map<string, { state: string; resolve: (at: number) => void; reject: (err: Error) => void }>();
  private registered: (() => void) | undefined;
  readonly registration = new Promise<void>((resolve) => { this.registered = resolve; });
  readonly states = new Map<string, string>();
  failures: string[] = [];

  service() {
    return agentLinkService({
      Connect: (stream: grpc.ServerDuplexStream<AgentMessage__Output, MasterMessage>) => {
        this.stream = stream;
        stream.on('data', (msg: AgentMessage__Output) => this.onMessage(msg));
        stream.on('error', () => undefined);
      },
    } as never);
  }

  private onMessage(msg: AgentMessage__Output): void {
    const s = this.stream!;
    if (msg.type === 'REGISTER' || msg.type === 'REREGISTER') {
      const type = msg.type === 'REGISTER' ? 'REGISTERED' : 'REREGISTERED';
      const body = { agent_id: { value: 'bench-agent' }, heartbeat_interval_seconds: 0 };
      s.write(type === 'REGISTERED' ? { type, registered: body } : { type, reregistered: body });
      this.registered?.();
      return;
    }
    if (msg.type !== 'STATUS_UPDATE') return;
    const u = msg.status_update!;
    const status = u.status!;
    const taskId = status.task_id!.value;
    s.write({ type: 'STATUS_UPDATE_ACKNOWLEDGEMENT', status_update_acknowledgement: { agent_id: { value: 'bench-agent' }, framework_id: u.framework_id, task_id: status.task_id, uuid: status.uuid } });
    this.states.set(taskId, status.state);
    const w = this.waiting.get(taskId);
    if (status.state === 'TASK_FAILED' || status.state === 'TASK_ERROR' || status.state === 'TASK_LOST') {
      this.failures.push(`${taskId}: ${status.state} ${status.message}`);
      // A task waited for that fails will never get there: say why now, not at the bench's timeout.
      if (w !== undefined) {
        this.waiting.delete(taskId);
        w.reject(new Error(`task failed: ${taskId}: ${status.state} ${status.message}`));
      }
      return;
    }
    if (w !== undefined && w.state === status.state) {
      this.waiting.delete(taskId);
      w.resolve(performance.now());
    }
  }

  /** Resolves with the time `state` arrives for the task. */
  when(taskId: string, state: string): Promise<number> {
    return new Promise((resolve, reject) => this.waiting.set(taskId, { state, resolve, reject }));
  }

  run(taskId: string): void {
    this.stream!.write({
      type: 'RUN_TASK',
      run_task: {
        framework_info: FRAMEWORK,
        role: '*',
        task: {
          name: taskId,
          task_id: { value: taskId },
          agent_id: { value: 'bench-agent' },
          resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: TASK_CPUS } }, { name: 'mem', type: 'SCALAR', scalar: { value: 16 } }],
          command: { value: COMMAND, shell: true },
          container: { type: 'DOCKER', docker: { image: engine.TEST_IMAGE } },
        },
      },
    } as MasterMessage);
  }

  kill(taskId: string): void {
    this.stream!.write({ type: 'KILL_TASK', kill_task: { framework_id: FRAMEWORK.id, task_id: { value: taskId }, kill_policy: { grace_period: { nanoseconds: 0 } } } } as MasterMessage);
  }
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Number(m[1]) / 1024;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const log = (m: string): void => {
    if (!o.json) process.stderr.write(`${m}\n`);
  };
  const started = await engine.ensureDockerEngine({ log });
  engine.ensureTestImage();
  const docker = new Dockerode();
  const runLabel = `bench-${randomUUID()}`;
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-agent-'));
  const master = new StandInMaster();
  let server: GrpcServerHandle | undefined;
  let agent: ChildProcess | undefined;
  const raw: Dockerode.Container[] = [];
  const timeout = setTimeout(() => {
    process.stderr.write(`bench:agent: not done within ${o.timeoutS} s\n`);
    cleanup().finally(() => process.exit(1));
  }, o.timeoutS * 1000);

  async function cleanup(): Promise<void> {
    agent?.kill('SIGKILL');
    await server?.shutdown(0);
    const left = await docker.listContainers({ all: true, filters: { label: [`io.berth.scope=${workDir}`] } }).catch(() => []);
    const rawLeft = await docker.listContainers({ all: true, filters: { label: [`berth.bench=${runLabel}`] } }).catch(() => []);
    await Promise.all([...left, ...rawLeft].map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
    fs.rmSync(workDir, { recursive: true, force: true });
    await engine.stopDockerEngine(started.pid);
  }

  try {
    server = await startGrpcServer({ services: [master.service()] });
    agent = spawn(process.execPath, [path.join(__dirname, '..', '..', 'bin', 'berth.js'), 'agent', '--master', server.address, '--work-dir', workDir,
      '--containerizers', 'docker', '--http-port', '0', '--resources', 'cpus:64;mem:65536;disk:1000;ports:[31000-32000]', '--log-level', 'warn'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await master.registration;
    log(`agent registered (pid ${agent.pid}); ${o.tasks} sequential launches interleaved with raw create+start`);

    // 1. Sequential, interleaved.
    const launchMs = new Float64Array(o.tasks);
    const rawMs = new Float64Array(o.tasks);
    for (let i = 0; i < o.tasks; i++) {
      const sandbox = path.join(workDir, 'raw', String(i));
      const t0 = performance.now();
      fs.mkdirSync(sandbox, { recursive: true });
      const c = await docker.createContainer({
        Image: engine.TEST_IMAGE,
        Entrypoint: ['/bin/sh', '-c'],
        Cmd: [COMMAND],
        Labels: { 'berth.bench': runLabel },
        HostConfig: { NetworkMode: 'host', Init: true, Binds: [`${sandbox}:/mnt/berth/sandbox:rw`], Memory: 16 * 1024 * 1024, MemorySwap: 16 * 1024 * 1024, CpuShares: TASK_CPUS * 1024, NanoCpus: TASK_CPUS * 1e9 },
      });
      await c.start();
      rawMs[i] = performance.now() - t0;
      raw.push(c);

      const taskId = `seq-${i}`;
      const running = master.when(taskId, 'TASK_RUNNING');
      const t1 = performance.now();
      master.run(taskId);
      launchMs[i] = (await running) - t1;
      if (master.failures.length > 0) throw new Error(`task failed: ${master.failures[0]}`);
    }

    // 2. Concurrent.
    log(`${o.concurrent} launches at once`);
    const tc = performance.now();
    const concurrent = Array.from({ length: o.concurrent }, (_, i) => {
      const taskId = `conc-${i}`;
      const p = master.when(taskId, 'TASK_RUNNING');
      master.run(taskId);
      return p;
    });
    const ends = await Promise.all(concurrent);
    const concurrentLaunchS = ends.length === 0 ? 0 : (Math.max(...ends) - tc) / 1000;
    const concurrentRunning = [...master.states].filter(([id, st]) => id.startsWith('conc-') && st === 'TASK_RUNNING').length;
    const runningNow = [...master.states.values()].filter((st) => st === 'TASK_RUNNING').length;

    // 3. Memory with everything running.
    await new Promise((r) => setTimeout(r, 1000));
    const rss = rssMb(agent.pid!);

    // Tear down through the agent: every task killed.
    const killed = [...master.states.keys()].map((id) => {
      const p = master.when(id, 'TASK_KILLED');
      master.kill(id);
      return p;
    });
    await Promise.all(killed);
    await Promise.all(raw.map((c) => c.remove({ force: true })));

    const launchP50 = percentile(launchMs, 50);
    const rawP50 = percentile(rawMs, 50);
    const result = {
      tasks: o.tasks,
      launch_ms_p50: round3(launchP50),
      launch_ms_p95: round3(percentile(launchMs, 95)),
      raw_docker_ms_p50: round3(rawP50),
      raw_docker_ms_p95: round3(percentile(rawMs, 95)),
      overhead_ratio: round3(launchP50 / rawP50),
      concurrent: o.concurrent,
      concurrent_tasks_running: concurrentRunning,
      concurrent_launch_s: round3(concurrentLaunchS),
      running_at_rss: runningNow,
      agent_rss_mb: round3(rss),
      failures: master.failures.length,
    };
    process.stdout.write(`${JSON.stringify(result, null, o.json ? undefined : 2)}\n`);
  } finally {
    clearTimeout(timeout);
    await cleanup();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:agent: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});

/**
 * Restart benchmark: how quickly the services framework replaces containers killed behind its back,
 * on a real cluster — `berth dev`'s parts (master, one agent with the Docker containerizer, the
 * framework host) started in this process over real gRPC on loopback — and the real Docker engine.
 * Printed as one JSON object.
 *
 *   npm run bench:restart -- [--instances 30] [--kill 5] [--rounds 5] [--gap-s 2] [--json]
 *
 * An app of `--instances` instances of `sleep 3600` on berth-test/busybox:latest (cpus 0.1, mem 16,
 * the framework's default options, the app's default backoff) is deployed and waited for. Then, per
 * round, `--kill` of its containers are `docker kill`ed at once (through dockerode, all requests
 * sent together; each round takes other containers than the last, oldest first), and the time from
 * sending the kills to the app reporting `--instances` tasks RUNNING, none of them a killed one
 * (GetApp through the berth.v1.Services API, polled every 20 ms), is one sample of
 * `all_running_s`; `--gap-s` seconds pass between rounds. Reported: median, min, max and every
 * round's figure.
 *
 * Needs a Docker engine (started as root when absent, see scripts/docker-engine.js) and the test
 * image. Every container of the run is removed at the end (also on failure and on `--timeout-s`),
 * the cluster stopped and its directory deleted.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import Dockerode from 'dockerode';
import { devAgentWorkDir, startDev, type DevCluster } from '../src/cli/dev-command';
import { loadBerthProto } from '../src/common/rpc/proto';
import { percentile, round3 } from './sim-shared';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const engine = require('../../scripts/docker-engine.js') as {
  TEST_IMAGE: string;
  ensureDockerEngine(o?: { log?: (m: string) => void }): Promise<{ pid: number | undefined }>;
  stopDockerEngine(pid: number | undefined): Promise<void>;
  ensureTestImage(): void;
};

interface Options {
  instances: number;
  kill: number;
  rounds: number;
  gapS: number;
  json: boolean;
  timeoutS: number;
}

const USAGE = 'use --instances N --kill N --rounds N --gap-s S --timeout-s S --json';

function parseArgs(argv: string[]): Options {
  const o: Options = { instances: 30, kill: 5, rounds: 5, gapS: 2, json: false, timeoutS: 300 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (min: number): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < min) throw new Error(`${a} needs a number >= ${min}, got ${argv[i] ?? 'nothing'} (${USAGE})`);
      return v;
    };
    if (a === '--instances') o.instances = Math.floor(num(1));
    else if (a === '--kill') o.kill = Math.floor(num(1));
    else if (a === '--rounds') o.rounds = Math.floor(num(1));
    else if (a === '--gap-s') o.gapS = num(0);
    else if (a === '--timeout-s') o.timeoutS = num(1);
    else if (a === '--json') o.json = true;
    else throw new Error(`unknown argument ${a} (${USAGE})`);
  }
  if (o.kill > o.instances) throw new Error(`--kill (${o.kill}) must not exceed --instances (${o.instances})`);
  return o;
}

interface AppStatus {
  running: number;
  tasks: { task_id: string; state: string }[];
}

const APP_ID = '/bench/restart';

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const log = (m: string): void => {
    if (!o.json) process.stderr.write(`${m}\n`);
  };
  const started = await engine.ensureDockerEngine({ log });
  engine.ensureTestImage();
  const docker = new Dockerode();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-restart-'));
  const scope = devAgentWorkDir(workDir).agentWorkDir;
  let cluster: DevCluster | undefined;
  let client: grpc.Client | undefined;

  const cleanup = async (): Promise<void> => {
    client?.close();
    await cluster?.stop().catch(() => undefined);
    const left = await docker.listContainers({ all: true, filters: { label: [`io.berth.scope=${scope}`] } }).catch(() => []);
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
    fs.rmSync(workDir, { recursive: true, force: true });
    if (scope !== path.join(workDir, 'agent')) fs.rmSync(scope, { recursive: true, force: true });
    await engine.stopDockerEngine(started.pid);
  };
  const timer = setTimeout(() => {
    process.stderr.write(`bench:restart: not done within ${o.timeoutS} s\n`);
    void cleanup().finally(() => process.exit(1));
  }, o.timeoutS * 1000);

  try {
    cluster = await startDev({
      workDir, grpcPort: '0', httpPort: '0', agentHttpPort: '0', frameworksPort: '0', frameworksHttpPort: '0', pluginOptions: '{}',
      containerizers: 'docker', resources: `cpus:${o.instances * 0.1 + 2};mem:${o.instances * 16 + 1024};disk:1000;ports:[31000-31999]`, logLevel: 'error',
    }, 'error');
    const v1 = (loadBerthProto() as unknown as { berth: { v1: Record<string, grpc.ServiceClientConstructor> } }).berth.v1;
    const services = new v1['Services']!(cluster.frameworksGrpc!, grpc.credentials.createInsecure());
    client = services;
    const call = <T>(method: string, request: object): Promise<T> =>
      new Promise((resolve, reject) => (services as unknown as Record<string, (r: object, cb: (e: Error | null, v: T) => void) => void>)[method]!.call(services, request, (e, v) => (e ? reject(e) : resolve(v))));
    const status = async (): Promise<AppStatus> => (await call<{ app: { status: AppStatus } }>('GetApp', { app_id: APP_ID })).app.status;
    /** Polls until `instances` tasks run and none of `gone` is among them; returns when that was seen. */
    const allRunning = async (gone: ReadonlySet<string>, what: string): Promise<number> => {
      const end = performance.now() + o.timeoutS * 1000;
      for (;;) {
        const s = await status();
        const running = s.tasks.filter((t) => t.state === 'TASK_RUNNING' && !gone.has(t.task_id)).length;
        if (running >= o.instances) return performance.now();
        if (performance.now() > end) throw new Error(`${what}: ${running} of ${o.instances} running after ${o.timeoutS} s`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };

    log(`deploying ${o.instances} instances of sleep 3600 on ${engine.TEST_IMAGE}`);
    const t0 = performance.now();
    await call('PutApp', { definition: JSON.stringify({ id: APP_ID, cmd: 'sleep 3600', container: { docker: { image: engine.TEST_IMAGE } }, cpus: 0.1, mem: 16, instances: o.instances }) });
    const deployS = ((await allRunning(new Set(), 'deploy')) - t0) / 1000;
    log(`all running after ${deployS.toFixed(3)} s`);

    const samples: number[] = [];
    const killedBefore = new Set<string>();
    for (let round = 0; round < o.rounds; round++) {
      await new Promise((r) => setTimeout(r, o.gapS * 1000));
      const containers = (await docker.listContainers({ filters: { label: [`io.berth.scope=${scope}`], status: ['running'] } }))
        .filter((c) => !killedBefore.has(c.Labels['io.berth.task-id'] ?? ''))
        .sort((a, b) => a.Created - b.Created || (a.Id < b.Id ? -1 : 1));
      if (containers.length < o.kill) throw new Error(`round ${round + 1}: only ${containers.length} running containers of the app`);
      const victims = containers.slice(0, o.kill);
      const gone = new Set(victims.map((c) => c.Labels['io.berth.task-id'] ?? ''));
      const k0 = performance.now();
      await Promise.all(victims.map((c) => docker.getContainer(c.Id).kill()));
      const seconds = ((await allRunning(gone, `round ${round + 1}`)) - k0) / 1000;
      for (const id of gone) killedBefore.add(id);
      samples.push(seconds);
      log(`round ${round + 1}: ${o.kill} killed → all ${o.instances} running again after ${seconds.toFixed(3)} s`);
    }
    const sorted = Float64Array.from(samples);
    const result = {
      instances: o.instances,
      killed_per_round: o.kill,
      rounds: o.rounds,
      gap_s: o.gapS,
      deploy_s: round3(deployS),
      all_running_s_median: round3(percentile(sorted, 50)),
      all_running_s_min: round3(Math.min(...samples)),
      all_running_s_max: round3(Math.max(...samples)),
      all_running_s: samples.map(round3),
    };
    process.stdout.write(`${JSON.stringify(result, null, o.json ? undefined : 2)}\n`);
  } finally {
    clearTimeout(timer);
    await cleanup();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:restart: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});

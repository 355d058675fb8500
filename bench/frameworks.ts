/**
 * Frameworks benchmark: the built-in services and jobs frameworks (the framework host, in this
 * process) against a real `berth master` (a child process, file registry) and 100 simulated agents
 * (bench/sim-agents: real AgentLink streams that answer RUN_TASK with TASK_RUNNING at once — real agents
 * would be 100 machines with 100 disks, which one process on this host cannot stand for), over real
 * gRPC, printed as one JSON object.
 *
 *   npm run bench:frameworks -- [--instances 1000] [--agents 100] [--jobs 1000,10000] [--json]
 *
 * 1. `deploy_1000_instances_s`: PutApp of one app of `--instances` instances (cpus 0.1, mem 32)
 *    through the berth.v1.Services API → GetApp reports them all RUNNING (polled every 200 ms;
 *    BENCH_TRACE=1 prints the progress).
 * 2. `cron_<N>_fire_lag_ms_p99`, for each N of `--jobs` in turn: N jobs, each scheduled `* * * * *`
 *    (UTC), are put; at the next minute boundary (waited for, up to 60 s) they are all due at once.
 *    Per run: its scheduled instant → the run created by the framework (fire lag), and → its task
 *    launched (launch lag, which also waits for offers). Read back through ListRuns; the point's jobs
 *    have their schedules disabled (their tasks keep running: the simulated agents never end a task).
 *
 * Every child is stopped at the end (also on failure and on `--timeout-s`), and the temporary
 * directory removed.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { SystemClock } from '../src/common/clock';
import { nullLogger } from '../src/common/logging';
import { loadBerthProto } from '../src/common/rpc/proto';
import { FrameworkHost } from '../src/frameworks/host/host';
import { FileKeyValueStore } from '../src/frameworks/sdk/store';
import { percentile, round3, type AgentsConfig } from './sim-shared';
import { freePorts } from './scale-cluster';

interface Options {
  instances: number;
  agents: number;
  jobs: number[];
  json: boolean;
  timeoutS: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { instances: 1000, agents: 100, jobs: [1000, 10_000], json: false, timeoutS: 900 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) throw new Error(`${a} needs a non-negative integer, got ${argv[i]}`);
      return v;
    };
    if (a === '--instances') o.instances = num();
    else if (a === '--agents') o.agents = Math.max(1, num());
    else if (a === '--jobs') {
      o.jobs = String(argv[++i]).split(',').filter((x) => x !== '').map(Number);
      if (!o.jobs.every((n) => Number.isInteger(n) && n >= 0)) throw new Error(`--jobs needs a comma-separated list of non-negative integers, got ${argv[i]}`);
    }
    else if (a === '--timeout-s') o.timeoutS = Math.max(1, num());
    else if (a === '--json') o.json = true;
    else throw new Error(`unknown argument ${a} (use --instances N --agents N --jobs N --timeout-s S --json)`);
  }
  return o;
}

function ready(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health/ready', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

const ms = (t: { nanoseconds?: string } | null | undefined): number => Number(t?.nanoseconds ?? NaN) / 1e6;

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const log = (m: string): void => {
    if (!o.json) process.stderr.write(`${m}\n`);
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-fw-'));
  const children: ChildProcess[] = [];
  let host: FrameworkHost | undefined;
  let client: Record<string, grpc.Client> = {};
  const cleanup = async (): Promise<void> => {
    for (const c of Object.values(client)) c.close();
    client = {};
    await host?.stop().catch(() => undefined);
    for (const c of children) c.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const timer = setTimeout(() => {
    process.stderr.write(`bench:frameworks: not done within ${o.timeoutS} s\n`);
    void cleanup().finally(() => process.exit(1));
  }, o.timeoutS * 1000);

  try {
    const [grpcPort, httpPort] = await freePorts(2);
    const master = spawn(process.execPath, [path.join(__dirname, '..', '..', 'bin', 'berth.js'), 'master', '--auth-enabled', 'false', '--grpc-port', String(grpcPort), '--http-port', String(httpPort), '--work-dir', path.join(dir, 'master'), '--log-level', 'error'], { stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(master);
    const masterAddress = `127.0.0.1:${grpcPort}`;
    for (let i = 0; !(await ready(httpPort)); i++) {
      if (i > 200) throw new Error('the master did not become ready');
      await new Promise((r) => setTimeout(r, 50));
    }
    log(`master ready at ${masterAddress}; starting ${o.agents} agents`);
    // Each point's jobs may fire twice (a minute boundary passed while they were being put).
    const jobTasks = 2 * o.jobs.reduce((a, b) => a + b, 0);
    const perAgent = Math.ceil((o.instances + jobTasks) / o.agents) + 2;
    const agentsConfig: AgentsConfig = {
      address: masterAddress, agents: o.agents, connections: o.agents, registerConcurrency: 50,
      resources: `cpus:${perAgent * 0.1 + 1};mem:${perAgent * 32 + 1024};disk:1000;ports:[31000-32000]`, expectedAcks: o.instances + jobTasks,
    };
    const agents = fork(path.join(__dirname, 'sim-agents.js'), [JSON.stringify(agentsConfig)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], serialization: 'advanced' });
    children.push(agents);
    await new Promise<void>((resolve, reject) => {
      agents.on('message', (m: { type: string; message?: string }) => (m.type === 'registered' ? resolve() : m.type === 'failed' ? reject(new Error(m.message)) : undefined));
      agents.on('exit', (code) => reject(new Error(`the agents' process exited with ${code}`)));
    });

    host = new FrameworkHost({
      masters: [masterAddress],
      plugins: [{ name: 'services', module: 'services', options: { refuseSeconds: 1 } }, { name: 'jobs', module: 'jobs', options: { declineRefuseSeconds: 1, idleRefuseSeconds: 1 } }],
      store: new FileKeyValueStore(path.join(dir, 'frameworks')),
      clock: new SystemClock(),
      grpc: { host: '127.0.0.1', port: 0 },
      logger: nullLogger,
    });
    await host.start();
    const v1 = (loadBerthProto() as unknown as { berth: { v1: Record<string, grpc.ServiceClientConstructor> } }).berth.v1;
    client = { Services: new v1['Services']!(host.grpcAddress!, grpc.credentials.createInsecure()), Jobs: new v1['Jobs']!(host.grpcAddress!, grpc.credentials.createInsecure()) };
    const call = <T>(service: string, method: string, request: object): Promise<T> =>
      new Promise((resolve, reject) => (client[service] as unknown as Record<string, (r: object, cb: (e: Error | null, v: T) => void) => void>)[method]!.call(client[service], request, (e, v) => (e ? reject(e) : resolve(v))));
    while (!(host.driver('services')?.connected && host.driver('jobs')?.connected)) await new Promise((r) => setTimeout(r, 20));

    // 1. One app of N instances.
    log(`deploying ${o.instances} instances`);
    const t0 = Date.now();
    await call('Services', 'PutApp', { definition: JSON.stringify({ id: '/bench/web', cmd: 'serve', cpus: 0.1, mem: 32, instances: o.instances }) });
    let running = 0;
    while (running < o.instances) {
      await new Promise((r) => setTimeout(r, 200));
      const status = (await call<{ app: { status: { running: number; staged: number } } }>('Services', 'GetApp', { app_id: '/bench/web' })).app.status;
      running = status.running;
      if (process.env['BENCH_TRACE'] !== undefined) log(`${Date.now() - t0} ms: ${status.staged} staged, ${running} running`);
    }
    const deployS = (Date.now() - t0) / 1000;
    log(`deployed in ${deployS} s`);

    // 2. N jobs due the same minute, for each N.
    const cron: Record<string, number> = {};
    for (const n of o.jobs) {
      const lag = await cronPoint(n, call, log);
      for (const [k, v] of Object.entries(lag)) cron[`cron_${n}_${k}`] = v;
    }
    const result = {
      instances: o.instances,
      agents: o.agents,
      deploy_1000_instances_s: round3(deployS),
      ...cron,
    };
    process.stdout.write(`${JSON.stringify(result, null, o.json ? undefined : 2)}\n`);
  } finally {
    clearTimeout(timer);
    await cleanup();
  }
}

type Call = <T>(service: string, method: string, request: object) => Promise<T>;

/** Puts `n` jobs due every minute, waits for the next boundary, reads every run's fire and launch lag, then disables the jobs' schedules. */
async function cronPoint(n: number, call: Call, log: (m: string) => void): Promise<Record<string, number>> {
  log(`putting ${n} jobs scheduled every minute`);
  const id = (i: number): string => `bench-${n}-${i}`;
  const inBatches = async (fn: (i: number) => Promise<unknown>): Promise<void> => {
    const batch = 50;
    for (let i = 0; i < n; i += batch) await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, k) => fn(i + k)));
  };
  const put = (i: number, enabled: boolean): Promise<unknown> => call('Jobs', 'PutJob', { text: JSON.stringify({ id: id(i), run: { cmd: 'quick job', cpus: 0.1, mem: 32 }, schedules: [{ id: 'm', cron: '* * * * *', timezone: 'UTC', concurrencyPolicy: 'ALLOW', startingDeadlineSeconds: 60, enabled }] }) });
  await inBatches((i) => put(i, true));
  const due = Math.ceil((Date.now() + 1) / 60_000) * 60_000;
  log(`waiting for the minute boundary (${Math.round((due - Date.now()) / 1000)} s), then for every run to launch`);
  await new Promise((r) => setTimeout(r, due - Date.now() + 100));
  const fireLag = new Float64Array(n);
  const launchLag: number[] = [];
  let missed = 0;
  for (let i = 0; i < n; i++) {
    for (let tries = 0; ; tries++) {
      const res = await call<{ runs: { scheduled_at: { nanoseconds: string }; created_at: { nanoseconds: string }; status: string; attempts: { launched_at?: { nanoseconds: string } }[] }[] }>('Jobs', 'ListRuns', { job_id: id(i), limit: 5 });
      const run = res.runs.find((r) => Math.abs(ms(r.scheduled_at) - due) < 1);
      const launched = run?.attempts[0]?.launched_at;
      if (run !== undefined && (launched != null || run.status === 'MISSED')) {
        fireLag[i] = ms(run.created_at) - due;
        if (launched != null) launchLag.push(ms(launched) - due);
        if (run.status === 'MISSED') missed++;
        break;
      }
      if (tries > 600) throw new Error(`job ${id(i)} did not fire`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await inBatches((i) => put(i, false)); // the next point's minute is theirs alone
  const lags = Float64Array.from(launchLag);
  return {
    fire_lag_ms_p50: round3(percentile(fireLag, 50)),
    fire_lag_ms_p99: round3(percentile(fireLag, 99)),
    launch_lag_ms_p50: round3(percentile(lags, 50)),
    launch_lag_ms_p99: round3(percentile(lags, 99)),
    missed,
  };
}

main().then(() => process.exit(0), (e: unknown) => {
  process.stderr.write(`bench:frameworks: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});

/**
 * Idle-cost benchmark: what Berth costs while nothing happens. An app of `--instances` long `sleep`s
 * in real Docker containers (image berth-test/busybox:latest, host networking) is deployed through the
 * berth.v1.Services API, left to settle, and then each Berth process is watched for `--window-s`
 * seconds: its RSS (VmRSS of /proc/<pid>/status, sampled every second: the median is reported), its
 * CPU (utime + stime of /proc/<pid>/stat over the window, in % of one core) and, at the end, its own
 * `process.memoryUsage()` (heap used, external) read through bench/idle-probe.
 *
 *   npm run bench:idle -- [--instances 60] [--settle-s 30] [--window-s 30] [--only dev|daemons] [--json]
 *
 * 1. `dev_*`: `berth dev` (one process: master, agent, services and jobs) as a child process.
 * 2. `master_*`, `agent_*`, `frameworks_*`: `berth master`, `berth agent` and `berth frameworks`
 *    (services, jobs), each its own process, the same app on them; `daemons_rss_mib` is their sum.
 *
 * Every process gets a temporary work directory and free loopback ports. At the end of each phase the
 * app is deleted first (its containers stopped by the agent), then the processes are stopped (SIGTERM,
 * SIGKILL after 15 s), then any container still labelled with the phase's agent work directory is
 * removed, and the temporary directory too — also on failure and on `--timeout-s`.
 * Every Berth process runs with the node flags of bin/berth.js's #! line, as `berth` runs them;
 * `--node-flags "…"` gives others instead (`--node-flags ""`: none).
 * BERTH_IDLE_HEAP_SNAPSHOT=<dir> also writes each process's heap snapshot there at the end of its window.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import Dockerode from 'dockerode';
import { loadBerthProto } from '../src/common/rpc/proto';
import type { ProbeReport } from './idle-probe';
import { berthNodeFlags } from './sim-child';

interface Options {
  instances: number;
  settleS: number;
  windowS: number;
  only: 'dev' | 'daemons' | undefined;
  json: boolean;
  timeoutS: number;
  /** Node/V8 flags given to every Berth process (to measure one, e.g. --max-semi-space-size=2). */
  nodeFlags: string[];
}

const IMAGE = 'berth-test/busybox:latest';
const APP_ID = '/bench/idle';
const ROOT = path.join(__dirname, '..', '..');
const MIB = 2 ** 20;

function parseArgs(argv: string[]): Options {
  // By default the processes run as the `berth` command runs them (the flags of its #! line).
  const o: Options = { instances: 60, settleS: 30, windowS: 30, only: undefined, json: false, timeoutS: 900, nodeFlags: berthNodeFlags() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (min: number): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < min) throw new Error(`${a} needs an integer >= ${min}, got ${argv[i]}`);
      return v;
    };
    if (a === '--instances') o.instances = num(1);
    else if (a === '--settle-s') o.settleS = num(0);
    else if (a === '--window-s') o.windowS = num(1);
    else if (a === '--timeout-s') o.timeoutS = num(1);
    else if (a === '--only') {
      const v = argv[++i];
      if (v !== 'dev' && v !== 'daemons') throw new Error(`--only needs dev or daemons, got ${v}`);
      o.only = v;
    } else if (a === '--node-flags') o.nodeFlags = (argv[++i] ?? '').split(' ').filter((f) => f !== '');
    else if (a === '--json') o.json = true;
    else throw new Error(`unknown argument ${a} (use --instances N --settle-s S --window-s S --only dev|daemons --node-flags "F…" --timeout-s S --json)`);
  }
  return o;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const round1 = (x: number): number => Math.round(x * 10) / 10;
const round2 = (x: number): number => Math.round(x * 100) / 100;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function httpOk(port: number, route: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: route, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

/** RSS of a process in MiB. */
function rssMib(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) / 1024;
}

/** CPU seconds (user + system, all threads) a process has used. */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15, in USER_HZ (1/100 s on Linux).
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

/** One Berth process started by the bench. */
class Daemon {
  readonly proc: ChildProcess;
  private readonly probeFile: string;
  private stderrTail = '';
  exited: Promise<number | null>;

  constructor(readonly name: string, args: string[], dir: string, nodeFlags: readonly string[]) {
    this.probeFile = path.join(dir, `${name}.probe.json`);
    this.proc = spawn(process.execPath, [...nodeFlags, '--require', path.join(__dirname, 'idle-probe.js'), path.join(ROOT, 'bin', 'berth.js'), ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, BERTH_IDLE_PROBE_FILE: this.probeFile },
    });
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderrTail = (this.stderrTail + d.toString()).slice(-2000)));
    this.exited = new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)));
    void this.exited.then((code) => {
      if (!this.stopping) process.stderr.write(`bench:idle: ${name} exited with ${code}: ${this.stderrTail}\n`);
    });
  }

  private stopping = false;

  get dead(): boolean {
    return this.proc.exitCode !== null || this.proc.signalCode !== null;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** The process's own memory figures, asked for with SIGUSR2. */
  async probe(): Promise<ProbeReport> {
    fs.rmSync(this.probeFile, { force: true });
    this.proc.kill('SIGUSR2');
    for (let i = 0; i < 600; i++) {
      if (fs.existsSync(this.probeFile)) return JSON.parse(fs.readFileSync(this.probeFile, 'utf8')) as ProbeReport;
      await sleep(50);
    }
    throw new Error(`${this.name} did not answer the memory probe within 30 s`);
  }

  async stop(): Promise<void> {
    if (this.dead) return;
    this.stopping = true;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(timer);
  }

  failure(): string {
    return this.stderrTail.trim();
  }
}

type Call = <T>(method: string, request: object) => Promise<T>;

function servicesClient(address: string): { call: Call; close(): void } {
  const v1 = (loadBerthProto() as unknown as { berth: { v1: Record<string, grpc.ServiceClientConstructor> } }).berth.v1;
  const client = new v1['Services']!(address, grpc.credentials.createInsecure());
  const call: Call = (method, request) =>
    new Promise((resolve, reject) => (client as unknown as Record<string, (r: object, o: grpc.CallOptions, cb: (e: Error | null, v: unknown) => void) => void>)[method]!.call(
      client, request, { deadline: Date.now() + 10_000 }, (e, v) => (e ? reject(e) : resolve(v as never))));
  return { call, close: () => client.close() };
}

interface AppStatus { running: number; staged: number }

async function appStatus(call: Call): Promise<AppStatus | undefined> {
  try {
    return (await call<{ app: { status: AppStatus } }>('GetApp', { app_id: APP_ID })).app.status;
  } catch (err) {
    if ((err as grpc.ServiceError).code === grpc.status.NOT_FOUND) return undefined;
    throw err;
  }
}

/** Puts the app (retrying while the framework is not connected yet) and waits until all instances run. */
async function deploy(call: Call, instances: number, daemons: Daemon[], log: (m: string) => void): Promise<number> {
  const definition = JSON.stringify({ id: APP_ID, container: { docker: { image: IMAGE } }, cmd: 'exec sleep 86400', instances, cpus: 0.02, mem: 16 });
  const t0 = Date.now();
  for (let i = 0; ; i++) {
    try {
      await call('PutApp', { definition });
      break;
    } catch (err) {
      if (i > 100) throw new Error(`PutApp kept failing: ${(err as Error).message}`);
      await sleep(200);
    }
  }
  for (let last = -1; ;) {
    for (const d of daemons) if (d.dead) throw new Error(`${d.name} exited: ${d.failure()}`);
    const s = await appStatus(call);
    if (s !== undefined && s.running !== last) log(`  ${s.running}/${instances} running, ${s.staged} staged`);
    last = s?.running ?? -1;
    if (s !== undefined && s.running >= instances) return (Date.now() - t0) / 1000;
    if (Date.now() - t0 > 300_000) throw new Error(`only ${last} of ${instances} instances running after 300 s`);
    await sleep(500);
  }
}

/** Deletes the app and waits (up to 120 s) until the framework no longer knows it. */
async function removeApp(call: Call): Promise<void> {
  await call('DeleteApp', { app_id: APP_ID }).catch(() => undefined);
  const until = Date.now() + 120_000;
  while (Date.now() < until && (await appStatus(call).catch(() => undefined)) !== undefined) await sleep(500);
}

interface Figures { rss_mib: number; rss_max_mib: number; heap_used_mib: number; heap_total_mib: number; external_mib: number; cpu_pct: number }

/** Watches every daemon for `windowS` seconds: RSS each second, CPU over the window, heap at the end. */
async function watch(daemons: Daemon[], windowS: number, log: (m: string) => void): Promise<Map<string, Figures>> {
  const rss = new Map<string, number[]>(daemons.map((d) => [d.name, []]));
  const cpu0 = daemons.map((d) => cpuSeconds(d.pid));
  const t0 = process.hrtime.bigint();
  for (let s = 1; s <= windowS; s++) {
    await sleep(1000);
    for (const d of daemons) rss.get(d.name)!.push(rssMib(d.pid));
    if (s % 10 === 0) log(`  ${s} s: ${daemons.map((d) => `${d.name} ${rss.get(d.name)!.at(-1)!.toFixed(1)} MiB`).join(', ')}`);
  }
  const elapsedS = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu1 = daemons.map((d) => cpuSeconds(d.pid));
  const out = new Map<string, Figures>();
  for (const [i, d] of daemons.entries()) {
    const p = await d.probe();
    const samples = rss.get(d.name)!;
    out.set(d.name, {
      rss_mib: round1(median(samples)), rss_max_mib: round1(Math.max(...samples)),
      heap_used_mib: round1(p.heapUsed / MIB), heap_total_mib: round1(p.heapTotal / MIB), external_mib: round1(p.external / MIB),
      cpu_pct: round2(((cpu1[i]! - cpu0[i]!) / elapsedS) * 100),
    });
  }
  return out;
}

/** Removes the containers an agent with this work directory left behind (its scope label). */
async function removeContainers(scope: string): Promise<number> {
  const docker = new Dockerode();
  const left = await docker.listContainers({ all: true, filters: { label: [`io.berth.scope=${scope}`] } });
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  return left.length;
}

interface Phase { daemons: Daemon[]; frameworksAddress: string; agentWorkDir: string }

async function startDevPhase(dir: string, flags: readonly string[]): Promise<Phase> {
  const [grpcPort, httpPort, agentPort, fwPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const workDir = path.join(dir, 'dev');
  const dev = new Daemon('dev', ['dev', '--work-dir', workDir, '--grpc-port', String(grpcPort), '--http-port', String(httpPort), '--agent-http-port', String(agentPort),
    '--frameworks-port', String(fwPort), '--containerizers', 'docker', '--log-level', 'error'], dir, flags);
  await until(() => httpOk(httpPort, '/health/ready'), [dev], 'berth dev did not become ready within 60 s');
  return { daemons: [dev], frameworksAddress: `127.0.0.1:${fwPort}`, agentWorkDir: path.join(workDir, 'agent') };
}

async function startDaemonsPhase(dir: string, flags: readonly string[]): Promise<Phase> {
  const [grpcPort, httpPort, agentPort, fwPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const master = new Daemon('master', ['master', '--auth-enabled', 'false', '--grpc-port', String(grpcPort), '--http-port', String(httpPort),
    '--work-dir', path.join(dir, 'master'), '--master-id', 'idle', '--log-level', 'error'], dir, flags);
  await until(() => httpOk(httpPort, '/health/ready'), [master], 'berth master did not become ready within 60 s');
  const agentWorkDir = path.join(dir, 'agent');
  const agent = new Daemon('agent', ['agent', '--master', `127.0.0.1:${grpcPort}`, '--hostname', 'localhost', '--http-port', String(agentPort),
    '--work-dir', agentWorkDir, '--containerizers', 'docker', '--log-level', 'error'], dir, flags);
  await until(() => httpOk(agentPort, '/health/ready'), [master, agent], 'berth agent did not become ready within 60 s');
  const frameworks = new Daemon('frameworks', ['frameworks', '--masters', `127.0.0.1:${grpcPort}`, '--plugins', 'services,jobs', '--grpc-port', String(fwPort),
    '--work-dir', path.join(dir, 'frameworks'), '--auth-enabled', 'false', '--log-level', 'error'], dir, flags);
  return { daemons: [master, agent, frameworks], frameworksAddress: `127.0.0.1:${fwPort}`, agentWorkDir };
}

async function until(ok: () => Promise<boolean>, daemons: Daemon[], message: string): Promise<void> {
  for (let i = 0; !(await ok()); i++) {
    for (const d of daemons) if (d.dead) throw new Error(`${d.name} exited: ${d.failure()}`);
    if (i > 600) throw new Error(message);
    await sleep(100);
  }
}

async function runPhase(name: string, start: (dir: string, flags: readonly string[]) => Promise<Phase>, o: Options, log: (m: string) => void, onCleanup: (f: () => Promise<void>) => void): Promise<{ figures: Map<string, Figures>; deployS: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `berth-bench-idle-${name}-`));
  fs.chmodSync(dir, 0o755); // tasks run as nobody, who must be able to enter their sandboxes
  let phase: Phase | undefined;
  let client: ReturnType<typeof servicesClient> | undefined;
  const cleanup = async (): Promise<void> => {
    if (client !== undefined) await removeApp(client.call).catch(() => undefined);
    client?.close();
    client = undefined;
    for (const d of [...(phase?.daemons ?? [])].reverse()) await d.stop();
    if (phase !== undefined) {
      const left = await removeContainers(phase.agentWorkDir).catch(() => 0);
      if (left > 0) log(`  removed ${left} containers left behind`);
    }
    phase = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  onCleanup(cleanup);
  try {
    log(`${name}: starting`);
    phase = await start(dir, o.nodeFlags);
    client = servicesClient(phase.frameworksAddress);
    log(`${name}: deploying ${o.instances} instances of ${IMAGE}`);
    const deployS = await deploy(client.call, o.instances, phase.daemons, log);
    log(`${name}: all running after ${deployS.toFixed(1)} s; settling ${o.settleS} s, then watching ${o.windowS} s`);
    await sleep(o.settleS * 1000);
    const figures = await watch(phase.daemons, o.windowS, log);
    const status = await appStatus(client.call);
    if (status?.running !== o.instances) throw new Error(`${status?.running ?? 0} of ${o.instances} instances running at the end of the window`);
    return { figures, deployS: round1(deployS) };
  } finally {
    await cleanup();
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const log = (m: string): void => {
    if (!o.json) process.stderr.write(`${m}\n`);
  };
  let cleanup: (() => Promise<void>) | undefined;
  const timer = setTimeout(() => {
    process.stderr.write(`bench:idle: not done within ${o.timeoutS} s\n`);
    void (cleanup?.() ?? Promise.resolve()).finally(() => process.exit(1));
  }, o.timeoutS * 1000);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void (cleanup?.() ?? Promise.resolve()).finally(() => process.exit(130)));
  const result: Record<string, number | string> = { instances: o.instances, settle_s: o.settleS, window_s: o.windowS };
  const put = (prefix: string, f: Figures): void => {
    for (const [k, v] of Object.entries(f)) result[`${prefix}_${k}`] = v;
  };
  try {
    if (o.only !== 'daemons') {
      const dev = await runPhase('dev', startDevPhase, o, log, (f) => (cleanup = f));
      put('dev', dev.figures.get('dev')!);
      result['dev_deploy_s'] = dev.deployS;
    }
    if (o.only !== 'dev') {
      const run = await runPhase('daemons', startDaemonsPhase, o, log, (f) => (cleanup = f));
      const daemons = run.figures;
      result['daemons_deploy_s'] = run.deployS;
      for (const name of ['master', 'agent', 'frameworks']) put(name, daemons.get(name)!);
      result['daemons_rss_mib'] = round1(['master', 'agent', 'frameworks'].reduce((s, n) => s + daemons.get(n)!.rss_mib, 0));
      result['daemons_cpu_pct'] = round2(['master', 'agent', 'frameworks'].reduce((s, n) => s + daemons.get(n)!.cpu_pct, 0));
    }
    result['node'] = process.version;
    if (o.nodeFlags.length > 0) result['node_flags'] = o.nodeFlags.join(' ');
    process.stdout.write(`${JSON.stringify(result, null, o.json ? undefined : 2)}\n`);
  } finally {
    clearTimeout(timer);
  }
}

main().then(() => process.exit(0), (e: unknown) => {
  process.stderr.write(`bench:idle: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});

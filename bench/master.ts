/**
 * Master benchmark: the real master over real gRPC, driven by simulated agents and frameworks in
 * other processes, printed as one JSON object.
 *
 *   npm run bench:master -- [--agents 1000] [--frameworks 10] [--tasks 10000] [--json]
 *   npm run bench:master -- --hold [--agents 10000 --tasks 100000] [--hold-s 10]
 *   npm run bench:master -- --tls [--json]     # plaintext and TLS, alternated in one run
 *
 * `--tls` runs the same launch twice each way, plaintext and TLS (certificates made by
 * deploy/make-certs.sh; every agent and framework connection verifies the master), alternating so
 * that the host's noise falls on both, and prints the TLS run's result with `tasks_per_s_plaintext`,
 * `tasks_per_s_tls` (medians) and `tls_cost` (1 − tls / plaintext).
 *
 * Four processes: this one (the orchestrator), the master (`master-child.js`: a MasterDaemon as
 * `berth master` builds it — SystemClock, hierarchical allocator, FileRegistry in a temporary
 * directory, SoloLeadership, metrics, authentication disabled — on 127.0.0.1), all agents
 * (`sim-agents.js`) and all frameworks (`sim-frameworks.js`). The run:
 *
 *   1. the agents register (each on a TCP connection of its own unless --agent-connections says
 *      otherwise), each with room for ceil(slack × tasks / agents) tasks of cpus:0.01;mem:1;
 *   2. the frameworks subscribe with their role suppressed, then all REVIVE at once (`go`);
 *   3. each launches its share of the tasks on the offers it gets; each agent answers RUN_TASK with
 *      TASK_RUNNING at once; each framework acknowledges; the agents count the acknowledgements.
 *
 * `tasks_per_s` is tasks / (last acknowledgement back at its agent − first OFFERS event after `go`),
 * i.e. launch → RUNNING → acknowledged for all tasks through the master. Latencies are per task:
 * `offer_to_launch` (OFFERS received → ACCEPT written, in the framework), `launch_to_running`
 * (ACCEPT written → TASK_RUNNING received) and `update_to_ack` (TASK_RUNNING sent by the agent →
 * its acknowledgement back at the agent). Memory is the master process's: RSS and heap at the end
 * (after `--hold-s` seconds with every task still RUNNING in `--hold` mode), the RSS high-water
 * mark, and both again after a full GC. `--profile` records a CPU profile of the master during
 * step 3 and prints its hottest functions (TypeScript file:line) and the time per area;
 * `--heap-profile` samples the master's allocations from step 1 on and prints where the memory
 * still live at the end (after the hold, after a full GC) was allocated.
 *
 * Every child is stopped at the end, killed if it does not stop, also on error and timeout
 * (`--timeout-s`); children exit on their own when this process goes away. Exit status 1 with a
 * message when the run does not complete.
 */
import { execFileSync } from 'node:child_process';
import { agentRoom, BenchRun, berthNodeFlags, procMemory, type Child } from './sim-child';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { summariseHeapProfile, summariseProfile, type HeapProfileSummary, type ProfileSummary } from './profile-summary';
import {
  percentile,
  round3,
  TASK_RESOURCES_TEXT,
  wallMs,
  type AgentsConfig,
  type AgentsDone,
  type AgentsProgress,
  type FrameworksConfig,
  type FrameworksDone,
  type FrameworksProgress,
  type MasterChildConfig,
  type MasterMemory,
  type ProcessUsage,
} from './sim-shared';

interface Options {
  agents: number;
  frameworks: number;
  tasks: number;
  json: boolean;
  hold: boolean;
  holdS: number;
  timeoutS: number;
  allocationIntervalMs: number;
  agentConnections: number | undefined;
  agentSlack: number;
  agentResources: string | undefined;
  refuseS: number;
  registerConcurrency: number;
  profile: boolean;
  profileSims: string | undefined;
  heapProfile: boolean;
  metrics: boolean;
  tls: boolean;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  /** Node flags of the master process: bin/berth.js's #! flags (as `berth master` runs), then `--master-node-option`s. */
  masterNodeOptions: string[];
}

const USAGE = `usage: bench:master [--agents N] [--frameworks M] [--tasks T] [--json]
         [--hold] [--hold-s S] [--timeout-s S] [--allocation-interval-ms MS]
         [--agent-connections C] [--agent-slack X] [--agent-resources TEXT] [--refuse-s S]
         [--register-concurrency K] [--profile] [--heap-profile] [--profile-sims DIR] [--no-metrics] [--log-level error|warn|info|debug]
         [--tls] [--master-node-option OPT]…
defaults: --agents 1000 --frameworks 10 --tasks 10000 (with --hold: --agents 10000 --tasks 100000)
`;

function parseArgs(argv: string[]): Options {
  const o: Options = {
    agents: 0, frameworks: 10, tasks: 0, json: false, hold: false, holdS: 10, timeoutS: 300, allocationIntervalMs: 1000,
    agentConnections: undefined, agentSlack: 2, agentResources: undefined, refuseS: 300, registerConcurrency: 256,
    profile: false, profileSims: undefined, heapProfile: false, metrics: true, tls: false, logLevel: 'warn',
    masterNodeOptions: berthNodeFlags(),
  };
  const num = (flag: string, v: string | undefined, min: number, integer = true): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
      throw new Error(`${flag} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, got ${JSON.stringify(v)}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    switch (flag) {
      case '--agents': o.agents = num(flag, value, 1); i++; break;
      case '--frameworks': o.frameworks = num(flag, value, 1); i++; break;
      case '--tasks': o.tasks = num(flag, value, 1); i++; break;
      case '--json': o.json = true; break;
      case '--hold': o.hold = true; break;
      case '--hold-s': o.holdS = num(flag, value, 0, false); i++; break;
      case '--timeout-s': o.timeoutS = num(flag, value, 1, false); i++; break;
      case '--allocation-interval-ms': o.allocationIntervalMs = num(flag, value, 1); i++; break;
      case '--agent-connections': o.agentConnections = num(flag, value, 1); i++; break;
      case '--agent-slack': o.agentSlack = num(flag, value, 1, false); i++; break;
      case '--agent-resources': o.agentResources = value; i++; break;
      case '--refuse-s': o.refuseS = num(flag, value, 0, false); i++; break;
      case '--register-concurrency': o.registerConcurrency = num(flag, value, 1); i++; break;
      case '--profile': o.profile = true; break;
      case '--profile-sims': o.profileSims = value; i++; break;
      case '--heap-profile': o.heapProfile = true; break;
      case '--master-node-option':
        if (value === undefined) throw new Error('--master-node-option needs a value, e.g. --max-semi-space-size=16');
        o.masterNodeOptions.push(value); i++; break;
      case '--no-metrics': o.metrics = false; break;
      case '--tls': o.tls = true; break;
      case '--log-level':
        if (value !== 'error' && value !== 'warn' && value !== 'info' && value !== 'debug') throw new Error(`--log-level must be error, warn, info or debug, got ${JSON.stringify(value)}`);
        o.logLevel = value; i++; break;
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        process.exit(0);
      default: throw new Error(`unknown argument ${JSON.stringify(flag)}\n${USAGE}`);
    }
  }
  if (o.agents === 0) o.agents = o.hold ? 10_000 : 1_000;
  if (o.tasks === 0) o.tasks = o.hold ? 100_000 : 10_000;
  if (o.agentConnections !== undefined && o.agentConnections > o.agents) o.agentConnections = o.agents;
  return o;
}

/** Each agent's resources: room for ceil(slack × tasks / agents) tasks of cpus:0.01;mem:1. */
function agentResources(o: Options): string {
  if (o.agentResources !== undefined) return o.agentResources;
  return agentRoom(o.agentSlack, o.tasks, o.agents);
}

/** CPU seconds of the whole host so far (all cores): busy and total, from /proc/stat. */
function hostCpu(): { busyS: number; totalS: number } {
  try {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const hz = 100; // USER_HZ: /proc/stat counts in 1/100 s on Linux
    const total = fields.reduce((a, b) => a + b, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return { busyS: (total - idle) / hz, totalS: total / hz };
  } catch {
    return { busyS: Number.NaN, totalS: Number.NaN };
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const cpuS = (u: ProcessUsage) => u.cpuUserS + u.cpuSystemS;

class Run extends BenchRun {
  private tmp: string | undefined;
  master: Child | undefined;
  agents: Child | undefined;
  frameworks: Child | undefined;

  /** @param tls serve and dial TLS (certificates made for this run) */
  constructor(private readonly o: Options, private readonly tls = false) {
    super('bench:master', o.json);
  }

  async execute(): Promise<Record<string, unknown>> {
    const o = this.o;
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-master-'));
    const resources = agentResources(o);
    const connections = o.agentConnections ?? o.agents;

    this.phase = 'starting the master';
    let tls: { certFile: string; keyFile: string; caFile: string } | undefined;
    if (this.tls) {
      const certs = path.join(this.tmp, 'certs');
      execFileSync('sh', [path.join(__dirname, '..', '..', 'deploy', 'make-certs.sh'), certs, 'master'], { stdio: 'ignore' });
      tls = { certFile: path.join(certs, 'master.pem'), keyFile: path.join(certs, 'master.key'), caFile: path.join(certs, 'ca.pem') };
    }
    const masterConfig: MasterChildConfig = { registryDir: path.join(this.tmp, 'registry'), allocationIntervalMs: o.allocationIntervalMs, metrics: o.metrics, logLevel: o.logLevel, ...(tls !== undefined ? { tls } : {}) };
    this.master = this.spawn('master', 'master-child.js', masterConfig, ['--expose-gc', ...o.masterNodeOptions]);
    const { address } = await this.wait(this.master.next<{ address: string }>('ready'));
    this.log(`master ${address} (pid ${this.master.proc.pid})`);

    // Started before the agents register, the heap profile attributes everything the run leaves
    // live: per agent (registration, connections) as well as per task.
    const profileFile = path.join(os.tmpdir(), `berth-bench-master-${process.pid}-${Date.now()}.cpuprofile`);
    const heapProfileFile = profileFile.replace(/\.cpuprofile$/, '.heapprofile');
    if (o.heapProfile) await this.wait(this.master.request({ type: 'heap-profile-start' }, 'heap-profile-started'));

    this.phase = 'registering agents';
    const agentsConfig: AgentsConfig = { address, agents: o.agents, connections, resources, registerConcurrency: o.registerConcurrency, expectedAcks: o.tasks, ...(tls !== undefined ? { tlsCaFile: tls.caFile } : {}) };
    const simArgv = (name: string) => ['--max-old-space-size=4096', ...(o.profileSims === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${o.profileSims}`, `--cpu-prof-name=${name}-${process.pid}.cpuprofile`])];
    this.agents = this.spawn('sim-agents', 'sim-agents.js', agentsConfig, simArgv('sim-agents'));
    const registered = await this.wait(this.agents.next<{ agents: number; ms: number }>('registered'));
    this.log(`${registered.agents} agents registered over ${connections} connections in ${(registered.ms / 1000).toFixed(1)} s (${resources} each)`);

    this.phase = 'subscribing frameworks';
    const frameworksConfig: FrameworksConfig = { address, frameworks: o.frameworks, tasks: o.tasks, refuseSeconds: o.refuseS, ...(tls !== undefined ? { tlsCaFile: tls.caFile } : {}) };
    this.frameworks = this.spawn('sim-frameworks', 'sim-frameworks.js', frameworksConfig, simArgv('sim-frameworks'));
    const subscribed = await this.wait(this.frameworks.next<{ frameworks: number; ms: number }>('subscribed'));
    this.log(`${subscribed.frameworks} frameworks subscribed in ${subscribed.ms.toFixed(0)} ms`);

    const [before, agentsBefore, frameworksBefore] = await this.wait(Promise.all([
      this.master.request<MasterMemory>({ type: 'memory', gc: false }, 'memory'),
      this.agents.request<AgentsProgress>({ type: 'progress' }, 'progress'),
      this.frameworks.request<FrameworksProgress>({ type: 'progress' }, 'progress'),
    ]));
    if (o.profile) await this.wait(this.master.request({ type: 'profile-start' }, 'profile-started'));

    this.phase = 'launching tasks';
    this.log(`launching ${o.tasks} tasks`);
    const masterPid = this.master.proc.pid!;
    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, procMemory(masterPid).rssMb)), 250);
    const load = os.loadavg()[0]!;
    const hostBefore = hostCpu();
    const goAt = wallMs();
    this.frameworks.send({ type: 'go' });
    const [fw, ag] = await this.wait(Promise.all([this.frameworks.next<FrameworksDone>('done'), this.agents.next<AgentsDone>('acked')]));
    const hostAfter = hostCpu();
    const after = await this.wait(this.master.request<MasterMemory>({ type: 'memory', gc: false }, 'memory'));
    let profile: ProfileSummary | undefined;
    if (o.profile) {
      await this.wait(this.master.request({ type: 'profile-stop', file: profileFile }, 'profile-stopped'));
      profile = summariseProfile(profileFile, 25, path.resolve(__dirname, '..', '..'));
    }
    const wallS = (ag.lastAckAt - fw.firstOfferAt) / 1000;
    this.log(`${o.tasks} tasks running and acknowledged in ${wallS.toFixed(2)} s`);

    let end = after;
    const holdRss: number[] = [];
    if (o.hold) {
      this.phase = 'holding';
      this.log(`holding ${o.tasks} running tasks for ${o.holdS} s`);
      // RSS once a second while holding: whether it settles, shrinks or keeps growing.
      for (let s = 0; s < Math.ceil(o.holdS); s++) {
        await this.wait(sleep(Math.min(1000, (o.holdS - s) * 1000)));
        holdRss.push(procMemory(masterPid).rssMb);
      }
      end = await this.wait(this.master.request<MasterMemory>({ type: 'memory', gc: false }, 'memory'));
    }
    clearInterval(sampler);
    let heapProfile: HeapProfileSummary | undefined;
    if (o.heapProfile) {
      await this.wait(this.master.request({ type: 'heap-profile-stop', file: heapProfileFile }, 'heap-profile-stopped'));
      heapProfile = summariseHeapProfile(heapProfileFile, 25, path.resolve(__dirname, '..', '..'));
    }
    const proc = procMemory(masterPid);
    const gced = await this.wait(this.master.request<MasterMemory>({ type: 'memory', gc: true }, 'memory'));
    if (end.tasksRunning !== o.tasks) throw new Error(`the master counts ${end.tasksRunning} running tasks, expected ${o.tasks}`);

    const agentUsage = await this.stopChild(this.agents);
    const frameworkUsage = await this.stopChild(this.frameworks);
    const ms = (values: Float64Array, p: number) => round3(percentile(values, p));
    const firstOffers = fw.firstOfferAtPerFramework.filter((t) => t > 0);
    const masterCpu = cpuS(after.usage) - cpuS(before.usage);
    const agentsCpu = cpuS(ag.usage) - cpuS(agentsBefore.usage);
    const frameworksCpu = cpuS(fw.usage) - cpuS(frameworksBefore.usage);
    const hostBusy = hostAfter.busyS - hostBefore.busyS;
    return {
      bench: 'master',
      agents: o.agents,
      frameworks: o.frameworks,
      tasks: o.tasks,
      hold: o.hold,
      tasks_per_s: Math.round(o.tasks / wallS),
      wall_s: round3(wallS),
      offer_to_launch_ms_p50: ms(fw.offerToLaunch, 50),
      offer_to_launch_ms_p99: ms(fw.offerToLaunch, 99),
      launch_to_running_ms_p50: ms(fw.launchToRunning, 50),
      launch_to_running_ms_p99: ms(fw.launchToRunning, 99),
      update_to_ack_ms_p50: ms(ag.updateToAck, 50),
      update_to_ack_ms_p99: ms(ag.updateToAck, 99),
      go_to_first_offer_ms: round3(fw.firstOfferAt - goAt),
      first_offer_spread_ms: round3(Math.max(...firstOffers) - Math.min(...firstOffers)),
      master_rss_mb: Math.round(end.rssMb),
      master_heap_mb: Math.round(end.heapUsedMb),
      master_rss_peak_mb: Math.max(peakRss, proc.hwmMb),
      master_heap_total_mb: Math.round(end.heapTotalMb),
      master_external_mb: Math.round(end.externalMb),
      master_rss_after_gc_mb: Math.round(gced.rssMb),
      master_heap_after_gc_mb: Math.round(gced.heapUsedMb),
      master_rss_before_launch_mb: Math.round(before.rssMb),
      master_heap_before_launch_mb: Math.round(before.heapUsedMb),
      master_tasks_running: end.tasksRunning,
      master_agents_connected: end.agentsConnected,
      master_cpu_s: round3(masterCpu),
      // Master CPU per task while launching: the figure that does not depend on what else the host runs.
      master_cpu_us_per_task: Math.round((masterCpu / o.tasks) * 1e6),
      master_cpu_pct: Math.round((masterCpu / ((after.at - before.at) / 1000)) * 100),
      agents_cpu_s: round3(agentsCpu),
      frameworks_cpu_s: round3(frameworksCpu),
      // CPU the host spent on anything else while the tasks launched (other processes on shared cores).
      other_cpu_s: round3(hostBusy - masterCpu - agentsCpu - frameworksCpu),
      host_cpu_busy_pct: Math.round((hostBusy / (hostAfter.totalS - hostBefore.totalS)) * 100),
      loadavg_1m_at_start: round3(load),
      agents_process_rss_mb: agentUsage?.rssMb,
      frameworks_process_rss_mb: frameworkUsage?.rssMb,
      registration_s: round3(registered.ms / 1000),
      offer_events: fw.offerEvents,
      offers: fw.offers,
      accepts: fw.accepts,
      declined_offers: fw.declinedOffers,
      rescinds: fw.rescinds,
      hold_s: o.hold ? o.holdS : 0,
      ...(o.hold ? { master_rss_mb_while_holding: holdRss } : {}),
      allocation_interval_ms: o.allocationIntervalMs,
      agent_connections: connections,
      agent_resources: resources,
      task_resources: TASK_RESOURCES_TEXT,
      refuse_s: o.refuseS,
      master_metrics: o.metrics,
      cpus: os.cpus().length,
      node: process.version,
      ...(profile === undefined ? {} : { master_profile_file: profileFile, master_profile: profile }),
      ...(heapProfile === undefined ? {} : { master_heap_profile_file: heapProfileFile, master_heap_profile: heapProfile }),
    };
  }

  private async stopChild(child: Child): Promise<ProcessUsage | undefined> {
    const usage = child.next<{ usage: ProcessUsage }>('usage');
    await child.stop(5000);
    return Promise.race([usage.then((u) => u.usage), sleep(0).then(() => undefined)]);
  }

  /** Where the run stood, for the message when it fails. */
  async progress(): Promise<string> {
    const ask = async <T>(child: Child | undefined): Promise<T | undefined> =>
      child?.alive ? Promise.race([child.request<T>({ type: 'progress' }, 'progress'), sleep(2000).then(() => undefined)]) : undefined;
    const [a, f] = await Promise.all([ask<AgentsProgress>(this.agents), ask<FrameworksProgress>(this.frameworks)]);
    const parts = [`while ${this.phase}`];
    if (a !== undefined) parts.push(`agents: ${a.registered}/${this.o.agents} registered, ${a.runTasks} RUN_TASK received, ${a.acks}/${this.o.tasks} acks, ${a.streamsLost} streams lost`);
    if (f !== undefined) parts.push(`frameworks: ${f.subscribed}/${this.o.frameworks} subscribed, ${f.offers} offers, ${f.launched} launched, ${f.running}/${this.o.tasks} running, ${f.failed} failed`);
    return parts.join('; ');
  }

  /** Stops every child (simulators first, then the master), kills what does not stop, removes the temp dir. */
  async cleanup(): Promise<void> {
    await Promise.all([this.agents, this.frameworks].map((c) => c?.stop(3000)));
    await this.master?.stop(5000);
    for (const c of this.children) c.kill();
    if (this.tmp !== undefined) fs.rmSync(this.tmp, { recursive: true, force: true });
  }

  /** Last resort (signal, or cleanup itself hanging): kill everything now. */
  killAll(): void {
    for (const c of this.children) c.kill();
    if (this.tmp !== undefined) fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}

function print(result: Record<string, unknown>, json: boolean): void {
  process.stdout.write(json ? `${JSON.stringify(result)}\n` : `${JSON.stringify(result, null, 2)}\n`);
}

async function main(): Promise<number> {
  let o: Options;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench:master: ${(err as Error).message}\n`);
    return 2;
  }
  if (!o.tls) {
    const result = await once(o, false);
    if (result !== undefined) print(result, o.json);
    return result === undefined ? 1 : 0;
  }
  // Plaintext and TLS alternated, twice each: the medians compare runs made under the same noise.
  const rates: Record<'plaintext' | 'tls', number[]> = { plaintext: [], tls: [] };
  let last: Record<string, unknown> | undefined;
  for (const tls of [false, true, false, true]) {
    const result = await once(o, tls);
    if (result === undefined) return 1;
    rates[tls ? 'tls' : 'plaintext'].push(Number(result['tasks_per_s']));
    if (tls) last = result;
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const plain = median(rates.plaintext);
  const secure = median(rates.tls);
  print({ ...last, tls: true, tasks_per_s_plaintext: plain, tasks_per_s_tls: secure, tasks_per_s_runs: rates, tls_cost: Number((1 - secure / plain).toFixed(3)) }, o.json);
  return 0;
}

/** One benchmark run (its own master and simulators); undefined when it failed (reported on stderr). */
async function once(o: Options, tls: boolean): Promise<Record<string, unknown> | undefined> {
  const run = new Run(o, tls);
  const onSignal = () => {
    run.killAll();
    process.exit(130);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, onSignal);
  const deadline = setTimeout(() => run.fail(new Error(`timed out after ${o.timeoutS} s`)), o.timeoutS * 1000);
  try {
    return await run.execute();
  } catch (err) {
    const where = await run.progress().catch(() => '');
    process.stderr.write(`bench:master: ${(err as Error).message}${where === '' ? '' : ` (${where})`}\n`);
    return undefined;
  } finally {
    clearTimeout(deadline);
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.off(signal, onSignal);
    const hung = setTimeout(() => run.killAll(), 15_000);
    await run.cleanup().catch(() => run.killAll());
    clearTimeout(hung);
  }
}

main().then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`bench:master: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

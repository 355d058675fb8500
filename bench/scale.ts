/**
 * Scale and failover benchmark: real HA masters (`berth master`, NATS JetStream registry and
 * election) holding many simulated agents and tasks, then the leader SIGKILLed; printed as one
 * JSON object.
 *
 *   npm run bench:scale -- [--json] [--agents 10000] [--frameworks 10] [--tasks 100000]
 *                          [--masters 2] [--nats-nodes 3] [--lease-ms 3000] [--timeout-s 900] …
 *
 * Processes, all on 127.0.0.1 and all tied to this one (they exit when it dies, even by SIGKILL:
 * scale-lifeline.js): `--nats-nodes` nats-servers (a 3-node JetStream cluster, buckets with as
 * many replicas, or one server), `--masters` masters (`node <the flags of bin/berth.js's #! line>
 * bin/berth.js master --registry-kind nats --nats-lease-ms …`, as `berth master` runs; more flags
 * with `--master-node-option`), all agents (`sim-agents.js`) and all
 * frameworks (`sim-frameworks.js`) in one process each, given every master's address. The run:
 *
 *   1. NATS, then the masters start; one wins the election (polled with Operator.GetHealth);
 *   2. the agents register (each on a TCP connection of its own unless --agent-connections says
 *      otherwise; a standby's refusal names the leader, which they follow), each with room for
 *      ceil(slack × tasks / agents) tasks of cpus:0.01;mem:1;
 *   3. the frameworks subscribe suppressed (failover_timeout 1 h), all REVIVE at once and launch
 *      their share of the tasks, at most `--launch-wave` each per offer cycle (a steady stream the
 *      leader keeps up with, not 100,000 launches in one instant: that stalls its event loop for
 *      seconds, past its lease); each agent answers RUN_TASK with TASK_RUNNING at once, each
 *      framework acknowledges. `tasks_per_s` is tasks / (last acknowledgement back at its agent −
 *      first OFFERS event), as in bench:master;
 *   4. after `--settle-s`, the leader's RSS is read (/proc/PID/status VmRSS) and it is SIGKILLed.
 *      `failover_s` = kill → a standby says it leads (GetHealth) and answers a leader-only call
 *      (GetMaster), polled every 50 ms;
 *   5. agents whose stream ended retry with jittered, capped exponential backoff (full jitter in
 *      [0, backoff], `--reconnect-min-ms` doubling to `--reconnect-max-ms`), follow a standby's
 *      pointer to the leader, and REREGISTER with every task they run; frameworks re-subscribe
 *      with their ids and reconcile explicitly, once, the tasks the master has not confirmed yet;
 *      the master answers each as its agent re-registers (it remembers asks it cannot answer yet),
 *      and only what is still unconfirmed after `--reconcile-interval-ms` (a safety interval,
 *      doubling, as the SDK driver's) is asked again. `reconcile_calls` and `reconcile_task_ids` count them. `reregistered_s` = kill → all three of: every agent got
 *      REREGISTERED, every framework re-subscribed with every task confirmed TASK_RUNNING by
 *      reconciliation, and the new leader's /metrics shows `berth_tasks{state="TASK_RUNNING"}` =
 *      tasks (polled every 250 ms; the times of the three are printed too);
 *   6. the new leader's RSS is read then. `master_rss_mb` is the larger of the two leaders' RSS;
 *   7. after `--idle-s` more seconds with every agent and framework still connected and nothing
 *      launched, the new leader's RSS is read again (`master_rss_new_leader_idle_mb`): what it
 *      holds once it has handed back the heap its takeover fragmented (the master's heapTrim).
 *
 * Until the kill the masters are polled every second: if leadership moves on its own (the leader
 * missed its lease renewal, e.g. during the launch burst), the run fails with the leader's
 * event-loop stall and its log line, since no later number would mean what it says. The JSON also
 * has the CPU seconds of the new leader, the simulators and everything else on the host between the
 * kill and the end of re-registration, and how many agents were back after each second.
 * `--profile-dir DIR` writes CPU profiles of the masters (not of the SIGKILLed one) and simulators.
 *
 * Targets (Mesos-class): failover_s ≤ 5, reregistered_s ≤ 30, master RSS ≤ 1024 MiB; `targets_met`
 * says which held. Every child is stopped at the end, killed if it does not stop, also on error,
 * timeout (`--timeout-s`) and SIGINT/SIGTERM; the temporary directory (NATS stores, master work
 * dirs) is removed. Exit status 1 with a message when the run does not complete. With --json
 * nothing but the JSON object goes to stdout (progress goes to stderr without --json).
 */
import { agentRoom, BenchRun, berthNodeFlags, procMemory, type Child } from './sim-child';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  acceptsCalls, closeOperators, freePorts, health, httpText, metricValue, startMaster, startNats, waitForLeader,
  type MasterHandle, type NatsCluster,
} from './scale-cluster';
import type { AgentsReregistered, FrameworksReconciled, HaAgentsProgressExtra, HaFrameworksProgressExtra, ScaleAgentsConfig, ScaleFrameworksConfig } from './scale-shared';
import { percentile, round3, TASK_RESOURCES_TEXT, wallMs, type AgentsDone, type AgentsProgress, type FrameworksDone, type FrameworksProgress, type ProcessUsage } from './sim-shared';

interface Options {
  agents: number;
  frameworks: number;
  tasks: number;
  json: boolean;
  masters: number;
  natsNodes: 1 | 3;
  leaseMs: number;
  timeoutS: number;
  settleS: number;
  idleS: number;
  allocationIntervalMs: number;
  agentPingTimeoutMs: number;
  agentConnections: number | undefined;
  agentSlack: number;
  refuseS: number;
  registerConcurrency: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  reconcileIntervalMs: number;
  launchWave: number;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  echoLogs: boolean;
  masterNodeOptions: string[];
  profileDir: string | undefined;
}

const USAGE = `usage: bench:scale [--json] [--agents N] [--frameworks M] [--tasks T]
         [--masters 2|3] [--nats-nodes 1|3] [--lease-ms MS] [--timeout-s S] [--settle-s S] [--idle-s S]
         [--allocation-interval-ms MS] [--agent-ping-timeout-ms MS] [--agent-connections C]
         [--agent-slack X] [--refuse-s S] [--register-concurrency K]
         [--reconnect-min-ms MS] [--reconnect-max-ms MS] [--reconcile-interval-ms MS] [--launch-wave N]
         [--log-level error|warn|info|debug] [--echo-logs] [--master-node-option OPT]… [--profile-dir DIR]
defaults: --agents 10000 --frameworks 10 --tasks 100000 --masters 2 --nats-nodes 3 --lease-ms 3000
          --timeout-s 900 --settle-s 2 --idle-s 45 --reconnect-min-ms 500 --reconnect-max-ms 4000 --reconcile-interval-ms 60000
          --launch-wave 500 (tasks per framework per offer cycle)
`;

function parseArgs(argv: string[]): Options {
  const o: Options = {
    agents: 10_000, frameworks: 10, tasks: 100_000, json: false, masters: 2, natsNodes: 3, leaseMs: 3000, timeoutS: 900, settleS: 2, idleS: 45,
    allocationIntervalMs: 1000, agentPingTimeoutMs: 15_000, agentConnections: undefined, agentSlack: 2, refuseS: 300, registerConcurrency: 256,
    reconnectMinMs: 500, reconnectMaxMs: 4000, reconcileIntervalMs: 60_000, launchWave: 500, logLevel: 'warn', echoLogs: false, masterNodeOptions: berthNodeFlags(), profileDir: undefined,
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
      case '--masters': o.masters = num(flag, value, 2); i++; break;
      case '--nats-nodes': {
        const n = num(flag, value, 1);
        if (n !== 1 && n !== 3) throw new Error(`--nats-nodes must be 1 or 3, got ${n}`);
        o.natsNodes = n; i++; break;
      }
      case '--lease-ms': o.leaseMs = num(flag, value, 1000); i++; break;
      case '--timeout-s': o.timeoutS = num(flag, value, 1, false); i++; break;
      case '--settle-s': o.settleS = num(flag, value, 0, false); i++; break;
      case '--idle-s': o.idleS = num(flag, value, 0, false); i++; break;
      case '--allocation-interval-ms': o.allocationIntervalMs = num(flag, value, 1); i++; break;
      case '--agent-ping-timeout-ms': o.agentPingTimeoutMs = num(flag, value, 100); i++; break;
      case '--agent-connections': o.agentConnections = num(flag, value, 1); i++; break;
      case '--agent-slack': o.agentSlack = num(flag, value, 1, false); i++; break;
      case '--refuse-s': o.refuseS = num(flag, value, 0, false); i++; break;
      case '--register-concurrency': o.registerConcurrency = num(flag, value, 1); i++; break;
      case '--reconnect-min-ms': o.reconnectMinMs = num(flag, value, 1); i++; break;
      case '--reconnect-max-ms': o.reconnectMaxMs = num(flag, value, 1); i++; break;
      case '--reconcile-interval-ms': o.reconcileIntervalMs = num(flag, value, 10); i++; break;
      case '--launch-wave': o.launchWave = num(flag, value, 1); i++; break;
      case '--log-level':
        if (value !== 'error' && value !== 'warn' && value !== 'info' && value !== 'debug') throw new Error(`--log-level must be error, warn, info or debug, got ${JSON.stringify(value)}`);
        o.logLevel = value; i++; break;
      case '--echo-logs': o.echoLogs = true; break;
      case '--master-node-option':
        if (value === undefined) throw new Error('--master-node-option needs a value, e.g. --max-old-space-size=2048');
        o.masterNodeOptions.push(value); i++; break;
      case '--profile-dir':
        if (value === undefined) throw new Error('--profile-dir needs a directory');
        o.profileDir = path.resolve(value); i++; break;
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        process.exit(0);
      default: throw new Error(`unknown argument ${JSON.stringify(flag)}\n${USAGE}`);
    }
  }
  if (o.reconnectMaxMs < o.reconnectMinMs) throw new Error('--reconnect-max-ms must be ≥ --reconnect-min-ms');
  if (o.agentConnections !== undefined && o.agentConnections > o.agents) o.agentConnections = o.agents;
  return o;
}

/** The targets this benchmark is judged by. */
const TARGETS = { failover_s: 5, reregistered_s: 30, master_rss_mb: 1024 } as const;

/** Each agent's resources: room for ceil(slack × tasks / agents) tasks of cpus:0.01;mem:1. */
function agentResources(o: Options): string {
  return agentRoom(o.agentSlack, o.tasks, o.agents);
}


const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** CPU seconds (user + system) a process has used, from /proc/PID/stat (NaN where unavailable). */
function procCpuS(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (1/100 s)
  } catch {
    return Number.NaN;
  }
}

const TASKS_RUNNING = 'berth_tasks{state="TASK_RUNNING"}';

/** CPU seconds of the whole host so far (all cores): busy and total, from /proc/stat. */
function hostCpu(): { busyS: number; totalS: number } {
  try {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return { busyS: (total - idle) / 100, totalS: total / 100 }; // USER_HZ: 1/100 s
  } catch {
    return { busyS: Number.NaN, totalS: Number.NaN };
  }
}

class Run extends BenchRun {
  private tmp: string | undefined;
  private nats: NatsCluster | undefined;
  private masters: MasterHandle[] = [];
  private agents: Child | undefined;
  private frameworks: Child | undefined;
  private maxLoopLagS = 0;

  constructor(private readonly o: Options) {
    super('bench:scale', o.json);
  }

  async execute(): Promise<Record<string, unknown>> {
    const o = this.o;
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-scale-'));
    const resources = agentResources(o);
    const connections = o.agentConnections ?? o.agents;
    const load = os.loadavg()[0]!;

    this.phase = 'starting NATS';
    this.nats = await this.wait(startNats(o.natsNodes, this.tmp, (err) => this.fail(err), o.echoLogs));
    this.log(`NATS: ${o.natsNodes} node(s) at ${this.nats.urls.join(',')}`);

    this.phase = 'starting the masters';
    const ports = await freePorts(o.masters * 2);
    // CPU profiles (written when a process exits normally: not by the leader that is SIGKILLed).
    const prof = (name: string) => (o.profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${o.profileDir}`, `--cpu-prof-name=${name}-${process.pid}.cpuprofile`]);
    if (o.profileDir !== undefined) fs.mkdirSync(o.profileDir, { recursive: true });
    for (let i = 0; i < o.masters; i++) {
      const id = `m${i + 1}`;
      this.masters.push(startMaster({
        id,
        grpcPort: ports[i * 2]!,
        httpPort: ports[i * 2 + 1]!,
        workDir: path.join(this.tmp, `master-${id}`),
        args: [
          '--nats-lease-ms', String(o.leaseMs),
          '--allocation-interval-ms', String(o.allocationIntervalMs),
          '--agent-ping-timeout-ms', String(o.agentPingTimeoutMs),
          '--log-level', o.logLevel,
        ],
      }, this.nats.urls, o.natsNodes, [...o.masterNodeOptions, ...prof(`master-${id}`)], (err) => this.fail(err), o.echoLogs));
    }
    const startedAt = wallMs();
    const first = await this.wait(waitForLeader(this.masters, 60_000));
    this.log(`masters ${this.masters.map((m) => `${m.id}@${m.grpcAddress}`).join(', ')}: ${first.id} leads after ${((wallMs() - startedAt) / 1000).toFixed(1)} s`);
    const addresses = this.masters.map((m) => m.grpcAddress);

    // Until the deliberate kill, leadership must not move: a leader that loses its lease while the
    // agents register or the tasks launch makes every later number meaningless.
    const watch = this.watchLeader(first);

    this.phase = 'registering agents';
    const ha = { masters: addresses, reconnectMinMs: o.reconnectMinMs, reconnectMaxMs: o.reconnectMaxMs };
    const agentsConfig: ScaleAgentsConfig = { address: addresses[0]!, agents: o.agents, connections, resources, registerConcurrency: o.registerConcurrency, expectedAcks: o.tasks, ...ha };
    this.agents = this.spawn('sim-agents', 'sim-agents.js', agentsConfig, ['--max-old-space-size=4096', ...prof('sim-agents')]);
    const registered = await this.wait(this.agents.next<{ agents: number; ms: number }>('registered'));
    this.log(`${registered.agents} agents registered over ${connections} connections in ${(registered.ms / 1000).toFixed(1)} s (${resources} each)`);

    this.phase = 'subscribing frameworks';
    const frameworksConfig: ScaleFrameworksConfig = { address: addresses[0]!, frameworks: o.frameworks, tasks: o.tasks, refuseSeconds: o.refuseS, reconcileIntervalMs: o.reconcileIntervalMs, failoverTimeoutS: 3600, launchWave: o.launchWave, ...ha };
    this.frameworks = this.spawn('sim-frameworks', 'sim-frameworks.js', frameworksConfig, ['--max-old-space-size=4096', ...prof('sim-frameworks')]);
    const subscribed = await this.wait(this.frameworks.next<{ frameworks: number; ms: number }>('subscribed'));
    this.log(`${subscribed.frameworks} frameworks subscribed in ${subscribed.ms.toFixed(0)} ms`);

    this.phase = 'launching tasks';
    this.log(`launching ${o.tasks} tasks`);
    const leaderCpuBefore = procCpuS(first.server.pid);
    this.frameworks.send({ type: 'go' });
    const [fw, ag] = await this.wait(Promise.all([this.frameworks.next<FrameworksDone>('done'), this.agents.next<AgentsDone>('acked')]));
    const launchWallS = (ag.lastAckAt - fw.firstOfferAt) / 1000;
    const leaderCpuLaunch = procCpuS(first.server.pid) - leaderCpuBefore;
    this.log(`${o.tasks} tasks running and acknowledged in ${launchWallS.toFixed(2)} s (${Math.round(o.tasks / launchWallS)}/s)`);

    this.phase = 'settling before the kill';
    await this.wait(sleep(o.settleS * 1000));
    const before = await this.wait(httpText(first.httpPort, '/metrics'));
    const runningBefore = before === undefined ? undefined : metricValue(before, TASKS_RUNNING);
    if (runningBefore !== o.tasks) throw new Error(`the leader's /metrics counts ${runningBefore} running tasks before the kill, expected ${o.tasks}`);
    const oldLeader = procMemory(first.server.pid);
    this.log(`leader ${first.id} (pid ${first.server.pid}): RSS ${oldLeader.rssMb} MiB (peak ${oldLeader.hwmMb} MiB); killing it`);

    this.phase = 'arming the simulators';
    await this.wait(Promise.all([this.agents.request({ type: 'arm' }, 'armed'), this.frameworks.request({ type: 'arm' }, 'armed')]));
    const reregistered = this.agents.next<AgentsReregistered>('reregistered');
    const reconciled = this.frameworks.next<FrameworksReconciled>('reconciled');

    this.phase = 'failing over';
    watch.stop();
    first.server.expectedExit = true;
    // CPU before the kill: who spends the cores while the agents come back.
    const [agentsBefore, frameworksBefore] = await this.wait(Promise.all([
      this.agents.request<AgentsProgress>({ type: 'progress' }, 'progress'),
      this.frameworks.request<FrameworksProgress>({ type: 'progress' }, 'progress'),
    ]));
    const standbyCpuBefore = new Map(this.masters.filter((m) => m !== first).map((m) => [m, procCpuS(m.server.pid)]));
    const hostBefore = hostCpu();
    const killedAt = wallMs();
    process.kill(first.server.pid, 'SIGKILL');
    const others = this.masters.filter((m) => m !== first);
    const next = await this.wait(this.pollNewLeader(others));
    const failoverS = (next.at - killedAt) / 1000;
    this.log(`${next.master.id} leads and answers ${failoverS.toFixed(2)} s after the kill`);

    this.phase = 'waiting for re-registration and reconciliation';
    let agentsAt = 0;
    let frameworksAt = 0;
    const agentsDone = reregistered.then((r) => {
      agentsAt = r.lastAt;
      this.log(`all ${r.agents} agents re-registered ${((r.lastAt - killedAt) / 1000).toFixed(2)} s after the kill`);
      return r;
    });
    const frameworksDone = reconciled.then((r) => {
      frameworksAt = r.lastConfirmedAt;
      this.log(`all ${r.confirmed} tasks reconciled RUNNING ${((r.lastConfirmedAt - killedAt) / 1000).toFixed(2)} s after the kill`);
      return r;
    });
    const metricAt = this.pollTasksRunning(others, o.tasks).then((r) => {
      this.log(`the new leader ${r.master.id} counts ${o.tasks} running tasks ${((r.at - killedAt) / 1000).toFixed(2)} s after the kill`);
      return r;
    });
    const [rereg, recon, running] = await this.wait(Promise.all([agentsDone, frameworksDone, metricAt]));
    const runningAt = running.at;
    const doneAt = Math.max(agentsAt, frameworksAt, runningAt);
    // Normally the standby that took over; another one if leadership moved again meanwhile.
    const leaderNow = running.master;
    const newLeader = procMemory(leaderNow.server.pid);
    const hostAfter = hostCpu();
    const newLeaderCpu = procCpuS(leaderNow.server.pid) - (standbyCpuBefore.get(leaderNow) ?? Number.NaN);
    const reregisteredS = (doneAt - killedAt) / 1000;
    this.log(`new leader ${leaderNow.id} (pid ${leaderNow.server.pid}): RSS ${newLeader.rssMb} MiB (peak ${newLeader.hwmMb} MiB)`);

    this.phase = 'idle after the takeover';
    await this.wait(sleep(o.idleS * 1000));
    const newLeaderIdle = procMemory(leaderNow.server.pid);
    this.log(`new leader after ${o.idleS} s idle: RSS ${newLeaderIdle.rssMb} MiB`);

    const agentUsage = await this.stopChild(this.agents);
    const frameworkUsage = await this.stopChild(this.frameworks);
    const cpu = (u: ProcessUsage) => u.cpuUserS + u.cpuSystemS;
    const agentsCpu = cpu(rereg.usage) - cpu(agentsBefore.usage);
    const frameworksCpu = cpu(recon.usage) - cpu(frameworksBefore.usage);
    const hostBusy = hostAfter.busyS - hostBefore.busyS;
    const perAgent = Float64Array.from(rereg.reregisteredAt, (t) => t - killedAt);
    const masterRss = Math.max(oldLeader.rssMb, newLeader.rssMb);
    const met = {
      failover_s: failoverS <= TARGETS.failover_s,
      reregistered_s: reregisteredS <= TARGETS.reregistered_s,
      master_rss_mb: masterRss <= TARGETS.master_rss_mb,
    };
    return {
      bench: 'scale',
      agents: o.agents,
      frameworks: o.frameworks,
      tasks: o.tasks,
      tasks_per_s: Math.round(o.tasks / launchWallS),
      launch_wall_s: round3(launchWallS),
      registration_s: round3(registered.ms / 1000),
      failover_s: round3(failoverS),
      reregistered_s: round3(reregisteredS),
      master_rss_mb: masterRss,
      master_rss_old_leader_mb: oldLeader.rssMb,
      master_rss_new_leader_mb: newLeader.rssMb,
      master_rss_new_leader_idle_mb: newLeaderIdle.rssMb,
      idle_s: o.idleS,
      master_rss_peak_old_leader_mb: oldLeader.hwmMb,
      master_rss_peak_new_leader_mb: newLeader.hwmMb,
      targets: { failover_s: TARGETS.failover_s, reregistered_s: TARGETS.reregistered_s, master_rss_mb: TARGETS.master_rss_mb },
      targets_met: { ...met, all: met.failover_s && met.reregistered_s && met.master_rss_mb },
      // The three conditions of reregistered_s, each as seconds after the kill.
      agents_reregistered_s: round3((agentsAt - killedAt) / 1000),
      tasks_reconciled_s: round3((frameworksAt - killedAt) / 1000),
      master_tasks_running_s: round3((runningAt - killedAt) / 1000),
      frameworks_resubscribed_s: round3((recon.lastSubscribedAt - killedAt) / 1000),
      first_agent_reregistered_s: round3((rereg.firstAt - killedAt) / 1000),
      agent_reregistered_s_p50: round3(percentile(perAgent, 50) / 1000),
      agent_reregistered_s_p99: round3(percentile(perAgent, 99) / 1000),
      // How many agents had re-registered 1, 2, 3, … s after the kill.
      agents_reregistered_by_s: Array.from({ length: Math.ceil(Math.max(...perAgent) / 1000) }, (_, s) => perAgent.filter((t) => t <= (s + 1) * 1000).length),
      masters_eventloop_lag_max_s: round3(this.maxLoopLagS),
      tasks_reported_in_reregister: rereg.tasksReported,
      agent_attempts: rereg.attempts,
      agent_refusals: rereg.refusals,
      agent_connect_failures: rereg.connectFailures,
      framework_attempts: recon.attempts,
      framework_refusals: recon.refusals,
      reconcile_calls: recon.reconcileCalls,
      reconcile_task_ids: recon.reconcileTaskIds,
      old_leader: first.id,
      new_leader: next.master.id,
      leader_after_reregistration: leaderNow.id,
      leader_cpu_s_launch: round3(leaderCpuLaunch),
      // CPU seconds from the kill to the end of re-registration: the new leader, the simulators
      // (agents up to their last REREGISTERED, frameworks up to their last confirmation), and
      // everything else on the host (NATS, the other processes sharing the cores).
      failover_window_s: round3(reregisteredS),
      new_leader_cpu_s_failover: round3(newLeaderCpu),
      agents_cpu_s_failover: round3(agentsCpu),
      frameworks_cpu_s_failover: round3(frameworksCpu),
      other_cpu_s_failover: round3(hostBusy - newLeaderCpu - agentsCpu - frameworksCpu),
      host_cpu_busy_pct_failover: Math.round((hostBusy / (hostAfter.totalS - hostBefore.totalS)) * 100),
      agents_process_rss_mb: agentUsage?.rssMb,
      frameworks_process_rss_mb: frameworkUsage?.rssMb,
      masters: o.masters,
      nats_nodes: o.natsNodes,
      nats_replicas: o.natsNodes,
      lease_ms: o.leaseMs,
      reconnect_min_ms: o.reconnectMinMs,
      reconnect_max_ms: o.reconnectMaxMs,
      reconcile_interval_ms: o.reconcileIntervalMs,
      launch_wave: o.launchWave,
      allocation_interval_ms: o.allocationIntervalMs,
      agent_connections: connections,
      agent_resources: resources,
      task_resources: TASK_RESOURCES_TEXT,
      cpus: os.cpus().length,
      loadavg_1m_at_start: round3(load),
      master_node_flags: o.masterNodeOptions.join(' '),
      node: process.version,
    };
  }

  /**
   * Fails the run if `leader` says it no longer leads or another master says it does (polled every
   * second; a leader too busy to answer in time is not taken for a lost one).
   */
  private watchLeader(leader: MasterHandle): { stop(): void } {
    let stopped = false;
    const tick = async (): Promise<void> => {
      while (!stopped) {
        await sleep(1000);
        if (stopped) return;
        const answers = await Promise.all(this.masters.map(async (m) => ({ m, h: await health(m.grpcAddress, 2000) })));
        if (stopped) return;
        const lost = answers.find((a) => a.m === leader)?.h?.leader === false;
        const other = answers.find((a) => a.m !== leader && a.h?.leader === true);
        if (lost || other !== undefined) {
          const lag = await httpText(leader.httpPort, '/metrics').then((t) => (t === undefined ? undefined : metricValue(t, 'berth_nodejs_eventloop_lag_max_seconds')));
          this.fail(new Error(`leader ${leader.id} lost its leadership${other === undefined ? '' : ` to ${other.m.id}`} before the deliberate kill, while ${this.phase}`
            + ` (its longest event-loop stall since the last scrape: ${lag === undefined ? 'unknown' : `${lag.toFixed(2)} s`}; the lease is ${this.o.leaseMs} ms, renewed every ${Math.round(this.o.leaseMs / 3)} ms;`
            + ` its log: ${leader.server.stderr.split('\n').filter((l) => /leader|lease|renew|fenced|depose/i.test(l)).slice(-3).join(' | ') || '(nothing about leadership)'})`));
          return;
        }
      }
    };
    void tick();
    return { stop: () => (stopped = true) };
  }

  /** Polls the surviving masters every 50 ms until one leads and answers a leader-only call. */
  private async pollNewLeader(candidates: readonly MasterHandle[]): Promise<{ master: MasterHandle; at: number }> {
    for (;;) {
      const answers = await Promise.all(candidates.map(async (m) => ({ m, h: await health(m.grpcAddress, 1000) })));
      for (const { m, h } of answers) {
        if (h?.leader === true && await acceptsCalls(m.grpcAddress, 1000)) return { master: m, at: wallMs() };
      }
      await sleep(50);
    }
  }

  /**
   * Polls the surviving masters' /metrics every 250 ms until one counts `tasks` running tasks (a
   * standby counts none); returns which and when (wallMs).
   */
  private async pollTasksRunning(masters: readonly MasterHandle[], tasks: number): Promise<{ master: MasterHandle; at: number }> {
    for (;;) {
      for (const master of masters) {
        if (!master.server.alive) continue;
        const text = await httpText(master.httpPort, '/metrics');
        const at = wallMs();
        if (text === undefined) continue;
        // The longest event-loop stall of any master since the previous scrape (prom-client resets it per scrape).
        this.maxLoopLagS = Math.max(this.maxLoopLagS, metricValue(text, 'berth_nodejs_eventloop_lag_max_seconds') ?? 0);
        if (metricValue(text, TASKS_RUNNING) === tasks) return { master, at };
      }
      await sleep(250);
    }
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
    const [a, f] = await Promise.all([ask<AgentsProgress & Partial<HaAgentsProgressExtra>>(this.agents), ask<FrameworksProgress & Partial<HaFrameworksProgressExtra>>(this.frameworks)]);
    const parts = [`while ${this.phase}`];
    if (a !== undefined) {
      parts.push(`agents: ${a.registered}/${this.o.agents} registered, ${a.runTasks} RUN_TASK received, ${a.acks}/${this.o.tasks} acks, ${a.streamsLost} streams lost, `
        + `${a.reregistered ?? 0} re-registered since the kill, ${a.disconnected ?? 0} disconnected, ${a.attempts ?? 0} attempts, ${a.refusals ?? 0} refusals, `
        + `${a.attemptTimeouts ?? 0} attempts timed out; not registered: ${(a.notRegistered ?? []).join('; ') || 'none'}`);
    }
    if (f !== undefined) {
      parts.push(`frameworks: ${f.subscribed}/${this.o.frameworks} subscribed, ${f.offers} offers, ${f.launched} launched, ${f.running}/${this.o.tasks} running, ${f.failed} failed, `
        + `${f.resubscribed ?? 0} re-subscribed, ${f.confirmed ?? 0} tasks confirmed, ${f.reconcileCalls ?? 0} RECONCILE calls`);
    }
    for (const m of this.masters) {
      if (!m.server.alive) continue;
      const h = await health(m.grpcAddress, 1000);
      const text = h?.leader === true ? await httpText(m.httpPort, '/metrics') : undefined;
      parts.push(`${m.id}: ${h === undefined ? 'no answer' : h.leader ? 'leader' : 'standby'}${text === undefined ? '' : `, ${metricValue(text, TASKS_RUNNING)} tasks running`}, RSS ${procMemory(m.server.pid).rssMb} MiB`);
    }
    return parts.join('; ');
  }

  /** Stops every child (simulators, then masters, then NATS), kills what does not stop, removes the temp dir. */
  async cleanup(): Promise<void> {
    await Promise.all(this.children.map((c) => c.stop(3000)));
    await Promise.all(this.masters.map((m) => m.server.stop(5000)));
    await Promise.all((this.nats?.servers ?? []).map((s) => s.stop(5000)));
    closeOperators();
    this.killAll();
  }

  /** Last resort (signal, or cleanup itself hanging): kill everything now. */
  killAll(): void {
    for (const c of this.children) c.kill();
    for (const m of this.masters) m.server.kill();
    for (const s of this.nats?.servers ?? []) s.kill();
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
    process.stderr.write(`bench:scale: ${(err as Error).message}\n`);
    return 2;
  }
  const run = new Run(o);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      run.killAll();
      process.exit(130);
    });
  }
  const deadline = setTimeout(() => run.fail(new Error(`the run did not complete within --timeout-s ${o.timeoutS} s`)), o.timeoutS * 1000);
  // Without --json: where the run stands, every 15 s (stderr).
  const ticker = o.json ? undefined : setInterval(() => void run.progress().then((p) => process.stderr.write(`bench:scale: … ${p}\n`)), 15_000);
  let code = 0;
  try {
    print(await run.execute(), o.json);
  } catch (err) {
    const where = await run.progress().catch(() => '');
    process.stderr.write(`bench:scale: ${(err as Error).message}${where === '' ? '' : ` (${where})`}\n`);
    code = 1;
  } finally {
    clearTimeout(deadline);
    clearInterval(ticker);
    const hung = setTimeout(() => run.killAll(), 20_000);
    await run.cleanup().catch(() => run.killAll());
    clearTimeout(hung);
  }
  return code;
}

main().then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`bench:scale: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

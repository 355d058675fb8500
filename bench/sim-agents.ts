/**
 * Simulated agents for `bench:master`: one process hosting every agent's `AgentLink.Connect`
 * stream, spread over `connections` TCP connections (one per agent by default, as real machines).
 *
 * Each agent registers with the configured resources, answers PING with PONG, and on RUN_TASK
 * sends TASK_RUNNING at once with a fresh 16-byte uuid (no container, nothing checkpointed). It
 * never resends: the acknowledgement is expected to come back through the master, and is counted.
 * A KILL_TASK is answered with TASK_KILLED, at once or (killTakesGrace) after its grace period. An agent stream the master
 * ends is a failure of the run: the numbers would not be of the cluster that was asked for.
 *
 * HA mode (`bench:scale`: the config lists `masters`): an agent dials the masters in turn and
 * follows a standby's pointer to the leader (its refusal names it). When its stream ends (the
 * leader died) or a standby refuses it, it tries again — at once when pointed to another master,
 * otherwise after a random wait in [0, backoff] (full jitter; the backoff doubles per failure up to
 * a cap), so thousands of agents do not retry in lockstep — and re-registers with REREGISTER
 * carrying every task it runs (TASK_RUNNING, with its last status) and their FrameworkInfos. After
 * `arm`, it reports `reregistered` once every agent has re-registered.
 *
 * Started by bench/master.js (or bench/scale.js) with its config as JSON in argv[2].
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { leaderFromRefusal, masterAddress, MasterTargets } from '../src/common/leader';
import { berthV1 } from '../src/common/rpc/proto';
import { Resources } from '../src/common/resources';
import { resourcesToWire } from '../src/common/wire';
import type { AgentMessage } from '../src/generated/berth/v1/AgentMessage';
import type { FrameworkInfo } from '../src/generated/berth/v1/FrameworkInfo';
import type { MasterMessage__Output } from '../src/generated/berth/v1/MasterMessage';
import type { Resource } from '../src/generated/berth/v1/Resource';
import type { Task } from '../src/generated/berth/v1/Task';
import type { AgentsReregistered, HaAgentsProgressExtra, ScaleAgentsConfig, ToHaSim } from './scale-shared';
import { childIpc, processUsage, simCredentials, SIM_CHANNEL_OPTIONS, wallMs, type FromAgents, type ToAgents } from './sim-shared';

type Stream = grpc.ClientDuplexStream<AgentMessage, MasterMessage__Output>;

const config = JSON.parse(process.argv[2] ?? '{}') as ScaleAgentsConfig;
/** HA mode: several masters, streams that end are re-established (see the header). */
const ha = config.masters !== undefined && config.masters.length > 0;

/** A task an agent runs, as it reports it when it re-registers (HA mode only). */
interface HeldTask {
  readonly name: string;
  readonly frameworkId: string;
  readonly role: string;
  readonly resources: Resource[];
  readonly uuid: Buffer;
  readonly at: number;
}

interface SimAgent {
  readonly index: number;
  id: string;
  stream: Stream;
  // HA mode only:
  /** Tasks by id. */
  held?: Map<string, HeldTask>;
  targets?: MasterTargets;
  backoffMs?: number;
  /** Registered on the current stream. */
  onStream?: boolean;
  /** Resolves the first registration. */
  onRegistered?: () => void;
  /** Cancels an attempt that got no answer in time. */
  attemptTimer?: NodeJS.Timeout;
  /** How the last attempt ended (for diagnostics). */
  lastEnd?: string;
}

/**
 * An attempt without any answer (registration or refusal) for this long is cancelled and retried:
 * a safety net only — a new leader works through thousands of registrations in turn, so an answer
 * can take many seconds, and a retry only puts the agent at the back of the queue again.
 */
const ATTEMPT_TIMEOUT_MS = 120_000;
let attemptTimeouts = 0;

const clients: grpc.Client[] = [];
const agents: SimAgent[] = [];
let stopping = false;
let registered = 0;
let runTasks = 0;
let acks = 0;
let pings = 0;
let streamsLost = 0;
let firstRunTaskAt = 0;
let reportedAcked = false;

// Per task, by the order its RUN_TASK arrived.
const index = new Map<string, number>();
const runAt = new Float64Array(config.expectedAcks);
const updateSentAt = new Float64Array(config.expectedAcks);
const updateToAck = new Float64Array(config.expectedAcks);
const runToAck = new Float64Array(config.expectedAcks);

// HA mode counters, since `arm`.
let armed = false;
let reregistered = 0;
let reregisteredReported = false;
let disconnected = 0;
let attempts = 0;
let refusals = 0;
let connectFailures = 0;
let tasksReported = 0;
let firstLostAt = 0;
let firstReregAt = 0;
const reregisteredAt = new Float64Array(ha ? config.agents : 0);
/** FrameworkInfos as RUN_TASK carried them (whole once per agent connection), by framework id. */
const frameworkInfos = new Map<string, FrameworkInfo>();

const send = childIpc<ToAgents | ToHaSim>('sim-agents', (m) => {
  if (m.type === 'progress') {
    const waiting = ha ? agents.filter((a) => a !== undefined && !a.onStream) : [];
    const extra: HaAgentsProgressExtra | undefined = ha
      ? { reregistered, disconnected, attempts, refusals, attemptTimeouts, notRegistered: waiting.slice(0, 5).map((a) => `#${a.index} ${a.id || '(no id)'} → ${a.targets!.current} (last: ${a.lastEnd ?? 'none'})`) }
      : undefined;
    send({ type: 'progress', registered, runTasks, acks, pings, streamsLost, usage: processUsage(), ...extra } satisfies FromAgents);
  } else if (m.type === 'arm') {
    armed = true;
    reregistered = 0;
    reregisteredReported = false;
    attempts = 0;
    refusals = 0;
    connectFailures = 0;
    tasksReported = 0;
    firstLostAt = 0;
    firstReregAt = 0;
    reregisteredAt.fill(0);
    send({ type: 'armed' });
  } else if (m.type === 'stop') {
    stop();
  }
});

function fail(message: string): void {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`sim-agents: ${message}\n`);
  send({ type: 'failed', message: `sim-agents: ${message}` } satisfies FromAgents);
  setTimeout(() => process.exit(1), 100);
}

function onMessage(agent: SimAgent, m: MasterMessage__Output): void {
  switch (m.type) {
    case 'PING':
      pings++;
      agent.stream.write({ type: 'PONG', pong: {} });
      return;
    case 'RUN_TASK': {
      const now = wallMs();
      const run = m.run_task!;
      const taskId = run.task!.task_id!.value;
      const frameworkId = run.framework_info!.id!.value;
      if (firstRunTaskAt === 0) firstRunTaskAt = now;
      const i = runTasks++;
      if (i < runAt.length) {
        index.set(taskId, i);
        runAt[i] = now;
      }
      const uuid = randomBytes(16);
      if (agent.held !== undefined) {
        const info = run.framework_info!;
        if (info.name !== '' && !frameworkInfos.has(frameworkId)) frameworkInfos.set(frameworkId, info as FrameworkInfo);
        agent.held.set(taskId, { name: run.task!.name, frameworkId, role: run.role, resources: run.task!.resources as Resource[], uuid, at: now });
      }
      agent.stream.write({
        type: 'STATUS_UPDATE',
        status_update: {
          framework_id: { value: frameworkId },
          status: { task_id: { value: taskId }, state: 'TASK_RUNNING', source: 'SOURCE_AGENT', uuid, agent_id: { value: agent.id }, timestamp: now / 1000 },
          latest_state: 'TASK_RUNNING',
        },
      });
      if (i < updateSentAt.length) updateSentAt[i] = wallMs();
      return;
    }
    case 'STATUS_UPDATE_ACKNOWLEDGEMENT': {
      const now = wallMs();
      const i = index.get(m.status_update_acknowledgement!.task_id!.value);
      if (i === undefined) return; // a duplicate, or a task beyond the expected count
      index.delete(m.status_update_acknowledgement!.task_id!.value);
      updateToAck[acks] = now - updateSentAt[i]!;
      runToAck[acks] = now - runAt[i]!;
      acks++;
      if (acks === config.expectedAcks && !reportedAcked) {
        reportedAcked = true;
        send({ type: 'acked', lastAckAt: now, firstRunTaskAt, acks, updateToAck, runToAck, usage: processUsage() } satisfies FromAgents);
      }
      return;
    }
    case 'KILL_TASK': {
      const k = m.kill_task!;
      agent.held?.delete(k.task_id!.value);
      const killed = () =>
        agent.stream.write({
          type: 'STATUS_UPDATE',
          status_update: {
            framework_id: k.framework_id!,
            status: { task_id: k.task_id!, state: 'TASK_KILLED', source: 'SOURCE_AGENT', uuid: randomBytes(16), agent_id: { value: agent.id }, timestamp: wallMs() / 1000, reason: k.reason ?? undefined, message: k.message ?? undefined },
            latest_state: 'TASK_KILLED',
          },
        });
      const graceMs = config.killTakesGrace === true ? Number(BigInt(k.kill_policy?.grace_period?.nanoseconds ?? '0') / 1_000_000n) : 0;
      if (graceMs > 0) setTimeout(killed, graceMs);
      else killed();
      return;
    }
    case 'SHUTDOWN':
      fail(`agent ${agent.id} was told to shut down: ${m.shutdown?.message ?? ''}`);
      return;
    default:
      return; // UPDATE_FRAMEWORK, RECONCILE_TASKS, …: nothing to do for a simulated agent
  }
}

function register(i: number): Promise<void> {
  const client = clients[i % clients.length]!;
  const stream = (client as unknown as { Connect(): Stream }).Connect();
  const agent: SimAgent = { index: i, id: '', stream };
  agents[i] = agent;
  return new Promise<void>((resolve, reject) => {
    stream.on('data', (m: MasterMessage__Output) => {
      if (agent.id === '') {
        if (m.type !== 'REGISTERED') return reject(new Error(`agent ${i}: expected REGISTERED, got ${m.type}`));
        agent.id = m.registered!.agent_id!.value;
        registered++;
        resolve();
        return;
      }
      onMessage(agent, m);
    });
    const lost = (why: string) => {
      if (stopping) return;
      streamsLost++;
      if (agent.id === '') reject(new Error(`agent ${i}: stream ended before REGISTERED: ${why}`));
      else fail(`agent ${agent.id} (#${i}): the master ended its stream: ${why}`);
    };
    stream.on('error', (err: Error) => lost(err.message));
    stream.on('end', () => lost('end of stream'));
    stream.write({ type: 'REGISTER', register: { agent_info: { hostname: `bench-agent-${i}`, resources: wireResources }, version: 'bench', supported_containers: ['PROCESS'] } });
  });
}

const wireResources = resourcesToWire(Resources.parse(config.resources));

// ---------------------------------------------------------------------------------------------
// HA mode

/**
 * Channels by master address and slot (agent index mod `connections`), kept for the whole run: an
 * agent asking a standby again reuses its connection, and a channel to a dead master fails new
 * calls at once (gRPC's own reconnect backoff) instead of opening a socket per attempt — the
 * simulator shares the cores with the masters, and connection churn was most of its CPU.
 */
const pools = new Map<string, (grpc.Client | undefined)[]>();

function channel(address: string, slot: number): grpc.Client {
  let pool = pools.get(address);
  if (pool === undefined) pools.set(address, (pool = []));
  return (pool[slot] ??= new (berthV1().AgentLink)(ipTarget(address), simCredentials(config.tlsCaFile), SIM_CHANNEL_OPTIONS));
}

/** `ipv4:` target for an IPv4 literal: gRPC's DNS resolver (one per channel) cost the simulator more than the connection. */
function ipTarget(address: string): string {
  return /^\d+\.\d+\.\d+\.\d+:\d+$/.test(address) ? `ipv4:${address}` : address;
}

function registerMessage(agent: SimAgent): AgentMessage {
  return { type: 'REGISTER', register: { agent_info: { hostname: `bench-agent-${agent.index}`, resources: wireResources }, version: 'bench', supported_containers: ['PROCESS'] } };
}

/** REREGISTER with every task the agent runs and the FrameworkInfos of their frameworks. */
function reregisterMessage(agent: SimAgent): AgentMessage {
  const agentId = { value: agent.id };
  const tasks: Task[] = [];
  const frameworkIds = new Set<string>();
  for (const [taskId, h] of agent.held!) {
    frameworkIds.add(h.frameworkId);
    const id = { value: taskId };
    tasks.push({
      name: h.name,
      task_id: id,
      framework_id: { value: h.frameworkId },
      agent_id: agentId,
      state: 'TASK_RUNNING',
      statuses: [{ task_id: id, state: 'TASK_RUNNING', source: 'SOURCE_AGENT', uuid: h.uuid, agent_id: agentId, timestamp: h.at / 1000 }],
      resources: h.resources,
      role: h.role,
    });
  }
  const frameworks = [...frameworkIds].map((id) => frameworkInfos.get(id)).filter((f): f is FrameworkInfo => f !== undefined);
  return {
    type: 'REREGISTER',
    reregister: { agent_info: { id: agentId, hostname: `bench-agent-${agent.index}`, resources: wireResources }, version: 'bench', supported_containers: ['PROCESS'], tasks, frameworks },
  };
}

/** Opens a stream to the agent's current target and (re-)registers on it. */
function dial(agent: SimAgent): void {
  if (stopping) return;
  const address = agent.targets!.current;
  const slot = agent.index % config.connections;
  const stream = (channel(address, slot) as unknown as { Connect(): Stream }).Connect();
  agent.stream = stream;
  agent.onStream = false;
  if (armed) attempts++;
  let ended = false;
  clearTimeout(agent.attemptTimer);
  agent.attemptTimer = setTimeout(() => {
    if (agent.stream !== stream || agent.onStream || ended) return;
    attemptTimeouts++;
    stream.cancel(); // its status (CANCELLED) retries
  }, ATTEMPT_TIMEOUT_MS);
  stream.on('data', (m: MasterMessage__Output) => {
    if (agent.stream !== stream) return;
    if (agent.onStream) return onMessage(agent, m);
    if (m.type === 'REGISTERED' || m.type === 'REREGISTERED') {
      clearTimeout(agent.attemptTimer);
      // Registered: like a real agent, it keeps no connection to the other masters.
      if (config.connections === config.agents) {
        for (const [other, pool] of pools) {
          if (other === address || pool[slot] === undefined) continue;
          pool[slot]!.close();
          pool[slot] = undefined;
        }
      }
      const body = (m.registered ?? m.reregistered)!;
      agent.id = body.agent_id!.value;
      agent.onStream = true;
      agent.backoffMs = config.reconnectMinMs!;
      const leader = masterAddress(body.master_info);
      if (leader !== undefined) agent.targets!.follow(leader);
      if (m.type === 'REGISTERED') {
        registered++;
        agent.onRegistered?.();
        agent.onRegistered = undefined;
      } else {
        disconnected--;
        if (armed && reregisteredAt[agent.index] === 0) {
          const now = wallMs();
          reregisteredAt[agent.index] = now;
          tasksReported += agent.held!.size;
          if (firstReregAt === 0) firstReregAt = now;
          reregistered++;
          if (reregistered === config.agents && !reregisteredReported) {
            reregisteredReported = true;
            send({ type: 'reregistered', agents: reregistered, firstLostAt, firstAt: firstReregAt, lastAt: now, reregisteredAt, tasksReported, attempts, refusals, connectFailures, usage: processUsage() } satisfies AgentsReregistered);
          }
        }
      }
    } else if (m.type === 'REDIRECT') {
      const leader = masterAddress(m.redirect?.leader);
      if (leader !== undefined) agent.targets!.follow(leader);
      stream.cancel();
    }
  });
  stream.on('error', () => undefined); // the status says why
  stream.on('status', (status: grpc.StatusObject) => {
    if (ended) return;
    ended = true;
    clearTimeout(agent.attemptTimer);
    agent.lastEnd = `${grpc.status[status.code]}: ${status.details.slice(0, 120)}`;
    if (agent.stream === stream) lostHa(agent, address, status);
  });
  stream.write(agent.id === '' ? registerMessage(agent) : reregisterMessage(agent));
}

/** The agent's stream ended or was refused: where to try next, and when. */
function lostHa(agent: SimAgent, address: string, status: grpc.StatusObject): void {
  if (stopping) return;
  const now = wallMs();
  if (agent.onStream) {
    agent.onStream = false;
    streamsLost++;
    disconnected++;
    if (armed && firstLostAt === 0) firstLostAt = now;
  }
  const targets = agent.targets!;
  let immediate = false;
  let stay = false;
  const refused = status.code === grpc.status.UNAVAILABLE && /not the leader|no longer the leader/.test(status.details);
  if (refused) {
    if (armed) refusals++;
    // A standby names the leader it knows: follow it at once — unless it names itself (it is
    // taking over) or names nobody yet; then it is alive and about to know: wait and ask it again.
    const leader = leaderFromRefusal(status.details);
    if (leader !== undefined && leader !== address) immediate = targets.follow(leader);
    else stay = true;
  } else if (armed && agent.targets!.current === address && status.code === grpc.status.UNAVAILABLE) {
    connectFailures++;
  }
  if (!immediate && !stay) targets.failed(); // a dead master must not strand the agent: try the next
  const backoff = agent.backoffMs!;
  if (!immediate) agent.backoffMs = Math.min(backoff * 2, config.reconnectMaxMs!);
  setTimeout(() => dial(agent), immediate ? 0 : Math.random() * backoff);
}

function registerHa(i: number): Promise<void> {
  const agent: SimAgent = { index: i, id: '', stream: undefined as unknown as Stream, held: new Map(), targets: new MasterTargets(config.masters!), backoffMs: config.reconnectMinMs!, onStream: false };
  agents[i] = agent;
  return new Promise<void>((resolve) => {
    agent.onRegistered = resolve;
    dial(agent);
  });
}

async function main(): Promise<void> {
  if (ha) {
    const started = wallMs();
    let next = 0;
    const worker = async () => {
      while (next < config.agents && !stopping) await registerHa(next++);
    };
    await Promise.all(Array.from({ length: Math.min(config.registerConcurrency, config.agents) }, worker));
    send({ type: 'registered', agents: registered, ms: wallMs() - started, usage: processUsage() } satisfies FromAgents);
    return;
  }
  const AgentLink = berthV1().AgentLink;
  for (let c = 0; c < config.connections; c++) clients.push(new AgentLink(config.address, simCredentials(config.tlsCaFile), SIM_CHANNEL_OPTIONS));
  const started = wallMs();
  let next = 0;
  const worker = async () => {
    while (next < config.agents && !stopping) await register(next++);
  };
  await Promise.all(Array.from({ length: Math.min(config.registerConcurrency, config.agents) }, worker));
  send({ type: 'registered', agents: registered, ms: wallMs() - started, usage: processUsage() } satisfies FromAgents);
}

function stop(): void {
  stopping = true;
  for (const a of agents) {
    try {
      a?.stream.end();
      a?.stream.cancel();
    } catch {
      // already gone
    }
  }
  for (const c of clients) c.close();
  for (const pool of pools.values()) for (const c of pool) c?.close();
  send({ type: 'usage', usage: processUsage(), pings, acks, streamsLost } satisfies FromAgents);
  setTimeout(() => process.exit(0), 50);
}

main().catch((err: unknown) => fail((err as Error).message));

/**
 * Simulated agents for `bench:master`: one process hosting every agent's `AgentLink.Connect`
 * stream, spread over `connections` TCP connections (one per agent by default, as real machines).
 *
 * Each agent registers with the configured resources, answers PING with PONG, and on RUN_TASK
 * sends TASK_RUNNING at once with a fresh 16-byte uuid (no container, nothing checkpointed). It
 * never resends: the acknowledgement is expected to come back through the master, and is counted.
 * A KILL_TASK is answered with TASK_KILLED (the benchmark sends none). An agent stream the master
 * ends is a failure of the run: the numbers would not be of the cluster that was asked for.
 *
 * Started by bench/master.js with its config as JSON in argv[2].
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { berthV1 } from '../src/common/rpc/proto';
import { Resources } from '../src/common/resources';
import { resourcesToWire } from '../src/common/wire';
import type { AgentMessage } from '../src/generated/berth/v1/AgentMessage';
import type { MasterMessage__Output } from '../src/generated/berth/v1/MasterMessage';
import { childIpc, processUsage, SIM_CHANNEL_OPTIONS, wallMs, type AgentsConfig, type FromAgents, type ToAgents } from './sim-shared';

type Stream = grpc.ClientDuplexStream<AgentMessage, MasterMessage__Output>;

const config = JSON.parse(process.argv[2] ?? '{}') as AgentsConfig;

interface SimAgent {
  readonly index: number;
  id: string;
  stream: Stream;
}

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

const send = childIpc<ToAgents>('sim-agents', (m) => {
  if (m.type === 'progress') send({ type: 'progress', registered, runTasks, acks, pings, streamsLost, usage: processUsage() } satisfies FromAgents);
  else if (m.type === 'stop') stop();
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
      agent.stream.write({
        type: 'STATUS_UPDATE',
        status_update: {
          framework_id: { value: frameworkId },
          status: { task_id: { value: taskId }, state: 'TASK_RUNNING', source: 'SOURCE_AGENT', uuid: randomBytes(16), agent_id: { value: agent.id }, timestamp: now / 1000 },
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
      agent.stream.write({
        type: 'STATUS_UPDATE',
        status_update: {
          framework_id: k.framework_id!,
          status: { task_id: k.task_id!, state: 'TASK_KILLED', source: 'SOURCE_AGENT', uuid: randomBytes(16), agent_id: { value: agent.id }, timestamp: wallMs() / 1000 },
          latest_state: 'TASK_KILLED',
        },
      });
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

async function main(): Promise<void> {
  const AgentLink = berthV1().AgentLink;
  for (let c = 0; c < config.connections; c++) clients.push(new AgentLink(config.address, grpc.credentials.createInsecure(), SIM_CHANNEL_OPTIONS));
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
  send({ type: 'usage', usage: processUsage(), pings, acks, streamsLost } satisfies FromAgents);
  setTimeout(() => process.exit(0), 50);
}

main().catch((err: unknown) => fail((err as Error).message));

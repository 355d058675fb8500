/**
 * Simulated frameworks for `bench:master`: one process hosting every framework's
 * `Scheduler.Connect` stream (each on a TCP connection of its own).
 *
 * Each framework subscribes with its role suppressed, so none gets offers before all have
 * subscribed; on `go` all send REVIVE at once and the first allocation cycle is shared among them.
 * On OFFERS a framework launches on each offer as many tasks (cpus:0.01;mem:1, `agent_id` set)
 * as fit and remain, one ACCEPT per offer; offers it has no use for are declined in one DECLINE,
 * with a long `refuse_seconds` so the next cycles offer those agents to the frameworks that still
 * need them. Once it has launched all its tasks it sends SUPPRESS. Every status update that carries
 * a uuid is acknowledged at once.
 *
 * Measured per task: OFFERS received → ACCEPT written (offer_to_launch) and ACCEPT written →
 * TASK_RUNNING received (launch_to_running). Any state but TASK_RUNNING, and any ERROR event, fails
 * the run: the simulated cluster cannot produce them, so they are bugs.
 *
 * Started by bench/master.js with its config as JSON in argv[2].
 */
import * as grpc from '@grpc/grpc-js';
import { berthV1 } from '../src/common/rpc/proto';
import { Resources } from '../src/common/resources';
import { resourcesToWire } from '../src/common/wire';
import type { Call } from '../src/generated/berth/v1/Call';
import type { Event__Output } from '../src/generated/berth/v1/Event';
import type { Offer__Output } from '../src/generated/berth/v1/Offer';
import type { TaskInfo } from '../src/generated/berth/v1/TaskInfo';
import { childIpc, processUsage, SIM_CHANNEL_OPTIONS, TASK_CPUS_MILLI, TASK_MEM_MILLI, TASK_RESOURCES_TEXT, wallMs, type FrameworksConfig, type FromFrameworks, type ToFrameworks } from './sim-shared';

type Stream = grpc.ClientDuplexStream<Call, Event__Output>;

const config = JSON.parse(process.argv[2] ?? '{}') as FrameworksConfig;

interface SimFramework {
  readonly index: number;
  readonly prefix: string;
  readonly client: grpc.Client;
  readonly stream: Stream;
  id: string;
  /** Tasks this framework launches in all. */
  readonly quota: number;
  launched: number;
  running: number;
  suppressed: boolean;
  firstOfferAt: number;
  /** Per task (by sequence number): when its ACCEPT was written; 0 once it is running. */
  readonly launchAt: Float64Array;
}

const TASK_RESOURCES = resourcesToWire(Resources.parse(TASK_RESOURCES_TEXT));
const COMMAND = { value: 'true', shell: true };

const frameworks: SimFramework[] = [];
let go = false;
let stopping = false;
let doneSent = false;
let launched = 0;
let running = 0;
let failed = 0;
let offerEvents = 0;
let offers = 0;
let accepts = 0;
let declinedOffers = 0;
let rescinds = 0;
let heartbeats = 0;
let firstOfferAt = 0;
let lastAckSentAt = 0;
const offerToLaunch = new Float64Array(config.tasks);
const launchToRunning = new Float64Array(config.tasks);

const send = childIpc<ToFrameworks>('sim-frameworks', (m) => {
  if (m.type === 'go') {
    go = true;
    for (const fw of frameworks) fw.stream.write({ type: 'REVIVE', framework_id: { value: fw.id }, revive: { roles: [] } });
  } else if (m.type === 'progress') {
    send({ type: 'progress', subscribed: frameworks.filter((f) => f.id !== '').length, launched, running, failed, offers, usage: processUsage() } satisfies FromFrameworks);
  } else if (m.type === 'stop') {
    stop();
  }
});

function fail(message: string): void {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`sim-frameworks: ${message}\n`);
  send({ type: 'failed', message: `sim-frameworks: ${message}` } satisfies FromFrameworks);
  setTimeout(() => process.exit(1), 100);
}

/** Unreserved cpus and mem of an offer, in thousandths. */
function capacity(offer: Offer__Output): { cpus: number; mem: number } {
  let cpus = 0;
  let mem = 0;
  for (const r of offer.resources) {
    if (r.scalar == null || r.reservations.length > 0) continue;
    if (r.name === 'cpus') cpus += Math.round(r.scalar.value * 1000);
    else if (r.name === 'mem') mem += Math.round(r.scalar.value * 1000);
  }
  return { cpus, mem };
}

function onOffers(fw: SimFramework, list: Offer__Output[]): void {
  const received = wallMs();
  offerEvents++;
  offers += list.length;
  if (go && fw.firstOfferAt === 0) fw.firstOfferAt = received;
  if (go && firstOfferAt === 0) firstOfferAt = received;
  const decline: Offer__Output[] = [];
  for (const offer of list) {
    const remaining = fw.quota - fw.launched;
    const { cpus, mem } = capacity(offer);
    const n = Math.min(remaining, Math.floor(cpus / TASK_CPUS_MILLI), Math.floor(mem / TASK_MEM_MILLI));
    if (!go || n <= 0) {
      decline.push(offer);
      continue;
    }
    const tasks: TaskInfo[] = new Array(n);
    const first = fw.launched;
    for (let k = 0; k < n; k++) {
      const taskId = fw.prefix + (first + k);
      tasks[k] = { name: taskId, task_id: { value: taskId }, agent_id: offer.agent_id!, resources: TASK_RESOURCES, command: COMMAND };
    }
    fw.stream.write({
      type: 'ACCEPT',
      framework_id: { value: fw.id },
      accept: { offer_ids: [offer.id!], operations: [{ type: 'LAUNCH', launch: { task_infos: tasks } }], filters: { refuse_seconds: config.refuseSeconds } },
    });
    const sent = wallMs();
    for (let k = 0; k < n; k++) {
      fw.launchAt[first + k] = sent;
      offerToLaunch[launched + k] = sent - received;
    }
    fw.launched += n;
    launched += n;
    accepts++;
  }
  // One DECLINE per agent: the master refuses a DECLINE naming offers of several agents (it applies
  // ACCEPT's one-agent rule to DECLINE too), and gives those offers back without the filter.
  const byAgent = new Map<string, { value: string }[]>();
  for (const offer of decline) {
    const agentId = offer.agent_id!.value;
    const ids = byAgent.get(agentId);
    if (ids === undefined) byAgent.set(agentId, [offer.id!]);
    else ids.push(offer.id!);
  }
  for (const ids of byAgent.values()) {
    fw.stream.write({ type: 'DECLINE', framework_id: { value: fw.id }, decline: { offer_ids: ids, filters: { refuse_seconds: config.refuseSeconds } } });
  }
  declinedOffers += decline.length;
  if (go && fw.launched === fw.quota && !fw.suppressed) {
    fw.suppressed = true;
    fw.stream.write({ type: 'SUPPRESS', framework_id: { value: fw.id }, suppress: { roles: [] } });
  }
}

function onUpdate(fw: SimFramework, e: Event__Output): void {
  const status = e.update!.status!;
  const taskId = status.task_id!.value;
  if (status.state === 'TASK_RUNNING') {
    const seq = Number(taskId.slice(fw.prefix.length));
    const at = fw.launchAt[seq];
    if (at !== undefined && at > 0) {
      launchToRunning[running] = wallMs() - at;
      fw.launchAt[seq] = 0;
      fw.running++;
      running++;
    }
  } else {
    failed++;
    fail(`framework ${fw.index} got ${status.state} for task ${taskId}: ${status.reason ?? ''} ${status.message ?? ''}`);
    return;
  }
  if (status.uuid != null && (status.uuid as Uint8Array).length > 0) {
    fw.stream.write({ type: 'ACKNOWLEDGE', framework_id: { value: fw.id }, acknowledge: { agent_id: status.agent_id!, task_id: status.task_id!, uuid: status.uuid } });
    lastAckSentAt = wallMs();
  }
  if (running === config.tasks && !doneSent) {
    doneSent = true;
    send({
      type: 'done',
      firstOfferAt,
      firstOfferAtPerFramework: frameworks.map((f) => f.firstOfferAt),
      lastAckSentAt,
      offerToLaunch,
      launchToRunning,
      offerEvents,
      offers,
      accepts,
      declinedOffers,
      rescinds,
      heartbeats,
      usage: processUsage(),
    } satisfies FromFrameworks);
  }
}

function subscribe(index: number, quota: number): Promise<void> {
  const Scheduler = berthV1().Scheduler;
  const client = new Scheduler(config.address, grpc.credentials.createInsecure(), SIM_CHANNEL_OPTIONS);
  const stream = (client as unknown as { Connect(): Stream }).Connect();
  const fw: SimFramework = { index, prefix: `f${index}-`, client, stream, id: '', quota, launched: 0, running: 0, suppressed: false, firstOfferAt: 0, launchAt: new Float64Array(quota) };
  frameworks.push(fw);
  return new Promise<void>((resolve, reject) => {
    stream.on('data', (e: Event__Output) => {
      try {
        switch (e.type) {
          case 'SUBSCRIBED':
            fw.id = e.subscribed!.framework_id!.value;
            resolve();
            return;
          case 'OFFERS':
            onOffers(fw, e.offers!.offers);
            return;
          case 'UPDATE':
            onUpdate(fw, e);
            return;
          case 'RESCIND':
            rescinds++;
            return;
          case 'HEARTBEAT':
            heartbeats++;
            return;
          case 'ERROR':
            if (fw.id === '') reject(new Error(`framework ${index}: SUBSCRIBE refused: ${e.error?.message}`));
            else fail(`framework ${index} (${fw.id}) got ERROR ${e.error?.code}: ${e.error?.message}`);
            return;
          default:
            return;
        }
      } catch (err) {
        fail(`framework ${index}: ${(err as Error).stack ?? String(err)}`);
      }
    });
    const lost = (why: string) => {
      if (stopping) return;
      if (fw.id === '') reject(new Error(`framework ${index}: stream ended before SUBSCRIBED: ${why}`));
      else fail(`framework ${index} (${fw.id}): the master ended its stream: ${why}`);
    };
    stream.on('error', (err: Error) => lost(err.message));
    stream.on('end', () => lost('end of stream'));
    stream.write({ type: 'SUBSCRIBE', subscribe: { framework_info: { name: `bench-framework-${index}`, user: 'bench', roles: ['*'] }, suppressed_roles: ['*'] } });
  });
}

async function main(): Promise<void> {
  const started = wallMs();
  const base = Math.floor(config.tasks / config.frameworks);
  const extra = config.tasks % config.frameworks;
  await Promise.all(Array.from({ length: config.frameworks }, (_, i) => subscribe(i, base + (i < extra ? 1 : 0))));
  send({ type: 'subscribed', frameworks: frameworks.length, ms: wallMs() - started } satisfies FromFrameworks);
}

function stop(): void {
  stopping = true;
  for (const fw of frameworks) {
    try {
      fw.stream.end();
      fw.stream.cancel();
    } catch {
      // already gone
    }
    fw.client.close();
  }
  send({ type: 'usage', usage: processUsage(), heartbeats } satisfies FromFrameworks);
  setTimeout(() => process.exit(0), 50);
}

main().catch((err: unknown) => fail((err as Error).message));

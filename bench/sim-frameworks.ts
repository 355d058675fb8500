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
 * HA mode (`bench:scale`: the config lists `masters`): a framework subscribes with a failover
 * timeout, follows a standby's pointer to the leader (the ERROR event's `leader`), and when its
 * stream ends (the leader died) it subscribes again with its framework id — at once when pointed to
 * another master, otherwise after a random wait in [0, backoff] (doubling, capped) — still
 * suppressed. After each re-subscription it reconciles explicitly, once, every task the master has
 * not yet confirmed: the master answers a task on an agent that has not re-registered yet when that
 * agent does (it remembers the ask; docs/master.md "Reconciliation"), as the SDK driver relies on.
 * Only the tasks still unconfirmed after `reconcileIntervalMs` (a long safety interval, doubling
 * as the driver's) are asked again. Every answer must be TASK_RUNNING. After `arm` it reports `reconciled` once every
 * framework re-subscribed and the master confirmed every task RUNNING.
 *
 * Started by bench/master.js (or bench/scale.js) with its config as JSON in argv[2].
 */
import * as grpc from '@grpc/grpc-js';
import { leaderFromRefusal, masterAddress, MasterTargets } from '../src/common/leader';
import { berthV1 } from '../src/common/rpc/proto';
import { Resources } from '../src/common/resources';
import { resourcesToWire } from '../src/common/wire';
import type { Call } from '../src/generated/berth/v1/Call';
import type { Event__Output } from '../src/generated/berth/v1/Event';
import type { Offer__Output } from '../src/generated/berth/v1/Offer';
import type { TaskInfo } from '../src/generated/berth/v1/TaskInfo';
import type { FrameworksReconciled, HaFrameworksProgressExtra, ScaleFrameworksConfig, ToHaSim } from './scale-shared';
import { childIpc, processUsage, simCredentials, SIM_CHANNEL_OPTIONS, TASK_CPUS_MILLI, TASK_MEM_MILLI, TASK_RESOURCES_TEXT, wallMs, type FromFrameworks, type ToFrameworks } from './sim-shared';

type Stream = grpc.ClientDuplexStream<Call, Event__Output>;

const config = JSON.parse(process.argv[2] ?? '{}') as ScaleFrameworksConfig;
/** Cap of the doubling safety delay between explicit reconciliations (the SDK driver's default). */
const RECONCILE_MAX_MS = 600_000;
/** HA mode: several masters, streams that end are re-established (see the header). */
const ha = config.masters !== undefined && config.masters.length > 0;

/** HA mode only: what a framework needs to find the leader again and reconcile. */
interface HaState {
  readonly targets: MasterTargets;
  backoffMs: number;
  /** Subscribed on the current stream. */
  onStream: boolean;
  /** Per task (by sequence number): the agent it runs on, from its TASK_RUNNING. */
  readonly agentOf: (string | undefined)[];
  /** Per task: confirmed RUNNING by the master since `arm`. */
  readonly confirmed: Uint8Array;
  confirmedCount: number;
  resubscribed: boolean;
  reconcileTimer: NodeJS.Timeout | undefined;
  onSubscribed: (() => void) | undefined;
}

interface SimFramework {
  readonly index: number;
  readonly prefix: string;
  client: grpc.Client;
  stream: Stream;
  id: string;
  /** Tasks this framework launches in all. */
  readonly quota: number;
  launched: number;
  running: number;
  suppressed: boolean;
  firstOfferAt: number;
  /** Per task (by sequence number): when its ACCEPT was written; 0 once it is running. */
  readonly launchAt: Float64Array;
  readonly ha?: HaState;
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

// HA mode counters, since `arm`.
let armed = false;
let reconciledSent = false;
let resubscribed = 0;
let confirmed = 0;
let reconcileCalls = 0;
let reconcileTaskIds = 0;
let attempts = 0;
let refusals = 0;
let lastSubscribedAt = 0;

const send = childIpc<ToFrameworks | ToHaSim>('sim-frameworks', (m) => {
  if (m.type === 'go') {
    go = true;
    for (const fw of frameworks) fw.stream.write({ type: 'REVIVE', framework_id: { value: fw.id }, revive: { roles: [] } });
  } else if (m.type === 'progress') {
    const extra: HaFrameworksProgressExtra | undefined = ha ? { resubscribed, confirmed, reconcileCalls } : undefined;
    send({ type: 'progress', subscribed: frameworks.filter((f) => f.id !== '').length, launched, running, failed, offers, usage: processUsage(), ...extra } satisfies FromFrameworks);
  } else if (m.type === 'arm') {
    armed = true;
    reconciledSent = false;
    resubscribed = confirmed = reconcileCalls = reconcileTaskIds = attempts = refusals = lastSubscribedAt = 0;
    for (const fw of frameworks) {
      if (fw.ha === undefined) continue;
      fw.ha.confirmed.fill(0);
      fw.ha.confirmedCount = 0;
      fw.ha.resubscribed = false;
    }
    send({ type: 'armed' });
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

/** The events both the plain and the HA stream handle alike. */
function onRoutine(fw: SimFramework, e: Event__Output): void {
  if (e.type === 'OFFERS') onOffers(fw, e.offers!.offers);
  else if (e.type === 'UPDATE') onUpdate(fw, e);
  else if (e.type === 'RESCIND') rescinds++;
  else heartbeats++;
}

function onOffers(fw: SimFramework, list: Offer__Output[]): void {
  const received = wallMs();
  offerEvents++;
  offers += list.length;
  if (go && fw.firstOfferAt === 0) fw.firstOfferAt = received;
  if (go && firstOfferAt === 0) firstOfferAt = received;
  const decline: Offer__Output[] = [];
  const later: Offer__Output[] = [];
  let wave = config.launchWave ?? Number.POSITIVE_INFINITY;
  for (const offer of list) {
    const remaining = fw.quota - fw.launched;
    const { cpus, mem } = capacity(offer);
    const n = Math.min(remaining, Math.floor(cpus / TASK_CPUS_MILLI), Math.floor(mem / TASK_MEM_MILLI));
    if (!go || n <= 0) {
      decline.push(offer);
      continue;
    }
    if (n > wave) {
      later.push(offer); // this cycle's wave is launched: back next cycle
      continue;
    }
    wave -= n;
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
  for (const offer of later) {
    fw.stream.write({ type: 'DECLINE', framework_id: { value: fw.id }, decline: { offer_ids: [offer.id!], filters: { refuse_seconds: 0 } } });
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
    if (fw.ha !== undefined) {
      if (fw.ha.agentOf[seq] === undefined) fw.ha.agentOf[seq] = status.agent_id!.value;
      if (armed) confirm(fw, seq);
    }
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
  const client = new Scheduler(config.address, simCredentials(config.tlsCaFile), SIM_CHANNEL_OPTIONS);
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
          case 'OFFERS': case 'UPDATE': case 'RESCIND': case 'HEARTBEAT':
            onRoutine(fw, e);
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

// ---------------------------------------------------------------------------------------------
// HA mode

/** The master confirmed a task RUNNING (since `arm`). */
function confirm(fw: SimFramework, seq: number): void {
  const h = fw.ha!;
  if (seq >= fw.quota || h.confirmed[seq] === 1) return;
  h.confirmed[seq] = 1;
  h.confirmedCount++;
  confirmed++;
  if (h.confirmedCount === fw.quota) {
    clearInterval(h.reconcileTimer);
    h.reconcileTimer = undefined;
  }
  if (confirmed === config.tasks && resubscribed === config.frameworks && !reconciledSent) {
    reconciledSent = true;
    send({ type: 'reconciled', lastSubscribedAt, lastConfirmedAt: wallMs(), confirmed, reconcileCalls, reconcileTaskIds, attempts, refusals, usage: processUsage() } satisfies FrameworksReconciled);
  }
}

/** Most task ids named in one RECONCILE (a call is one gRPC message, bounded by the master's limit). */
const RECONCILE_BATCH = 5000;

/** Explicit reconciliation of the tasks not confirmed yet. */
function reconcile(fw: SimFramework): void {
  const h = fw.ha!;
  if (!h.onStream) return;
  let batch: { task_id: { value: string }; agent_id: { value: string } | undefined }[] = [];
  const flush = () => {
    if (batch.length === 0) return;
    fw.stream.write({ type: 'RECONCILE', framework_id: { value: fw.id }, reconcile: { tasks: batch } });
    reconcileCalls++;
    reconcileTaskIds += batch.length;
    batch = [];
  };
  for (let seq = 0; seq < fw.launched; seq++) {
    if (h.confirmed[seq] === 1) continue;
    const agentId = h.agentOf[seq];
    batch.push({ task_id: { value: fw.prefix + seq }, agent_id: agentId === undefined ? undefined : { value: agentId } });
    if (batch.length === RECONCILE_BATCH) flush();
  }
  flush();
}

function subscribeCall(fw: SimFramework): Call {
  return {
    type: 'SUBSCRIBE',
    subscribe: {
      framework_info: {
        ...(fw.id === '' ? {} : { id: { value: fw.id } }),
        name: `bench-framework-${fw.index}`,
        user: 'bench',
        roles: ['*'],
        failover_timeout: config.failoverTimeoutS ?? 3600,
      },
      // Suppressed until `go`, and again once all its tasks are launched.
      suppressed_roles: !go || fw.suppressed ? ['*'] : [],
    },
  };
}

/** Opens a stream to the framework's current target and (re-)subscribes on it. */
function dialHa(fw: SimFramework): void {
  if (stopping) return;
  const h = fw.ha!;
  const address = h.targets.current;
  const client = new (berthV1().Scheduler)(address, simCredentials(config.tlsCaFile), SIM_CHANNEL_OPTIONS);
  const stream = (client as unknown as { Connect(): Stream }).Connect();
  fw.client = client;
  fw.stream = stream;
  h.onStream = false;
  if (armed) attempts++;
  /** Where a standby's ERROR pointed, for when the stream ends. */
  let refusal: { leader: string | undefined } | undefined;
  let ended = false;
  stream.on('data', (e: Event__Output) => {
    if (fw.stream !== stream) return;
    try {
      switch (e.type) {
        case 'SUBSCRIBED': {
          const first = fw.id === '';
          fw.id = e.subscribed!.framework_id!.value;
          h.onStream = true;
          h.backoffMs = config.reconnectMinMs!;
          if (first) {
            h.onSubscribed?.();
            h.onSubscribed = undefined;
          } else if (armed) {
            if (!h.resubscribed) {
              h.resubscribed = true;
              resubscribed++;
              lastSubscribedAt = wallMs();
            }
            clearInterval(h.reconcileTimer);
            h.reconcileTimer = undefined;
            if (h.confirmedCount < fw.quota) {
              // As the SDK driver does: ask once and wait for the master to answer as agents
              // return; only a safety re-ask of what is still unconfirmed after a long interval.
              let delay = config.reconcileIntervalMs ?? 60_000;
              const again = (): void => {
                reconcile(fw);
                if (h.confirmedCount >= fw.quota) return;
                h.reconcileTimer = setTimeout(again, delay);
                delay = Math.min(delay * 2, RECONCILE_MAX_MS);
              };
              again();
            }
          }
          return;
        }
        case 'OFFERS': case 'UPDATE': case 'RESCIND': case 'HEARTBEAT':
          onRoutine(fw, e);
          return;
        case 'ERROR':
          if (e.error?.code === grpc.status.UNAVAILABLE) {
            refusal = { leader: masterAddress(e.error.leader) ?? leaderFromRefusal(e.error.message) };
            return; // the stream ends next
          }
          fail(`framework ${fw.index} (${fw.id || 'not subscribed'}) got ERROR ${e.error?.code}: ${e.error?.message}`);
          return;
        default:
          return;
      }
    } catch (err) {
      fail(`framework ${fw.index}: ${(err as Error).stack ?? String(err)}`);
    }
  });
  stream.on('error', () => undefined); // the status says why
  stream.on('status', () => {
    if (ended) return;
    ended = true;
    client.close();
    if (fw.stream === stream) lostHa(fw, address, refusal);
  });
  stream.write(subscribeCall(fw));
}

/** The framework's stream ended or was refused: where to try next, and when. */
function lostHa(fw: SimFramework, address: string, refusal: { leader: string | undefined } | undefined): void {
  if (stopping) return;
  const h = fw.ha!;
  h.onStream = false;
  clearInterval(h.reconcileTimer);
  h.reconcileTimer = undefined;
  let immediate = false;
  let stay = false;
  if (refusal !== undefined) {
    if (armed) refusals++;
    // Follow a pointer to another master at once; a standby that names itself or nobody is
    // alive and about to know: wait and ask it again.
    if (refusal.leader !== undefined && refusal.leader !== address) immediate = h.targets.follow(refusal.leader);
    else stay = true;
  }
  if (!immediate && !stay) h.targets.failed();
  const backoff = h.backoffMs;
  if (!immediate) h.backoffMs = Math.min(backoff * 2, config.reconnectMaxMs!);
  setTimeout(() => dialHa(fw), immediate ? 0 : Math.random() * backoff);
}

function subscribeHa(index: number, quota: number): Promise<void> {
  const fw: SimFramework = {
    index, prefix: `f${index}-`, client: undefined as unknown as grpc.Client, stream: undefined as unknown as Stream, id: '', quota, launched: 0, running: 0, suppressed: false, firstOfferAt: 0, launchAt: new Float64Array(quota),
    ha: {
      targets: new MasterTargets(config.masters!), backoffMs: config.reconnectMinMs!, onStream: false, agentOf: new Array<string | undefined>(quota),
      confirmed: new Uint8Array(quota), confirmedCount: 0, resubscribed: false, reconcileTimer: undefined, onSubscribed: undefined,
    },
  };
  frameworks.push(fw);
  return new Promise<void>((resolve) => {
    fw.ha!.onSubscribed = resolve;
    dialHa(fw);
  });
}

async function main(): Promise<void> {
  const started = wallMs();
  const base = Math.floor(config.tasks / config.frameworks);
  const extra = config.tasks % config.frameworks;
  await Promise.all(Array.from({ length: config.frameworks }, (_, i) => (ha ? subscribeHa : subscribe)(i, base + (i < extra ? 1 : 0))));
  send({ type: 'subscribed', frameworks: frameworks.length, ms: wallMs() - started } satisfies FromFrameworks);
}

function stop(): void {
  stopping = true;
  for (const fw of frameworks) {
    clearInterval(fw.ha?.reconcileTimer);
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

/**
 * Batch benchmark: gangs (and, as later pieces land, preemption and queues), printed as one JSON
 * object.
 *
 *   npm run bench:batch -- [--agents 1000] [--competitors 10] [--gang 256] [--gangs 1000] [--jobs 1000] [--json]
 *
 * Each scenario is a function that returns its figures; the result is their union, so a scenario
 * added later (preemption_latency_s, queue_fairness_jain) is one more entry in SCENARIOS.
 *
 * - `gang_admit` → `gang_256_admit_s`: the real master (master-child.js: SystemClock, hierarchical
 *   allocator, file registry, loopback gRPC) and `--agents` simulated agents (sim-agents.js, which
 *   answer RUN_TASK with TASK_RUNNING at once) in child processes; in this process `--competitors`
 *   frameworks with plain demand launch cpus:1;mem:256 tasks on every offer until they have
 *   taken about half the cluster, then one framework declares a `--gang`-task gang (one task per
 *   agent, cpus:1;mem:256 each) with UPDATE_FRAMEWORK. The figure is the time from that call to the
 *   last of the gang's TASK_RUNNING updates, through ACCEPT_GANG (`gang_offer_s`: to the gang's
 *   OFFERS event). A gang offer that is not whole counts in `partial_gangs`.
 * - `preemption` → `preemption_latency_s` (see PreemptionLatency): a high-priority gang on a
 *   cluster full of low-priority tasks, from declaration to running, with a 2 s kill grace.
 * - `gang_churn` → `partial_gangs`, `gangs_placed`: the allocator alone, driven as the master
 *   drives it (expireGangs before each cycle; accept, decline, hold expiry, agent loss, tasks
 *   finishing), on `--agents` simulated agents with 11 frameworks and `--gangs` gangs of random
 *   sizes (1–64 tasks, random spread). Every cycle checks every gang allocation and every held
 *   gang: one whose parts do not add up to the whole gang is a partial gang.
 * - `queue_fairness` → `queue_fairness_jain`: the batch framework's admission core over `--jobs`
 *   jobs in four equal-weight queues of one cohort (queue-fairness.ts says what it measures).
 */
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HierarchicalAllocator, type Allocation, type GangSpread } from '../src/allocator';
import { seededRandom } from '../src/common/random';
import { Resources } from '../src/common/resources';
import { resourcesToWire } from '../src/common/wire';
import { berthV1 } from '../src/common/rpc/proto';
import type { Call } from '../src/generated/berth/v1/Call';
import type { Event__Output } from '../src/generated/berth/v1/Event';
import type { FrameworkInfo } from '../src/generated/berth/v1/FrameworkInfo';
import { BenchRun } from './sim-child';
import { queueFairness } from './queue-fairness';
import { wallMs, type AgentsConfig, type MasterChildConfig } from './sim-shared';

interface Options {
  agents: number;
  competitors: number;
  gang: number;
  gangs: number;
  jobs: number;
  json: boolean;
  timeoutS: number;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { agents: 1000, competitors: 10, gang: 256, gangs: 1000, jobs: 1000, json: false, timeoutS: 60 };
  const ints: Record<string, keyof Options> = { '--agents': 'agents', '--competitors': 'competitors', '--gang': 'gang', '--gangs': 'gangs', '--jobs': 'jobs', '--timeout-s': 'timeoutS' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') o.json = true;
    else if (a in ints) {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new Error(`${a}: must be a whole number >= 1, got ${JSON.stringify(argv[i])}`);
      (o as unknown as Record<string, number>)[ints[a]!] = v;
    } else throw new Error(`unknown option ${JSON.stringify(a)} (known: --agents --competitors --gang --gangs --jobs --timeout-s --json)`);
  }
  if (o.gang > o.agents) throw new Error(`--gang: ${o.gang} one-per-agent tasks need at least as many agents (--agents ${o.agents})`);
  return o;
}

type Figures = Record<string, number>;
const SCENARIOS: readonly { name: string; run: (o: Options) => Promise<Figures> }[] = [
  { name: 'gang_churn', run: async (o) => gangChurn(o) },
  { name: 'gang_admit', run: (o) => new GangAdmit(o).run() },
  { name: 'preemption', run: (o) => new PreemptionLatency(o).run() },
  { name: 'queue_fairness', run: async (o) => queueFairness(o.jobs) },
];

// ---- gang_churn: the allocator, 1000 gangs --------------------------------------------------------

function gangChurn(o: Options): Figures {
  const random = seededRandom(13);
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const allocator = new HierarchicalAllocator({ gangHoldMs: 10_000, random });
  const agentTotal = Resources.parse('cpus:8;mem:16384;ports:[31000-31009]');
  const zones = ['a', 'b', 'c', 'd'];
  for (let i = 0; i < o.agents; i++) allocator.addAgent(`agent-${i}`, { hostname: `h${i}`, domain: { region: 'r', zone: zones[i % zones.length]! } }, agentTotal);
  const frameworks = Array.from({ length: 11 }, (_, i) => `fw-${i}`);
  const declared = new Map<string, { id: string; tasks: number; spread: GangSpread; cpus: number }[]>(frameworks.map((f) => [f, []]));
  const describe = (f: string) => {
    const gangs = declared.get(f)!.map((g) => ({ id: g.id, spread: g.spread, shapes: [{ quantities: new Map([['cpus', g.cpus * 1000], ['mem', 512_000]]), ports: 1, count: g.tasks }] }));
    return { roles: ['*'], demand: { '*': [] }, gangs: { '*': gangs } };
  };
  for (const f of frameworks) allocator.addFramework(f, describe(f));
  const spreads: GangSpread[] = [{ kind: 'ANY' }, { kind: 'ONE_PER_AGENT' }, { kind: 'SAME_ZONE' }, { kind: 'MAX_PER_AGENT', maxPerAgent: 2 }];
  let submitted = 0;
  let placed = 0;
  let partial = 0;
  const held = new Map<string, Allocation[]>();
  const running: Allocation[] = [];
  let now = 0;
  let cycles = 0;
  const started = performance.now();
  while ((submitted < o.gangs || held.size > 0 || [...declared.values()].some((l) => l.length > 0)) && cycles < 20_000) {
    cycles++;
    // New gangs arrive in small waves, on random frameworks.
    for (let k = 0; k < 5 && submitted < o.gangs; k++, submitted++) {
      const f = frameworks[int(0, frameworks.length - 1)]!;
      declared.get(f)!.push({ id: `g${submitted}`, tasks: int(1, 64), spread: spreads[int(0, spreads.length - 1)]!, cpus: int(1, 4) });
      allocator.updateFramework(f, describe(f));
    }
    now += 1000;
    for (const g of allocator.expireGangs(now)) held.delete(`${g.frameworkId}/${g.gangId}`);
    const byGang = new Map<string, Allocation[]>();
    for (const a of allocator.allocate(now)) {
      const key = `${a.frameworkId}/${a.gang!.id}`;
      byGang.set(key, [...(byGang.get(key) ?? []), a]);
    }
    for (const [key, parts] of byGang) {
      placed++;
      if (parts.reduce((n, p) => n + p.gang!.tasksHere, 0) !== parts[0]!.gang!.tasks) partial++;
      held.set(key, parts);
    }
    for (const g of allocator.heldGangs()) if (g.parts.reduce((n, p) => n + p.tasks, 0) !== held.get(`${g.frameworkId}/${g.gangId}`)?.[0]?.gang?.tasks) partial++;
    // Answers: most gangs are accepted, some declined, some left to expire; tasks finish.
    for (const [key, parts] of [...held]) {
      const roll = random();
      const [f, id] = [parts[0]!.frameworkId, parts[0]!.gang!.id];
      if (roll < 0.7) {
        allocator.acceptGang(f, id);
        running.push(...parts);
        declared.set(f, declared.get(f)!.filter((g) => g.id !== id));
        allocator.updateFramework(f, describe(f));
        held.delete(key);
      } else if (roll < 0.85) {
        allocator.releaseGang(f, id, now, 2000);
        held.delete(key);
      }
    }
    for (let i = running.length - 1; i >= 0; i--) {
      if (random() >= 0.2) continue;
      const a = running[i]!;
      allocator.recoverResources(a.frameworkId, a.agentId, a.role, a.resources, undefined, now);
      running.splice(i, 1);
    }
  }
  return { gangs_submitted: submitted, gangs_placed: placed, partial_gangs: partial, gang_churn_cycle_ms: Math.round(((performance.now() - started) / cycles) * 1000) / 1000 };
}

// ---- gang_admit: a 256-task gang through the real master ------------------------------------------

const TASK = 'cpus:1;mem:256';
const TASK_QUANTITIES = [{ name: 'cpus', value: 1 }, { name: 'mem', value: 256 }];

/** A framework on a raw Scheduler.Connect stream; acknowledges every update. */
class SimFramework {
  private readonly client: grpc.Client;
  private readonly stream: grpc.ClientDuplexStream<Call, Event__Output>;
  id = '';
  running = 0;
  killed = 0;
  private subscribed: (() => void) | undefined;
  onOffers: (e: NonNullable<Event__Output['offers']>) => void = () => undefined;
  onRunning: () => void = () => undefined;
  onError: (message: string) => void = () => undefined;

  constructor(address: string) {
    const Client = berthV1().Scheduler;
    this.client = new Client(address, grpc.credentials.createInsecure());
    this.stream = (this.client as unknown as { Connect(): grpc.ClientDuplexStream<Call, Event__Output> }).Connect();
    this.stream.on('data', (e: Event__Output) => this.onEvent(e));
    this.stream.on('error', () => undefined);
  }

  subscribe(info: Partial<FrameworkInfo>): Promise<void> {
    const done = new Promise<void>((resolve) => (this.subscribed = resolve));
    this.stream.write({ type: 'SUBSCRIBE', subscribe: { framework_info: { name: 'bench', user: '', roles: ['*'], ...info } } });
    return done;
  }

  send(call: Call): void {
    this.stream.write({ framework_id: { value: this.id }, ...call });
  }

  private onEvent(e: Event__Output): void {
    if (e.type === 'SUBSCRIBED') {
      this.id = e.subscribed!.framework_id!.value;
      this.subscribed?.();
    } else if (e.type === 'OFFERS') this.onOffers(e.offers!);
    else if (e.type === 'ERROR') this.onError(e.error!.message);
    else if (e.type === 'UPDATE') {
      const s = e.update!.status!;
      if (s.uuid !== undefined && s.uuid !== null && s.uuid.length > 0) this.send({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: s.agent_id!, task_id: s.task_id!, uuid: s.uuid } });
      if (s.state === 'TASK_RUNNING') {
        this.running++;
        this.onRunning();
      } else if (s.state === 'TASK_KILLED') this.killed++;
    }
  }

  close(): void {
    this.stream.end();
    this.client.close();
  }
}

function task(agentId: string, taskId: string) {
  return { name: taskId, task_id: { value: taskId }, agent_id: { value: agentId }, resources: resourcesToWire(Resources.parse(TASK)), command: { value: 'sleep 3600', shell: true } };
}

/** A scenario on the real master and simulated agents in child processes, bounded by `--timeout-s`. */
abstract class MasterScenario extends BenchRun {
  protected readonly tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-batch-'));
  protected readonly frameworks: SimFramework[] = [];

  constructor(protected readonly o: Options) {
    super('bench:batch', o.json);
  }

  async run(): Promise<Figures> {
    const deadline = setTimeout(() => this.fail(new Error(`${this.constructor.name} did not finish within ${this.o.timeoutS} s (${this.phase})`)), this.o.timeoutS * 1000);
    try {
      return await this.measure();
    } finally {
      clearTimeout(deadline);
      for (const f of this.frameworks) f.close();
      await Promise.all(this.children.map((c) => c.stop(5000)));
      fs.rmSync(this.tmp, { recursive: true, force: true });
    }
  }

  protected abstract measure(): Promise<Figures>;

  /** Starts the master and `agents` simulated agents; resolves with the master's address. */
  protected async cluster(master: Partial<MasterChildConfig>, agents: Omit<AgentsConfig, 'address' | 'connections' | 'registerConcurrency'>): Promise<string> {
    this.phase = 'starting the master';
    const config: MasterChildConfig = { registryDir: path.join(this.tmp, 'registry'), allocationIntervalMs: 1000, metrics: false, logLevel: 'error', ...master };
    const child = this.spawn('master', 'master-child.js', config);
    const { address } = await this.wait(child.next<{ address: string }>('ready'));
    this.phase = 'registering agents';
    const sims = this.spawn('sim-agents', 'sim-agents.js', { address, connections: agents.agents, registerConcurrency: 200, ...agents } satisfies AgentsConfig);
    await this.wait(sims.next('registered'));
    this.log(`${agents.agents} agents registered`);
    return address;
  }
}

class GangAdmit extends MasterScenario {
  protected async measure(): Promise<Figures> {
    const o = this.o;
    const perCompetitor = Math.floor((o.agents * 2) / o.competitors);
    // Sizes the agents' per-task records; they never report "acked" here (nothing waits for it).
    const address = await this.cluster({}, { agents: o.agents, resources: 'cpus:4;mem:4096;ports:[31000-31099]', expectedAcks: perCompetitor * o.competitors + o.gang + 1 });

    this.phase = 'competitors filling half the cluster';
    let launched = 0;
    const competitors = Array.from({ length: o.competitors }, () => new SimFramework(address));
    this.frameworks.push(...competitors);
    const filled = new Promise<void>((resolve) => {
      for (const c of competitors) {
        let mine = 0;
        c.onOffers = (offers) => {
          for (const offer of offers.offers) {
            const agentId = offer.agent_id!.value;
            const room = Math.min(Math.floor(offer.resources.find((r) => r.name === 'cpus')?.scalar?.value ?? 0), perCompetitor - mine, 2);
            const tasks = Array.from({ length: Math.max(0, room) }, () => task(agentId, `c-${c.id.slice(0, 8)}-${mine++}`));
            launched += tasks.length;
            c.send({ type: 'ACCEPT', accept: { offer_ids: [offer.id!], operations: tasks.length === 0 ? [] : [{ type: 'LAUNCH', launch: { task_infos: tasks } }], filters: { refuse_seconds: 1 } } });
          }
        };
        c.onRunning = () => {
          if (competitors.every((x) => x.running >= perCompetitor * 0.9)) resolve();
        };
      }
    });
    await this.wait(Promise.all(competitors.map((c) => c.subscribe({ name: 'competitor', demand: { '*': { shapes: [{ resources: TASK_QUANTITIES, count: perCompetitor }] } } }))));
    await this.wait(filled);
    this.log(`competitors run ${launched} tasks`);

    this.phase = 'admitting the gang';
    const gangFw = new SimFramework(address);
    this.frameworks.push(gangFw);
    await this.wait(gangFw.subscribe({ name: 'gang', demand: { '*': { shapes: [] } } }));
    let partial = 0;
    let offeredAt = 0;
    let errors = '';
    gangFw.onError = (m) => (errors += `${m}\n`);
    const admitted = new Promise<number>((resolve) => {
      gangFw.onOffers = (offers) => {
        for (const g of offers.gangs) {
          offeredAt = wallMs();
          const mine = offers.offers.filter((x) => x.gang_id === g.gang_id);
          if (mine.length !== g.offer_ids.length || g.tasks !== o.gang) partial++;
          let n = 0;
          gangFw.send({ type: 'ACCEPT_GANG', accept_gang: { gang_id: g.gang_id, launches: mine.map((x) => ({ offer_id: x.id!, operations: [{ type: 'LAUNCH', launch: { task_infos: [task(x.agent_id!.value, `gang-${n++}`)] } }] })) } });
        }
      };
      gangFw.onRunning = () => {
        if (gangFw.running === o.gang) resolve(wallMs());
      };
    });
    const declaredAt = wallMs();
    gangFw.send({
      type: 'UPDATE_FRAMEWORK',
      update_framework: { framework_info: { id: { value: gangFw.id }, name: 'gang', user: '', roles: ['*'], demand: { '*': { shapes: [], gangs: [{ gang_id: 'g256', shapes: [{ resources: TASK_QUANTITIES, count: o.gang }], spread: { kind: 'ONE_PER_AGENT' } }] } } } },
    });
    const runningAt = await this.wait(admitted);
    if (errors !== '') throw new Error(`the gang framework got errors: ${errors}`);
    return {
      [`gang_${o.gang}_admit_s`]: Math.round(runningAt - declaredAt) / 1000,
      gang_offer_s: Math.round(offeredAt - declaredAt) / 1000,
      competitor_tasks: launched,
      gang_admit_partial_gangs: partial,
    };
  }
}

// ---- preemption: a high-priority gang on a cluster full of low-priority tasks ----------------------

/** The kill grace the preemption scenario sets; the simulated victims take all of it to stop. */
const PREEMPTION_GRACE_MS = 2000;
const PREEMPTION_GANG = 64;

/**
 * `preemption_latency_s`: `--agents` agents (cpus:4) all full with a low-priority framework's
 * 1-cpu tasks; a framework of class "high" in role "prod" (preemption enabled, grace 2 s) declares
 * a 64-task one-per-agent gang of 2-cpu tasks with UPDATE_FRAMEWORK. The figure is the time from
 * that call to the gang's last TASK_RUNNING: the master chooses 128 victims, kills them with grace
 * (the simulated agents answer TASK_KILLED only when the grace is over, as for a task that ignores
 * SIGTERM), and offers the claimed agents to the gang. Target: grace + 1 s.
 */
class PreemptionLatency extends MasterScenario {
  protected async measure(): Promise<Figures> {
    const o = this.o;
    const slots = o.agents * 4;
    const address = await this.cluster(
      { priorityClasses: { low: -10, high: 100 }, preemption: { roles: ['prod'], killGraceMs: PREEMPTION_GRACE_MS } },
      { agents: o.agents, resources: 'cpus:4;mem:4096', expectedAcks: slots + PREEMPTION_GANG + 1, killTakesGrace: true },
    );
    this.phase = 'filling the cluster with low-priority tasks';
    const low = new SimFramework(address);
    this.frameworks.push(low);
    let launched = 0;
    const full = new Promise<void>((resolve) => {
      low.onOffers = (offers) => {
        for (const offer of offers.offers) {
          const agentId = offer.agent_id!.value;
          const room = Math.floor(offer.resources.find((r) => r.name === 'cpus')?.scalar?.value ?? 0);
          const tasks = Array.from({ length: Math.min(room, slots - launched) }, () => task(agentId, `low-${launched++}`));
          low.send({ type: 'ACCEPT', accept: { offer_ids: [offer.id!], operations: tasks.length === 0 ? [] : [{ type: 'LAUNCH', launch: { task_infos: tasks } }], filters: { refuse_seconds: 3600 } } });
        }
      };
      low.onRunning = () => {
        if (low.running === slots) resolve();
      };
    });
    await this.wait(low.subscribe({ name: 'backfill', roles: ['batch'], priority_class: 'low', demand: { batch: { shapes: [{ resources: TASK_QUANTITIES, count: slots }] } } }));
    await this.wait(full);
    this.log(`${slots} low-priority tasks run`);

    this.phase = 'preempting for the gang';
    const high = new SimFramework(address);
    this.frameworks.push(high);
    await this.wait(high.subscribe({ name: 'trainer', roles: ['prod'], priority_class: 'high', demand: { prod: { shapes: [] } } }));
    let errors = '';
    high.onError = (m) => (errors += `${m}\n`);
    let offeredAt = 0;
    const shape = [{ name: 'cpus', value: 2 }, { name: 'mem', value: 256 }];
    const running = new Promise<number>((resolve) => {
      high.onOffers = (offers) => {
        for (const g of offers.gangs) {
          offeredAt = wallMs();
          let n = 0;
          const mine = offers.offers.filter((x) => x.gang_id === g.gang_id);
          high.send({ type: 'ACCEPT_GANG', accept_gang: { gang_id: g.gang_id, launches: mine.map((x) => ({ offer_id: x.id!, operations: [{ type: 'LAUNCH', launch: { task_infos: [{ ...task(x.agent_id!.value, `train-${n++}`), resources: resourcesToWire(Resources.parse('cpus:2;mem:256')) }] } }] })) } });
        }
      };
      high.onRunning = () => {
        if (high.running === PREEMPTION_GANG) resolve(wallMs());
      };
    });
    const declaredAt = wallMs();
    high.send({ type: 'UPDATE_FRAMEWORK', update_framework: { framework_info: { id: { value: high.id }, name: 'trainer', user: '', roles: ['prod'], priority_class: 'high', demand: { prod: { shapes: [], gangs: [{ gang_id: 'train', shapes: [{ resources: shape, count: PREEMPTION_GANG }], spread: { kind: 'ONE_PER_AGENT' } }] } } } } });
    const runningAt = await this.wait(running);
    if (errors !== '') throw new Error(`the gang framework got errors: ${errors}`);
    return {
      preemption_latency_s: Math.round(runningAt - declaredAt) / 1000,
      preemption_offer_s: Math.round(offeredAt - declaredAt) / 1000,
      preemption_grace_s: PREEMPTION_GRACE_MS / 1000,
      preemption_victim_tasks: low.killed,
    };
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const out: Figures = { agents: o.agents, competitors: o.competitors };
  for (const s of SCENARIOS) {
    if (!o.json) process.stderr.write(`bench:batch: ${s.name}\n`);
    Object.assign(out, await s.run(o));
  }
  out.partial_gangs = (out.partial_gangs ?? 0) + (out.gang_admit_partial_gangs ?? 0);
  delete out.gang_admit_partial_gangs;
  process.stdout.write(`${JSON.stringify(out, o.json ? undefined : null, o.json ? undefined : 2)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:batch: ${(err as Error).message}\n`);
    process.exit(1);
  },
);

/**
 * The batch framework alone, on a fake clock, a memory store and a recording scheduler: the gang
 * demand it declares, ACCEPT_GANG written before it goes out, reclaim killing the borrower's tasks,
 * the deadline of a job that never got quota, the master refusing a gang, a stray task killed, the
 * submit-time cluster check with the numbers, and a restart that reconciles instead of relaunching.
 */
import { FakeClock } from '../../../../src/common/clock';
import { memoryLogger } from '../../../../src/common/logging';
import { Resources } from '../../../../src/common/resources';
import { resourcesToWire } from '../../../../src/common/wire';
import { BatchFramework } from '../../../../src/frameworks/batch';
import type { ClusterSource } from '../../../../src/frameworks/batch/cluster-size';
import type { FrameworkContext, SchedulerApi } from '../../../../src/frameworks/sdk/framework';
import type { GangLaunch, GangOffer } from '../../../../src/frameworks/sdk/gangs';
import { MemoryKeyValueStore } from '../../../../src/frameworks/sdk/store';
import type { FrameworkInfo } from '../../../../src/generated/berth/v1/FrameworkInfo';
import type { Offer__Output } from '../../../../src/generated/berth/v1/Offer';
import type { TaskStatus__Output } from '../../../../src/generated/berth/v1/TaskStatus';

class Recorder {
  readonly kills: string[] = [];
  readonly accepted: { gangId: string; taskIds: string[] }[] = [];
  readonly declined: string[] = [];
  readonly reconciled: string[][] = [];
  info: Partial<FrameworkInfo> | undefined;
  readonly api: SchedulerApi = {
    frameworkId: 'fw-1',
    connected: true,
    accept: () => undefined,
    launch: () => undefined,
    decline: () => undefined,
    acceptGang: (gangId: string, launches: readonly GangLaunch[]) => void this.accepted.push({ gangId, taskIds: launches.flatMap((l) => l.tasks.map((t) => t.task_id!.value!)) }),
    launchGang: () => undefined,
    declineGang: (gangId: string) => void this.declined.push(gangId),
    kill: (taskId: string) => void this.kills.push(taskId),
    revive: () => undefined,
    suppress: () => undefined,
    reconcile: (tasks) => void this.reconciled.push(tasks.map((t) => t.taskId)),
    updateFramework: (info) => void (this.info = info),
    teardown: async () => undefined,
  };

  gangs(): string[] {
    return (this.info?.demand?.['*']?.gangs ?? []).map((g) => g.gang_id!);
  }
}

const cluster = (cpus: number): ClusterSource => ({ size: async () => ({ total: { cpus, mem: cpus * 1024 }, largestAgent: { cpus: 4, mem: 4096 } }), close: () => undefined });

let seq = 0;
function gangOffer(gangId: string, resources = 'cpus:4;mem:4096'): GangOffer {
  const offer = { id: { value: `o-${++seq}` }, agent_id: { value: 'agent-1' }, hostname: 'h1', allocation_info: { role: '*' }, resources: resourcesToWire(Resources.parse(resources)), attributes: [], gang_id: gangId } as unknown as Offer__Output;
  return { gangId, role: '*', offers: [offer], tasks: 0, holdUntilMs: 0 };
}
const status = (taskId: string, state: string): TaskStatus__Output => ({ task_id: { value: taskId }, state, message: '', agent_id: { value: 'agent-1' } }) as unknown as TaskStatus__Output;

const QUEUES = 'queues:\n  - { name: q1, cohort: c, nominalQuota: { cpus: 2, mem: 2048 } }\n  - { name: q2, cohort: c, nominalQuota: { cpus: 2, mem: 2048 } }\n';
const job = (queue: string, tasks: number, extra = '') => `queue: ${queue}\ntasks: ${tasks}\nshape: { cpus: 1, mem: 256 }\ncommand: work\n${extra}`;

describe('BatchFramework', () => {
  let clock: FakeClock;
  let store: MemoryKeyValueStore;
  let rec: Recorder;
  let fw: BatchFramework;

  async function start(size: ClusterSource = cluster(8)): Promise<BatchFramework> {
    rec = new Recorder();
    const context = { clock, logger: memoryLogger('error'), store, scheduler: rec.api, options: { killGracePeriodMs: 0 } } as unknown as FrameworkContext;
    fw = new BatchFramework(context, size);
    await fw.start();
    await fw.registered({ frameworkId: 'fw-1', reregistered: false, master: '127.0.0.1:1' });
    return fw;
  }

  beforeEach(async () => {
    clock = new FakeClock(1_000_000);
    store = new MemoryKeyValueStore();
    await start();
    await fw.applyQueues(QUEUES);
  });
  afterEach(async () => {
    await fw.stop();
    expect(clock.pending).toBe(0);
  });

  test('an admitted job declares its gang; the gang offer is written LAUNCHED, then accepted whole', async () => {
    const j = await fw.submit(job('q1', 2));
    expect(rec.gangs()).toEqual([`${j.record.id}.1`]);
    await fw.gangOffers(gangOffer(`${j.record.id}.1`));
    expect(rec.accepted).toEqual([{ gangId: `${j.record.id}.1`, taskIds: [`${j.record.id}.1.0`, `${j.record.id}.1.1`] }]);
    const stored = await store.get<{ state: string; attempts: { tasks: { taskId: string }[] }[] }>(`jobs/${j.record.id}`);
    expect(stored!.state).toBe('RUNNING');
    expect(stored!.attempts[0]!.tasks.map((t) => t.taskId)).toEqual([`${j.record.id}.1.0`, `${j.record.id}.1.1`]);
    expect(rec.gangs()).toEqual([]);
    // A second offer of the same gang is declined: it launches once.
    await fw.gangOffers(gangOffer(`${j.record.id}.1`));
    expect(rec.declined).toEqual([`${j.record.id}.1`]);
  });

  test('reclaim kills the borrower\'s running tasks and requeues it without costing a retry', async () => {
    const own = await fw.submit(job('q1', 2));
    const borrower = await fw.submit(job('q1', 2));
    for (const j of [own, borrower]) await fw.gangOffers(gangOffer(`${j.record.id}.1`));
    const back = await fw.submit(job('q2', 2));
    expect(rec.kills).toEqual([`${borrower.record.id}.1.0`, `${borrower.record.id}.1.1`]);
    const evicted = await fw.getJob(borrower.record.id);
    expect([evicted.record.state, evicted.record.failures, evicted.record.attempts[0]!.outcome]).toEqual(['PENDING', 0, 'RECLAIMED']);
    expect(rec.gangs()).toEqual([`${back.record.id}.1`]);
    // The killed tasks' updates are recorded on the ended attempt and change nothing else.
    await fw.statusUpdate(status(`${borrower.record.id}.1.0`, 'TASK_KILLED'));
    expect((await fw.getJob(borrower.record.id)).record.state).toBe('PENDING');
  });

  test('a job whose tasks the master preempts keeps its quota, uses no retry, and declares its gang again (with its priority class)', async () => {
    const j = await fw.submit(job('q1', 2, 'priorityClass: prod\n'));
    expect(rec.info?.demand?.['*']?.gangs?.[0]).toMatchObject({ gang_id: `${j.record.id}.1`, priority_class: 'prod' });
    await fw.gangOffers(gangOffer(`${j.record.id}.1`));
    await fw.statusUpdate(status(`${j.record.id}.1.0`, 'TASK_RUNNING'));
    await fw.statusUpdate({ ...status(`${j.record.id}.1.0`, 'TASK_KILLED'), reason: 'REASON_CONTAINER_PREEMPTED', message: 'preempted for gang "g" of framework x' } as TaskStatus__Output);
    const after = await fw.getJob(j.record.id);
    expect([after.record.state, after.record.failures, after.record.attempts[0]!.outcome]).toEqual(['ADMITTED', 0, 'PREEMPTED']);
    expect(after.record.attempts[0]!.message).toContain('preempted for gang "g"');
    expect(rec.kills).toEqual([`${j.record.id}.1.1`]); // the rest of the gang is useless alone
    expect(rec.gangs()).toEqual([`${j.record.id}.2`]);
  });

  test('a job that never gets quota fails at its deadline, counted from submission', async () => {
    await fw.submit(job('q1', 4));
    const late = await fw.submit(job('q1', 1, 'deadlineSeconds: 30\n'));
    expect(late.reason).toBe('queue q1 at quota (cpus 4/2; the job needs cpus 1), cohort c has nothing to lend (cpus 4/4 in use)');
    clock.advance(29_999);
    await fw.idle();
    expect((await fw.getJob(late.record.id)).record.state).toBe('PENDING');
    clock.advance(1);
    await fw.idle();
    const failed = await fw.getJob(late.record.id);
    expect([failed.record.state, failed.record.message]).toEqual(['FAILED', 'its deadline of 30 s from submission passed while pending']);
  });

  test('the master refusing a declared gang fails the job with its words; a stray task is killed', async () => {
    const j = await fw.submit(job('q1', 2));
    await fw.error(`framework_info.demand["*"].gangs[0]: gang "${j.record.id}.1" can never be placed: it asks 2 × {cpus 1, mem 256}`);
    const failed = await fw.getJob(j.record.id);
    expect(failed.record.state).toBe('FAILED');
    expect(failed.record.message).toMatch(/^the master refused its gang: framework_info\.demand/);
    expect(rec.gangs()).toEqual([]);
    await fw.statusUpdate(status('someone-else.1.0', 'TASK_RUNNING'));
    expect(rec.kills).toEqual(['someone-else.1.0']);
  });

  test('a gang larger than the cluster is refused at submit with the numbers', async () => {
    await expect(fw.submit(job('q1', 9))).rejects.toThrow('tasks: the gang is larger than the whole cluster: it needs cpus 9/8 (9 tasks of cpus 1, mem 256); lower tasks or the shape');
    expect(fw.jobs.size).toBe(0);
  });

  test('a restart reconciles launched tasks instead of launching them again', async () => {
    const j = await fw.submit(job('q2', 2));
    await fw.gangOffers(gangOffer(`${j.record.id}.1`));
    await fw.stop();
    await start();
    expect(rec.reconciled).toEqual([[`${j.record.id}.1.0`, `${j.record.id}.1.1`]]);
    expect(rec.gangs()).toEqual([]);
    for (const t of [0, 1]) await fw.statusUpdate(status(`${j.record.id}.1.${t}`, 'TASK_FINISHED'));
    expect((await fw.getJob(j.record.id)).record.state).toBe('SUCCEEDED');
    expect(rec.accepted).toEqual([]);
  });
});

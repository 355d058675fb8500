/**
 * The batch framework end to end over real gRPC: a real master, two real agents (fake
 * containerizer: "sleep" runs until killed, "quick" succeeds, "crash" fails), the framework host
 * running the `batch` plugin, and the berth.v1.Batch API called as a client would. Two queues in one
 * cohort: q1 borrows q2's unused quota, then q2's job arrives, q1's youngest borrower is reclaimed
 * (its tasks killed, requeued with the reason) and q2's gang runs.
 */
import type * as grpc from '@grpc/grpc-js';
import type { GetTasksResponse__Output } from '../../src/generated/berth/v1/GetTasksResponse';
import { FrameworkCluster } from '../support/framework-cluster';
import { TestOperator } from '../support/master-harness';

interface Amounts { cpus: number; mem: number }
interface Attempt { attempt: number; outcome: string; message: string; tasks: { task_id: string; state: string }[] }
interface Job { id: string; state: string; reason: string; message: string; failures: number; attempts: Attempt[] }
interface QueueStatus { queue: { name: string }; used: Amounts; borrowed: Amounts; pending_jobs: number; admitted_jobs: number }

const QUEUES = `
queues:
  - { name: q1, cohort: research, nominalQuota: { cpus: 4, mem: 2048 } }
  - { name: q2, cohort: research, nominalQuota: { cpus: 4, mem: 2048 } }
`;
const gang = (queue: string, name: string, command: string, extra = '') => `queue: ${queue}\nname: ${name}\ntasks: 4\nshape: { cpus: 1, mem: 256 }\ncommand: ${command}\n${extra}`;

describe('batch framework over gRPC', () => {
  let cluster: FrameworkCluster;
  let operator: TestOperator;

  beforeAll(async () => {
    cluster = await FrameworkCluster.start({ agents: 2, plugins: [{ name: 'batch', module: 'batch', options: { killGracePeriodMs: 0 } }] });
    operator = new TestOperator(cluster.master.address);
    await call('ApplyQueues', { text: QUEUES });
  });

  afterAll(() => cluster.stop());

  const call = <T>(method: string, request: object): Promise<T> => cluster.call<T>('Batch', method, request);
  const job = async (id: string): Promise<Job> => (await call<{ job: Job }>('GetJob', { id })).job;
  const submit = async (text: string): Promise<Job> => (await call<{ job: Job }>('SubmitJob', { text })).job;
  const queue = async (name: string): Promise<QueueStatus> => (await call<{ queue: QueueStatus }>('GetQueue', { name })).queue;
  const runningTasks = async (prefix: string): Promise<string[]> => {
    const res = (await operator.call('GetTasks', {})) as GetTasksResponse__Output;
    return res.tasks.filter((t) => t.task_id!.value.startsWith(prefix) && t.state === 'TASK_RUNNING').map((t) => t.task_id!.value).sort();
  };

  it('q1 borrows what q2 leaves unused, then q2 reclaims it: the youngest borrower is killed and requeued, q2 runs', async () => {
    const own = await submit(gang('q1', 'own', 'sleep forever'));
    const borrower = await submit(gang('q1', 'borrower', 'sleep forever'));
    await cluster.cycleUntil(async () => (await job(own.id)).state === 'RUNNING' && (await job(borrower.id)).state === 'RUNNING', 'both q1 gangs to run');
    await cluster.cycleUntil(async () => (await runningTasks(borrower.id)).length === 4, 'the borrower\'s four tasks RUNNING');
    const q1 = await queue('q1');
    expect([q1.used.cpus, q1.borrowed.cpus, q1.admitted_jobs]).toEqual([8, 4, 2]);

    const reclaimer = await submit(gang('q2', 'reclaimer', 'sleep forever'));
    const evicted = await job(borrower.id);
    expect(evicted.state).toBe('PENDING');
    expect(evicted.attempts[0]!.outcome).toBe('RECLAIMED');
    expect(evicted.attempts[0]!.message).toBe(`reclaimed: queue q2 needs its nominal quota back for job ${reclaimer.id} (queue q1 was borrowing)`);
    expect(evicted.reason).toBe('queue q1 at quota (cpus 4/4; the job needs cpus 4), cohort research has nothing to lend (cpus 8/8 in use)');
    expect(evicted.failures).toBe(0);

    await cluster.cycleUntil(async () => (await job(reclaimer.id)).state === 'RUNNING', 'q2\'s gang to run on the reclaimed quota');
    await cluster.cycleUntil(async () => (await runningTasks(reclaimer.id)).length === 4, 'q2\'s four tasks RUNNING');
    expect(await runningTasks(borrower.id)).toEqual([]);
    expect(await runningTasks(own.id)).toHaveLength(4);
    expect((await queue('q2')).used.cpus).toBe(4);
    expect((await queue('q1')).borrowed.cpus).toBe(0);

    // Once q1's own job ends, the requeued borrower is admitted again (a new attempt, a new gang).
    await call('KillJob', { id: own.id });
    await cluster.cycleUntil(async () => (await job(borrower.id)).state === 'RUNNING', 'the requeued job to run again');
    const again = await job(borrower.id);
    expect(again.attempts.map((a) => a.attempt)).toEqual([1, 2]);
    expect(again.attempts[1]!.tasks.map((t) => t.task_id)).toEqual([0, 1, 2, 3].map((i) => `${borrower.id}.2.${i}`));

    // A queue with jobs cannot be removed; the refusal names them.
    await expect(call('DeleteQueue', { name: 'q2' })).rejects.toMatchObject({ code: 9, details: expect.stringContaining(`${reclaimer.id} (running)`) });
    for (const id of [borrower.id, reclaimer.id]) await call('KillJob', { id });
    await cluster.cycleUntil(async () => (await runningTasks('')).length === 0, 'every task killed');
  });

  it('a failing gang is retried as a new attempt, then fails when no retry is left', async () => {
    const flaky = await submit(gang('q1', 'flaky', 'crash now', 'retries: 1\n'));
    await cluster.cycleUntil(async () => (await job(flaky.id)).state === 'FAILED', 'the job to fail');
    const done = await job(flaky.id);
    expect(done.attempts.map((a) => a.outcome)).toEqual(['FAILED', 'FAILED']);
    expect(done.failures).toBe(2);
    expect(done.message).toMatch(/ended TASK_FAILED.*; no retry left \(1 used\)$/);
  });

  it('a gang whose tasks all finish succeeds', async () => {
    const ok = await submit(gang('q2', 'ok', 'quick'));
    await cluster.cycleUntil(async () => (await job(ok.id)).state === 'SUCCEEDED', 'the job to succeed');
    expect((await job(ok.id)).attempts[0]!.tasks.every((t) => t.state === 'TASK_FINISHED')).toBe(true);
  });

  it('the deadline kills the running gang and fails the job', async () => {
    const slow = await submit(gang('q1', 'slow', 'sleep forever', 'deadlineSeconds: 3\n'));
    await cluster.cycleUntil(async () => (await job(slow.id)).state === 'RUNNING', 'the job to run');
    await cluster.cycleUntil(async () => (await job(slow.id)).state === 'FAILED', 'the deadline', 1000);
    expect((await job(slow.id)).message).toBe('its deadline of 3 s from submission passed while running');
    await cluster.cycleUntil(async () => (await runningTasks(slow.id)).length === 0, 'its tasks killed');
  });

  it('a restarted framework host keeps its queues and jobs, and launches no running gang twice', async () => {
    const kept = await submit(gang('q2', 'kept', 'sleep forever'));
    await cluster.cycleUntil(async () => (await runningTasks(kept.id)).length === 4, 'the gang RUNNING');
    await cluster.stopHost();
    await cluster.startHost();
    expect((await call<{ queues: QueueStatus[] }>('ListQueues', {})).queues.map((q) => q.queue.name)).toEqual(['q1', 'q2']);
    for (let i = 0; i < 5; i++) {
      cluster.master.clock.advance(1000);
      cluster.hostClock.advance(1000);
      await new Promise((r) => setTimeout(r, 20));
    }
    const after = await job(kept.id);
    expect([after.state, after.attempts.length]).toEqual(['RUNNING', 1]);
    expect(await runningTasks(kept.id)).toHaveLength(4);
    await call('KillJob', { id: kept.id });
    await cluster.cycleUntil(async () => (await runningTasks(kept.id)).length === 0, 'its tasks killed');
  });

  it('refuses at submit a gang larger than the whole cluster, with the numbers', async () => {
    const err = (await submit(gang('q1', 'huge', 'x').replace('tasks: 4', 'tasks: 9')).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(3);
    expect(err.details).toContain('tasks: the gang is larger than the whole cluster: it needs cpus 9/8 (9 tasks of cpus 1, mem 256); lower tasks or the shape');
    const bad = (await call('ApplyQueues', { text: 'name: q3\ncohort: research\nnominalQuota: { cpus: 1 }\nborrowingLimit: { cpus: 9 }\n' }).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(bad.details).toContain('borrowingLimit.cpus: 9 is more than cohort research can lend (cpus 8: q1 4, q2 4)');
  });
});

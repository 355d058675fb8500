/**
 * The batch framework end to end over real gRPC: a real master, two real agents (fake
 * containerizer: "sleep" runs until killed, "quick" succeeds, "crash" fails), the framework host
 * running the `batch` plugin, and the berth.v1.Batch API called as a client would. Two queues in one
 * cohort: q1 borrows q2's unused quota, then q2's job arrives, q1's youngest borrower is reclaimed
 * (its tasks killed, requeued with the reason) and q2's gang runs. Then the `berth queue` and
 * `berth batch` commands on the same API.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { main } from '../../src/cli/main';
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

  it('berth queue apply / list / show / rm and berth batch submit / list / show / kill', async () => {
    const berth = async (...args: string[]) => {
      let stdout = '';
      let stderr = '';
      const code = await main(['node', 'berth', ...args, '--frameworks', cluster.host.grpcAddress!], { stdout: (x) => void (stdout += x), stderr: (x) => void (stderr += x) });
      return { code, stdout, stderr };
    };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-batch-cli-'));
    try {
      fs.writeFileSync(path.join(dir, 'queue.yaml'), 'name: adhoc\nnominalQuota: { cpus: 2, mem: 1024 }\n');
      expect(await berth('queue', 'apply', path.join(dir, 'queue.yaml'))).toMatchObject({ code: 0, stdout: 'created queue adhoc: nominal cpus 2, mem 1024\n' });
      fs.writeFileSync(path.join(dir, 'job.yaml'), 'queue: adhoc\nname: pair\ntasks: 2\nshape: { cpus: 1, mem: 256 }\ncommand: sleep forever\n');
      const submitted = await berth('batch', 'submit', path.join(dir, 'job.yaml'));
      expect(submitted.stdout).toMatch(/^submitted pair-\d+: admitted — admitted; waiting for the master to place the whole gang \(2 tasks, cpus 2, mem 512 in all\)\n$/);
      const id = /^submitted (\S+):/.exec(submitted.stdout)![1]!;
      const waiting = await berth('batch', 'submit', path.join(dir, 'job.yaml'));
      expect(waiting.stdout).toContain('pending — queue adhoc at quota (cpus 2/2; the job needs cpus 2) and it has no cohort to borrow from');
      const second = /^submitted (\S+):/.exec(waiting.stdout)![1]!;
      await cluster.cycleUntil(async () => (await job(id)).state === 'RUNNING', 'the CLI job to run');
      const list = await berth('queue', 'list');
      expect(list.stdout).toMatch(/^QUEUE\s+COHORT\s+WEIGHT\s+USED\/NOMINAL\s+BORROWED\s+ADMITTED\s+PENDING\n/);
      expect(list.stdout).toMatch(/adhoc\s+-\s+1\s+cpus 2\/2, mem 512\/1024\s+-\s+1\s+1/);
      const shown = await berth('queue', 'show', 'adhoc');
      expect(shown.stdout).toContain(`${second}  pending  2      cpus 2, mem 512  queue adhoc at quota`);
      expect((await berth('batch', 'list', '--queue', 'adhoc')).stdout).toMatch(new RegExp(`${id}\\s+adhoc\\s+running\\s+2\\s+1`));
      const show = await berth('batch', 'show', id);
      expect(show.stdout).toContain(`attempt 1 (gang ${id}.1): running`);
      expect(show.stdout).toContain(`${id}.1.0  TASK_RUNNING`);
      expect(JSON.parse((await berth('batch', 'show', id, '--json')).stdout)).toEqual(await job(id));
      const refused = await berth('queue', 'rm', 'adhoc');
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain(`queue adhoc still has 2 job(s) that have not ended: ${id} (running), ${second} (pending)`);
      for (const j of [id, second]) expect((await berth('batch', 'kill', j)).stdout).toBe(`killed ${j}\n`);
      expect(await berth('queue', 'rm', 'adhoc')).toMatchObject({ code: 0, stdout: 'removed queue adhoc\n' });
      expect((await berth('batch', 'show', 'nope')).stderr).toContain('no batch job "nope"');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

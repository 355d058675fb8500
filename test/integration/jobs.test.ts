/**
 * The jobs framework end to end over real gRPC: a real master, three real agents (fake containerizer;
 * "crash" in a command fails the task), the framework host running the `jobs` plugin and the
 * berth.v1.Jobs API called as a client would.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { main } from '../../src/cli/main';
import type { GetTasksResponse__Output } from '../../src/generated/berth/v1/GetTasksResponse';
import { FrameworkCluster } from '../support/framework-cluster';
import { TestOperator } from '../support/master-harness';

interface Attempt { attempt: number; task_id: string; state: string }
interface Run { run_id: string; status: string; trigger: string; attempts: Attempt[]; message: string }
interface History { success_count: string; failure_count: string; skipped_count: string }

describe('jobs framework over gRPC', () => {
  let cluster: FrameworkCluster;
  let operator: TestOperator;

  beforeAll(async () => {
    cluster = await FrameworkCluster.start({ agents: 3, plugins: [{ name: 'jobs', module: 'jobs', options: { declineRefuseSeconds: 1, idleRefuseSeconds: 1 } }] });
    operator = new TestOperator(cluster.master.address);
  });

  afterAll(() => cluster.stop());

  const call = <T>(method: string, request: object): Promise<T> => cluster.call<T>('Jobs', method, request);
  const runs = async (jobId: string): Promise<{ runs: Run[]; history: History }> => call('ListRuns', { job_id: jobId });
  const put = (job: object) => call('PutJob', { text: JSON.stringify(job) });

  it('runs a job now to SUCCESS and counts it in the history', async () => {
    await put({ id: 'hello', run: { cmd: 'echo quick hello', cpus: 0.1, mem: 32 } });
    const started = await call<{ run: Run }>('StartRun', { job_id: 'hello' });
    expect(started.run.trigger).toBe('MANUAL');
    await cluster.cycleUntil(async () => (await runs('hello')).runs[0]?.status === 'SUCCESS', 'the run to succeed');
    const { runs: list, history } = await runs('hello');
    expect(list[0]!.attempts.map((a) => [a.task_id, a.state])).toEqual([[`hello.${started.run.run_id}.1`, 'TASK_FINISHED']]);
    expect(Number(history.success_count)).toBe(1);
  });

  it('ON_FAILURE retries a failing run with a new attempt (a new task id) within its deadline', async () => {
    await put({ id: 'flaky', run: { cmd: 'crash please', cpus: 0.1, mem: 32, restart: { policy: 'ON_FAILURE', activeDeadlineSeconds: 3600 } } });
    const { run } = await call<{ run: Run }>('StartRun', { job_id: 'flaky' });
    await cluster.cycleUntil(async () => ((await runs('flaky')).runs.find((r) => r.run_id === run.run_id)?.attempts.length ?? 0) >= 3, 'three attempts');
    const attempts = (await runs('flaky')).runs.find((r) => r.run_id === run.run_id)!.attempts;
    expect(attempts.slice(0, 3).map((a) => a.task_id)).toEqual([1, 2, 3].map((n) => `flaky.${run.run_id}.${n}`));
    await call('StopRun', { job_id: 'flaky', run_id: run.run_id });
    await cluster.cycleUntil(async () => (await runs('flaky')).runs.find((r) => r.run_id === run.run_id)?.status === 'STOPPED', 'the run to stop');
  });

  it('NEVER fails the run at the first failure', async () => {
    await put({ id: 'once', run: { cmd: 'crash', cpus: 0.1, mem: 32, restart: { policy: 'NEVER' } } });
    await call('StartRun', { job_id: 'once' });
    await cluster.cycleUntil(async () => (await runs('once')).runs[0]?.status === 'FAILED', 'the run to fail');
    const { runs: list, history } = await runs('once');
    expect(list[0]!.attempts).toHaveLength(1);
    expect(Number(history.failure_count)).toBe(1);
  });

  it('FORBID skips a scheduled run while one is still active', async () => {
    await put({ id: 'minutely', run: { cmd: 'sleep forever', cpus: 0.1, mem: 32 }, schedules: [{ id: 'every-minute', cron: '* * * * *', timezone: 'UTC', concurrencyPolicy: 'FORBID', startingDeadlineSeconds: 30 }] });
    await cluster.cycleUntil(async () => (await runs('minutely')).runs.some((r) => r.status === 'ACTIVE'), 'the first scheduled run to be active', 5_000);
    await cluster.cycleUntil(async () => Number((await runs('minutely')).history.skipped_count) >= 1, 'a skipped instant', 5_000);
    expect((await runs('minutely')).runs.filter((r) => r.status === 'ACTIVE')).toHaveLength(1);
    await call('DeleteJob', { id: 'minutely', stop_current_runs: true });
  });

  it('a jobs framework killed and restarted mid-run takes the run back and launches no duplicate', async () => {
    await put({ id: 'long', run: { cmd: 'sleep forever', cpus: 0.1, mem: 32, restart: { policy: 'ON_FAILURE', activeDeadlineSeconds: 3600 } } });
    const { run } = await call<{ run: Run }>('StartRun', { job_id: 'long' });
    await cluster.cycleUntil(async () => (await runs('long')).runs[0]?.status === 'ACTIVE', 'the run to be active');
    await cluster.stopHost();
    await cluster.startHost();
    for (let i = 0; i < 10; i++) {
      cluster.master.clock.advance(1000);
      cluster.hostClock.advance(1000);
      await new Promise((r) => setTimeout(r, 20));
    }
    const after = (await runs('long')).runs.find((r) => r.run_id === run.run_id)!;
    expect(after.status).toBe('ACTIVE');
    expect(after.attempts.map((a) => a.task_id)).toEqual([`long.${run.run_id}.1`]);
    const tasks = await operator.call<GetTasksResponse__Output>('GetTasks', { include_completed: true });
    const mine = [...tasks.tasks, ...tasks.completed_tasks].filter((t) => t.task_id!.value.startsWith(`long.${run.run_id}.`));
    expect(mine.map((t) => [t.task_id!.value, t.state])).toEqual([[`long.${run.run_id}.1`, 'TASK_RUNNING']]);
  });

  it('refuses a job with a bad cron and an unknown time zone, reporting both, each naming field and value', async () => {
    const bad = { id: 'bad', run: { cmd: 'x', cpus: 0.1, mem: 32 }, schedules: [{ id: 's', cron: '61 * * * *', timezone: 'Mars/Olympus' }] };
    const refusal = (request: object) => call('PutJob', request).then(() => undefined, (e: grpc.ServiceError) => e);
    const both = 'schedules[0].timezone: unknown IANA time zone, got "Mars/Olympus"; schedules[0].cron: invalid cron expression: Invalid value for minute: 61, got "61 * * * *"';
    // As a JSON document (berth job add) and as a JobDefinition message: the same answer.
    expect(await refusal({ text: JSON.stringify(bad) })).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: both });
    expect(await refusal({ definition: { id: 'bad', run: { cmd: 'x', cpus: 0.1, mem: 32 }, schedules: [{ id: 's', cron: '61 * * * *', timezone: 'Mars/Olympus' }] } })).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: both });
    // A document that is not an object names the field it came in.
    expect(await refusal({ text: '"nightly"' })).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'text: must be a job definition (an object with id and run), got "nightly"' });
    expect(await refusal({ text: 'id: [' })).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/^text: is not valid JSON or YAML: /) });
    await expect(call('GetJob', { id: 'bad' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it('berth job add / run (waits for the end) / list / history / rm over the same API', async () => {
    const berth = async (...args: string[]) => {
      let stdout = '';
      let stderr = '';
      const code = await main(['node', 'berth', ...args, '--frameworks', cluster.host.grpcAddress!], { stdout: (x) => void (stdout += x), stderr: (x) => void (stderr += x) });
      return { code, stdout, stderr };
    };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cli-'));
    try {
      fs.writeFileSync(path.join(dir, 'job.yaml'), 'id: cli-job\nrun:\n  cmd: quick task\n  cpus: 0.1\n  mem: 32\nschedules:\n  - id: daily\n    cron: "0 4 * * *"\n    timezone: Europe/Berlin\n');
      expect(await berth('job', 'add', path.join(dir, 'job.yaml'))).toMatchObject({ code: 0, stdout: expect.stringMatching(/^created cli-job; daily next at \d{4}-\d\d-\d\dT0[23]:00:00Z\n$/) });
      let ran: { code: number; stdout: string } | undefined;
      const running = berth('job', 'run', 'cli-job').then((r) => (ran = r));
      await cluster.cycleUntil(async () => ran !== undefined, 'berth job run to return');
      await running;
      expect(ran).toMatchObject({ code: 0, stdout: expect.stringMatching(/run .* success after 1 attempt/) });
      expect(JSON.parse((await berth('job', 'list', '--prefix', 'cli-', '--json')).stdout)).toEqual(await call('ListJobs', { prefix: 'cli-' }));
      const history = await berth('job', 'history', 'cli-job');
      expect(history.stdout).toMatch(/^RUN\s+STATUS\s+TRIGGER/);
      expect(history.stdout).toMatch(/1 succeeded, 0 failed, 0 missed, 0 skipped/);
      expect((await berth('job', 'rm', 'cli-job')).code).toBe(0);
      expect(await berth('job', 'history', 'cli-job', '--limit', '0')).toMatchObject({ code: 2 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

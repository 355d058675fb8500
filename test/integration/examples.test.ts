/**
 * examples/ as a user runs them: `berth dev` (a child process, from the sources, Docker tasks only)
 * and every app and job definition of examples/apps and examples/jobs deployed through the CLI as
 * their README says. Each reaches its goal — the web server healthy, ready and answering on its
 * port; the worker healthy and working; the rolling update replacing one task at a time (followed
 * on the master's Watch stream: never fewer than N-1 running, never more than N alive); the worker
 * stopping gracefully when removed; the cron job
 * scheduled in its time zone and, run now, succeeding on its retry; the batch job finished with its
 * output; the batch queues applied and both batch gangs succeeding, the sweep on borrowed quota —
 * and everything is removed again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import { devAgentWorkDir } from '../../src/cli/dev-command';
import { main } from '../../src/cli/main';
import type { ClusterEvent__Output } from '../../src/generated/berth/v1/ClusterEvent';
import type { GetTasksResponse__Output } from '../../src/generated/berth/v1/GetTasksResponse';
import { appTasks, EXAMPLES, exampleFiles, httpGet, nextWallClock, type AppShow, type JobRun } from '../support/examples';
import { TestOperator, waitFor, type Inbox } from '../support/master-harness';

const RUN_BERTH = path.join(__dirname, '..', 'support', 'run-berth.js');

jest.setTimeout(40_000);

describe('examples/ on berth dev', () => {
  let child: ChildProcess;
  let out = '';
  let workDir: string;
  let files: string;
  let master = '';
  let frameworks = '';
  let operator: TestOperator;
  /** The worker's task, for its last words when it is removed. */
  let workerTask = '';

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-examples-'));
    files = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-examples-files-'));
    child = spawn(process.execPath, [RUN_BERTH, 'dev', '--work-dir', workDir, '--containerizers', 'docker',
      '--grpc-port', '0', '--http-port', '0', '--agent-http-port', '0', '--frameworks-port', '0', '--frameworks-http-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => /APIs on (\S+)/.test(out) || child.exitCode !== null, 'berth dev to say it runs', 30_000);
    master = /master\s+(\S+) \(gRPC\)/.exec(out)![1]!;
    frameworks = /APIs on (\S+)/.exec(out)![1]!;
    operator = new TestOperator(master);
  });

  afterAll(async () => {
    operator?.close();
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await new Promise((r) => child.once('exit', r));
      clearTimeout(timer);
    }
    const docker = new Dockerode();
    const { agentWorkDir } = devAgentWorkDir(workDir);
    const left = await docker.listContainers({ all: true, filters: { label: [`io.berth.scope=${agentWorkDir}`] } });
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    for (const dir of [workDir, files, agentWorkDir]) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The CLI, in this process, against the dev cluster; its output captured. */
  async function berth(...args: string[]): Promise<{ code: number; text: string }> {
    let text = '';
    const target = ['task', 'agent'].includes(args[0]!) ? ['--master', master] : ['--frameworks', frameworks];
    const code = await main(['node', 'berth', ...args, ...target], { stdout: (x) => void (text += x), stderr: (x) => void (text += x) });
    return { code, text };
  }
  async function json<T>(...args: string[]): Promise<T> {
    const r = await berth(...args, '--json');
    if (r.code !== 0) throw new Error(`berth ${args.join(' ')} exited ${r.code}: ${r.text}\n${out.slice(-2000)}`);
    return JSON.parse(r.text) as T;
  }
  const show = async (id: string): Promise<AppShow> => (await json<{ app: AppShow }>('app', 'show', id)).app;

  /** Deploys an example the way its comment says, and waits for the deployment (exit 0 = it succeeded). */
  async function deploy(file: string): Promise<void> {
    const r = await berth('app', 'deploy', file, '--timeout', '30s');
    expect({ code: r.code, text: r.text }).toEqual({ code: 0, text: expect.any(String) });
  }

  it('has a test for every example below (add yours here)', () => {
    expect(exampleFiles()).toEqual(['apps/rolling.yaml', 'apps/web.yaml', 'apps/worker.yaml', 'batch/queues.yaml', 'batch/sweep.yaml', 'batch/train.yaml', 'jobs/batch.yaml', 'jobs/nightly-report.yaml']);
  });

  it('apps/web.yaml, deployed with the command berth dev prints: two web servers, healthy and ready, each answering on its own port', async () => {
    const hint = / (app deploy \S+ --frameworks \S+)$/m.exec(out); // after the printed command prefix (npx berth, …)
    expect(hint).not.toBeNull();
    let text = '';
    const code = await main(['node', 'berth', ...hint![1]!.split(' '), '--timeout', '30s'], { stdout: (x) => void (text += x), stderr: (x) => void (text += x) });
    expect({ code, text }).toEqual({ code: 0, text: expect.any(String) });
    const app = await show('/examples/web');
    expect(app.status).toMatchObject({ instances: 2, running: 2, healthy: 2 });
    const tasks = appTasks(app);
    expect(tasks.map((t) => [t.state, t.healthy, t.ready])).toEqual([['TASK_RUNNING', true, true], ['TASK_RUNNING', true, true]]);
    for (const t of tasks) {
      expect(await httpGet(t.ports[0]!, '/')).toEqual({ status: 200, body: `hello from ${t.task_id}\n` });
      expect(await httpGet(t.ports[0]!, '/ready')).toEqual({ status: 200, body: 'ready\n' });
    }
  });

  it('apps/worker.yaml: a worker that passes its command health check and works, as its log says', async () => {
    await deploy(path.join(EXAMPLES, 'apps/worker.yaml'));
    const [task] = appTasks(await show('/examples/worker'));
    expect(task).toMatchObject({ state: 'TASK_RUNNING', healthy: true });
    workerTask = task!.task_id;
    const logs = await berth('task', 'logs', task!.task_id);
    expect(logs).toEqual({ code: 0, text: expect.stringMatching(/^worked on item 1 of queue thumbnails$/m) });
  });

  it('apps/rolling.yaml: an upgrade replaces the three tasks one at a time', async () => {
    await deploy(path.join(EXAMPLES, 'apps/rolling.yaml'));
    const before = appTasks(await show('/examples/rolling'));
    expect(before.map((t) => t.healthy)).toEqual([true, true, true]);

    // Follow the app's tasks on the master's Watch stream while the README's edit is deployed.
    const watch = operator.watch({});
    const snapshot = await watch.next((e) => e.type === 'SNAPSHOT', 'the Watch snapshot');
    const edited = path.join(files, 'rolling.yaml');
    fs.writeFileSync(edited, fs.readFileSync(path.join(EXAMPLES, 'apps/rolling.yaml'), 'utf8').replace(/^( +VERSION: )"1"$/m, '$1"2"'));
    await deploy(edited);
    const after = appTasks(await show('/examples/rolling'));
    // The Watch stream may trail the framework by a moment: wait for it to show the new tasks.
    const done = (): boolean => {
      const last = rollingTimeline(snapshot, watch, 'examples.rolling.').at(-1)!;
      return last.alive === 3 && after.every((t) => last.states.get(t.task_id) === 'TASK_RUNNING');
    };
    await waitFor(done, 'the Watch stream to show the three new tasks running');
    const timeline = rollingTimeline(snapshot, watch, 'examples.rolling.');
    expect(after.map((t) => [t.state, t.healthy])).toEqual([['TASK_RUNNING', true], ['TASK_RUNNING', true], ['TASK_RUNNING', true]]);
    expect(after.filter((t) => before.some((b) => b.task_id === t.task_id))).toEqual([]);
    for (const t of after) expect(await httpGet(t.ports[0]!, '/')).toEqual({ status: 200, body: `version 2 from ${t.task_id}\n` });
    // One at a time: at every moment at least two of the three running, and never a fourth.
    expect(timeline.length).toBeGreaterThanOrEqual(6);
    expect(Math.min(...timeline.map((p) => p.running))).toBe(2);
    expect(Math.max(...timeline.map((p) => p.alive))).toBe(3);
  });

  it('jobs/nightly-report.yaml: scheduled at 02:30 in Berlin; run now, it succeeds on its second attempt', async () => {
    const addedAt = Date.now();
    const added = await json<{ created: boolean; job: { schedules: { schedule: { cron: string; timezone: string }; next_fire_at: { nanoseconds: string } }[] } }>(
      'job', 'add', path.join(EXAMPLES, 'jobs/nightly-report.yaml'));
    expect(added.created).toBe(true);
    const listed = await json<{ jobs: { definition: { id: string }; schedules: { schedule: { cron: string; timezone: string }; next_fire_at: { nanoseconds: string } }[] }[] }>('job', 'list');
    const [schedule] = listed.jobs.find((j) => j.definition.id === 'examples.nightly-report')!.schedules;
    expect(schedule!.schedule).toMatchObject({ cron: '30 2 * * *', timezone: 'Europe/Berlin' });
    const next = Number(schedule!.next_fire_at.nanoseconds) / 1e6;
    expect(next).toBe(nextWallClock(addedAt, 'Europe/Berlin', 2, 30));

    const run = await json<JobRun>('job', 'run', 'examples.nightly-report');
    expect(run.status).toBe('SUCCESS');
    expect(run.attempts.map((a) => a.state)).toEqual(['TASK_FAILED', 'TASK_FINISHED']);
    const logs = await berth('task', 'logs', run.attempts[1]!.task_id);
    expect(logs.text).toMatch(new RegExp(`^attempt 2 of run ${run.run_id}: report for \\d{4}-\\d\\d-\\d\\d in /reports$`, 'm'));
  });

  it('jobs/batch.yaml: one run, one attempt, its result in the task\'s log', async () => {
    expect((await berth('job', 'add', path.join(EXAMPLES, 'jobs/batch.yaml'))).code).toBe(0);
    const run = await json<JobRun>('job', 'run', 'examples.batch');
    expect({ status: run.status, attempts: run.attempts.length }).toEqual({ status: 'SUCCESS', attempts: 1 });
    expect(await berth('task', 'logs', run.attempts[0]!.task_id)).toEqual({ code: 0, text: 'the sum of 1..1000 is 500500\n' });
  });

  it('batch/queues.yaml, train.yaml and sweep.yaml: two gangs succeed, the sweep on quota borrowed from vision', async () => {
    expect((await berth('queue', 'apply', path.join(EXAMPLES, 'batch/queues.yaml'))).text).toBe('created queue adhoc: nominal cpus 0.2, mem 128\ncreated queue nlp: nominal cpus 0.5, mem 512, cohort research\ncreated queue vision: nominal cpus 0.5, mem 512, cohort research\n');
    type BatchJob = { id: string; state: string; attempts: { tasks: { task_id: string }[] }[] };
    const train = await json<BatchJob>('batch', 'submit', path.join(EXAMPLES, 'batch/train.yaml'));
    const sweep = await json<BatchJob>('batch', 'submit', path.join(EXAMPLES, 'batch/sweep.yaml'));
    expect(sweep.state).toBe('ADMITTED');
    const nlp = await json<{ queue: { borrowed: { cpus: number } } }>('queue', 'show', 'nlp');
    expect(nlp.queue.borrowed.cpus).toBeCloseTo(0.3);
    let jobs: BatchJob[] = [];
    for (const deadline = Date.now() + 30_000; ;) {
      jobs = [await json<BatchJob>('batch', 'show', train.id), await json<BatchJob>('batch', 'show', sweep.id)];
      if (jobs.every((j) => j.state === 'SUCCEEDED')) break;
      if (Date.now() > deadline) throw new Error(`batch jobs not done after 30 s: ${JSON.stringify(jobs)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const task = jobs[0]!.attempts[0]!.tasks[0]!.task_id;
    expect(await berth('task', 'logs', task)).toEqual({ code: 0, text: 'rank 0 of 2, 3 epochs\n' });
    // nlp first: its borrowing limit needs vision's quota to borrow from.
    for (const q of ['nlp', 'vision', 'adhoc']) expect((await berth('queue', 'rm', q)).code).toBe(0);
  });

  it('removes every example: no app, no job, no task left running', async () => {
    for (const id of ['/examples/web', '/examples/worker', '/examples/rolling']) expect((await berth('app', 'rm', id)).code).toBe(0);
    for (const id of ['examples.nightly-report', 'examples.batch']) expect((await berth('job', 'rm', id)).code).toBe(0);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const live = (await operator.call<GetTasksResponse__Output>('GetTasks', {})).tasks.map((t) => t.task_id!.value);
      const apps = (await json<{ apps: unknown[] }>('app', 'list')).apps;
      if (live.length === 0 && apps.length === 0) break;
      if (Date.now() > deadline) throw new Error(`still there after 20 s: apps ${JSON.stringify(apps)}, tasks ${live.join(', ')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect((await json<{ jobs: unknown[] }>('job', 'list')).jobs).toEqual([]);
    // The worker stopped gracefully on SIGTERM: it finished its item and said so.
    expect((await berth('task', 'logs', workerTask)).text).toMatch(/^stopping after item \d+$/m);
  });
});

/**
 * The app's tasks after each Watch event since `snapshot`: how many are `running` (TASK_RUNNING),
 * how many `alive` (not yet ended: staging, starting, running, killing), and every task's state.
 */
function rollingTimeline(snapshot: ClusterEvent__Output, watch: Inbox<ClusterEvent__Output>, prefix: string): { running: number; alive: number; states: Map<string, string> }[] {
  const ENDED = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_UNKNOWN']);
  const states = new Map<string, string>();
  for (const t of snapshot.snapshot!.state!.tasks) if (t.task_id!.value.startsWith(prefix)) states.set(t.task_id!.value, t.state);
  const counts = (): { running: number; alive: number; states: Map<string, string> } => ({
    running: [...states.values()].filter((s) => s === 'TASK_RUNNING').length,
    alive: [...states.values()].filter((s) => !ENDED.has(s)).length,
    states: new Map(states),
  });
  const timeline = [counts()];
  for (const e of watch.log.slice(watch.log.indexOf(snapshot) + 1)) {
    const id = e.task_added?.task?.task_id?.value ?? e.task_updated?.status?.task_id?.value;
    if (id === undefined || !id.startsWith(prefix)) continue;
    states.set(id, e.task_added?.task?.state ?? e.task_updated!.state);
    timeline.push(counts());
  }
  return timeline;
}

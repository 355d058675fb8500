/**
 * `berth queue …` and `berth batch …`: the batch framework's API (berth.v1.Batch) for people —
 * tables by default, `--json` for scripts. Queues are applied from YAML/JSON files (create or
 * update); batch jobs are submitted from files and shown with why they wait.
 */
import type { Command } from 'commander';
import { readDefinition, withClient, withFrameworkOptions } from './app-command';
import type { CliOutput } from './io';
import { table, timeText } from './table';

interface Common {
  frameworks?: string;
  token?: string;
  json?: boolean;
}

type Time = { nanoseconds: string } | null | undefined;
interface Amounts { cpus: number; mem: number; disk: number; gpus: number }
interface QueueStatus { queue: { name: string; cohort: string; nominal_quota: Amounts; borrowing_limit?: Amounts | null; weight: number }; used: Amounts; borrowed: Amounts; pending_jobs: number; admitted_jobs: number; dominant_share: number }
interface Task { task_id: string; state: string; agent_id: string }
interface Attempt { attempt: number; gang_id: string; outcome: string; message: string; launched_at?: Time; ended_at?: Time; tasks: Task[] }
interface Job { id: string; definition: { queue: string; tasks: number; shape: Amounts; image: string; command: string; retries: number; deadline_seconds: number; priority: number }; state: string; reason: string; message: string; submitted_at?: Time; admitted_at?: Time; finished_at?: Time; deadline_at?: Time; failures: number; attempts: Attempt[]; demand: Amounts }

const NAMES = ['cpus', 'mem', 'disk', 'gpus'] as const;
const round = (v: number): number => Math.round(v * 1000) / 1000;

/** `cpus 8, mem 4096` (non-zero amounts), or `-`. */
function amounts(a: Amounts | null | undefined): string {
  const parts = NAMES.filter((r) => (a?.[r] ?? 0) !== 0).map((r) => `${r} ${round(a![r])}`);
  return parts.length === 0 ? '-' : parts.join(', ');
}

/** `cpus 6/8, mem 1024/4096`: used over nominal for each resource the queue has quota of. */
function usage(s: QueueStatus): string {
  const named = NAMES.filter((r) => (s.queue.nominal_quota[r] ?? 0) > 0 || (s.used[r] ?? 0) > 0);
  return named.map((r) => `${r} ${round(s.used[r] ?? 0)}/${round(s.queue.nominal_quota[r] ?? 0)}`).join(', ') || '-';
}

function queueText(s: QueueStatus, jobs: readonly Job[]): string {
  const q = s.queue;
  const lines = [
    `queue ${q.name}${q.cohort ? ` (cohort ${q.cohort}, weight ${q.weight})` : ` (no cohort, weight ${q.weight})`}`,
    `  nominal quota    ${amounts(q.nominal_quota)}`,
    `  borrowing limit  ${q.borrowing_limit ? amounts(q.borrowing_limit) : q.cohort ? 'what the cohort leaves unused' : '- (no cohort)'}`,
    `  used             ${usage(s)}`,
    `  borrowed         ${amounts(s.borrowed)}`,
    `  dominant share   ${round(s.dominant_share)}`,
    `  jobs             ${s.admitted_jobs} admitted or running, ${s.pending_jobs} pending`,
  ];
  const body = jobs.length === 0 ? '' : `\n${table(['JOB', 'STATE', 'TASKS', 'DEMAND', 'REASON'], jobs.map((j) => [j.id, j.state.toLowerCase(), j.definition.tasks, amounts(j.demand), j.reason || '-']))}`;
  return `${lines.join('\n')}\n${body}`;
}

function jobText(j: Job): string {
  const d = j.definition;
  const lines = [
    `job ${j.id}: ${j.state.toLowerCase()}${j.reason ? ` — ${j.reason}` : ''}${j.message ? ` — ${j.message}` : ''}`,
    `  queue        ${d.queue} (priority ${d.priority})`,
    `  gang         ${d.tasks} tasks of ${amounts(d.shape)} = ${amounts(j.demand)}`,
    `  runs         ${d.image ? `${d.image}: ` : ''}${d.command}`,
    `  retries      ${j.failures} failed of ${d.retries} retries allowed`,
    `  submitted    ${timeText(j.submitted_at)}${j.deadline_at ? `, deadline ${timeText(j.deadline_at)}` : ''}${j.finished_at ? `, ended ${timeText(j.finished_at)}` : ''}`,
  ];
  const attempts = j.attempts.map((a) => `  attempt ${a.attempt} (gang ${a.gang_id}): ${a.outcome ? a.outcome.toLowerCase() : a.launched_at ? 'running' : 'waiting for its gang offer'}${a.message ? ` — ${a.message}` : ''}${a.tasks.length > 0 ? `\n${a.tasks.map((t) => `    ${t.task_id}  ${t.state || '-'}  ${t.agent_id || '-'}`).join('\n')}` : ''}`);
  return `${[...lines, ...attempts].join('\n')}\n`;
}

export function registerBatchCommands(program: Command, out: CliOutput): void {
  const print = (json: boolean | undefined, value: unknown, text: () => string): void => out.stdout(json ? `${JSON.stringify(value, null, 2)}\n` : text());

  const queue = program.command('queue').description('batch queues: nominal quota, cohorts, borrowing and fair share (the batch framework)');
  withFrameworkOptions(queue.command('apply').description('create or update queues from a YAML or JSON file (one queue, or queues: [...])').argument('<file>', 'the queue document (- for stdin)'))
    .addHelpText('after', '\nExamples:\n  berth queue apply examples/batch/queues.yaml\n  echo \'{"name": "adhoc", "nominalQuota": {"cpus": 2, "mem": 2048}}\' | berth queue apply -')
    .action(async (file: string, opts: Common) => {
      const text = readDefinition(file);
      await withClient('Batch', opts, async (c) => {
        const res = await c.call<{ queues: QueueStatus[]; created: string[] }>('ApplyQueues', { text });
        print(opts.json, res, () => res.queues.map((s) => `${res.created.includes(s.queue.name) ? 'created' : 'updated'} queue ${s.queue.name}: nominal ${amounts(s.queue.nominal_quota)}${s.queue.cohort ? `, cohort ${s.queue.cohort}` : ''}\n`).join(''));
      });
    });
  withFrameworkOptions(queue.command('list').description('every queue with its usage'))
    .action(async (opts: Common) => withClient('Batch', opts, async (c) => {
      const res = await c.call<{ queues: QueueStatus[] }>('ListQueues', {});
      print(opts.json, res, () => table(['QUEUE', 'COHORT', 'WEIGHT', 'USED/NOMINAL', 'BORROWED', 'ADMITTED', 'PENDING'], res.queues.map((s) => [
        s.queue.name, s.queue.cohort || '-', s.queue.weight, usage(s), amounts(s.borrowed), s.admitted_jobs, s.pending_jobs,
      ])));
    }));
  withFrameworkOptions(queue.command('show').description('one queue: quota, usage, borrowed, and its jobs with why they wait').argument('<name>'))
    .action(async (name: string, opts: Common) => withClient('Batch', opts, async (c) => {
      const res = await c.call<{ queue: QueueStatus; jobs: Job[] }>('GetQueue', { name });
      print(opts.json, res, () => queueText(res.queue, res.jobs));
    }));
  withFrameworkOptions(queue.command('rm').description('remove a queue (refused while it has jobs that have not ended)').argument('<name>'))
    .action(async (name: string, opts: Common) => withClient('Batch', opts, async (c) => {
      const res = await c.call<object>('DeleteQueue', { name });
      print(opts.json, res, () => `removed queue ${name}\n`);
    }));

  const batch = program.command('batch').description('batch jobs: gangs of N tasks admitted by queue quota (the batch framework)');
  withFrameworkOptions(batch.command('submit').description('submit a batch job from a YAML or JSON file').argument('<file>', 'the job document (- for stdin)'))
    .addHelpText('after', '\nExamples:\n  berth batch submit examples/batch/train.yaml\n  berth batch submit job.json --json')
    .action(async (file: string, opts: Common) => {
      const text = readDefinition(file);
      await withClient('Batch', opts, async (c) => {
        const { job } = await c.call<{ job: Job }>('SubmitJob', { text });
        print(opts.json, job, () => `submitted ${job.id}: ${job.state.toLowerCase()}${job.reason ? ` — ${job.reason}` : ''}\n`);
      });
    });
  withFrameworkOptions(batch.command('list').description('batch jobs, oldest first (those that have not ended, unless --all)').option('--queue <name>', 'only this queue\'s jobs').option('--all', 'also jobs that ended'))
    .action(async (opts: Common & { queue?: string; all?: boolean }) => withClient('Batch', opts, async (c) => {
      const res = await c.call<{ jobs: Job[] }>('ListJobs', { queue: opts.queue ?? '', include_finished: opts.all === true });
      print(opts.json, res, () => table(['JOB', 'QUEUE', 'STATE', 'TASKS', 'ATTEMPTS', 'SUBMITTED', 'REASON'], res.jobs.map((j) => [
        j.id, j.definition.queue, j.state.toLowerCase(), j.definition.tasks, j.attempts.length, timeText(j.submitted_at), j.reason || j.message || '-',
      ])));
    }));
  withFrameworkOptions(batch.command('show').description('one batch job: state, why it waits, attempts and their tasks').argument('<id>'))
    .action(async (id: string, opts: Common) => withClient('Batch', opts, async (c) => {
      const { job } = await c.call<{ job: Job }>('GetJob', { id });
      print(opts.json, job, () => jobText(job));
    }));
  withFrameworkOptions(batch.command('kill').description('kill a batch job: its tasks are killed and it ends KILLED').argument('<id>'))
    .action(async (id: string, opts: Common) => withClient('Batch', opts, async (c) => {
      const { job } = await c.call<{ job: Job }>('KillJob', { id });
      print(opts.json, job, () => `killed ${job.id}\n`);
    }));
}

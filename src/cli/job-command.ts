/**
 * `berth job …`: the jobs framework's API (berth.v1.Jobs) for people — tables by default, `--json`
 * for scripts; `job run` waits for the run to end (exit 1 when it did not succeed) unless `--detach`.
 */
import type { Command } from 'commander';
import { BerthError } from '../common/errors';
import { readDefinition, withClient, withFrameworkOptions } from './app-command';
import { CliExit, type CliOutput } from './io';
import { table, timeText } from './table';

interface Common {
  frameworks?: string;
  token?: string;
  json?: boolean;
}

type Time = { nanoseconds: string } | null | undefined;
interface Run { job_id: string; run_id: string; status: string; trigger: string; created_at?: Time; finished_at?: Time; attempts: { task_id: string; state: string }[]; message: string }
interface History { success_count: string; failure_count: string; missed_count: string; skipped_count: string; last_success_at?: Time; last_failure_at?: Time }
interface JobStatus { definition: { id: string; description: string }; schedules: { schedule: { id: string; cron: string; timezone: string }; next_fire_at?: Time }[]; active_runs: Run[]; history: History }

const ENDED = new Set(['SUCCESS', 'FAILED', 'STOPPED', 'MISSED', 'SKIPPED']);

export function registerJobCommands(program: Command, out: CliOutput): void {
  const job = program.command('job').description('batch and cron jobs (the jobs framework)');
  const print = (json: boolean | undefined, value: unknown, text: () => string): void => out.stdout(json ? `${JSON.stringify(value, null, 2)}\n` : text());

  withFrameworkOptions(job.command('add').description('create or replace a job from a JSON or YAML definition').argument('<file>', 'the job definition (- for stdin)'))
    .addHelpText('after', '\nExamples:\n  berth job add nightly.yaml\n  berth job add backup.json --json')
    .action(async (file: string, opts: Common) => {
      const text = readDefinition(file);
      await withClient('Jobs', opts, async (c) => {
        const res = await c.call<{ job: JobStatus; created: boolean }>('PutJob', { text });
        print(opts.json, res, () => `${res.created ? 'created' : 'replaced'} ${res.job.definition.id}${res.job.schedules.map((s) => `; ${s.schedule.id} next at ${timeText(s.next_fire_at)}`).join('')}\n`);
      });
    });

  withFrameworkOptions(job.command('run').description('start a run now; waits for it to end').argument('<job-id>').option('--detach', 'do not wait'))
    .action(async (id: string, opts: Common & { detach?: boolean }) => withClient('Jobs', opts, async (c) => {
      const { run } = await c.call<{ run: Run }>('StartRun', { job_id: id });
      if (opts.detach === true) {
        print(opts.json, run, () => `started run ${run.run_id}\n`);
        return;
      }
      if (opts.json !== true) out.stdout(`started run ${run.run_id}\n`);
      for (;;) {
        const runs = (await c.call<{ runs: Run[] }>('ListRuns', { job_id: id, limit: 20 })).runs;
        const now = runs.find((r) => r.run_id === run.run_id);
        if (now === undefined) throw new BerthError('NOT_FOUND', `run ${run.run_id} is gone`);
        if (ENDED.has(now.status)) {
          print(opts.json, now, () => `run ${now.run_id} ${now.status.toLowerCase()} after ${now.attempts.length} attempt(s)${now.message ? `: ${now.message}` : ''}\n`);
          if (now.status !== 'SUCCESS') throw new CliExit(1);
          return;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }));

  withFrameworkOptions(job.command('list').description('every job with its schedules and history').option('--prefix <id>', 'only jobs whose id starts with this'))
    .action(async (opts: Common & { prefix?: string }) => withClient('Jobs', opts, async (c) => {
      const res = await c.call<{ jobs: JobStatus[] }>('ListJobs', { prefix: opts.prefix ?? '' });
      print(opts.json, res, () => table(['ID', 'SCHEDULE', 'NEXT', 'ACTIVE', 'SUCCESS', 'FAILED', 'LAST SUCCESS'], res.jobs.map((j) => [
        j.definition.id, j.schedules.map((s) => `${s.schedule.cron} ${s.schedule.timezone}`).join(' | ') || '-', timeText(j.schedules[0]?.next_fire_at), j.active_runs.length,
        j.history.success_count, j.history.failure_count, timeText(j.history.last_success_at),
      ])));
    }));

  withFrameworkOptions(job.command('history').description('a job\'s runs, newest first').argument('<job-id>').option('--limit <n>', 'at most this many runs', '20'))
    .action(async (id: string, opts: Common & { limit: string }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new BerthError('INVALID_ARGUMENT', `--limit must be a positive integer, got "${opts.limit}"`);
      await withClient('Jobs', opts, async (c) => {
        const res = await c.call<{ runs: Run[]; history: History }>('ListRuns', { job_id: id, limit });
        print(opts.json, res, () => `${table(['RUN', 'STATUS', 'TRIGGER', 'STARTED', 'FINISHED', 'ATTEMPTS', 'MESSAGE'], res.runs.map((r) => [
          r.run_id, r.status.toLowerCase(), r.trigger.toLowerCase(), timeText(r.created_at), timeText(r.finished_at), r.attempts.length, r.message || '-',
        ]))}\n${res.history.success_count} succeeded, ${res.history.failure_count} failed, ${res.history.missed_count} missed, ${res.history.skipped_count} skipped\n`);
      });
    });

  withFrameworkOptions(job.command('rm').description('delete a job').argument('<job-id>').option('--stop-runs', 'also stop its active runs'))
    .action(async (id: string, opts: Common & { stopRuns?: boolean }) => withClient('Jobs', opts, async (c) => {
      const res = await c.call<{ stopped_run_ids: string[] }>('DeleteJob', { id, stop_current_runs: opts.stopRuns === true });
      print(opts.json, res, () => `deleted ${id}${res.stopped_run_ids.length > 0 ? `; stopped ${res.stopped_run_ids.join(', ')}` : ''}\n`);
    }));
}

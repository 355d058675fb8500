/**
 * `berth task …`: tasks as the master sees them. For now `task logs` (Operator.ReadTaskLog): print the
 * last lines (or bytes) of a task's stdout or stderr, or all of it, and with `--follow` keep printing what it writes
 * until the task has ended and everything is printed (or Ctrl-C).
 */
import type { Command } from 'commander';
import { BerthError } from '../common/errors';
import type { GetTasksResponse__Output } from '../generated/berth/v1/GetTasksResponse';
import type { ReadTaskLogResponse__Output } from '../generated/berth/v1/ReadTaskLogResponse';
import type { CliOutput } from './io';
import type { Operator } from './operator-client';

/** The most ReadTaskLog returns per call. */
const CHUNK = 1024 * 1024;
/** Lines `berth task logs` prints without --tail, --tail-bytes or --all. */
const DEFAULT_TAIL_LINES = 100;
const TERMINAL = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR']);

interface LogsOptions {
  master?: string;
  token?: string;
  framework?: string;
  stderr?: boolean;
  tail?: string;
  tailBytes?: string;
  all?: boolean;
  follow?: boolean;
  intervalMs: string;
}

const flagOf = (k: 'tail' | 'tailBytes' | 'all'): string => (k === 'tailBytes' ? '--tail-bytes' : `--${k}`);

function nonNegativeInt(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new BerthError('INVALID_ARGUMENT', `${flag} must be a non-negative integer, got "${value}"`);
  return n;
}

export function registerTaskCommand(program: Command, out: CliOutput): void {
  const task = program.command('task').description('tasks: their logs (more to come)');
  task
    .command('logs')
    .description('print a task\'s stdout (or stderr), read from its agent through the master')
    .argument('<task-id>', 'the task')
    .option('--framework <id>', 'the task\'s framework (needed only when several frameworks have a task with this id)')
    .option('--stderr', 'read stderr instead of stdout')
    .option('--tail <lines>', `print the last LINES lines of the log (default ${DEFAULT_TAIL_LINES}; at most 100000)`)
    .option('--tail-bytes <bytes>', 'print the last BYTES bytes of the log instead (may start mid-line)')
    .option('--all', 'print the whole log from its start')
    .option('-f, --follow', 'keep printing new output until the task has ended (or Ctrl-C)')
    .option('--interval-ms <ms>', 'how often --follow asks for new output', '1000')
    .option('--master <host:port>', 'the master (or BERTH_MASTER)', undefined)
    .option('--token <token>', 'bearer token (or BERTH_TOKEN)', undefined)
    .option('--tls-ca-file <file>', 'CA certificate of a TLS server (or BERTH_TLS_CA_FILE; a client certificate: BERTH_TLS_CERT_FILE, BERTH_TLS_KEY_FILE)')
    .addHelpText('after', '\nExamples:\n  berth task logs web.1 --tail 40\n  berth task logs web.1 --tail-bytes 4096\n  berth task logs nightly-run --stderr --follow --master 10.0.0.1:5050')
    .action(async (taskId: string, opts: LogsOptions) => {
      const chosen = (['tail', 'tailBytes', 'all'] as const).filter((k) => opts[k] !== undefined);
      if (chosen.length > 1) throw new BerthError('INVALID_ARGUMENT', `${chosen.map(flagOf).join(' and ')} do not go together: use one of --tail <lines>, --tail-bytes <bytes>, --all`);
      const tailBytes = opts.tailBytes === undefined ? undefined : nonNegativeInt('--tail-bytes', opts.tailBytes);
      const tailLines = opts.tail === undefined ? DEFAULT_TAIL_LINES : nonNegativeInt('--tail', opts.tail);
      if (tailLines > 100_000) throw new BerthError('INVALID_ARGUMENT', `--tail must be at most 100000 lines, got "${opts.tail}"; use --all or --tail-bytes for more`);
      const intervalMs = Math.max(50, nonNegativeInt('--interval-ms', opts.intervalMs));
      const { Operator, operatorTarget } = require('./operator-client') as typeof import('./operator-client');
      const operator = new Operator(operatorTarget(opts));
      try {
        const base = {
          task_id: { value: taskId },
          ...(opts.framework !== undefined ? { framework_id: { value: opts.framework } } : {}),
          stream: opts.stderr === true ? 'STDERR' : 'STDOUT',
        };
        const read = (offset: number): Promise<ReadTaskLogResponse__Output> => operator.call('ReadTaskLog', { ...base, offset, length: CHUNK });
        // Where to start: the start of the log, `--tail-bytes` before its end, or the start of its
        // last `--tail` lines (the agent counts them back from the end).
        let offset = 0;
        if (tailBytes !== undefined) {
          const probe = await read(-Math.max(tailBytes, 1));
          offset = tailBytes === 0 ? Number(probe.size) : Number(probe.offset);
        } else if (opts.all !== true) {
          const probe = await operator.call<ReadTaskLogResponse__Output>('ReadTaskLog', { ...base, length: 1, ...(tailLines > 0 ? { tail_lines: tailLines } : { offset: -1 }) });
          offset = tailLines === 0 ? Number(probe.size) : Number(probe.offset);
        }
        let stopped = false;
        const onSigint = (): void => {
          stopped = true;
        };
        process.once('SIGINT', onSigint);
        try {
          for (;;) {
            const chunk = await read(offset);
            if (chunk.data.length > 0) {
              out.stdout(chunk.data.toString('utf8'));
              offset = Number(chunk.offset) + chunk.data.length;
              if (offset < Number(chunk.size)) continue; // more to read now
            }
            if (opts.follow !== true || stopped) return;
            if (await ended(operator, taskId, opts.framework)) {
              // One last read: what it wrote just before ending.
              const last = await read(offset);
              if (last.data.length > 0) out.stdout(last.data.toString('utf8'));
              return;
            }
            await new Promise((r) => setTimeout(r, intervalMs));
            if (stopped) return;
          }
        } finally {
          process.removeListener('SIGINT', onSigint);
        }
      } finally {
        operator.close();
      }
    });
}

/** Whether the master knows the task only as a completed one (or not at all any more). */
async function ended(operator: Operator, taskId: string, frameworkId: string | undefined): Promise<boolean> {
  const res = await operator.call<GetTasksResponse__Output>('GetTasks', { include_completed: true, ...(frameworkId !== undefined ? { framework_id: { value: frameworkId } } : {}) });
  const live = res.tasks.find((t) => t.task_id?.value === taskId);
  if (live !== undefined) return TERMINAL.has(live.state);
  return true;
}

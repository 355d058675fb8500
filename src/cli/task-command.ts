/**
 * `berth task …`: tasks as the master sees them. For now `task logs` (Operator.ReadTaskLog): print the
 * end of a task's stdout or stderr, or all of it, and with `--follow` keep printing what it writes
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
const TERMINAL = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR']);

interface LogsOptions {
  master?: string;
  token?: string;
  framework?: string;
  stderr?: boolean;
  tail: string;
  all?: boolean;
  follow?: boolean;
  intervalMs: string;
}

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
    .option('--tail <bytes>', 'print the last BYTES of the log', '65536')
    .option('--all', 'print the whole log from its start')
    .option('-f, --follow', 'keep printing new output until the task has ended (or Ctrl-C)')
    .option('--interval-ms <ms>', 'how often --follow asks for new output', '1000')
    .option('--master <host:port>', 'the master (or BERTH_MASTER)', undefined)
    .option('--token <token>', 'bearer token (or BERTH_TOKEN)', undefined)
    .option('--tls-ca-file <file>', 'CA certificate of a TLS server (or BERTH_TLS_CA_FILE; a client certificate: BERTH_TLS_CERT_FILE, BERTH_TLS_KEY_FILE)')
    .addHelpText('after', '\nExamples:\n  berth task logs web.1 --tail 4096\n  berth task logs nightly-run --stderr --follow --master 10.0.0.1:5050')
    .action(async (taskId: string, opts: LogsOptions) => {
      const tail = nonNegativeInt('--tail', opts.tail);
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
        // Where to start: the start of the log, or `tail` bytes before its end.
        let offset = 0;
        if (opts.all !== true) {
          const probe = await read(-Math.max(tail, 1));
          offset = tail === 0 ? Number(probe.size) : Number(probe.offset);
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

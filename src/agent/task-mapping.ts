/** How the agent reads the wire: durations, a task's ports, and a container's end as a task status. */
import * as os from 'node:os';
import { durationFromWire, resourcesFromWire } from '../common/wire';
import type { DurationInfo } from '../generated/berth/v1/DurationInfo';
import type { TaskInfo } from '../generated/berth/v1/TaskInfo';
import type { TaskStatus } from '../generated/berth/v1/TaskStatus';
import type { ContainerExit } from './containerizer/containerizer';

/**
 * A wire duration in ms, or undefined when absent or malformed (a bad kill-policy override must not
 * stop a kill: the default grace then applies). Parsing is the wire edge's `durationFromWire`.
 */
export function durationMs(d: DurationInfo | null | undefined): number | undefined {
  try {
    return durationFromWire(d);
  } catch {
    return undefined;
  }
}

/**
 * The exit code reported in `container_status.exit_code`: the process's own exit status, or, when a
 * signal ended it, 128 + the signal's number (as a shell reports it, and as the Docker engine does,
 * which cannot tell the two apart). Undefined when unknown (never started, or ended while no agent
 * watched it).
 */
export function reportedExitCode(exit: ContainerExit): number | undefined {
  if (exit.reason === 'LAUNCH_FAILED') return undefined;
  if (exit.exitCode !== undefined) return exit.exitCode;
  const signo = exit.signal === undefined ? undefined : (os.constants.signals as Record<string, number | undefined>)[exit.signal];
  return signo === undefined ? undefined : 128 + signo;
}

/** A terminal status as {@link terminalStatus} gives it. */
export type TerminalStatus = Pick<TaskStatus, 'state' | 'reason' | 'message' | 'container_status'> & { source: 'SOURCE_AGENT' | 'SOURCE_EXECUTOR' };

/**
 * Maps a container's end to the task's terminal status (state, reason, message, source, exit code).
 * The end of the task's own process — on its own, by a requested kill, or at its max completion
 * time — is SOURCE_EXECUTOR (the agent's supervision of the task stands in for Mesos's executor);
 * a launch failure or a limit the agent enforced (OOM) is SOURCE_AGENT.
 */
export function terminalStatus(exit: ContainerExit, killRequested: boolean): TerminalStatus {
  const code = reportedExitCode(exit);
  const withCode = code === undefined ? {} : { container_status: { exit_code: code } };
  const executor = (s: Pick<TaskStatus, 'state' | 'reason' | 'message'>): TerminalStatus => ({ ...s, source: 'SOURCE_EXECUTOR', ...withCode });
  switch (exit.reason) {
    case 'KILLED':
      return executor({ state: 'TASK_KILLED', reason: 'REASON_UNSPECIFIED', message: exit.message });
    case 'MAX_COMPLETION_TIME_REACHED':
      return executor({ state: 'TASK_FAILED', reason: 'REASON_MAX_COMPLETION_TIME_REACHED', message: exit.message });
    case 'LAUNCH_FAILED':
      return { state: killRequested ? 'TASK_KILLED' : 'TASK_FAILED', reason: killRequested ? 'REASON_TASK_KILLED_DURING_LAUNCH' : 'REASON_CONTAINER_LAUNCH_FAILED', message: exit.message, source: 'SOURCE_AGENT' };
    case 'OOM':
      return { state: 'TASK_FAILED', reason: 'REASON_CONTAINER_LIMITATION_MEMORY', message: exit.message, source: 'SOURCE_AGENT', ...withCode };
    case 'EXITED':
    default:
      if (killRequested) return executor({ state: 'TASK_KILLED', reason: 'REASON_UNSPECIFIED', message: exit.message });
      if (exit.exitCode === 0) return executor({ state: 'TASK_FINISHED', reason: 'REASON_UNSPECIFIED', message: 'Command exited with status 0' });
      if (exit.exitCode !== undefined) {
        const why = exit.detail !== undefined ? ` (stderr: ${exit.detail})` : '';
        return executor({ state: 'TASK_FAILED', reason: 'REASON_COMMAND_EXECUTOR_FAILED', message: `Command exited with status ${exit.exitCode}${why}` });
      }
      return executor({ state: 'TASK_FAILED', reason: 'REASON_COMMAND_EXECUTOR_FAILED', message: exit.signal !== undefined ? `Command terminated by signal ${exit.signal}` : exit.message });
  }
}

/** The ports of a task's `ports` range resources, in order. */
export function taskPorts(task: TaskInfo): number[] {
  const ports: number[] = [];
  for (const r of resourcesFromWire(task.resources ?? [], 'task.resources').entries) {
    if (r.name !== 'ports' || r.kind !== 'ranges') continue;
    for (const range of r.ranges ?? []) for (let p = Number(range.begin); p <= Number(range.end); p++) ports.push(p);
  }
  return ports;
}


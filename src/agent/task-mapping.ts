/** How the agent reads the wire: durations, a task's ports, and a container's end as a task status. */
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

/** Maps a container's end to the task's terminal status (state, reason, message). */
export function terminalStatus(exit: ContainerExit, killRequested: boolean): Pick<TaskStatus, 'state' | 'reason' | 'message'> {
  switch (exit.reason) {
    case 'KILLED':
      return { state: 'TASK_KILLED', reason: 'REASON_UNSPECIFIED', message: exit.message };
    case 'MAX_COMPLETION_TIME_REACHED':
      return { state: 'TASK_FAILED', reason: 'REASON_MAX_COMPLETION_TIME_REACHED', message: exit.message };
    case 'LAUNCH_FAILED':
      return { state: killRequested ? 'TASK_KILLED' : 'TASK_FAILED', reason: killRequested ? 'REASON_TASK_KILLED_DURING_LAUNCH' : 'REASON_CONTAINER_LAUNCH_FAILED', message: exit.message };
    case 'OOM':
      return { state: 'TASK_FAILED', reason: 'REASON_CONTAINER_LIMITATION_MEMORY', message: exit.message };
    case 'EXITED':
    default:
      if (killRequested) return { state: 'TASK_KILLED', reason: 'REASON_UNSPECIFIED', message: exit.message };
      if (exit.exitCode === 0) return { state: 'TASK_FINISHED', reason: 'REASON_UNSPECIFIED', message: 'Command exited with status 0' };
      if (exit.exitCode !== undefined) {
        const why = exit.detail !== undefined ? ` (stderr: ${exit.detail})` : '';
        return { state: 'TASK_FAILED', reason: 'REASON_COMMAND_EXECUTOR_FAILED', message: `Command exited with status ${exit.exitCode}${why}` };
      }
      return { state: 'TASK_FAILED', reason: 'REASON_COMMAND_EXECUTOR_FAILED', message: exit.signal !== undefined ? `Command terminated by signal ${exit.signal}` : exit.message };
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


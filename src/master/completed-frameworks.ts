import type { TaskStatus } from '../generated/berth/v1/TaskStatus';
import type { FrameworkEntry, TaskEntry } from './model';
import { isTaskState, isTerminal, type TaskState } from './task-states';

/**
 * The history of removed frameworks (torn down, or past their failover timeout), as Mesos's
 * `--max_completed_frameworks`: the newest `max()` of them, each with its completed tasks (already
 * bounded by `maxCompletedTasksPerFramework`), so GetFrameworks, GetTasks(include_completed),
 * GetState and ReadTaskLog still answer for them. Memory is bounded by
 * max × maxCompletedTasksPerFramework tasks; the oldest framework goes first. Held in memory only: a
 * new leader starts with an empty history (as Mesos), tasks not being in the registry.
 */
export class CompletedFrameworks {
  /** By framework id, oldest first (a Map keeps insertion order). */
  private readonly entries = new Map<string, { fw: FrameworkEntry; tasks: Map<string, TaskEntry> }>();

  constructor(private readonly max: () => number) {}

  /** Records a framework just removed (its tasks already completed into `fw.completed`). */
  add(fw: FrameworkEntry): void {
    this.entries.delete(fw.id);
    if (this.max() <= 0) return;
    this.entries.set(fw.id, { fw, tasks: new Map(fw.completed.map((t) => [t.taskId, t])) });
    for (const id of this.entries.keys()) {
      if (this.entries.size <= this.max()) break;
      this.entries.delete(id);
    }
  }

  get(frameworkId: string): FrameworkEntry | undefined {
    return this.entries.get(frameworkId)?.fw;
  }

  /** The completed frameworks, oldest first. */
  list(): FrameworkEntry[] {
    return [...this.entries.values()].map((e) => e.fw);
  }

  /** A completed task of a completed framework. */
  task(frameworkId: string, taskId: string): TaskEntry | undefined {
    return this.entries.get(frameworkId)?.tasks.get(taskId);
  }

  /**
   * The agent's own terminal update for a task of a removed framework, which arrives after the
   * master's TASK_KILLED (REASON_FRAMEWORK_REMOVED): the history keeps the agent's account — how
   * the task really ended, with its exit code. Non-terminal updates and unknown tasks change nothing.
   */
  lateStatus(frameworkId: string, status: TaskStatus): void {
    const task = this.task(frameworkId, status.task_id?.value ?? '');
    if (task === undefined || !isTaskState(status.state) || !isTerminal(status.state)) return;
    // Not an active task any more (its framework is gone): nothing counts it, so it is set in place.
    (task as { state: TaskState }).state = status.state;
    task.status = status;
  }
}

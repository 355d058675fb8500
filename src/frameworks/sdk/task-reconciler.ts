/**
 * The SDK driver's knowledge of its framework's tasks and its explicit reconciliation: every task
 * not known to have ended (launched through the driver, seen in an update, or passed to
 * `reconcile`), with its agent when known, and the ones whose explicit reconciliation has not been
 * answered yet.
 *
 * Each task is asked about once per subscription: the master answers at once when it can, and
 * otherwise remembers the ask and answers it when the task's agent re-registers or is given up on
 * (docs/master.md "Reconciliation"), so asking again would only repeat the question. The tasks
 * still unanswered after `minMs` (a long safety interval, for asks the master could not keep: past
 * its per-framework limit) are asked again, the delay doubling up to `maxMs`. Asks go in calls of
 * at most {@link RECONCILE_BATCH} ids, so a large framework stays under the master's message limit.
 */
import type { Clock, TimerHandle } from '../../common/clock';
import type { Call } from '../../generated/berth/v1/Call';
import type { TaskStatus__Output } from '../../generated/berth/v1/TaskStatus';

export const TERMINAL_STATES: ReadonlySet<string> = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_UNKNOWN']);

/** Most task ids in one RECONCILE call (~60 bytes each with an agent id: well under 4 MiB). */
export const RECONCILE_BATCH = 5000;

export interface TaskReconcilerOptions {
  readonly clock: Clock;
  /** First repeat of an unanswered explicit reconciliation (a safety net: the master answers once it can). */
  readonly minMs: number;
  /** Cap of the repeat. */
  readonly maxMs: number;
  /** Sends a RECONCILE when subscribed; false when not (nothing is repeated then). */
  readonly send: (reconcile: NonNullable<Call['reconcile']>) => boolean;
}

export class TaskReconciler {
  /** Non-terminal tasks, with their agent when known. */
  private readonly tasks = new Map<string, string | undefined>();
  /** Tasks whose explicit reconciliation has not been answered yet. */
  private readonly unanswered = new Map<string, string | undefined>();
  private timer: TimerHandle | undefined;
  private delayMs: number;

  constructor(private readonly options: TaskReconcilerOptions) {
    this.delayMs = options.minMs;
  }

  /** The agent a task was last known on. */
  agentOf(taskId: string): string | undefined {
    return this.tasks.get(taskId);
  }

  /** A task was launched (or is to be asked about) on `agentId`. */
  track(taskId: string, agentId: string | undefined): void {
    this.tasks.set(taskId, agentId ?? this.tasks.get(taskId));
  }

  /** Explicit reconciliation of `tasks`: asked once now, again after the safety interval while unanswered. */
  reconcile(tasks: readonly { readonly taskId: string; readonly agentId?: string }[]): void {
    const asked = new Map<string, string | undefined>();
    for (const t of tasks) {
      this.track(t.taskId, t.agentId);
      this.unanswered.set(t.taskId, this.tasks.get(t.taskId));
      asked.set(t.taskId, this.tasks.get(t.taskId));
    }
    if (!this.send(asked)) return;
    if (this.timer === undefined) this.arm();
  }

  /** After a (re)subscription: everything not over yet is asked for once more, the safety delay from its start. */
  subscribed(): void {
    for (const [taskId, agentId] of this.tasks) this.unanswered.set(taskId, agentId);
    this.delayMs = this.options.minMs;
    this.pause();
    if (this.send(this.unanswered)) this.arm();
  }

  /** An update answers its task; a terminal one ends it. */
  updated(status: TaskStatus__Output): void {
    const taskId = status.task_id?.value ?? '';
    this.unanswered.delete(taskId);
    if (TERMINAL_STATES.has(status.state)) this.tasks.delete(taskId);
    else this.tasks.set(taskId, status.agent_id?.value ?? this.tasks.get(taskId));
  }

  /** Forgets every task (the framework registers anew). */
  clear(): void {
    this.tasks.clear();
    this.unanswered.clear();
  }

  /** Stops repeating (the stream ended). */
  pause(): void {
    this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Re-asks what is still unanswered after the current safety delay, then doubles it. */
  private arm(): void {
    this.pause();
    if (this.unanswered.size === 0) return;
    const delay = this.delayMs;
    this.delayMs = Math.min(delay * 2, this.options.maxMs);
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.send(this.unanswered)) this.arm();
    }, delay);
  }

  /** Sends RECONCILE calls for `tasks`, at most RECONCILE_BATCH ids each; false when not subscribed. */
  private send(tasks: ReadonlyMap<string, string | undefined>): boolean {
    let batch: { task_id: { value: string }; agent_id?: { value: string } }[] = [];
    for (const [taskId, agentId] of tasks) {
      batch.push({ task_id: { value: taskId }, ...(agentId !== undefined ? { agent_id: { value: agentId } } : {}) });
      if (batch.length < RECONCILE_BATCH) continue;
      if (!this.options.send({ tasks: batch })) return false;
      batch = [];
    }
    return batch.length === 0 || this.options.send({ tasks: batch });
  }
}

/**
 * The SDK driver's knowledge of its framework's tasks and its explicit reconciliation: every task
 * not known to have ended (launched through the driver, seen in an update, or passed to
 * `reconcile`), with its agent when known, and the ones whose explicit reconciliation has not been
 * answered yet — asked again with a doubling delay until each gets an update.
 */
import type { Clock, TimerHandle } from '../../common/clock';
import type { Call } from '../../generated/berth/v1/Call';
import type { TaskStatus__Output } from '../../generated/berth/v1/TaskStatus';

export const TERMINAL_STATES: ReadonlySet<string> = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_UNKNOWN']);

export interface TaskReconcilerOptions {
  readonly clock: Clock;
  /** First repeat of an unanswered explicit reconciliation. */
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

  /** Explicit reconciliation of `tasks`, repeated until each is answered. */
  reconcile(tasks: readonly { readonly taskId: string; readonly agentId?: string }[]): void {
    for (const t of tasks) {
      this.track(t.taskId, t.agentId);
      this.unanswered.set(t.taskId, this.tasks.get(t.taskId));
    }
    this.ask();
  }

  /** After a (re)subscription: everything not over yet is asked for again, from the first delay. */
  subscribed(): void {
    for (const [taskId, agentId] of this.tasks) this.unanswered.set(taskId, agentId);
    this.delayMs = this.options.minMs;
    this.ask();
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

  private ask(): void {
    this.pause();
    if (this.unanswered.size === 0) return;
    const tasks = [...this.unanswered].map(([taskId, agentId]) => ({ task_id: { value: taskId }, ...(agentId !== undefined ? { agent_id: { value: agentId } } : {}) }));
    if (!this.options.send({ tasks })) return;
    const delay = this.delayMs;
    this.delayMs = Math.min(delay * 2, this.options.maxMs);
    this.timer = this.options.clock.setTimeout(() => this.ask(), delay);
  }
}

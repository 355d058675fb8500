/**
 * The master's extension points (src/common/modules/points.ts): the contracts a module's `create`
 * returns. The master's composition root (src/cli/composition/master.ts) creates the selected ones
 * and hands them to the MasterDaemon; docs/modules.md says who calls each, when, and on which path.
 */
import type { Allocator } from '../allocator/allocator';
import type { HierarchicalAllocatorOptions } from '../allocator/hierarchical-allocator';
import type { SorterFactory } from '../allocator/sorter';
import type { AccessPolicy } from '../common/auth';
import type { TaskInfo__Output } from '../generated/berth/v1/TaskInfo';

export type { AccessPolicy, Allocator, SorterFactory };

/**
 * `allocator`: builds the allocator of one term of leadership (called on every election won, so a
 * new term starts from a fresh allocator the master refills from the registry). The allocator is
 * then called synchronously on every allocation cycle and state change: no I/O, no timers.
 */
export type AllocatorFactory = (options: HierarchicalAllocatorOptions) => Allocator;

/** What a task-label decorator is asked about: a task the master is about to send to its agent. */
export interface LabelledTask {
  readonly task: TaskInfo__Output;
  readonly frameworkId: string;
  readonly principal: string | undefined;
  readonly role: string;
  readonly agentId: string;
}

/**
 * `taskLabelDecorator` (a hook, Mesos's masterLaunchTaskLabelDecorator): labels added to a task as the
 * master launches it, before it is recorded and sent to the agent. Called synchronously on the
 * launch path of every task: no I/O. A returned label replaces the task's own of the same key.
 */
export interface TaskLabelDecorator {
  decorate(task: LabelledTask): Readonly<Record<string, string>> | undefined;
}

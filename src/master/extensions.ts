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
import type { BusEvent } from './event-bus';
import type { LeaderElection, Registry } from './registry/registry';

export type { AccessPolicy, Allocator, BusEvent, LeaderElection, Registry, SorterFactory };

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

/**
 * `registryBackend`: where the master keeps its state and how masters elect a leader (built in:
 * `file` — one master, records under `<workDir>/registry` — and `jetstream` — NATS, HA; the
 * `registry.kind` setting picks; a module replaces both). Created once as the master starts.
 * `openRegistry(term)` is called by the MasterDaemon on every election won (the term is the
 * fencing token: a registry must refuse writes of an older term once a newer one wrote, with
 * RegistryFencedError); its `write` is on the path of every state change (batches, pipelined),
 * `load` once per term. Without `election` the master leads alone (one master per registry).
 * `publishEvent` receives every cluster event (a mirror; synchronous, must not block). `close`
 * when the master stops, after the registry is closed.
 */
export interface RegistryBackend {
  readonly election?: LeaderElection;
  openRegistry(term: number): Promise<Registry>;
  publishEvent?(event: BusEvent): void;
  close?(): Promise<void>;
}

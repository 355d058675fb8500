/**
 * The narrow ports of the master's core (docs/architecture.md, "The master's core"). Each manager
 * (agents, frameworks, tasks, offers, maintenance) depends on a small interface of what it needs —
 * built from the pieces below — and not on `MasterCore`, which implements them all and is the only
 * place that wires the managers to each other. This file imports no manager: the managers import
 * it, so none of them imports another or the core.
 */
import type { Allocator } from '../allocator/allocator';
import type { AccessPolicy, AuthAction, Principal } from '../common/auth';
import type { Clock } from '../common/clock';
import type { Logger } from '../common/logging';
import type { FrameworkInfo__Output } from '../generated/berth/v1/FrameworkInfo';
import type { KillPolicy__Output } from '../generated/berth/v1/KillPolicy';
import type { MasterInfo } from '../generated/berth/v1/MasterInfo';
import type { StatusUpdate__Output } from '../generated/berth/v1/StatusUpdate';
import type { TaskInfo__Output } from '../generated/berth/v1/TaskInfo';
import type { TaskStatus } from '../generated/berth/v1/TaskStatus';
import type { Resources } from '../common/resources';
import type { CompletedFrameworks } from './completed-frameworks';
import type { ClusterEventKind } from './event-bus';
import type { TaskLabelDecorator } from './extensions';
import type { MasterMetrics } from './metrics';
import type { AgentEntry, FrameworkEntry, OfferEntry, TaskEntry } from './model';
import type { PendingReconciliations } from './pending-reconciliations';
import type { PriorityClasses } from './priorities';
import type { RegistryOp } from './registry/registry';
import type { TaskState } from './task-states';

/** Master settings the core needs (a subset of the daemon's config, in milliseconds). */
export interface MasterCoreOptions {
  readonly masterId: string;
  readonly version: string;
  readonly grpcAddress: string;
  readonly httpAddress?: string;
  /** @default 1000 */
  readonly allocationIntervalMs: number;
  /** Offers are rescinded after this long; undefined = never (as Mesos). */
  readonly offerTimeoutMs?: number;
  /** @default 15000 */
  readonly heartbeatIntervalMs: number;
  /** @default 15000 */
  readonly agentPingTimeoutMs: number;
  /** @default 5 */
  readonly maxAgentPingTimeouts: number;
  /** @default 1000 */
  readonly maxCompletedTasksPerFramework: number;
  /** Removed frameworks kept (with their completed tasks) for GetFrameworks, GetTasks and ReadTaskLog. @default 50 */
  readonly maxCompletedFrameworks?: number;
  /** After a master failover, how long agents have to re-register before they are unreachable. @default 600000 */
  readonly agentReregisterTimeoutMs?: number;
  /**
   * Explicit reconciliations the master remembers per framework while it cannot answer them yet
   * (their agents are still expected back); asks past it get a RESOURCE_EXHAUSTED error. @default 100000
   */
  readonly maxPendingReconciliationsPerFramework?: number;
  /** Failover timeout of frameworks that set none (0). @default 0 */
  readonly defaultFailoverTimeoutMs?: number;
  /** Events buffered for a framework stream before it is cut off as too slow (bytes). @default 64 MiB */
  readonly maxFrameworkBufferBytes: number;
  /** Cluster events kept for Watch streams to resume from; older ones need a fresh snapshot. @default 10000 */
  readonly maxBufferedEvents?: number;
  readonly region?: string;
  readonly zone?: string;
  /** When the master process started (MasterInfo.start_time). @default when this core started */
  readonly processStartedAt?: number;
  /** Priority classes, name → value ("default" is 0 unless named here). @default {} */
  readonly priorityClasses?: Readonly<Record<string, number>>;
  /** Preemption (preemption.ts): off for every role not listed. @default off */
  readonly preemption?: PreemptionOptions;
}

/** Where preemption is enabled and how victims are stopped. */
export interface PreemptionOptions {
  /** Roles whose gangs may preempt lower-priority tasks (their own and others' roles). */
  readonly roles: readonly string[];
  /** Grace between a victim's termination signal and its forced kill. */
  readonly killGraceMs: number;
}

/** The reason of a task status (TaskStatus.reason), never absent. */
export type StatusReason = NonNullable<TaskStatus['reason']>;

/** Why offers are taken back (RESCIND events and the offers_rescinded metric). */
export type RescindReason = 'agent_removed' | 'agent_unreachable' | 'agent_disconnected' | 'agent_draining' | 'agent_deactivated' | 'framework_disconnected' | 'timeout' | 'quota' | 'maintenance' | 'reservation' | 'hold_expired' | 'demand_changed' | 'preempted';

/** What every manager may use of the core itself: time, logs, books, events and the registry. */
export interface CoreServices {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: MasterMetrics | undefined;
  readonly allocator: Allocator;
  readonly options: MasterCoreOptions;
  readonly priorityClasses: PriorityClasses;
  readonly agents: Map<string, AgentEntry>;
  readonly frameworks: Map<string, FrameworkEntry>;
  readonly authorizer: AccessPolicy | undefined;
  /** A cluster event (Watch, the NATS mirror). */
  publish(kind: ClusterEventKind, payload: Record<string, unknown>): void;
  /** Queues registry changes; settles when they are durable. */
  persist(ops: readonly RegistryOp[]): Promise<void>;
  /** Persist, then apply: a failed write is UNAVAILABLE naming `what`, and nothing may be applied. */
  persistFirst(ops: readonly RegistryOp[], what: string): Promise<void>;
  /** A prompt allocation of an agent's freed resources (or of all), batched per turn. */
  allocateSoon(agentId?: string): void;
  masterInfo(): MasterInfo;
  allowed(principal: Principal | undefined, action: AuthAction, object?: string, user?: string): boolean;
}

/** The task-label hooks (docs/modules.md), run on every task launched, in order. */
export type TaskLabelDecorators = readonly { readonly name: string; readonly impl: TaskLabelDecorator }[];

/** The offer book, as the other managers use it. */
export interface OffersPort {
  readonly offers: ReadonlyMap<string, OfferEntry>;
  rescind(offerId: string, reason: RescindReason): void;
  rescindForAgent(agentId: string, reason: RescindReason): void;
  rescindForFramework(frameworkId: string, reason: RescindReason): void;
  rescindAll(reason: RescindReason, role?: string): void;
  /** Rescinds the framework's held gangs whose ids are no longer in its demand. */
  rescindUndeclaredGangs(frameworkId: string, declared: ReadonlySet<string>): void;
}

/** How the master learned of a task: it launched it, or the task's agent reported it (re-registering). */
export type TaskOrigin = 'launch' | 'agent';

/** The task tracker, as the other managers use it. */
export interface TasksPort {
  readonly pending: PendingReconciliations;
  get(frameworkId: string, taskId: string): TaskEntry | undefined;
  track(fw: FrameworkEntry, agent: AgentEntry, task: TaskInfo__Output, role: string, resources: Resources, state: TaskState, origin: TaskOrigin, status?: TaskStatus): TaskEntry;
  statusUpdate(agent: AgentEntry, update: StatusUpdate__Output, forward?: boolean): void;
  masterUpdate(task: TaskEntry, state: TaskState, reason: StatusReason, message: string): void;
  /** Sets an active task's state (the only way to change it: the tracker counts tasks by state). */
  setState(task: TaskEntry, state: TaskState): void;
  agentSettled(agent: AgentEntry): void;
  sendKill(task: TaskEntry, killPolicy?: KillPolicy__Output, why?: { reason: StatusReason; message: string }): void;
}

/** The agent manager, as the other managers use it. */
export interface AgentsPort {
  drain(agent: AgentEntry, maxGracePeriodMs: number | undefined, markGone: boolean): Promise<void>;
  checkDrained(agentId: string): void;
  setDeactivated(agent: AgentEntry, deactivated: boolean): Promise<void>;
}

/** The framework manager, as the other managers use it. */
export interface FrameworksPort {
  readonly completed: CompletedFrameworks;
  isRemoved(id: string): boolean;
  adopt(wire: FrameworkInfo__Output): FrameworkEntry | undefined;
}

/** Maintenance, as the other managers use it. */
export interface MaintenancePort {
  forgetFramework(frameworkId: string): void;
  resend(fw: FrameworkEntry): void;
  unavailabilityOf(hostname: string): { startMs: number; durationMs?: number } | undefined;
}

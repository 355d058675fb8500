import type { Resources } from '../common/resources';
import type { TimerHandle } from '../common/clock';
import type { AgentID } from '../generated/berth/v1/AgentID';
import type { AgentInfo__Output } from '../generated/berth/v1/AgentInfo';
import type { Event } from '../generated/berth/v1/Event';
import type { FrameworkInfo__Output } from '../generated/berth/v1/FrameworkInfo';
import type { MasterMessage } from '../generated/berth/v1/MasterMessage';
import type { TaskStatus } from '../generated/berth/v1/TaskStatus';
import type { ValidFramework } from './validation/framework-info';
import type { TaskState } from './task-states';
import type { TaskRecordInfo } from './task-record';

/**
 * The master's in-memory model. Frameworks and agents are also in the registry; tasks are not
 * (agents are their source of truth and re-report them after a master failover).
 */

/** Where events for one connected framework go (a gRPC stream in production, a list in tests). */
export interface FrameworkSink {
  send(event: Event): void;
  /** Ends the stream, with a final fatal error when given. */
  close(error?: { code: number; message: string }): void;
}

/** Where messages for one connected agent go. */
export interface AgentSink {
  send(message: MasterMessage): void;
  close(error?: { code: number; message: string }): void;
}

export interface FrameworkEntry {
  readonly id: string;
  info: ValidFramework;
  /** The FrameworkInfo as last subscribed (with the id filled in), sent to agents with tasks. */
  wire: FrameworkInfo__Output;
  sink: FrameworkSink | undefined;
  /** False after a disconnect until it subscribes again (and for frameworks recovered from the registry). */
  connected: boolean;
  /** True once it subscribed through this master (false for one only known from the registry or agents). */
  registered: boolean;
  /**
   * Known only from an agent's re-registration (not from a SUBSCRIBE or the registry): its
   * FrameworkInfo is the agent's claim, so the first SUBSCRIBE with its id replaces it whole
   * (principal, user and checkpoint included) instead of being held to it.
   */
  provisional: boolean;
  registeredAt: number;
  reregisteredAt: number | undefined;
  disconnectedAt: number | undefined;
  failoverTimer: TimerHandle | undefined;
  heartbeatTimer: TimerHandle | undefined;
  suppressed: Set<string>;
  readonly tasks: Map<string, TaskEntry>;
  /** Terminal tasks whose last update was acknowledged, newest last, bounded. */
  readonly completed: TaskEntry[];
  readonly offers: Set<string>;
}

export type AgentLifecycle = 'REGISTERED' | 'RECOVERED' | 'UNREACHABLE' | 'GONE';

export interface AgentEntry {
  readonly id: string;
  /** The id as the wire's AgentID, one frozen object shared by every status the master keeps of the agent's tasks. */
  readonly wireId: Readonly<AgentID>;
  info: AgentInfo__Output;
  hostname: string;
  /** Total resources including dynamic reservations made through the master. */
  total: Resources;
  sink: AgentSink | undefined;
  connected: boolean;
  lifecycle: AgentLifecycle;
  deactivated: boolean;
  drain: { state: 'DRAINING' | 'DRAINED'; maxGracePeriodMs?: number; markGone: boolean } | undefined;
  version: string;
  registeredAt: number;
  reregisteredAt: number | undefined;
  unreachableAt: number | undefined;
  /** Pings sent since the last PONG. */
  missedPings: number;
  pingTimer: TimerHandle | undefined;
  /** When, without a reconnect, the agent is declared unreachable. */
  unreachableTimer: TimerHandle | undefined;
  /** Being declared unreachable: the registry write is in flight (AgentManager.markUnreachable). */
  markingUnreachable: boolean;
  readonly tasks: Map<string, TaskEntry>;
  /**
   * The principal that first registered this agent id (absent with authentication off, and for
   * agents registered before ids were bound, until their next re-registration). Only it may
   * re-register the id.
   */
  principal: string | undefined;
  /** Frameworks whose FrameworkInfo this agent connection has been sent (RUN_TASK sends it once). */
  readonly knownFrameworks: Set<string>;
}

export interface TaskEntry {
  readonly key: string;
  readonly taskId: string;
  readonly frameworkId: string;
  readonly agentId: string;
  readonly role: string;
  /** Shared with the other tasks of the same shape (immutable). */
  readonly resources: Resources;
  /** What the master reads back of the TaskInfo (see task-record.ts), not the wire message. */
  readonly info: TaskRecordInfo;
  /** The latest state the agent (or master) reported; changed with `TaskTracker.setState` (it counts tasks by state). */
  readonly state: TaskState;
  /**
   * The state of the update at the head of the agent's stream for this task — the one the framework
   * is being sent and has not acknowledged — when it is behind `state` (Mesos's status_update_state).
   * Reconciliation answers with it, so an answer never runs ahead of the updates still to come (a
   * task that ran its whole life while the master was away is not said FINISHED before its
   * STARTING arrives).
   */
  streamState: TaskState | undefined;
  /** The status last sent to the framework (for reconciliation and GetTasks). */
  status: TaskStatus | undefined;
  /** Resources have been returned to the allocator (the task reached a terminal state). */
  recovered: boolean;
  readonly launchedAt: number;
  /** The value of its priority class (TaskInfo.priority_class, else the framework's): preemption. */
  readonly priority: number;
  /** Its group's disruption budget (TaskInfo.disruption_budget), shared by the group's tasks. */
  readonly budget: DisruptionBudgetEntry | undefined;
  /** Told to stop by preemption (not taken again; counts as down in its budget). */
  preempted?: true;
}

/** One (framework, group)'s disruption budget, as its latest task declared it. */
export interface DisruptionBudgetEntry {
  /** `<framework id>/<group>`. */
  readonly key: string;
  instances: number;
  maxUnavailable: number;
}

export interface OfferEntry {
  readonly id: string;
  readonly frameworkId: string;
  readonly agentId: string;
  readonly role: string;
  readonly resources: Resources;
  readonly createdAt: number;
  timer: TimerHandle | undefined;
  /** Set for an offer of a gang (Offer.gang_id): used, declined and rescinded only with its gang. */
  readonly gangId?: string;
}

/** An outstanding gang offer: every offer of one held gang, answered or rescinded together. */
export interface GangOfferEntry {
  readonly frameworkId: string;
  readonly gangId: string;
  readonly role: string;
  readonly offerIds: readonly string[];
  readonly tasks: number;
  readonly expiresAt: number;
  timer: TimerHandle | undefined;
}

export const gangKey = (frameworkId: string, gangId: string) => `${frameworkId}/${gangId}`;

export const taskKey = (frameworkId: string, taskId: string) => `${frameworkId}/${taskId}`;

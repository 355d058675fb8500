import type { Resources } from '../common/resources';
import type { FrameworkInfo } from '../generated/berth/v1/FrameworkInfo';
import type { KillPolicy__Output } from '../generated/berth/v1/KillPolicy';
import type { StatusUpdate__Output } from '../generated/berth/v1/StatusUpdate';
import type { TaskInfo__Output } from '../generated/berth/v1/TaskInfo';
import type { TaskStatus, TaskStatus__Output } from '../generated/berth/v1/TaskStatus';
import type { Task } from '../generated/berth/v1/Task';
import { resourcesToWire, timeToWire } from '../common/wire';
import type { AgentsPort, CoreServices, FrameworksPort, StatusReason, TaskLabelDecorators, TaskOrigin, TasksPort } from './core-ports';
import { taskKey, type AgentEntry, type DisruptionBudgetEntry, type FrameworkEntry, type TaskEntry } from './model';
import { equalBytes, recordInfo, recordStatus, ResourceShapes } from './task-record';
import { PendingReconciliations, type PendingAsk } from './pending-reconciliations';
import { forFramework, isTaskState, isTerminal, type TaskState } from './task-states';

/** Remembered explicit reconciliations per framework, by default (MasterCoreOptions). */
export const DEFAULT_MAX_PENDING_RECONCILIATIONS = 100_000;

/** What answering a list of asks computes once (see `answerOf`). */
interface AnswerMemo {
  completed?: Map<string, TaskEntry>;
  recovering?: boolean;
}

export type { StatusReason } from './core-ports';

/** What the task tracker needs of the core. */
export type TaskTrackerCore = CoreServices & {
  readonly frameworkManager: Pick<FrameworksPort, 'isRemoved' | 'completed'>;
  readonly agentManager: Pick<AgentsPort, 'checkDrained'>;
  readonly taskLabelDecorators: TaskLabelDecorators;
};

/**
 * The task state machine and the status-update path: agent → master → framework, and the
 * acknowledgement back. Updates that carry a uuid come from the agent and are at-least-once (the
 * agent resends until acknowledged); updates the master makes up (errors, loss, reconciliation)
 * carry none and are not acknowledged, as in Mesos.
 */
export class TaskTracker implements TasksPort {
  private readonly shapes = new ResourceShapes();
  /** Disruption budgets by `<framework>/<group>` (model.ts); dropped with their last task. */
  readonly budgets = new Map<string, DisruptionBudgetEntry & { tasks: number }>();
  /** Explicit reconciliations waiting for an agent to come back (or to be given up on). */
  readonly pending: PendingReconciliations;
  /**
   * The agents still expected back (RECOVERED), taken when an ask first waits for any of them and
   * kept as they settle, so that "none is left" costs no scan of every agent per re-registration.
   */
  private expectedBack: Set<string> | undefined;
  /**
   * Active tasks (in their framework's `tasks`) by state, kept as tasks are tracked, change state
   * and complete: `berth_tasks` is read from here, not by walking every task on every scrape.
   */
  private readonly byState = new Map<TaskState, number>();

  constructor(private readonly core: TaskTrackerCore) {
    this.pending = new PendingReconciliations(core.options.maxPendingReconciliationsPerFramework ?? DEFAULT_MAX_PENDING_RECONCILIATIONS);
  }

  get(frameworkId: string, taskId: string): TaskEntry | undefined {
    return this.core.frameworks.get(frameworkId)?.tasks.get(taskId);
  }

  /** Active tasks by state (states with none are absent). */
  countsByState(): ReadonlyMap<TaskState, number> {
    return this.byState;
  }

  setState(task: TaskEntry, state: TaskState): void {
    if (task.state === state) return;
    if (this.get(task.frameworkId, task.taskId) === task) {
      this.count(task.state, -1);
      this.count(state, 1);
    }
    (task as { state: TaskState }).state = state;
  }

  private count(state: TaskState, by: 1 | -1): void {
    const n = (this.byState.get(state) ?? 0) + by;
    if (n === 0) this.byState.delete(state);
    else this.byState.set(state, n);
  }

  /** Records a launched task (TASK_STAGING) and sends it to its agent. */
  launch(fw: FrameworkEntry, agent: AgentEntry, given: TaskInfo__Output, role: string, resources: Resources): TaskEntry {
    const task = this.core.taskLabelDecorators.length === 0 ? given : decorated(this.core.taskLabelDecorators, fw, agent, given, role);
    const entry = this.track(fw, agent, task, role, resources, 'TASK_STAGING', 'launch');
    agent.sink!.send({ type: 'RUN_TASK', run_task: { framework_info: this.frameworkInfoFor(fw, agent), task: { ...task, agent_id: { value: agent.id } }, role } });
    this.core.metrics?.tasksLaunched.inc();
    return entry;
  }

  /** Records a task group (all TASK_STAGING) and sends it to its agent in one message, atomically. */
  launchGroup(fw: FrameworkEntry, agent: AgentEntry, role: string, tasks: readonly { task: TaskInfo__Output; resources: Resources }[]): void {
    const decorators = this.core.taskLabelDecorators;
    if (decorators.length > 0) tasks = tasks.map((t) => ({ ...t, task: decorated(decorators, fw, agent, t.task, role) }));
    for (const t of tasks) this.track(fw, agent, t.task, role, t.resources, 'TASK_STAGING', 'launch');
    agent.sink!.send({
      type: 'RUN_TASK_GROUP',
      run_task_group: { framework_info: this.frameworkInfoFor(fw, agent), task_group: { tasks: tasks.map((t) => ({ ...t.task, agent_id: { value: agent.id } })) }, role },
    });
    this.core.metrics?.tasksLaunched.inc(tasks.length);
  }

  /**
   * FrameworkInfo goes whole once per framework and agent connection, then as its id alone (the
   * agent keeps the whole one): re-encoding it for every task was a measurable part of a launch.
   */
  private frameworkInfoFor(fw: FrameworkEntry, agent: AgentEntry): FrameworkInfo {
    if (agent.knownFrameworks.has(fw.id)) return { id: { value: fw.id } };
    agent.knownFrameworks.add(fw.id);
    return fw.wire;
  }

  /**
   * Adds a task the master learns of: launched here (`origin` 'launch') or reported by its agent
   * ('agent': a re-registration after a failover or a partition; the task was announced when it
   * was launched). TASK_ADDED carries the origin.
   */
  track(fw: FrameworkEntry, agent: AgentEntry, task: TaskInfo__Output, role: string, resources: Resources, state: TaskState, origin: TaskOrigin, status?: TaskStatus): TaskEntry {
    const taskId = task.task_id!.value;
    const entry: TaskEntry = {
      key: taskKey(fw.id, taskId),
      taskId,
      frameworkId: fw.id,
      agentId: agent.id,
      role,
      resources: this.shapes.intern(resources),
      // Resources live in `resources` (exact); id and agent in their fields; `data` is the agent's.
      info: recordInfo(task),
      state,
      streamState: undefined,
      status: status === undefined ? undefined : recordStatus(status),
      recovered: false,
      launchedAt: this.core.clock.now(),
      priority: this.core.priorityClasses.valueOr0(this.core.priorityClasses.resolveName(task.priority_class, fw.info.priorityClass)),
      budget: this.budgetOf(fw.id, task.disruption_budget),
    };
    const replaced = fw.tasks.get(taskId);
    if (replaced !== undefined) this.count(replaced.state, -1);
    fw.tasks.set(taskId, entry);
    this.count(state, 1);
    agent.tasks.set(entry.key, entry);
    // The wire form is built only when someone reads the event (Watch): most tasks are never watched.
    this.core.publish('TASK_ADDED', { frameworkId: fw.id, taskId, entry, origin });
    return entry;
  }

  private budgetOf(frameworkId: string, wire: TaskInfo__Output['disruption_budget']): DisruptionBudgetEntry | undefined {
    if (wire === null || wire === undefined || (wire.group ?? '') === '') return undefined;
    const key = `${frameworkId}/${wire.group}`;
    let entry = this.budgets.get(key);
    if (entry === undefined) this.budgets.set(key, (entry = { key, instances: 0, maxUnavailable: 0, tasks: 0 }));
    entry.instances = wire.instances ?? 0;
    entry.maxUnavailable = wire.max_unavailable ?? 0;
    entry.tasks++;
    return entry;
  }

  /** An update from an agent: record the latest state, free resources if terminal, forward it. */
  /**
   * A STATUS_UPDATE from an agent: the task's state follows it, and it goes to the framework. With
   * `forward: false` (the `unacknowledged_updates` of a REREGISTER) only the state follows: the agent
   * resends each of those itself, head first, and forwarding them here as well would hand the
   * framework the whole queue at once — a STARTING after its FINISHED.
   */
  statusUpdate(agent: AgentEntry, update: StatusUpdate__Output, forward = true): void {
    const status = update.status;
    const frameworkId = update.framework_id?.value ?? '';
    if (status === null || status === undefined || !isTaskState(status.state)) return;
    const fw = this.core.frameworks.get(frameworkId);
    const task = fw?.tasks.get(status.task_id?.value ?? '');
    if (task !== undefined && task.agentId !== agent.id) {
      // An agent reports on its own tasks only: this one runs elsewhere, and believing the update
      // would free that agent's resources in the allocator while the task still holds them.
      this.core.metrics?.agentIdentityRefusals.inc({ kind: 'status_update' });
      this.core.logger.warn('refused a status update for a task placed on another agent', { agentId: agent.id, frameworkId, taskId: task.taskId, placedOn: task.agentId });
      // Acknowledged to the sender only, so it stops resending (an older task of the same id that
      // once ran there ends this way too); the framework and the other agent never hear of it.
      this.masterAcknowledge(agent, frameworkId, status);
      return;
    }
    const latest = isTaskState(update.latest_state) ? update.latest_state : status.state;
    this.core.metrics?.statusUpdates.inc({ state: status.state });
    // The agent resends an update until the framework acknowledges it (and once more with every
    // re-registration): the resend is the same update (same uuid), not a change of the task, so
    // Watch and the dashboard hear of it once. The framework still gets it (at-least-once).
    const resent = task !== undefined && sameUuid(task.status?.uuid, status.uuid) && task.state === latest;
    if (task !== undefined && !resent) {
      this.setState(task, latest);
      // The REREGISTER's queue sets the head itself (AgentManager.reregister); a live update is the head.
      if (forward) task.streamState = status.state === latest ? undefined : status.state;
      task.status = recordStatus(status, agent.wireId);
      if (isTerminal(latest)) this.release(task);
      this.core.publish('TASK_UPDATED', { frameworkId, taskId: task.taskId, state: latest, status: task.status });
    }
    if (!forward) return;
    if (fw !== undefined && fw.sink !== undefined) this.forward(fw, { ...status, agent_id: { value: agent.id } });
    else if (fw === undefined && this.core.frameworkManager.isRemoved(frameworkId)) {
      // Nobody will ever acknowledge an update of a removed framework: the master does, so the
      // agent stops resending it and can forget the framework's state. The history keeps how the task ended.
      this.core.frameworkManager.completed.lateStatus(frameworkId, { ...status, agent_id: { value: agent.id } });
      this.masterAcknowledge(agent, frameworkId, status);
    }
  }

  /** Acknowledges an update to its agent on the master's own account (no framework will). */
  private masterAcknowledge(agent: AgentEntry, frameworkId: string, status: NonNullable<StatusUpdate__Output['status']>): void {
    if (status.uuid === undefined || status.uuid === null || status.uuid.length === 0) return;
    agent.sink?.send({
      type: 'STATUS_UPDATE_ACKNOWLEDGEMENT',
      status_update_acknowledgement: { agent_id: { value: agent.id }, framework_id: { value: frameworkId }, task_id: status.task_id ?? undefined, uuid: status.uuid },
    });
  }

  /** ACKNOWLEDGE from a framework: routed to the agent; a terminal task then leaves the active set. */
  acknowledge(fw: FrameworkEntry, agentId: string, taskId: string, uuid: Buffer): void {
    const agent = this.core.agents.get(agentId);
    agent?.sink?.send({
      type: 'STATUS_UPDATE_ACKNOWLEDGEMENT',
      status_update_acknowledgement: { agent_id: { value: agentId }, framework_id: { value: fw.id }, task_id: { value: taskId }, uuid },
    });
    const task = fw.tasks.get(taskId);
    if (task === undefined || task.status?.uuid === undefined) return;
    if (equalBytes(task.status.uuid, uuid) && isTerminal(task.state) && isTerminal(task.status.state as TaskState)) this.complete(task);
  }

  /**
   * A state the master decides (TASK_ERROR for an invalid launch, TASK_LOST or UNREACHABLE when an
   * agent goes away, KILLED when a framework is removed). Sent without uuid; terminal ones complete
   * the task at once since no acknowledgement will come.
   */
  masterUpdate(task: TaskEntry, state: TaskState, reason: StatusReason, message: string): void {
    const fw = this.core.frameworks.get(task.frameworkId);
    this.setState(task, state);
    task.streamState = undefined;
    task.status = this.status(task.taskId, task.agentId, state, reason, message);
    this.core.publish('TASK_UPDATED', { frameworkId: task.frameworkId, taskId: task.taskId, state, status: task.status });
    if (fw?.sink !== undefined) this.forward(fw, task.status);
    if (isTerminal(state)) {
      this.release(task);
      this.complete(task);
    }
  }

  /** Tells a framework about a task that never got tracked (rejected at launch). */
  rejectLaunch(fw: FrameworkEntry, taskId: string, agentId: string | undefined, state: TaskState, reason: StatusReason, message: string): void {
    this.core.metrics?.statusUpdates.inc({ state });
    if (fw.sink !== undefined) this.forward(fw, this.status(taskId, agentId, state, reason, message));
  }

  /**
   * Explicit (task list) or implicit (empty list) reconciliation; answers are REASON_RECONCILIATION
   * updates. An explicit ask the master cannot answer yet (its agent is still expected back) is
   * remembered and answered when it can be (see PendingReconciliations, `agentSettled`). Returns how
   * many asks were neither answered nor remembered (the framework is at its limit of remembered asks).
   */
  reconcile(fw: FrameworkEntry, requested: readonly { taskId: string; agentId?: string }[]): number {
    if (requested.length === 0) {
      for (const task of fw.tasks.values()) this.forward(fw, this.reconciled(task));
      return 0;
    }
    const memo: AnswerMemo = {};
    const remembered = this.pending.sizeOf(fw.id) > 0;
    let refused = 0;
    for (const { taskId, agentId } of requested) {
      const answer = this.answerOf(fw, taskId, agentId, memo);
      if (answer !== undefined) {
        if (remembered) this.pending.take(fw.id, taskId); // answered now: the older ask is void
        this.forward(fw, answer);
        continue;
      }
      const agent = agentId === undefined ? undefined : this.core.agents.get(agentId);
      const waitsFor = agent?.lifecycle === 'RECOVERED' ? agent.id : undefined;
      if (waitsFor === undefined) this.expectedBack ??= new Set([...this.core.agents.values()].filter((a) => a.lifecycle === 'RECOVERED').map((a) => a.id));
      // The agent's own id string, not the call's copy of it: ~90 bytes less per remembered ask.
      if (!this.pending.remember(fw.id, taskId, agent?.id ?? agentId, waitsFor)) refused++;
    }
    return refused;
  }

  /**
   * An agent left the RECOVERED state (re-registered, unreachable or gone): the remembered asks it
   * settles are answered — about the tasks it brought, about tasks on it, and, once no agent is
   * expected back, the asks that named none. Called after its tasks and pending updates are in
   * (the answers are the heads of its queue, never ahead of it).
   */
  agentSettled(agent: AgentEntry): void {
    this.expectedBack?.delete(agent.id);
    if (this.pending.size === 0) return;
    const memos = new Map<string, AnswerMemo>();
    const settle = (ask: PendingAsk | undefined): void => {
      if (ask === undefined) return;
      const fw = this.core.frameworks.get(ask.frameworkId);
      if (fw === undefined) return;
      let memo = memos.get(fw.id);
      if (memo === undefined) memos.set(fw.id, (memo = {}));
      const answer = this.answerOf(fw, ask.taskId, ask.agentId, memo);
      if (answer !== undefined) this.forward(fw, answer);
      else this.pending.remember(fw.id, ask.taskId, ask.agentId, undefined); // cannot happen: kept, not lost
    };
    for (const task of agent.tasks.values()) if (this.pending.sizeOf(task.frameworkId) > 0) settle(this.pending.take(task.frameworkId, task.taskId));
    for (const ask of this.pending.takeWaitingFor(agent.id)) settle(ask);
    if (this.expectedBack?.size === 0) {
      this.expectedBack = undefined;
      for (const ask of this.pending.takeWaitingFor(undefined)) settle(ask);
    }
  }

  /** What a RECONCILE of `taskId` gets now; undefined: no answer yet (its agent may still bring it). */
  private answerOf(fw: FrameworkEntry, taskId: string, agentId: string | undefined, memo: AnswerMemo): TaskStatus | undefined {
    const task = fw.tasks.get(taskId);
    if (task !== undefined) return this.reconciled(task);
    // Completed tasks are a bounded list (up to maxCompletedTasksPerFramework): index it once per
    // call, not once per requested task (100,000 ids × 1,000 entries stalled a new leader).
    memo.completed ??= new Map(fw.completed.map((t) => [t.taskId, t]));
    const done = memo.completed.get(taskId);
    if (done !== undefined) return this.reconciled(done);
    return this.unknownTaskStatus(taskId, agentId, 'REASON_RECONCILIATION', () => (memo.recovering ??= this.anyAgentExpectedBack()));
  }

  /** What the master says of a task it does not know (see {@link unknownTaskState}); undefined: nothing yet. */
  private unknownTaskStatus(taskId: string, agentId: string | undefined, reason: StatusReason, anyExpectedBack: () => boolean): TaskStatus | undefined {
    const state = this.unknownTaskState(agentId, anyExpectedBack);
    if (state === undefined) return undefined;
    const message = state === 'TASK_UNREACHABLE' ? `task unknown to the master; its agent ${agentId} is unreachable` : 'task unknown to the master';
    return this.status(taskId, agentId, state, reason, message);
  }

  /**
   * What the master can say of a task it does not know, by what it knows of the agent named (Mesos's
   * partition-aware rules): nothing while that agent — or, with no agent named or one the master does
   * not know, any agent — is still expected back after a failover, since its re-registration may
   * bring the task (a framework told it is gone would run it twice); TASK_GONE on an agent that has
   * re-registered without it (its report and its pending updates are one fact, see
   * AgentManager.reregister); TASK_UNREACHABLE or TASK_GONE_BY_OPERATOR on an unreachable or gone
   * agent; otherwise TASK_UNKNOWN. Frameworks that are not partition-aware get TASK_LOST instead.
   */
  private unknownTaskState(agentId: string | undefined, anyExpectedBack: () => boolean): TaskState | undefined {
    const agent = agentId === undefined ? undefined : this.core.agents.get(agentId);
    switch (agent?.lifecycle) {
      case 'RECOVERED':
        return undefined;
      case 'UNREACHABLE':
        return 'TASK_UNREACHABLE';
      case 'GONE':
        return 'TASK_GONE_BY_OPERATOR';
      case 'REGISTERED':
        return 'TASK_GONE';
      default:
        return anyExpectedBack() ? undefined : 'TASK_UNKNOWN';
    }
  }

  private anyAgentExpectedBack(): boolean {
    for (const agent of this.core.agents.values()) if (agent.lifecycle === 'RECOVERED') return true;
    return false;
  }

  /**
   * KILL: forwarded to the agent. A task the master does not know is answered as reconciliation
   * would answer it (nothing while its agent may still bring it back after a failover), with
   * REASON_TASK_UNKNOWN.
   */
  kill(fw: FrameworkEntry, taskId: string, killPolicy: KillPolicy__Output | null | undefined, agentId?: string): void {
    const task = fw.tasks.get(taskId);
    if (task === undefined) {
      const answer = this.unknownTaskStatus(taskId, agentId, 'REASON_TASK_UNKNOWN', () => this.anyAgentExpectedBack());
      if (answer !== undefined) this.forward(fw, answer);
      return;
    }
    const agent = this.core.agents.get(task.agentId);
    if (agent?.lifecycle === 'UNREACHABLE') {
      this.forward(fw, this.reconciled(task));
      return;
    }
    this.sendKill(task, killPolicy ?? undefined);
  }

  /** `why`: the master's own reason (a drain), carried by the task's terminal TASK_KILLED. */
  sendKill(task: TaskEntry, killPolicy?: KillPolicy__Output, why?: { reason: StatusReason; message: string }): void {
    const agent = this.core.agents.get(task.agentId);
    agent?.sink?.send({ type: 'KILL_TASK', kill_task: { framework_id: { value: task.frameworkId }, task_id: { value: task.taskId }, kill_policy: killPolicy ?? task.info.kill_policy ?? undefined, ...why } });
  }

  /** Drops a task from the active set (terminal and acknowledged, or decided by the master). */
  complete(task: TaskEntry): void {
    const fw = this.core.frameworks.get(task.frameworkId);
    this.release(task);
    if (fw?.tasks.get(task.taskId) === task) {
      this.count(task.state, -1);
      fw.tasks.delete(task.taskId);
    }
    this.core.agents.get(task.agentId)?.tasks.delete(task.key);
    if (task.budget !== undefined) {
      const b = this.budgets.get(task.budget.key);
      if (b !== undefined && --b.tasks === 0) this.budgets.delete(b.key);
    }
    if (fw !== undefined) {
      fw.completed.push(task);
      if (fw.completed.length > this.core.options.maxCompletedTasksPerFramework) fw.completed.splice(0, fw.completed.length - this.core.options.maxCompletedTasksPerFramework);
    }
    this.core.agentManager.checkDrained(task.agentId);
  }

  /** Returns a terminal task's resources to the allocator, once. */
  release(task: TaskEntry): void {
    if (task.recovered) return;
    task.recovered = true;
    const agent = this.core.agents.get(task.agentId);
    if (agent === undefined || agent.lifecycle === 'UNREACHABLE' || agent.lifecycle === 'GONE') return;
    this.core.allocator.recoverResources(task.frameworkId, task.agentId, task.role, task.resources, undefined, this.core.clock.now());
    this.core.allocateSoon(task.agentId);
  }

  toWire(task: TaskEntry): Task {
    return {
      name: task.info.name,
      task_id: { value: task.taskId },
      framework_id: { value: task.frameworkId },
      agent_id: { value: task.agentId },
      state: task.state,
      statuses: task.status === undefined ? [] : [task.status],
      resources: resourcesToWire(task.resources),
      role: task.role,
      labels: task.info.labels ?? undefined,
      command: withoutSecrets(task.info.command),
      container: task.info.container ?? undefined,
      health_check: task.info.health_check ?? undefined,
      kill_policy: task.info.kill_policy ?? undefined,
      discovery: task.info.discovery ?? undefined,
      max_completion_time: task.info.max_completion_time ?? undefined,
    };
  }

  private reconciled(task: TaskEntry): TaskStatus {
    const base = task.status;
    return {
      task_id: { value: task.taskId },
      agent_id: { value: task.agentId },
      state: task.streamState ?? task.state,
      source: 'SOURCE_MASTER',
      reason: 'REASON_RECONCILIATION',
      message: base?.message ?? '',
      healthy: base?.healthy ?? undefined,
      // The exit code of a finished task is part of its latest state (as Mesos's reconciliation).
      container_status: base?.container_status ?? undefined,
      timestamp: this.core.clock.now() / 1000,
    };
  }

  /** A status the master makes; on an unreachable agent it says since when (`unreachable_time`), as the proto promises. */
  private status(taskId: string, agentId: string | undefined, state: TaskState, reason: StatusReason, message: string): TaskStatus {
    const agent = agentId === undefined ? undefined : this.core.agents.get(agentId);
    const unreachableAt = agent?.lifecycle === 'UNREACHABLE' ? agent.unreachableAt : undefined;
    return {
      task_id: { value: taskId },
      agent_id: agentId === undefined ? undefined : { value: agentId },
      state,
      source: 'SOURCE_MASTER',
      reason,
      message,
      timestamp: this.core.clock.now() / 1000,
      ...(unreachableAt === undefined ? {} : { unreachable_time: timeToWire(unreachableAt) }),
    };
  }

  /** Sends an UPDATE, translating partition-aware states for frameworks that are not. */
  private forward(fw: FrameworkEntry, status: TaskStatus | TaskStatus__Output): void {
    const aware = fw.info.capabilities.has('PARTITION_AWARE');
    const state = forFramework(status.state as TaskState, aware);
    fw.sink?.send({ type: 'UPDATE', update: { status: state === status.state ? (status as TaskStatus) : { ...(status as TaskStatus), state } } });
  }
}

/** A CommandInfo as views show it: the values of secret environment variables blanked. */
function withoutSecrets<C extends { environment?: { variables?: { secret?: boolean; value?: string }[] } | null }>(command: C | null | undefined): C | undefined {
  const variables = command?.environment?.variables;
  if (command == null || variables === undefined || !variables.some((v) => v.secret === true)) return command ?? undefined;
  return { ...command, environment: { ...command.environment, variables: variables.map((v) => (v.secret === true ? { ...v, value: '' } : v)) } };
}

/** Whether two status uuids are the same non-empty uuid. */
function sameUuid(a: Uint8Array | string | null | undefined, b: Uint8Array | string | null | undefined): boolean {
  if (a === undefined || a === null || b === undefined || b === null || a.length === 0) return false;
  return equalBytes(a, b);
}

/** The task with the labels the master's task-label decorators add (a decorator's label wins over the task's). */
function decorated(decorators: TaskLabelDecorators, fw: FrameworkEntry, agent: AgentEntry, task: TaskInfo__Output, role: string): TaskInfo__Output {
  const labels = new Map((task.labels?.labels ?? []).map((l) => [l.key, l.value] as const));
  for (const d of decorators) {
    const added = d.impl.decorate({ task, frameworkId: fw.id, principal: fw.info.principal, role, agentId: agent.id });
    for (const [key, value] of Object.entries(added ?? {})) labels.set(key, value);
  }
  return { ...task, labels: { labels: [...labels].map(([key, value]) => ({ key, value })) } };
}

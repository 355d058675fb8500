/**
 * The agent's tasks: their records (checkpointed as `task.json`) and their whole life once the master
 * has sent them (DESIGN §8). Owned by the `Agent` (./agent), which feeds it the master's messages.
 *
 * Task life: RUN_TASK → checkpoint the FrameworkInfo and the task → `launch` → TASK_STARTING, then
 * TASK_RUNNING → `wait` → TASK_FINISHED (exit 0) / TASK_FAILED (non-zero exit, a signal, launch
 * failure, max completion time) / TASK_KILLED (after KILL_TASK). Once the framework acknowledges the
 * terminal update the container is removed and the task's checkpoint deleted.
 *
 * Also here: the groups of RUN_TASK_GROUP (all or nothing, they live and die together), the health
 * checks (their verdicts become TASK_RUNNING updates; too many failures kill the task), kills (one
 * task, a framework's, or all of them when the agent stops), and the issue of every status update
 * through the {@link StatusUpdateManager}. Recovery after a restart (./recovery) re-populates it.
 */
import type { TaskUserPolicy } from './task-user';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import type { Clock } from '../common/clock';
import type { Logger } from '../common/logging';
import type { FrameworkInfo } from '../generated/berth/v1/FrameworkInfo';
import type { Task } from '../generated/berth/v1/Task';
import type { TaskInfo } from '../generated/berth/v1/TaskInfo';
import type { TaskStatus } from '../generated/berth/v1/TaskStatus';
import { escapeId, layout, type Checkpoint } from './checkpoint';
import { DEFAULT_KILL_GRACE_PERIOD_MS, type Containerizer, type LaunchSpec } from './containerizer/containerizer';
import { HealthChecker, type HealthCheckSpec } from './health-checker';
import type { AgentMetrics } from './metrics';
import { durationMs, terminalStatus } from './task-mapping';
import { launchSpecOf } from './launch-spec';
import { isTerminalState, uuidHex, type StatusUpdateManager, type TaskStateName } from './status-update-manager';

/** Content of a task's checkpointed `task.json`. */
export interface TaskRecord {
  readonly version: 1;
  readonly frameworkId: string;
  readonly task: TaskInfo;
  readonly role: string;
  readonly containerId: string;
  /** Set for the tasks of one RUN_TASK_GROUP (they live and die together). */
  readonly groupId?: string;
  /** The latest state the agent issued. */
  state: TaskStateName;
}

/**
 * A status the agent issues for a task (the rest is filled in by `issue`). `source` says who speaks
 * (common.proto TaskStatus.Source): SOURCE_EXECUTOR for what the task's own process did (started,
 * runs, ended — on its own, by a requested kill, at its max completion time), SOURCE_AGENT for
 * what the agent decided or saw around it (refusals, launch failures, health-check verdicts and the
 * kills they cause, group kills, memory limits, tasks lost across an agent restart).
 */
export type IssuedStatus = Pick<TaskStatus, 'state' | 'reason' | 'message' | 'healthy' | 'container_status'> & { source: 'SOURCE_AGENT' | 'SOURCE_EXECUTOR' };

export interface AgentTask {
  record: TaskRecord;
  /** The latest status issued (for REREGISTER). */
  latest: TaskStatus | undefined;
  /** Hex uuid of the terminal update, once issued. */
  terminalUuid: string | undefined;
  killRequested: boolean;
  /** The container has been started (or recovered) and `wait` is attached. */
  attached: boolean;
  /** The running health check, if the task has one. */
  health: HealthChecker | undefined;
  /** The latest health verdict (carried by later TASK_RUNNING updates). */
  healthy: boolean | undefined;
  /** Why the agent itself killed the task (health check, its group): the terminal status to report. */
  killCause: IssuedStatus | undefined;
  killGraceMs: number | undefined;
}

export function newTask(record: TaskRecord): AgentTask {
  return { record, latest: undefined, terminalUuid: undefined, killRequested: false, attached: false, killGraceMs: undefined, health: undefined, healthy: undefined, killCause: undefined };
}

export function keyOf(frameworkId: string, taskId: string): string {
  return JSON.stringify([frameworkId, taskId]);
}

/** What a {@link TaskRunner} works with. */
export interface TaskRunnerOptions {
  readonly checkpoint: Checkpoint;
  readonly containerizer: Containerizer;
  readonly updates: StatusUpdateManager;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics?: AgentMetrics;
  /** Host directories (absolute prefixes) tasks may mount as volumes. */
  readonly allowedHostPaths?: readonly string[];
  /** How task users are chosen and resolved. */
  readonly users: TaskUserPolicy;
  /** The agent id (undefined before the first registration). */
  readonly agentId: () => string | undefined;
  /** Called with a task's sandbox once the task is over for everyone (its terminal update acknowledged). */
  readonly onSandboxFinished?: (sandboxDir: string) => void;
}

/** Where a task's container keeps its sandbox: `<workDir>/sandboxes/<framework>/<task>/<container>`. */
export function sandboxDirOf(workDir: string, frameworkId: string, taskId: string, containerId: string): string {
  return path.join(workDir, 'sandboxes', escapeId(frameworkId), escapeId(taskId), containerId);
}

/** The agent's tasks and frameworks, and everything that happens to them. */
export class TaskRunner {
  /** Every task the agent knows, by {@link keyOf}. */
  readonly tasks = new Map<string, AgentTask>();
  /** The FrameworkInfo of each framework with tasks here. */
  readonly frameworks = new Map<string, FrameworkInfo>();
  /** Stopped or shut down: no more reports of container ends. */
  private stoppedFlag = false;
  /** Stopping or shutting down: RUN_TASK is ignored, launches in flight are awaited and killed. */
  private closingFlag = false;
  /** Container launches in flight. */
  private readonly launching = new Set<Promise<boolean>>();
  private readonly checkpoint: Checkpoint;
  private readonly containerizer: Containerizer;
  private readonly updates: StatusUpdateManager;
  private readonly logger: Logger;

  constructor(private readonly options: TaskRunnerOptions) {
    this.checkpoint = options.checkpoint;
    this.containerizer = options.containerizer;
    this.updates = options.updates;
    this.logger = options.logger;
  }

  get stopped(): boolean {
    return this.stoppedFlag;
  }

  get closing(): boolean {
    return this.closingFlag;
  }

  /** From now on container ends are no longer reported (the agent stops or shuts down). */
  markStopped(): void {
    this.stoppedFlag = true;
  }

  /** Stops every running health check. */
  stopHealthChecks(): void {
    for (const t of this.tasks.values()) t.health?.stop();
  }

  /** The agent's view of a task: its latest state, or undefined when it does not know it. */
  taskState(frameworkId: string, taskId: string): TaskStateName | undefined {
    return this.tasks.get(keyOf(frameworkId, taskId))?.record.state;
  }

  /** The sandboxes of the tasks the agent tracks (not to be garbage-collected). */
  sandboxesInUse(): Set<string> {
    const dirs = new Set<string>();
    for (const t of this.tasks.values()) dirs.add(sandboxDirOf(this.checkpoint.root, t.record.frameworkId, t.record.task.task_id!.value!, t.record.containerId));
    return dirs;
  }

  /** The container of a task, when the agent knows the task. */
  containerIdOf(frameworkId: string, taskId: string): string | undefined {
    return this.tasks.get(keyOf(frameworkId, taskId))?.record.containerId;
  }

  /** Counts for the agent's metrics: tasks by latest state, and containers running now. */
  stats(): { tasksByState: Record<string, number>; containers: number } {
    const tasksByState: Record<string, number> = {};
    let containers = 0;
    for (const t of this.tasks.values()) {
      tasksByState[t.record.state] = (tasksByState[t.record.state] ?? 0) + 1;
      if (t.attached && t.terminalUuid === undefined) containers++;
    }
    return { tasksByState, containers };
  }

  /** The tasks and their frameworks as REREGISTER reports them. */
  reregistration(agentId: string): { tasks: Task[]; frameworks: FrameworkInfo[] } {
    const tasks: Task[] = [];
    const frameworkIds = new Set<string>();
    for (const t of this.tasks.values()) {
      const info = t.record.task;
      frameworkIds.add(t.record.frameworkId);
      tasks.push({
        name: info.name, task_id: info.task_id, framework_id: { value: t.record.frameworkId }, agent_id: { value: agentId },
        state: t.record.state, statuses: t.latest === undefined ? [] : [t.latest], resources: info.resources, role: t.record.role,
        labels: info.labels, command: info.command, container: info.container, health_check: info.health_check,
        kill_policy: info.kill_policy, discovery: info.discovery, max_completion_time: info.max_completion_time,
      });
    }
    const frameworks = [...frameworkIds].map((id) => this.frameworks.get(id)).filter((f): f is FrameworkInfo => f !== undefined);
    return { tasks, frameworks };
  }

  rememberFramework(info: FrameworkInfo): void {
    const id = info.id!.value!;
    this.frameworks.set(id, info);
    this.checkpoint.writeJson(layout.frameworkInfo(id), info);
  }

  /**
   * RUN_TASK (one task) and RUN_TASK_GROUP (`group`): checkpoint, launch, report. A group is all or
   * nothing: one refused task refuses them all, their containers start together, and one failing to
   * start (or later failing, or being killed) kills the rest.
   */
  async run(frameworkInfo: FrameworkInfo | null | undefined, infos: readonly TaskInfo[], role: string, group: boolean): Promise<void> {
    const receivedAt = this.options.clock.now();
    const frameworkId = frameworkInfo?.id?.value ?? '';
    const what = group ? 'RUN_TASK_GROUP' : 'RUN_TASK';
    if (frameworkId === '' || infos.length === 0 || infos.some((i) => !i.task_id?.value)) {
      this.logger.warn(`${what} without a framework id or task id ignored`);
      return;
    }
    const known = infos.find((i) => this.tasks.has(keyOf(frameworkId, i.task_id!.value!)));
    if (known !== undefined) {
      this.logger.warn(`${what} for a task already known ignored`, { frameworkId, taskId: known.task_id!.value });
      return;
    }
    // The whole FrameworkInfo comes with the first task of a framework per connection; later only its id.
    if (frameworkInfo!.name !== '' || !this.frameworks.has(frameworkId)) this.rememberFramework(frameworkInfo!);

    const groupId = group ? randomUUID() : undefined;
    const planned = infos.map((info) => {
      const taskId = info.task_id!.value!;
      const record: TaskRecord = { version: 1, frameworkId, task: info, role, containerId: randomUUID(), state: 'TASK_STAGING', ...(groupId !== undefined ? { groupId } : {}) };
      const t = newTask(record);
      const plan = launchSpecOf(info, {
        containerId: record.containerId,
        frameworkId,
        agentId: this.options.agentId() ?? '',
        role,
        sandboxDir: sandboxDirOf(this.checkpoint.root, frameworkId, taskId, record.containerId),
        volumesDir: path.join(this.checkpoint.root, 'volumes'),
        types: this.containerizer.types,
        allowedHostPaths: this.options.allowedHostPaths ?? [],
        frameworkUser: this.frameworks.get(frameworkId)?.user ?? '',
        users: this.options.users,
      });
      return { t, plan };
    });
    const refused = planned.find((p) => 'refusal' in p.plan);
    if (refused !== undefined && 'refusal' in refused.plan) {
      const why = refused.plan.refusal;
      for (const { t } of planned) {
        this.tasks.set(keyOf(frameworkId, t.record.task.task_id!.value!), t);
        this.issue(t, t === refused.t ? { ...why, source: 'SOURCE_AGENT' } : { state: 'TASK_ERROR', reason: 'REASON_TASK_GROUP_INVALID', message: `another task of the group was refused: ${why.message}`, source: 'SOURCE_AGENT' });
      }
      return;
    }
    for (const { t } of planned) {
      this.checkpoint.writeJson(layout.taskInfo(frameworkId, t.record.task.task_id!.value!), t.record);
      this.tasks.set(keyOf(frameworkId, t.record.task.task_id!.value!), t);
      this.issue(t, { state: 'TASK_STARTING', source: 'SOURCE_EXECUTOR' });
    }
    const started = await Promise.all(planned.map(({ t, plan }) => {
      if (!('spec' in plan)) return false;
      const p = this.launch(t, plan.spec);
      this.launching.add(p);
      void p.finally(() => this.launching.delete(p));
      return p;
    }));
    if (this.stopped) return;
    const allStarted = started.every((ok) => ok);
    for (const { t, plan } of planned) {
      if (!t.attached) continue;
      if (!allStarted && !t.killRequested) this.killGroupMember(t, 'another task of its group failed to start');
      if (t.killRequested) {
        void this.containerizer.kill(t.record.containerId, t.killGraceMs).catch(() => undefined);
      } else if (t.terminalUuid === undefined) {
        this.issue(t, { state: 'TASK_RUNNING', source: 'SOURCE_EXECUTOR' });
        this.options.metrics?.launchLatency(this.options.clock.now() - receivedAt);
        if ('spec' in plan && plan.health !== undefined) this.startHealthCheck(t, plan.health);
      }
    }
  }

  /** Starts one container and attaches to its end; false when it did not start. */
  private async launch(t: AgentTask, spec: LaunchSpec): Promise<boolean> {
    try {
      const handle = await this.containerizer.launch(spec);
      this.options.metrics?.taskLaunched(spec.type.toLowerCase());
      if (!handle.started) this.options.metrics?.containerLaunchFailed();
      if (this.stopped) return handle.started;
      this.attach(t);
      return handle.started;
    } catch (err) {
      this.options.metrics?.containerLaunchFailed();
      this.logger.error('launching a container failed', { frameworkId: t.record.frameworkId, taskId: t.record.task.task_id?.value, err });
      this.issue(t, { state: 'TASK_FAILED', reason: 'REASON_CONTAINER_LAUNCH_FAILED', message: `launch failed: ${(err as Error).message}`, source: 'SOURCE_AGENT' });
      return false;
    }
  }

  /** Runs the task's health check while it runs; its verdicts become TASK_RUNNING updates with `healthy`. */
  startHealthCheck(t: AgentTask, spec: HealthCheckSpec): void {
    const taskId = t.record.task.task_id!.value!;
    const checker = new HealthChecker({
      spec,
      clock: this.options.clock,
      exec: (command, timeoutMs) => this.containerizer.exec(t.record.containerId, command, timeoutMs),
      onResult: (r) => {
        if (!r.healthy) this.options.metrics?.healthCheckFailed();
        if (t.terminalUuid !== undefined || t.killRequested) return;
        t.healthy = r.healthy;
        this.issue(t, { state: 'TASK_RUNNING', reason: 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED', message: r.message, source: 'SOURCE_AGENT' });
      },
      onFailureThreshold: (r) => {
        this.logger.warn('task unhealthy: killing it', { frameworkId: t.record.frameworkId, taskId, failures: r.consecutiveFailures, message: r.message });
        t.killCause = {
          state: 'TASK_KILLED',
          reason: 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED',
          message: `killed after ${r.consecutiveFailures} consecutive failed health checks: ${r.message}`,
          healthy: false,
          source: 'SOURCE_AGENT',
        };
        this.killTask(t.record.frameworkId, taskId, undefined);
      },
      logger: this.logger.child({ taskId }),
    });
    t.health = checker;
    checker.start();
  }

  /** Kills a task because of another member of its group. */
  killGroupMember(t: AgentTask, why: string): void {
    if (t.terminalUuid !== undefined || t.killRequested) return;
    t.killCause = { state: 'TASK_KILLED', reason: 'REASON_TASK_GROUP_INVALID', message: why, source: 'SOURCE_AGENT' };
    this.killTask(t.record.frameworkId, t.record.task.task_id!.value!, undefined, false);
  }

  /** The other live members of the task's group. */
  groupMates(t: AgentTask): AgentTask[] {
    const groupId = t.record.groupId;
    if (groupId === undefined) return [];
    return [...this.tasks.values()].filter((x) => x !== t && x.record.groupId === groupId && x.terminalUuid === undefined);
  }

  /** Waits for the task's container to end and issues the terminal update. */
  attach(t: AgentTask): void {
    t.attached = true;
    this.containerizer.wait(t.record.containerId).then(
      (exit) => {
        t.health?.stop();
        if (this.stopped || t.terminalUuid !== undefined) return;
        // The agent's own reason for a kill stands only if the kill is what ended it (a group mate may
        // have ended by itself at the same moment).
        // The agent's kill keeps the process's exit code.
        const ended = terminalStatus(exit, t.killRequested);
        const status = t.killCause !== undefined && exit.reason === 'KILLED' ? { ...t.killCause, ...(ended.container_status !== undefined ? { container_status: ended.container_status } : {}) } : ended;
        this.issue(t, status);
        // One member of a group failing (or being killed) ends the group.
        if (status.state !== 'TASK_FINISHED') {
          for (const mate of this.groupMates(t)) this.killGroupMember(mate, `task ${t.record.task.task_id?.value} of its group ended with ${String(status.state)}`);
        }
      },
      (err: unknown) => {
        if (this.stopped || t.terminalUuid !== undefined) return;
        this.issue(t, { state: 'TASK_FAILED', reason: 'REASON_CONTAINER_LAUNCH_FAILED', message: `container lost: ${(err as Error).message}`, source: 'SOURCE_AGENT' });
      },
    ).catch((err: unknown) => this.logger.error('reporting the end of a task failed', { taskId: t.record.task.task_id?.value, err }));
  }

  /**
   * Kills a task; a task of a group takes the whole group with it (unless `withGroup` is false).
   * `cause`: the terminal status when the kill ends it, if not the plain TASK_KILLED of a framework's kill.
   */
  killTask(frameworkId: string, taskId: string, graceMs: number | undefined, withGroup = true, cause?: IssuedStatus): void {
    const t = this.tasks.get(keyOf(frameworkId, taskId));
    if (t === undefined) {
      if (frameworkId !== '' && taskId !== '') {
        this.updates.update(frameworkId, { task_id: { value: taskId }, state: 'TASK_DROPPED', reason: 'REASON_TASK_UNKNOWN', source: 'SOURCE_AGENT', message: 'kill of a task this agent does not know' });
      }
      return;
    }
    if (t.terminalUuid !== undefined) return;
    if (t.killRequested) {
      // Asked again (the framework retries its KILL): deliver the signal again, SIGKILL once the grace is over.
      if (t.attached) void this.containerizer.kill(t.record.containerId, graceMs ?? t.killGraceMs).catch(() => undefined);
      return;
    }
    t.killRequested = true;
    if (cause !== undefined) t.killCause ??= cause;
    t.killGraceMs = graceMs ?? durationMs(t.record.task.kill_policy?.grace_period) ?? DEFAULT_KILL_GRACE_PERIOD_MS;
    t.health?.stop();
    this.logger.info('killing task', { frameworkId, taskId, graceMs: t.killGraceMs });
    if (t.attached) void this.containerizer.kill(t.record.containerId, t.killGraceMs).catch((err: unknown) => this.logger.warn('kill failed', { taskId, err }));
    if (withGroup) for (const mate of this.groupMates(t)) this.killGroupMember(mate, `task ${taskId} of its group was killed`);
  }

  async killAll(why: string): Promise<void> {
    // No new launches from here on; those in flight finish first, so their containers are killed too.
    this.closingFlag = true;
    await Promise.allSettled([...this.launching]);
    const kills: Promise<void>[] = [];
    for (const t of this.tasks.values()) {
      if (t.terminalUuid !== undefined || !t.attached) continue;
      t.killRequested = true;
      kills.push(this.containerizer.kill(t.record.containerId, durationMs(t.record.task.kill_policy?.grace_period)).catch(() => undefined));
    }
    this.logger.info('killing every task', { why, tasks: kills.length });
    await Promise.all(kills);
    // Let the terminal updates be checkpointed (wait() handlers run after kill resolves).
    await new Promise((r) => setImmediate(r));
  }

  /** Issues a status update for the task through the status update manager and records the state. */
  issue(t: AgentTask, status: IssuedStatus): void {
    const frameworkId = t.record.frameworkId;
    const healthy = status.healthy ?? (status.state === 'TASK_RUNNING' ? t.healthy : undefined);
    const message = redactSecrets(status.message, t.record.task);
    const full: TaskStatus = { task_id: t.record.task.task_id, ...status, ...(message !== undefined ? { message } : {}), ...(healthy !== undefined ? { healthy } : {}) };
    const { uuid, accepted } = this.updates.update(frameworkId, full);
    if (!accepted) return;
    const state = status.state as TaskStateName;
    this.options.metrics?.statusUpdateSent(state);
    const changed = t.record.state !== state;
    t.record.state = state;
    const agentId = this.options.agentId();
    t.latest = { ...full, uuid, agent_id: agentId === undefined ? undefined : { value: agentId } };
    if (isTerminalState(state)) t.terminalUuid = uuid.toString('hex');
    // The update itself is checkpointed by the status update manager; task.json keeps the state for
    // after it is acknowledged. TASK_STARTING is not worth a write on the launch path: a restart
    // treats a task recorded as STAGING the same way.
    const file = layout.taskInfo(frameworkId, t.record.task.task_id!.value!);
    if (changed && state !== 'TASK_STARTING' && this.checkpoint.exists(file)) this.checkpoint.writeJson(file, t.record);
    this.logger.info('task status', { frameworkId, taskId: t.record.task.task_id?.value, state, message });
  }

  acknowledged(frameworkId: string, taskId: string, uuid: Uint8Array | string): void {
    const done = this.updates.acknowledge(frameworkId, taskId, uuid);
    const key = keyOf(frameworkId, taskId);
    const t = this.tasks.get(key);
    if (done && t === undefined) this.forgetUntracked(frameworkId, taskId);
    if (!done || t === undefined || t.terminalUuid !== uuidHex(uuid)) return;
    // The terminal update is acknowledged: the task is over for everyone.
    this.tasks.delete(key);
    this.checkpoint.remove(layout.taskDir(frameworkId, taskId));
    if (![...this.tasks.values()].some((x) => x.record.frameworkId === frameworkId) && this.checkpoint.taskIds(frameworkId).length === 0) {
      this.checkpoint.remove(layout.frameworkDir(frameworkId));
    }
    // The sandbox is scheduled for garbage collection once the container is gone (a Docker
    // container's logs are copied into it on removal).
    void this.containerizer.remove(t.record.containerId)
      .catch((err: unknown) => this.logger.warn('removing a container failed', { taskId, err }))
      .finally(() => this.options.onSandboxFinished?.(sandboxDirOf(this.checkpoint.root, frameworkId, taskId, t.record.containerId)));
  }

  /**
   * A task the agent never ran (refused with TASK_ERROR, or unknown to it) keeps only its updates in
   * the checkpoint; once they are all acknowledged its directory goes too.
   */
  private forgetUntracked(frameworkId: string, taskId: string): void {
    if (this.checkpoint.exists(layout.taskInfo(frameworkId, taskId))) return;
    if (this.updates.pending().some((u) => u.framework_id?.value === frameworkId && u.status?.task_id?.value === taskId)) return;
    this.checkpoint.remove(layout.taskDir(frameworkId, taskId));
  }

  /** RECONCILE_TASKS: the tasks the agent does not know are reported TASK_DROPPED. */
  reconcile(frameworkId: string, taskIds: readonly string[]): void {
    for (const id of taskIds) {
      if (this.tasks.has(keyOf(frameworkId, id))) continue; // its updates are in flight or acknowledged
      this.updates.update(frameworkId, { task_id: { value: id }, state: 'TASK_DROPPED', reason: 'REASON_RECONCILIATION', source: 'SOURCE_AGENT', message: 'the agent does not know this task' });
    }
  }

  /** SHUTDOWN_FRAMEWORK: kills every task of the framework. */
  killFramework(frameworkId: string): void {
    for (const t of this.tasks.values()) if (t.record.frameworkId === frameworkId) this.killTask(frameworkId, t.record.task.task_id!.value!, undefined);
  }
}

/** Shortest secret value blanked out of messages: shorter ones would blank ordinary words and digits. */
const MIN_REDACTED_LENGTH = 4;

/** `message` with the values of the task's secret environment variables replaced by `***`. */
export function redactSecrets(message: string | null | undefined, task: TaskInfo): string | undefined {
  if (message == null || message === '') return message ?? undefined;
  let out = message;
  for (const v of task.command?.environment?.variables ?? []) {
    if (v.secret === true && typeof v.value === 'string' && v.value.length >= MIN_REDACTED_LENGTH) out = out.split(v.value).join('***');
  }
  return out;
}

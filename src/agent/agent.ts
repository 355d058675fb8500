/**
 * The Agent: runs the tasks the master sends it in containers and reports their states reliably
 * (DESIGN §8). Wires the {@link MasterLink} (the AgentLink stream), the {@link StatusUpdateManager}
 * (checkpointed, acknowledged updates), the {@link Checkpoint} (what survives a restart) and a
 * {@link Containerizer}.
 *
 * Task life: RUN_TASK → checkpoint the FrameworkInfo and the task → `launch` → TASK_STARTING, then
 * TASK_RUNNING → `wait` → TASK_FINISHED (exit 0) / TASK_FAILED (non-zero exit, a signal, launch
 * failure, max completion time) / TASK_KILLED (after KILL_TASK). Once the framework acknowledges the
 * terminal update the container is removed and the task's checkpoint deleted.
 *
 * Restart: `start()` reads the checkpoint, loads the unacknowledged updates, asks the containerizer
 * to `recover`: live containers are re-attached (their tasks go in REREGISTER), dead ones get their
 * terminal update, containers the checkpoint does not know are killed. Tasks keep running while no
 * agent process watches them (unless the agent is stopped with `killTasks`).
 */
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Attribute } from '../common/attributes';
import { BerthError } from '../common/errors';
import type { Clock } from '../common/clock';
import { nullLogger, type Logger } from '../common/logging';
import type { Resources } from '../common/resources';
import { attributesToWire, resourcesToWire } from '../common/wire';
import type { AgentMessage } from '../generated/berth/v1/AgentMessage';
import type { FrameworkInfo } from '../generated/berth/v1/FrameworkInfo';
import type { MasterMessage__Output } from '../generated/berth/v1/MasterMessage';
import type { Task } from '../generated/berth/v1/Task';
import type { TaskInfo } from '../generated/berth/v1/TaskInfo';
import type { TaskStatus } from '../generated/berth/v1/TaskStatus';
import { Checkpoint, escapeId, layout } from './checkpoint';
import { DEFAULT_KILL_GRACE_PERIOD_MS, type Containerizer, type LaunchSpec, type RecoveredContainer } from './containerizer/containerizer';
import { HealthChecker, healthCheckFromWire, type HealthCheckSpec } from './health-checker';
import type { AgentMetrics } from './metrics';
import { ProcessContainerizer } from './containerizer/process-containerizer';
import { durationMs, taskPorts, terminalStatus } from './task-mapping';
import { launchSpecOf } from './launch-spec';
import { readTaskLog } from './task-logs';
import { MasterLink } from './master-link';
import { isTerminalState, StatusUpdateManager, uuidHex, type TaskStateName } from './status-update-manager';

/** Options of {@link Agent}. */
export interface AgentOptions {
  /** The master's gRPC address, `host:port`. */
  readonly master: string;
  readonly hostname: string;
  /** Total resources (see `agentResources` in ./config). */
  readonly resources: Resources;
  readonly attributes?: readonly Attribute[];
  /** Checkpoint and sandboxes. */
  readonly workDir: string;
  readonly clock: Clock;
  /** @default a ProcessContainerizer with its pointers under `<workDir>/containers` */
  readonly containerizer?: Containerizer;
  /**
   * `reconnect`: recover the checkpoint and the running containers (the normal restart). `cleanup`:
   * kill every container, move the checkpoint aside and register as a new agent (the way out of a
   * corrupt checkpoint, or of an incompatible upgrade). @default 'reconnect'
   */
  readonly recover?: 'reconnect' | 'cleanup';
  /** Host directories (absolute prefixes) tasks may mount as volumes. @default none */
  readonly allowedHostPaths?: readonly string[];
  /** The agent's fault domain, reported at registration. */
  readonly domain?: { readonly region: string; readonly zone: string };
  /** Where launches, status updates and health checks are counted. @default none */
  readonly metrics?: AgentMetrics;
  /** Berth version reported to the master. @default '0.0.0' */
  readonly version?: string;
  /** First status update resend delay. @default 10_000 */
  readonly statusRetryMinMs?: number;
  /** First re-dial delay of the master link. @default 500 */
  readonly reconnectMinMs?: number;
  /** Cap of the re-dial delay. @default 30_000 */
  readonly reconnectMaxMs?: number;
  /** Bearer token sent as `authorization: Bearer <token>` on each connection (a secret: never logged). */
  readonly token?: string;
  /** Called once when the master sends SHUTDOWN (the agent has killed its tasks and stopped). */
  readonly onShutdown?: (message: string) => void;
  /** @default nullLogger */
  readonly logger?: Logger;
}

/** Content of a task's checkpointed `task.json`. */
interface TaskRecord {
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

/** A status the agent issues for a task (the rest is filled in by `issue`). */
type IssuedStatus = Pick<TaskStatus, 'state' | 'reason' | 'message' | 'healthy'>;

interface AgentTask {
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

function isDockerTask(task: TaskInfo): boolean {
  const c = task.container;
  return c?.type === 'DOCKER' || ((c?.type === undefined || c?.type === 'TYPE_UNSPECIFIED') && !!c?.docker);
}

function newTask(record: TaskRecord): AgentTask {
  return { record, latest: undefined, terminalUuid: undefined, killRequested: false, attached: false, killGraceMs: undefined, health: undefined, healthy: undefined, killCause: undefined };
}

function keyOf(frameworkId: string, taskId: string): string {
  return JSON.stringify([frameworkId, taskId]);
}

/** The agent daemon. */
export class Agent {
  readonly checkpoint: Checkpoint;
  readonly containerizer: Containerizer;
  private readonly logger: Logger;
  private readonly updates: StatusUpdateManager;
  private readonly link: MasterLink;
  private readonly tasks = new Map<string, AgentTask>();
  private readonly frameworks = new Map<string, FrameworkInfo>();
  private id: string | undefined;
  private stopped = false;
  /** Stopping or shutting down: RUN_TASK is ignored, launches in flight are awaited and killed. */
  private closing = false;
  /** Container launches in flight. */
  private readonly launching = new Set<Promise<boolean>>();
  private started = false;
  private registeredWaiters: (() => void)[] = [];

  constructor(private readonly options: AgentOptions) {
    this.logger = (options.logger ?? nullLogger).child({ component: 'agent' });
    this.checkpoint = new Checkpoint(options.workDir);
    this.containerizer = options.containerizer ?? new ProcessContainerizer({ runtimeDir: path.join(this.checkpoint.root, 'containers'), clock: options.clock });
    this.updates = new StatusUpdateManager({
      checkpoint: this.checkpoint,
      clock: options.clock,
      send: (update) => this.link.send({ type: 'STATUS_UPDATE', status_update: update }),
      retryMinMs: options.statusRetryMinMs,
      agentId: () => this.id,
      logger: this.logger,
    });
    this.link = new MasterLink({
      master: options.master,
      clock: options.clock,
      hello: () => this.hello(),
      onRegistered: (agentId) => this.onRegistered(agentId),
      onDisconnected: () => {
        this.updates.pause();
        options.metrics?.masterReconnect();
      },
      onMessage: (msg) => this.onMessage(msg),
      onShutdown: (message) => void this.onShutdown(message),
      backoffMinMs: options.reconnectMinMs,
      backoffMaxMs: options.reconnectMaxMs,
      metadata: options.token === undefined ? undefined : () => {
        const md = new grpc.Metadata();
        md.set('authorization', `Bearer ${options.token}`);
        return md;
      },
      logger: this.logger,
    });
  }

  /** The agent id (undefined before the first registration). */
  get agentId(): string | undefined {
    return this.id;
  }

  /** Whether the link to the master is registered now. */
  get registered(): boolean {
    return this.link.registered;
  }

  /** The agent's view of a task: its latest state, or undefined when it does not know it. */
  taskState(frameworkId: string, taskId: string): TaskStateName | undefined {
    return this.tasks.get(keyOf(frameworkId, taskId))?.record.state;
  }

  /** How many status updates wait for an acknowledgement. */
  pendingUpdates(): number {
    return this.updates.pending().length;
  }

  /** Resolves at the next (re)registration, or at once when registered. */
  whenRegistered(): Promise<void> {
    if (this.link.registered) return Promise.resolve();
    return new Promise((resolve) => this.registeredWaiters.push(resolve));
  }

  /**
   * Recovers the checkpoint and the containers, then dials the master. With `recover: 'cleanup'`
   * it first kills every container it finds and moves the checkpoint aside: the agent then registers
   * as a new one (the master sees the old agent's tasks as gone once it gives up on it).
   */
  async start(): Promise<void> {
    if (this.started) throw new Error('agent already started');
    this.started = true;
    this.updates.pause();
    if (this.options.recover === 'cleanup') await this.cleanup();
    await this.recover();
    this.link.start();
  }

  /**
   * Stops: closes the master link and the status update timers. Containers keep running (a new agent
   * on the same work directory recovers them) unless `killTasks`, which kills them first.
   */
  async stop(opts: { killTasks?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    if (opts.killTasks === true) await this.killAll('agent shutting down');
    this.stopped = true;
    for (const t of this.tasks.values()) t.health?.stop();
    this.link.stop();
    this.updates.close();
    await this.containerizer.close();
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

  // ---- recovery ----

  private async cleanup(): Promise<void> {
    const containers = await this.containerizer.recover();
    await Promise.all(containers.map(async (c) => {
      await this.containerizer.kill(c.containerId, 0);
      await this.containerizer.remove(c.containerId);
    }));
    const aside = this.checkpoint.discard(this.options.clock.now());
    this.logger.warn('recover=cleanup: containers killed and the checkpoint moved aside; registering as a new agent', { containers: containers.length, checkpoint: aside });
  }

  private async recover(): Promise<void> {
    this.id = this.checkpoint.readAgentId();
    /** Containers of tasks forgotten here (removed, not killed as orphans: they have ended). */
    const forgotten = new Set<string>();
    this.updates.recover();
    const pending = this.updates.pending();
    for (const frameworkId of this.checkpoint.frameworkIds()) {
      const fw = this.checkpoint.readJson<FrameworkInfo>(layout.frameworkInfo(frameworkId));
      if (fw !== undefined) this.frameworks.set(frameworkId, fw);
      for (const taskId of this.checkpoint.taskIds(frameworkId)) {
        const record = this.checkpoint.readJson<TaskRecord>(layout.taskInfo(frameworkId, taskId));
        if (record === undefined) continue;
        const mine = pending.filter((u) => u.framework_id?.value === frameworkId && u.status?.task_id?.value === taskId);
        const last = mine[mine.length - 1]?.status ?? undefined;
        const terminal = mine.find((u) => isTerminalState(u.status!.state as TaskStateName));
        if (mine.length === 0 && isTerminalState(record.state)) {
          // Its terminal update was acknowledged just before the agent went down: finish forgetting it.
          this.checkpoint.remove(layout.taskDir(frameworkId, taskId));
          forgotten.add(record.containerId);
          continue;
        }
        const t = newTask({ ...record, state: (last?.state as TaskStateName | undefined) ?? record.state });
        t.latest = last;
        t.healthy = last?.healthy ?? undefined;
        t.terminalUuid = terminal === undefined ? undefined : uuidHex(terminal.status!.uuid);
        this.tasks.set(keyOf(frameworkId, taskId), t);
      }
    }
    const docker = [...this.tasks.values()].filter((t) => t.terminalUuid === undefined && !isTerminalState(t.record.state) && isDockerTask(t.record.task));
    if (docker.length > 0 && !this.containerizer.types.includes('DOCKER')) {
      // Failing them would start their work again elsewhere while their containers run on, unwatched.
      throw new BerthError('DOCKER_UNAVAILABLE', `the checkpoint holds ${docker.length} running DOCKER task(s) (e.g. ${docker[0]!.record.task.task_id?.value}) but this agent has no Docker engine: start dockerd (or wait for it) and restart the agent, or restart it with --recover=cleanup to discard them`);
    }

    const containers = await this.containerizer.recover();
    const byId = new Map<string, RecoveredContainer>(containers.map((c) => [c.containerId, c]));
    for (const t of this.tasks.values()) {
      const c = byId.get(t.record.containerId);
      byId.delete(t.record.containerId);
      if (t.terminalUuid !== undefined || isTerminalState(t.record.state)) continue; // its end is already reported
      if (c === undefined) {
        this.issue(t, { state: 'TASK_FAILED', reason: 'REASON_AGENT_RESTARTED', message: 'the task\'s container was not found after the agent restarted' });
        continue;
      }
      this.logger.info(c.alive ? 'task container re-attached' : 'task container ended while the agent was down', {
        frameworkId: t.record.frameworkId, taskId: t.record.task.task_id?.value, containerId: c.containerId,
      });
      this.attach(t);
      // Started while the agent went down, before TASK_RUNNING went out: say it now (the master must
      // not see the task go back to STAGING in the re-registration).
      if (c.alive && (t.record.state === 'TASK_STAGING' || t.record.state === 'TASK_STARTING')) this.issue(t, { state: 'TASK_RUNNING' });
      if (c.alive && t.record.task.health_check) {
        // Checks start over (delay, grace period) with the new agent process; the verdict so far stands.
        try {
          this.startHealthCheck(t, healthCheckFromWire(t.record.task.health_check, taskPorts(t.record.task)));
        } catch (err) {
          this.logger.warn('health check of a recovered task not restarted', { taskId: t.record.task.task_id?.value, err: (err as Error).message });
        }
      }
    }
    // A group with a member that ended badly while the agent was down goes down with it.
    for (const t of this.tasks.values()) {
      if (t.record.groupId === undefined || !isTerminalState(t.record.state) || t.record.state === 'TASK_FINISHED') continue;
      for (const mate of this.groupMates(t)) this.killGroupMember(mate, `task ${t.record.task.task_id?.value} of its group ended with ${t.record.state} while the agent was down`);
    }
    for (const id of forgotten) {
      byId.delete(id);
      void this.containerizer.remove(id).catch(() => undefined);
    }
    // Containers nobody knows (their checkpoint is gone): kill and forget them.
    for (const orphan of byId.values()) {
      this.logger.warn('orphan container killed', { containerId: orphan.containerId, taskId: orphan.taskId });
      void this.containerizer
        .kill(orphan.containerId, 0)
        .then(() => this.containerizer.remove(orphan.containerId))
        .catch((err: unknown) => this.logger.warn('cleaning up an orphan container failed', { containerId: orphan.containerId, err }));
    }
    this.logger.info('agent state recovered', { agentId: this.id, tasks: this.tasks.size, pendingUpdates: pending.length, containers: containers.length });
  }

  // ---- the master link ----

  private hello(): AgentMessage {
    const agentInfo = {
      hostname: this.options.hostname,
      resources: resourcesToWire(this.options.resources),
      attributes: attributesToWire([...(this.options.attributes ?? [])]),
      ...(this.options.domain !== undefined
        ? { domain: { fault_domain: { region: { name: this.options.domain.region }, zone: { name: this.options.domain.zone } } } }
        : {}),
      ...(this.id !== undefined ? { id: { value: this.id } } : {}),
    };
    const version = this.options.version ?? '0.0.0';
    const supported_containers = [...this.containerizer.types];
    if (this.id === undefined) return { type: 'REGISTER', register: { agent_info: agentInfo, version, supported_containers } };
    const tasks: Task[] = [];
    const frameworkIds = new Set<string>();
    for (const t of this.tasks.values()) {
      const info = t.record.task;
      frameworkIds.add(t.record.frameworkId);
      tasks.push({
        name: info.name, task_id: info.task_id, framework_id: { value: t.record.frameworkId }, agent_id: { value: this.id },
        state: t.record.state, statuses: t.latest === undefined ? [] : [t.latest], resources: info.resources, role: t.record.role,
        labels: info.labels, command: info.command, container: info.container, health_check: info.health_check,
        kill_policy: info.kill_policy, discovery: info.discovery, max_completion_time: info.max_completion_time,
      });
    }
    const frameworks = [...frameworkIds].map((id) => this.frameworks.get(id)).filter((f): f is FrameworkInfo => f !== undefined);
    return {
      type: 'REREGISTER',
      reregister: { agent_info: agentInfo, version, supported_containers, tasks, frameworks, unacknowledged_updates: this.updates.pending() },
    };
  }

  private onRegistered(agentId: string): void {
    if (this.id !== agentId) {
      this.checkpoint.writeAgentId(agentId);
      this.id = agentId;
    }
    this.updates.flush();
    for (const w of this.registeredWaiters.splice(0)) w();
  }

  private onMessage(msg: MasterMessage__Output): void {
    if (this.stopped) return;
    if (this.closing && (msg.type === 'RUN_TASK' || msg.type === 'RUN_TASK_GROUP')) {
      this.logger.warn('launch refused: the agent is stopping', { type: msg.type });
      return;
    }
    try {
      switch (msg.type) {
        case 'RUN_TASK': {
          const r = msg.run_task!;
          this.run(r.framework_info as FrameworkInfo | null, r.task === null ? [] : [r.task as TaskInfo], r.role ?? '', false).catch((err: unknown) => this.logger.error('RUN_TASK failed', { err }));
          return;
        }
        case 'RUN_TASK_GROUP': {
          const r = msg.run_task_group!;
          this.run(r.framework_info as FrameworkInfo | null, (r.task_group?.tasks ?? []) as TaskInfo[], r.role ?? '', true).catch((err: unknown) => this.logger.error('RUN_TASK_GROUP failed', { err }));
          return;
        }
        case 'KILL_TASK': {
          const k = msg.kill_task!;
          this.killTask(k.framework_id?.value ?? '', k.task_id?.value ?? '', durationMs(k.kill_policy?.grace_period));
          return;
        }
        case 'STATUS_UPDATE_ACKNOWLEDGEMENT': {
          const a = msg.status_update_acknowledgement!;
          this.acknowledged(a.framework_id?.value ?? '', a.task_id?.value ?? '', a.uuid);
          return;
        }
        case 'RECONCILE_TASKS': {
          const r = msg.reconcile_tasks!;
          const frameworkId = r.framework_id?.value ?? '';
          for (const id of r.task_ids ?? []) {
            if (this.tasks.has(keyOf(frameworkId, id.value))) continue; // its updates are in flight or acknowledged
            this.updates.update(frameworkId, { task_id: { value: id.value }, state: 'TASK_DROPPED', reason: 'REASON_RECONCILIATION', source: 'SOURCE_AGENT', message: 'the agent does not know this task' });
          }
          return;
        }
        case 'UPDATE_FRAMEWORK': {
          const fw = msg.update_framework?.framework_info;
          if (fw?.id?.value) this.rememberFramework(fw as FrameworkInfo);
          return;
        }
        case 'SHUTDOWN_FRAMEWORK': {
          const frameworkId = msg.shutdown_framework?.framework_id?.value ?? '';
          for (const t of this.tasks.values()) if (t.record.frameworkId === frameworkId) this.killTask(frameworkId, t.record.task.task_id!.value!, undefined);
          return;
        }
        case 'READ_TASK_LOG':
          this.readTaskLog(msg.read_task_log!).catch((err: unknown) => this.logger.warn('READ_TASK_LOG failed', { err }));
          return;
        default:
          this.logger.debug('master message not handled by this agent', { type: msg.type });
      }
    } catch (err) {
      this.logger.error('handling a master message failed', { type: msg.type, err });
    }
  }

  // ---- tasks ----

  private rememberFramework(info: FrameworkInfo): void {
    const id = info.id!.value!;
    this.frameworks.set(id, info);
    this.checkpoint.writeJson(layout.frameworkInfo(id), info);
  }

  /**
   * RUN_TASK (one task) and RUN_TASK_GROUP (`group`): checkpoint, launch, report. A group is all or
   * nothing: one refused task refuses them all, their containers start together, and one failing to
   * start (or later failing, or being killed) kills the rest.
   */
  private async run(frameworkInfo: FrameworkInfo | null | undefined, infos: readonly TaskInfo[], role: string, group: boolean): Promise<void> {
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
        agentId: this.id ?? '',
        role,
        sandboxDir: path.join(this.checkpoint.root, 'sandboxes', escapeId(frameworkId), escapeId(taskId), record.containerId),
        volumesDir: path.join(this.checkpoint.root, 'volumes'),
        types: this.containerizer.types,
        allowedHostPaths: this.options.allowedHostPaths ?? [],
      });
      return { t, plan };
    });
    const refused = planned.find((p) => 'refusal' in p.plan);
    if (refused !== undefined && 'refusal' in refused.plan) {
      const why = refused.plan.refusal;
      for (const { t } of planned) {
        this.tasks.set(keyOf(frameworkId, t.record.task.task_id!.value!), t);
        this.issue(t, t === refused.t ? why : { state: 'TASK_ERROR', reason: 'REASON_TASK_GROUP_INVALID', message: `another task of the group was refused: ${why.message}` });
      }
      return;
    }
    for (const { t } of planned) {
      this.checkpoint.writeJson(layout.taskInfo(frameworkId, t.record.task.task_id!.value!), t.record);
      this.tasks.set(keyOf(frameworkId, t.record.task.task_id!.value!), t);
      this.issue(t, { state: 'TASK_STARTING' });
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
        this.issue(t, { state: 'TASK_RUNNING' });
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
      this.issue(t, { state: 'TASK_FAILED', reason: 'REASON_CONTAINER_LAUNCH_FAILED', message: `launch failed: ${(err as Error).message}` });
      return false;
    }
  }

  /** Runs the task's health check while it runs; its verdicts become TASK_RUNNING updates with `healthy`. */
  private startHealthCheck(t: AgentTask, spec: HealthCheckSpec): void {
    const taskId = t.record.task.task_id!.value!;
    const checker = new HealthChecker({
      spec,
      clock: this.options.clock,
      exec: (command, timeoutMs) => this.containerizer.exec(t.record.containerId, command, timeoutMs),
      onResult: (r) => {
        if (!r.healthy) this.options.metrics?.healthCheckFailed();
        if (t.terminalUuid !== undefined || t.killRequested) return;
        t.healthy = r.healthy;
        this.issue(t, { state: 'TASK_RUNNING', reason: 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED', message: r.message });
      },
      onFailureThreshold: (r) => {
        this.logger.warn('task unhealthy: killing it', { frameworkId: t.record.frameworkId, taskId, failures: r.consecutiveFailures, message: r.message });
        t.killCause = {
          state: 'TASK_KILLED',
          reason: 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED',
          message: `killed after ${r.consecutiveFailures} consecutive failed health checks: ${r.message}`,
          healthy: false,
        };
        this.killTask(t.record.frameworkId, taskId, undefined);
      },
      logger: this.logger.child({ taskId }),
    });
    t.health = checker;
    checker.start();
  }

  /** Kills a task because of another member of its group. */
  private killGroupMember(t: AgentTask, why: string): void {
    if (t.terminalUuid !== undefined || t.killRequested) return;
    t.killCause = { state: 'TASK_KILLED', reason: 'REASON_TASK_GROUP_INVALID', message: why };
    this.killTask(t.record.frameworkId, t.record.task.task_id!.value!, undefined, false);
  }

  /** The other live members of the task's group. */
  private groupMates(t: AgentTask): AgentTask[] {
    const groupId = t.record.groupId;
    if (groupId === undefined) return [];
    return [...this.tasks.values()].filter((x) => x !== t && x.record.groupId === groupId && x.terminalUuid === undefined);
  }

  /** Waits for the task's container to end and issues the terminal update. */
  private attach(t: AgentTask): void {
    t.attached = true;
    this.containerizer.wait(t.record.containerId).then(
      (exit) => {
        t.health?.stop();
        if (this.stopped || t.terminalUuid !== undefined) return;
        // The agent's own reason for a kill stands only if the kill is what ended it (a group mate may
        // have ended by itself at the same moment).
        const status = t.killCause !== undefined && exit.reason === 'KILLED' ? t.killCause : terminalStatus(exit, t.killRequested);
        this.issue(t, status);
        // One member of a group failing (or being killed) ends the group.
        if (status.state !== 'TASK_FINISHED') {
          for (const mate of this.groupMates(t)) this.killGroupMember(mate, `task ${t.record.task.task_id?.value} of its group ended with ${String(status.state)}`);
        }
      },
      (err: unknown) => {
        if (this.stopped || t.terminalUuid !== undefined) return;
        this.issue(t, { state: 'TASK_FAILED', reason: 'REASON_CONTAINER_LAUNCH_FAILED', message: `container lost: ${(err as Error).message}` });
      },
    ).catch((err: unknown) => this.logger.error('reporting the end of a task failed', { taskId: t.record.task.task_id?.value, err }));
  }

  /** Kills a task; a task of a group takes the whole group with it (unless `withGroup` is false). */
  private killTask(frameworkId: string, taskId: string, graceMs: number | undefined, withGroup = true): void {
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
    t.killGraceMs = graceMs ?? durationMs(t.record.task.kill_policy?.grace_period) ?? DEFAULT_KILL_GRACE_PERIOD_MS;
    t.health?.stop();
    this.logger.info('killing task', { frameworkId, taskId, graceMs: t.killGraceMs });
    if (t.attached) void this.containerizer.kill(t.record.containerId, t.killGraceMs).catch((err: unknown) => this.logger.warn('kill failed', { taskId, err }));
    if (withGroup) for (const mate of this.groupMates(t)) this.killGroupMember(mate, `task ${taskId} of its group was killed`);
  }

  private async killAll(why: string): Promise<void> {
    // No new launches from here on; those in flight finish first, so their containers are killed too.
    this.closing = true;
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
  private issue(t: AgentTask, status: IssuedStatus): void {
    const frameworkId = t.record.frameworkId;
    const healthy = status.healthy ?? (status.state === 'TASK_RUNNING' ? t.healthy : undefined);
    const full: TaskStatus = { task_id: t.record.task.task_id, source: 'SOURCE_AGENT', ...status, ...(healthy !== undefined ? { healthy } : {}) };
    const { uuid, accepted } = this.updates.update(frameworkId, full);
    if (!accepted) return;
    const state = status.state as TaskStateName;
    this.options.metrics?.statusUpdateSent(state);
    const changed = t.record.state !== state;
    t.record.state = state;
    t.latest = { ...full, uuid, agent_id: this.id === undefined ? undefined : { value: this.id } };
    if (isTerminalState(state)) t.terminalUuid = uuid.toString('hex');
    // The update itself is checkpointed by the status update manager; task.json keeps the state for
    // after it is acknowledged. TASK_STARTING is not worth a write on the launch path: a restart
    // treats a task recorded as STAGING the same way.
    const file = layout.taskInfo(frameworkId, t.record.task.task_id!.value!);
    if (changed && state !== 'TASK_STARTING' && this.checkpoint.exists(file)) this.checkpoint.writeJson(file, t.record);
    this.logger.info('task status', { frameworkId, taskId: t.record.task.task_id?.value, state, message: status.message });
  }

  private acknowledged(frameworkId: string, taskId: string, uuid: Uint8Array | string): void {
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
    void this.containerizer.remove(t.record.containerId).catch((err: unknown) => this.logger.warn('removing a container failed', { taskId, err }));
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

  private async readTaskLog(req: NonNullable<MasterMessage__Output['read_task_log']>): Promise<void> {
    const t = this.tasks.get(keyOf(req.framework_id?.value ?? '', req.task_id?.value ?? ''));
    const body = await readTaskLog(req, { containerizer: this.containerizer, containerId: t?.record.containerId, sandboxRoot: path.join(this.checkpoint.root, 'sandboxes') });
    try {
      this.link.send({ type: 'TASK_LOG', task_log: { request_id: req.request_id, ...body } });
    } catch (err) {
      this.logger.warn('TASK_LOG reply not sent', { err: (err as Error).message });
    }
  }

  private async onShutdown(message: string): Promise<void> {
    this.logger.warn('shutting down at the master\'s request', { message });
    await this.killAll(`master: ${message}`);
    this.stopped = true;
    this.updates.close();
    await this.containerizer.close();
    this.options.onShutdown?.(message);
  }
}

/**
 * The Agent: runs the tasks the master sends it in containers and reports their states reliably
 * (DESIGN §8). The composition of the agent daemon: it wires the {@link MasterLink} (the AgentLink
 * stream), the {@link StatusUpdateManager} (checkpointed, acknowledged updates), the
 * {@link Checkpoint} (what survives a restart), a {@link Containerizer} and the {@link TaskRunner}
 * (./task-runner: the tasks, their groups, health checks and kills), and routes the master's
 * messages to them. It owns the agent id and the registration (REGISTER / REREGISTER).
 *
 * Restart: `start()` recovers the checkpoint and the containers (./recovery) before it dials the
 * master. Tasks keep running while no agent process watches them (unless the agent is stopped with
 * `killTasks`).
 */
import type { TlsMaterial } from '../common/tls';
import { DEFAULT_TASK_USER, type TaskUserPolicy } from './task-user';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Attribute } from '../common/attributes';
import type { Clock } from '../common/clock';
import { nullLogger, type Logger } from '../common/logging';
import type { Resources } from '../common/resources';
import { attributesToWire, resourcesToWire } from '../common/wire';
import type { AgentMessage } from '../generated/berth/v1/AgentMessage';
import type { FrameworkInfo } from '../generated/berth/v1/FrameworkInfo';
import type { MasterMessage__Output } from '../generated/berth/v1/MasterMessage';
import type { TaskInfo } from '../generated/berth/v1/TaskInfo';
import { Checkpoint } from './checkpoint';
import type { Containerizer } from './containerizer/containerizer';
import type { AgentMetrics } from './metrics';
import { ProcessContainerizer } from './containerizer/process-containerizer';
import { durationMs } from './task-mapping';
import { SandboxGc, type SandboxGcOptions } from './sandbox-gc';
import { readTaskLog } from './task-logs';
import { MasterLink } from './master-link';
import { cleanup, recover } from './recovery';
import { StatusUpdateManager, type TaskStateName } from './status-update-manager';
import { TaskRunner } from './task-runner';

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
  /** TLS to the masters: their CA, and this agent's certificate for mutual TLS. @default plaintext */
  readonly tls?: TlsMaterial;
  /** The Unix user of tasks that name none (src/agent/task-user.ts). @default 'nobody' */
  readonly taskUser?: string;
  /** How task users are resolved (tests inject the agent's uid and a user table). @default the host's */
  readonly taskUsers?: Omit<TaskUserPolicy, 'defaultUser'>;
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
  /** Garbage collection of finished tasks' sandboxes (./sandbox-gc). @default one week, 10 % headroom, checked every minute */
  readonly sandboxGc?: Pick<SandboxGcOptions, 'gcDelayMs' | 'gcDiskHeadroom' | 'diskWatchIntervalMs' | 'diskUsage'>;
  /** Called once when the master sends SHUTDOWN (the agent has killed its tasks and stopped). */
  readonly onShutdown?: (message: string) => void;
  /** @default nullLogger */
  readonly logger?: Logger;
}

/** The agent daemon. */
export class Agent {
  readonly checkpoint: Checkpoint;
  readonly containerizer: Containerizer;
  private readonly logger: Logger;
  private readonly updates: StatusUpdateManager;
  private readonly link: MasterLink;
  private readonly runner: TaskRunner;
  /** Removes finished tasks' sandboxes by age and disk use. */
  readonly sandboxGc: SandboxGc;
  private id: string | undefined;
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
    this.runner = new TaskRunner({
      checkpoint: this.checkpoint,
      containerizer: this.containerizer,
      updates: this.updates,
      clock: options.clock,
      logger: this.logger,
      metrics: options.metrics,
      allowedHostPaths: options.allowedHostPaths,
      users: { ...options.taskUsers, defaultUser: options.taskUser ?? DEFAULT_TASK_USER },
      agentId: () => this.id,
      onSandboxFinished: (dir) => this.sandboxGc.schedule(dir),
    });
    this.sandboxGc = new SandboxGc({
      ...options.sandboxGc,
      sandboxRoot: path.join(this.checkpoint.root, 'sandboxes'),
      clock: options.clock,
      inUse: () => this.runner.sandboxesInUse(),
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
      ...(options.tls !== undefined ? { tls: options.tls } : {}),
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
    return this.runner.taskState(frameworkId, taskId);
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
    const ctx = { checkpoint: this.checkpoint, containerizer: this.containerizer, updates: this.updates, runner: this.runner, clock: this.options.clock, logger: this.logger };
    if (this.options.recover === 'cleanup') await cleanup(ctx);
    this.id = this.checkpoint.readAgentId();
    await recover(ctx, this.id);
    this.sandboxGc.start();
    this.link.start();
  }

  /**
   * Stops: closes the master link and the status update timers. Containers keep running (a new agent
   * on the same work directory recovers them) unless `killTasks`, which kills them first.
   */
  async stop(opts: { killTasks?: boolean } = {}): Promise<void> {
    if (this.runner.stopped) return;
    if (opts.killTasks === true) await this.runner.killAll('agent shutting down');
    this.runner.markStopped();
    this.runner.stopHealthChecks();
    this.sandboxGc.stop();
    this.link.stop();
    this.updates.close();
    await this.containerizer.close();
  }

  /** Counts for the agent's metrics: tasks by latest state, and containers running now. */
  stats(): { tasksByState: Record<string, number>; containers: number } {
    return this.runner.stats();
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
    const { tasks, frameworks } = this.runner.reregistration(this.id);
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
    if (this.runner.stopped) return;
    if (this.runner.closing && (msg.type === 'RUN_TASK' || msg.type === 'RUN_TASK_GROUP')) {
      this.logger.warn('launch refused: the agent is stopping', { type: msg.type });
      return;
    }
    try {
      switch (msg.type) {
        case 'RUN_TASK': {
          const r = msg.run_task!;
          this.runner.run(r.framework_info as FrameworkInfo | null, r.task === null ? [] : [r.task as TaskInfo], r.role ?? '', false).catch((err: unknown) => this.logger.error('RUN_TASK failed', { err }));
          return;
        }
        case 'RUN_TASK_GROUP': {
          const r = msg.run_task_group!;
          this.runner.run(r.framework_info as FrameworkInfo | null, (r.task_group?.tasks ?? []) as TaskInfo[], r.role ?? '', true).catch((err: unknown) => this.logger.error('RUN_TASK_GROUP failed', { err }));
          return;
        }
        case 'KILL_TASK': {
          const k = msg.kill_task!;
          // A kill the master decided on (a drain) says so in the terminal update.
          const cause = k.reason && k.reason !== 'REASON_UNSPECIFIED' ? { state: 'TASK_KILLED' as const, reason: k.reason, message: k.message || 'killed by the master', source: 'SOURCE_AGENT' as const } : undefined;
          this.runner.killTask(k.framework_id?.value ?? '', k.task_id?.value ?? '', durationMs(k.kill_policy?.grace_period), true, cause);
          return;
        }
        case 'STATUS_UPDATE_ACKNOWLEDGEMENT': {
          const a = msg.status_update_acknowledgement!;
          this.runner.acknowledged(a.framework_id?.value ?? '', a.task_id?.value ?? '', a.uuid);
          return;
        }
        case 'RECONCILE_TASKS': {
          const r = msg.reconcile_tasks!;
          this.runner.reconcile(r.framework_id?.value ?? '', (r.task_ids ?? []).map((id) => id.value));
          return;
        }
        case 'UPDATE_FRAMEWORK': {
          const fw = msg.update_framework?.framework_info;
          if (fw?.id?.value) this.runner.rememberFramework(fw as FrameworkInfo);
          return;
        }
        case 'SHUTDOWN_FRAMEWORK': {
          this.runner.killFramework(msg.shutdown_framework?.framework_id?.value ?? '');
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

  private async readTaskLog(req: NonNullable<MasterMessage__Output['read_task_log']>): Promise<void> {
    const containerId = this.runner.containerIdOf(req.framework_id?.value ?? '', req.task_id?.value ?? '');
    const body = await readTaskLog(req, { containerizer: this.containerizer, containerId, sandboxRoot: path.join(this.checkpoint.root, 'sandboxes') });
    try {
      this.link.send({ type: 'TASK_LOG', task_log: { request_id: req.request_id, ...body } });
    } catch (err) {
      this.logger.warn('TASK_LOG reply not sent', { err: (err as Error).message });
    }
  }

  private async onShutdown(message: string): Promise<void> {
    this.logger.warn('shutting down at the master\'s request', { message });
    await this.runner.killAll(`master: ${message}`);
    this.runner.markStopped();
    this.sandboxGc.stop();
    this.updates.close();
    await this.containerizer.close();
    this.options.onShutdown?.(message);
  }
}

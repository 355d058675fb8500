/**
 * The agent's Prometheus metrics, in a registry of its own (never prom-client's global one, so two
 * agents in one test process do not collide), served on the agent's HTTP port at `/metrics`.
 *
 * Two kinds of metric:
 * - **Gauges read at scrape time** from an {@link AgentStatsSource} (tasks by state, pending status
 *   updates, registered, containers). Nothing has to keep them up to date; give the source once with
 *   {@link AgentMetrics.setStatsSource} (or the constructor's `stats`).
 * - **Events the agent reports** by calling one method each:
 *
 *       metrics.taskLaunched('process');
 *       metrics.launchLatency(clock.now() - runTaskReceivedAt);   // RUN_TASK → TASK_RUNNING, in ms
 *       metrics.statusUpdateSent('TASK_RUNNING');
 *       metrics.containerLaunchFailed();
 *       metrics.healthCheckFailed();
 *       metrics.masterReconnect();
 *
 * Every task state of `berth_agent_tasks{state}` is exported, at 0 when empty, so dashboards need no
 * "absent means 0" logic. All names start with `berth_agent_` (prom-client's process metrics too:
 * `berth_agent_process_resident_memory_bytes`); counters end in `_total`, durations are `_seconds`
 * (Prometheus conventions, as the master's `src/master/metrics.ts`).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectProcessMetrics } from '../common/process-metrics';
import type { MetricsExposition } from '../common/http-server';
import { TaskState } from '../generated/berth/v1/TaskState';

/** Prefix of every agent metric name. */
export const AGENT_METRIC_PREFIX = 'berth_agent_';

/** The task states `berth_agent_tasks{state}` always exports: every TaskState but TASK_STATE_UNSPECIFIED. */
export const AGENT_TASK_METRIC_STATES: readonly string[] = Object.keys(TaskState).filter((s) => s !== 'TASK_STATE_UNSPECIFIED');

/**
 * What the scrape-time gauges read. Each method is called once per scrape: it must be cheap and
 * should not throw (a throw leaves that gauge at its previous value; the scrape still succeeds).
 */
export interface AgentStatsSource {
  /** Tasks the agent knows, by state name (`TASK_RUNNING`: 3); states left out count as 0. */
  tasksByState(): Readonly<Record<string, number>>;
  /** Status updates sent and not yet acknowledged. */
  pendingStatusUpdates(): number;
  /** Whether the agent is registered with the master now. */
  registered(): boolean;
  /** Containers running now. */
  containers(): number;
}

/** Options of {@link AgentMetrics}. */
export interface AgentMetricsOptions {
  /** Source of the scrape-time gauges; can also be given later with {@link AgentMetrics.setStatsSource}. @default none (gauges at 0) */
  readonly stats?: AgentStatsSource;
  /** Also export prom-client's default process metrics (CPU, RSS, event loop lag, GC) as `berth_agent_*`. @default true */
  readonly processMetrics?: boolean;
}

// RUN_TASK → TASK_RUNNING: a fork/exec takes ~10 ms; a Docker image pull can take tens of seconds.
const LAUNCH_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The agent's metrics. Create one per agent; give it to the Agent and to the HTTP server. */
export class AgentMetrics implements MetricsExposition {
  /** The registry holding every metric below (and the process metrics). */
  readonly registry = new Registry();

  /** `berth_agent_tasks{state}`: tasks known to the agent, by state (read from the stats source). */
  readonly tasks: Gauge<'state'>;
  /** `berth_agent_pending_status_updates`: status updates not yet acknowledged (read from the stats source). */
  readonly pendingStatusUpdates: Gauge;
  /** `berth_agent_registered`: 1 while registered with the master, else 0 (read from the stats source). */
  readonly registered: Gauge;
  /** `berth_agent_containers`: containers running (read from the stats source). */
  readonly containers: Gauge;

  /** `berth_agent_tasks_launched_total{containerizer}`: tasks handed to a containerizer; see {@link taskLaunched}. */
  readonly tasksLaunched: Counter<'containerizer'>;
  /** `berth_agent_status_updates_sent_total{state}`: status updates issued, by task state; see {@link statusUpdateSent}. */
  readonly statusUpdatesSent: Counter<'state'>;
  /** `berth_agent_container_launch_failures_total`: containers that could not be started; see {@link containerLaunchFailed}. */
  readonly containerLaunchFailures: Counter;
  /** `berth_agent_health_check_failures_total`: failed task health checks; see {@link healthCheckFailed}. */
  readonly healthCheckFailures: Counter;
  /** `berth_agent_master_reconnects_total`: re-dials of the master after a lost link; see {@link masterReconnect}. */
  readonly masterReconnects: Counter;
  /** `berth_agent_task_launch_seconds`: time from RUN_TASK received to TASK_RUNNING; see {@link launchLatency}. */
  readonly taskLaunch: Histogram;

  private stats: AgentStatsSource | undefined;

  constructor(options: AgentMetricsOptions = {}) {
    this.stats = options.stats;
    const registers = [this.registry];
    const read = <T>(what: (s: AgentStatsSource) => T, apply: (value: T) => void) => () => {
      if (this.stats === undefined) return;
      let value: T;
      try {
        value = what(this.stats);
      } catch {
        return; // a broken source leaves the gauge at its last value; the scrape still succeeds
      }
      apply(value);
    };
    const gauge = <L extends string = never>(name: string, help: string, labelNames: L[], collect: () => void) =>
      new Gauge<L>({ name: `${AGENT_METRIC_PREFIX}${name}`, help, labelNames, registers, collect });
    const counter = <L extends string = never>(name: string, help: string, labelNames: L[] = []) =>
      new Counter<L>({ name: `${AGENT_METRIC_PREFIX}${name}_total`, help, labelNames, registers });

    this.tasks = gauge('tasks', 'Tasks known to the agent, by state.', ['state'], read((s) => s.tasksByState(), (counts) => this.setTaskCounts(counts)));
    this.pendingStatusUpdates = gauge('pending_status_updates', 'Status updates sent and not yet acknowledged.', [],
      read((s) => s.pendingStatusUpdates(), (n) => this.pendingStatusUpdates.set(n)));
    this.registered = gauge('registered', '1 while the agent is registered with the master.', [],
      read((s) => s.registered(), (r) => this.registered.set(r ? 1 : 0)));
    this.containers = gauge('containers', 'Containers running.', [], read((s) => s.containers(), (n) => this.containers.set(n)));

    this.tasksLaunched = counter('tasks_launched', 'Tasks handed to a containerizer, by containerizer.', ['containerizer']);
    this.statusUpdatesSent = counter('status_updates_sent', 'Task status updates issued, by state.', ['state']);
    this.containerLaunchFailures = counter('container_launch_failures', 'Containers that could not be started.');
    this.healthCheckFailures = counter('health_check_failures', 'Failed task health checks.');
    this.masterReconnects = counter('master_reconnects', 'Re-dials of the master after the link was lost.');
    this.taskLaunch = new Histogram({
      name: `${AGENT_METRIC_PREFIX}task_launch_seconds`,
      help: 'Time from RUN_TASK received to TASK_RUNNING.',
      buckets: LAUNCH_BUCKETS,
      registers,
    });

    this.setTaskCounts({});
    this.pendingStatusUpdates.set(0);
    this.registered.set(0);
    this.containers.set(0);
    if (options.processMetrics ?? true) collectProcessMetrics(this.registry, AGENT_METRIC_PREFIX);
  }

  /** Gives (or replaces) the source of the scrape-time gauges; e.g. the Agent, once built. */
  setStatsSource(stats: AgentStatsSource): void {
    this.stats = stats;
  }

  /** A task was handed to the containerizer named `containerizer` (`process`, `docker`). */
  taskLaunched(containerizer: string): void {
    this.tasksLaunched.inc({ containerizer });
  }

  /** A task reached TASK_RUNNING `ms` milliseconds after its RUN_TASK was received. */
  launchLatency(ms: number): void {
    if (Number.isFinite(ms) && ms >= 0) this.taskLaunch.observe(ms / 1000);
  }

  /** A status update in `state` (`TASK_RUNNING`) was issued (once per update, not per resend). */
  statusUpdateSent(state: string): void {
    this.statusUpdatesSent.inc({ state });
  }

  /** A container could not be started (the task then fails). */
  containerLaunchFailed(): void {
    this.containerLaunchFailures.inc();
  }

  /** A task's health check failed. */
  healthCheckFailed(): void {
    this.healthCheckFailures.inc();
  }

  /** The master link was lost and the agent dials the master again. */
  masterReconnect(): void {
    this.masterReconnects.inc();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition, for `GET /metrics`; reads the stats source first. */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  /** Sets `berth_agent_tasks` whole: every known state, those not given at 0, plus any other state given. */
  private setTaskCounts(counts: Readonly<Record<string, number>>): void {
    this.tasks.reset();
    for (const state of AGENT_TASK_METRIC_STATES) this.tasks.set({ state }, counts[state] ?? 0);
    for (const [state, n] of Object.entries(counts)) {
      if (!AGENT_TASK_METRIC_STATES.includes(state)) this.tasks.set({ state }, n);
    }
  }
}

/**
 * The master's Prometheus metrics, in a registry of its own (never prom-client's global one, so two
 * masters in one test process do not collide). Components increment the typed fields directly:
 *
 *     metrics.invalidCalls.inc({ call: 'ACCEPT', reason: 'UNKNOWN_OFFER' });
 *     const done = metrics.registryWrite.startTimer(); …; done();
 *
 * Population gauges (agents, frameworks, tasks by state) are set whole with `setAgentCounts` & co.,
 * either on every change or, cheaper, from a `beforeCollect` hook that counts at scrape time. Every
 * state of those gauges is exported, at 0 when empty, so dashboards need no "absent means 0" logic.
 * All names start with `berth_`; counters end in `_total`, durations are `_seconds` (Prometheus
 * conventions).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectProcessMetrics } from '../common/process-metrics';
import type { MetricsExposition } from '../common/http-server';
import { TaskState } from '../generated/berth/v1/TaskState';

/** The agent states `berth_agents{state}` counts. */
export const AGENT_METRIC_STATES = ['registered', 'unreachable', 'draining', 'drained', 'deactivated', 'gone'] as const;
export type AgentMetricState = (typeof AGENT_METRIC_STATES)[number];

/** The framework states `berth_frameworks{state}` counts. */
export const FRAMEWORK_METRIC_STATES = ['connected', 'disconnected', 'inactive'] as const;
export type FrameworkMetricState = (typeof FRAMEWORK_METRIC_STATES)[number];

/** The task states `berth_tasks{state}` counts: every TaskState but TASK_STATE_UNSPECIFIED. */
export const TASK_METRIC_STATES = Object.keys(TaskState).filter((s) => s !== 'TASK_STATE_UNSPECIFIED') as readonly TaskMetricState[];
export type TaskMetricState = Exclude<keyof typeof TaskState, 'TASK_STATE_UNSPECIFIED'>;

/** One value of a metric, as the operator API's GetMetrics returns it. */
export interface MetricSample {
  /** Full name, e.g. `berth_tasks` or `berth_registry_write_seconds_count`. */
  readonly name: string;
  readonly value: number;
  readonly labels: Readonly<Record<string, string | number>>;
}

/**
 * A sample as one flat name, `berth_tasks{state="TASK_RUNNING"}` (labels sorted), for lists that have
 * no labels, such as the wire `Metric` of GetMetrics.
 */
export function metricKey(sample: MetricSample): string {
  const labels = Object.entries(sample.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return labels.length === 0 ? sample.name : `${sample.name}{${labels.map(([k, v]) => `${k}=${JSON.stringify(String(v))}`).join(',')}}`;
}

/** What the HTTP server needs to serve `/metrics`; defined with the server in common, re-exported here. */
export type { MetricsExposition };

/** Options of {@link MasterMetrics}. */
export interface MasterMetricsOptions {
  /** Also export prom-client's default process metrics (CPU, memory, event loop lag, GC) as `berth_*`. @default true */
  readonly processMetrics?: boolean;
}

// Bucket bounds in seconds. An allocation cycle takes microseconds on a small cluster and ~0.1 s at
// 10k agents; a registry write is one fsync or one JetStream round trip; offer-to-launch includes
// the framework's think time.
const CYCLE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const WRITE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const LAUNCH_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The master's metrics. Create one per master; pass it to components and the HTTP server. */
/** Default process metrics whose collection costs O(open handles); left out of the master's. */
const O_N_PROCESS_METRICS = ['nodejs_active_handles', 'nodejs_active_handles_total', 'nodejs_active_resources', 'nodejs_active_resources_total', 'nodejs_active_requests', 'nodejs_active_requests_total', 'process_open_fds'];

export class MasterMetrics implements MetricsExposition {
  /** The registry holding every metric below (and the process metrics). */
  readonly registry = new Registry();

  /** `berth_agents{state}`: agents by state; set with {@link setAgentCounts}. */
  readonly agents: Gauge<'state'>;
  /** `berth_frameworks{state}`: frameworks by state; set with {@link setFrameworkCounts}. */
  readonly frameworks: Gauge<'state'>;
  /** `berth_tasks{state}`: known tasks by state; set with {@link setTaskCounts}. */
  readonly tasks: Gauge<'state'>;
  /** `berth_outstanding_offers`: offers sent and not yet accepted, declined or rescinded. */
  readonly outstandingOffers: Gauge;
  /** `berth_reconciliations_pending`: explicit reconciliations remembered until their agents return (set at scrape). */
  readonly reconciliationsPending: Gauge;
  /** `berth_elected`: 1 while this master leads, else 0. */
  readonly elected: Gauge;
  /** `berth_registry_up`: 1 while the registry is reachable and writable, else 0. */
  readonly registryUp: Gauge;

  /** `berth_offers_sent_total`: offers sent to frameworks (`inc(n)` for a batch). */
  readonly offersSent: Counter;
  /** `berth_offers_declined_total`: offers declined (explicitly, or the unused part of an accept). */
  readonly offersDeclined: Counter;
  /** `berth_offers_rescinded_total{reason}`: offers taken back (`timeout`, `agent_removed`, `quota`, …). */
  readonly offersRescinded: Counter<'reason'>;
  /** `berth_tasks_launched_total`: tasks sent to agents. */
  readonly tasksLaunched: Counter;
  /** `berth_preemptions_total{role}`: preemption decisions, by the preempting gang's role. */
  readonly preemptions: Counter<'role'>;
  /** `berth_preempted_tasks_total{role}`: tasks told to stop by preemption, by the victim's role. */
  readonly preemptedTasks: Counter<'role'>;
  /** `berth_status_updates_total{state}`: status updates received from agents, by task state. */
  readonly statusUpdates: Counter<'state'>;
  /** `berth_invalid_calls_total{call,reason}`: calls rejected at the edge (DESIGN §7). */
  readonly invalidCalls: Counter<'call' | 'reason'>;
  /** `berth_agent_identity_refusals_total{kind}`: an agent principal acting as another agent —
   *  re-registering an id bound to another principal (`reregister`), or reporting on a task the
   *  master placed on another agent (`status_update`). */
  readonly agentIdentityRefusals: Counter<'kind'>;
  /** `berth_rejected_operations_total{reason}`: offer operations rejected during ACCEPT. */
  readonly rejectedOperations: Counter<'reason'>;
  /** `berth_registry_writes_total{result}`: registry writes by result (`ok`, `error`, `fenced`). */
  readonly registryWrites: Counter<'result'>;

  /** `berth_allocation_cycle_seconds`: duration of one allocation cycle. */
  readonly allocationCycle: Histogram;
  /** `berth_registry_write_seconds`: latency of one registry write (or group commit). */
  readonly registryWrite: Histogram;
  /** `berth_offer_to_launch_seconds`: time from sending an offer to launching tasks on it. */
  readonly offerToLaunch: Histogram;

  private readonly hooks: (() => void)[] = [];

  constructor(options: MasterMetricsOptions = {}) {
    const registers = [this.registry];
    const gauge = <L extends string = never>(name: string, help: string, labelNames: L[] = []) =>
      new Gauge<L>({ name: `berth_${name}`, help, labelNames, registers });
    const counter = <L extends string = never>(name: string, help: string, labelNames: L[] = []) =>
      new Counter<L>({ name: `berth_${name}_total`, help, labelNames, registers });
    const histogram = (name: string, help: string, buckets: number[]) =>
      new Histogram({ name: `berth_${name}_seconds`, help, buckets, registers });

    this.agents = gauge('agents', 'Agents by state.', ['state']);
    this.frameworks = gauge('frameworks', 'Frameworks by state.', ['state']);
    this.tasks = gauge('tasks', 'Tasks known to the master, by state.', ['state']);
    this.outstandingOffers = gauge('outstanding_offers', 'Offers sent and not yet answered or rescinded.');
    this.reconciliationsPending = gauge('reconciliations_pending', 'Explicit reconciliations remembered until the agents of their tasks return.');
    this.elected = gauge('elected', '1 while this master is the leader.');
    this.registryUp = gauge('registry_up', '1 while the registry is reachable and writable.');
    this.offersSent = counter('offers_sent', 'Offers sent to frameworks.');
    this.offersDeclined = counter('offers_declined', 'Offers declined, including unused parts of accepted offers.');
    this.offersRescinded = counter('offers_rescinded', 'Offers rescinded, by reason.', ['reason']);
    this.tasksLaunched = counter('tasks_launched', 'Tasks sent to agents.');
    this.preemptions = counter('preemptions', 'Preemption decisions, by the role of the gang they were made for.', ['role']);
    this.preemptedTasks = counter('preempted_tasks', 'Tasks told to stop by preemption, by the victim\'s role.', ['role']);
    this.statusUpdates = counter('status_updates', 'Task status updates received, by state.', ['state']);
    this.invalidCalls = counter('invalid_calls', 'Calls rejected by validation, by call and reason.', ['call', 'reason']);
    this.agentIdentityRefusals = counter('agent_identity_refusals', 'Agent messages refused because they spoke for another agent, by kind.', ['kind']);
    this.rejectedOperations = counter('rejected_operations', 'Offer operations rejected, by reason.', ['reason']);
    this.registryWrites = counter('registry_writes', 'Registry writes, by result.', ['result']);
    this.allocationCycle = histogram('allocation_cycle', 'Duration of an allocation cycle.', CYCLE_BUCKETS);
    this.registryWrite = histogram('registry_write', 'Latency of a registry write.', WRITE_BUCKETS);
    this.offerToLaunch = histogram('offer_to_launch', 'Time from an offer being sent to tasks launched on it.', LAUNCH_BUCKETS);

    this.setAgentCounts({});
    this.setFrameworkCounts({});
    this.setTaskCounts({});
    this.elected.set(0);
    this.registryUp.set(0);
    this.outstandingOffers.set(0);
    this.reconciliationsPending.set(0);
    if (options.processMetrics ?? true) {
      collectProcessMetrics(this.registry, 'berth_');
      // These walk every socket and timer (or /proc/self/fd) on each scrape: with 10,000 agents
      // connected a scrape took ~0.2 s of the event loop (bench:scale). berth_agents and
      // berth_frameworks count the connections that matter.
      for (const name of O_N_PROCESS_METRICS) this.registry.removeSingleMetric(`berth_${name}`);
    }
  }

  /** Sets `berth_agents` for every state; states not given are 0. */
  setAgentCounts(counts: Partial<Record<AgentMetricState, number>>): void {
    for (const state of AGENT_METRIC_STATES) this.agents.set({ state }, counts[state] ?? 0);
  }

  /** Sets `berth_frameworks` for every state; states not given are 0. */
  setFrameworkCounts(counts: Partial<Record<FrameworkMetricState, number>>): void {
    for (const state of FRAMEWORK_METRIC_STATES) this.frameworks.set({ state }, counts[state] ?? 0);
  }

  /** Sets `berth_tasks` for every state; states not given are 0. */
  setTaskCounts(counts: Partial<Record<TaskMetricState, number>>): void {
    for (const state of TASK_METRIC_STATES) this.tasks.set({ state }, counts[state] ?? 0);
  }

  /**
   * Runs `hook` before every {@link exposition} and {@link snapshot}, e.g. to set the population
   * gauges from the master's maps at scrape time. Hooks must be quick and must not throw (a throwing
   * hook is skipped for that scrape).
   */
  beforeCollect(hook: () => void): void {
    this.hooks.push(hook);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition, for `GET /metrics`. */
  async exposition(): Promise<string> {
    this.runHooks();
    return this.registry.metrics();
  }

  /**
   * Every current value, for the operator API's GetMetrics: counters and gauges as they are,
   * histograms as their `_count` and `_sum` (buckets are for Prometheus, not a flat list).
   * @param prefix only metrics whose name starts with it. @default '' (all)
   */
  async snapshot(prefix = ''): Promise<MetricSample[]> {
    this.runHooks();
    const out: MetricSample[] = [];
    for (const metric of await this.registry.getMetricsAsJSON()) {
      for (const v of metric.values) {
        const name = (v as { metricName?: string }).metricName ?? metric.name;
        if (name.endsWith('_bucket') || !name.startsWith(prefix)) continue;
        out.push({ name, value: v.value, labels: { ...v.labels } as Record<string, string | number> });
      }
    }
    return out;
  }

  private runHooks(): void {
    for (const hook of this.hooks) {
      try {
        hook();
      } catch {
        // A broken hook leaves the gauges at their last values; the scrape still succeeds.
      }
    }
  }
}

/**
 * What `bench:scale` adds to the simulators' IPC (bench/sim-shared.ts): a list of masters instead
 * of one address (HA mode), and the messages of the failover phase. Without `masters` the
 * simulators behave exactly as `bench:master` and `bench:frameworks` expect.
 */
import type { AgentsConfig, FrameworksConfig, ProcessUsage } from './sim-shared';

/** How a simulated agent or framework finds the leader again after losing it. */
export interface HaOptions {
  /** Every master's gRPC address; the first is dialled first. */
  readonly masters: readonly string[];
  /** Backoff after a failed attempt: starts here, doubles per failure, capped; each wait is random in [0, backoff] (full jitter). */
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
}

export interface ScaleAgentsConfig extends AgentsConfig, Partial<HaOptions> {}

export interface ScaleFrameworksConfig extends FrameworksConfig, Partial<HaOptions> {
  /** After a re-subscription: one explicit RECONCILE of the tasks not yet confirmed, then again (the unconfirmed ones) every this often. */
  readonly reconcileIntervalMs?: number;
  /** FrameworkInfo.failover_timeout (s): how long the master keeps a disconnected framework's tasks. */
  readonly failoverTimeoutS?: number;
  /**
   * Tasks a framework launches per OFFERS event at most; the offers it does not use are declined
   * without a filter, so they come back the next cycle. @default unlimited (all at once)
   */
  readonly launchWave?: number;
}

/** `arm`: from now on, count re-registrations (agents) / confirmations (frameworks) afresh. */
export type ToHaSim = { readonly type: 'arm' };

/** The agents' progress in HA mode (answers `progress`, in addition to the plain fields). */
export interface HaAgentsProgressExtra {
  /** Agents whose REREGISTERED arrived since `arm`. */
  readonly reregistered: number;
  /** Agents without a registered stream now. */
  readonly disconnected: number;
  readonly attempts: number;
  readonly refusals: number;
  /** Attempts cancelled for getting no answer within 120 s. */
  readonly attemptTimeouts: number;
  /** A few agents without a registered stream: where they are trying, and how their last attempt ended. */
  readonly notRegistered: string[];
}

/** Every agent has re-registered (with its tasks) since `arm`. */
export interface AgentsReregistered {
  readonly type: 'reregistered';
  readonly agents: number;
  /** The first stream lost since `arm` (wallMs). */
  readonly firstLostAt: number;
  /** The first and the last REREGISTERED since `arm` (wallMs). */
  readonly firstAt: number;
  readonly lastAt: number;
  /** Per agent: REREGISTERED received (wallMs), in agent order. */
  readonly reregisteredAt: Float64Array;
  /** Tasks the agents carried in the REREGISTER that the master accepted (the first since `arm`). */
  readonly tasksReported: number;
  /** Connection attempts since `arm` (each a stream opened), refusals by a standby among them, and attempts that could not connect. */
  readonly attempts: number;
  readonly refusals: number;
  readonly connectFailures: number;
  readonly usage: ProcessUsage;
}

/** The frameworks' progress in HA mode. */
export interface HaFrameworksProgressExtra {
  readonly resubscribed: number;
  readonly confirmed: number;
  readonly reconcileCalls: number;
}

/** Every framework re-subscribed and every task was confirmed RUNNING by the master since `arm`. */
export interface FrameworksReconciled {
  readonly type: 'reconciled';
  /** The last framework's SUBSCRIBED after `arm` (wallMs). */
  readonly lastSubscribedAt: number;
  /** The last task confirmed (wallMs). */
  readonly lastConfirmedAt: number;
  readonly confirmed: number;
  readonly reconcileCalls: number;
  /** Task ids named in RECONCILE calls in all (a task is named again until it is confirmed). */
  readonly reconcileTaskIds: number;
  readonly attempts: number;
  readonly refusals: number;
  readonly usage: ProcessUsage;
}

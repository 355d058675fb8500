/**
 * What the services framework keeps (in memory, and as JSON in its key/value store), and the store
 * keys. Everything here is plain data: records survive a restart of the framework process unchanged.
 *
 * Store keys (all under the plugin's own namespace):
 * - `apps/<app-key>` → {@link AppRecord} (app key: the id with dots, `/shop/web` → `shop.web`)
 * - `versions/<app-key>/<seq>` → {@link AppVersion}, the last `maxVersions` definitions of each app
 * - `deployments/<deployment-id>` → {@link DeploymentRecord}, running ones and the last finished ones
 * - `tasks/<task-id>` → {@link TaskRecord}, written *before* the task is launched
 */
import type { Attribute } from '../../common/attributes';
import type { AppDefinition } from './app-definition';

/** One definition of an app as deployed. */
export interface AppVersion {
  /** When this definition was put (ISO 8601, unique per app and increasing). */
  readonly version: string;
  /**
   * Tasks launched for a different config version are replaced by a deployment. A scale keeps the
   * config version; any other change, and a restart, makes a new one (= its `version`).
   */
  readonly configVersion: string;
  readonly def: AppDefinition;
}

/** Why a task ended when the app did not ask for it. */
export interface TaskFailure {
  readonly taskId: string;
  readonly state: string;
  readonly reason: string;
  readonly message: string;
  /** Epoch ms. */
  readonly at: number;
  readonly version: string;
}

/** Launch backoff of one instance slot (an app's instance index; see slots.ts). */
export interface SlotBackoff {
  /** Failures of the slot since its last reset. */
  failures: number;
  /** The delay applied after the last failure; 0: none (a slot's first failure relaunches at once). */
  delayMs: number;
  /** No launch for this slot before this epoch ms. */
  nextLaunchAt: number;
  /** The failure that started the delay: the task's final state and message. */
  reason: string;
}

export interface AppRecord {
  readonly id: string;
  current: AppVersion;
  readonly createdAt: number;
  /** A DELETE deployment runs: every task is being killed, then the app goes away. */
  deleting: boolean;
  /**
   * Launch backoff by instance slot (the index, as a JSON key), only for slots that failed since
   * their last reset. Records written before slots existed have an app-wide `backoff` instead, which
   * loading drops (see persistence.ts).
   */
  slots: Record<number, SlotBackoff>;
  lastFailure?: TaskFailure;
  /** The latest version id ever given to this app (a rollback may make `current` older). */
  lastVersion?: string;
  /** Sequence number of the last stored version (`versions/<app-key>/<seq>`). */
  versionSeq: number;
}

export const DEPLOYMENT_KINDS = ['CREATE', 'SCALE', 'UPGRADE', 'RESTART', 'DELETE', 'ROLLBACK'] as const;
export type DeploymentKind = (typeof DEPLOYMENT_KINDS)[number];
export type DeploymentState = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED' | 'SUPERSEDED';

export interface DeploymentStep {
  /** Marathon's action names: StartApplication, ScaleApplication, RestartApplication, StopApplication. */
  readonly action: string;
  status: 'PENDING' | 'RUNNING' | 'DONE';
}

export interface DeploymentRecord {
  readonly id: string;
  readonly appId: string;
  readonly kind: DeploymentKind;
  state: DeploymentState;
  /** The last stable version before the deployment (what a rollback returns to); absent for CREATE. */
  readonly from?: AppVersion;
  readonly to: AppVersion;
  readonly startedAt: number;
  /** When the app last got closer to the target (see `distance` in planner.ts). */
  lastProgressAt: number;
  /** The smallest distance to the target seen so far. */
  bestDistance: number;
  readonly progressDeadlineSeconds: number;
  finishedAt?: number;
  message?: string;
  /** This deployment undoes that one (after a cancel or a missed deadline). */
  readonly rollbackOf?: string;
  /** The deployment that undid this one. */
  rolledBackBy?: string;
  /** The deployment that replaced this one (force). */
  supersededBy?: string;
  readonly steps: DeploymentStep[];
}

/** A task this framework launched and that has not ended (as far as it knows). */
export interface TaskRecord {
  readonly taskId: string;
  readonly appId: string;
  readonly version: string;
  readonly configVersion: string;
  /** The instance slot (index) the task fills; see slots.ts. */
  readonly instance: number;
  readonly agentId: string;
  readonly hostname: string;
  readonly attributes: Attribute[];
  readonly domain?: { readonly region: string; readonly zone: string };
  /** Host ports in portDefinitions order. */
  readonly ports: number[];
  /** TaskState name as the master reports it (`TASK_STAGING` when launched). */
  state: string;
  /** Whether the task was launched with a health check (then `healthy` must be true to count). */
  readonly hasHealthCheck: boolean;
  healthy?: boolean;
  /** The readiness check to run while the task is not ready (taken from its definition at launch). */
  readonly readiness?: ReadinessSpec;
  ready: boolean;
  readonly launchedAt: number;
  lastStatusAt: number;
  runningSince?: number;
  /** Since when the task counts as healthy (running, health and readiness as needed). */
  healthySince?: number;
  unreachableSince?: number;
  /** The framework asked the master to kill it (scale down, upgrade, delete, expunge). */
  killRequestedAt?: number;
  message?: string;
}

/** A readiness check bound to a task: GET <protocol>://<hostname>:<port><path>. */
export interface ReadinessSpec {
  readonly protocol: 'HTTP' | 'HTTPS';
  readonly port: number;
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly statuses: readonly number[];
}

export const TERMINAL_STATES: ReadonlySet<string> = new Set([
  'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_UNKNOWN',
]);

/** Terminal states that say something about the app (grow its slot's launch backoff) rather than the cluster. */
export const FAILURE_STATES: ReadonlySet<string> = new Set(['TASK_FAILED', 'TASK_ERROR', 'TASK_FINISHED', 'TASK_KILLED']);

export const storeKeys = {
  app: (key: string): string => `apps/${key}`,
  version: (key: string, seq: number): string => `versions/${key}/${String(seq).padStart(10, '0')}`,
  versions: (key: string): string => `versions/${key}/`,
  deployment: (id: string): string => `deployments/${id}`,
  task: (taskId: string): string => `tasks/${taskId}`,
  APPS: 'apps/',
  DEPLOYMENTS: 'deployments/',
  TASKS: 'tasks/',
} as const;

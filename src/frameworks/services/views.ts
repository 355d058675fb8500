/**
 * What the API shows of the services framework's state: {@link AppView} (an app with its task
 * counts, deployment, the instance slots waiting for their backoff, rejected offers and a "why is it
 * waiting" line) and the listings of
 * apps and deployments. Views are copies: nothing here changes the records.
 */
import type { AppDefinition } from './app-definition';
import type { AppRecord, DeploymentRecord, TaskFailure, TaskRecord } from './model';
import { isHealthy, isKilling } from './planner';
import { clone, type Records } from './records';
import { describeNotReady } from './readiness';
import { describeWaiting, type RejectionSummary } from './rejections';
import { delayedSlots, type DelayedSlot } from './slots';

/** An app as the API shows it. */
export interface AppView {
  readonly id: string;
  readonly version: string;
  readonly configVersion: string;
  readonly definition: AppDefinition;
  readonly createdAt: number;
  readonly deleting: boolean;
  /** The target number of instances. */
  readonly instances: number;
  readonly staged: number;
  readonly running: number;
  readonly healthy: number;
  readonly unhealthy: number;
  readonly unreachable: number;
  readonly killing: number;
  /**
   * Tasks still to launch, now or after their slot's backoff (0 when the app has what it needs, or
   * waits for old tasks to go).
   */
  readonly waitingInstances: number;
  readonly deployment?: DeploymentRecord;
  /** The app's most recently finished deployment still kept (see `maxFinishedDeployments`). */
  readonly lastDeployment?: DeploymentRecord;
  readonly lastFailure?: TaskFailure;
  /** The longest current launch backoff delay of the app's slots (0: none; kept until a slot resets). */
  readonly backoffSeconds: number;
  /** Seconds until the next launch may start (0: now, or nothing waits for a backoff). */
  readonly launchDelayRemainingSeconds: number;
  /** The instance slots waiting for their launch backoff: until when, and why; soonest first. */
  readonly delayedInstances: readonly DelayedSlot[];
  readonly rejections: RejectionSummary;
  /** One line answering "why is it not running (yet)?"; empty when nothing is missing. */
  readonly waiting: string;
  readonly tasks: readonly TaskRecord[];
}

/** The view of `app`, whose running deployment (if any) is `dep`. */
export function appView(records: Records, app: AppRecord, dep: DeploymentRecord | undefined, now: number): AppView {
  const tasks = records.tasksOf(app.id).sort((a, b) => a.launchedAt - b.launchedAt || (a.taskId < b.taskId ? -1 : 1));
  const count = (p: (t: TaskRecord) => boolean): number => tasks.filter(p).length;
  const need = records.need.get(app.id) ?? 0;
  const delayed = delayedSlots(app, records.slotPlans.get(app.id)?.delayed ?? []).filter((d) => d.launchAt > now);
  const rejections = records.rejectionLog(app.id).summary();
  const remaining = need > 0 || delayed.length === 0 ? 0 : delayed[0].launchAt - now;
  const last = lastFinished(records, app);
  const parts: string[] = [];
  if (need > 0) parts.push(`waiting for offers for ${need} instance${need === 1 ? '' : 's'}: ${describeWaiting(rejections, records.drainingAgents)}`);
  if (delayed.length > 0) parts.push(describeDelayed(delayed, now));
  const notReady = describeNotReady(records, app.id);
  if (notReady !== '') parts.push(notReady);
  if (parts.length > 0 && app.lastFailure !== undefined) parts.push(`last failure: ${app.lastFailure.state} ${app.lastFailure.message}`.trimEnd());
  const waiting = parts.join('; ');
  return clone({
    id: app.id,
    version: app.current.version,
    configVersion: app.current.configVersion,
    definition: app.current.def,
    createdAt: app.createdAt,
    deleting: app.deleting,
    instances: app.current.def.instances,
    staged: count((t) => t.state === 'TASK_STAGING' || t.state === 'TASK_STARTING'),
    running: count((t) => t.state === 'TASK_RUNNING'),
    healthy: count((t) => isHealthy(t) && !isKilling(t)),
    unhealthy: count((t) => t.state === 'TASK_RUNNING' && !isHealthy(t)),
    unreachable: count((t) => t.state === 'TASK_UNREACHABLE'),
    killing: count(isKilling),
    waitingInstances: need + delayed.length,
    ...(dep === undefined ? {} : { deployment: dep }),
    ...(last === undefined ? {} : { lastDeployment: last }),
    ...(app.lastFailure === undefined ? {} : { lastFailure: app.lastFailure }),
    backoffSeconds: Math.max(0, ...Object.values(app.slots).map((e) => e.delayMs)) / 1000,
    launchDelayRemainingSeconds: remaining / 1000,
    delayedInstances: delayed,
    rejections,
    waiting,
    tasks,
  });
}

/**
 * "instance 3 relaunches in 1.2 s (failure 2, backoff 1.000 s: TASK_FAILED …)"; for several slots the
 * soonest three, and how many more.
 */
function describeDelayed(delayed: readonly DelayedSlot[], now: number): string {
  const one = (d: DelayedSlot): string => `instance ${d.instance} relaunches in ${((d.launchAt - now) / 1000).toFixed(1)} s (failure ${d.failures}, backoff ${d.delaySeconds.toFixed(3)} s${d.reason === '' ? '' : `: ${d.reason}`})`;
  if (delayed.length === 1) return `launch delayed after task failures: ${one(delayed[0])}`;
  const shown = delayed.slice(0, 3).map(one).join(', ');
  return `launch of ${delayed.length} instances delayed after task failures: ${shown}${delayed.length > 3 ? `, and ${delayed.length - 3} more` : ''}`;
}

/** The app's deployment that finished last, if one is still kept (none of an earlier app of its id). */
function lastFinished(records: Records, app: AppRecord): DeploymentRecord | undefined {
  let last: DeploymentRecord | undefined;
  for (const d of records.deployments.values()) {
    if (d.appId === app.id && d.startedAt >= app.createdAt && d.finishedAt !== undefined && (last === undefined || d.finishedAt >= (last.finishedAt ?? 0))) last = d;
  }
  return last;
}

/** Apps whose id is `prefix` or under it (`/shop` lists `/shop/web` too), by id. */
export function appsUnder(records: Records, prefix: string): AppRecord[] {
  const p = prefix === '' || prefix === '/' ? '' : prefix.replace(/\/$/, '');
  return [...records.apps.values()].filter((a) => p === '' || a.id === p || a.id.startsWith(`${p}/`)).sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** Deployments, newest first; finished ones only when asked. */
export function deploymentsView(records: Records, opts: { appId?: string; includeFinished?: boolean }): DeploymentRecord[] {
  // Newest first; among equal start times the later created (the map keeps creation order).
  return [...records.deployments.values()]
    .reverse()
    .filter((d) => (opts.appId === undefined || opts.appId === '' || d.appId === opts.appId) && (opts.includeFinished === true || d.state === 'RUNNING'))
    .sort((a, b) => b.startedAt - a.startedAt)
    .map((d) => clone(d));
}

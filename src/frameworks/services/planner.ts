/**
 * The controller's decisions for one app, as a pure function of its target and its tasks: which tasks
 * to kill, how many to launch, whether the target is reached, and how far away it is.
 *
 * Level-triggered: it is re-evaluated after every event (status update, offer round, timer, API
 * call), so create, scale, restart, upgrade, rollback and delete are all the same loop with a
 * different target. Tasks of another config version than the target's are "old".
 *
 * Rolling replacement (Marathon's upgradeStrategy):
 * - never fewer than `minHealthy = ceil(N × minimumHealthCapacity)` healthy tasks (old + new): an old
 *   healthy task is killed only while the healthy count stays at or above it (old tasks that are not
 *   healthy can always go);
 * - never more than `maxTotal = floor(N × (1 + maximumOverCapacity))` tasks alive at once (tasks
 *   being killed still count: their resources are not free yet). When that leaves no room to move
 *   (`minHealthy >= maxTotal`, e.g. 1 and 0), one extra task is allowed, as Marathon does.
 * - or, in Kubernetes' words, `minHealthy = N − maxUnavailable` and `maxTotal = N + maxSurge`, each a
 *   count or a percentage of N (maxUnavailable rounded down, maxSurge up; when both come to 0, one
 *   may be unavailable, as Kubernetes does). `maxUnavailable: 1, maxSurge: 0` replaces one at a time.
 *
 * A task is healthy when RUNNING, with `healthy = true` if it has a health check, and ready if it
 * has a readiness check. The target is reached only when each of its tasks has been healthy for the
 * app's `minReadySeconds` in a row ("ready" below): a task that fails right after it started (its port
 * was taken, its binary is missing) never completes a deployment.
 */
import { minReadyMs, type AppDefinition, type KillSelection } from './app-definition';
import type { TaskRecord } from './model';

/** What {@link planApp} needs to know about an app. */
export interface PlanTarget {
  readonly def: AppDefinition;
  readonly configVersion: string;
  readonly deleting: boolean;
}

export interface Plan {
  /** Tasks to kill now (not already being killed). */
  readonly kill: TaskRecord[];
  /** How many tasks to launch when offers allow (ignoring the slots' launch backoff). */
  readonly launch: number;
  /** How many current tasks the app lacks (`launch` of them may start now; the upgrade bounds hold back the rest). */
  readonly missing: number;
  /** The target is reached: the deployment, if any, is done. */
  readonly complete: boolean;
  /** How far from the target: 0 when complete; a deployment progresses when this reaches a new low. */
  readonly distance: number;
}

export function isKilling(t: TaskRecord): boolean {
  return t.killRequestedAt !== undefined || t.state === 'TASK_KILLING';
}

/** Unreachable for longer than the app's inactiveAfterSeconds: it no longer counts, a replacement starts. */
export function isInactive(t: TaskRecord, def: AppDefinition, now: number): boolean {
  const u = def.unreachableStrategy;
  return t.state === 'TASK_UNREACHABLE' && !u.disabled && now - (t.unreachableSince ?? now) >= u.inactiveAfterSeconds * 1000;
}

export function isHealthy(t: TaskRecord): boolean {
  return t.state === 'TASK_RUNNING' && (!t.hasHealthCheck || t.healthy === true) && (t.readiness === undefined || t.ready);
}

/** Healthy for the app's `minReadySeconds` in a row: the task counts towards finishing a deployment. */
export function isReady(t: TaskRecord, def: AppDefinition, now: number): boolean {
  return isHealthy(t) && t.healthySince !== undefined && now - t.healthySince >= minReadyMs(def);
}

/**
 * The order in which tasks are given up: not running first, then unhealthy, then by launch time —
 * youngest first (the default) or oldest first.
 */
export function killOrder(tasks: readonly TaskRecord[], selection: KillSelection): TaskRecord[] {
  const rank = (t: TaskRecord): number => (t.state !== 'TASK_RUNNING' ? 0 : !isHealthy(t) ? 1 : 2);
  return [...tasks].sort((a, b) => {
    const r = rank(a) - rank(b);
    if (r !== 0) return r;
    const age = selection === 'OLDEST_FIRST' ? a.launchedAt - b.launchedAt : b.launchedAt - a.launchedAt;
    return age !== 0 ? age : a.taskId < b.taskId ? -1 : 1;
  });
}

/**
 * A count, or a percentage of `instances` rounded down (`up`: rounded up) — Kubernetes' rounding
 * for maxUnavailable (down) and maxSurge (up).
 */
export function resolveCount(v: number | string, instances: number, up: boolean): number {
  if (typeof v === 'number') return v;
  const exact = (instances * Number(v.slice(0, -1))) / 100;
  return up ? Math.ceil(exact - 1e-9) : Math.floor(exact + 1e-9);
}

/** The upgrade bounds for `instances`. */
export function capacityBounds(def: AppDefinition, instances: number): { minHealthy: number; maxTotal: number } {
  const s = def.upgradeStrategy;
  if ('maxUnavailable' in s) {
    let unavailable = Math.min(instances, resolveCount(s.maxUnavailable, instances, false));
    const surge = resolveCount(s.maxSurge, instances, true);
    // Both may round to 0 for few instances (10% of 5): as Kubernetes, one may be unavailable then.
    if (instances > 0 && unavailable === 0 && surge === 0) unavailable = 1;
    return { minHealthy: instances - unavailable, maxTotal: instances + surge };
  }
  const minHealthy = Math.max(0, Math.ceil(instances * s.minimumHealthCapacity - 1e-9));
  let maxTotal = Math.floor(instances * (1 + s.maximumOverCapacity) + 1e-9);
  if (instances > 0 && minHealthy >= maxTotal) maxTotal = minHealthy + 1;
  return { minHealthy, maxTotal };
}

export function planApp(target: PlanTarget, tasks: readonly TaskRecord[], now: number): Plan {
  const { def } = target;
  if (target.deleting) {
    return { kill: tasks.filter((t) => !isKilling(t)), launch: 0, missing: 0, complete: tasks.length === 0, distance: tasks.length };
  }
  const n = def.instances;
  const killed = new Set<TaskRecord>();
  const current = tasks.filter((t) => t.configVersion === target.configVersion);
  const old = tasks.filter((t) => t.configVersion !== target.configVersion);
  const counted = (t: TaskRecord): boolean => !isKilling(t) && !killed.has(t) && !isInactive(t, def, now);

  // Too many of the target version (scale down, or an unreachable task came back): kill the surplus.
  const currentCounted = current.filter(counted);
  for (const t of killOrder(currentCounted, def.killSelection).slice(0, Math.max(0, currentCounted.length - n))) killed.add(t);

  // Old tasks go as long as enough healthy ones stay.
  const { minHealthy, maxTotal } = capacityBounds(def, n);
  const healthyCurrent = current.filter((t) => counted(t) && isHealthy(t)).length;
  let healthyNow = healthyCurrent + old.filter((t) => !isKilling(t) && isHealthy(t)).length;
  for (const t of killOrder(old.filter((t) => !isKilling(t)), def.killSelection)) {
    if (!isHealthy(t)) killed.add(t);
    else if (healthyCurrent >= n || healthyNow - 1 >= minHealthy) {
      killed.add(t);
      healthyNow--;
    }
  }

  const alive = current.filter(counted).length;
  const missing = Math.max(0, n - alive);
  let launch = missing;
  if (old.length > 0) {
    const present = tasks.filter((t) => !isInactive(t, def, now)).length;
    launch = Math.max(0, Math.min(missing, maxTotal - present));
  }

  const currentLive = current.filter((t) => !isInactive(t, def, now));
  const readyCurrent = current.filter((t) => counted(t) && isReady(t, def, now)).length;
  const complete = old.length === 0 && alive === n && readyCurrent === n && currentLive.length === n;
  const distance = old.length + (n - Math.min(n, healthyCurrent)) + Math.max(0, currentLive.length - n);
  return { kill: [...killed], launch, missing, complete, distance };
}

/**
 * When the services framework must act next without an outside event, and how many tasks it is
 * waiting to launch now — both read from the records alone (the coordinator owns the timer and the
 * revive/suppress calls).
 */
import { minReadyMs } from './app-definition';
import { deadlineOf, NEVER } from './deployments';
import type { ServicesOptions } from './options';
import { isKilling } from './planner';
import type { Records } from './records';

/** Tasks the apps need launched now (apps not deleting; slots past their launch backoff). */
export function launchNeed(records: Records): number {
  let need = 0;
  for (const app of records.apps.values()) {
    const n = records.need.get(app.id) ?? 0;
    if (n > 0 && !app.deleting) need += n;
  }
  return need;
}

/**
 * The earliest instant after `now` at which something falls due: a slot's launch backoff ending, a
 * slot's backoff reset for its healthy task, a healthy task becoming ready (`minReadySeconds`), a deployment
 * deadline, an unreachable task becoming inactive or expunged, a launch timing out, a kill to retry, a readiness probe. {@link NEVER} when nothing is.
 */
export function nextWakeAt(records: Records, o: ServicesOptions, loadedAt: number, now: number): number {
  let at = NEVER;
  const consider = (t: number | undefined): void => {
    if (t !== undefined && t > now && t < at) at = t;
  };
  const { apps, tasks, probes } = records;
  for (const app of apps.values()) {
    for (const i of records.slotPlans.get(app.id)?.delayed ?? []) consider(app.slots[i]?.nextLaunchAt);
    const readyMs = minReadyMs(app.current.def);
    for (const t of records.tasksOf(app.id)) {
      if (t.healthySince === undefined) continue;
      consider(t.healthySince + readyMs);
      if (app.slots[t.instance] !== undefined && t.configVersion === app.current.configVersion) consider(t.healthySince + o.backoffResetSeconds * 1000);
    }
  }
  for (const d of records.deployments.values()) if (d.state === 'RUNNING' && d.kind !== 'DELETE') consider(deadlineOf(d, loadedAt));
  for (const t of tasks.values()) {
    const def = apps.get(t.appId)?.current.def;
    if (t.state === 'TASK_UNREACHABLE' && def !== undefined && !def.unreachableStrategy.disabled) {
      const since = t.unreachableSince ?? now;
      consider(since + def.unreachableStrategy.inactiveAfterSeconds * 1000);
      consider(since + def.unreachableStrategy.expungeAfterSeconds * 1000);
    }
    if ((t.state === 'TASK_STAGING' || t.state === 'TASK_STARTING') && !isKilling(t)) consider(Math.max(t.launchedAt, t.lastStatusAt, loadedAt) + o.taskLaunchTimeoutSeconds * 1000);
    if (t.killRequestedAt !== undefined) consider(t.killRequestedAt + o.killRetrySeconds * 1000);
  }
  for (const p of probes.values()) if (!p.inFlight) consider(p.nextAt);
  return at;
}

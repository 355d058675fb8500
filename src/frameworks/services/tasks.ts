/**
 * The life of the services framework's task records after launch: applying status updates (state,
 * health, unreachable time; a task ending records the app's last failure and its slot's launch backoff), and the
 * time-based expiries the scheduler runs as it converges — launch timeouts, expunging unreachable
 * tasks, kill retries — plus killing a task.
 *
 * These change the records (marked to be written) and send kills; converging afterwards is the
 * scheduler's.
 */
import type { Logger } from '../../common/logging';
import { timeFromWire } from '../../common/wire/time';
import type { TaskStatus__Output } from '../../generated/berth/v1/TaskStatus';
import type { SchedulerApi } from '../sdk/framework';
import { FAILURE_STATES, TERMINAL_STATES, type TaskRecord } from './model';
import type { ServicesOptions } from './options';
import { isHealthy, isKilling } from './planner';
import type { Records } from './records';
import { failedSlot } from './slots';

export interface TaskContext {
  readonly records: Records;
  readonly scheduler: SchedulerApi;
  readonly logger: Logger;
}

export function killTask(ctx: TaskContext, t: TaskRecord, now: number): void {
  t.killRequestedAt = now;
  ctx.records.markTask(t);
  ctx.scheduler.kill(t.taskId, t.agentId);
}

export function updateHealthySince(t: TaskRecord, now: number): void {
  if (isHealthy(t)) t.healthySince ??= now;
  else delete t.healthySince;
}

/** Applies a status update to the task's record; kills tasks this framework does not know. */
export function applyStatus(ctx: TaskContext, s: TaskStatus__Output, now: number): void {
  const taskId = s.task_id?.value ?? '';
  const state = String(s.state);
  const t = ctx.records.tasks.get(taskId);
  if (t === undefined) {
    if (taskId !== '' && !TERMINAL_STATES.has(state) && state !== 'TASK_UNREACHABLE') {
      ctx.logger.warn('killing a task this framework does not know', { taskId, state });
      ctx.scheduler.kill(taskId, s.agent_id?.value);
    }
    return;
  }
  t.lastStatusAt = now;
  if (s.message) t.message = s.message;
  if (TERMINAL_STATES.has(state)) {
    taskEnded(ctx, t, s, now);
  } else {
    t.state = state;
    if (state === 'TASK_RUNNING') {
      t.runningSince ??= now;
      delete t.unreachableSince;
    }
    if (state === 'TASK_UNREACHABLE') t.unreachableSince ??= unreachableTime(s) ?? now;
    if (s.healthy !== undefined && s.healthy !== null) t.healthy = s.healthy;
    updateHealthySince(t, now);
    ctx.records.markTask(t);
  }
}

function unreachableTime(s: TaskStatus__Output): number | undefined {
  try {
    return timeFromWire(s.unreachable_time);
  } catch {
    return undefined;
  }
}

function taskEnded(ctx: TaskContext, t: TaskRecord, s: TaskStatus__Output, now: number): void {
  const state = String(s.state);
  ctx.records.forgetTask(t);
  if (s.reason === 'REASON_AGENT_DRAINING') ctx.records.drainingAgents.set(t.agentId, t.hostname);
  const app = ctx.records.apps.get(t.appId);
  if (app === undefined || t.killRequestedAt !== undefined) return;
  const reason = String(s.reason ?? 'REASON_UNSPECIFIED');
  app.lastFailure = { taskId: t.taskId, state, reason, message: s.message ?? '', at: now, version: t.version };
  ctx.logger.info('task ended', { taskId: t.taskId, appId: app.id, state, reason, message: s.message });
  const appFailure = FAILURE_STATES.has(state) && reason !== 'REASON_AGENT_DRAINING' && reason !== 'REASON_FRAMEWORK_REMOVED';
  if (appFailure && t.configVersion === app.current.configVersion) {
    app.slots[t.instance] = failedSlot(app.slots[t.instance], app.current.def, now, `${state} ${s.message ?? ''}`.trim());
  }
  ctx.records.markApp(app);
}

/**
 * Launch timeouts, unreachable expunges, kill retries (and kills of tasks whose app is gone).
 * Launch timeouts count from `loadedAt` at the earliest: time the framework was down does not count.
 */
export function expireTasks(ctx: TaskContext, options: Pick<ServicesOptions, 'taskLaunchTimeoutSeconds' | 'killRetrySeconds'>, loadedAt: number, now: number): void {
  const o = options;
  const { records, scheduler, logger } = ctx;
  for (const t of [...records.tasks.values()]) {
    const app = records.apps.get(t.appId);
    const def = app?.current.def;
    if (app === undefined) {
      if (!isKilling(t)) killTask(ctx, t, now);
    }
    if (t.state === 'TASK_UNREACHABLE' && def !== undefined && !def.unreachableStrategy.disabled && now - (t.unreachableSince ?? now) >= def.unreachableStrategy.expungeAfterSeconds * 1000) {
      logger.info('expunging unreachable task', { taskId: t.taskId, appId: t.appId });
      scheduler.kill(t.taskId, t.agentId);
      records.forgetTask(t);
      continue;
    }
    if ((t.state === 'TASK_STAGING' || t.state === 'TASK_STARTING') && !isKilling(t) && now - Math.max(t.launchedAt, t.lastStatusAt, loadedAt) >= o.taskLaunchTimeoutSeconds * 1000) {
      logger.warn('task did not start in time; killing it', { taskId: t.taskId, appId: t.appId, state: t.state });
      scheduler.kill(t.taskId, t.agentId);
      records.forgetTask(t);
      if (app !== undefined) {
        app.lastFailure = { taskId: t.taskId, state: t.state, reason: 'launch timeout', message: `not running ${o.taskLaunchTimeoutSeconds} s after launch`, at: now, version: t.version };
        records.markApp(app);
      }
      continue;
    }
    if (t.killRequestedAt !== undefined && now - t.killRequestedAt >= o.killRetrySeconds * 1000) {
      t.killRequestedAt = now;
      records.markTask(t);
      scheduler.kill(t.taskId, t.agentId);
    }
  }
}

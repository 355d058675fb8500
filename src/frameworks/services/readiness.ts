/**
 * Readiness checks, run by the framework itself (unlike health checks, which the agent runs): an
 * HTTP(S) GET to the task's own agent host and host port, repeated every `intervalSeconds` until the
 * answer's status is one of `httpStatusCodesForReady`. Deployments wait for new tasks to be ready.
 *
 * The target is always the task's agent hostname and one of the task's host ports — nothing else can
 * be addressed through an app definition.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { isKilling } from './planner';
import type { Records } from './records';
import { updateHealthySince } from './tasks';

export interface ReadinessTarget {
  readonly protocol: 'HTTP' | 'HTTPS';
  readonly host: string;
  readonly port: number;
  readonly path: string;
}

export type ReadinessResult = { readonly status: number } | { readonly error: string };

/** Performs one check. Never rejects. Injected, so tests can answer without sockets. */
export type ReadinessProbe = (target: ReadinessTarget, timeoutMs: number) => Promise<ReadinessResult>;

/**
 * The real probe: one GET, no redirects followed, TLS certificates not verified. Only the status line
 * matters: once it is in, the response (and its socket) is destroyed, body unread. `timeoutMs` bounds
 * the whole check — connecting, sending, and the status line arriving — not only idle time, so a
 * server trickling its answer cannot keep a probe in flight.
 */
export const httpReadinessProbe: ReadinessProbe = (target, timeoutMs) =>
  new Promise<ReadinessResult>((resolve) => {
    const mod = target.protocol === 'HTTPS' ? https : http;
    let req: http.ClientRequest | undefined;
    let settled = false;
    const done = (r: ReadinessResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      req?.destroy();
      resolve(r);
    };
    const deadline = setTimeout(() => done({ error: `no answer within ${timeoutMs} ms` }), timeoutMs);
    try {
      req = mod.get({ host: target.host, port: target.port, path: target.path, agent: false, ...(target.protocol === 'HTTPS' ? { rejectUnauthorized: false } : {}) }, (res) => {
        res.on('error', () => undefined); // destroying it may report an abort; the status is all we wanted
        res.destroy();
        done({ status: res.statusCode ?? 0 });
      });
      req.on('error', (err) => done({ error: err.message }));
    } catch (err) {
      done({ error: err instanceof Error ? err.message : String(err) });
    }
  });

/** A probe to run now. */
export interface DueProbe {
  readonly taskId: string;
  readonly target: ReadinessTarget;
  readonly timeoutMs: number;
}

/**
 * The readiness probes due at `now`: running tasks with a readiness check, not ready yet, whose
 * previous probe ended and whose interval has passed. Marks them in flight; forgets probes of tasks
 * that are gone or ready.
 */
export function dueProbes(records: Records, now: number): DueProbe[] {
  const { tasks, probes } = records;
  for (const taskId of [...probes.keys()]) {
    const t = tasks.get(taskId);
    if (t === undefined || t.ready) probes.delete(taskId);
  }
  const due: DueProbe[] = [];
  for (const t of tasks.values()) {
    const spec = t.readiness;
    if (spec === undefined || t.ready || t.state !== 'TASK_RUNNING' || isKilling(t)) continue;
    const p = probes.get(t.taskId);
    if (p !== undefined && (p.inFlight || p.nextAt > now)) continue;
    probes.set(t.taskId, { nextAt: now + spec.intervalMs, inFlight: true });
    due.push({ taskId: t.taskId, target: { protocol: spec.protocol, host: t.hostname, port: spec.port, path: spec.path }, timeoutMs: spec.timeoutMs });
  }
  return due;
}

/** Records a probe's answer: the task is ready when the status is one the check accepts. */
export function applyReadinessResult(records: Records, taskId: string, result: ReadinessResult, now: number): void {
  const p = records.probes.get(taskId);
  if (p !== undefined) p.inFlight = false;
  const t = records.tasks.get(taskId);
  if (t === undefined || t.readiness === undefined || t.ready) return;
  if ('status' in result && t.readiness.statuses.includes(result.status)) {
    t.ready = true;
    records.probes.delete(taskId);
    updateHealthySince(t, now);
    records.markTask(t);
    return;
  }
  const { protocol, port, path } = t.readiness;
  const url = `${protocol.toLowerCase()}://${t.hostname}:${port}${path}`;
  if (p !== undefined) p.lastFailure = 'status' in result ? `GET ${url} answered ${result.status}` : `GET ${url} failed: ${result.error}`;
}

/**
 * Why an app's running tasks are not ready yet, from their last readiness probes; '' when none failed.
 * The probes go from the framework host to the agent's hostname, which therefore must resolve and be
 * reachable from there — the usual cause when the task itself is fine.
 */
export function describeNotReady(records: Records, appId: string): string {
  const failures = records.tasksOf(appId).filter((t) => !t.ready).map((t) => records.probes.get(t.taskId)?.lastFailure).filter((f) => f !== undefined);
  if (failures.length === 0) return '';
  const dns = failures.some((f) => /ENOTFOUND|EAI_AGAIN/.test(f)) ? ' (readiness checks are made from the framework host to the agent\'s hostname: it must resolve there)' : '';
  return `${failures.length} task${failures.length === 1 ? '' : 's'} not ready: ${failures[0]}${dns}`;
}

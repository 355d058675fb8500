/**
 * How `berth app deploy|scale|restart` wait for their deployment: a progress line printed each time it
 * changes (never the same line again), and an exit code a pipeline can rely on — 0 when the
 * deployment succeeded, {@link DEPLOY_EXIT} otherwise (failed, rolled back, not finished in time).
 */
import { BerthError } from '../common/errors';
import { parseDuration } from '../common/duration';
import { CliExit, jsonText, type CliOutput } from './io';
import type { ApiClient } from './operator-client';
import { cliCommand } from './invocation';

/** Exit codes of a deployment the CLI waited for and that did not succeed (0: it did). */
export const DEPLOY_EXIT = {
  /** It failed (missed its progress deadline) with nothing to roll back to, or was replaced. */
  failed: 3,
  /** It failed or was cancelled, and the app was rolled back to the version before it. */
  rolledBack: 4,
  /** It had not finished when `--timeout` ran out; it goes on. */
  timedOut: 5,
} as const;

/** What --help says of the exit codes (the generated docs/cli.md shows it too). */
export const DEPLOY_EXIT_HELP = `exits 0 once it succeeded, ${DEPLOY_EXIT.failed} when it failed, ${DEPLOY_EXIT.rolledBack} when it was rolled back, ${DEPLOY_EXIT.timedOut} when --timeout ran out`;

/** What --help says of --timeout. */
export const TIMEOUT_HELP = 'give up waiting after this long: seconds (90) or a duration (90s, 5m, 1h30m); 0: no limit — a deployment without progress fails by itself after its progressDeadlineSeconds (600 s unless set)';

export interface Deployment {
  id: string; app_id: string; kind: string; state: string; message: string;
  started_at?: { nanoseconds: string } | null; rolled_back_by: string;
}

/** The part of an app's status the progress line shows. */
export interface ProgressStatus {
  instances: number; running: number; healthy: number; waiting_instances: number; waiting: string;
  backoff_seconds: number; launch_delay_remaining_seconds: number;
  last_failure?: { task_id: string; state: string; message: string } | null;
}

/** `--timeout` in ms: bare numbers are seconds; 0 is no limit. */
export function parseTimeout(text: string): number {
  const s = text.trim();
  const ms = /^\d+(\.\d+)?$/.test(s) ? Math.round(Number(s) * 1000) : parseDuration(s);
  if (ms === undefined || !Number.isFinite(ms)) throw new BerthError('INVALID_ARGUMENT', `--timeout must be seconds (90) or a duration (90s, 5m, 1h30m), got "${text}"`);
  return ms;
}

/**
 * The progress line: the deployment's kind and state, the instances and why some are missing —
 * without the ticking "launch delayed 0.8 s" countdown, so that an unchanged state prints nothing.
 */
export function progressLine(d: Deployment, s: ProgressStatus | undefined): string {
  const head = `${d.kind.toLowerCase()} ${d.state.toLowerCase()}`;
  if (s === undefined) return head;
  let why = s.waiting;
  if (s.waiting_instances > 0 && s.launch_delay_remaining_seconds > 0) {
    why = `launch backoff ${s.backoff_seconds} s after task failures`;
    if (s.last_failure) why += `; last failure: ${s.last_failure.state} ${s.last_failure.message}`.trimEnd();
  }
  return `${head}: ${s.running}/${s.instances} running, ${s.healthy} healthy${why ? ` — ${why}` : ''}`;
}

/** The exit code of a finished deployment. */
export function outcomeCode(d: Deployment): number {
  if (d.state === 'SUCCEEDED') return 0;
  return d.rolled_back_by ? DEPLOY_EXIT.rolledBack : DEPLOY_EXIT.failed;
}

export interface FollowOptions {
  readonly json: boolean;
  /** 0: no limit. */
  readonly timeoutMs: number;
  /** Between polls. @default 500 */
  readonly pollMs?: number;
}

/** Waits for a deployment to end, printing its progress; throws {@link CliExit} unless it succeeded. */
export async function followDeployment(c: ApiClient, out: CliOutput, appId: string, deploymentId: string, opts: FollowOptions): Promise<void> {
  if (deploymentId === '') {
    if (!opts.json) out.stdout('nothing to change\n');
    return;
  }
  const giveUpAt = opts.timeoutMs > 0 ? Date.now() + opts.timeoutMs : Number.POSITIVE_INFINITY;
  let last = '';
  for (;;) {
    const deps = (await c.call<{ deployments: Deployment[] }>('ListDeployments', { app_id: appId, include_finished: true })).deployments;
    const d = deps.find((x) => x.id === deploymentId);
    if (d === undefined) throw new BerthError('NOT_FOUND', `deployment ${deploymentId} is gone`);
    const status = (await c.call<{ app: { status: ProgressStatus } }>('GetApp', { app_id: appId }).catch(() => undefined))?.app.status;
    const line = progressLine(d, status);
    if (line !== last && !opts.json) out.stdout(`${line}\n`);
    last = line;
    if (d.state !== 'RUNNING') {
      if (opts.json) out.stdout(jsonText(d));
      const code = outcomeCode(d);
      if (code !== 0) {
        if (!opts.json) out.stderr(`deployment ${d.id} ${d.state.toLowerCase()}${d.message ? `: ${d.message}` : ''}${d.rolled_back_by ? ` (rolled back by ${d.rolled_back_by})` : ''}\n`);
        throw new CliExit(code);
      }
      return;
    }
    const left = giveUpAt - Date.now();
    if (left <= 0) {
      if (opts.json) out.stdout(jsonText(d));
      else out.stderr(`deployment ${d.id} did not finish within --timeout ${opts.timeoutMs / 1000} s; it goes on (${cliCommand()} deployment cancel ${d.id} rolls it back)\n`);
      throw new CliExit(DEPLOY_EXIT.timedOut);
    }
    await new Promise((r) => setTimeout(r, Math.min(opts.pollMs ?? 500, left)));
  }
}

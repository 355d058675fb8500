/**
 * How `berth app deploy|scale|restart|rm` wait for their deployment: its progress shown as it changes
 * (progress-view.ts: a line rewritten in place on a terminal, a line per change otherwise, JSON
 * events with --json), and an exit code a pipeline can rely on — 0 when the deployment succeeded,
 * {@link DEPLOY_EXIT} otherwise (failed, rolled back, not finished in time).
 */
import { BerthError } from '../common/errors';
import { parseDuration } from '../common/duration';
import { CliExit, type CliOutput } from './io';
import { cliCommand } from './invocation';
import type { ApiClient } from './operator-client';
import { ProgressView, type Deployment, type ProgressMode, type ProgressStatus } from './progress-view';

export type { Deployment, ProgressStatus } from './progress-view';

/** Exit codes of a deployment the CLI waited for and that did not succeed (0: it did). */
export const DEPLOY_EXIT = {
  /** It failed (missed its progress deadline) with nothing to roll back to, or was replaced. */
  failed: 3,
  /** It failed or was cancelled, and the app was rolled back to the version before it. */
  rolledBack: 4,
  /** It had not finished when `--timeout` ran out; it goes on. */
  timedOut: 5,
  /** Ctrl-C (SIGINT) stopped the wait; the deployment goes on. 128 + SIGINT, as a shell reports it. */
  interrupted: 130,
} as const;

/** What --help says of the exit codes (the generated docs/cli.md shows it too). */
export const DEPLOY_EXIT_HELP = `exits 0 once it succeeded, ${DEPLOY_EXIT.failed} when it failed, ${DEPLOY_EXIT.rolledBack} when it was rolled back, ${DEPLOY_EXIT.timedOut} when --timeout ran out, ${DEPLOY_EXIT.interrupted} on Ctrl-C (the deployment goes on)`;

/** What --help says of --timeout. */
export const TIMEOUT_HELP = 'give up waiting after this long: seconds (90) or a duration (90s, 5m, 1h30m); 0: no limit — a deployment without progress fails by itself after its progressDeadlineSeconds (600 s unless set)';

/** `--timeout` in ms: bare numbers are seconds; 0 is no limit. */
export function parseTimeout(text: string): number {
  const s = text.trim();
  const ms = /^\d+(\.\d+)?$/.test(s) ? Math.round(Number(s) * 1000) : parseDuration(s);
  if (ms === undefined || !Number.isFinite(ms)) throw new BerthError('INVALID_ARGUMENT', `--timeout must be seconds (90) or a duration (90s, 5m, 1h30m), got "${text}"`);
  return ms;
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
  /** What the call that started the deployment answered (`created` of PutApp…): the `started` event carries it. */
  readonly started?: Readonly<Record<string, unknown>>;
  /** Stops the wait (the deployment goes on). @default this process's SIGINT (Ctrl-C) */
  readonly interrupt?: AbortSignal;
}

/** An AbortSignal aborted by the next SIGINT, and the way to stop listening for it. */
function sigint(): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once('SIGINT', onSigint);
  return { signal: controller.signal, release: () => process.removeListener('SIGINT', onSigint) };
}

/** How progress is shown on `out`: events with --json, a line rewritten in place on a terminal, else a line per change. */
export function progressMode(out: CliOutput, json: boolean): ProgressMode {
  if (json) return 'json';
  return out.isTTY?.() === true ? 'tty' : 'lines';
}

/**
 * Waits for a deployment to end, showing its progress (progress-view.ts); throws {@link CliExit}
 * unless it succeeded.
 */
export async function followDeployment(c: ApiClient, out: CliOutput, appId: string, deploymentId: string, opts: FollowOptions): Promise<void> {
  const json = (event: Record<string, unknown>): void => out.stdout(`${JSON.stringify(event)}\n`);
  if (deploymentId === '') {
    if (opts.json) json({ event: 'unchanged', app_id: appId, ...opts.started });
    else out.stdout('nothing to change\n');
    return;
  }
  if (opts.json) json({ event: 'started', app_id: appId, deployment_id: deploymentId, ...opts.started });
  const view = new ProgressView(progressMode(out, opts.json), { write: (s) => out.stdout(s), columns: out.columns });
  const own = opts.interrupt === undefined ? sigint() : undefined;
  try {
    await follow(c, out, appId, deploymentId, opts, view, opts.interrupt ?? own!.signal);
  } finally {
    own?.release();
  }
}

async function follow(c: ApiClient, out: CliOutput, appId: string, deploymentId: string, opts: FollowOptions, view: ProgressView, interrupt: AbortSignal): Promise<void> {
  const giveUpAt = opts.timeoutMs > 0 ? Date.now() + opts.timeoutMs : Number.POSITIVE_INFINITY;
  for (;;) {
    const deps = (await c.call<{ deployments: Deployment[] }>('ListDeployments', { app_id: appId, include_finished: true })).deployments;
    const d = deps.find((x) => x.id === deploymentId);
    if (d === undefined) throw new BerthError('NOT_FOUND', `deployment ${deploymentId} of app ${appId} is no longer known to the framework (pruned beyond maxFinishedDeployments?); berth app show ${appId} tells how the app is now`);
    // A deleted app is gone (NOT_FOUND): the view shows the deployment alone.
    const status = (await c.call<{ app: { status: ProgressStatus } }>('GetApp', { app_id: appId }).catch(() => undefined))?.app.status;
    view.update(d, status);
    if (d.state !== 'RUNNING') {
      const code = outcomeCode(d);
      view.end(d, { event: 'finished', exitCode: code });
      if (code !== 0) {
        if (!opts.json) out.stderr(`deployment ${d.id} ${d.state.toLowerCase()}${d.message ? `: ${d.message}` : ''}${d.rolled_back_by ? ` (rolled back by ${d.rolled_back_by})` : ''}\n`);
        throw new CliExit(code);
      }
      return;
    }
    const left = giveUpAt - Date.now();
    if (left <= 0) {
      view.end(d, { event: 'timed_out', exitCode: DEPLOY_EXIT.timedOut });
      if (!opts.json) out.stderr(`deployment ${d.id} did not finish within --timeout ${opts.timeoutMs / 1000} s; it goes on (${d.kind === 'DELETE' ? `${cliCommand()} app show ${appId} shows the tasks still stopping` : `${cliCommand()} deployment cancel ${d.id} rolls it back`})\n`);
      throw new CliExit(DEPLOY_EXIT.timedOut);
    }
    await pause(Math.min(opts.pollMs ?? 500, left), interrupt);
    if (interrupt.aborted) {
      // The line on screen is ended (the shell's prompt must not land on it) and the user told what goes on.
      view.end(d, { event: 'interrupted', exitCode: DEPLOY_EXIT.interrupted });
      if (!opts.json) out.stderr(`stopped following deployment ${d.id}; it goes on (${d.kind === 'DELETE' ? `${cliCommand()} app show ${appId} shows the tasks still stopping` : `${cliCommand()} deployment cancel ${d.id} rolls it back`})\n`);
      throw new CliExit(DEPLOY_EXIT.interrupted);
    }
  }
}

/** Waits `ms`, or less if `signal` aborts first. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/**
 * How a deployment the CLI waits for is shown, in one of three forms:
 *
 * - **tty** (stdout is a terminal): one line, rewritten in place (carriage return + ANSI erase-line)
 *   whenever it changes — a bar of the instances running, `running/healthy of N`, and why the rest
 *   are missing or the last failure; cut to the terminal's width so it never wraps (a wrapped line
 *   cannot be rewritten). The final state stays on screen, ended by a newline.
 * - **lines** (a pipe, a file, CI logs): the progress line printed only when it changed.
 * - **json** (`--json`): one JSON event per line (JSON Lines) — `progress` on each change, then one
 *   `finished`, `timed_out` or `interrupted`; the shape is documented in docs/cli.md ("Following a deployment").
 *
 * Pure rendering: the caller polls and feeds it; it writes through a function.
 */

/** A deployment as the Services API answers it (the fields shown). */
export interface Deployment {
  id: string; app_id: string; kind: string; state: string; message: string;
  started_at?: { nanoseconds: string } | null; rolled_back_by: string;
}

/** The part of an app's status the progress shows. */
export interface ProgressStatus {
  instances: number; running: number; healthy: number; waiting_instances: number; waiting: string;
  backoff_seconds: number; launch_delay_remaining_seconds: number;
  last_failure?: { task_id: string; state: string; message: string } | null;
  /** The app's tasks (counted while a DELETE stops them). */
  tasks?: readonly unknown[];
}

export type ProgressMode = 'tty' | 'lines' | 'json';

/** Where the view writes, and (for a terminal) how wide it is. */
export interface ProgressOutput {
  write(s: string): void;
  /** Terminal columns; undefined or 0: 80. */
  columns?: () => number | undefined;
}

/** The end of a wait, as the `finished`/`timed_out`/`interrupted` event tells it. */
export interface ProgressEnd {
  readonly event: 'finished' | 'timed_out' | 'interrupted';
  readonly exitCode: number;
}

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

/** Why instances are missing, without the ticking launch-delay countdown (it would change every poll). */
function reasonOf(s: ProgressStatus): string {
  if (s.waiting_instances > 0 && s.launch_delay_remaining_seconds > 0) {
    let why = `launch backoff ${s.backoff_seconds} s after task failures`;
    if (s.last_failure) why += `; last failure: ${s.last_failure.state} ${s.last_failure.message}`.trimEnd();
    return why;
  }
  return s.waiting;
}

/** What a DELETE shows: the tasks still to stop (the app's instance count means nothing then). */
function deleteCounts(s: ProgressStatus | undefined, d: Deployment): string {
  if (s === undefined) return d.state === 'SUCCEEDED' ? 'the app and its tasks are gone' : 'the app is gone';
  return `${plural(s.tasks?.length ?? s.running, 'task')} left to stop`;
}

/**
 * The progress line of `lines` mode: the deployment's kind and state, the instances and why some
 * are missing — e.g. `create running: 1/3 running, 1 healthy — waiting for offers for 2 instances: …`.
 */
export function progressLine(d: Deployment, s: ProgressStatus | undefined): string {
  const head = `${d.kind.toLowerCase()} ${d.state.toLowerCase()}`;
  if (d.kind === 'DELETE') return `${head}: ${deleteCounts(s, d)}`;
  if (s === undefined) return head;
  const why = reasonOf(s);
  return `${head}: ${s.running}/${s.instances} running, ${s.healthy} healthy${why ? ` — ${why}` : ''}`;
}

const BAR = 20;

/** `[#####-----.........]`: healthy `#`, running but not (yet) healthy `-`, missing `.`. */
export function progressBar(s: ProgressStatus): string {
  const n = Math.max(s.instances, s.running, 1);
  const healthy = Math.round((Math.min(s.healthy, n) / n) * BAR);
  const running = Math.max(healthy, Math.round((Math.min(s.running, n) / n) * BAR));
  return `[${'#'.repeat(healthy)}${'-'.repeat(running - healthy)}${'.'.repeat(BAR - running)}]`;
}

/**
 * The line of `tty` mode: `create running [####----............] 1/5 running, 1/5 healthy — last
 * failure: TASK_FAILED …`, the reason (or last failure) last so that cutting it to the width loses
 * the least.
 */
export function ttyLine(d: Deployment, s: ProgressStatus | undefined): string {
  const head = `${d.kind.toLowerCase()} ${d.state.toLowerCase()}`;
  if (d.kind === 'DELETE' || s === undefined) return progressLine(d, s);
  let why = reasonOf(s);
  if (why === '' && s.last_failure) why = `last failure: ${s.last_failure.state} ${s.last_failure.message}`.trimEnd();
  return `${head} ${progressBar(s)} ${s.running}/${s.instances} running, ${s.healthy}/${s.instances} healthy${why ? ` — ${why}` : ''}`;
}

/** `line` cut to `width` characters (the last one an ellipsis when cut). */
export function fit(line: string, width: number): string {
  const chars = [...line];
  if (chars.length <= width) return line;
  return `${chars.slice(0, Math.max(0, width - 1)).join('')}…`;
}

/** The JSON event of one change: the deployment and the app's counts. */
export function progressEvent(d: Deployment, s: ProgressStatus | undefined): Record<string, unknown> {
  return {
    event: 'progress',
    app_id: d.app_id, deployment_id: d.id, kind: d.kind, state: d.state,
    ...(s === undefined
      ? { app_gone: true }
      : {
          instances: s.instances, running: s.running, healthy: s.healthy, waiting_instances: s.waiting_instances,
          tasks: s.tasks?.length ?? s.running, waiting: reasonOf(s), last_failure: s.last_failure ?? null,
        }),
  };
}

/** Shows one deployment's progress in one of the three modes; feed it every poll. */
export class ProgressView {
  private last = '';
  /** A tty line is on screen and not ended by a newline yet. */
  private open = false;

  constructor(private readonly mode: ProgressMode, private readonly out: ProgressOutput) {}

  /** The deployment as polled now: prints only what changed. */
  update(d: Deployment, s: ProgressStatus | undefined): void {
    if (this.mode === 'json') {
      const text = JSON.stringify(progressEvent(d, s));
      if (text !== this.last) this.out.write(`${text}\n`);
      this.last = text;
      return;
    }
    if (this.mode === 'lines') {
      const line = progressLine(d, s);
      if (line !== this.last) this.out.write(`${line}\n`);
      this.last = line;
      return;
    }
    // A terminal that does not say its width (0: a pty without a size) is taken as 80 columns.
    const columns = this.out.columns?.() || 80;
    const width = Math.max(20, columns - 1);
    const line = fit(ttyLine(d, s), width);
    if (line === this.last && this.open) return;
    this.out.write(`\r\x1b[2K${line}`);
    this.last = line;
    this.open = true;
  }

  /** The wait is over: ends the tty line; `json` prints the closing event. */
  end(d: Deployment, how: ProgressEnd): void {
    if (this.open) this.out.write('\n');
    this.open = false;
    if (this.mode !== 'json') return;
    this.out.write(`${JSON.stringify({
      event: how.event, app_id: d.app_id, deployment_id: d.id, kind: d.kind, state: d.state,
      message: d.message, rolled_back_by: d.rolled_back_by, exit_code: how.exitCode,
    })}\n`);
  }
}

/**
 * Task health checks run by the agent (DESIGN §8; the semantics of Mesos's health checker, see its
 * docs/health-checks.md).
 *
 * - {@link healthCheckFromWire} turns a wire `HealthCheck` into a {@link HealthCheckSpec}: defaults
 *   filled in, seconds turned into milliseconds, and every malformed field rejected with a
 *   `ValidationError` naming the field and the value. The master validates task infos too, but the
 *   agent reads its own input defensively: a bad check must fail one task, never the agent.
 * - {@link HealthChecker} runs one spec for one task: the first check `delay` after `start()`, then
 *   one every `interval` (start to start). It reports changes of health with `onResult` and, once
 *   `consecutive_failures` counted failures happened in a row, calls `onFailureThreshold` (the agent
 *   then kills the task) and stops.
 *
 * Why checks only ever go to 127.0.0.1: tasks use host networking, so the task's ports are the
 * agent's own. A check is a request the framework makes the agent send; aiming it at any other
 * address would let a framework use agents as a proxy into the network they sit in.
 *
 * Timers run on the injected {@link Clock} (tests drive them with `FakeClock`); the I/O itself is real.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';

import type { Clock, TimerHandle } from '../common/clock';
import { nullLogger, type Logger } from '../common/logging';
import { collectProblems, describeValue, type Problems } from '../common/wire/problems';
import { enumName, readDouble } from '../common/wire/values';
import type { HealthCheck, HealthCheck__Output } from '../generated/berth/v1/HealthCheck';
import { _berth_v1_HealthCheck_Type as HealthCheckType } from '../generated/berth/v1/HealthCheck';
import type { LaunchCommand } from './containerizer/containerizer';

/** The only address checks connect to (see the module comment). */
export const HEALTH_CHECK_HOST = '127.0.0.1';

/** Wire defaults (proto/berth/v1/common.proto, `HealthCheck`), in seconds and counts. */
export const HEALTH_CHECK_DEFAULTS = {
  delaySeconds: 15,
  intervalSeconds: 10,
  timeoutSeconds: 20,
  consecutiveFailures: 3,
  gracePeriodSeconds: 10,
} as const;

/**
 * The longest timer a Node timer can hold (2^31 - 1 ms, about 24.8 days). Longer durations are
 * clamped to it: Node would otherwise fire such a timer after 1 ms, turning "never" into "now".
 */
const MAX_TIMER_MS = 2_147_483_647;

/** How much of a failing command's output a result message carries (its end, where errors are). */
const MAX_OUTPUT_CHARS = 256;

/** An HTTP check: GET `scheme://127.0.0.1:port/path`. */
export interface HttpCheckSpec {
  readonly type: 'HTTP';
  readonly port: number;
  /** Starts with "/". */
  readonly path: string;
  /** `https` does not verify the certificate (the task's certificate is for its public name). */
  readonly scheme: 'http' | 'https';
  /** Healthy statuses; empty means any status from 200 to 399. */
  readonly statuses: readonly number[];
}

/** A TCP check: healthy when a connection to `127.0.0.1:port` opens. */
export interface TcpCheckSpec {
  readonly type: 'TCP';
  readonly port: number;
}

/** A COMMAND check: run in the task's container by the agent's `exec`; exit status 0 is healthy. */
export interface CommandCheckSpec {
  readonly type: 'COMMAND';
  readonly command: LaunchCommand;
}

/** A validated health check with every default applied and durations in milliseconds. */
export interface HealthCheckSpec {
  /** What to probe. */
  readonly check: HttpCheckSpec | TcpCheckSpec | CommandCheckSpec;
  /** From `start()` to the first check. */
  readonly delayMs: number;
  /** Between the starts of two checks; at least 1. */
  readonly intervalMs: number;
  /** After which one check counts as failed; at least 1. */
  readonly timeoutMs: number;
  /** Counted failures in a row that trigger `onFailureThreshold`; at least 1. */
  readonly consecutiveFailures: number;
  /** From `start()`: a failure that ends sooner than this after `start()`, before any success, is not counted. */
  readonly gracePeriodMs: number;
}

const CHECK_MEMBER = { HTTP: 'http', TCP: 'tcp', COMMAND: 'command' } as const;

/**
 * Reads a wire `HealthCheck` (decoded `__Output` or hand-built) into a {@link HealthCheckSpec}.
 *
 * With `taskPorts` (the host ports of the task's `ports` resources), an HTTP or TCP check must name
 * one of them: under host networking any other port belongs to another task or to the host, and a
 * check must not probe those. Without `taskPorts` any port 1-65535 is accepted.
 *
 * @throws ValidationError naming every malformed field and its value (field paths are relative to
 *   the `HealthCheck`, e.g. `http.port: must be a port in 1-65535, got 0`).
 */
export function healthCheckFromWire(hc: HealthCheck__Output | HealthCheck, taskPorts?: readonly number[]): HealthCheckSpec {
  return collectProblems((problems) => {
    const check = readCheck(hc, taskPorts, problems);
    const seconds = (field: keyof typeof FIELD_DEFAULTS, positive: boolean): number => {
      const raw = hc[field];
      if (raw === undefined || raw === null) return toMs(FIELD_DEFAULTS[field]);
      const r = readDouble(raw);
      const v = r.ok ? r.value : NaN;
      if (!Number.isFinite(v) || v < 0 || (positive && v === 0)) {
        problems.add(field, `must be a ${positive ? 'positive' : 'non-negative'} number of seconds, got ${describeValue(raw)}`);
        return 0;
      }
      return Math.max(positive ? 1 : 0, toMs(v));
    };
    const delayMs = seconds('delay_seconds', false);
    const intervalMs = seconds('interval_seconds', true);
    const timeoutMs = seconds('timeout_seconds', true);
    const gracePeriodMs = seconds('grace_period_seconds', false);
    const cf = hc.consecutive_failures ?? HEALTH_CHECK_DEFAULTS.consecutiveFailures;
    if (typeof cf !== 'number' || !Number.isInteger(cf) || cf < 1) {
      problems.add('consecutive_failures', `must be an integer of at least 1, got ${describeValue(cf)}`);
    }
    return { check: check!, delayMs, intervalMs, timeoutMs, consecutiveFailures: cf, gracePeriodMs };
  });
}

const FIELD_DEFAULTS = {
  delay_seconds: HEALTH_CHECK_DEFAULTS.delaySeconds,
  interval_seconds: HEALTH_CHECK_DEFAULTS.intervalSeconds,
  timeout_seconds: HEALTH_CHECK_DEFAULTS.timeoutSeconds,
  grace_period_seconds: HEALTH_CHECK_DEFAULTS.gracePeriodSeconds,
} as const;

function toMs(seconds: number): number {
  return Math.min(MAX_TIMER_MS, Math.round(seconds * 1000));
}

/** The `check` member matching `type`, or `undefined` after recording the problems. */
function readCheck(hc: HealthCheck__Output | HealthCheck, taskPorts: readonly number[] | undefined, problems: Problems): HealthCheckSpec['check'] | undefined {
  const type = enumName(HealthCheckType, hc.type);
  if (type !== 'HTTP' && type !== 'TCP' && type !== 'COMMAND') {
    problems.add('type', `must be HTTP, TCP or COMMAND, got ${describeValue(type ?? hc.type)}`);
    return undefined;
  }
  const before = problems.size;
  for (const m of ['http', 'tcp', 'command'] as const) {
    const present = hc[m] !== undefined && hc[m] !== null;
    if (m === CHECK_MEMBER[type] && !present) problems.add(m, `is required for a ${type} health check`);
    if (m !== CHECK_MEMBER[type] && present) problems.add(m, `must not be set for a ${type} health check`);
  }
  if (problems.size > before) return undefined;
  const port = (field: string, p: unknown): number => {
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) problems.add(field, `must be a port in 1-65535, got ${describeValue(p)}`);
    else if (taskPorts !== undefined && !taskPorts.includes(p)) {
      problems.add(field, `must be one of the task's ports (${taskPorts.length === 0 ? 'it has none' : taskPorts.join(', ')}), got ${p}`);
    }
    return p as number;
  };
  if (type === 'HTTP') {
    const h = hc.http!;
    const scheme = h.scheme ?? '';
    if (scheme !== '' && scheme !== 'http' && scheme !== 'https') problems.add('http.scheme', `must be "http" or "https", got ${describeValue(scheme)}`);
    const path = h.path ?? '';
    if (path !== '' && (!path.startsWith('/') || /[\s\u0000-\u001f\u007f]/.test(path))) {
      problems.add('http.path', `must start with "/" and hold no whitespace or control characters, got ${describeValue(path)}`);
    }
    const statuses = [...(h.statuses ?? [])];
    statuses.forEach((s, i) => {
      if (!Number.isInteger(s) || s < 100 || s > 599) problems.add(`http.statuses[${i}]`, `must be an HTTP status in 100-599, got ${describeValue(s)}`);
    });
    return { type, port: port('http.port', h.port), path: path === '' ? '/' : path, scheme: scheme === 'https' ? 'https' : 'http', statuses };
  }
  if (type === 'TCP') return { type, port: port('tcp.port', hc.tcp!.port) };
  const c = hc.command!;
  const command: LaunchCommand = { value: c.value ?? '', shell: c.shell ?? true, arguments: [...(c.arguments ?? [])] };
  if (command.shell && command.value.trim() === '') problems.add('command.value', `must be a command line for a shell command, got ${describeValue(c.value)}`);
  if (!command.shell && command.value === '' && command.arguments.length === 0) problems.add('command.arguments', 'must name a program when command.value is empty and shell is false');
  return { type, command };
}

/** Health after a check, as reported to the agent. */
export interface HealthResult {
  readonly healthy: boolean;
  /** Counted failures in a row (0 after a success). */
  readonly consecutiveFailures: number;
  /** What the check saw, for the status update's message and the logs. */
  readonly message: string;
}

/**
 * Runs a COMMAND check's command in the task's container. Should kill the command when it runs
 * longer than `timeoutMs` (the checker stops waiting then, but cannot kill it itself).
 * `exitCode` undefined: the command did not exit normally (killed by a signal).
 */
export type HealthCheckExec = (command: LaunchCommand, timeoutMs: number) => Promise<{ exitCode: number | undefined; output?: string }>;

/** Options of {@link HealthChecker}. */
export interface HealthCheckerOptions {
  readonly spec: HealthCheckSpec;
  /** Timers only; tests pass a `FakeClock`. */
  readonly clock: Clock;
  /** How COMMAND checks run. Absent: every COMMAND check fails, saying so. */
  readonly exec?: HealthCheckExec;
  /**
   * Called when health changes: the first success (healthy), the first counted failure
   * (unhealthy, also when the task was never healthy: its grace period ran out) and every later
   * flip between the two. Not called for repeated results of the same health.
   */
  onResult(r: HealthResult): void;
  /**
   * Called once when counted failures in a row reach `consecutiveFailures` (after `onResult` for
   * that same failure, if it changed health). The checker has stopped by then; the agent kills the task.
   */
  onFailureThreshold(r: HealthResult): void;
  readonly logger?: Logger;
}

/** The result of one probe before the checker counts it. */
interface Outcome {
  readonly ok: boolean;
  readonly message: string;
}

/** The check in flight. */
interface Attempt {
  readonly abort: AbortController;
  readonly timer: TimerHandle;
  /** Resolves once the attempt has been recorded or discarded. */
  readonly done: Promise<void>;
  readonly settle: () => void;
}

/**
 * Health checks of one task (see the module comment). Lifecycle: `new` → `start()` → checks →
 * `stop()` (or the failure threshold, which stops it too). A stopped checker does not start again.
 *
 * Checks never overlap: when a check is still running at the time the next one is due, that slot is
 * skipped and the next check starts at the first slot (`start of the check + k × interval`) after
 * it finished. Callbacks that throw are logged, never propagated into the timer.
 */
export class HealthChecker {
  readonly #opts: HealthCheckerOptions;
  readonly #log: Logger;
  #state: 'new' | 'running' | 'stopped' = 'new';
  #startedAt = 0;
  #timer: TimerHandle | undefined;
  #attempt: Attempt | undefined;
  #succeeded = false;
  #healthy: boolean | undefined;
  #failures = 0;

  constructor(options: HealthCheckerOptions) {
    this.#opts = options;
    this.#log = (options.logger ?? nullLogger).child({ healthCheck: options.spec.check.type });
  }

  /** The last reported health; `undefined` until the first report. */
  get healthy(): boolean | undefined {
    return this.#healthy;
  }

  /** Whether checks are scheduled (started, and neither stopped nor past the failure threshold). */
  get running(): boolean {
    return this.#state === 'running';
  }

  /** Schedules the first check `delay` from now. The grace period starts now too. Idempotent. */
  start(): void {
    if (this.#state !== 'new') return;
    this.#state = 'running';
    this.#startedAt = this.#opts.clock.now();
    this.#timer = this.#opts.clock.setTimeout(() => this.#check(), this.#opts.spec.delayMs);
  }

  /**
   * Stops for good: clears every timer, aborts the HTTP/TCP probe in flight (closing its socket) and
   * ignores the result of any check still running. Reports nothing. Idempotent.
   */
  stop(): void {
    this.#state = 'stopped';
    this.#opts.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const a = this.#attempt;
    this.#attempt = undefined;
    if (a !== undefined) {
      this.#opts.clock.clearTimeout(a.timer);
      a.abort.abort();
      a.settle();
    }
  }

  /**
   * Resolves once no check is in flight: immediately when none is, else when the current one has
   * been recorded (or discarded by `stop()`). Never rejects. Lets tests wait for real I/O between
   * clock advances.
   */
  whenIdle(): Promise<void> {
    return this.#attempt?.done ?? Promise.resolve();
  }

  #check(): void {
    this.#timer = undefined;
    if (this.#state !== 'running') return;
    const { clock, spec } = this.#opts;
    const startedAt = clock.now();
    let settle!: () => void;
    const done = new Promise<void>((resolve) => { settle = resolve; });
    const abort = new AbortController();
    const finish = (outcome: Outcome): void => {
      if (this.#attempt !== attempt) return; // lost the race against the timeout, or stopped
      this.#attempt = undefined;
      clock.clearTimeout(attempt.timer);
      abort.abort(); // after a timeout: close the socket still waiting
      this.#record(outcome);
      if (this.#state === 'running') this.#scheduleNext(startedAt);
      settle();
    };
    const timer = clock.setTimeout(() => finish({ ok: false, message: `timed out after ${spec.timeoutMs / 1000} s` }), spec.timeoutMs);
    const attempt: Attempt = { abort, timer, done, settle };
    this.#attempt = attempt;
    this.#probe(abort.signal).then(finish, (err: unknown) => finish({ ok: false, message: `check failed: ${err instanceof Error ? err.message : String(err)}` }));
  }

  #probe(signal: AbortSignal): Promise<Outcome> {
    const { check, timeoutMs } = this.#opts.spec;
    switch (check.type) {
      case 'HTTP': return probeHttp(check, signal);
      case 'TCP': return probeTcp(check.port, signal);
      case 'COMMAND': return this.#probeCommand(check.command, timeoutMs);
    }
  }

  async #probeCommand(command: LaunchCommand, timeoutMs: number): Promise<Outcome> {
    if (this.#opts.exec === undefined) return { ok: false, message: 'COMMAND health checks cannot run: this agent has no command executor' };
    const r = await this.#opts.exec(command, timeoutMs);
    const output = (r.output ?? '').trim();
    const tail = output.length > MAX_OUTPUT_CHARS ? '…' + output.slice(-MAX_OUTPUT_CHARS) : output;
    const how = r.exitCode === undefined ? 'command did not exit normally' : `command exited with status ${r.exitCode}`;
    return { ok: r.exitCode === 0, message: tail === '' ? how : `${how}: ${tail}` };
  }

  /** The next check at the first slot of the interval grid (anchored at this check's start) not yet past. */
  #scheduleNext(startedAt: number): void {
    const { clock, spec } = this.#opts;
    const elapsed = clock.now() - startedAt;
    const slots = Math.max(1, Math.ceil(elapsed / spec.intervalMs));
    if (slots > 1) this.#log.debug('health check ran past its interval; skipping to the next slot', { elapsedMs: elapsed, intervalMs: spec.intervalMs });
    this.#timer = clock.setTimeout(() => this.#check(), startedAt + slots * spec.intervalMs - clock.now());
  }

  #record(outcome: Outcome): void {
    const { clock, spec } = this.#opts;
    if (outcome.ok) {
      this.#succeeded = true; // ends the grace period
      this.#failures = 0;
      this.#log.debug('health check passed', { message: outcome.message });
      if (this.#healthy !== true) this.#report(true, outcome.message);
      return;
    }
    if (!this.#succeeded && clock.now() - this.#startedAt < spec.gracePeriodMs) {
      this.#log.debug('health check failed within the grace period; not counted', { message: outcome.message });
      return;
    }
    this.#failures += 1;
    this.#log.debug('health check failed', { message: outcome.message, consecutiveFailures: this.#failures });
    const result = this.#healthy !== false ? this.#report(false, outcome.message) : this.#result(false, outcome.message);
    if (this.#failures >= spec.consecutiveFailures) {
      this.stop();
      this.#log.warn('health check failure threshold reached', { consecutiveFailures: this.#failures, message: outcome.message });
      this.#call('onFailureThreshold', result);
    }
  }

  #result(healthy: boolean, message: string): HealthResult {
    return { healthy, consecutiveFailures: this.#failures, message };
  }

  #report(healthy: boolean, message: string): HealthResult {
    this.#healthy = healthy;
    const r = this.#result(healthy, message);
    this.#log.info(healthy ? 'task became healthy' : 'task became unhealthy', { message });
    this.#call('onResult', r);
    return r;
  }

  #call(name: 'onResult' | 'onFailureThreshold', r: HealthResult): void {
    try {
      this.#opts[name](r);
    } catch (err) {
      this.#log.error(`health check ${name} callback threw`, { err });
    }
  }
}

/** GET the check's URL on 127.0.0.1; only the status line is read, then the connection is closed. */
function probeHttp(check: HttpCheckSpec, signal: AbortSignal): Promise<Outcome> {
  const url = `${check.scheme}://${HEALTH_CHECK_HOST}:${check.port}${check.path}`;
  const healthyText = check.statuses.length === 0 ? '200-399' : check.statuses.join(', ');
  return new Promise((resolve) => {
    const options: https.RequestOptions = {
      host: HEALTH_CHECK_HOST, port: check.port, path: check.path, method: 'GET',
      agent: false, // a fresh connection per check, closed after it: no pooled sockets outlive the checker
      signal, headers: { 'user-agent': 'berth-agent-health-check', connection: 'close' },
    };
    if (check.scheme === 'https') options.rejectUnauthorized = false;
    let req: http.ClientRequest;
    try {
      req = (check.scheme === 'https' ? https : http).request(options, (res) => {
        const status = res.statusCode ?? 0;
        res.destroy(); // the body does not matter (and a streaming endpoint would never end)
        const ok = check.statuses.length === 0 ? status >= 200 && status <= 399 : check.statuses.includes(status);
        resolve({ ok, message: `GET ${url} returned ${status}${ok ? '' : ` (healthy: ${healthyText})`}` });
      });
    } catch (err) {
      resolve({ ok: false, message: `GET ${url} failed: ${(err as Error).message}` });
      return;
    }
    req.on('error', (err) => resolve({ ok: false, message: `GET ${url} failed: ${err.message}` }));
    req.end();
  });
}

/** Opens a TCP connection to 127.0.0.1:port and closes it at once. */
function probeTcp(port: number, signal: AbortSignal): Promise<Outcome> {
  const target = `${HEALTH_CHECK_HOST}:${port}`;
  return new Promise((resolve) => {
    const socket = net.connect({ host: HEALTH_CHECK_HOST, port });
    const done = (outcome: Outcome): void => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(outcome);
    };
    const onAbort = (): void => done({ ok: false, message: `connecting to ${target} was aborted` });
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => done({ ok: true, message: `connected to ${target}` }));
    socket.once('error', (err) => done({ ok: false, message: `connecting to ${target} failed: ${err.message}` }));
  });
}

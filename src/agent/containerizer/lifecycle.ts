/**
 * The life of one container as every containerizer sees it, whatever runs it: the promise of its end,
 * the kill sequence (polite signal, grace period, forced signal — only the first kill counts), the
 * max-completion-time timer, and the wording of how it ended. `ProcessContainerizer` and
 * `DockerContainerizer` each keep one per container and differ only in how a signal is delivered
 * and how the end is noticed.
 */
import type { Clock, TimerHandle } from '../../common/clock';
import { ContainerizerError, DEFAULT_KILL_GRACE_PERIOD_MS, type ContainerExit, type ContainerExitReason } from './containerizer';

/** Delivers a signal to every process of the container; must not throw when they are gone. */
export type SignalFn = (signal: 'SIGTERM' | 'SIGKILL') => void;

export class ContainerLife {
  /** Set once the container has ended. */
  exit: ContainerExit | undefined;
  /** Resolves with {@link exit}. */
  readonly exited: Promise<ContainerExit>;
  /** Set by the first kill (or the max completion time): the reason reported when the container ends. */
  killReason: ContainerExitReason | undefined;
  private resolveExit!: (e: ContainerExit) => void;
  private graceTimer: TimerHandle | undefined;
  private maxTimer: TimerHandle | undefined;
  /** Extra cleanup run once at the end (e.g. a recovered process's poll timer). */
  private readonly onEnd: (() => void)[] = [];

  constructor(
    private readonly clock: Clock,
    private signal: SignalFn | undefined,
  ) {
    this.exited = new Promise<ContainerExit>((resolve) => {
      this.resolveExit = resolve;
    });
  }

  /** Sets how signals reach the container, once it has processes. */
  setSignal(signal: SignalFn): void {
    this.signal = signal;
  }

  /** Runs `fn` when the container ends (at once if it has). */
  whenEnded(fn: () => void): void {
    if (this.exit !== undefined) fn();
    else this.onEnd.push(fn);
  }

  /** Kills the container with MAX_COMPLETION_TIME_REACHED `maxMs` from now. */
  armMaxCompletion(maxMs: number, graceMs: number): void {
    this.maxTimer = this.clock.setTimeout(() => {
      this.maxTimer = undefined;
      this.startKill(graceMs, 'MAX_COMPLETION_TIME_REACHED');
    }, maxMs);
  }

  /**
   * SIGTERM now, SIGKILL after `graceMs` unless it ended. The first call's reason and grace period
   * stand; a later call only delivers the signal again (SIGKILL when it asks for no grace or the grace
   * period is over). A container without a way to signal it (not started) is left alone.
   */
  startKill(graceMs: number, reason: ContainerExitReason): void {
    if (this.exit !== undefined || this.signal === undefined) return;
    const signal = this.signal;
    if (this.killReason !== undefined) {
      // Asked again while being killed: deliver the signal again (an earlier one may have been lost),
      // SIGKILL once the grace period is over or when no grace is left.
      signal(this.graceTimer === undefined || graceMs <= 0 ? 'SIGKILL' : 'SIGTERM');
      return;
    }
    this.killReason = reason;
    this.clock.clearTimeout(this.maxTimer);
    this.maxTimer = undefined;
    signal('SIGTERM');
    this.graceTimer = this.clock.setTimeout(() => {
      this.graceTimer = undefined;
      if (this.exit === undefined) signal('SIGKILL');
    }, Math.max(0, graceMs));
  }

  /** Records the end (first call wins), clears the timers and resolves {@link exited}. */
  finish(exit: ContainerExit): boolean {
    if (this.exit !== undefined) return false;
    this.exit = exit;
    this.clock.clearTimeout(this.graceTimer);
    this.clock.clearTimeout(this.maxTimer);
    this.graceTimer = this.maxTimer = undefined;
    for (const fn of this.onEnd.splice(0)) fn();
    this.resolveExit(exit);
    return true;
  }

  /**
   * The exit of a process that ended with `code` or `signal`, reported with the kill reason when a kill
   * (or the max completion time) came first, or OOM when the kernel killed it for its memory limit.
   */
  processExit(code: number | undefined, signal: string | undefined, oom = false): ContainerExit {
    const how = code !== undefined ? `exit code ${code}` : signal !== undefined ? `signal ${signal}` : 'exit code unknown';
    const reason: ContainerExitReason = oom ? 'OOM' : this.killReason ?? 'EXITED';
    const message =
      reason === 'OOM' ? `killed by the kernel: the memory limit was exceeded (${how})`
      : reason === 'KILLED' ? `killed (${how})`
      : reason === 'MAX_COMPLETION_TIME_REACHED' ? `max completion time reached; killed (${how})`
      : reason === 'LAUNCH_FAILED' ? `launch failed (${how})`
      : code === undefined && signal === undefined ? 'the task ended while the agent was not watching; exit code unknown'
      : `exited with ${how}`;
    return {
      ...(code !== undefined ? { exitCode: code } : {}),
      ...(signal !== undefined ? { signal } : {}),
      reason,
      message,
    };
  }
}

/**
 * The bookkeeping every containerizer shares: its containers by id, each with a {@link ContainerLife},
 * and the `kill` and `wait` of the Containerizer interface built on them.
 */
export abstract class ContainerTable<C extends { readonly life: ContainerLife }> {
  protected readonly containers = new Map<string, C>();

  async kill(containerId: string, gracePeriodMs = DEFAULT_KILL_GRACE_PERIOD_MS): Promise<void> {
    const c = this.get(containerId);
    c.life.startKill(gracePeriodMs, 'KILLED');
    await c.life.exited;
  }

  wait(containerId: string): Promise<ContainerExit> {
    try {
      return this.get(containerId).life.exited;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  protected get(containerId: string): C {
    const c = this.containers.get(containerId);
    if (c === undefined) throw new ContainerizerError('UNKNOWN_CONTAINER', `unknown container ${containerId}`);
    return c;
  }
}

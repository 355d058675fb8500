/**
 * Garbage collection of finished tasks' sandboxes (and so their logs), as Mesos's agent does with
 * `--gc_delay`, `--gc_disk_headroom` and `--disk_watch_interval`. A sandbox is scheduled when its
 * task is over for everyone (the terminal update acknowledged) and removed once it is older than
 *
 *     maxAge = gcDelayMs × max(0, 1 − gcDiskHeadroom − diskUsage)
 *
 * where diskUsage is the used fraction of the filesystem holding the work directory, measured every
 * `diskWatchIntervalMs`: with a disk that fills up, sandboxes go sooner, and all of them once usage
 * passes 1 − headroom. Sandboxes are checked on that same interval, so one outlives its age by at most
 * one interval. The finish time is written as the sandbox directory's mtime, so an agent restarted on
 * the same work directory schedules the sandboxes it finds (and does not run) by their age.
 * Every timer runs on the injected Clock.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Clock, TimerHandle } from '../common/clock';
import type { Logger } from '../common/logging';

/** Defaults of {@link SandboxGcOptions} (Mesos's: one week, 10 %, one minute). */
export const DEFAULT_GC_DELAY_MS = 7 * 86_400_000;
export const DEFAULT_GC_DISK_HEADROOM = 0.1;
export const DEFAULT_DISK_WATCH_INTERVAL_MS = 60_000;

export interface SandboxGcOptions {
  /** `<workDir>/sandboxes`: `<framework>/<task>/<container>` directories below it. */
  readonly sandboxRoot: string;
  readonly clock: Clock;
  /** Longest a finished task's sandbox is kept. @default DEFAULT_GC_DELAY_MS (7 days) */
  readonly gcDelayMs?: number;
  /** Fraction of the disk kept free; see the formula above. @default DEFAULT_GC_DISK_HEADROOM (0.1) */
  readonly gcDiskHeadroom?: number;
  /** How often disk use is measured and old sandboxes removed. @default DEFAULT_DISK_WATCH_INTERVAL_MS */
  readonly diskWatchIntervalMs?: number;
  /** Used fraction (0…1) of the filesystem holding the sandboxes. @default measured with statfs */
  readonly diskUsage?: () => number;
  /** Sandboxes of tasks the agent still tracks: never removed, whatever their age. */
  readonly inUse: () => ReadonlySet<string>;
  readonly logger: Logger;
}

/** The used fraction of the filesystem holding `dir` (0 when it cannot be measured). */
export function filesystemUsage(dir: string): number {
  try {
    const st = fs.statfsSync(dir);
    return st.blocks > 0 ? 1 - st.bavail / st.blocks : 0;
  } catch {
    return 0;
  }
}

export class SandboxGc {
  /** Sandbox directory → when its task was over (epoch ms, Clock time). */
  private readonly scheduled = new Map<string, number>();
  private timer: TimerHandle | undefined;
  private readonly gcDelayMs: number;
  private readonly headroom: number;

  constructor(private readonly options: SandboxGcOptions) {
    this.gcDelayMs = options.gcDelayMs ?? DEFAULT_GC_DELAY_MS;
    this.headroom = options.gcDiskHeadroom ?? DEFAULT_GC_DISK_HEADROOM;
  }

  /**
   * Schedules the sandboxes found on disk that no tracked task uses (left by an earlier agent
   * process), by their directory's mtime, and starts the periodic check. Called once at agent start,
   * after recovery. Idempotent.
   */
  start(): void {
    if (this.timer !== undefined) return;
    const inUse = this.options.inUse();
    for (const dir of this.sandboxDirs()) {
      if (inUse.has(dir) || this.scheduled.has(dir)) continue;
      try {
        this.scheduled.set(dir, fs.statSync(dir).mtimeMs);
      } catch {
        // Gone meanwhile.
      }
    }
    this.timer = this.options.clock.setInterval(() => this.collect(), this.options.diskWatchIntervalMs ?? DEFAULT_DISK_WATCH_INTERVAL_MS);
  }

  /** Schedules a sandbox whose task just ended for everyone (its terminal update acknowledged). */
  schedule(dir: string): void {
    const now = this.options.clock.now();
    this.scheduled.set(dir, now);
    try {
      fs.utimesSync(dir, now / 1000, now / 1000);
    } catch {
      // No sandbox (the task never started): nothing to keep the time on.
    }
  }

  /** Sandboxes waiting for removal (for metrics and tests). */
  get pending(): number {
    return this.scheduled.size;
  }

  /** The age past which a scheduled sandbox is removed, at this disk usage. */
  maxAgeMs(usage: number): number {
    return this.gcDelayMs * Math.max(0, 1 - this.headroom - usage);
  }

  /** Removes the scheduled sandboxes older than {@link maxAgeMs}; returns the directories removed. */
  collect(): string[] {
    const usage = (this.options.diskUsage ?? (() => filesystemUsage(this.options.sandboxRoot)))();
    const maxAge = this.maxAgeMs(usage);
    const now = this.options.clock.now();
    const inUse = this.options.inUse();
    const removed: string[] = [];
    for (const [dir, finishedAt] of this.scheduled) {
      if (now - finishedAt < maxAge) continue;
      this.scheduled.delete(dir);
      if (inUse.has(dir)) continue;
      try {
        fs.rmSync(dir, { recursive: true, force: true });
        removed.push(dir);
        this.removeIfEmpty(path.dirname(dir)); // the task's directory
        this.removeIfEmpty(path.dirname(path.dirname(dir))); // the framework's
      } catch (err) {
        this.options.logger.warn('removing a sandbox failed', { dir, err: (err as Error).message });
      }
    }
    if (removed.length > 0) this.options.logger.info('sandboxes garbage-collected', { removed: removed.length, diskUsage: Number(usage.toFixed(3)), maxAgeMs: Math.round(maxAge) });
    return removed;
  }

  /** Stops the periodic check (the agent stops). Idempotent. */
  stop(): void {
    this.options.clock.clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Every `<framework>/<task>/<container>` directory under the sandbox root. */
  private sandboxDirs(): string[] {
    const out: string[] = [];
    for (const fw of subdirs(this.options.sandboxRoot)) for (const task of subdirs(fw)) out.push(...subdirs(task));
    return out;
  }

  private removeIfEmpty(dir: string): void {
    if (!dir.startsWith(this.options.sandboxRoot + path.sep)) return;
    try {
      if (fs.readdirSync(dir).length === 0) fs.rmdirSync(dir);
    } catch {
      // Not empty after all, or gone: leave it.
    }
  }
}

function subdirs(dir: string): string[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(dir, e.name));
  } catch {
    return [];
  }
}

/**
 * Hands a daemon's fragmented heap back after a burst of work.
 *
 * A burst (100,000 launches, a failover's re-registrations) promotes its transient objects — queued
 * messages, decoded frames — to V8's old generation between the records that stay, and when they die
 * the pages they shared are left part-empty: a master holding 280 MB of live heap kept 570 MB
 * committed (and 900 MB RSS) for as long as it stayed quiet. V8 compacts such pages only during a
 * full GC, a bounded number of pages each time, and an idle process runs none: nothing allocates
 * enough to need one, and V8's memory reducer, which exists for this, waits for an allocation rate
 * a daemon with thousands of connections never falls below (it ran once, 100 s after the burst,
 * and gave back 40 MB). Measured on that master, one full GC every few seconds gave back 60 MB, then
 * less each time: 570 → 363 MB committed (RSS 912 → 706 MB) in twenty.
 *
 * So while the event loop is idle and the heap holds much more than it uses, the trimmer runs one
 * full GC per tick (every 2 s); it stops as soon as one gives back less than `minGainBytes`, and starts again
 * only once the heap has grown by `minSlackBytes` since. Each GC pauses the process (0.3–0.45 s at
 * 280 MB live on two busy cores), which is why it runs only when the loop was nearly idle for a
 * whole tick and at most once a tick; a leader's lease is renewed off the main thread, so a pause
 * costs latency, never leadership.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import type { Clock, TimerHandle } from './clock';
import type { Logger } from './logging';

/** What the trimmer reads and does; the process's own by default ({@link processHeap}). */
export interface HeapProbe {
  /** Bytes of the JS heap committed (total) and holding objects (used). */
  heap(): { committed: number; used: number };
  /** Share (0–1) of the time since the previous call that the event loop was busy. */
  busy(): number;
  /** A full garbage collection (V8 compacts what it sees fit). */
  gc(): void;
}

export interface HeapTrimOptions {
  readonly clock: Clock;
  readonly logger: Logger;
  /** @default the process's heap ({@link processHeap}) */
  readonly probe?: HeapProbe;
  /** How often the heap is looked at (and, in a series, the time between its GCs). @default 2000 */
  readonly intervalMs?: number;
  /** A tick trims only when the loop was busy less than this share of the time since the last. @default 0.1 */
  readonly idleBelow?: number;
  /** Committed minus used below this (or below a quarter of used) is left alone. @default 64 MiB */
  readonly minSlackBytes?: number;
  /** A GC that gives back less than this ends the series. @default 4 MiB */
  readonly minGainBytes?: number;
  /** Most GCs in one series. @default 30 */
  readonly maxGcs?: number;
}

const MIB = 1024 * 1024;

/** The current series of trims: what it started from and what it cost. */
interface Series {
  readonly committedBefore: number;
  gcs: number;
  pausedMs: number;
  longestMs: number;
}

export class HeapTrimmer {
  private readonly probe: HeapProbe;
  private readonly idleBelow: number;
  private readonly minSlack: number;
  private readonly minGain: number;
  private readonly maxGcs: number;
  private timer: TimerHandle | undefined;
  private series: Series | undefined;
  /** Committed bytes when the last series ended; a new one starts only past this plus `minSlack`. */
  private endedAt: number | undefined;

  constructor(private readonly options: HeapTrimOptions) {
    this.probe = options.probe ?? processHeap();
    this.idleBelow = options.idleBelow ?? 0.1;
    this.minSlack = options.minSlackBytes ?? 64 * MIB;
    this.minGain = options.minGainBytes ?? 4 * MIB;
    this.maxGcs = options.maxGcs ?? 30;
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.probe.busy(); // the first tick measures from here
    this.timer = this.options.clock.setInterval(() => this.tick(), this.options.intervalMs ?? 2000);
  }

  stop(): void {
    this.options.clock.clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One look at the heap (the interval's callback; public for tests). */
  tick(): void {
    const busy = this.probe.busy();
    const { committed, used } = this.probe.heap();
    if (this.endedAt !== undefined) {
      if (committed < this.endedAt + this.minSlack) return;
      this.endedAt = undefined;
    }
    if (busy >= this.idleBelow) return;
    if (committed - used < Math.max(this.minSlack, used / 4)) {
      this.end(committed);
      return;
    }
    const series = (this.series ??= { committedBefore: committed, gcs: 0, pausedMs: 0, longestMs: 0 });
    const began = performance.now();
    this.probe.gc();
    const pausedMs = performance.now() - began;
    this.probe.busy(); // the next tick judges the others' work, not this pause
    series.gcs++;
    series.pausedMs += pausedMs;
    series.longestMs = Math.max(series.longestMs, pausedMs);
    const after = this.probe.heap().committed;
    if (committed - after < this.minGain || series.gcs >= this.maxGcs) this.end(after);
  }

  private end(committed: number): void {
    const series = this.series;
    this.series = undefined;
    this.endedAt = committed;
    if (series === undefined) return;
    this.options.logger.info('heap trimmed after a burst', {
      committedMiBBefore: Math.round(series.committedBefore / MIB),
      committedMiBAfter: Math.round(committed / MIB),
      gcs: series.gcs,
      pausedMs: Math.round(series.pausedMs),
      longestPauseMs: Math.round(series.longestMs),
    });
  }
}

/** The process's heap, event loop and garbage collector. */
export function processHeap(): HeapProbe {
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  let gc: (() => void) | undefined;
  return {
    heap: () => {
      const stats = v8.getHeapStatistics();
      return { committed: stats.total_heap_size, used: stats.used_heap_size };
    },
    busy: () => {
      const now = performance.eventLoopUtilization();
      const since = performance.eventLoopUtilization(now, last);
      last = now;
      return since.utilization;
    },
    gc: () => (gc ??= exposedGc())(),
  };
}

/**
 * V8's `gc` function without `--expose-gc` on the command line: the flag set at run time exposes it
 * to contexts made afterwards, so a new context hands it over (the flag stays set: this process's
 * own `global.gc` is untouched unless node was started with it).
 */
function exposedGc(): () => void {
  const own = (globalThis as { gc?: () => void }).gc;
  if (typeof own === 'function') return own;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

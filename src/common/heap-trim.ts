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
 * So once the committed heap has grown by `minGrowthBytes` above the lowest it was since the last
 * series (or the start), the trimmer runs one full GC per tick (every 2 s) while the event loop is
 * idle, and stops as soon as one gives back less than `minGainBytes`. (What the heap holds before a
 * GC says nothing: after a takeover it is mostly garbage nobody has collected yet.)
 *
 * Each GC pauses the process (0.3–0.45 s at 280 MB live on two busy cores), so a GC runs only in a
 * tick whose loop was nearly idle, at most one a tick, and a series starts only once the loop has
 * also been less than half busy over the last `quietMs`: a lull in a takeover (agents waiting out
 * their backoff) is not the end of the burst, while the steady work of a large cluster (10,000
 * agents' pings every 15 s keep a leader busy a few seconds in each fifteen) must not keep the heap
 * from ever being handed back. A leader's lease is renewed off the main thread, so a pause costs
 * latency, never leadership.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import type { Clock, TimerHandle } from './clock';
import type { Logger } from './logging';

/** What the trimmer reads and does; the process's own by default ({@link processHeap}). */
export interface HeapProbe {
  /** Bytes committed to the JS heap. */
  committed(): number;
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
  /** A series starts only when the loop was busy less than half the time over this long. @default 10000 */
  readonly quietMs?: number;
  /** Growth of the committed heap since the last series (or the start) that starts one. @default 64 MiB */
  readonly minGrowthBytes?: number;
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
  private readonly intervalMs: number;
  private readonly minGrowth: number;
  private readonly minGain: number;
  private readonly maxGcs: number;
  /** How many ticks `quietMs` spans. */
  private readonly quietTicks: number;
  /** The busy shares of the last `quietTicks` ticks, newest last. */
  private readonly recent: number[] = [];
  private timer: TimerHandle | undefined;
  private series: Series | undefined;
  /** The lowest committed bytes since the last series ended (or the start); one starts past it plus `minGrowth`. */
  private baseline = 0;

  constructor(private readonly options: HeapTrimOptions) {
    this.probe = options.probe ?? processHeap();
    this.idleBelow = options.idleBelow ?? 0.1;
    this.minGrowth = options.minGrowthBytes ?? 64 * MIB;
    this.intervalMs = options.intervalMs ?? 2000;
    this.quietTicks = Math.max(1, Math.ceil((options.quietMs ?? 10_000) / this.intervalMs));
    this.minGain = options.minGainBytes ?? 4 * MIB;
    this.maxGcs = options.maxGcs ?? 30;
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.probe.busy(); // the first tick measures from here
    this.baseline = this.probe.committed();
    this.recent.length = 0;
    this.timer = this.options.clock.setInterval(() => this.tick(), this.intervalMs);
  }

  stop(): void {
    this.options.clock.clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One look at the heap (the interval's callback; public for tests). */
  tick(): void {
    const busy = this.probe.busy();
    const committed = this.probe.committed();
    this.recent.push(busy);
    if (this.recent.length > this.quietTicks) this.recent.shift();
    const idle = busy < this.idleBelow;
    if (this.series === undefined) {
      // Growth counts from the lowest the heap has been since: V8's own GCs shrink it too.
      this.baseline = Math.min(this.baseline, committed);
      if (committed < this.baseline + this.minGrowth || !idle || !this.quiet()) return;
    } else if (!idle) return;
    const series = (this.series ??= { committedBefore: committed, gcs: 0, pausedMs: 0, longestMs: 0 });
    const began = performance.now();
    this.probe.gc();
    const pausedMs = performance.now() - began;
    this.probe.busy(); // the next tick judges the others' work, not this pause
    series.gcs++;
    series.pausedMs += pausedMs;
    series.longestMs = Math.max(series.longestMs, pausedMs);
    const after = this.probe.committed();
    if (committed - after < this.minGain || series.gcs >= this.maxGcs) this.end(after);
  }

  /** Whether the loop was busy less than half the time over the last `quietMs`. */
  private quiet(): boolean {
    if (this.recent.length < this.quietTicks) return false;
    return this.recent.reduce((sum, b) => sum + b, 0) / this.recent.length < 0.5;
  }

  private end(committed: number): void {
    const series = this.series!;
    this.series = undefined;
    this.baseline = committed;
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
    committed: () => v8.getHeapStatistics().total_heap_size,
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

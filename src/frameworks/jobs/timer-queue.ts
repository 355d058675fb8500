/**
 * Many keyed deadlines on one clock timer: a binary min-heap ordered by (time, insertion order),
 * with lazy deletion. Setting, replacing or cancelling a deadline is O(log n); the clock holds one
 * timer, for the earliest deadline, so firing never scans all jobs (10,000 cron jobs are 10,000
 * heap entries, not 10,000 clock timers or a per-tick scan).
 *
 * `onDue(key, at)` is called synchronously from the clock's timer for each due key, in time order;
 * `at` is the deadline it was set for (not the possibly later current time).
 */
import type { Clock, TimerHandle } from '../../common/clock';

interface Entry {
  readonly key: string;
  readonly at: number;
  readonly seq: number;
}

export class TimerQueue {
  private readonly heap: Entry[] = [];
  private readonly live = new Map<string, Entry>();
  private seq = 0;
  private handle: TimerHandle | undefined;
  private armedAt: number | undefined;
  private closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly onDue: (key: string, at: number) => void,
  ) {}

  /** Sets (or moves) the deadline of `key` to `at` (epoch ms; in the past means as soon as possible). */
  set(key: string, at: number): void {
    if (this.closed) return;
    const e: Entry = { key, at, seq: this.seq++ };
    this.live.set(key, e);
    this.push(e);
    this.compactIfSparse();
    if (this.armedAt === undefined || at < this.armedAt) this.arm();
  }

  /** Cancels the deadline of `key`; absent is fine. */
  delete(key: string): void {
    if (this.live.delete(key)) this.compactIfSparse();
  }

  /** The deadline of `key`, if set. */
  get(key: string): number | undefined {
    return this.live.get(key)?.at;
  }

  /** Number of live deadlines. */
  get size(): number {
    return this.live.size;
  }

  /** Cancels everything and releases the clock timer. */
  close(): void {
    this.closed = true;
    this.clock.clearTimeout(this.handle);
    this.handle = undefined;
    this.armedAt = undefined;
    this.live.clear();
    this.heap.length = 0;
  }

  private fire(): void {
    this.handle = undefined;
    this.armedAt = undefined;
    const now = this.clock.now();
    for (;;) {
      const top = this.peekLive();
      if (top === undefined || top.at > now) break;
      this.pop();
      this.live.delete(top.key);
      this.onDue(top.key, top.at);
      if (this.closed) return;
    }
    this.arm();
  }

  private arm(): void {
    const top = this.peekLive();
    if (top === undefined) {
      this.clock.clearTimeout(this.handle);
      this.handle = undefined;
      this.armedAt = undefined;
      return;
    }
    if (this.handle !== undefined && this.armedAt === top.at) return;
    this.clock.clearTimeout(this.handle);
    this.armedAt = top.at;
    this.handle = this.clock.setTimeout(() => this.fire(), Math.max(0, top.at - this.clock.now()));
  }

  /** The earliest live entry, dropping stale ones (cancelled or replaced) from the top. */
  private peekLive(): Entry | undefined {
    while (this.heap.length > 0) {
      const top = this.heap[0]!;
      if (this.live.get(top.key) === top) return top;
      this.pop();
    }
    return undefined;
  }

  private compactIfSparse(): void {
    if (this.heap.length <= 64 || this.heap.length <= 2 * this.live.size) return;
    this.heap.length = 0;
    for (const e of this.live.values()) this.push(e);
  }

  private static less(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(e: Entry): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!TimerQueue.less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && TimerQueue.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && TimerQueue.less(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

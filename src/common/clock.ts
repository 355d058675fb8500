/**
 * Time, injected. Every component that reads the time or sets a timer takes a `Clock`, so tests
 * drive time with `FakeClock.advance(ms)` instead of sleeping.
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Runs `fn` once after `ms`; returns a handle for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  /** Runs `fn` every `ms` until cleared. */
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle | undefined): void;
}

/** Opaque timer handle. */
export type TimerHandle = { readonly __timer: unique symbol } | object;

/** Node fires a timer of more than this many ms after 1 ms; longer delays are chained. */
export const MAX_NODE_TIMER_MS = 2 ** 31 - 1;

/** A timer longer than {@link MAX_NODE_TIMER_MS}: the current link of the chain. */
interface LongTimer {
  current: NodeJS.Timeout | undefined;
}

/**
 * The real clock. Timers are `unref`'d so a forgotten one never keeps a process alive; delays beyond
 * Node's limit (~24.8 days, e.g. a 30-day max_completion_time) are chained instead of firing at once.
 */
export class SystemClock implements Clock {
  now(): number {
    return Date.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    if (!(ms > MAX_NODE_TIMER_MS)) {
      const t = setTimeout(fn, ms);
      t.unref();
      return t;
    }
    const long: LongTimer = { current: undefined };
    const arm = (left: number): void => {
      long.current = setTimeout(() => (left > MAX_NODE_TIMER_MS ? arm(left - MAX_NODE_TIMER_MS) : fn()), Math.min(left, MAX_NODE_TIMER_MS));
      long.current.unref();
    };
    arm(ms);
    return long;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle === undefined) return;
    if ('current' in handle) clearTimeout((handle as LongTimer).current);
    else clearTimeout(handle as NodeJS.Timeout);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const t = setInterval(fn, ms);
    t.unref();
    return t;
  }

  clearInterval(handle: TimerHandle | undefined): void {
    if (handle !== undefined) clearInterval(handle as NodeJS.Timeout);
  }
}

interface FakeTimer {
  readonly id: number;
  at: number;
  readonly every: number | undefined;
  readonly fn: () => void;
}

/**
 * A clock that only moves when told. `advance(ms)` runs due timers in time order (a timer set by
 * a timer that falls inside the advanced span runs too). For tests and benchmarks only.
 */
export class FakeClock implements Clock {
  private time: number;
  private nextId = 1;
  private readonly timers = new Map<number, FakeTimer>();

  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, undefined);
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle !== undefined) this.timers.delete((handle as { id: number }).id);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, Math.max(1, ms));
  }

  clearInterval(handle: TimerHandle | undefined): void {
    this.clearTimeout(handle);
  }

  /** Number of pending timers (tests check that components clean up after themselves). */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, running every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const t of this.timers.values()) if (t.at <= end && (next === undefined || t.at < next.at || (t.at === next.at && t.id < next.id))) next = t;
      if (next === undefined) break;
      this.time = next.at;
      if (next.every === undefined) this.timers.delete(next.id);
      else next.at += next.every;
      next.fn();
    }
    this.time = end;
  }

  private add(fn: () => void, ms: number, every: number | undefined): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { id, at: this.time + Math.max(0, ms), every, fn });
    return { id };
  }
}

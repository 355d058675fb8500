import { MAX_NODE_TIMER_MS, SystemClock } from '../../../src/common/clock';

describe('SystemClock', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  const DAY = 24 * 3600 * 1000;

  it('fires a timer longer than Node\'s limit (30 days) only when it is due, not after 1 ms', () => {
    expect(30 * DAY).toBeGreaterThan(MAX_NODE_TIMER_MS);
    const clock = new SystemClock();
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(1), 30 * DAY);
    jest.advanceTimersByTime(1000);
    expect(fired).toEqual([]);
    jest.advanceTimersByTime(30 * DAY - 1001);
    expect(fired).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(fired).toEqual([1]);
  });

  it('clears a long timer in any link of its chain, and ordinary timers as before', () => {
    const clock = new SystemClock();
    const fired: string[] = [];
    const long = clock.setTimeout(() => fired.push('long'), 60 * DAY);
    const short = clock.setTimeout(() => fired.push('short'), 10);
    clock.clearTimeout(short);
    jest.advanceTimersByTime(MAX_NODE_TIMER_MS + 5); // into the second link
    clock.clearTimeout(long);
    jest.advanceTimersByTime(60 * DAY);
    expect(fired).toEqual([]);
  });
});

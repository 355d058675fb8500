/**
 * The heap of keyed deadlines behind every jobs timer: due keys fire in time order at their own
 * time, replacing and deleting work, and the clock never holds more than one timer.
 */
import { FakeClock } from '../../../../src/common/clock';
import { TimerQueue } from '../../../../src/frameworks/jobs/timer-queue';

describe('TimerQueue', () => {
  it('fires due keys in time order, at their time, with one clock timer', () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    const q = new TimerQueue(clock, (key, at) => fired.push(`${key}@${at}:${clock.now()}`));
    q.set('c', 300);
    q.set('a', 100);
    q.set('b', 200);
    q.set('a2', 100);
    expect(clock.pending).toBe(1);
    clock.advance(250);
    expect(fired).toEqual(['a@100:100', 'a2@100:100', 'b@200:200']);
    clock.advance(100);
    expect(fired.slice(3)).toEqual(['c@300:300']);
    expect(clock.pending).toBe(0);
  });

  it('replaces and deletes deadlines', () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    const q = new TimerQueue(clock, (key) => fired.push(key));
    q.set('a', 100);
    q.set('b', 150);
    q.set('a', 500);
    q.delete('b');
    expect(q.get('a')).toBe(500);
    expect(q.size).toBe(1);
    clock.advance(400);
    expect(fired).toEqual([]);
    clock.advance(100);
    expect(fired).toEqual(['a']);
  });

  it('a deadline set from inside onDue in the past fires in the same advance', () => {
    const clock = new FakeClock(0);
    const fired: number[] = [];
    const q = new TimerQueue(clock, (_key, at) => {
      fired.push(at);
      if (at < 1000) q.set('tick', at + 100);
    });
    q.set('tick', 100);
    clock.advance(1000);
    expect(fired).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
  });

  it('stays consistent under many random operations (compared with a sorted list)', () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    const q = new TimerQueue(clock, (key) => fired.push(key));
    const model = new Map<string, number>();
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 5000; i++) {
      const key = `k${rand(300)}`;
      if (rand(4) === 0) {
        q.delete(key);
        model.delete(key);
      } else {
        const at = clock.now() + 1 + rand(10_000);
        q.set(key, at);
        model.set(key, at);
      }
      if (rand(50) === 0) {
        const until = clock.now() + rand(2000);
        const due = [...model].filter(([, at]) => at <= until).sort((x, y) => x[1] - y[1]);
        fired.length = 0;
        clock.advance(until - clock.now());
        expect(new Set(fired)).toEqual(new Set(due.map(([k]) => k)));
        for (const [k] of due) model.delete(k);
      }
    }
    expect(q.size).toBe(model.size);
    q.close();
    expect(clock.pending).toBe(0);
  });
});

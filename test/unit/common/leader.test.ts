/** RedialDelays: quick re-dials while a lost leader is replaced, a doubling backoff otherwise. */
import { MasterTargets, RedialDelays } from '../../../src/common/leader';

describe('RedialDelays', () => {
  const half = () => 0.5; // jitter at its middle: 75 % of the failover delay

  test('never connected: doubles from the minimum to the cap', () => {
    const d = new RedialDelays({ minMs: 100, maxMs: 500 }, half);
    expect([0, 1, 2, 3, 4].map(() => d.next(0))).toEqual([100, 200, 400, 500, 500]);
  });

  test('after losing an established connection: the failover delay for the window, then the backoff from its start', () => {
    const d = new RedialDelays({ minMs: 100, maxMs: 500, failoverMs: 200, failoverWindowMs: 10_000 }, half);
    d.next(0);
    d.next(0);
    d.connected();
    d.lost(1000);
    expect([d.next(1000), d.next(5000), d.next(10_999)]).toEqual([150, 150, 150]);
    expect([d.next(11_000), d.next(11_000)]).toEqual([100, 200]);
  });

  test('jitter keeps the failover delay between half and all of it', () => {
    const low = new RedialDelays({ failoverMs: 200 }, () => 0);
    const high = new RedialDelays({ failoverMs: 200 }, () => 1);
    low.lost(0);
    high.lost(0);
    expect([low.next(1), high.next(1)]).toEqual([100, 200]);
  });

  test('a master taking over is dialled again after the failover delay even outside the window', () => {
    const d = new RedialDelays({ minMs: 1000, failoverMs: 200 }, half);
    expect(d.next(0, true)).toBe(150);
    expect(d.next(0)).toBe(1000);
  });
});

describe('MasterTargets.followRefusal', () => {
  const refusal = (details: string, code = 14) => ({ code, details });

  test("a standby's pointer to another master becomes the target; one to the master dialled means it is taking over", () => {
    const targets = new MasterTargets(['10.0.0.1:5050', '10.0.0.2:5050']);
    expect(targets.followRefusal(refusal('this master is a standby; the leader is m2 at 127.0.0.2:5050'))).toBe('followed');
    expect(targets.current).toBe('127.0.0.2:5050');
    expect(targets.followRefusal(refusal('not serving yet; the leader is m2 at 127.0.0.2:5050'))).toBe('takingOver');
  });

  test('anything else is no pointer and changes nothing', () => {
    const targets = new MasterTargets(['10.0.0.1:5050']);
    expect(targets.followRefusal(undefined)).toBeUndefined();
    expect(targets.followRefusal(refusal('connection refused'))).toBeUndefined();
    expect(targets.followRefusal(refusal('the leader is m2 at 127.0.0.2:5050', 7))).toBeUndefined(); // not UNAVAILABLE
    expect(targets.current).toBe('10.0.0.1:5050');
  });
});

/** A lone master leads from start to stop, with term 1, and says so to its listeners. */
import { SoloLeadership } from '../../../src/master/registry/solo-election';
import type { LeadershipChange } from '../../../src/master/registry/registry';

describe('SoloLeadership', () => {
  test('is elected at start with term 1 and deposed only by stop', async () => {
    const self = { id: 'm1', grpcAddress: '127.0.0.1:5050', httpAddress: '127.0.0.1:5051' };
    const solo = new SoloLeadership({ self });
    const changes: LeadershipChange[] = [];
    solo.onChange((c) => changes.push(c));
    expect(solo.isLeader).toBe(false);
    expect(solo.leader()).toBeUndefined();

    await solo.start();
    await solo.start();
    expect(solo.isLeader).toBe(true);
    expect(solo.leader()).toEqual(self);

    await solo.stop();
    await solo.stop();
    expect(solo.isLeader).toBe(false);
    expect(changes).toEqual([
      { kind: 'leader', leader: self },
      { kind: 'elected', term: 1 },
      { kind: 'deposed', reason: 'stopped' },
      { kind: 'leader', leader: undefined },
    ]);
  });

  test('without self it still leads, and leader() stays unknown', async () => {
    const solo = new SoloLeadership();
    const changes: LeadershipChange[] = [];
    const unsubscribe = solo.onChange((c) => changes.push(c));
    await solo.start();
    unsubscribe();
    await solo.stop();
    expect(changes).toEqual([{ kind: 'elected', term: 1 }]);
    expect(solo.leader()).toBeUndefined();
  });
});

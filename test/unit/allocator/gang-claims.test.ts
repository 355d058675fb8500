import { AllocatorError, HierarchicalAllocator, type GangSpec } from '../../../src/allocator';
import { Resources } from '../../../src/common/resources';

/**
 * Gang priorities and claims in the allocator (the half of preemption that lives there): pending
 * gangs are placed in priority order, `pendingGangs` reports what waits, and a claim keeps an
 * agent's freed resources for one gang — nobody else is offered them until it is placed or the
 * claim ends.
 */
const R = (s: string) => Resources.parse(s);
const gang = (id: string, count: number, priority = 0): GangSpec => ({ id, shapes: [{ quantities: new Map([['cpus', 2000], ['mem', 128_000]]), count }], spread: { kind: 'ONE_PER_AGENT' }, priority });

describe('allocator: gang priority and claims', () => {
  test('of two gangs that cannot both fit, the higher priority one is placed, whatever the DRF order', () => {
    const a = new HierarchicalAllocator();
    a.addAgent('a1', { hostname: 'h1' }, R('cpus:2;mem:1024'));
    a.addAgent('a2', { hostname: 'h2' }, R('cpus:2;mem:1024'));
    a.addFramework('low', { roles: ['r'], demand: { r: [] }, gangs: { r: [gang('lg', 2, 1)] } });
    a.addFramework('high', { roles: ['r'], demand: { r: [] }, gangs: { r: [gang('hg', 2, 100)] } });
    const out = a.allocate(1);
    expect(new Set(out.map((o) => o.frameworkId))).toEqual(new Set(['high']));
    expect(a.pendingGangs(1).map((p) => [p.frameworkId, p.gangId, p.gang.priority])).toEqual([['low', 'lg', 1]]);
  });

  test('a claimed agent is offered to nobody but the claiming gang, which gets it once freed; the claim then ends', () => {
    const a = new HierarchicalAllocator();
    a.addAgent('a1', { hostname: 'h1' }, R('cpus:2;mem:1024'));
    a.addAgent('a2', { hostname: 'h2' }, R('cpus:2;mem:1024'));
    a.addFramework('victim', { roles: ['v'] });
    const first = a.allocate(1);
    expect(first.map((o) => o.agentId).sort()).toEqual(['a1', 'a2']);
    a.addFramework('other', { roles: ['o'] });
    a.addFramework('gang', { roles: ['g'], demand: { g: [] }, gangs: { g: [gang('G', 2, 10)] } });
    expect(a.allocate(2)).toEqual([]);
    expect(a.pendingGangs(2)).toHaveLength(1);
    a.claimForGang('gang', 'G', ['a1', 'a2'], 10_000);
    expect(a.pendingGangs(2)[0]!.claimedUntil).toBe(10_000);
    // The victim lets go of a1: neither it nor "other" is offered a1, and the gang cannot fit yet.
    a.recoverResources('victim', 'a1', 'v', first.find((o) => o.agentId === 'a1')!.resources, undefined, 3);
    expect(a.allocate(3, ['a1'])).toEqual([]);
    expect(a.available('a1')!.toString()).toBe('cpus:2;mem:1024');
    // a2 is freed as well: the gang is placed at once (even in a prompt cycle) and the claim ends.
    a.recoverResources('victim', 'a2', 'v', first.find((o) => o.agentId === 'a2')!.resources, undefined, 4);
    const placed = a.allocate(4, ['a2']);
    expect(placed.filter((o) => o.gang !== undefined).map((o) => [o.frameworkId, o.agentId, o.gang?.id]).sort()).toEqual([['gang', 'a1', 'G'], ['gang', 'a2', 'G']]);
    // The claim ended with the placement: what the gang leaves of a2 (memory) goes round as usual.
    expect(placed.filter((o) => o.gang === undefined).map((o) => o.resources.scalar('cpus'))).toEqual([0]);
    expect(a.pendingGangs(4)).toEqual([]);
    a.releaseGang('gang', 'G', 5, 60_000);
    // Without a claim the freed agents go to the others again.
    const after = a.allocate(6);
    expect(new Set(after.map((o) => o.frameworkId))).toEqual(new Set(['victim', 'other']));
  });

  test('a claim ends at its time: the agent is offered to others again', () => {
    const a = new HierarchicalAllocator();
    a.addAgent('a1', { hostname: 'h1' }, R('cpus:1;mem:1024'));
    a.addFramework('gang', { roles: ['g'], demand: { g: [] }, gangs: { g: [gang('G', 1, 10)] } });
    a.claimForGang('gang', 'G', ['a1'], 100);
    a.addFramework('other', { roles: ['o'] });
    expect(a.allocate(50)).toEqual([]);
    expect(a.allocate(100).map((o) => o.frameworkId)).toEqual(['other']);
    expect(() => a.claimForGang('gang', 'nope', ['a1'], 200)).toThrow(AllocatorError);
  });

  test('a demand claim offers the agent only to its framework in its role, and ends once it is given the agent', () => {
    const a = new HierarchicalAllocator();
    a.addAgent('a1', { hostname: 'h1' }, R('cpus:2;mem:1024'));
    a.addFramework('other', { roles: ['o'] });
    a.addFramework('web', { roles: ['w', 'x'], demand: { w: [{ quantities: new Map([['cpus', 2000]]), count: 1 }] } });
    a.claimForDemand('web', 'w', ['a1'], 10_000);
    expect(a.claims(1)).toEqual([{ frameworkId: 'web', role: 'w', agentIds: ['a1'], expiresAt: 10_000 }]);
    const out = a.allocate(1);
    expect(out.map((o) => [o.frameworkId, o.role])).toEqual([['web', 'w']]);
    expect(a.claims(1)).toEqual([]);
    a.recoverResources('web', 'a1', 'w', out[0]!.resources, undefined, 2);
    expect(new Set(a.allocate(3).map((o) => o.frameworkId)).has('other')).toBe(true);
    expect(() => a.claimForDemand('web', 'nope', ['a1'], 10_000)).toThrow(AllocatorError);
  });
});

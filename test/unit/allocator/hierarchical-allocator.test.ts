import { HierarchicalAllocator, type Allocation, type FrameworkDescription } from '../../../src/allocator';
import { MAX_REFUSE_SECONDS } from '../../../src/allocator/state';
import { Resources } from '../../../src/common/resources';
import { seededRandom } from '../../../src/common/random';

const R = (text: string) => Resources.parse(text);
const Q = (o: Record<string, number>) => new Map(Object.entries(o).map(([k, v]) => [k, Math.round(v * 1000)]));

function newAllocator(opts: ConstructorParameters<typeof HierarchicalAllocator>[0] = {}) {
  return new HierarchicalAllocator({ random: seededRandom(3), ...opts });
}

/** Declines every allocation with `refuseSeconds` (default: no filter). */
function declineAll(a: HierarchicalAllocator, allocations: Allocation[], now: number, refuseSeconds = 0) {
  for (const x of allocations) a.recoverResources(x.frameworkId, x.agentId, x.role, x.resources, { refuseSeconds }, now);
}

const who = (allocations: Allocation[]) => allocations.map((x) => `${x.frameworkId}@${x.agentId}/${x.role}`).sort();

describe('HierarchicalAllocator', () => {
  test('the DRF paper example: A runs 3 tasks, B runs 2, both at dominant share 2/3', () => {
    // One agent ⟨9 CPUs, 18 GB⟩; A's tasks are ⟨1 CPU, 4 GB⟩, B's ⟨3 CPUs, 1 GB⟩.
    const a = newAllocator({ minAllocatableResources: [] });
    a.addAgent('agent', { hostname: 'h' }, R('cpus:9;mem:18'));
    a.addFramework('A', { roles: ['A'] });
    a.addFramework('B', { roles: ['B'] });
    const task = { A: R('cpus:1;mem:4'), B: R('cpus:3;mem:1') } as const;
    const tasks = { A: 0, B: 0 };
    let now = 0;
    for (let cycle = 0; cycle < 20; cycle++) {
      now += 1000;
      const offers = a.allocate(now);
      let launched = 0;
      for (const offer of offers) {
        const fw = offer.frameworkId as 'A' | 'B';
        // Take one task per offer when it fits, decline the rest with refuse_seconds 0.
        let rest = offer.resources;
        if (rest.contains(task[fw])) {
          rest = rest.minus(task[fw]);
          tasks[fw]++;
          launched++;
        }
        a.recoverResources(fw, offer.agentId, offer.role, rest, { refuseSeconds: 0 }, now);
      }
      if (launched === 0) break;
    }
    expect(tasks).toEqual({ A: 3, B: 2 });
    const shares = Object.fromEntries(a.roles().map((r) => [r.role, r.share]));
    expect(shares.A).toBeCloseTo(2 / 3); // ⟨3 CPUs, 12 GB⟩: 12/18
    expect(shares.B).toBeCloseTo(2 / 3); // ⟨6 CPUs, 2 GB⟩: 6/9
  });

  test('one offer per agent × role, with the agent and role it came from', () => {
    const a = newAllocator();
    a.addAgent('a1', { hostname: 'h1' }, R('cpus:4;mem:1024;ports:[31000-31009]'));
    a.addAgent('a2', { hostname: 'h2' }, R('cpus:2;mem:512'));
    a.addFramework('f', { roles: ['web'] });
    const offers = a.allocate(1);
    expect(who(offers)).toEqual(['f@a1/web', 'f@a2/web']);
    expect(offers.find((o) => o.agentId === 'a1')!.resources.equals(R('cpus:4;mem:1024;ports:[31000-31009]'))).toBe(true);
    // Everything is allocated now: the next cycle offers nothing.
    expect(a.allocate(2)).toEqual([]);
    expect(a.available('a1')!.isEmpty()).toBe(true);
  });

  describe('decline filters', () => {
    function declined(refuseSeconds: number | undefined) {
      const a = newAllocator();
      a.addAgent('agent', { hostname: 'h' }, R('cpus:4;mem:1024'));
      a.addFramework('f', { roles: ['r'] });
      const [offer] = a.allocate(0);
      a.recoverResources('f', 'agent', 'r', offer!.resources, refuseSeconds === undefined ? {} : { refuseSeconds }, 10_000);
      return a;
    }

    test('expire exactly at now + refuse_seconds on the caller’s clock', () => {
      const a = declined(30);
      expect(a.allocate(10_000 + 29_999)).toEqual([]);
      expect(who(a.allocate(10_000 + 30_000))).toEqual(['f@agent/r']);
    });

    test('default to 5 s when unset or negative, and 0 holds until the next batch', () => {
      for (const s of [undefined, -1]) {
        const a = declined(s);
        expect(a.allocate(14_999)).toEqual([]);
        expect(a.allocate(15_000)).toHaveLength(1);
      }
      const a = declined(0);
      // The prompt cycle the decline triggers (same agent, same instant) does not offer it back…
      expect(a.allocate(10_000, ['agent'])).toEqual([]);
      // …the next batch (a cycle over all agents) does.
      expect(a.allocate(10_000)).toHaveLength(1);
    });

    test('a filter with time left outlasts the batch; one whose time is up lasts to the next batch', () => {
      const a = declined(1);
      expect(a.allocate(10_500)).toEqual([]); // a new batch, but 0.5 s left
      expect(a.allocate(11_000, ['agent'])).toHaveLength(1); // time is up, made in an earlier batch
      const b = declined(1);
      expect(b.allocate(11_000, ['agent'])).toEqual([]); // time is up, but still the batch it was made in
    });

    test('are capped at 365 days', () => {
      const a = declined(10 * MAX_REFUSE_SECONDS);
      const cap = 10_000 + MAX_REFUSE_SECONDS * 1000;
      expect(a.allocate(cap - 1)).toEqual([]);
      expect(a.allocate(cap)).toHaveLength(1);
    });

    test('apply only to the declined resources: more resources are offered again', () => {
      const a = declined(1000);
      a.updateAgent('agent', { total: R('cpus:8;mem:2048') });
      expect(a.allocate(11_000)).toHaveLength(1);
    });

    test('another framework still gets the declined agent', () => {
      const a = declined(1000);
      a.addFramework('g', { roles: ['r'] });
      expect(who(a.allocate(11_000))).toEqual(['g@agent/r']);
    });
  });

  test('suppress stops offers for a role; revive resumes them and clears filters', () => {
    const a = newAllocator();
    a.addAgent('agent', { hostname: 'h' }, R('cpus:4;mem:1024'));
    a.addFramework('f', { roles: ['r1', 'r2'] });
    a.suppressOffers('f', ['r1']);
    const [offer] = a.allocate(0);
    expect(offer!.role).toBe('r2');
    a.recoverResources('f', 'agent', 'r2', offer!.resources, { refuseSeconds: 3600 }, 0);
    expect(a.allocate(1)).toEqual([]); // r1 suppressed, r2 filtered
    a.reviveOffers('f');
    expect(a.allocate(2)).toHaveLength(1);
  });

  test('a framework subscribed with suppressed roles gets nothing there', () => {
    const a = newAllocator();
    a.addAgent('agent', { hostname: 'h' }, R('cpus:4;mem:1024'));
    a.addFramework('f', { roles: ['r'], suppressedRoles: ['r'] });
    expect(a.allocate(0)).toEqual([]);
  });

  test('inactive frameworks, deactivated and draining agents get and give no offers', () => {
    const a = newAllocator();
    a.addAgent('a1', { hostname: 'h1' }, R('cpus:4;mem:1024'));
    a.addAgent('a2', { hostname: 'h2' }, R('cpus:4;mem:1024'));
    a.addFramework('f', { roles: ['r'] }, false);
    expect(a.allocate(0)).toEqual([]);
    a.activateFramework('f');
    a.deactivateAgent('a1');
    a.setAgentDraining('a2', true);
    expect(a.allocate(1)).toEqual([]);
    a.activateAgent('a1');
    expect(who(a.allocate(2))).toEqual(['f@a1/r']);
    a.setAgentDraining('a2', false);
    expect(who(a.allocate(3))).toEqual(['f@a2/r']);
  });

  describe('reservations', () => {
    test('static reservations go only to their role and its sub-roles', () => {
      const a = newAllocator();
      a.addAgent('agent', { hostname: 'h' }, R('cpus:2;mem:512;cpus(ads):4;mem(ads):1024'));
      a.addFramework('other', { roles: ['web'] });
      a.addFramework('child', { roles: ['ads/backend'] });
      const offers = a.allocate(0);
      const child = offers.find((o) => o.frameworkId === 'child');
      const other = offers.find((o) => o.frameworkId === 'other');
      // `child` is served first (tie broken by role name 'ads/backend' < 'web') and gets all it
      // may use: unreserved and reserved-to-ads; `other` gets what is left, which is nothing.
      expect(child!.resources.reserved('ads').equals(R('cpus(ads):4;mem(ads):1024'))).toBe(true);
      expect(other).toBeUndefined();
      declineAll(a, offers, 0);
      a.suppressOffers('child');
      const [second] = a.allocate(1);
      expect(second!.frameworkId).toBe('other');
      expect(second!.resources.equals(R('cpus:2;mem:512'))).toBe(true);
    });

    test('a framework RESERVE converts its allocation; the reservation is then offered only to that role', () => {
      const a = newAllocator();
      a.addAgent('agent', { hostname: 'h' }, R('cpus:4;mem:1024'));
      a.addFramework('f', { roles: ['db'] });
      a.addFramework('g', { roles: ['web'] });
      const offers = a.allocate(0);
      const [mine] = offers.filter((o) => o.frameworkId === 'f');
      expect(mine).toBeDefined();
      const unreserved = R('cpus:2;mem:512');
      const reserved = unreserved.pushReservation({ type: 'DYNAMIC', role: 'db', principal: 'p' });
      a.updateAllocation('f', 'agent', 'db', [{ consumed: unreserved, converted: reserved }]);
      a.recoverResources('f', 'agent', 'db', mine!.resources.minus(unreserved).plus(reserved), { refuseSeconds: 0 }, 0);
      a.suppressOffers('f');
      const [next] = a.allocate(1);
      expect(next!.frameworkId).toBe('g');
      expect(next!.resources.equals(R('cpus:2;mem:512'))).toBe(true);
      declineAll(a, [next!], 1);
      a.suppressOffers('g');
      a.reviveOffers('f');
      const [back] = a.allocate(2);
      expect(back!.frameworkId).toBe('f');
      expect(back!.resources.reserved('db').equals(reserved)).toBe(true);
    });

    test('operator RESERVE on available resources', () => {
      const a = newAllocator();
      a.addAgent('agent', { hostname: 'h' }, R('cpus:4;mem:1024'));
      const consumed = R('cpus:1;mem:256');
      a.updateAvailable('agent', [{ consumed, converted: consumed.pushReservation({ type: 'DYNAMIC', role: 'ops' }) }]);
      a.addFramework('web', { roles: ['web'] });
      const [offer] = a.allocate(0);
      expect(offer!.resources.equals(R('cpus:3;mem:768'))).toBe(true);
      expect(() => a.updateAvailable('agent', [{ consumed: R('cpus:100'), converted: R('cpus(ops):100') }])).toThrow(/does not contain/);
    });
  });

  describe('quota', () => {
    test('limits shrink offers and stop them when consumed', () => {
      const a = newAllocator();
      for (let i = 0; i < 3; i++) a.addAgent(`a${i}`, { hostname: `h${i}` }, R('cpus:8;mem:4096'));
      a.updateQuota('batch', { limits: Q({ cpus: 10 }) });
      a.addFramework('f', { roles: ['batch'] });
      const offers = a.allocate(0);
      const cpus = offers.reduce((s, o) => s + o.resources.scalar('cpus'), 0);
      expect(cpus).toBe(10_000);
      expect(a.roles().find((r) => r.role === 'batch')!.consumed.get('cpus')).toBe(10_000);
      expect(a.allocate(1)).toEqual([]);
    });

    test('limits count reservations as consumed', () => {
      const a = newAllocator();
      a.addAgent('a', { hostname: 'h' }, R('cpus(batch):6;cpus:10;mem:4096'));
      a.updateQuota('batch', { limits: Q({ cpus: 8 }) });
      a.addFramework('f', { roles: ['batch'] });
      const [offer] = a.allocate(0);
      // 6 reserved are consumed already: only 2 unreserved cpus more.
      expect(offer!.resources.unreserved().scalar('cpus')).toBe(2_000);
      expect(offer!.resources.reserved('batch').scalar('cpus')).toBe(6_000);
    });

    test('a parent role’s limit binds its sub-roles together', () => {
      const a = newAllocator();
      a.addAgent('a', { hostname: 'h' }, R('cpus:20;mem:4096'));
      a.addAgent('b', { hostname: 'h2' }, R('cpus:20;mem:4096'));
      a.updateQuota('eng', { limits: Q({ cpus: 12 }) });
      a.addFramework('x', { roles: ['eng/x'] });
      a.addFramework('y', { roles: ['eng/y'] });
      const offers = a.allocate(0);
      expect(offers.reduce((s, o) => s + o.resources.scalar('cpus'), 0)).toBe(12_000);
    });

    test('guarantees are served first and held back from other roles', () => {
      const a = newAllocator();
      for (let i = 0; i < 4; i++) a.addAgent(`a${i}`, { hostname: `h${i}` }, R('cpus:10;mem:1024'));
      a.addFramework('greedy', { roles: ['aaa'] }); // sorts first by name
      a.addFramework('prod', { roles: ['prod'] });
      a.updateQuota('prod', { guarantees: Q({ cpus: 25 }), limits: Q({ cpus: 25 }) });
      a.suppressOffers('prod'); // prod is not asking yet: its guarantee is still held back
      const offers = a.allocate(0);
      const greedyCpus = offers.filter((o) => o.frameworkId === 'greedy').reduce((s, o) => s + o.resources.scalar('cpus'), 0);
      expect(greedyCpus).toBe(15_000);
      a.reviveOffers('prod');
      const prod = a.allocate(1).filter((o) => o.frameworkId === 'prod');
      expect(prod.reduce((s, o) => s + o.resources.scalar('cpus'), 0)).toBe(25_000);
    });

    test('rejects a guarantee above the limit, naming the field', () => {
      const a = newAllocator();
      expect(() => a.updateQuota('r', { guarantees: Q({ cpus: 5 }), limits: Q({ cpus: 4 }) })).toThrow(/quota\.r\.guarantees\.cpus/);
    });
  });

  test('min_allocatable_resources: small leftovers are not offered; frameworks may override per role', () => {
    const a = newAllocator();
    a.addAgent('tiny', { hostname: 'h' }, R('cpus:0.005;mem:16'));
    a.addFramework('f', { roles: ['r'] });
    expect(a.allocate(0)).toEqual([]);
    a.addFramework('g', { roles: ['r2'], minAllocatableResources: { r2: [Q({ mem: 8 })] } });
    expect(who(a.allocate(1))).toEqual(['g@tiny/r2']);
  });

  describe('offer constraints', () => {
    function cluster() {
      const a = newAllocator();
      a.addAgent('a1', { hostname: 'web-1', attributes: [{ name: 'rack', text: 'r1' }], domain: { region: 'eu', zone: 'eu-a' } }, R('cpus:4;mem:1024'));
      a.addAgent('a2', { hostname: 'db-1', attributes: [{ name: 'rack', text: 'r2' }, { name: 'ssd', text: 'true' }], domain: { region: 'eu', zone: 'eu-b' } }, R('cpus:4;mem:1024'));
      a.addAgent('a3', { hostname: 'web-2' }, R('cpus:4;mem:1024'));
      return a;
    }
    const cases: [string, FrameworkDescription['offerConstraints'], string[]][] = [
      ['attribute equals', { r: { groups: [{ predicates: [{ selector: { attribute: 'rack' }, op: 'TEXT_EQUALS', value: 'r2' }] }] } }, ['a2']],
      ['attribute exists', { r: { groups: [{ predicates: [{ selector: { attribute: 'ssd' }, op: 'EXISTS' }] }] } }, ['a2']],
      ['attribute missing', { r: { groups: [{ predicates: [{ selector: { attribute: 'rack' }, op: 'NOT_EXISTS' }] }] } }, ['a3']],
      ['hostname matches', { r: { groups: [{ predicates: [{ selector: { pseudo: 'HOSTNAME' }, op: 'TEXT_MATCHES', regex: 'web-.*' }] }] } }, ['a1', 'a3']],
      ['zone not equal', { r: { groups: [{ predicates: [{ selector: { pseudo: 'ZONE' }, op: 'TEXT_NOT_EQUALS', value: 'eu-a' }] }] } }, ['a2', 'a3']],
      ['region and not hostname (AND)', { r: { groups: [{ predicates: [
        { selector: { pseudo: 'REGION' }, op: 'TEXT_EQUALS', value: 'eu' },
        { selector: { pseudo: 'HOSTNAME' }, op: 'TEXT_NOT_MATCHES', regex: 'db-.*' }] }] } }, ['a1']],
      ['either group (OR)', { r: { groups: [
        { predicates: [{ selector: { attribute: 'ssd' }, op: 'EXISTS' }] },
        { predicates: [{ selector: { pseudo: 'HOSTNAME' }, op: 'TEXT_EQUALS', value: 'web-2' }] }] } }, ['a2', 'a3']],
    ];
    test.each(cases)('%s', (_name, offerConstraints, agents) => {
      const a = cluster();
      a.addFramework('f', { roles: ['r'], offerConstraints });
      expect(a.allocate(0).map((o) => o.agentId).sort()).toEqual(agents);
    });

    test('an invalid regex is rejected with the field named', () => {
      const a = cluster();
      expect(() =>
        a.addFramework('f', { roles: ['r'], offerConstraints: { r: { groups: [{ predicates: [{ selector: { pseudo: 'HOSTNAME' }, op: 'TEXT_MATCHES', regex: '(' }] }] } } }),
      ).toThrow(/offer_constraints\.r\.groups\[0\]\.predicates\[0\]\.regex/);
    });
  });

  test('region awareness: remote agents only for REGION_AWARE frameworks', () => {
    const a = newAllocator({ region: 'eu' });
    a.addAgent('local', { hostname: 'l', domain: { region: 'eu', zone: 'z' } }, R('cpus:4;mem:1024'));
    a.addAgent('remote', { hostname: 'r', domain: { region: 'us', zone: 'z' } }, R('cpus:4;mem:1024'));
    a.addFramework('plain', { roles: ['r'] });
    expect(who(a.allocate(0))).toEqual(['plain@local/r']);
    a.addFramework('aware', { roles: ['r'], capabilities: { regionAware: true } });
    expect(who(a.allocate(1))).toEqual(['aware@remote/r']);
  });

  test('GPU agents only for GPU_RESOURCES frameworks', () => {
    const a = newAllocator();
    a.addAgent('gpu', { hostname: 'g' }, R('cpus:4;mem:1024;gpus:2'));
    a.addFramework('plain', { roles: ['r'] });
    expect(a.allocate(0)).toEqual([]);
    a.addFramework('ml', { roles: ['r'], capabilities: { gpuResources: true } });
    expect(who(a.allocate(1))).toEqual(['ml@gpu/r']);
  });

  describe('demand', () => {
    test('a framework is offered only agents that fit one of its pending task shapes', () => {
      const a = newAllocator();
      a.addAgent('small', { hostname: 's' }, R('cpus:1;mem:512;ports:[31000-31001]'));
      a.addAgent('big', { hostname: 'b' }, R('cpus:8;mem:8192;ports:[31000-31010]'));
      a.addFramework('f', { roles: ['r'], demand: { r: [{ quantities: Q({ cpus: 2, mem: 1024 }), ports: 3 }] } });
      expect(who(a.allocate(0))).toEqual(['f@big/r']);
    });

    test('declared zero demand gets nothing; other frameworks are served instead', () => {
      const a = newAllocator();
      a.addAgent('agent', { hostname: 'h' }, R('cpus:4;mem:1024'));
      a.addFramework('idle', { roles: ['aaa'], demand: { aaa: [] } });
      a.addFramework('busy', { roles: ['zzz'] });
      expect(who(a.allocate(0))).toEqual(['busy@agent/zzz']);
    });

    test('shape constraints narrow the agents', () => {
      const a = newAllocator();
      a.addAgent('a1', { hostname: 'h1', attributes: [{ name: 'ssd', text: 'true' }] }, R('cpus:4;mem:1024'));
      a.addAgent('a2', { hostname: 'h2' }, R('cpus:4;mem:1024'));
      const constraints = { groups: [{ predicates: [{ selector: { attribute: 'ssd' }, op: 'EXISTS' as const }] }] };
      a.addFramework('f', { roles: ['r'], demand: { r: [{ quantities: Q({ cpus: 1 }), constraints }] } });
      expect(who(a.allocate(0))).toEqual(['f@a1/r']);
    });

    test('UPDATE_FRAMEWORK with new demand takes effect at the next cycle', () => {
      const a = newAllocator();
      a.addAgent('agent', { hostname: 'h' }, R('cpus:4;mem:1024'));
      a.addFramework('f', { roles: ['r'], demand: { r: [] } });
      expect(a.allocate(0)).toEqual([]);
      a.updateFramework('f', { roles: ['r'], demand: { r: [{ quantities: Q({ cpus: 1 }) }] } });
      expect(a.allocate(1)).toHaveLength(1);
    });
  });

  test('weighted roles: allocations converge to the weights', () => {
    const a = newAllocator({ minAllocatableResources: [] });
    a.addAgent('agent', { hostname: 'h' }, R('cpus:400;mem:400'));
    a.addFramework('light', { roles: ['light'] });
    a.addFramework('heavy', { roles: ['heavy'] });
    a.updateWeights(new Map([['heavy', 3]]));
    const task = R('cpus:1;mem:1');
    for (let cycle = 0; cycle < 400; cycle++) {
      for (const offer of a.allocate(cycle)) {
        const rest = offer.resources.contains(task) ? offer.resources.minus(task) : offer.resources;
        a.recoverResources(offer.frameworkId, offer.agentId, offer.role, rest, { refuseSeconds: 0 }, cycle);
      }
    }
    const cpus = Object.fromEntries(a.roles().map((r) => [r.role, r.allocated.get('cpus') ?? 0]));
    expect(cpus.light! + cpus.heavy!).toBe(400_000);
    expect(cpus.heavy! / cpus.light!).toBeCloseTo(3, 1);
  });

  test('removing a framework returns what it held; removing an agent drops its allocations', () => {
    const a = newAllocator();
    a.addAgent('agent', { hostname: 'h' }, R('cpus:4;mem:1024'));
    a.addFramework('f', { roles: ['r'] });
    a.allocate(0);
    a.removeFramework('f');
    expect(a.available('agent')!.equals(R('cpus:4;mem:1024'))).toBe(true);
    expect(a.roles()).toEqual([]);
    a.addFramework('g', { roles: ['r'] });
    a.allocate(1);
    a.removeAgent('agent');
    expect(a.roles().find((r) => r.role === 'r')!.allocated.size).toBe(0);
    // Late recoveries for the gone agent are harmless.
    a.recoverResources('g', 'agent', 'r', R('cpus:4;mem:1024'), {}, 2);
  });

  test('an agent re-registering with tasks of a framework not yet back tracks them until it returns', () => {
    const a = newAllocator();
    const used = new Map([['f', [{ role: 'r', resources: R('cpus:3;mem:512') }]]]);
    a.addAgent('agent', { hostname: 'h' }, R('cpus:4;mem:1024'), used);
    expect(a.available('agent')!.equals(R('cpus:1;mem:512'))).toBe(true);
    expect(a.allocate(0)).toEqual([]); // f is not subscribed: nobody to offer to
    a.addFramework('f', { roles: ['r'] });
    expect(who(a.allocate(1))).toEqual(['f@agent/r']);
    expect(a.roles()[0]!.allocated.get('cpus')).toBe(4_000);
  });

  test('bookkeeping errors name what is wrong', () => {
    const a = newAllocator();
    a.addAgent('agent', { hostname: 'h' }, R('cpus:4;mem:1024'));
    a.addFramework('f', { roles: ['r'] });
    expect(() => a.recoverResources('f', 'agent', 'r', R('cpus:1'), undefined, 0)).toThrow(/cannot recover cpus:1 of f on agent/);
    expect(() => a.addAgent('agent', { hostname: 'h' }, R('cpus:1'))).toThrow(/already added/);
    expect(() => a.addAgent('x', { hostname: 'h' }, R('cpus:1'), new Map([['f', [{ role: 'r', resources: R('cpus:2') }]]]))).toThrow(/exceed its total/);
    expect(() => a.suppressOffers('nope')).toThrow(/unknown framework nope/);
    expect(() => a.updateWeights(new Map([['r', -1]]))).toThrow(/weights\.r/);
  });
});

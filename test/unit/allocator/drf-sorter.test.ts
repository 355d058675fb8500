import fc from 'fast-check';
import { DrfSorter } from '../../../src/allocator/drf-sorter';
import { RandomSorter } from '../../../src/allocator/random-sorter';
import { ResourcePool } from '../../../src/allocator/sorter';
import { seededRandom } from '../../../src/common/random';

const q = (cpus: number, mem: number) => new Map([['cpus', cpus * 1000], ['mem', mem * 1000]]);

function poolOf(cpus: number, mem: number): ResourcePool {
  const pool = new ResourcePool();
  pool.add(q(cpus, mem));
  return pool;
}

describe('DrfSorter', () => {
  test('orders by dominant share; of equal shares the one allocated longest ago first, then by name', () => {
    const pool = poolOf(9, 18);
    const s = new DrfSorter(pool);
    for (const c of ['b', 'a', 'c']) {
      s.add(c);
      s.activate(c);
    }
    expect(s.sort()).toEqual(['a', 'b', 'c']); // all at share 0: by name
    s.allocated('a', q(1, 4)); // share a = max(1/9, 4/18) = 2/9
    s.allocated('b', q(3, 1)); // share b = max(3/9, 1/18) = 1/3
    expect(s.sort()).toEqual(['c', 'a', 'b']);
    expect(s.share('a')).toBeCloseTo(2 / 9);
    expect(s.share('b')).toBeCloseTo(1 / 3);
    s.unallocated('b', q(3, 1));
    // b and c both at share 0: c was never allocated, b just was, so c takes its turn first.
    expect(s.sort()).toEqual(['c', 'b', 'a']);
  });

  test('tied clients take turns: one that gives back what it got goes behind the others', () => {
    const s = new DrfSorter(poolOf(10, 10));
    for (const c of ['a', 'b', 'c']) {
      s.add(c);
      s.activate(c);
    }
    const served: string[] = [];
    for (let round = 0; round < 6; round++) {
      const first = s.sort()[0]!;
      served.push(first);
      s.allocated(first, q(4, 4)); // offered the agent…
      s.unallocated(first, q(4, 4)); // …and declined it: back at share 0
    }
    expect(served).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });

  test('weights divide shares', () => {
    const s = new DrfSorter(poolOf(10, 10));
    for (const c of ['x', 'y']) {
      s.add(c);
      s.activate(c);
    }
    s.updateWeight('y', 4);
    s.allocated('x', q(2, 0)); // 0.2
    s.allocated('y', q(4, 0)); // 0.4 / 4 = 0.1
    expect(s.sort()).toEqual(['y', 'x']);
    expect(s.share('y')).toBeCloseTo(0.1);
  });

  test('inactive clients are skipped but keep their allocation', () => {
    const s = new DrfSorter(poolOf(10, 10));
    for (const c of ['a', 'b']) {
      s.add(c);
      s.activate(c);
    }
    s.allocated('a', q(1, 1));
    s.deactivate('b');
    expect(s.sort()).toEqual(['a']);
    expect(s.hasActive()).toBe(true);
    s.deactivate('a');
    expect(s.hasActive()).toBe(false);
    expect(s.allocation('a').get('cpus')).toBe(1000);
    s.activate('b');
    expect(s.sort()).toEqual(['b']);
  });

  test('hierarchy: subtrees compete by their total share; a role and its sub-roles by their own', () => {
    const s = new DrfSorter(poolOf(100, 100));
    for (const c of ['eng', 'eng/backend', 'eng/frontend', 'ops']) {
      s.add(c);
      s.activate(c);
    }
    s.allocated('eng/backend', q(10, 0));
    s.allocated('eng', q(5, 0));
    // eng subtree = 15% > ops 0% → ops first; inside eng: frontend 0 < eng itself 5 < backend 10.
    expect(s.sort()).toEqual(['ops', 'eng/frontend', 'eng', 'eng/backend']);
    s.allocated('ops', q(20, 0));
    expect(s.sort()).toEqual(['eng/frontend', 'eng', 'eng/backend', 'ops']);
    s.remove('eng/backend');
    expect(s.sort()).toEqual(['eng/frontend', 'eng', 'ops']);
    expect(s.contains('eng/backend')).toBe(false);
  });

  test('a leaf client that gains a sub-role keeps its allocation and activity', () => {
    const s = new DrfSorter(poolOf(10, 10));
    s.add('a');
    s.activate('a');
    s.allocated('a', q(5, 0));
    s.add('a/b');
    expect(s.sort()).toEqual(['a']); // a/b inactive
    s.activate('a/b');
    expect(s.sort()).toEqual(['a/b', 'a']);
    expect(s.allocation('a').get('cpus')).toBe(5000);
  });

  test('a change of the pool total re-sorts lazily', () => {
    const pool = new ResourcePool();
    pool.add(q(10, 100));
    const s = new DrfSorter(pool);
    for (const c of ['cpu-heavy', 'mem-heavy']) {
      s.add(c);
      s.activate(c);
    }
    s.allocated('cpu-heavy', q(5, 0)); // 0.5
    s.allocated('mem-heavy', q(0, 40)); // 0.4
    expect(s.sort()).toEqual(['mem-heavy', 'cpu-heavy']);
    pool.add(q(90, 0)); // cpus total 100: cpu-heavy 0.05
    expect(s.sort()).toEqual(['cpu-heavy', 'mem-heavy']);
  });

  test('excluded resource names do not count', () => {
    const pool = new ResourcePool(['gpus']);
    pool.add(new Map([['cpus', 10_000], ['gpus', 2_000]]));
    const s = new DrfSorter(pool);
    s.add('a');
    s.allocated('a', new Map([['gpus', 2_000]]));
    expect(s.share('a')).toBe(0);
  });

  test('property: the visit order always equals a full sort by (share, last allocated, name)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            client: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
            op: fc.constantFrom('alloc', 'unalloc', 'toggle', 'weight'),
            cpus: fc.integer({ min: 1, max: 5 }),
            mem: fc.integer({ min: 0, max: 5 }),
          }),
          { maxLength: 60 },
        ),
        (ops) => {
          const pool = poolOf(50, 50);
          const s = new DrfSorter(pool);
          const held = new Map<string, { cpus: number; mem: number }>();
          for (const c of ['a', 'b', 'c', 'd', 'e', 'f']) {
            s.add(c);
            s.activate(c);
            held.set(c, { cpus: 0, mem: 0 });
          }
          const weights = new Map<string, number>();
          const lastAllocated = new Map<string, number>();
          let allocations = 0;
          for (const o of ops) {
            const h = held.get(o.client)!;
            if (o.op === 'alloc') {
              s.allocated(o.client, q(o.cpus, o.mem));
              lastAllocated.set(o.client, ++allocations);
              h.cpus += o.cpus;
              h.mem += o.mem;
            } else if (o.op === 'unalloc' && h.cpus >= o.cpus && h.mem >= o.mem) {
              s.unallocated(o.client, q(o.cpus, o.mem));
              h.cpus -= o.cpus;
              h.mem -= o.mem;
            } else if (o.op === 'toggle') {
              if (s.isActive(o.client)) s.deactivate(o.client);
              else s.activate(o.client);
            } else if (o.op === 'weight') {
              weights.set(o.client, o.cpus);
              s.updateWeight(o.client, o.cpus);
            }
          }
          const share = (c: string) => Math.max(held.get(c)!.cpus / 50, held.get(c)!.mem / 50) / (weights.get(c) ?? 1);
          const expected = [...held.keys()]
            .filter((c) => s.isActive(c))
            .sort((x, y) => share(x) - share(y) || (lastAllocated.get(x) ?? 0) - (lastAllocated.get(y) ?? 0) || (x < y ? -1 : 1));
          expect(s.sort()).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('RandomSorter', () => {
  test('without weights, every active client comes first about equally often', () => {
    const s = new RandomSorter(poolOf(10, 10), seededRandom(5));
    const clients = ['a', 'b', 'c', 'd/x', 'd/y'];
    for (const c of clients) {
      s.add(c);
      s.activate(c);
    }
    const first = new Map<string, number>();
    for (let i = 0; i < 4000; i++) {
      const order = s.sort();
      expect(order.slice().sort()).toEqual(clients);
      first.set(order[0]!, (first.get(order[0]!) ?? 0) + 1);
    }
    // Four top-level children (a, b, c, d) at 1/4 each; d's share splits between x and y.
    for (const c of ['a', 'b', 'c']) expect(first.get(c)! / 4000).toBeCloseTo(0.25, 1);
    expect((first.get('d/x')! + first.get('d/y')!) / 4000).toBeCloseTo(0.25, 1);
  });

  test('visits every active client once, in an order biased by weight', () => {
    const s = new RandomSorter(poolOf(10, 10), seededRandom(7));
    for (const c of ['light', 'heavy', 'off']) {
      s.add(c);
      s.activate(c);
    }
    s.deactivate('off');
    s.updateWeight('heavy', 9);
    let heavyFirst = 0;
    for (let i = 0; i < 2000; i++) {
      const order = s.sort();
      expect(order.slice().sort()).toEqual(['heavy', 'light']);
      if (order[0] === 'heavy') heavyFirst++;
    }
    // P(heavy first) = 9 / (9 + 1) = 0.9
    expect(heavyFirst / 2000).toBeGreaterThan(0.85);
    expect(heavyFirst / 2000).toBeLessThan(0.95);
  });
});

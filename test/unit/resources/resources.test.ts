import { ResourceError } from '../../../src/common/errors';
import { isAddable, reservationRole, Resources, type Reservation, type Resource } from '../../../src/common/resources';

const r = (text: string): Resources => Resources.parse(text);
const dynamic = (role: string, extra: Partial<Reservation> = {}): Reservation => ({ type: 'DYNAMIC', role, ...extra });

/** A persistent volume of `mb` MiB with id `id`, reserved to `role`. */
function volume(id: string, mb: number, opts: { role?: string; shared?: boolean } = {}): Resources {
  return Resources.of([
    {
      name: 'disk',
      kind: 'scalar',
      scalar: mb * 1000,
      reservations: [dynamic(opts.role ?? 'eng')],
      disk: { persistence: { id }, volume: { containerPath: 'data', mode: 'RW' } },
      shared: opts.shared,
    },
  ]);
}

function thrown(f: () => unknown): ResourceError {
  try {
    f();
  } catch (e) {
    if (e instanceof ResourceError) return e;
    throw e;
  }
  throw new Error('expected a ResourceError');
}

describe('Resources construction', () => {
  it('normalises: combines addable entries, drops zeros, sorts ranges and sets', () => {
    const res = Resources.of([
      { name: 'cpus', kind: 'scalar', scalar: 1500, reservations: [] },
      { name: 'ports', kind: 'ranges', ranges: [{ begin: 10, end: 20 }, { begin: 1, end: 5 }, { begin: 6, end: 8 }], reservations: [] },
      { name: 'cpus', kind: 'scalar', scalar: 500, reservations: [] },
      { name: 'mem', kind: 'scalar', scalar: 0, reservations: [] },
      { name: 'zones', kind: 'set', set: ['b', 'a'], reservations: [] },
      { name: 'gpus', kind: 'set', set: [], reservations: [] },
    ]);
    expect(res.entries).toEqual([
      { name: 'cpus', kind: 'scalar', scalar: 2000, reservations: [] },
      { name: 'ports', kind: 'ranges', ranges: [{ begin: 1, end: 8 }, { begin: 10, end: 20 }], reservations: [] },
      { name: 'zones', kind: 'set', set: ['a', 'b'], reservations: [] },
    ]);
  });

  it('keeps differently reserved entries apart, and labels are part of the identity', () => {
    const res = Resources.of([
      { name: 'cpus', kind: 'scalar', scalar: 1000, reservations: [] },
      { name: 'cpus', kind: 'scalar', scalar: 1000, reservations: [dynamic('eng', { labels: { a: '1' } })] },
      { name: 'cpus', kind: 'scalar', scalar: 1000, reservations: [dynamic('eng', { labels: { a: '2' } })] },
      { name: 'cpus', kind: 'scalar', scalar: 1000, reservations: [dynamic('eng', { labels: { a: '1' } })] },
    ]);
    expect(res.entries).toHaveLength(3);
    expect(res.scalar('cpus')).toBe(4000);
  });

  it('has a shared empty instance and a scalar convenience', () => {
    expect(Resources.empty()).toBe(Resources.empty());
    expect(Resources.empty().isEmpty()).toBe(true);
    expect(Resources.of([])).toBe(Resources.empty());
    expect(Resources.scalar('cpus', 0.5).toString()).toBe('cpus:0.5');
    expect(Resources.scalar('mem', 512, [{ type: 'STATIC', role: 'eng' }]).toString()).toBe('mem(eng):512');
    expect(Resources.scalar('cpus', 0).isEmpty()).toBe(true);
  });

  it('isAddable compares identity, not value; reservationRole is the top of the stack', () => {
    const [a] = r('cpus(eng):1').entries;
    const [b] = r('cpus(eng):2').entries;
    const [c] = r('cpus:2').entries;
    expect(isAddable(a, b)).toBe(true);
    expect(isAddable(a, c)).toBe(false);
    const plain: Resource = { name: 'cpus', kind: 'scalar', scalar: 5, reservations: [{ type: 'STATIC', role: 'eng' }] };
    expect(isAddable(a, plain)).toBe(true);
    expect(reservationRole(a)).toBe('eng');
    expect(reservationRole(c)).toBeUndefined();
    const refined = r('cpus(eng):1').pushReservation(dynamic('eng/backend')).entries[0];
    expect(reservationRole(refined)).toBe('eng/backend');
  });
});

describe('plus / minus / contains / equals', () => {
  it('adds scalars exactly and unions ranges and sets', () => {
    const sum = r('cpus:0.1;ports:[1-5];zones:{a}').plus(r('cpus:0.2;ports:[6-10,20-20];zones:{b}'));
    expect(sum.toString()).toBe('cpus:0.3;ports:[1-10,20-20];zones:{a,b}');
  });

  it('subtracts, dropping what reaches zero', () => {
    const left = r('cpus:4;mem:1024;ports:[1-10]').minus(r('cpus:4;mem:24;ports:[3-4]'));
    expect(left.toString()).toBe('mem:1000;ports:[1-2,5-10]');
  });

  it('throws RESOURCES_NOT_CONTAINED naming the entry that does not fit', () => {
    const e = thrown(() => r('cpus:1;mem:10').minus(r('cpus:2')));
    expect(e.code).toBe('RESOURCES_NOT_CONTAINED');
    expect(e.message).toBe('cannot subtract "cpus:2": only "cpus:1" is available');
    expect(thrown(() => r('cpus:4').minus(r('cpus(eng):1'))).message).toContain('cannot subtract "cpus(eng):1": no matching resource');
    expect(thrown(() => r('ports:[1-5]').minus(r('ports:[5-6]'))).message).toContain('"ports:[5-6]"');
    expect(thrown(() => r('zones:{a}').minus(r('zones:{b}'))).message).toContain('"zones:{b}"');
  });

  it('matches entries by full identity in contains', () => {
    const have = r('cpus:2;cpus(eng):1;ports:[1-10]');
    expect(have.contains(r('cpus:2;ports:[2-3,5-6]'))).toBe(true);
    expect(have.contains(r('cpus:3'))).toBe(false); // unreserved cpus are 2
    expect(have.contains(r('cpus(eng):1'))).toBe(true);
    expect(have.contains(r('cpus(ads):1'))).toBe(false);
    expect(have.contains(r('ports:[10-11]'))).toBe(false);
    expect(have.contains(Resources.empty())).toBe(true);
    expect(Resources.empty().contains(have)).toBe(false);
  });

  it('compares regardless of construction order', () => {
    expect(r('mem:1;cpus:2;cpus(eng):1').equals(r('cpus(eng):1;cpus:1;mem:1;cpus:1'))).toBe(true);
    expect(r('cpus:1').equals(r('cpus:1.001'))).toBe(false);
    expect(r('cpus:1').equals(r('cpus(eng):1'))).toBe(false);
  });

  it('returns the receiver when nothing changes', () => {
    const a = r('cpus:1');
    expect(a.plus(Resources.empty())).toBe(a);
    expect(a.minus(Resources.empty())).toBe(a);
    expect(Resources.empty().plus(a)).toBe(a);
    expect(a.minus(a).isEmpty()).toBe(true);
  });
});

describe('persistent volumes', () => {
  it('are never merged: adding another volume with the same id throws', () => {
    const e = thrown(() => volume('v1', 100).plus(volume('v1', 100)));
    expect(e.code).toBe('INVALID_RESOURCES');
    expect(e.message).toContain('persistent volume "v1" appears twice');
    expect(() => volume('v1', 100).plus(volume('v1', 50, { role: 'ads' }))).toThrow(/"v1" appears twice/);
    expect(() => Resources.of([...volume('v1', 1).entries, ...volume('v1', 1).entries])).toThrow(/appears twice/);
  });

  it('with different ids stay separate entries', () => {
    const both = volume('v1', 100).plus(volume('v2', 100));
    expect(both.entries).toHaveLength(2);
    expect(both.scalar('disk')).toBe(200_000);
    expect(both.persistentVolumes().equals(both)).toBe(true);
  });

  it('are never split: minus removes exactly an identical entry', () => {
    const have = volume('v1', 100).plus(r('disk(eng):50'));
    expect(have.minus(volume('v1', 100)).toString()).toBe('disk(eng):50');
    expect(have.contains(volume('v1', 50))).toBe(false);
    expect(thrown(() => have.minus(volume('v1', 50))).message).toMatch(/removed only whole/);
    expect(have.contains(r('disk(eng):60'))).toBe(false); // a volume is not plain disk
  });

  it('shared ones repeat as copies (the Mesos shared count)', () => {
    const one = volume('s1', 10, { shared: true });
    const two = one.plus(one);
    expect(two.entries).toHaveLength(2);
    expect(two.contains(one)).toBe(true);
    expect(one.contains(two)).toBe(false);
    expect(two.minus(one).equals(one)).toBe(true);
    expect(two.minus(one).minus(one).isEmpty()).toBe(true);
    expect(() => one.minus(two)).toThrow(ResourceError);
    expect(() => one.plus(volume('s1', 20, { shared: true }))).toThrow(/appears twice/);
  });

  it('are kept whole by shrinkScalars: dropped if they do not fit', () => {
    const have = volume('v1', 100).plus(r('disk(eng):50'));
    const disk = (mb: number): Map<string, number> => new Map([['disk', mb * 1000]]);
    // Collection order puts the (dynamically reserved) volume first.
    expect(have.shrinkScalars(disk(120)).toString()).toBe('disk(eng[DYNAMIC])[v1:data:RW]:100;disk(eng):20');
    expect(have.shrinkScalars(disk(90)).toString()).toBe('disk(eng):50');
    expect(have.shrinkScalars(disk(30)).toString()).toBe('disk(eng):30');
    expect(have.shrinkScalars(disk(160))).toBe(have);
  });
});

describe('queries', () => {
  const res = r('cpus:2;cpus(eng):1;cpus(eng/backend):0.5;mem:100;ports:[1-10];ports(eng):[20-29];zones:{a}');

  it('totals scalars over all reservations', () => {
    expect(res.scalar('cpus')).toBe(3500);
    expect(res.scalar('gpus')).toBe(0);
    expect(res.scalar('ports')).toBe(0);
    expect(res.quantities()).toEqual(new Map([['cpus', 3500], ['mem', 100_000]]));
    expect(res.containsQuantities(new Map([['cpus', 3500], ['mem', 1]]))).toBe(true);
    expect(res.containsQuantities(new Map([['cpus', 3501]]))).toBe(false);
    expect(res.containsQuantities(new Map([['gpus', 1000]]))).toBe(false);
    expect(res.containsQuantities(new Map([['gpus', 0]]))).toBe(true);
  });

  it('unions ranges over all reservations and counts their values', () => {
    expect(res.ranges('ports')).toEqual([{ begin: 1, end: 10 }, { begin: 20, end: 29 }]);
    expect(res.rangeCount('ports')).toBe(20);
    expect(res.ranges('nope')).toEqual([]);
    // Overlaps across reservations (possible through Resources.of, not through parse) count once.
    const overlapping = r('ports:[1-10]').plus(r('ports(eng):[5-15]'));
    expect(overlapping.rangeCount('ports')).toBe(15);
  });

  it('filters by reservation', () => {
    expect(res.unreserved().toString()).toBe('cpus:2;mem:100;ports:[1-10];zones:{a}');
    expect(res.reserved().toString()).toBe('cpus(eng):1;cpus(eng/backend):0.5;ports(eng):[20-29]');
    expect(res.reserved('eng').toString()).toBe('cpus(eng):1;ports(eng):[20-29]');
    expect(res.reservedToSubtree('eng').toString()).toBe('cpus(eng):1;cpus(eng/backend):0.5;ports(eng):[20-29]');
    expect(res.reservedToSubtree('eng/backend').toString()).toBe('cpus(eng/backend):0.5');
    expect(res.filter((e) => e.name === 'mem').toString()).toBe('mem:100');
    expect(res.filter(() => true)).toBe(res);
  });

  it('allocatableTo: unreserved, own and ancestor reservations, never siblings or children', () => {
    const cluster = r('cpus:1;cpus(eng):2;cpus(eng/backend):4;cpus(eng/frontend):8;cpus(engx):16;cpus(eng/backend/db):32');
    expect(cluster.allocatableTo('eng/backend').toString()).toBe('cpus:1;cpus(eng):2;cpus(eng/backend):4');
    expect(cluster.allocatableTo('eng').toString()).toBe('cpus:1;cpus(eng):2');
    expect(cluster.allocatableTo('ads').toString()).toBe('cpus:1');
  });

  it('separates revocable resources', () => {
    const mixed = r('cpus:1').plus(Resources.of([{ name: 'cpus', kind: 'scalar', scalar: 2000, reservations: [], revocable: true }]));
    expect(mixed.entries).toHaveLength(2);
    expect(mixed.revocable().scalar('cpus')).toBe(2000);
    expect(mixed.nonRevocable().toString()).toBe('cpus:1');
    expect(mixed.toString()).toBe('cpus:1;cpus{REV}:2');
  });
});

describe('reservations', () => {
  it('pushReservation reserves and refines; popReservation undoes', () => {
    const unreserved = r('cpus:2;mem:100');
    const reserved = unreserved.pushReservation(dynamic('eng', { principal: 'ops' }));
    expect(reserved.reserved('eng').equals(reserved)).toBe(true);
    const refined = reserved.pushReservation(dynamic('eng/backend'));
    expect(refined.entries[0].reservations.map((x) => x.role)).toEqual(['eng', 'eng/backend']);
    expect(refined.popReservation().equals(reserved)).toBe(true);
    expect(reserved.popReservation().equals(unreserved)).toBe(true);
    expect(refined.flatten().equals(unreserved)).toBe(true);
  });

  it('popReservation merges entries that become addable', () => {
    const res = r('cpus:1').plus(r('cpus:1').pushReservation(dynamic('eng')));
    expect(res.filter((e) => e.reservations.length > 0).popReservation().plus(res.unreserved()).toString()).toBe('cpus:2');
  });

  it('rejects refinements that are not subroles, static over dynamic, and role "*"', () => {
    const reserved = r('cpus(eng):1');
    expect(thrown(() => reserved.pushReservation(dynamic('ads'))).message).toMatch(/cannot reserve "cpus\(eng\):1".*not a subrole/);
    expect(() => reserved.pushReservation(dynamic('eng'))).not.toThrow(); // non-strict
    expect(() => reserved.pushReservation(dynamic('eng/x')).pushReservation({ type: 'STATIC', role: 'eng/x' })).toThrow(
      /STATIC reservation cannot refine a DYNAMIC/,
    );
    expect(() => r('cpus:1').pushReservation(dynamic('*'))).toThrow(/role "\*"/);
    expect(() => Resources.empty().pushReservation(dynamic('bad role'))).toThrow(/invalid role "bad role"/);
  });

  it('never reserves revocable resources', () => {
    const rev = Resources.of([{ name: 'cpus', kind: 'scalar', scalar: 1000, reservations: [], revocable: true }]);
    expect(thrown(() => rev.pushReservation(dynamic('eng'))).message).toBe(
      'cannot reserve "cpus{REV}:1": revocable resources cannot be reserved',
    );
  });

  it('popReservation of unreserved resources throws', () => {
    expect(thrown(() => r('cpus(eng):1;mem:1').popReservation()).message).toBe('cannot unreserve "mem:1": it is not reserved');
  });

  it('flatten keeps volumes and flags', () => {
    const flat = volume('v1', 10).plus(r('cpus(eng):1;cpus:1')).flatten();
    expect(flat.toString()).toBe('cpus:2;disk[v1:data:RW]:10');
  });
});

describe('shrinkScalars', () => {
  const res = r('cpus:2;cpus(eng):1;mem:100;ports:[1-10]');

  it('caps each limited name, taking from entries in order, leaving others alone', () => {
    expect(res.shrinkScalars(new Map([['cpus', 2500]])).toString()).toBe('cpus:2;cpus(eng):0.5;mem:100;ports:[1-10]');
    expect(res.shrinkScalars(new Map([['cpus', 1000], ['mem', 0]])).toString()).toBe('cpus:1;ports:[1-10]');
    expect(res.shrinkScalars(new Map([['cpus', 10_000]]))).toBe(res);
    expect(res.shrinkScalars(new Map())).toBe(res);
  });
});

describe('text and JSON forms', () => {
  it('renders non-expressible entries readably', () => {
    const res = r('cpus:1').pushReservation(dynamic('eng', { principal: 'ops', labels: { b: '2', a: '1' } }));
    expect(res.toString()).toBe('cpus(eng[DYNAMIC by ops {a=1,b=2}]):1');
    expect(volume('v', 1, { shared: true }).toString()).toBe('disk(eng[DYNAMIC])[v:data:RW]<SHARED>:1');
  });

  it('round-trips JSON with every feature', () => {
    const res = volume('v', 1, { shared: true })
      .plus(r('cpus:1;ports:[1-2];zones:{a}').pushReservation(dynamic('eng', { principal: 'ops', labels: { k: 'v' } })))
      .plus(Resources.of([{ name: 'cpus', kind: 'scalar', scalar: 500, reservations: [], revocable: true }]));
    const json = JSON.parse(JSON.stringify(res));
    expect(Resources.fromJSON(json).equals(res)).toBe(true);
    expect(json).toContainEqual({
      name: 'disk',
      type: 'SCALAR',
      scalar: { value: 1 },
      reservations: [{ type: 'DYNAMIC', role: 'eng' }],
      disk: { persistence: { id: 'v' }, volume: { container_path: 'data', mode: 'RW' } },
      shared: {},
    });
    expect(json).toContainEqual({ name: 'cpus', type: 'SCALAR', scalar: { value: 0.5 }, revocable: {} });
  });
});

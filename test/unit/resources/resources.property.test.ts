import fc from 'fast-check';
import { ResourceError } from '../../../src/common/errors';
import * as quantities from '../../../src/common/quantities';
import { isSubroleOf, reservationRole, Resources, type Reservation } from '../../../src/common/resources';
import { expressibleArb, nearMissArb, resourcesArb, ROLES, splitArb } from './arbitraries';

// Enough runs to hit volumes, refined stacks and shared copies, few enough for a 2-core machine.
const runs = { numRuns: 300 };

const a$ = resourcesArb('a');
const b$ = resourcesArb('b');
const c$ = resourcesArb('c');

describe('Resources properties', () => {
  it('plus is commutative and associative', () => {
    fc.assert(
      fc.property(a$, b$, c$, (a, b, c) => {
        expect(a.plus(b).equals(b.plus(a))).toBe(true);
        expect(a.plus(b).plus(c).equals(a.plus(b.plus(c)))).toBe(true);
      }),
      runs,
    );
  });

  it('a.plus(b) contains both a and b', () => {
    fc.assert(
      fc.property(a$, b$, (a, b) => {
        const sum = a.plus(b);
        expect(sum.contains(a)).toBe(true);
        expect(sum.contains(b)).toBe(true);
      }),
      runs,
    );
  });

  it('(a + b) − b equals a when a and b are disjoint parts of a whole', () => {
    fc.assert(
      fc.property(splitArb(a$), ([whole, a, b]) => {
        expect(a.plus(b).equals(whole)).toBe(true);
        expect(a.plus(b).minus(b).equals(a)).toBe(true);
        expect(whole.minus(a).equals(b)).toBe(true);
      }),
      runs,
    );
  });

  it('contains is reflexive and transitive', () => {
    fc.assert(
      fc.property(splitArb(a$), fc.nat(), ([x, y], seed) => {
        expect(x.contains(x)).toBe(true);
        // z ⊆ y ⊆ x by construction: y is a part of x, z keeps some entries of y.
        let n = seed;
        const z = y.filter(() => n++ % 3 !== 0);
        expect(x.contains(y)).toBe(true);
        expect(y.contains(z)).toBe(true);
        expect(x.contains(z)).toBe(true);
      }),
      runs,
    );
    fc.assert(
      fc.property(a$, b$, c$, (a, b, c) => {
        fc.pre(a.contains(b) && b.contains(c));
        expect(a.contains(c)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('minus throws RESOURCES_NOT_CONTAINED exactly when not contained, and otherwise undoes plus', () => {
    fc.assert(
      fc.property(fc.oneof(fc.tuple(a$, b$), splitArb(a$).map(([w, part]) => [w, part] as [Resources, Resources]), nearMissArb(a$)), ([a, b]) => {
        if (a.contains(b)) {
          expect(a.minus(b).plus(b).equals(a)).toBe(true);
        } else {
          let err: unknown;
          try {
            a.minus(b);
          } catch (e) {
            err = e;
          }
          expect(err).toBeInstanceOf(ResourceError);
          expect((err as ResourceError).code).toBe('RESOURCES_NOT_CONTAINED');
        }
      }),
      runs,
    );
  });

  it('equality does not depend on construction order', () => {
    fc.assert(
      fc.property(a$, fc.nat(), (a, seed) => {
        const shuffled = [...a.entries].sort(() => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % 2 ? 1 : -1));
        expect(Resources.of(shuffled).equals(a)).toBe(true);
        expect(Resources.of(shuffled).toString()).toBe(a.toString());
      }),
      runs,
    );
  });

  it('scalars stay exact: no float drift', () => {
    let sum = Resources.empty();
    const tick = Resources.scalar('cpus', 0.001);
    for (let i = 0; i < 10_000; i++) sum = sum.plus(tick);
    expect(sum.scalar('cpus')).toBe(10_000);
    expect(sum.equals(Resources.scalar('cpus', 10))).toBe(true);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 999_999 }), fc.integer({ min: 1, max: 200 }), (milli, n) => {
        const one = Resources.scalar('mem', milli / 1000);
        let acc = Resources.empty();
        for (let i = 0; i < n; i++) acc = acc.plus(one);
        expect(acc.scalar('mem')).toBe(milli * n);
        for (let i = 0; i < n; i++) acc = acc.minus(one);
        expect(acc.isEmpty()).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('toString → parse round-trips expressible resources', () => {
    fc.assert(
      fc.property(expressibleArb, (a) => {
        expect(Resources.parse(a.toString()).equals(a)).toBe(true);
      }),
      runs,
    );
  });

  it('toJSON → fromJSON round-trips everything', () => {
    fc.assert(
      fc.property(a$, (a) => {
        const json: unknown = JSON.parse(JSON.stringify(a));
        expect(Resources.fromJSON(json).equals(a)).toBe(true);
        expect(Resources.parse(JSON.stringify(a)).equals(a)).toBe(true);
      }),
      runs,
    );
  });

  it('allocatableTo(role) never contains resources reserved to a sibling or child role', () => {
    fc.assert(
      fc.property(a$, fc.constantFrom(...ROLES), (a, role) => {
        const ok = a.allocatableTo(role);
        for (const e of ok.entries) {
          const owner = reservationRole(e);
          if (owner === undefined) continue;
          expect(isSubroleOf(role, owner)).toBe(true); // own role or an ancestor…
          expect(owner !== role && isSubroleOf(owner, role)).toBe(false); // …never a child
        }
        // Nothing allocatable is left out.
        const rest = a.minus(ok);
        for (const e of rest.entries) {
          const owner = reservationRole(e);
          expect(owner !== undefined && !isSubroleOf(role, owner)).toBe(true);
        }
      }),
      runs,
    );
  });

  it('flatten preserves quantities and port counts, and leaves nothing reserved', () => {
    fc.assert(
      fc.property(a$, (a) => {
        const flat = a.flatten();
        expect(flat.quantities()).toEqual(a.quantities());
        expect(flat.rangeCount('ports')).toBe(a.rangeCount('ports'));
        expect(flat.reserved().isEmpty()).toBe(true);
      }),
      runs,
    );
  });

  it('shrinkScalars stays within the input and within the limits', () => {
    const limits = fc.dictionary(fc.constantFrom('cpus', 'mem', 'disk', 'gpus', 'nope'), fc.integer({ min: 0, max: 8000 }));
    fc.assert(
      fc.property(a$, limits, (a, lim) => {
        const limitMap = new Map(Object.entries(lim));
        const shrunk = a.shrinkScalars(limitMap);
        expect(a.contains(shrunk)).toBe(true);
        for (const [name, limit] of limitMap) expect(shrunk.scalar(name)).toBeLessThanOrEqual(limit);
        // Unlimited names, ranges and sets are untouched.
        expect(shrunk.filter((e) => !limitMap.has(e.name)).equals(a.filter((e) => !limitMap.has(e.name)))).toBe(true);
        // Without volumes (which are never split) nothing is cut that fits.
        if (a.persistentVolumes().isEmpty()) {
          for (const [name, limit] of limitMap) expect(shrunk.scalar(name)).toBe(Math.min(limit, a.scalar(name)));
        }
      }),
      runs,
    );
  });

  it('popReservation undoes pushReservation', () => {
    const reservation = fc.constantFrom<Reservation>(
      { type: 'DYNAMIC', role: 'eng/backend', principal: 'ops' },
      { type: 'DYNAMIC', role: 'eng/backend/db', labels: { a: 'b' } },
    );
    fc.assert(
      fc.property(a$, reservation, (a, r) => {
        // Reservable: not revocable, and unreserved or owned by an ancestor of r.role.
        const reservable = a.nonRevocable().filter((e) => {
          const owner = reservationRole(e);
          return owner === undefined || (isSubroleOf(r.role, owner) && !(r.type === 'STATIC' && e.reservations.some((x) => x.type === 'DYNAMIC')));
        });
        const pushed = reservable.pushReservation(r);
        expect(pushed.quantities()).toEqual(reservable.quantities());
        expect(pushed.reserved(r.role).equals(pushed)).toBe(true);
        expect(pushed.popReservation().equals(reservable)).toBe(true);
      }),
      runs,
    );
  });

  it('quantities agree with plus and minus', () => {
    fc.assert(
      fc.property(splitArb(a$), ([whole, a, b]) => {
        expect(a.plus(b).quantities()).toEqual(quantities.add(a.quantities(), b.quantities()));
        expect(whole.minus(b).quantities()).toEqual(quantities.subtractOrThrow(whole.quantities(), b.quantities()));
        expect(whole.containsQuantities(a.quantities())).toBe(true);
        expect(quantities.le(a.quantities(), whole.quantities())).toBe(true);
      }),
      runs,
    );
  });
});

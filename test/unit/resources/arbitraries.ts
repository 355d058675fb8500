/**
 * fast-check arbitraries for resources: a few names of each kind, reservation stacks including
 * refined and labelled ones, revocable entries, persistent volumes (shared and not), small scalars
 * with three decimals, ranges and sets.
 */
import fc from 'fast-check';
import { Resources, type Range, type Reservation, type Resource } from '../../../src/common/resources';

export const ROLES = ['eng', 'eng/backend', 'eng/frontend', 'eng/backend/db', 'ads', 'engx'] as const;

/** Reservation stacks; each refines the one below (non-strict), STATIC below DYNAMIC. */
export const STACKS: readonly (readonly Reservation[])[] = [
  [],
  [{ type: 'STATIC', role: 'eng' }],
  [{ type: 'STATIC', role: 'eng/backend' }],
  [{ type: 'STATIC', role: 'ads' }],
  [{ type: 'DYNAMIC', role: 'eng', principal: 'ops' }],
  [{ type: 'DYNAMIC', role: 'eng', principal: 'ops', labels: { team: 'db' } }],
  [{ type: 'STATIC', role: 'eng' }, { type: 'DYNAMIC', role: 'eng/backend' }],
  [{ type: 'DYNAMIC', role: 'eng/frontend' }],
  [{ type: 'STATIC', role: 'eng/backend/db' }],
  [{ type: 'STATIC', role: 'engx' }],
];

/** Sorted distinct integers → coalesced ranges. */
export function toRanges(values: readonly number[]): Range[] {
  const sorted = [...new Set(values)].sort((a, b) => a - b);
  const out: Range[] = [];
  for (const v of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && last.end + 1 === v) out[out.length - 1] = { begin: last.begin, end: v };
    else out.push({ begin: v, end: v });
  }
  return out;
}

const stackArb = fc.constantFrom(...STACKS);
const milliArb = fc.integer({ min: 0, max: 5000 }); // up to 5 units with 3 decimals

const scalarEntryArb: fc.Arbitrary<Resource> = fc
  .record({
    name: fc.constantFrom('cpus', 'mem', 'disk', 'gpus', 'foo'),
    milli: milliArb,
    reservations: stackArb,
    revocable: fc.boolean(),
  })
  .map(({ name, milli, reservations, revocable }) => ({
    name,
    kind: 'scalar' as const,
    scalar: name === 'gpus' ? Math.floor(milli / 1000) * 1000 : milli,
    reservations,
    // Revocable resources are never reserved.
    revocable: revocable && reservations.length === 0 ? true : undefined,
  }));

const rangesEntryArb: fc.Arbitrary<Resource> = fc
  .record({
    spans: fc.array(fc.record({ begin: fc.integer({ min: 0, max: 60 }), length: fc.integer({ min: 1, max: 8 }) }), { maxLength: 4 }),
    reservations: stackArb,
  })
  .map(({ spans, reservations }) => ({
    name: 'ports',
    kind: 'ranges' as const,
    ranges: toRanges(spans.flatMap((s) => Array.from({ length: s.length }, (_, i) => s.begin + i))),
    reservations,
  }));

const setEntryArb: fc.Arbitrary<Resource> = fc
  .record({ items: fc.subarray(['a', 'b', 'c', 'd']), reservations: stackArb })
  .map(({ items, reservations }) => ({ name: 'zones', kind: 'set' as const, set: items, reservations }));

/** The one shared volume: identical wherever it appears, so copies add up (the Mesos shared count). */
export const SHARED_VOLUME: Resource = {
  name: 'disk',
  kind: 'scalar',
  scalar: 10_000,
  reservations: [{ type: 'DYNAMIC', role: 'eng', principal: 'ops' }],
  disk: { persistence: { id: 'shared-1' }, volume: { containerPath: 'shared', mode: 'RO' } },
  shared: true,
};

/** Non-shared volumes with ids `${prefix}0…3`; distinct prefixes never collide. */
function volumeArb(prefix: string): fc.Arbitrary<Resource> {
  return fc.record({ n: fc.integer({ min: 0, max: 3 }), mb: fc.integer({ min: 1, max: 50 }), reservations: stackArb }).map(({ n, mb, reservations }) => ({
    name: 'disk',
    kind: 'scalar' as const,
    scalar: mb * 1000,
    reservations,
    disk: { persistence: { id: `${prefix}${n}` } },
  }));
}

/** Arbitrary resource collections; volume ids start with `prefix` (use distinct ones for a and b). */
export function resourcesArb(prefix = 'v'): fc.Arbitrary<Resources> {
  const entry = fc.oneof(
    { weight: 6, arbitrary: scalarEntryArb },
    { weight: 2, arbitrary: rangesEntryArb },
    { weight: 2, arbitrary: setEntryArb },
    { weight: 1, arbitrary: volumeArb(prefix) },
    { weight: 1, arbitrary: fc.constant(SHARED_VOLUME) },
  );
  return fc.array(entry, { maxLength: 8 }).map((entries) => {
    // One volume per id (a second one with the same id is an error by design).
    const seen = new Set<string>();
    const kept = entries.filter((e) => {
      const id = e.disk?.persistence?.id;
      if (id === undefined || e.shared) return true;
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    });
    return Resources.of(kept);
  });
}

/**
 * Splits `c` into two parts `[a, b]` with `a.plus(b).equals(c)` and disjoint ranges and sets: scalars
 * are cut at a random point, each port and set item goes to one side, volumes go whole to one side.
 */
export function splitArb(c: fc.Arbitrary<Resources>): fc.Arbitrary<[Resources, Resources, Resources]> {
  return fc.tuple(c, fc.array(fc.nat(), { minLength: 97, maxLength: 97 })).map(([whole, noise]) => {
    let k = 0;
    const next = (): number => noise[k++ % noise.length] + k;
    const a: Resource[] = [];
    const b: Resource[] = [];
    for (const e of whole.entries) {
      if (e.disk?.persistence !== undefined) {
        (next() % 2 === 0 ? a : b).push(e);
      } else if (e.kind === 'scalar') {
        const unit = e.name === 'gpus' ? 1000 : 1;
        const cut = (next() % (e.scalar! / unit + 1)) * unit;
        a.push({ ...e, scalar: cut });
        b.push({ ...e, scalar: e.scalar! - cut });
      } else if (e.kind === 'ranges') {
        const left: number[] = [];
        const right: number[] = [];
        for (const r of e.ranges!) for (let v = r.begin; v <= r.end; v++) (next() % 2 === 0 ? left : right).push(v);
        a.push({ ...e, ranges: toRanges(left) });
        b.push({ ...e, ranges: toRanges(right) });
      } else {
        const left: string[] = [];
        const right: string[] = [];
        for (const item of e.set!) (next() % 2 === 0 ? left : right).push(item);
        a.push({ ...e, set: left });
        b.push({ ...e, set: right });
      }
    }
    return [whole, Resources.of(a), Resources.of(b)];
  });
}

/**
 * Collections that the text form can express: unreserved or one plain STATIC reservation, no flags
 * or disk info, and no port claimed by two entries.
 */
export const expressibleArb: fc.Arbitrary<Resources> = (() => {
  const stack = fc.constantFrom<readonly Reservation[]>([], [{ type: 'STATIC', role: 'eng' }], [{ type: 'STATIC', role: 'eng/backend' }], [{ type: 'STATIC', role: 'ads' }]);
  const scalar = fc.record({ name: fc.constantFrom('cpus', 'mem', 'foo.bar/x'), milli: milliArb, reservations: stack });
  const port = fc.record({ port: fc.integer({ min: 0, max: 100 }), stack: fc.nat({ max: 3 }) });
  const zone = fc.record({ items: fc.subarray(['a', 'b', 'c-1', 'd_2']), reservations: stack });
  return fc
    .record({ scalars: fc.array(scalar, { maxLength: 5 }), ports: fc.uniqueArray(port, { selector: (p) => p.port, maxLength: 20 }), zones: fc.array(zone, { maxLength: 3 }) })
    .map(({ scalars, ports, zones }) => {
      const stacks: readonly Reservation[][] = [[], [{ type: 'STATIC', role: 'eng' }], [{ type: 'STATIC', role: 'eng/backend' }], [{ type: 'STATIC', role: 'ads' }]];
      const entries: Resource[] = [
        ...scalars.map((s) => ({ name: s.name, kind: 'scalar' as const, scalar: s.milli, reservations: s.reservations })),
        ...stacks.map((reservations, i) => ({
          name: 'ports',
          kind: 'ranges' as const,
          ranges: toRanges(ports.filter((p) => p.stack === i).map((p) => p.port)),
          reservations,
        })),
        ...zones.map((z) => ({ name: 'zones', kind: 'set' as const, set: z.items, reservations: z.reservations })),
      ];
      return Resources.of(entries);
    });
})();

/**
 * Near misses: `[whole, part]` where `part` is a part of `whole` with one entry nudged just past it
 * (one more milli, one more port at an edge, one more set item), so it is usually not contained.
 */
export function nearMissArb(c: fc.Arbitrary<Resources>): fc.Arbitrary<[Resources, Resources]> {
  return fc.tuple(splitArb(c), fc.nat()).map(([[whole, part], pick]) => {
    const entries = [...part.entries];
    // Volumes are not nudged: a resized copy of a volume is a conflicting volume, not a near miss.
    const candidates = entries.map((e, i) => i).filter((i) => entries[i].disk?.persistence === undefined);
    if (candidates.length === 0) return [whole, part.plus(Resources.scalar('cpus', 0.001))];
    const i = candidates[pick % candidates.length];
    const e = entries[i];
    if (e.kind === 'scalar') {
      entries[i] = { ...e, scalar: e.scalar! + (e.name === 'gpus' ? 1000 : 1) };
    } else if (e.kind === 'ranges') {
      const rs = [...e.ranges!];
      const k = pick % rs.length;
      rs[k] = pick % 2 === 0 || rs[k].begin === 0 ? { begin: rs[k].begin, end: rs[k].end + 1 } : { begin: rs[k].begin - 1, end: rs[k].end };
      entries[i] = { ...e, ranges: toRanges(rs.flatMap((r) => Array.from({ length: r.end - r.begin + 1 }, (_, j) => r.begin + j))) };
    } else {
      entries[i] = { ...e, set: [...new Set([...e.set!, ['a', 'b', 'c', 'd', 'e'][pick % 5]])] };
    }
    return [whole, Resources.of(entries)];
  });
}

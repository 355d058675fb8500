import fc from 'fast-check';
import {
  findOverlap,
  normalizeRanges,
  rangesCount,
  rangesDifference,
  rangesSubset,
  rangesUnion,
  setDifference,
  setSubset,
  setUnion,
  type Range,
} from '../../../src/common/resource-values';
import { toRanges } from './arbitraries';

// Ranges and sets checked against the obvious model: sets of values.
const values = (ranges: readonly Range[]): number[] => ranges.flatMap((r) => Array.from({ length: r.end - r.begin + 1 }, (_, i) => r.begin + i));
const ints = fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { maxLength: 30 });
const items = fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), { maxLength: 6 }).map((xs) => [...xs].sort());

describe('range and set operations agree with a model of value sets', () => {
  it('ranges: union, difference, subset, count', () => {
    fc.assert(
      fc.property(ints, ints, (xs, ys) => {
        const a = toRanges(xs);
        const b = toRanges(ys);
        const A = new Set(xs);
        const B = new Set(ys);
        expect(rangesUnion(a, b)).toEqual(toRanges([...xs, ...ys]));
        expect(rangesDifference(a, b)).toEqual(toRanges(xs.filter((x) => !B.has(x))));
        expect(rangesSubset(b, a)).toBe(ys.every((y) => A.has(y)));
        expect(rangesCount(a)).toBe(A.size);
        expect(values(a).sort((p, q) => p - q)).toEqual([...A].sort((p, q) => p - q));
      }),
      { numRuns: 500 },
    );
  });

  it('normalizeRanges coalesces and findOverlap finds overlaps', () => {
    const spans = fc.array(fc.record({ begin: fc.integer({ min: 0, max: 40 }), length: fc.integer({ min: 1, max: 6 }) }), { maxLength: 6 });
    fc.assert(
      fc.property(spans, (ss) => {
        const input = ss.map((s) => ({ begin: s.begin, end: s.begin + s.length - 1 }));
        const all = input.flatMap((r) => values([r]));
        const overlapping = all.length !== new Set(all).size;
        const pair = findOverlap(input);
        expect(pair !== undefined).toBe(overlapping);
        if (pair !== undefined) expect(pair[0].begin <= pair[1].end && pair[1].begin <= pair[0].end).toBe(true);
        if (!overlapping) expect(normalizeRanges(input)).toEqual(toRanges(all));
      }),
      { numRuns: 500 },
    );
  });

  it('sets: union, difference, subset', () => {
    fc.assert(
      fc.property(items, items, (a, b) => {
        expect(setUnion(a, b)).toEqual([...new Set([...a, ...b])].sort());
        expect(setDifference(a, b)).toEqual(a.filter((x) => !b.includes(x)));
        expect(setSubset(b, a)).toBe(b.every((x) => a.includes(x)));
      }),
      { numRuns: 300 },
    );
  });
});

import { ResourceError } from '../../../src/common/errors';
import * as quantities from '../../../src/common/quantities';

const q = (text: string): Map<string, number> => quantities.parse(text);

describe('quantities', () => {
  it('parses and formats "name:value" scalars, in units', () => {
    expect(q('cpus:1;mem:32')).toEqual(new Map([['cpus', 1000], ['mem', 32_000]]));
    expect(q(' cpus : 0.5 ; cpus:0.25;gpus:0;')).toEqual(new Map([['cpus', 750]]));
    expect(quantities.format(q('mem:32;cpus:1.5'))).toBe('cpus:1.5;mem:32');
    expect(quantities.format(new Map([['cpus', 0]]))).toBe('');
    expect(q('')).toEqual(new Map());
  });

  it.each([
    ['cpus', 'invalid quantity "cpus" at position 0: expected "name:value"'],
    ['cpus:1;mem:-1', 'invalid quantity "mem:-1" at position 7: value must be non-negative'],
    ['cpus:NaN', 'value "NaN" is not a number'],
    ['cpus(eng):1', 'invalid name "cpus(eng)"'],
    ['ports:[1-2]', 'value "[1-2]" is not a number (quantities are scalars only)'],
    ['gpus:0.5', 'gpus must be a whole number'],
    ['cpus:', 'missing value'],
  ])('rejects %p', (text, expected) => {
    expect(() => q(text)).toThrow(ResourceError);
    expect(() => q(text)).toThrow(expected);
  });

  it('adds, subtracts (clamped or throwing) and compares per name', () => {
    const a = q('cpus:2;mem:100');
    const b = q('cpus:3;disk:5');
    expect(quantities.add(a, b)).toEqual(q('cpus:5;mem:100;disk:5'));
    expect(quantities.subtractClamped(a, b)).toEqual(q('mem:100'));
    expect(quantities.subtractOrThrow(a, q('cpus:2;mem:1'))).toEqual(q('mem:99'));
    let err: unknown;
    try {
      quantities.subtractOrThrow(a, b);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ResourceError);
    expect((err as ResourceError).code).toBe('RESOURCES_NOT_CONTAINED');
    expect((err as ResourceError).message).toBe('cannot subtract cpus:3 from quantities with only cpus:2');
    expect(quantities.le(q('cpus:2'), a)).toBe(true);
    expect(quantities.le(q('cpus:2.001'), a)).toBe(false);
    expect(quantities.le(q('gpus:1'), a)).toBe(false);
    expect(quantities.le(new Map(), a)).toBe(true);
    expect(quantities.isZero(new Map([['cpus', 0]]))).toBe(true);
    expect(quantities.isZero(a)).toBe(false);
  });

  it('never mutates its arguments', () => {
    const a = q('cpus:2');
    const b = q('cpus:1');
    quantities.add(a, b);
    quantities.subtractClamped(a, b);
    quantities.subtractOrThrow(a, b);
    expect(a).toEqual(q('cpus:2'));
    expect(b).toEqual(q('cpus:1'));
  });
});

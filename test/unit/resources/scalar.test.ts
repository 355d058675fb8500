import { ResourceError } from '../../../src/common/errors';
import { formatMilli, fromMilli, parseDecimal, toMilli } from '../../../src/common/scalar';

describe('fixed-point scalars', () => {
  it('rounds to the nearest thousandth', () => {
    expect(toMilli(1.5)).toBe(1500);
    expect(toMilli(0.0004)).toBe(0);
    expect(toMilli(0.0006)).toBe(1);
    expect(toMilli(4.35)).toBe(4350); // 4.35 * 1000 is 4349.999… in floating point
    expect(Object.is(toMilli(-0.0001), 0)).toBe(true); // no negative zero
  });

  it.each([NaN, Infinity, -Infinity])('rejects %p with a ResourceError', (x) => {
    expect(() => toMilli(x)).toThrow(ResourceError);
    expect(() => toMilli(x)).toThrow(/finite number/);
  });

  it('rejects values too large to count exactly in milli', () => {
    expect(() => toMilli(1e16)).toThrow(/out of range/);
  });

  it('formats the shortest exact decimal', () => {
    expect(formatMilli(1500)).toBe('1.5');
    expect(formatMilli(4000)).toBe('4');
    expect(formatMilli(1)).toBe('0.001');
    expect(formatMilli(10)).toBe('0.01');
    expect(formatMilli(0)).toBe('0');
    expect(formatMilli(-250)).toBe('-0.25');
    expect(fromMilli(1500)).toBe(1.5);
  });

  it('stays exact where floats drift: 0.1 + 0.2 a million times', () => {
    let milli = 0;
    let float = 0;
    const a = toMilli(0.1);
    const b = toMilli(0.2);
    for (let i = 0; i < 1_000_000; i++) {
      milli += a + b;
      float += 0.1 + 0.2;
    }
    expect(milli).toBe(300_000_000);
    expect(formatMilli(milli)).toBe('300000');
    expect(float).not.toBe(300000); // the reason this module exists
  });

  it('parses only plain decimals', () => {
    expect(parseDecimal('4')).toBe(4);
    expect(parseDecimal('0.5')).toBe(0.5);
    expect(parseDecimal('.5')).toBe(0.5);
    expect(parseDecimal('1e3')).toBe(1000);
    expect(parseDecimal('-2')).toBe(-2);
    for (const bad of ['', 'NaN', 'Infinity', 'abc', '0x10', '1.2.3', ' 1']) expect(parseDecimal(bad)).toBeUndefined();
  });
});

import { sameJson } from '../../../src/common/same-json';

describe('sameJson (is an agent record unchanged?)', () => {
  const cases: Array<[unknown, unknown]> = [
    [{ a: 1, b: [1, { c: 'x' }] }, { b: [1, { c: 'x' }], a: 1 }],
    [{ a: 1, gone: undefined }, { a: 1 }],
    [{ a: 1 }, { a: 1, gone: undefined }],
    [[], []],
    [null, null],
    ['s', 's'],
  ];
  test.each(cases)('%j and %j have the same JSON form (members in any order)', (a, b) => {
    expect(JSON.parse(JSON.stringify(a) ?? 'null')).toEqual(JSON.parse(JSON.stringify(b) ?? 'null'));
    expect(sameJson(a, b)).toBe(true);
  });

  const different: Array<[unknown, unknown]> = [
    [{ a: 1 }, { a: 2 }],
    [{ a: 1 }, { a: 1, b: 0 }],
    [{ a: 1, b: 0 }, { a: 1 }],
    [{ a: null }, {}],
    [[1, 2], [1]],
    [[1], { 0: 1 }],
    [{ 0: 1 }, [1]],
    [{ a: '1' }, { a: 1 }],
    [{ a: { b: [] } }, { a: { b: [null] } }],
    [null, {}],
  ];
  test.each(different)('%j and %j differ', (a, b) => {
    expect(JSON.stringify(a)).not.toBe(JSON.stringify(b));
    expect(sameJson(a, b)).toBe(false);
  });

  test('a record read back from JSON equals the one written', () => {
    const record = { info: { hostname: 'h', resources: [{ name: 'cpus', scalar: { value: 4 }, ranges: null }], attributes: [] }, lifecycle: 'REGISTERED', drain: undefined, total: [{ name: 'cpus', scalar: 4 }], registeredAt: 1.5 };
    expect(sameJson(JSON.parse(JSON.stringify(record)), record)).toBe(true);
    expect(sameJson(JSON.parse(JSON.stringify(record)), { ...record, registeredAt: 2 })).toBe(false);
  });
});

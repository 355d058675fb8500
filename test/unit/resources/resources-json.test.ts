import { ResourceError } from '../../../src/common/errors';
import { Resources } from '../../../src/common/resources';

function jsonError(json: unknown): string {
  try {
    Resources.fromJSON(json);
  } catch (e) {
    expect(e).toBeInstanceOf(ResourceError);
    expect((e as ResourceError).code).toBe('INVALID_RESOURCES');
    return (e as ResourceError).message;
  }
  throw new Error('expected fromJSON to throw');
}

const cpus = (value: unknown): unknown => ({ name: 'cpus', type: 'SCALAR', scalar: { value } });

describe('Resources JSON form', () => {
  it('writes Mesos-like JSON', () => {
    expect(Resources.parse('cpus(eng):1.5;ports:[1-2];zones:{a}').toJSON()).toEqual([
      { name: 'cpus', type: 'SCALAR', scalar: { value: 1.5 }, reservations: [{ type: 'STATIC', role: 'eng' }] },
      { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 1, end: 2 }] } },
      { name: 'zones', type: 'SET', set: { item: ['a'] } },
    ]);
  });

  it('reads Mesos variants: inferred type, flat labels, legacy role, camelCase volume, boolean flags', () => {
    const res = Resources.fromJSON([
      { name: 'mem', scalar: { value: 64 }, role: 'eng' },
      { name: 'cpus', scalar: { value: 1 }, reservations: [{ type: 'DYNAMIC', role: 'eng', labels: { team: 'db' } }] },
      { name: 'cpus', scalar: { value: 1 }, reservations: [{ type: 'DYNAMIC', role: 'eng', labels: { labels: [{ key: 'team', value: 'db' }] } }] },
      { name: 'disk', scalar: { value: 8 }, disk: { persistence: { id: 'v' }, volume: { containerPath: 'p', mode: 'RO' } }, shared: true },
      { name: 'gpus', scalar: { value: 1 }, revocable: {} },
    ]);
    expect(res.toString()).toBe('cpus(eng[DYNAMIC {team=db}]):2;disk[v:p:RO]<SHARED>:8;gpus{REV}:1;mem(eng):64');
  });

  it.each([
    [{}, 'must be an array of resources, got an object'],
    [[cpus(-3)], '[0].scalar.value: must be a non-negative number, got -3'],
    [[cpus(1), cpus(1), cpus('2')], '[2].scalar.value: must be a non-negative number, got "2"'],
    [[cpus(1), 'cpus'], '[1]: must be an object, got "cpus"'],
    [[{ type: 'SCALAR', scalar: { value: 1 } }], '[0].name: must be a non-empty string, got nothing'],
    [[{ name: 'x', type: 'TEXT', text: {} }], '[0].type: must be one of SCALAR, RANGES, SET, got "TEXT"'],
    [[{ name: 'x', scalar: { value: 1 }, set: { item: [] } }], '[0].type: is missing and cannot be inferred'],
    [[{ name: 'x', type: 'SCALAR', scalar: { value: 1 }, set: { item: [] } }], '[0].set: must be absent for a scalar resource'],
    [[{ name: 'p', type: 'RANGES', ranges: { range: [{ begin: 1, end: 1.5 }] } }], '[0].ranges.range[0].end: must be a non-negative integer, got 1.5'],
    [
      [{ name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 1, end: 9 }, { begin: 5, end: 6 }] } }],
      '[0]: ports: ranges [1-9] and [5-6] overlap',
    ],
    [[{ name: 'z', type: 'SET', set: { item: ['a', 3] } }], '[0].set.item[1]: must be a string, got 3'],
    [[{ ...(cpus(1) as object), reservations: [{ type: 'DYNAMIC' }] }], '[0].reservations[0].role: must be a non-empty string, got nothing'],
    [[{ ...(cpus(1) as object), reservations: [{ role: 'eng' }] }], '[0].reservations[0].type: must be STATIC or DYNAMIC, got nothing'],
    [[{ ...(cpus(1) as object), reservations: [{ type: 'DYNAMIC', role: 'e e' }] }], '[0]: invalid role "e e"'],
    [[{ name: 'disk', scalar: { value: 1 }, disk: { volume: { container_path: 'x', mode: 'RX' } } }], '[0].disk.volume.mode: must be RW or RO, got "RX"'],
    [[{ ...(cpus(1) as object), revocable: 'yes' }], '[0].revocable: must be {} or a boolean, got "yes"'],
    [[{ name: 'gpus', scalar: { value: 0.5 } }], '[0]: gpus must be a whole number'],
  ])('rejects %j naming the path', (json, expected) => {
    expect(jsonError(json)).toContain(expected);
  });
});

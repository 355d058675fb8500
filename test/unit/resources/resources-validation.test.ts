import { ResourceError } from '../../../src/common/errors';
import { Resources, validateResource, type Resource } from '../../../src/common/resources';

const base = { reservations: [] } as const;

function messageOf(r: Resource): string {
  try {
    Resources.of([r]);
  } catch (e) {
    expect(e).toBeInstanceOf(ResourceError);
    expect((e as ResourceError).code).toBe('INVALID_RESOURCES');
    return (e as ResourceError).message;
  }
  throw new Error('expected Resources.of to throw');
}

describe('validateResource (via Resources.of)', () => {
  it.each<[string, Resource, string]>([
    ['negative scalar', { ...base, name: 'cpus', kind: 'scalar', scalar: -1000 }, 'invalid resource "cpus:-1": value must be non-negative'],
    ['fractional gpus', { ...base, name: 'gpus', kind: 'scalar', scalar: 1500 }, 'invalid resource "gpus:1.5": gpus must be a whole number'],
    ['non-integer milli', { ...base, name: 'cpus', kind: 'scalar', scalar: 0.5 }, 'scalar must be an integer number of milli'],
    ['empty name', { ...base, name: '', kind: 'scalar', scalar: 1 }, 'name must be a non-empty string'],
    ['name with a delimiter', { ...base, name: 'cp;us', kind: 'scalar', scalar: 1 }, 'name must not contain ";"'],
    ['unknown kind', { ...base, name: 'x', kind: 'text' as 'scalar', scalar: 1 }, 'kind must be scalar, ranges or set, got "text"'],
    ['two value fields', { ...base, name: 'x', kind: 'scalar', scalar: 1, set: ['a'] }, 'must not have ranges or a set'],
    [
      'overlapping ranges',
      { ...base, name: 'ports', kind: 'ranges', ranges: [{ begin: 31000, end: 31010 }, { begin: 31005, end: 31020 }] },
      'ports: ranges [31000-31010] and [31005-31020] overlap',
    ],
    ['inverted range', { ...base, name: 'ports', kind: 'ranges', ranges: [{ begin: 5, end: 3 }] }, 'range [5-3]: begin is greater than end'],
    ['negative range', { ...base, name: 'ports', kind: 'ranges', ranges: [{ begin: -1, end: 3 }] }, 'range [-1-3]: bounds must be non-negative integers'],
    ['empty set item', { ...base, name: 'zones', kind: 'set', set: ['a', ''] }, 'set items must be non-empty strings'],
    ['duplicate set item', { ...base, name: 'zones', kind: 'set', set: ['a', 'a'] }, 'duplicate set item "a"'],
    ['set item with a comma', { ...base, name: 'zones', kind: 'set', set: ['a,b'] }, 'set item "a,b" must not contain ","'],
    ['reservation to *', { name: 'cpus', kind: 'scalar', scalar: 1, reservations: [{ type: 'DYNAMIC', role: '*' }] }, 'cannot reserve to role "*"'],
    ['invalid role', { name: 'cpus', kind: 'scalar', scalar: 1, reservations: [{ type: 'STATIC', role: 'a b' }] }, 'invalid role "a b"'],
    [
      'non-refining stack',
      { name: 'cpus', kind: 'scalar', scalar: 1, reservations: [{ type: 'STATIC', role: 'eng' }, { type: 'DYNAMIC', role: 'ads' }] },
      'reservation to "ads" cannot refine one to "eng": not a subrole',
    ],
    ['disk info on cpus', { ...base, name: 'cpus', kind: 'scalar', scalar: 1, disk: { persistence: { id: 'x' } } }, 'disk info is only allowed on the scalar resource "disk"'],
    ['shared non-volume', { ...base, name: 'disk', kind: 'scalar', scalar: 1, shared: true }, 'only persistent volumes can be shared'],
    [
      'reserved revocable',
      { name: 'cpus', kind: 'scalar', scalar: 1, reservations: [{ type: 'STATIC', role: 'eng' }], revocable: true },
      'revocable resources cannot be reserved',
    ],
  ])('rejects %s', (_what, resource, expected) => {
    expect(messageOf(resource)).toContain(expected);
    expect(() => validateResource(resource)).toThrow(ResourceError);
  });

  it('accepts valid resources of every kind', () => {
    const ok: Resource[] = [
      { ...base, name: 'cpus', kind: 'scalar', scalar: 1 },
      { ...base, name: 'gpus', kind: 'scalar', scalar: 2000 },
      { ...base, name: 'ports', kind: 'ranges', ranges: [{ begin: 5, end: 9 }, { begin: 1, end: 4 }] },
      { ...base, name: 'zones', kind: 'set', set: ['b', 'a'] },
      {
        name: 'disk',
        kind: 'scalar',
        scalar: 1,
        reservations: [{ type: 'STATIC', role: 'eng' }, { type: 'DYNAMIC', role: 'eng/ci', principal: 'p', labels: { a: 'b' } }],
        disk: { persistence: { id: 'v', principal: 'p' }, volume: { containerPath: 'd', mode: 'RO' } },
        shared: true,
      },
    ];
    for (const r of ok) expect(() => validateResource(r)).not.toThrow();
  });
});

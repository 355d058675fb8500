import fc from 'fast-check';
import { Resources } from '../../../src/common/resources';
import { ValidationError } from '../../../src/common/wire/problems';
import { resourcesFromWire, resourcesToWire } from '../../../src/common/wire/resources';
import { quantitiesFromWire, quantitiesToWire } from '../../../src/common/wire/quantities';
import type { Resource } from '../../../src/generated/berth/v1/Resource';
import { resourcesArb } from '../resources/arbitraries';
import { decodeResources } from './codec';

const cpus = (value: number | string, extra: Partial<Resource> = {}): Resource => ({ name: 'cpus', type: 'SCALAR', scalar: { value }, ...extra });

/** The ValidationError thrown by `fn` (fails the test if none). */
function problemsOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('expected a ValidationError');
}

describe('resourcesFromWire', () => {
  it('converts scalars, ranges, sets, reservation stacks, volumes and flags exactly', () => {
    const r = resourcesFromWire(
      decodeResources([
        cpus(0.1),
        cpus(0.2),
        { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31005, end: 31010 }, { begin: 31000, end: 31006 }, { begin: 31011, end: 31011 }] } },
        { name: 'zones', type: 'SET', set: { item: ['b', 'a', 'b'] } },
        {
          name: 'disk',
          type: 'SCALAR',
          scalar: { value: 64 },
          reservations: [
            { type: 'STATIC', role: 'eng' },
            { type: 'DYNAMIC', role: 'eng/db', principal: 'ops', labels: { labels: [{ key: 'team', value: 'db' }] } },
          ],
          disk: { persistence: { id: 'vol1' }, volume: { container_path: 'data', mode: 'MODE_UNSPECIFIED' } },
        },
        cpus(1, { revocable: true }),
      ]),
    );
    expect(r.scalar('cpus')).toBe(1300);
    expect(r.ranges('ports')).toEqual([{ begin: 31000, end: 31011 }]); // sorted and merged, as resources.proto promises
    expect(r.entries.find((e) => e.name === 'zones')?.set).toEqual(['a', 'b']);
    const vol = r.persistentVolumes().entries[0];
    expect(vol.reservations).toEqual([
      { type: 'STATIC', role: 'eng' },
      { type: 'DYNAMIC', role: 'eng/db', principal: 'ops', labels: { team: 'db' } },
    ]);
    expect(vol.disk).toEqual({ persistence: { id: 'vol1' }, volume: { containerPath: 'data', mode: 'RW' } });
    expect(r.revocable().scalar('cpus')).toBe(1000);
  });

  it('treats an absent list as empty', () => {
    expect(resourcesFromWire(undefined).isEmpty()).toBe(true);
    expect(resourcesFromWire(null).isEmpty()).toBe(true);
  });

  it.each<[string, Resource, string, string]>([
    ['negative scalar', cpus(-1), 'resources[0].scalar.value', 'must be non-negative, got -1'],
    ['NaN scalar', cpus(NaN), 'resources[0].scalar.value', 'must be a finite number, got NaN'],
    ['infinite scalar', cpus(Infinity), 'resources[0].scalar.value', 'must be a finite number, got Infinity'],
    ['fractional gpus', { name: 'gpus', type: 'SCALAR', scalar: { value: 1.5 } }, 'resources[0].scalar.value', 'gpus must be a whole number, got 1.5'],
    ['empty name', { name: '', type: 'SCALAR', scalar: { value: 1 } }, 'resources[0].name', 'must be a non-empty string, got ""'],
    ['bad name', { name: 'a b', type: 'SCALAR', scalar: { value: 1 } }, 'resources[0].name', 'invalid name "a b": name must not contain " "'],
    ['missing type', { name: 'cpus', scalar: { value: 1 } }, 'resources[0].type', 'must be SCALAR, RANGES or SET, got "VALUE_TYPE_UNSPECIFIED"'],
    ['TEXT type', { name: 'cpus', type: 'TEXT', scalar: { value: 1 } }, 'resources[0].type', 'must be SCALAR, RANGES or SET, got "TEXT"'],
    ['missing member', { name: 'cpus', type: 'SCALAR' }, 'resources[0].scalar', 'is required for a SCALAR resource'],
    ['wrong member', { name: 'ports', type: 'SCALAR', ranges: { range: [] } }, 'resources[0].ranges', 'must not be set for a SCALAR resource'],
    ['begin after end', { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 9, end: 3 }] } }, 'resources[0].ranges.range[0]', 'begin 9 is greater than end 3'],
    ['range beyond 2^53', { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 1, end: '18446744073709551615' }] } }, 'resources[0].ranges.range[0].end', 'must be at most 9007199254740991, got 18446744073709551615'],
    ['bad set item', { name: 'zones', type: 'SET', set: { item: ['a b'] } }, 'resources[0].set.item[0]', 'set item "a b" must not contain " "'],
    ['unset reservation type', cpus(1, { reservations: [{ role: 'eng' }] }), 'resources[0].reservations[0].type', 'must be STATIC or DYNAMIC, got "TYPE_UNSPECIFIED"'],
    ['reservation to *', cpus(1, { reservations: [{ type: 'DYNAMIC', role: '*' }] }), 'resources[0].reservations[0].role', 'invalid role "*": cannot reserve to role "*"'],
    ['bad reservation role', cpus(1, { reservations: [{ type: 'DYNAMIC', role: 'a b' }] }), 'resources[0].reservations[0].role', 'invalid role "a b": role must not contain " "'],
    ['non-refining stack', cpus(1, { reservations: [{ type: 'STATIC', role: 'eng' }, { type: 'DYNAMIC', role: 'ads' }] }), 'resources[0].reservations[1].role', '"ads" does not refine the reservation below it ("eng")'],
    ['STATIC on DYNAMIC', cpus(1, { reservations: [{ type: 'DYNAMIC', role: 'eng' }, { type: 'STATIC', role: 'eng/a' }] }), 'resources[0].reservations[1].type', 'a STATIC reservation cannot refine a DYNAMIC one'],
    ['reservation label without value', cpus(1, { reservations: [{ type: 'DYNAMIC', role: 'eng', labels: { labels: [{ key: 'k' }] } }] }), 'resources[0].reservations[0].labels.labels[0].value', 'label "k" needs a value here'],
    ['repeated reservation label key', cpus(1, { reservations: [{ type: 'DYNAMIC', role: 'eng', labels: { labels: [{ key: 'k', value: 'a' }, { key: 'k', value: 'b' }] } }] }), 'resources[0].reservations[0].labels.labels[1].key', 'repeats the key "k"'],
    ['empty persistence id', { name: 'disk', type: 'SCALAR', scalar: { value: 1 }, disk: { persistence: { id: '' } } }, 'resources[0].disk.persistence.id', 'must be a non-empty string, got ""'],
    ['volume with a host path', { name: 'disk', type: 'SCALAR', scalar: { value: 1 }, disk: { volume: { container_path: 'd', host_path: '/x' } } }, 'resources[0].disk.volume.host_path', 'must not be set inside DiskInfo'],
    ['volume without path', { name: 'disk', type: 'SCALAR', scalar: { value: 1 }, disk: { volume: { container_path: '' } } }, 'resources[0].disk.volume.container_path', 'must be a non-empty path, got ""'],
    ['disk info on cpus', cpus(1, { disk: { persistence: { id: 'v' } } }), 'resources[0]', 'disk info is only allowed on the scalar resource "disk"'],
    ['reserved revocable', cpus(1, { revocable: true, reservations: [{ type: 'DYNAMIC', role: 'eng' }] }), 'resources[0]', 'revocable resources cannot be reserved'],
    ['shared non-volume', cpus(1, { shared: true }), 'resources[0]', 'only persistent volumes can be shared'],
  ])('rejects a %s naming the field and the value', (_kind, wire, field, message) => {
    const err = problemsOf(() => resourcesFromWire(decodeResources([wire])));
    expect(err.code).toBe('INVALID_ARGUMENT');
    const problem = err.problems.find((p) => p.field === field);
    expect(problem?.message).toContain(message);
    expect(err.message).toContain(`${field}: `);
  });

  it('rejects a hand-built non-numeric scalar (the encoder would have made it NaN)', () => {
    const err = problemsOf(() => resourcesFromWire([cpus('lots')]));
    expect(err.problems).toEqual([{ field: 'resources[0].scalar.value', message: 'must be a number, got "lots"' }]);
  });

  it('uses the given path and reports every problem of every resource at once', () => {
    const err = problemsOf(() => resourcesFromWire(decodeResources([cpus(1), cpus(2), cpus(-1), { name: '', type: 'SET' }]), 'task_infos[0].resources'));
    expect(err.problems.map((p) => p.field)).toEqual(['task_infos[0].resources[2].scalar.value', 'task_infos[0].resources[3].name', 'task_infos[0].resources[3].set']);
    expect(err.message).toContain('task_infos[0].resources[2].scalar.value: must be non-negative, got -1');
  });

  it('reads equal plain lists once (one shared Resources), and never answers an unequal or invalid list from memory', () => {
    const plain = (): Resource[] => [cpus(0.25), { name: 'mem', type: 'SCALAR', scalar: { value: 64 } }, { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 31001 }] } }];
    resourcesFromWire(decodeResources(plain())); // its names are valid from now on
    const first = resourcesFromWire(decodeResources(plain()));
    expect(resourcesFromWire(decodeResources(plain()))).toBe(first);
    expect(first.toString()).toBe('cpus:0.25;mem:64;ports:[31000-31001]');
    // Each of these differs from the remembered list in one field: read in full, and right.
    expect(resourcesFromWire(decodeResources([cpus(0.5), ...plain().slice(1)])).scalar('cpus')).toBe(500);
    expect(resourcesFromWire(decodeResources([cpus(0.25, { revocable: true }), ...plain().slice(1)])).revocable().scalar('cpus')).toBe(250);
    expect(resourcesFromWire(decodeResources([cpus(0.25, { reservations: [{ type: 'STATIC', role: 'eng' }] }), ...plain().slice(1)])).reserved('eng').scalar('cpus')).toBe(250);
    expect(resourcesFromWire([...plain().slice(0, 2), { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: '31000', end: '31002' }] } }]).ranges('ports')).toEqual([{ begin: 31000, end: 31002 }]);
    expect(problemsOf(() => resourcesFromWire([cpus(-0.25), ...plain().slice(1)])).problems[0]).toEqual({ field: 'resources[0].scalar.value', message: 'must be non-negative, got -0.25' });
    expect(problemsOf(() => resourcesFromWire([cpus(0.25, { ranges: { range: [] } }), ...plain().slice(1)], 'tasks[3].resources')).problems[0]!.field).toBe('tasks[3].resources[0].ranges');
    // A name never seen valid is read in full: its problem is reported, every time.
    for (let i = 0; i < 2; i++) expect(problemsOf(() => resourcesFromWire([{ name: 'cpus:S=1;mem', type: 'SCALAR', scalar: { value: 64 } }])).problems[0]!.field).toBe('resources[0].name');
  });

  it('reports two volumes with one id on the list path', () => {
    const vol = (mb: number): Resource => ({ name: 'disk', type: 'SCALAR', scalar: { value: mb }, reservations: [{ type: 'DYNAMIC', role: 'eng' }], disk: { persistence: { id: 'v' } } });
    const err = problemsOf(() => resourcesFromWire([vol(1), vol(2)]));
    expect(err.problems[0].field).toBe('resources');
    expect(err.problems[0].message).toContain('persistent volume "v" appears twice');
  });
});

describe('resourcesToWire', () => {
  it('prints scalars from their exact milli value', () => {
    const r = Resources.scalar('cpus', 0.1).plus(Resources.scalar('cpus', 0.2));
    expect(resourcesToWire(r)[0].scalar).toEqual({ value: 0.3 });
  });

  it('round-trips any collection through the protobuf encoding', () => {
    fc.assert(
      fc.property(resourcesArb(), (r) => {
        expect(resourcesFromWire(decodeResources(resourcesToWire(r))).equals(r)).toBe(true);
        expect(resourcesFromWire(resourcesToWire(r)).equals(r)).toBe(true);
      }),
    );
  });

  it('keeps the decoded shape, so a converted list equals its own decoding', () => {
    fc.assert(
      fc.property(resourcesArb(), (r) => {
        const wire = resourcesToWire(r);
        expect(decodeResources(wire)).toEqual(JSON.parse(JSON.stringify(wire)));
      }),
      { numRuns: 50 },
    );
  });
});

describe('quantities', () => {
  it('converts, adds repeated names, and round-trips', () => {
    const q = quantitiesFromWire([{ name: 'cpus', value: 0.5 }, { name: 'mem', value: 32 }, { name: 'cpus', value: 0.25 }, { name: 'disk', value: 0 }]);
    expect(q).toEqual(new Map([['cpus', 750], ['mem', 32000]]));
    expect(quantitiesFromWire(quantitiesToWire(q))).toEqual(q);
  });

  it.each<[unknown, string, string]>([
    [{ name: 'cpus', value: -1 }, 'q[0].value', 'must be non-negative, got -1'],
    [{ name: 'cpus', value: NaN }, 'q[0].value', 'must be a finite number, got NaN'],
    [{ name: 'gpus', value: 0.5 }, 'q[0].value', 'gpus must be a whole number, got 0.5'],
    [{ name: '', value: 1 }, 'q[0].name', 'must be a non-empty string, got ""'],
  ])('rejects %j', (q, field, message) => {
    const err = problemsOf(() => quantitiesFromWire([q as never], 'q'));
    expect(err.problems).toEqual([{ field, message: expect.stringContaining(message) }]);
  });
});

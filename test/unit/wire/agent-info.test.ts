import type { Attribute as AllocatorAttribute, AgentDescription, Filters, Unavailability } from '../../../src/allocator/types';
import {
  attributesFromWire,
  attributesToWire,
  domainFromWire,
  domainToWire,
  type Attribute,
  type FaultDomain,
} from '../../../src/common/wire/attributes';
import { labelsFromWire, labelsToRecord, labelsToWire } from '../../../src/common/wire/labels';
import { formatProblems, Problems, ValidationError } from '../../../src/common/wire/problems';
import {
  durationFromWire,
  durationToWire,
  filtersFromWire,
  filtersToWire,
  timeFromWire,
  timeToWire,
  unavailabilityFromWire,
  unavailabilityToWire,
  type RefuseFilter,
  type UnavailabilityWindow,
} from '../../../src/common/wire/time';
import type { Attribute as WireAttribute } from '../../../src/generated/berth/v1/Attribute';
import { decodeAgentInfo, decodeCall } from './codec';

// The wire layer mirrors the allocator's types (common may not import the allocator): keep them
// assignable both ways, checked by the compiler.
const toAllocator = (a: Attribute): AllocatorAttribute => a;
const fromAllocator = (a: AllocatorAttribute): Attribute => a;
const domainToAllocator = (d: FaultDomain): AgentDescription['domain'] => d;
const filterToAllocator = (f: RefuseFilter): Filters => f;
const windowToAllocator = (u: UnavailabilityWindow): Unavailability => u;
void [toAllocator, fromAllocator, domainToAllocator, filterToAllocator, windowToAllocator];

function problemsOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('expected a ValidationError');
}

describe('attributes', () => {
  it('round-trip text, scalar and ranges through the protobuf encoding', () => {
    const attrs: Attribute[] = [{ name: 'rack', text: 'r1' }, { name: 'level', scalar: 2.5 }, { name: 'slots', ranges: [{ begin: 1, end: 4 }, { begin: 8, end: 8 }] }];
    const decoded = decodeAgentInfo({ hostname: 'h', attributes: attributesToWire(attrs) }).attributes;
    expect(attributesFromWire(decoded)).toEqual(attrs);
  });

  it('sorts and merges ranges', () => {
    expect(attributesFromWire([{ name: 's', type: 'RANGES', ranges: { range: [{ begin: 5, end: 6 }, { begin: 1, end: 4 }] } }])).toEqual([{ name: 's', ranges: [{ begin: 1, end: 6 }] }]);
  });

  it.each<[string, WireAttribute, string, string]>([
    ['empty name', { name: '', type: 'TEXT', text: { value: 'x' } }, 'attributes[0].name', 'must not be empty'],
    ['SET type', { name: 'a', type: 'SET' }, 'attributes[0].type', 'must be TEXT, SCALAR or RANGES, got "SET"'],
    ['missing member', { name: 'a', type: 'TEXT' }, 'attributes[0].text', 'is required for a TEXT attribute'],
    ['wrong member', { name: 'a', type: 'TEXT', text: { value: 'x' }, scalar: { value: 1 } }, 'attributes[0].scalar', 'must not be set for a TEXT attribute'],
    ['NaN scalar', { name: 'a', type: 'SCALAR', scalar: { value: NaN } }, 'attributes[0].scalar.value', 'must be a finite number, got NaN'],
    ['reversed range', { name: 'a', type: 'RANGES', ranges: { range: [{ begin: 4, end: 1 }] } }, 'attributes[0].ranges.range[0]', 'begin 4 is greater than end 1'],
  ])('rejects a %s', (_kind, wire, field, message) => {
    const err = problemsOf(() => attributesFromWire(decodeAgentInfo({ attributes: [wire] }).attributes));
    expect(err.problems).toEqual([{ field, message: expect.stringContaining(message) }]);
  });

  it('rejects a repeated name, pointing at the first', () => {
    const err = problemsOf(() => attributesFromWire([{ name: 'rack', type: 'TEXT', text: { value: 'a' } }, { name: 'rack', type: 'TEXT', text: { value: 'b' } }]));
    expect(err.message).toBe('attributes[1].name: "rack" repeats attributes[0]: attribute names must be unique');
  });

  it('refuses to send a SET attribute', () => {
    expect(() => attributesToWire([{ name: 'a', set: ['x'] }])).toThrow(/attributes\[0\]: attribute "a" has no TEXT, SCALAR or RANGES value/);
  });
});

describe('domain', () => {
  it('round-trips a fault domain, and absent stays absent', () => {
    const d = { region: 'eu-west-1', zone: 'eu-west-1b' };
    expect(domainFromWire(decodeAgentInfo({ domain: domainToWire(d) }).domain)).toEqual(d);
    expect(domainFromWire(decodeAgentInfo({}).domain)).toBeUndefined();
    expect(domainFromWire(domainToWire(undefined))).toBeUndefined();
  });

  it('needs both region and zone', () => {
    const err = problemsOf(() => domainFromWire({ fault_domain: { region: { name: 'r' } } }, 'agent_info.domain'));
    expect(err.message).toBe('agent_info.domain.fault_domain.zone.name: must not be empty');
    expect(() => domainToWire({ region: 'r' })).toThrow(ValidationError);
  });
});

describe('labels', () => {
  it('keep order, repeated keys and absent values', () => {
    const labels = [{ key: 'a', value: '1' }, { key: 'a', value: '2' }, { key: 'b' }, { key: 'c', value: '' }];
    const decoded = decodeCall({ type: 'SUBSCRIBE', subscribe: { framework_info: { labels: labelsToWire(labels) } } }).subscribe!.framework_info!.labels;
    expect(labelsFromWire(decoded)).toEqual(labels);
  });

  it('convert to and from a record', () => {
    expect(labelsToRecord(labelsFromWire(labelsToWire({ z: '1', a: '' })))).toEqual({ a: '', z: '1' });
  });

  it('reject an empty key and a repeated pair', () => {
    const err = problemsOf(() => labelsFromWire({ labels: [{ key: '' }, { key: 'k', value: 'v' }, { key: 'k', value: 'v' }] }, 'task.labels'));
    expect(err.problems).toEqual([
      { field: 'task.labels.labels[0].key', message: 'must be a non-empty string, got ""' },
      { field: 'task.labels.labels[2]', message: 'repeats the label "k"="v"' },
    ]);
  });
});

describe('time', () => {
  it('converts durations and points in time to milliseconds exactly', () => {
    expect(durationFromWire({ nanoseconds: '1500000' })).toBe(1.5);
    expect(durationFromWire(null)).toBeUndefined();
    const now = 1_767_225_600_123; // 2026-01-01T00:00:00.123Z
    expect(timeToWire(now)).toEqual({ nanoseconds: '1767225600123000000' });
    expect(timeFromWire(timeToWire(now))).toBe(now);
    expect(timeFromWire({ nanoseconds: '-1000000' })).toBe(-1);
    expect(durationFromWire(durationToWire(3000))).toBe(3000);
    expect(durationFromWire(durationToWire(0.25))).toBe(0.25);
  });

  it('rejects negative, malformed and (when positive is asked) zero durations', () => {
    expect(problemsOf(() => durationFromWire({ nanoseconds: '-5' }, 'kill_policy.grace_period')).message).toBe('kill_policy.grace_period.nanoseconds: must be non-negative, got -5');
    expect(problemsOf(() => durationFromWire({ nanoseconds: '1.5' })).message).toBe('duration.nanoseconds: must be an integer, got "1.5"');
    expect(problemsOf(() => durationFromWire({ nanoseconds: '0' }, 'max_completion_time', { positive: true })).message).toBe('max_completion_time.nanoseconds: must be positive, got 0');
    expect(() => timeToWire(NaN)).toThrow(/must be a finite number of milliseconds, got NaN/);
  });

  it('converts unavailability windows', () => {
    const u = { startMs: 1000, durationMs: 60_000 };
    expect(unavailabilityFromWire(unavailabilityToWire(u))).toEqual(u);
    expect(unavailabilityFromWire(unavailabilityToWire({ startMs: 5 }))).toEqual({ startMs: 5 });
    expect(problemsOf(() => unavailabilityFromWire({ duration: { nanoseconds: 1 } })).message).toBe('unavailability.start: is required');
  });
});

describe('filters', () => {
  it('keep refuse_seconds as given, absent as absent', () => {
    const decoded = decodeCall({ type: 'DECLINE', decline: { offer_ids: [], filters: { refuse_seconds: 0 } } }).decline!.filters;
    expect(filtersFromWire(decoded)).toEqual({ refuseSeconds: 0 });
    expect(filtersFromWire(decodeCall({ type: 'DECLINE', decline: { filters: {} } }).decline!.filters)).toEqual({});
    expect(filtersFromWire(null)).toEqual({});
    expect(filtersFromWire(filtersToWire({ refuseSeconds: -1 }))).toEqual({ refuseSeconds: -1 });
  });

  it('reject NaN', () => {
    expect(problemsOf(() => filtersFromWire({ refuse_seconds: NaN }, 'accept.filters')).message).toBe('accept.filters.refuse_seconds: must be a number of seconds, got NaN');
  });
});

describe('problems', () => {
  it('collects, captures library errors, and throws once', () => {
    const p = new Problems();
    p.add('a', 'bad');
    p.capture('b', () => {
      throw new RangeError('worse');
    });
    p.capture('c', () => {
      throw ValidationError.of('c.d', 'nested');
    });
    expect(() => p.capture('e', () => {
      throw new TypeError('a bug');
    })).toThrow(TypeError);
    expect(() => p.throwIfAny()).toThrow('a: bad; b: worse; c.d: nested');
  });

  it('spells out ten problems and counts the rest', () => {
    const list = Array.from({ length: 13 }, (_, i) => ({ field: `f${i}`, message: 'x' }));
    expect(formatProblems(list)).toMatch(/f9: x; … and 3 more problems$/);
    expect(new ValidationError(list).problems).toHaveLength(13);
  });
});

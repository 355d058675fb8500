import { checkConstraints, fieldValue, parseConstraint, parseConstraints, type PlacementCandidate } from '../../../../src/frameworks/sdk/constraints';
import { ValidationError } from '../../../../src/common/wire/problems';

const agent = (hostname: string, attrs: Record<string, string | number> = {}, domain?: { region: string; zone: string }): PlacementCandidate => ({
  hostname,
  attributes: Object.entries(attrs).map(([name, v]) => (typeof v === 'number' ? { name, scalar: v } : { name, text: v })),
  ...(domain === undefined ? {} : { domain }),
});

const check = (c: unknown, candidate: PlacementCandidate, placed: PlacementCandidate[] = []) => checkConstraints([parseConstraint(c)], candidate, placed);

describe('parseConstraint', () => {
  it('accepts the array, string and object forms alike', () => {
    expect(parseConstraint(['hostname', 'UNIQUE'])).toEqual({ field: 'hostname', operator: 'UNIQUE', text: 'hostname:UNIQUE' });
    expect(parseConstraint('rack:LIKE:r[12]:x')).toEqual({ field: 'rack', operator: 'LIKE', value: 'r[12]:x', text: 'rack:LIKE:r[12]:x' });
    expect(parseConstraint({ attribute: 'zone', operator: 'EQ', value: 'a' })).toEqual({ field: 'zone', operator: 'IS', value: 'a', text: 'zone:IS:a' });
    expect(parseConstraint(['rack', 'max_per', 2])).toMatchObject({ operator: 'MAX_PER', value: '2' });
    expect(parseConstraint(['@hostname', 'CLUSTER', 'h1'])).toMatchObject({ field: 'hostname', text: 'hostname:CLUSTER:h1' });
  });

  it('names the bad part and value', () => {
    const msg = (c: unknown): string => {
      try {
        parseConstraint(c, 'constraints[0]');
        return 'no error';
      } catch (e) {
        expect(e).toBeInstanceOf(ValidationError);
        return (e as Error).message;
      }
    };
    expect(msg(['hostname', 'UNIQ'])).toBe('constraints[0].operator: must be one of UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS, got "UNIQ"');
    expect(msg(['rack', 'LIKE'])).toBe('constraints[0].value: LIKE needs a value');
    expect(msg(['rack', 'MAX_PER', 'two'])).toBe('constraints[0].value: MAX_PER needs a whole number >= 1, got "two"');
    expect(msg(['rack', 'LIKE', '(('])).toMatch(/^constraints\[0\]\.value: is not a valid regular expression/);
    expect(msg(['hostname', 'UNIQUE', 'x'])).toBe('constraints[0].value: UNIQUE takes no value, got "x"');
    expect(msg(['a'])).toBe('constraints[0]: must be [field, OPERATOR] or [field, OPERATOR, value], got an array of 1');
    expect(msg(42)).toMatch(/^constraints\[0\]: must be/);
  });

  it('lists every bad entry of a list', () => {
    expect(() => parseConstraints([['hostname', 'UNIQUE'], ['x', 'NOPE'], ['y', 'IS']])).toThrow(
      'constraints[1].operator: must be one of UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS, got "NOPE"; constraints[2].value: IS needs a value',
    );
    expect(parseConstraints(undefined)).toEqual([]);
  });
});

describe('checkConstraints', () => {
  it('UNIQUE: one task per value', () => {
    expect(check(['hostname', 'UNIQUE'], agent('h1'), [agent('h2')])).toEqual({ ok: true });
    expect(check(['hostname', 'UNIQUE'], agent('h1'), [agent('h1')])).toMatchObject({ ok: false, reason: 'hostname:UNIQUE: hostname h1 already has a task' });
    expect(check(['rack', 'UNIQUE'], agent('h1', { rack: 'r1' }), [agent('h2', { rack: 'r1' })]).ok).toBe(false);
  });

  it('CLUSTER: with a value, that value; without, where the others are', () => {
    expect(check(['rack', 'CLUSTER', 'r1'], agent('h1', { rack: 'r1' })).ok).toBe(true);
    expect(check(['rack', 'CLUSTER', 'r1'], agent('h1', { rack: 'r2' }))).toMatchObject({ ok: false, reason: 'rack:CLUSTER:r1: rack is r2' });
    expect(check(['rack', 'CLUSTER'], agent('h1', { rack: 'r2' })).ok).toBe(true);
    expect(check(['rack', 'CLUSTER'], agent('h1', { rack: 'r2' }), [agent('h9', { rack: 'r1' })]).ok).toBe(false);
    expect(check(['rack', 'CLUSTER'], agent('h1', { rack: 'r1' }), [agent('h9', { rack: 'r1' })]).ok).toBe(true);
  });

  it('GROUP_BY: spreads evenly; with a count, waits for unseen values', () => {
    const placed = [agent('x', { zone: 'a' }), agent('y', { zone: 'b' })];
    expect(check(['zone', 'GROUP_BY'], agent('h', { zone: 'a' }), placed).ok).toBe(true);
    const more = [...placed, agent('z', { zone: 'a' })];
    expect(check(['zone', 'GROUP_BY'], agent('h', { zone: 'a' }), more).ok).toBe(false);
    expect(check(['zone', 'GROUP_BY'], agent('h', { zone: 'b' }), more).ok).toBe(true);
    // Three zones expected, two seen: only the unseen third (count 0) is acceptable.
    expect(check(['zone', 'GROUP_BY', '3'], agent('h', { zone: 'a' }), placed).ok).toBe(false);
    expect(check(['zone', 'GROUP_BY', '3'], agent('h', { zone: 'c' }), placed).ok).toBe(true);
  });

  it('LIKE and UNLIKE: anchored regular expressions; UNLIKE holds when the attribute is missing', () => {
    expect(check(['rack', 'LIKE', 'r[12]'], agent('h', { rack: 'r1' })).ok).toBe(true);
    expect(check(['rack', 'LIKE', 'r[12]'], agent('h', { rack: 'r12' })).ok).toBe(false);
    expect(check(['rack', 'LIKE', 'r.*'], agent('h'))).toMatchObject({ ok: false, reason: 'rack:LIKE:r.*: agent h has no rack' });
    expect(check(['rack', 'UNLIKE', 'r[12]'], agent('h', { rack: 'r3' })).ok).toBe(true);
    expect(check(['rack', 'UNLIKE', 'r[12]'], agent('h', { rack: 'r2' })).ok).toBe(false);
    expect(check(['rack', 'UNLIKE', 'r[12]'], agent('h')).ok).toBe(true);
  });

  it('MAX_PER: at most n per value', () => {
    const placed = [agent('a', { rack: 'r1' }), agent('b', { rack: 'r1' })];
    expect(check(['rack', 'MAX_PER', '3'], agent('c', { rack: 'r1' }), placed).ok).toBe(true);
    expect(check(['rack', 'MAX_PER', '2'], agent('c', { rack: 'r1' }), placed)).toMatchObject({ ok: false, reason: 'rack:MAX_PER:2: rack r1 already has 2 tasks' });
    expect(check(['rack', 'MAX_PER', '2'], agent('c', { rack: 'r2' }), placed).ok).toBe(true);
  });

  it('IS: exact text; scalars compare as numbers rounded to thousandths', () => {
    expect(check(['os', 'IS', 'linux'], agent('h', { os: 'linux' })).ok).toBe(true);
    expect(check(['os', 'IS', 'linux'], agent('h', { os: 'Linux' })).ok).toBe(false);
    expect(check(['level', 'IS', '2.0'], agent('h', { level: 2 })).ok).toBe(true);
    expect(check(['level', 'IS', '2.5'], agent('h', { level: 2.0004 })).ok).toBe(false);
  });

  it('reads @region and @zone from the fault domain', () => {
    const a = agent('h', {}, { region: 'eu', zone: 'eu-1' });
    expect(check(['@zone', 'IS', 'eu-1'], a).ok).toBe(true);
    expect(check(['@region', 'IS', 'us'], a).ok).toBe(false);
    expect(check(['@zone', 'IS', 'eu-1'], agent('h')).ok).toBe(false);
    expect(fieldValue({ hostname: 'h', attributes: [{ name: 'slots', ranges: [{ begin: 1, end: 4 }, { begin: 6, end: 6 }] }] }, 'slots')).toBe('[1-4,6]');
  });

  it('all constraints must hold; the first failure is the reason', () => {
    const cs = parseConstraints([['hostname', 'UNIQUE'], ['rack', 'IS', 'r1']]);
    expect(checkConstraints(cs, agent('h1', { rack: 'r2' }), [])).toMatchObject({ ok: false, reason: 'rack:IS:r1: rack is r2' });
    expect(checkConstraints(cs, agent('h1', { rack: 'r1' }), [agent('h1')])).toMatchObject({ ok: false, constraint: { text: 'hostname:UNIQUE' } });
    expect(checkConstraints(cs, agent('h1', { rack: 'r1' }), [agent('h2')])).toEqual({ ok: true });
  });

  it('runs LIKE/UNLIKE patterns that backtrack catastrophically in JavaScript in linear time, and refuses what RE2 cannot run', () => {
    const like = parseConstraint(['hostname', 'LIKE', '(.*.*)*x']);
    expect(checkConstraints([like], { hostname: `${'y'.repeat(5_000)}!`, attributes: [] }, [])).toMatchObject({ ok: false });
    expect(() => parseConstraint(['rack', 'UNLIKE', '(a)\\1'])).toThrow(/constraint\.value: is not a valid regular expression: .*no backreferences/);
    expect(parseConstraint(['rack', 'LIKE', 'r(1|2)+'])).toMatchObject({ operator: 'LIKE' });
  });
});


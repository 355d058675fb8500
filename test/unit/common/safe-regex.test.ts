import { compileSafeRegex } from '../../../src/common/safe-regex';
import { compileConstraints } from '../../../src/allocator/constraints';
import { readConstraint } from '../../../src/frameworks/sdk/constraints';

describe('compileSafeRegex', () => {
  it('matches the whole value, as RE2 FullMatch', () => {
    const re = compileSafeRegex('r[12]');
    expect(re.test('r1')).toBe(true);
    expect(re.test('r2')).toBe(true);
    expect(re.test('rack-r1')).toBe(false);
    expect(re.test('r12')).toBe(false);
    expect(compileSafeRegex('eu-(west|east)-[0-9]+').test('eu-west-12')).toBe(true);
    expect(compileSafeRegex('a|b').test('ab')).toBe(false); // the alternation stays inside the anchors
  });

  it('accepts the patterns constraints use, including nested repetition (linear on RE2)', () => {
    for (const ok of ['rack-.*', '(abc)+', '(a|b)*c', '[(+*)]+', 'a{2,3}b+', '(?:ssd|hdd)', '\\(x+\\)+', '(?<zone>z[0-9]+)', 'x?(y)?', '(a+)+', '^(\\w|\\d)+$', '(.*.*)*x']) {
      expect(() => compileSafeRegex(ok)).not.toThrow();
    }
  });

  it('refuses what RE2 cannot run in linear time, saying why', () => {
    for (const bad of ['(a)\\1', '(?<n>a)\\k<n>', 'a(?=b)', '(?<!x)y']) {
      expect(() => compileSafeRegex(bad)).toThrow(/linear time/);
    }
    expect(() => compileSafeRegex('a)|(b')).toThrow(SyntaxError);
    expect(() => compileSafeRegex('(')).toThrow(/missing \)/);
  });

  it('gives the same answer from its memory of earlier values', () => {
    const re = compileSafeRegex('[a-z]+-[0-9]');
    for (let round = 0; round < 3; round++) {
      expect(re.test('web-1')).toBe(true);
      expect(re.test('web-x')).toBe(false);
    }
    const long = `${'a'.repeat(5000)}-1`;
    expect(re.test(long)).toBe(true);
    expect(re.test(`${long}!`)).toBe(false);
  });

  it('answers patterns that backtrack exponentially in JavaScript on long values', () => {
    // ^(\w|\d)+$ against 40 word characters and a "!" takes minutes on a backtracking engine.
    const value = `${'a1'.repeat(20)}!`;
    expect(compileSafeRegex('(\\w|\\d)+').test(value)).toBe(false);
    expect(compileSafeRegex('(a+)+').test(`${'a'.repeat(10_000)}b`)).toBe(false);
  });
});

describe('constraint regexes run on RE2', () => {
  const agent = (hostname: string) => ({ hostname, attributes: [] });

  it('allocator offer constraints', () => {
    const p = compileConstraints({ groups: [{ predicates: [{ selector: { pseudo: 'HOSTNAME' }, op: 'TEXT_MATCHES', regex: '(\\w|\\d)+' }] }] })!;
    expect(p(agent('node1') as never)).toBe(true);
    expect(p(agent(`${'x'.repeat(10_000)}.`) as never)).toBe(false);
    expect(() => compileConstraints({ groups: [{ predicates: [{ selector: { pseudo: 'HOSTNAME' }, op: 'TEXT_MATCHES', regex: '(a)\\1' }] }] }, 'c'))
      .toThrow(/c\.groups\[0\]\.predicates\[0\]\.regex: invalid regular expression "\(a\)\\\\1": .*linear time/);
  });

  it('framework LIKE constraints name the field and the value', () => {
    const problems = { add: jest.fn(), size: 0 };
    problems.add.mockImplementation(() => { problems.size++; });
    expect(readConstraint(['rack', 'LIKE', '(a+)+'], 'constraints[0]', problems as never)).toBeDefined();
    expect(readConstraint(['rack', 'LIKE', 'a(?=b)'], 'constraints[1]', problems as never)).toBeUndefined();
    expect(problems.add).toHaveBeenCalledWith('constraints[1].value', expect.stringMatching(/not a valid regular expression: .*got "a\(\?=b\)"/));
  });
});

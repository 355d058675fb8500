import { regexHazard } from '../../../src/common/safe-regex';

describe('regexHazard', () => {
  it('accepts the patterns constraints use', () => {
    for (const ok of ['r[12]', 'rack-.*', 'eu-(west|east)-[0-9]+', '(abc)+', '(a|b)*c', '[(+*)]+', 'a{2,3}b+', '(?:ssd|hdd)', '\\(x+\\)+', '(?<zone>z[0-9]+)', 'x?(y)?']) {
      expect([ok, regexHazard(ok)]).toEqual([ok, undefined]);
    }
  });

  it('refuses nested repetition and backreferences', () => {
    for (const bad of ['(a+)+', '(.*.*)*x', '((ab)*)+', '(a|b+)*', '(x{2,})+', '(a)\\1', '(?<n>a)\\k<n>', '(?:a*b?)+']) {
      expect([bad, regexHazard(bad)]).toEqual([bad, expect.any(String)]);
    }
  });
});

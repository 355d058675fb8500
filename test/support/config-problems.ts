import { ConfigError } from '../../src/common/config';

/** The messages of the ConfigError `fn` throws; fails the test when it throws nothing or something else. */
export function configProblems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.map((p) => p.message);
  }
  throw new Error('expected a ConfigError');
}

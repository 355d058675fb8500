import { roleProblem, MAX_ROLE_LENGTH } from '../../../src/common/roles';
import { checkHostname, MAX_HOSTNAME_LENGTH } from '../../../src/master/validation/hostname';

/** Names that end up in every offer and in the registry are bounded (found by the flood: 1 MiB names were accepted). */
describe('bounded names', () => {
  test('roles: at most MAX_ROLE_LENGTH characters', () => {
    expect(roleProblem('a'.repeat(MAX_ROLE_LENGTH))).toBeUndefined();
    expect(roleProblem('a'.repeat(MAX_ROLE_LENGTH + 1))).toBe(`role must be at most ${MAX_ROLE_LENGTH} characters, got ${MAX_ROLE_LENGTH + 1}`);
  });

  test('hostnames: non-empty, at most 253 characters, no whitespace or control characters', () => {
    expect(checkHostname('node-1.example.com', 'agent_info.hostname')).toBe('node-1.example.com');
    expect(() => checkHostname('', 'agent_info.hostname')).toThrow('agent_info.hostname: must not be empty');
    expect(() => checkHostname(undefined, 'machines[0].hostname')).toThrow('machines[0].hostname: must not be empty');
    expect(() => checkHostname('h'.repeat(MAX_HOSTNAME_LENGTH + 1), 'agent_info.hostname')).toThrow(`at most ${MAX_HOSTNAME_LENGTH} characters, got ${MAX_HOSTNAME_LENGTH + 1}`);
    expect(() => checkHostname('a\u0000b', 'agent_info.hostname')).toThrow('must not contain whitespace or control characters, got "a\\u0000b"');
    expect(() => checkHostname('a b', 'agent_info.hostname')).toThrow('whitespace');
  });
});

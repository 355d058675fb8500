import { ResourceError } from '../../../src/common/errors';
import { isSubroleOf, validateRole } from '../../../src/common/resources';

describe('roles', () => {
  it.each(['*', 'eng', 'eng/backend', 'a/b/c', 'my-role', 'slave_public', 'e.g'])('accepts %p', (role) => {
    expect(() => validateRole(role)).not.toThrow();
  });

  it.each([
    ['', /must not be empty/],
    ['/eng', /must not start with "\/"/],
    ['eng/', /must not end with "\/"/],
    ['eng//x', /"\/\/"/],
    ['.', /segment "\."/],
    ['eng/..', /segment "\.\."/],
    ['eng/*', /"\*" is valid only as the whole role/],
    ['-eng', /must not start with "-"/],
    ['eng/-x', /must not start with "-"/],
    ['en g', /must not contain " "/],
    ['eng\u0001', /must not contain/],
    ['eng:x', /must not contain ":"/],
    ['eng(x)', /must not contain "\("/],
  ])('rejects %p', (role, why) => {
    let err: unknown;
    try {
      validateRole(role);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ResourceError);
    expect((err as ResourceError).code).toBe('INVALID_RESOURCES');
    expect((err as ResourceError).message).toContain(`invalid role ${JSON.stringify(role)}`);
    expect((err as ResourceError).message).toMatch(why);
  });

  it('orders roles by whole path segments, non-strictly', () => {
    expect(isSubroleOf('eng', 'eng')).toBe(true);
    expect(isSubroleOf('eng/backend', 'eng')).toBe(true);
    expect(isSubroleOf('eng/backend/db', 'eng')).toBe(true);
    expect(isSubroleOf('engx', 'eng')).toBe(false);
    expect(isSubroleOf('eng', 'eng/backend')).toBe(false);
    expect(isSubroleOf('eng', '*')).toBe(false);
  });
});

/**
 * Role names and the role hierarchy.
 *
 * Roles are paths: `eng/backend` is a child of `eng`. A resource reserved to `eng` may be allocated to
 * `eng/backend` (hierarchical reservations, as Mesos), and a reservation to `eng` may be refined to
 * `eng/backend`. `*` is the default role, meaning "unreserved"; it is valid only on its own.
 */
import { ResourceError } from './errors';

/** The default role: resources "reserved" to it are unreserved. */
export const DEFAULT_ROLE = '*';

// Characters that Mesos forbids, plus those that delimit the resources text form
// (`cpus(eng):4;ports:[1-2]`). Mesos itself allows e.g. `,` or `(` in a role; Berth does not, so that
// every role can be written in `name(role):value` form and the text never parses ambiguously.
const FORBIDDEN_IN_SEGMENT = /[\s\u0000-\u001f\u007f;:,()[\]{}<>]/;

const validCache = new Set<string>();

/**
 * Explains why `role` is not a valid role name, or returns `undefined` if it is. Never throws.
 * Rules (Mesos `roles::validate`, tightened for the text form): non-empty; `*` only on its own;
 * segments separated by single `/` (no leading, trailing or doubled `/`); no segment is `.`, `..` or
 * `*`, or starts with `-`; no whitespace, control characters, or any of `;:,()[]{}<>`.
 */
/** Longest role name accepted (roles are names in a tree, not data). */
export const MAX_ROLE_LENGTH = 512;

export function roleProblem(role: string): string | undefined {
  if (typeof role !== 'string') return 'role must be a string';
  if (role === DEFAULT_ROLE || validCache.has(role)) return undefined;
  if (role.length === 0) return 'role must not be empty';
  if (role.length > MAX_ROLE_LENGTH) return `role must be at most ${MAX_ROLE_LENGTH} characters, got ${role.length}`;
  if (role.startsWith('/')) return 'role must not start with "/"';
  if (role.endsWith('/')) return 'role must not end with "/"';
  for (const segment of role.split('/')) {
    if (segment.length === 0) return 'role must not contain "//"';
    if (segment === '.' || segment === '..') return `role segment "${segment}" is not allowed`;
    if (segment === '*') return '"*" is valid only as the whole role, not as a path segment';
    if (segment.startsWith('-')) return `role segment "${segment}" must not start with "-"`;
    const bad = FORBIDDEN_IN_SEGMENT.exec(segment);
    if (bad) return `role must not contain ${JSON.stringify(bad[0])}`;
  }
  if (validCache.size < 10_000) validCache.add(role); // roles are few; the bound guards against abuse
  return undefined;
}

/**
 * Validates a role name (see {@link roleProblem} for the rules). Called by the resources parser and
 * validators, and by the master for framework roles, quota and weights.
 *
 * @throws ResourceError `INVALID_RESOURCES` naming the role and the rule it breaks.
 */
export function validateRole(role: string): void {
  const problem = roleProblem(role);
  if (problem !== undefined) {
    throw new ResourceError('INVALID_RESOURCES', `invalid role ${JSON.stringify(role)}: ${problem}`);
  }
}

/**
 * Whether `role` is `ancestor` or a descendant of it, by whole path segments: `eng/backend` and `eng`
 * are subroles of `eng`; `engx` is not. Non-strict. `*` has no descendants. Never throws; does not
 * validate its arguments. Used by reservation refinement and `allocatableTo`.
 */
export function isSubroleOf(role: string, ancestor: string): boolean {
  if (role === ancestor) return true;
  return (
    ancestor !== DEFAULT_ROLE &&
    role.length > ancestor.length &&
    role.charCodeAt(ancestor.length) === 47 /* '/' */ &&
    role.startsWith(ancestor)
  );
}

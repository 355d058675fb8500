/**
 * What one caller may read of other principals' work, as Mesos's `view_frameworks`, `view_tasks` and
 * `access_sandboxes` ACLs: by default a principal sees only the frameworks and tasks of frameworks
 * registered as itself, and reads only their logs; an ACL rule (object: the framework's principal)
 * widens it, e.g. `{ principal: ops, action: [view_frameworks, view_tasks, access_sandboxes] }`.
 * Agents, roles, quota and the like stay under `view`. With authentication off, everything is
 * visible.
 *
 * Applied to every Operator read (GetState, GetFrameworks, GetTasks, ReadTaskLog), to Watch (the
 * snapshot and each event, per subscriber) and so to the dashboard's /api, which reads through them.
 */
import type { Principal } from '../common/auth';
import type { MasterCore } from './master-core';

export interface Visibility {
  /** Whether the caller sees a framework registered by `principal` (its FrameworkInfo.principal). */
  framework(principal: string | undefined): boolean;
  /** Whether the caller sees the tasks of such a framework. */
  tasks(principal: string | undefined): boolean;
  /** Whether the caller may read the logs (sandboxes) of such a framework's tasks. */
  sandboxes(principal: string | undefined): boolean;
}

/** Everything is visible (authentication off, or the master's own views). */
export const SEE_ALL: Visibility = { framework: () => true, tasks: () => true, sandboxes: () => true };

/** What `principal` may read on `core`, decided per framework principal and remembered per call. */
export function visibilityFor(core: MasterCore, principal: Principal | undefined): Visibility {
  if (core.authorizer === undefined) return SEE_ALL;
  const memo = new Map<string, boolean>();
  const check = (action: 'view_frameworks' | 'view_tasks' | 'access_sandboxes') => (owner: string | undefined): boolean => {
    const key = `${action}\0${owner ?? ''}`;
    let r = memo.get(key);
    if (r === undefined) {
      r = core.allowed(principal, action, owner ?? '');
      memo.set(key, r);
    }
    return r;
  };
  return { framework: check('view_frameworks'), tasks: check('view_tasks'), sandboxes: check('access_sandboxes') };
}

/** The principal of a framework the master knows or removed recently; undefined when unknown. */
export function frameworkPrincipal(core: MasterCore, frameworkId: string): string | undefined {
  return (core.frameworks.get(frameworkId) ?? core.frameworkManager.completed.get(frameworkId))?.info.principal;
}

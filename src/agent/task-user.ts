/**
 * Which Unix user a task runs as, as in Mesos: `CommandInfo.user`, else `FrameworkInfo.user`, else
 * the agent's default task user (`taskUser`, `nobody` unless configured).
 *
 * - An agent running as root switches to that user: uid, primary gid and the user's supplementary
 *   groups (from the host's user database, `getent`), for process and Docker tasks alike, and the
 *   task's sandbox belongs to that user.
 * - An agent that is not root cannot switch: its tasks run as the agent's own user, and a task that
 *   asks for another user by name fails (TASK_FAILED) saying so, rather than running as someone else.
 *
 * Whether a principal may run tasks as a user at all is the master's `run_task` ACL (principal ×
 * role × user); this module decides only what the agent can do.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TaskStatus } from '../generated/berth/v1/TaskStatus';

/** The default of the agent's `taskUser` setting. */
export const DEFAULT_TASK_USER = 'nobody';

/** A resolved Unix user. */
export interface TaskUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  /** Supplementary group ids (the primary gid included, as `id -G` lists them). */
  readonly groups: readonly number[];
}

/** What the agent knows about itself for choosing task users. */
export interface TaskUserPolicy {
  /** The user for tasks that name none. */
  readonly defaultUser: string;
  /** The agent's own uid (0: it can switch users). @default process.getuid() */
  readonly agentUid?: number;
  /** The agent's own user name. @default os.userInfo().username */
  readonly agentUser?: string;
  /** Looks a user up by name; undefined when the host has no such user. @default {@link lookupUser} */
  readonly lookup?: (name: string) => TaskUser | undefined;
}

export type TaskUserRefusal = Pick<TaskStatus, 'state' | 'reason' | 'message'>;

/**
 * The user a task runs as: `{ user }` to switch to (root agents), `{ user: undefined }` to run as the
 * agent itself (non-root agents), or why it cannot run.
 */
export function taskUserOf(requested: string, policy: TaskUserPolicy): { user: TaskUser | undefined } | { refusal: TaskUserRefusal } {
  const agentUid = policy.agentUid ?? process.getuid?.() ?? 0;
  if (agentUid !== 0) {
    const self = policy.agentUser ?? os.userInfo().username;
    if (requested === '' || requested === self) return { user: undefined };
    return { refusal: { state: 'TASK_FAILED', reason: 'REASON_TASK_UNAUTHORIZED', message: `the task asks to run as user "${requested}", but this agent runs as "${self}" (not root) and can run tasks only as itself` } };
  }
  const name = requested === '' ? policy.defaultUser : requested;
  const user = (policy.lookup ?? lookupUser)(name);
  if (user === undefined) {
    const whose = requested === '' ? ' (the agent\'s default task user, setting taskUser)' : '';
    return { refusal: { state: 'TASK_FAILED', reason: 'REASON_TASK_INVALID', message: `user "${name}"${whose} does not exist on this agent` } };
  }
  return { user };
}

const cache = new Map<string, { user: TaskUser | undefined; at: number }>();
/** How long a lookup is remembered: users rarely change, and each lookup spawns `getent`. */
const CACHE_MS = 60_000;

/** The host's user `name` (through NSS, as `getent passwd` and `id -G` see it), or undefined. */
export function lookupUser(name: string): TaskUser | undefined {
  if (!/^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$/.test(name) || name.length > 64) return undefined;
  const hit = cache.get(name);
  if (hit !== undefined && Date.now() - hit.at < CACHE_MS) return hit.user;
  let user: TaskUser | undefined;
  try {
    const entry = execFileSync('getent', ['passwd', name], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim().split(':');
    const uid = Number(entry[2]);
    const gid = Number(entry[3]);
    const groups = execFileSync('id', ['-G', name], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim().split(/\s+/).map(Number).filter(Number.isInteger);
    if (Number.isInteger(uid) && Number.isInteger(gid)) user = { name, uid, gid, groups: groups.length > 0 ? groups : [gid] };
  } catch {
    user = undefined; // getent exits 2 for an unknown user
  }
  cache.set(name, { user, at: Date.now() });
  return user;
}

/**
 * Creates a task's sandbox for `user`: owned by it, private to it (0700), and reachable — every
 * directory between it and the agent's work directory `workDir` (included) gains search permission
 * for others (`o+x`: enter, not list), since a work directory made by `mktemp -d` or `install -m 700`
 * would keep the task out of its own sandbox. Directories above the work directory are the
 * operator's and are left alone: {@link unreachableAbove} names one that blocks the way. The
 * agent's checkpoint files stay private (they are written 0600). Without a user (the agent's own),
 * only creates it.
 */
export function prepareSandbox(dir: string, user: TaskUser | undefined, workDir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  if (user === undefined) return;
  fs.chownSync(dir, user.uid, user.gid);
  fs.chmodSync(dir, 0o700);
  const top = path.resolve(workDir);
  for (let up = path.dirname(dir); up.startsWith(top); up = path.dirname(up)) {
    const st = fs.statSync(up);
    if ((st.mode & 0o001) === 0) fs.chmodSync(up, (st.mode & 0o7777) | 0o001);
    if (up === top) break;
  }
}

/**
 * The first directory above `workDir` that other users may not enter, or undefined: tasks run as
 * another user could not reach their sandboxes through it (the agent says so at start).
 */
export function unreachableAbove(workDir: string): string | undefined {
  for (let up = path.dirname(path.resolve(workDir)); ; up = path.dirname(up)) {
    try {
      if ((fs.statSync(up).mode & 0o001) === 0) return up;
    } catch {
      return undefined;
    }
    if (up === path.dirname(up)) return undefined;
  }
}

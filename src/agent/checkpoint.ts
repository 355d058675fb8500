/**
 * The agent's checkpoint directory: what the agent must remember across a restart (even a SIGKILL),
 * written so that a crash at any moment leaves either the old or the new version of each file, never
 * a torn one.
 *
 * Writes are synchronous on purpose: a checkpoint must be on disk before the action it records is
 * made visible (e.g. a status update before it is sent), and checkpoint writes are rare and small.
 *
 * Layout under the work directory (ids are path-escaped with {@link escapeId}):
 * ```
 * meta/agent.json                                          the agent id ({@link AgentIdRecord})
 * meta/frameworks/<framework>/framework.json               the FrameworkInfo
 * meta/frameworks/<framework>/tasks/<task>/task.json       the TaskInfo (and container id)
 * meta/frameworks/<framework>/tasks/<task>/updates.json    the task's unacknowledged updates
 * ```
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { BerthError, type BerthErrorOptions } from '../common/errors';

/** Thrown when a checkpoint file exists but cannot be read back (truncated, edited, wrong shape). */
export class CheckpointCorruptError extends BerthError {
  declare readonly code: 'CHECKPOINT_CORRUPT';
  /** Absolute path of the offending file. */
  readonly file: string;

  constructor(file: string, detail: string, options?: BerthErrorOptions) {
    super(
      'CHECKPOINT_CORRUPT',
      `checkpoint file ${file} is corrupt (${detail}). The agent will not guess what it held. To recover, ` +
        `either move the file aside (e.g. \`mv ${file} ${file}.corrupt\`) and restart the agent, which then ` +
        `forgets what that file recorded, or restart the agent with --recover=cleanup to discard the whole ` +
        `checkpoint (running tasks are then killed and the agent registers with a new id).`,
      options,
    );
    this.file = file;
  }
}

/** Suffix of the temporary files of {@link Checkpoint.writeJson}; never listed. */
const TMP_SUFFIX = '.tmp';

/**
 * Turns an id into one safe path component (no `/`, never `.` or `..`), reversibly. Ids are
 * URI-encoded with dots escaped too.
 */
export function escapeId(id: string): string {
  if (id === '') throw new BerthError('INVALID_ID', 'an empty id cannot name a checkpoint path');
  return encodeURIComponent(id).replace(/\./g, '%2E');
}

/** The inverse of {@link escapeId}. */
export function unescapeId(component: string): string {
  return decodeURIComponent(component);
}

/** Relative paths of the checkpoint layout. */
export const layout = {
  agentId: (): string => 'meta/agent.json',
  frameworksDir: (): string => 'meta/frameworks',
  frameworkDir: (frameworkId: string): string => `meta/frameworks/${escapeId(frameworkId)}`,
  frameworkInfo: (frameworkId: string): string => `${layout.frameworkDir(frameworkId)}/framework.json`,
  tasksDir: (frameworkId: string): string => `${layout.frameworkDir(frameworkId)}/tasks`,
  taskDir: (frameworkId: string, taskId: string): string => `${layout.tasksDir(frameworkId)}/${escapeId(taskId)}`,
  taskInfo: (frameworkId: string, taskId: string): string => `${layout.taskDir(frameworkId, taskId)}/task.json`,
  taskUpdates: (frameworkId: string, taskId: string): string => `${layout.taskDir(frameworkId, taskId)}/updates.json`,
} as const;

/** Content of `meta/agent.json`. */
export interface AgentIdRecord {
  readonly agentId: string;
}

/**
 * JSON with bytes: `Buffer`/`Uint8Array` values are stored as `{"$bytes": "<base64>"}` and read back
 * as `Buffer`, so generated wire objects (whose `bytes` fields are Buffers) round-trip.
 */
function replacer(this: unknown, key: string, value: unknown): unknown {
  const original = (this as Record<string, unknown>)[key];
  if (original instanceof Uint8Array) return { $bytes: Buffer.from(original).toString('base64') };
  return value;
}

function reviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const bytes = (value as { $bytes?: unknown }).$bytes;
    if (keys.length === 1 && typeof bytes === 'string') return Buffer.from(bytes, 'base64');
  }
  return value;
}

/** Atomic JSON files under one work directory. Paths given to methods are relative to it. */
export class Checkpoint {
  /** Absolute work directory. */
  readonly root: string;

  constructor(workDir: string) {
    this.root = path.resolve(workDir);
  }

  /**
   * Moves the whole checkpoint (`meta/`) aside to `meta.discarded-<time>` (kept for a post-mortem) so
   * the agent starts as new. Returns the new path, or undefined when there was no checkpoint.
   */
  discard(now: number): string | undefined {
    const meta = this.resolve('meta');
    if (!fs.existsSync(meta)) return undefined;
    const aside = `${meta}.discarded-${new Date(now).toISOString().replace(/[:.]/g, '-')}`;
    fs.renameSync(meta, aside);
    fsyncDir(this.root);
    return aside;
  }

  /** Absolute path of `relPath`; refuses paths that would leave the work directory. */
  resolve(relPath: string): string {
    const abs = path.resolve(this.root, relPath);
    if (abs !== this.root && !abs.startsWith(this.root + path.sep)) {
      throw new BerthError('INVALID_CHECKPOINT_PATH', `checkpoint path ${JSON.stringify(relPath)} leaves ${this.root}`);
    }
    return abs;
  }

  /**
   * Writes `value` as JSON atomically: to a temporary file that is fsynced, renamed over the target,
   * then the directory is fsynced so the rename itself survives a power cut.
   */
  writeJson(relPath: string, value: unknown): void {
    const file = this.resolve(relPath);
    const dir = path.dirname(file);
    fs.mkdirSync(dir, { recursive: true });
    const tmp = file + TMP_SUFFIX;
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(value, replacer) + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    fsyncDir(dir);
  }

  /**
   * Reads a JSON file; `undefined` when it does not exist. A file that exists but does not parse
   * throws {@link CheckpointCorruptError}.
   */
  readJson<T = unknown>(relPath: string): T | undefined {
    const file = this.resolve(relPath);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      return JSON.parse(text, reviver) as T;
    } catch (err) {
      throw new CheckpointCorruptError(file, text.trim() === '' ? 'empty file' : (err as Error).message, { cause: err });
    }
  }

  /** Removes a file or a directory tree; absent is fine. The parent directory is fsynced. */
  remove(relPath: string): void {
    const abs = this.resolve(relPath);
    if (abs === this.root) throw new BerthError('INVALID_CHECKPOINT_PATH', 'refusing to remove the whole work directory');
    if (!fs.existsSync(abs)) return;
    fs.rmSync(abs, { recursive: true, force: true });
    fsyncDir(path.dirname(abs));
  }

  /** Names in a directory, sorted, without temporary files; `[]` when it does not exist. */
  list(dirRelPath: string): string[] {
    try {
      return fs
        .readdirSync(this.resolve(dirRelPath))
        .filter((name) => !name.endsWith(TMP_SUFFIX))
        .sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  /** Whether `relPath` exists. */
  exists(relPath: string): boolean {
    return fs.existsSync(this.resolve(relPath));
  }

  /** The checkpointed agent id, if any. */
  readAgentId(): string | undefined {
    const record = this.readJson<AgentIdRecord>(layout.agentId());
    if (record === undefined) return undefined;
    if (typeof record !== 'object' || record === null || typeof record.agentId !== 'string' || record.agentId === '') {
      throw new CheckpointCorruptError(this.resolve(layout.agentId()), 'no agentId string');
    }
    return record.agentId;
  }

  /** Checkpoints the agent id. */
  writeAgentId(agentId: string): void {
    this.writeJson(layout.agentId(), { agentId } satisfies AgentIdRecord);
  }

  /** Ids of the frameworks that have a checkpoint directory. */
  frameworkIds(): string[] {
    return this.list(layout.frameworksDir()).map(unescapeId);
  }

  /** Ids of the tasks of a framework that have a checkpoint directory. */
  taskIds(frameworkId: string): string[] {
    return this.list(layout.tasksDir(frameworkId)).map(unescapeId);
  }
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (err) {
    // Some platforms (and filesystems) cannot fsync a directory; the rename is still atomic there.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') throw err;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

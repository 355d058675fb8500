import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../../common/errors';
import { nullLogger, type Logger } from '../../common/logging';
import { RegistryUnavailableError, type Registry, type RegistryOp } from './registry';

/** Options of {@link FileRegistry}. */
export interface FileRegistryOptions {
  /** Directory holding `snapshot.json` and `log.jsonl`; created if absent. One master per directory. */
  readonly dir: string;
  /** Compact (snapshot + empty log) once the log grows past this many bytes. @default 8388608 (8 MiB) */
  readonly compactBytes?: number;
  /** Told (at `warn`) about what recovery dropped (a torn final log line) and failed compactions. @default nullLogger */
  readonly logger?: Logger;
}

/** The registry files are damaged in a way recovery must not paper over (never silent loss). */
export class RegistryCorruptError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('REGISTRY_CORRUPT', message, options);
  }
}

/** A put's value cannot be stored (not JSON-serialisable). */
export class RegistryInvalidValueError extends BerthError {
  constructor(message: string) {
    super('REGISTRY_INVALID_VALUE', message);
  }
}

const SNAPSHOT = 'snapshot.json';
const LOG = 'log.jsonl';
const SNAPSHOT_FORMAT = 'berth-registry-snapshot/1';

interface Pending {
  readonly line: string;
  readonly ops: readonly StoredOp[];
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** Counters of a {@link FileRegistry}, for metrics and tests. */
export interface FileRegistryStats {
  /** Appends with their fsync (each carries one or more batches). */
  readonly commits: number;
  /** Batches (`write` calls) committed. */
  readonly batches: number;
  /** Compactions completed. */
  readonly compactions: number;
}

/** An op with its value already serialised (so later mutation by the caller cannot leak in). */
type StoredOp = { readonly key: string; readonly json: string } | { readonly key: string; readonly json: undefined };

/**
 * The embedded registry of a single master (`berth dev`, one-master installs).
 *
 * Layout: `snapshot.json` holds the full state as of the last compaction; `log.jsonl` holds one
 * line per committed batch since — a JSON array of `{"k":key,"v":value}` and `{"k":key,"d":1}`.
 * Replaying a log on top of a snapshot that already contains it yields the same state (puts and
 * deletes are absolute), which is what makes compaction crash-safe in any interleaving:
 * snapshot.json.tmp → fsync → rename → fsync(dir) → truncate log → fsync.
 *
 * Group commit: `write` only queues; one commit loop appends every queued batch with a single
 * `write` + `fdatasync`, then resolves them in issue order. So callers that pipeline writes get
 * one fsync per round trip of the disk, not one per batch.
 *
 * Recovery tolerates exactly what a crash can leave: a final line without its newline, or a final
 * line that does not parse (reported to `logger`, then cut off so new appends do not follow
 * garbage). Anything else — an unparsable snapshot, a bad line followed by good ones — throws
 * {@link RegistryCorruptError} naming the file and line.
 */
export class FileRegistry implements Registry {
  private readonly dir: string;
  private readonly compactBytes: number;
  private readonly logger: Logger;

  /** Committed state: key → value as JSON text. */
  private readonly records = new Map<string, string>();
  private opened: Promise<void> | undefined;
  private log: fs.promises.FileHandle | undefined;
  private logBytes = 0;
  private queue: Pending[] = [];
  private committing: Promise<void> | undefined;
  private closed = false;
  /** Set when the log could not be restored after a failed append: the registry refuses writes. */
  private broken: Error | undefined;
  private counters = { commits: 0, batches: 0, compactions: 0 };

  constructor(options: FileRegistryOptions) {
    this.dir = options.dir;
    this.compactBytes = options.compactBytes ?? 8 * 1024 * 1024;
    this.logger = options.logger ?? nullLogger;
    if (!(this.compactBytes > 0)) throw new RangeError(`compactBytes must be > 0, got ${this.compactBytes}`);
  }

  /** Creates the registry and recovers its files now, so damage is reported before the master serves. */
  static async open(options: FileRegistryOptions): Promise<FileRegistry> {
    const registry = new FileRegistry(options);
    await registry.recovered();
    return registry;
  }

  async load(): Promise<ReadonlyMap<string, unknown>> {
    await this.recovered();
    const out = new Map<string, unknown>();
    for (const [key, json] of this.records) out.set(key, JSON.parse(json));
    return out;
  }

  write(ops: readonly RegistryOp[]): Promise<void> {
    if (this.closed) return Promise.reject(new RegistryUnavailableError('file registry is closed'));
    let stored: StoredOp[];
    try {
      stored = ops.map(toStored);
    } catch (err) {
      return Promise.reject(err);
    }
    const line = `[${stored.map((op) => (op.json === undefined
      ? `{"k":${JSON.stringify(op.key)},"d":1}`
      : `{"k":${JSON.stringify(op.key)},"v":${op.json}}`)).join(',')}]\n`;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ line, ops: stored, resolve, reject });
      this.committing ??= this.startCommitting();
    });
  }

  /** Commit and compaction counters since construction. */
  stats(): FileRegistryStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.committing?.catch(() => undefined);
    await this.opened?.catch(() => undefined);
    await this.log?.close();
    this.log = undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Commit loop

  private async startCommitting(): Promise<void> {
    try {
      await this.recovered();
      // Start on a later tick so that writes issued back to back share one fsync.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        await this.commit(batch);
        if (this.logBytes > this.compactBytes && this.broken === undefined) await this.compactSafely();
      }
    } catch (err) {
      // Recovery failed (corrupt or unreadable files): nothing can be committed.
      const batch = this.queue;
      this.queue = [];
      for (const p of batch) p.reject(err);
    } finally {
      // No await between the loop's last check and here, so no write can have slipped in.
      this.committing = undefined;
    }
  }

  private async commit(batch: Pending[]): Promise<void> {
    if (this.broken !== undefined) {
      const err = new RegistryUnavailableError(`file registry ${this.dir} is unusable: ${this.broken.message}`, { cause: this.broken });
      for (const p of batch) p.reject(err);
      return;
    }
    const buffer = Buffer.from(batch.map((p) => p.line).join(''), 'utf8');
    const before = this.logBytes;
    try {
      await writeAll(this.log!, buffer, before);
      await this.log!.datasync();
    } catch (cause) {
      await this.restoreLog(before, cause);
      const err = new RegistryUnavailableError(`cannot append to ${path.join(this.dir, LOG)}: ${(cause as Error).message}`, { cause });
      for (const p of batch) p.reject(err);
      return;
    }
    this.logBytes = before + buffer.length;
    this.counters.commits++;
    this.counters.batches += batch.length;
    for (const p of batch) {
      apply(this.records, p.ops);
      p.resolve();
    }
  }

  /** A failed append may have left a partial line; cut it off, or refuse all further writes. */
  private async restoreLog(length: number, cause: unknown): Promise<void> {
    try {
      await this.log!.truncate(length);
      await this.log!.datasync();
    } catch {
      this.broken = cause instanceof Error ? cause : new Error(String(cause));
    }
  }

  private async compactSafely(): Promise<void> {
    try {
      await this.compact();
    } catch (err) {
      // The log is still complete; compaction is retried after the next commit.
      this.logger.warn('file registry: compaction failed, retried after the next commit', { dir: this.dir, err });
    }
  }

  /** Writes the full state to the snapshot (atomically) and empties the log. Runs inside the loop. */
  private async compact(): Promise<void> {
    const target = path.join(this.dir, SNAPSHOT);
    const tmp = `${target}.tmp`;
    const parts: string[] = [];
    for (const [key, json] of this.records) parts.push(`[${JSON.stringify(key)},${json}]`);
    const text = `{"format":"${SNAPSHOT_FORMAT}","records":[\n${parts.join(',\n')}\n]}\n`;
    const fh = await fs.promises.open(tmp, 'w');
    try {
      await writeAll(fh, Buffer.from(text, 'utf8'), 0);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, target);
    await syncDir(this.dir);
    await this.log!.truncate(0);
    await this.log!.datasync();
    this.logBytes = 0;
    this.counters.compactions++;
  }

  // -------------------------------------------------------------------------------------------
  // Recovery

  private recovered(): Promise<void> {
    this.opened ??= this.recover();
    return this.opened;
  }

  private async recover(): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    await fs.promises.rm(path.join(this.dir, `${SNAPSHOT}.tmp`), { force: true });
    this.readSnapshot(path.join(this.dir, SNAPSHOT));
    const logPath = path.join(this.dir, LOG);
    const goodBytes = await this.replayLog(logPath);
    this.log = await fs.promises.open(logPath, 'a+');
    const { size } = await this.log.stat();
    if (size !== goodBytes) {
      await this.log.truncate(goodBytes);
      await this.log.datasync();
    }
    this.logBytes = goodBytes;
  }

  private readSnapshot(file: string): void {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new RegistryUnavailableError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new RegistryCorruptError(`${file}: snapshot is not valid JSON (${(err as Error).message})`, { cause: err });
    }
    const records = (doc as { records?: unknown } | null)?.records;
    if ((doc as { format?: unknown } | null)?.format !== SNAPSHOT_FORMAT || !Array.isArray(records)) {
      throw new RegistryCorruptError(`${file}: not a ${SNAPSHOT_FORMAT} document`);
    }
    records.forEach((entry: unknown, i) => {
      if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string') {
        throw new RegistryCorruptError(`${file}: record #${i + 1} is not a [key, value] pair`);
      }
      this.records.set(entry[0], JSON.stringify(entry[1]));
    });
  }

  /** Replays the log into `records`; returns the byte length of its intact prefix. */
  private async replayLog(file: string): Promise<number> {
    let buf: Buffer;
    try {
      buf = await fs.promises.readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw new RegistryUnavailableError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
    let offset = 0;
    let lineNo = 0;
    while (offset < buf.length) {
      lineNo++;
      const nl = buf.indexOf(0x0a, offset);
      const end = nl === -1 ? buf.length : nl;
      const isLast = nl === -1 || nl === buf.length - 1 || isAllNul(buf, nl + 1);
      const ops = nl === -1 ? undefined : parseLine(buf.toString('utf8', offset, end));
      if (ops === undefined) {
        if (!isLast) throw new RegistryCorruptError(`${file}: line ${lineNo} is corrupt and is followed by more entries`);
        this.logger.warn(`file registry: dropped a torn final entry at ${file} line ${lineNo} (a write cut short by a crash, never acknowledged)`,
          { file, line: lineNo, bytes: buf.length - offset });
        return offset;
      }
      apply(this.records, ops);
      offset = end + 1;
      if (isLast) return offset;
    }
    return offset;
  }
}

function toStored(op: RegistryOp): StoredOp {
  if (typeof op.key !== 'string') throw new RegistryInvalidValueError(`registry key must be a string, got ${typeof op.key}`);
  if ('delete' in op && op.delete === true) return { key: op.key, json: undefined };
  const json = JSON.stringify((op as { value: unknown }).value);
  if (json === undefined) throw new RegistryInvalidValueError(`value of registry key ${JSON.stringify(op.key)} is not JSON-serialisable`);
  return { key: op.key, json };
}

function apply(records: Map<string, string>, ops: readonly StoredOp[]): void {
  for (const op of ops) {
    if (op.json === undefined) records.delete(op.key);
    else records.set(op.key, op.json);
  }
}

/** Parses one log line into ops, or undefined when it is not a well-formed entry. */
function parseLine(text: string): StoredOp[] | undefined {
  let entry: unknown;
  try {
    entry = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(entry)) return undefined;
  const ops: StoredOp[] = [];
  for (const op of entry as unknown[]) {
    if (op === null || typeof op !== 'object') return undefined;
    const { k, v, d } = op as { k?: unknown; v?: unknown; d?: unknown };
    if (typeof k !== 'string') return undefined;
    if (d === 1) ops.push({ key: k, json: undefined });
    else if (v !== undefined) ops.push({ key: k, json: JSON.stringify(v) });
    else return undefined;
  }
  return ops;
}

/** A crash can extend a file with zeros whose data never reached disk: treat them as nothing. */
function isAllNul(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

async function writeAll(fh: fs.promises.FileHandle, buffer: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buffer.length) {
    const { bytesWritten } = await fh.write(buffer, done, buffer.length - done, position + done);
    done += bytesWritten;
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fs.promises.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * The file-backed framework store: one JSON file per key under a directory (`<dir>/<key>.json`), made
 * durable through a journal with group commit.
 *
 * Writing each key durably on its own (temporary file, fsync, rename, fsync of the directory) costs
 * about nine file-system calls per put; a thousand cron runs fired in the same second, each written
 * when created and again before its launch, kept the launches waiting for seconds behind the thread
 * pool. Here every put and delete issued in one turn of the event loop — and all issued while the
 * previous group is being committed — is appended to the journal (`<dir>/.journal-N`, hidden so never
 * listed) with one write and one fdatasync; the promises resolve then. The key files are written
 * afterwards, in the background and in commit order, each durably; a journal segment is removed
 * once every entry in it is in its file. Until then reads see the journal's value.
 *
 * Opening a directory replays what is left of its journal into the key files first (a crash between
 * a commit and the key files). A torn last line (a crash mid-append) was never acknowledged and is
 * skipped. One store instance per directory at a time (as one framework host per work dir).
 */
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { checkKey, type KeyValueStore } from './store-contract';

const writeFd = promisify(fs.write) as (fd: number, buffer: Buffer, offset: number, length: number) => Promise<{ bytesWritten: number }>;
const fdatasync = promisify(fs.fdatasync);
const closeFd = promisify(fs.close);

const SEGMENT = /^\.journal-(\d+)$/;
/** A segment is closed for appends past this size (it is removed once its key files are written). */
const SEGMENT_BYTES = 4 * 1024 * 1024;
/** Key files written at once in the background: leaves the thread pool to commits and reads. */
const MATERIALIZE_CONCURRENCY = 16;

interface Segment {
  readonly file: string;
  readonly fd: number;
  bytes: number;
  /** Committed groups of this segment whose key files are not all written yet. */
  unwritten: number;
  /** A failed append may have left a partial line: the next one starts on a new line. */
  torn: boolean;
}

interface Group {
  /** Key → its JSON, or null for a delete; the latest of the group wins. */
  readonly entries: Map<string, string | null>;
  readonly done: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

export class FileKeyValueStore implements KeyValueStore {
  /** Committed values whose key files are not written yet: key → JSON (null: deleted) and its group. */
  private readonly overlay = new Map<string, { json: string | null; group: number }>();
  private next: Group | undefined;
  private committing: Promise<void> | undefined;
  private writing: Promise<void> = Promise.resolve();
  private segment: Segment;
  private segmentNo: number;
  private groupNo = 0;
  private closed = false;

  constructor(private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    this.segmentNo = this.recover();
    this.segment = this.openSegment();
  }

  async get<T>(key: string): Promise<T | undefined> {
    const file = this.file(key);
    const pending = this.overlay.get(key);
    if (pending !== undefined) return pending.json === null ? undefined : (JSON.parse(pending.json) as T);
    try {
      return JSON.parse(await fsp.readFile(file, 'utf8')) as T;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async put(key: string, value: unknown): Promise<void> {
    checkKey(key);
    const json = JSON.stringify(value);
    if (json === undefined) throw new TypeError(`store value of ${key} is not JSON-serialisable`);
    await this.enqueue(key, json);
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    await this.enqueue(key, null);
  }

  async list<T>(prefix: string): Promise<{ key: string; value: T }[]> {
    const found = new Map<string, T>();
    // The committed values not yet in key files, as of now: while the directory is walked the
    // background writer may write one's file after its directory was read and then drop it from
    // the overlay, so the overlay at the end alone would lose it.
    const before = [...this.overlay].filter(([key]) => key.startsWith(prefix));
    const walk = async (dir: string, rel: string): Promise<void> => {
      let entries: fs.Dirent[];
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw e;
      }
      for (const e of entries) {
        const name = rel === '' ? e.name : `${rel}/${e.name}`;
        if (e.isDirectory()) await walk(path.join(dir, e.name), name);
        else if (e.name.endsWith('.json') && !e.name.startsWith('.')) {
          const key = name.slice(0, -'.json'.length);
          if (!key.startsWith(prefix)) continue;
          const value = await this.get<T>(key);
          if (value !== undefined) found.set(key, value);
        }
      }
    };
    await walk(this.dir, '');
    for (const [key, { json }] of [...before, ...this.overlay]) {
      if (!key.startsWith(prefix)) continue;
      if (json === null) found.delete(key);
      else found.set(key, JSON.parse(json) as T);
    }
    return [...found].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => ({ key, value }));
  }

  /** Waits for every commit and key file; then the directory holds no journal. Later writes are refused. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.committing;
    await this.writing;
    if (this.segment.unwritten === 0) await retire(this.segment);
    else await closeFd(this.segment.fd).catch(() => undefined); // kept: replayed when the directory is opened again
  }

  // -------------------------------------------------------------------------------------------
  // Group commit

  private enqueue(key: string, json: string | null): Promise<void> {
    if (this.closed) throw new Error(`the store at ${this.dir} is closed`);
    this.next ??= newGroup();
    this.next.entries.set(key, json);
    const done = this.next.done;
    this.committing ??= this.commitAll();
    return done;
  }

  /** Commits groups until none is waiting: the first after this turn's puts, each next one meanwhile. */
  private async commitAll(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    while (this.next !== undefined) {
      const group = this.next;
      this.next = undefined;
      await this.commit(group);
    }
    this.committing = undefined;
  }

  private async commit(group: Group): Promise<void> {
    const segment = this.segment;
    let text = segment.torn ? '\n' : '';
    for (const [key, json] of group.entries) text += json === null ? `{"k":${JSON.stringify(key)},"d":true}\n` : `{"k":${JSON.stringify(key)},"v":${json}}\n`;
    try {
      await writeAll(segment.fd, Buffer.from(text));
      await fdatasync(segment.fd);
      segment.torn = false;
    } catch (err) {
      // A partial line may be on disk: later groups go to a fresh segment (or, when none can be
      // opened, start on a new line), so it is skipped when replayed.
      segment.torn = true;
      this.rotate();
      group.reject(err);
      return;
    }
    segment.bytes += text.length;
    segment.unwritten++;
    const no = ++this.groupNo;
    for (const [key, json] of group.entries) this.overlay.set(key, { json, group: no });
    group.resolve();
    if (segment.bytes >= SEGMENT_BYTES) this.rotate();
    this.writing = this.writing.then(() => this.writeKeyFiles(group.entries, no, segment));
  }

  /** Writes a committed group's key files durably (in commit order), then retires its segment when done. */
  private async writeKeyFiles(entries: Map<string, string | null>, no: number, segment: Segment): Promise<void> {
    const dirs = new Set<string>();
    const work = [...entries];
    try {
      await inParallel(work, MATERIALIZE_CONCURRENCY, async ([key, json]) => {
        const file = this.file(key);
        dirs.add(path.dirname(file));
        if (json === null) await fsp.rm(file, { force: true });
        else await writeDurably(file, json);
      });
      await inParallel([...dirs], MATERIALIZE_CONCURRENCY, syncDirectory);
    } catch {
      // The journal keeps the group (its segment is never removed): opening the directory again
      // replays it; reads meanwhile see the committed values.
      return;
    }
    for (const key of entries.keys()) if (this.overlay.get(key)?.group === no) this.overlay.delete(key);
    segment.unwritten--;
    if (segment.unwritten > 0) return;
    if (segment !== this.segment) await retire(segment).catch(() => undefined);
    else if (!this.closed && this.committing === undefined) this.rotate(); // idle: a fresh segment, so this one goes
  }

  /**
   * Appends go to a new segment from now on; the old one goes at once when all its key files are
   * written. When no new segment can be opened (the directory is gone, no file descriptors), appends
   * stay on the current one: the next commit reports the error to its callers, and the background
   * key-file writer never stops on it.
   */
  private rotate(): void {
    const old = this.segment;
    try {
      this.segment = this.openSegment();
    } catch {
      return;
    }
    if (old.unwritten === 0) void retire(old).catch(() => undefined);
  }

  private openSegment(): Segment {
    const file = path.join(this.dir, `.journal-${String(++this.segmentNo).padStart(12, '0')}`);
    return { file, fd: fs.openSync(file, 'a', 0o600), bytes: 0, unwritten: 0, torn: false };
  }

  /** Replays every journal segment left in the directory into the key files; returns the highest segment number. */
  private recover(): number {
    const segments = fs.readdirSync(this.dir).map((name) => SEGMENT.exec(name)).filter((m) => m !== null).sort((a, b) => Number(a[1]) - Number(b[1]));
    if (segments.length === 0) return 0;
    const latest = new Map<string, string | null>();
    for (const m of segments) {
      for (const line of fs.readFileSync(path.join(this.dir, m[0]), 'utf8').split('\n')) {
        const entry = parseLine(line);
        if (entry !== undefined) latest.set(entry.key, entry.json);
      }
    }
    const dirs = new Set<string>();
    for (const [key, json] of latest) {
      const file = this.file(key);
      dirs.add(path.dirname(file));
      if (json === null) fs.rmSync(file, { force: true });
      else writeDurablySync(file, json);
    }
    for (const dir of dirs) syncDirectorySync(dir);
    for (const m of segments) fs.rmSync(path.join(this.dir, m[0]), { force: true });
    syncDirectorySync(this.dir);
    return Number(segments[segments.length - 1]![1]);
  }

  private file(key: string): string {
    checkKey(key);
    return path.join(this.dir, `${key}.json`);
  }
}

/** Closes a segment whose entries are all in their key files and removes it — once: its fd number may be reused right after. */
async function retire(segment: Segment): Promise<void> {
  await closeFd(segment.fd).catch(() => undefined);
  await fsp.rm(segment.file, { force: true });
}

function newGroup(): Group {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  done.catch(() => undefined); // a caller that does not wait is not an unhandled rejection
  return { entries: new Map(), done, resolve, reject };
}

/** A journal line, or undefined for a torn or foreign one. */
function parseLine(line: string): { key: string; json: string | null } | undefined {
  if (line === '') return undefined;
  try {
    const entry = JSON.parse(line) as { k?: unknown; v?: unknown; d?: unknown };
    if (typeof entry.k !== 'string') return undefined;
    checkKey(entry.k);
    if (entry.d === true) return { key: entry.k, json: null };
    return 'v' in entry ? { key: entry.k, json: JSON.stringify(entry.v) } : undefined;
  } catch {
    return undefined;
  }
}

async function writeAll(fd: number, buffer: Buffer): Promise<void> {
  for (let offset = 0; offset < buffer.length;) offset += (await writeFd(fd, buffer, offset, buffer.length - offset)).bytesWritten;
}

function tempName(file: string): string {
  // Hidden and not ending in .json: never taken for a key by `list`, whatever the key is.
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`);
}

async function writeDurably(file: string, json: string): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = tempName(file);
  const fh = await fsp.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(json);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
}

function writeDurablySync(file: string, json: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = tempName(file);
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeFileSync(fd, json);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

async function syncDirectory(dir: string): Promise<void> {
  const d = await fsp.open(dir, 'r').catch(() => undefined);
  if (d === undefined) return; // removed meanwhile
  try {
    await d.sync();
  } catch {
    // Directories cannot be fsynced everywhere; the rename is atomic regardless.
  } finally {
    await d.close();
  }
}

function syncDirectorySync(dir: string): void {
  let fd: number;
  try {
    fd = fs.openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fs.fsyncSync(fd);
  } catch {
    // As above.
  } finally {
    fs.closeSync(fd);
  }
}

/** Runs `fn` over `items`, at most `limit` at a time; rejects with the first failure once all settled. */
async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failure !== undefined) throw failure.err;
}

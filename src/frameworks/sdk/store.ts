/**
 * A framework's persistent state: a small key/value store. The framework host gives each plugin one
 * backed by the registry the cluster uses — files under a directory for a single master and
 * `berth dev`, a NATS JetStream KV bucket in HA — so apps, deployments, jobs and runs survive a
 * restart of the framework process and a move to another host.
 *
 * Values are JSON. Writes are atomic per key and durable when the promise resolves; there are no
 * transactions (a framework writes what it intends before acting — e.g. a job run's task id before the
 * launch — and reconciles with the master after a restart).
 */
import { promises as fsp, mkdirSync } from 'node:fs';
import * as path from 'node:path';

export interface KeyValueStore {
  /** The value, or undefined. */
  get<T>(key: string): Promise<T | undefined>;
  /** Writes `value` (JSON-serialisable). */
  put(key: string, value: unknown): Promise<void>;
  /** Removes the key; absent is fine. */
  delete(key: string): Promise<void>;
  /** Every key starting with `prefix`, with its value, in key order. */
  list<T>(prefix: string): Promise<{ key: string; value: T }[]>;
}

/**
 * Keys: parts of `[A-Za-z0-9._-]` separated by `/`, none starting with a dot, at most 512 characters
 * (a leading dot is kept for the file store's temporary files).
 */
export function checkKey(key: string): void {
  if (key.length === 0 || key.length > 512 || !/^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/.test(key)) {
    throw new Error(`store key must be parts of [A-Za-z0-9._-] not starting with a dot, separated by "/", got ${JSON.stringify(key)}`);
  }
}

/** In memory, for tests. Values are copied in and out, as a real store would. */
export class MemoryKeyValueStore implements KeyValueStore {
  private readonly data = new Map<string, string>();

  async get<T>(key: string): Promise<T | undefined> {
    checkKey(key);
    const v = this.data.get(key);
    return v === undefined ? undefined : (JSON.parse(v) as T);
  }

  async put(key: string, value: unknown): Promise<void> {
    checkKey(key);
    this.data.set(key, JSON.stringify(value));
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    this.data.delete(key);
  }

  async list<T>(prefix: string): Promise<{ key: string; value: T }[]> {
    return [...this.data.entries()].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, v]) => ({ key, value: JSON.parse(v) as T }));
  }
}

/**
 * One JSON file per key under a directory (`<dir>/<key>.json`), written atomically (temporary file,
 * fsync, rename, fsync of the directory).
 */
export class FileKeyValueStore implements KeyValueStore {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  async get<T>(key: string): Promise<T | undefined> {
    try {
      return JSON.parse(await fsp.readFile(this.file(key), 'utf8')) as T;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async put(key: string, value: unknown): Promise<void> {
    const file = this.file(key);
    const dir = path.dirname(file);
    await fsp.mkdir(dir, { recursive: true });
    // Hidden and not ending in .json: never taken for a key by `list`, whatever the key is.
    const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`);
    const fh = await fsp.open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(value));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
    const d = await fsp.open(dir, 'r');
    try {
      await d.sync();
    } catch {
      // Directories cannot be fsynced everywhere; the rename is atomic regardless.
    } finally {
      await d.close();
    }
  }

  async delete(key: string): Promise<void> {
    await fsp.rm(this.file(key), { force: true });
  }

  async list<T>(prefix: string): Promise<{ key: string; value: T }[]> {
    const out: { key: string; value: T }[] = [];
    const walk = async (dir: string, rel: string): Promise<void> => {
      let entries: import('node:fs').Dirent[];
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
          if (value !== undefined) out.push({ key, value });
        }
      }
    };
    await walk(this.dir, '');
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  private file(key: string): string {
    checkKey(key);
    return path.join(this.dir, `${key}.json`);
  }
}

/**
 * A NATS JetStream KV bucket (one per framework host, keys prefixed per plugin by the host): the store
 * for frameworks next to masters in HA, so a framework moved to another host finds its state. Writes are
 * acknowledged by the stream's replicas before the promise resolves.
 */
export class NatsKeyValueStore implements KeyValueStore {
  private constructor(
    private readonly kv: import('@nats-io/kv').KV,
    private readonly close_: () => Promise<void>,
  ) {}

  /** Connects and opens (creating when absent) `bucket` with `replicas` replicas. */
  /** @param options.connectOptions more options of NATS's `connect` (credentials, TLS: see common/nats-auth.ts) */
  static async open(options: { servers: readonly string[]; bucket: string; replicas?: number; timeoutMs?: number; connectOptions?: object }): Promise<NatsKeyValueStore> {
    const { connect } = await import('@nats-io/transport-node');
    const { Kvm } = await import('@nats-io/kv');
    const nc = await connect({ servers: [...options.servers], timeout: options.timeoutMs ?? 5000, maxReconnectAttempts: -1, ...options.connectOptions });
    try {
      const kv = await new Kvm(nc).create(options.bucket, { replicas: options.replicas ?? 1, history: 1 });
      return new NatsKeyValueStore(kv, () => nc.close());
    } catch (e) {
      await nc.close();
      throw e;
    }
  }

  async get<T>(key: string): Promise<T | undefined> {
    checkKey(key);
    const e = await this.kv.get(toNatsKey(key));
    if (e === null || e.operation !== 'PUT' || e.length === 0) return undefined;
    return e.json<T>();
  }

  async put(key: string, value: unknown): Promise<void> {
    checkKey(key);
    await this.kv.put(toNatsKey(key), JSON.stringify(value));
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    await this.kv.purge(toNatsKey(key));
  }

  async list<T>(prefix: string): Promise<{ key: string; value: T }[]> {
    const keys: string[] = [];
    for await (const k of await this.kv.keys()) {
      const key = fromNatsKey(k);
      if (key.startsWith(prefix)) keys.push(key);
    }
    keys.sort();
    const out: { key: string; value: T }[] = [];
    for (const key of keys) {
      const value = await this.get<T>(key);
      if (value !== undefined) out.push({ key, value });
    }
    return out;
  }

  close(): Promise<void> {
    return this.close_();
  }
}

// NATS KV keys are dot-separated tokens: "/" becomes ".", and a "." in a part is escaped as "_2E".
function toNatsKey(key: string): string {
  return key.split('/').map((p) => p.replace(/_/g, '_5F').replace(/\./g, '_2E')).join('.');
}

function fromNatsKey(k: string): string {
  return k.split('.').map((p) => p.replace(/_2E/g, '.').replace(/_5F/g, '_')).join('/');
}

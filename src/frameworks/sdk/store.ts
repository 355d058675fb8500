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
import { checkKey, type KeyValueStore } from './store-contract';

export { checkKey, type KeyValueStore } from './store-contract';
export { FileKeyValueStore } from './file-store';

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

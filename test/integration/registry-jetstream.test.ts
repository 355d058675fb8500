/**
 * The JetStream registry against real nats-servers: what a leader writes comes back on load
 * (odd keys, deletes, pipelined order); a newer leader's epoch fences the old one, even while the
 * old one has writes in flight; and in a 3-node cluster with R3 the registry rides out one node's
 * death, reports unavailability (not hangs) without quorum, and recovers when quorum returns.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { startNats, type NatsTestServers } from '../support/nats';
import { startTcpProxy } from '../support/tcp-proxy';
import { decodeKey, encodeKey, JetStreamRegistry, type JetStreamRegistryOptions } from '../../src/master/registry/jetstream-registry';
import { RegistryFencedError, RegistryUnavailableError, type RegistryOp } from '../../src/master/registry/registry';

jest.setTimeout(90_000);

const ODD_KEYS = ['', 'a', '_epoch', '_', 'a.b', '.a', 'a.', 'a..b', '...', 'x y*>', 'über ✓', '\ud800', '=', '=41', 'a=b',
  '$KV.x', 'agents/a1', 'apps/web/instances/3', '-', '\n', 'tab\there', 'ünïcödé.🚀'];

const put = (key: string, value: unknown): RegistryOp => ({ key, value });
const del = (key: string): RegistryOp => ({ key, delete: true });

/** Retries `fn` until it succeeds; the bound is the point (a cluster regaining quorum). */
async function eventually<T>(fn: () => Promise<T>, boundMs: number, what: string): Promise<T> {
  const deadline = Date.now() + boundMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await fn();
    } catch (err) {
      last = err;
      // Polling the cluster is unavoidable here: nothing tells a client that quorum is back.
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  throw new Error(`${what} did not succeed within ${boundMs} ms; last error: ${String(last)}`);
}

/** Resolves at the connection's next reconnect (a request buffered while disconnected may be lost). */
async function reconnected(nc: NatsConnection): Promise<void> {
  for await (const status of nc.status()) if (status.type === 'reconnect') return;
}

describe('key encoding', () => {
  test.each(ODD_KEYS.map((k) => [JSON.stringify(k), k]))('%s round-trips to a valid KV key', (_, key) => {
    const encoded = encodeKey(key);
    expect(decodeKey(encoded)).toBe(key);
    expect(encoded).toMatch(/^[-/=.\w]+$/);
    expect(encoded).not.toMatch(/^\.|\.$|\.\.|^_/);
  });

  test('keeps readable keys readable', () => {
    expect(encodeKey('agents/a1')).toBe('agents/a1');
    expect(encodeKey('agents.a1')).toBe('agents.a1');
    expect(encodeKey('a b')).toBe('a=20b');
  });
});

describe('JetStreamRegistry on one server', () => {
  let nats: NatsTestServers;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let bucketNo = 0;
  const open: JetStreamRegistry[] = [];

  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.urls[0] });
    jsm = await jetstreamManager(nc);
  });
  afterAll(async () => {
    await Promise.all(open.splice(0).map((r) => r.close()));
    await nc?.close();
    await nats?.cleanup();
  });

  const freshBucket = (): string => `reg-${++bucketNo}`;
  const openRegistry = async (options: Partial<JetStreamRegistryOptions> & { bucket: string; term: number }): Promise<JetStreamRegistry> => {
    const r = await JetStreamRegistry.open({ nc, leaderId: `master-${options.term}`, ...options });
    open.push(r);
    return r;
  };

  test('what one leader writes, the next one loads: odd keys, nested values, deletes', async () => {
    const bucket = freshBucket();
    const a = await openRegistry({ bucket, term: 1 });
    await a.write(ODD_KEYS.map((k, i) => put(k, { i, nested: { list: [k, null, true] } })));
    await a.write([del('a'), del('über ✓'), put('x y*>', 'changed'), del('never-written')]);
    await a.close();

    const b = await openRegistry({ bucket, term: 2 });
    const loaded = await b.load();
    const expected = new Map<string, unknown>(ODD_KEYS.map((k, i) => [k, { i, nested: { list: [k, null, true] } }]));
    expected.delete('a');
    expected.delete('über ✓');
    expected.set('x y*>', 'changed');
    expect(loaded).toEqual(expected);

    // Plain KV clients see ordinary puts and deletes.
    const kv = await new Kvm(nc).open(bucket);
    expect((await kv.get(encodeKey('x y*>')))?.string()).toBe('"changed"');
    expect((await kv.get('a'))?.operation).toBe('DEL');
  });

  test('writes issued without awaiting land in issue order and resolve in order', async () => {
    const bucket = freshBucket();
    const r = await openRegistry({ bucket, term: 1, maxInFlight: 64 });
    const resolved: number[] = [];
    const writes = Array.from({ length: 500 }, (_, i) => r.write([put('counter', i), put(`k${i % 50}`, i)]).then(() => resolved.push(i)));
    await Promise.all(writes);
    expect(resolved).toEqual(Array.from({ length: 500 }, (_, i) => i));
    const loaded = await r.load();
    expect(loaded.get('counter')).toBe(499);
    expect(loaded.get('k49')).toBe(499);
    // One message per op, consecutive after the epoch: nothing lost or reordered.
    const info = await jsm.streams.info(`KV_${bucket}`);
    expect(info.state.last_seq).toBe(1 + 1000);
  });

  test('10,000 keys load in one pass', async () => {
    const bucket = freshBucket();
    const r = await openRegistry({ bucket, term: 1 });
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 10_000; i += 250) {
      writes.push(r.write(Array.from({ length: 250 }, (_, j) => put(`agents/${i + j}`, { hostname: `h${i + j}`, cpus: 8 }))));
    }
    await Promise.all(writes);
    const loaded = await (await openRegistry({ bucket, term: 2 })).load();
    expect(loaded.size).toBe(10_000);
    expect(loaded.get('agents/9999')).toEqual({ hostname: 'h9999', cpus: 8 });
  });

  test('fencing: once a newer leader has opened, the old leader\'s writes fail and the new data wins', async () => {
    const bucket = freshBucket();
    const a = await openRegistry({ bucket, term: 1, leaderId: 'A' });
    await a.write([put('owner', 'A'), put('a-only', 1)]);

    const b = await openRegistry({ bucket, term: 2, leaderId: 'B' });
    await b.write([put('owner', 'B')]);

    await expect(a.write([put('owner', 'A again')])).rejects.toBeInstanceOf(RegistryFencedError);
    await expect(a.write([del('a-only')])).rejects.toBeInstanceOf(RegistryFencedError); // and for good
    await b.write([put('b-only', 2)]);

    expect(Object.fromEntries(await b.load())).toEqual({ owner: 'B', 'a-only': 1, 'b-only': 2 });
  });

  test('fencing: the first write after the new epoch is refused even before the new leader writes', async () => {
    const bucket = freshBucket();
    const a = await openRegistry({ bucket, term: 1, leaderId: 'A' });
    await a.write([put('k', 'A')]);
    await openRegistry({ bucket, term: 2, leaderId: 'B' });
    const err = await a.write([put('k', 'A2')]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryFencedError);
    expect((err as Error).message).toMatch(/term 1, A\) is deposed/);
  });

  test('fencing holds for a pipeline in flight: writes sent before the new epoch but arriving after it all fail', async () => {
    // A's messages are held in a proxy while B opens, then arrive in order right after B's epoch.
    // A's second message expects exactly the sequence B's epoch took; only the expected last
    // message id (A's own previous message) tells the server it must not land.
    const bucket = freshBucket();
    const proxy = await startTcpProxy(nats.urls[0]!);
    const ncA = await connect({ servers: proxy.url });
    try {
      const a = await openRegistry({ nc: ncA, bucket, term: 1, leaderId: 'A' });
      await a.write([put('warm-up', true)]);
      proxy.hold();
      const outcomes = Array.from({ length: 5 }, (_, i) => a.write([put(`a/${i}`, i)]).then(() => 'ok', (e: unknown) => e));
      const b = await openRegistry({ bucket, term: 2, leaderId: 'B' });
      proxy.release();
      for (const outcome of await Promise.all(outcomes)) expect(outcome).toBeInstanceOf(RegistryFencedError);

      const kv = await new Kvm(nc).open(bucket);
      const epoch = await kv.get('_epoch');
      expect(epoch?.json<{ leaderId: string }>().leaderId).toBe('B');
      expect((await jsm.streams.info(`KV_${bucket}`)).state.last_seq).toBe(epoch!.revision);
      await b.write([put('after', true)]);
      expect(Object.fromEntries(await b.load())).toEqual({ 'warm-up': true, after: true });
    } finally {
      await ncA.close();
      await proxy.close();
    }
  });

  test('a new leader gets its epoch in while a deposed one is still streaming writes', async () => {
    const bucket = freshBucket();
    const a = await openRegistry({ bucket, term: 1, leaderId: 'A' });
    const outcomes = Array.from({ length: 3000 }, (_, i) => a.write([put(`a/${i % 100}`, i)]).then(() => 'ok', (e: unknown) => e));
    const b = await openRegistry({ bucket, term: 2, leaderId: 'B' });
    const results = await Promise.all(outcomes);
    for (const r of results) if (r !== 'ok') expect(r).toBeInstanceOf(RegistryFencedError);
    const epoch = await (await new Kvm(nc).open(bucket)).get('_epoch');
    expect(epoch!.revision).toBe(1 + results.filter((r) => r === 'ok').length + 1);
    await b.write([put('after', true)]);
  });

  test('a leader of an older term cannot open over a newer epoch', async () => {
    const bucket = freshBucket();
    await openRegistry({ bucket, term: 5, leaderId: 'new' });
    await expect(openRegistry({ bucket, term: 4, leaderId: 'old' })).rejects.toBeInstanceOf(RegistryFencedError);
  });

  test('a value that is not JSON-serialisable is refused before anything is sent', async () => {
    const r = await openRegistry({ bucket: freshBucket(), term: 1 });
    await expect(r.write([put('k', undefined)])).rejects.toMatchObject({ code: 'REGISTRY_INVALID_VALUE' });
    await r.write([put('k', 1)]);
    expect((await r.load()).get('k')).toBe(1);
  });

  test('writes after close fail with RegistryUnavailableError', async () => {
    const r = await openRegistry({ bucket: freshBucket(), term: 1 });
    await r.close();
    await r.close();
    await expect(r.write([put('k', 1)])).rejects.toBeInstanceOf(RegistryUnavailableError);
  });
});

describe('JetStreamRegistry across a server restart', () => {
  let nats: NatsTestServers;
  let nc: NatsConnection;
  let registry: JetStreamRegistry | undefined;

  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.urls[0], reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  });
  afterAll(async () => {
    await registry?.close();
    await nc?.close();
    await nats?.cleanup();
  });

  test('server down → RegistryUnavailableError within the timeout; back → writes resume', async () => {
    registry = await JetStreamRegistry.open({ nc, bucket: 'outage', term: 1, leaderId: 'm', timeoutMs: 1000 });
    await registry.write([put('before', 1)]);
    await nats.stop(0);
    const started = Date.now();
    await expect(registry.write([put('while-down', 1)])).rejects.toBeInstanceOf(RegistryUnavailableError);
    expect(Date.now() - started).toBeLessThan(3000);
    await nats.restart(0);
    await eventually(() => registry!.write([put('after', 1)]), 15_000, 'a write after the restart');
    const loaded = await registry.load();
    expect(loaded.get('before')).toBe(1);
    expect(loaded.get('after')).toBe(1);
    await registry.close();
  });

  test('a server that forgot the last message id (restart after the duplicate window) costs one write, not leadership', async () => {
    registry = await JetStreamRegistry.open({ nc, bucket: 'forgetful', term: 1, leaderId: 'm', timeoutMs: 2000, duplicateWindowMs: 100 });
    await registry.write([put('before', 1)]);
    // The server rebuilds its last msg id only from messages inside the duplicate window, a wall
    // clock span: let the 100 ms window pass so that the restarted server has forgotten it.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const back = reconnected(nc);
    await nats.stop(0);
    await nats.restart(0);
    await back;
    const err = await registry.write([put('first-after', 1)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryUnavailableError);
    expect((err as Error).message).toMatch(/forgot its last message id/);
    await registry.write([put('second-after', 2)]);
    const loaded = await registry.load();
    expect(loaded.get('before')).toBe(1);
    expect(loaded.has('first-after')).toBe(false);
    expect(loaded.get('second-after')).toBe(2);
  });
});

describe('JetStreamRegistry on a 3-node cluster (R3)', () => {
  let nats: NatsTestServers;
  let nc: NatsConnection;
  let registry: JetStreamRegistry | undefined;

  beforeAll(async () => {
    nats = await startNats({ cluster: 3 });
    nc = await connect({ servers: [...nats.urls], reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  });
  afterAll(async () => {
    await registry?.close();
    await nc?.close();
    await nats?.cleanup();
  });

  const streamLeaderIndex = async (): Promise<number> => {
    const jsm = await jetstreamManager(nc, { timeout: 2000 });
    const info = await jsm.streams.info('KV_berth-registry');
    return Number(info.cluster!.leader!.slice(1)) - 1; // server names are n1..n3
  };

  test('writes survive killing the stream leader, fail fast without quorum, and resume when it returns', async () => {
    registry = await eventually(
      () => JetStreamRegistry.open({ nc, replicas: 3, term: 1, leaderId: 'm', timeoutMs: 2000 }), 20_000, 'open');
    await registry.write(Array.from({ length: 100 }, (_, i) => put(`agents/${i}`, { i })));

    const leader = await streamLeaderIndex();
    await nats.kill(leader);
    await eventually(() => registry!.write([put('after-one-down', true)]), 30_000, 'a write with one node down');
    // Loading creates a consumer, which needs the meta leader: it may have died too and be re-elected later.
    const loaded = await eventually(() => registry!.load(), 30_000, 'a load with one node down');
    expect(loaded.size).toBe(101);

    const second = [0, 1, 2].find((i) => i !== leader)!;
    await nats.kill(second);
    const started = Date.now();
    await expect(registry.write([put('no-quorum', true)])).rejects.toBeInstanceOf(RegistryUnavailableError);
    await expect(registry.write([put('no-quorum-2', true)])).rejects.toBeInstanceOf(RegistryUnavailableError);
    expect(Date.now() - started).toBeLessThan(2 * 2000 + 3000);

    await Promise.all([nats.restart(leader), nats.restart(second)]);
    await eventually(() => registry!.write([put('quorum-back', true)]), 45_000, 'a write after quorum returned');
    const after = await eventually(() => registry!.load(), 30_000, 'a load after quorum returned');
    expect(after.get('after-one-down')).toBe(true);
    expect(after.get('quorum-back')).toBe(true);
    expect(after.get('agents/99')).toEqual({ i: 99 });
  });
});

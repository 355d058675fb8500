/**
 * The framework key/value stores behave alike: memory (tests), files (one master, `berth dev`) and a
 * NATS JetStream KV bucket (HA) against a real nats-server.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FileKeyValueStore, MemoryKeyValueStore, NatsKeyValueStore, type KeyValueStore } from '../../src/frameworks/sdk/store';
import { startNats, type NatsTestServers } from '../support/nats';

let dir: string;
let nats: NatsTestServers;
const opened: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-kv-'));
  nats = await startNats();
});

afterAll(async () => {
  for (const s of opened) await s.close();
  await nats.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const kinds: [string, () => Promise<KeyValueStore>][] = [
  ['memory', async () => new MemoryKeyValueStore()],
  ['file', async () => {
    const s = new FileKeyValueStore(path.join(dir, String(Math.random())));
    opened.push(s); // closed before the directory goes: its key files are written in the background
    return s;
  }],
  ['nats', async () => {
    const s = await NatsKeyValueStore.open({ servers: nats.urls, bucket: `t${Math.random().toString(36).slice(2)}` });
    opened.push(s);
    return s;
  }],
];

describe.each(kinds)('%s key/value store', (_kind, open) => {
  it('puts, gets, lists by prefix in key order, and deletes', async () => {
    const s = await open();
    expect(await s.get('apps/web')).toBeUndefined();
    await s.put('apps/web', { instances: 3, name: 'web.v1' });
    await s.put('apps/api', { instances: 1 });
    await s.put('apps-x', 1);
    await s.put('jobs/nightly.backup/runs/r_1', { status: 'ok' });
    await s.put('apps/team.tmp-worker', { tmp: true }); // looks like a temporary file name: still a key
    expect(await s.get('apps/web')).toEqual({ instances: 3, name: 'web.v1' });
    expect((await s.list('apps/')).map((e) => e.key)).toEqual(['apps/api', 'apps/team.tmp-worker', 'apps/web']);
    expect(await s.list('jobs/')).toEqual([{ key: 'jobs/nightly.backup/runs/r_1', value: { status: 'ok' } }]);
    await s.put('apps/web', { instances: 5 });
    expect(await s.get('apps/web')).toEqual({ instances: 5 });
    await s.delete('apps/web');
    await s.delete('apps/never');
    expect(await s.get('apps/web')).toBeUndefined();
    expect((await s.list('apps/')).map((e) => e.key)).toEqual(['apps/api', 'apps/team.tmp-worker']);
  });

  it('refuses keys that are not parts of [A-Za-z0-9._-] separated by "/"', async () => {
    const s = await open();
    for (const bad of ['', '/a', 'a//b', 'a/../b', 'a b', 'ä', '.hidden', 'a/.b']) await expect(s.put(bad, 1)).rejects.toThrow(/store key/);
  });
});

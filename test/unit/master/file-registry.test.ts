/**
 * The embedded file registry keeps what it acknowledged: round trips across reopen, group commit
 * in issue order, compaction, and recovery that drops only what a crash can tear (the final line)
 * while refusing to silently skip damage anywhere else.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { memoryLogger, type Logger } from '../../../src/common/logging';
import { FileRegistry, RegistryCorruptError } from '../../../src/master/registry/file-registry';
import { RegistryUnavailableError, type RegistryOp } from '../../../src/master/registry/registry';

let dir: string;
const opened: FileRegistry[] = [];

function registry(options: { compactBytes?: number; logger?: Logger } = {}): FileRegistry {
  const r = new FileRegistry({ dir, ...options });
  opened.push(r);
  return r;
}

const put = (key: string, value: unknown): RegistryOp => ({ key, value });
const del = (key: string): RegistryOp => ({ key, delete: true });
const logPath = (): string => path.join(dir, 'log.jsonl');

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-file-registry-'));
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((r) => r.close()));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('FileRegistry', () => {
  test('an empty directory loads as an empty registry', async () => {
    expect((await registry().load()).size).toBe(0);
  });

  test('puts and deletes survive a reopen, with odd keys and nested values', async () => {
    const a = registry();
    await a.write([put('agents/a1', { hostname: 'h1', drain: false }), put('weird key ✓ . * >', [1, 'two', null])]);
    await a.write([put('frameworks/f1', { principal: 'p', failoverTimeout: 60 }), put('', 0)]);
    await a.write([del('agents/a1'), put('frameworks/f1', { principal: 'q' })]);
    await a.close();

    const loaded = await registry().load();
    expect(Object.fromEntries(loaded)).toEqual({
      'weird key ✓ . * >': [1, 'two', null],
      'frameworks/f1': { principal: 'q' },
      '': 0,
    });
  });

  test('values are copied: mutating what was written or loaded does not change the registry', async () => {
    const a = registry();
    const value = { n: 1 };
    const pending = a.write([put('k', value)]);
    value.n = 2;
    await pending;
    const first = await a.load();
    (first.get('k') as { n: number }).n = 3;
    expect((await a.load()).get('k')).toEqual({ n: 1 });
  });

  test('writes issued without awaiting are committed together and resolve in issue order', async () => {
    const a = registry();
    await a.load();
    const resolved: number[] = [];
    const writes = Array.from({ length: 200 }, (_, i) =>
      a.write([put('counter', i), put(`k${i}`, i)]).then(() => resolved.push(i)));
    await Promise.all(writes);
    expect(resolved).toEqual(Array.from({ length: 200 }, (_, i) => i));
    // The burst was issued in one tick, so it shares one append + fsync; each batch is its own line.
    expect(a.stats()).toEqual({ commits: 1, batches: 200, compactions: 0 });
    const lines = fs.readFileSync(logPath(), 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(200);
    expect(JSON.parse(lines[199]!)).toEqual([{ k: 'counter', v: 199 }, { k: 'k199', v: 199 }]);
    await a.close();
    expect((await registry().load()).get('counter')).toBe(199);
  });

  test('a put that cannot be serialised is rejected without affecting other writes', async () => {
    const a = registry();
    const bad = a.write([put('k', undefined)]);
    const good = a.write([put('k', 1)]);
    await expect(bad).rejects.toMatchObject({ code: 'REGISTRY_INVALID_VALUE' });
    await good;
    expect((await a.load()).get('k')).toBe(1);
  });

  test('compaction writes a snapshot, empties the log, and keeps every record', async () => {
    const a = registry({ compactBytes: 4096 });
    for (let i = 0; i < 100; i++) await a.write([put(`k${i % 30}`, { i, pad: 'x'.repeat(50) }), ...(i % 7 === 0 ? [del(`k${(i + 3) % 30}`)] : [])]);
    const expected = await a.load();
    expect(fs.existsSync(path.join(dir, 'snapshot.json'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'snapshot.json.tmp'))).toBe(false);
    expect(fs.statSync(logPath()).size).toBeLessThan(4096);
    expect(a.stats().compactions).toBeGreaterThan(0);
    await a.close();
    expect(await registry().load()).toEqual(expected);
  });

  test('a log replayed over a snapshot that already contains it (crash before truncation) changes nothing', async () => {
    const a = registry({ compactBytes: 1 << 20 });
    await a.write([put('a', 1), put('b', 2)]);
    await a.write([del('a'), put('b', 3)]);
    await a.close();
    const log = fs.readFileSync(logPath());
    const b = registry({ compactBytes: 1 }); // compacts on its first commit
    await b.write([put('c', 4)]);
    await b.close();
    fs.writeFileSync(logPath(), log); // as if the crash came between rename and truncate
    expect(Object.fromEntries(await registry().load())).toEqual({ b: 3, c: 4 });
  });

  test('a torn final line is dropped, reported, and cut off so later appends stay readable', async () => {
    const a = registry();
    await a.write([put('a', 1)]);
    await a.write([put('b', 2)]);
    await a.close();
    fs.appendFileSync(logPath(), '[{"k":"c","v":'); // a crash in the middle of an append

    const logger = memoryLogger();
    const b = registry({ logger });
    expect(Object.fromEntries(await b.load())).toEqual({ a: 1, b: 2 });
    expect(logger.messages('warn')).toEqual([expect.stringMatching(/torn final entry at .*log\.jsonl line 3/)]);
    await b.write([put('d', 4)]);
    await b.close();
    expect(Object.fromEntries(await registry().load())).toEqual({ a: 1, b: 2, d: 4 });
  });

  test('zeros left after the last line by a crash are ignored', async () => {
    const a = registry();
    await a.write([put('a', 1)]);
    await a.close();
    fs.appendFileSync(logPath(), Buffer.alloc(512));
    expect(Object.fromEntries(await registry().load())).toEqual({ a: 1 });
  });

  test('a corrupt line in the middle of the log is an error naming the file and line', async () => {
    const a = registry();
    await a.write([put('a', 1)]);
    await a.write([put('b', 2)]);
    await a.write([put('c', 3)]);
    await a.close();
    const lines = fs.readFileSync(logPath(), 'utf8').split('\n');
    lines[1] = lines[1]!.replace('"b"', '"b');
    fs.writeFileSync(logPath(), lines.join('\n'));

    const b = registry();
    const err = await b.load().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryCorruptError);
    expect((err as Error).message).toContain(`${logPath()}: line 2 is corrupt`);
    // Writes cannot go ahead on top of a log that was not understood.
    await expect(b.write([put('x', 1)])).rejects.toBeInstanceOf(RegistryCorruptError);
  });

  test('a corrupt snapshot is an error naming the file', async () => {
    fs.writeFileSync(path.join(dir, 'snapshot.json'), '{"format":"berth-registry-snapshot/1","records":[["a",1],');
    await expect(registry().load()).rejects.toThrow(`${path.join(dir, 'snapshot.json')}: snapshot is not valid JSON`);
  });

  test('10,000 records round-trip through compaction and reload', async () => {
    const a = registry({ compactBytes: 256 * 1024 });
    const batch: RegistryOp[] = [];
    for (let i = 0; i < 10_000; i++) {
      batch.push(put(`agents/${i.toString().padStart(5, '0')}`, { hostname: `host-${i}.example`, cpus: 16, mem: 65536, drain: i % 10 === 0 }));
      if (batch.length === 100) await a.write(batch.splice(0));
    }
    await a.close();
    const loaded = await registry().load();
    expect(loaded.size).toBe(10_000);
    expect(loaded.get('agents/09999')).toEqual({ hostname: 'host-9999.example', cpus: 16, mem: 65536, drain: false });
  });

  test('writes after close fail with RegistryUnavailableError; close is idempotent', async () => {
    const a = registry();
    await a.write([put('a', 1)]);
    await a.close();
    await a.close();
    await expect(a.write([put('b', 2)])).rejects.toBeInstanceOf(RegistryUnavailableError);
  });
});

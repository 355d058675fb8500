/**
 * The file store's journal: puts are durable once the journal holds them (group commit), reads see
 * them at once, the key files follow in commit order, and a directory left with a journal (a crash
 * before the key files were written) is replayed when opened — a torn last line skipped.
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FileKeyValueStore } from '../../../../src/frameworks/sdk/file-store';

let dir: string;
const stores: FileKeyValueStore[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(tmpdir(), 'berth-file-store-'));
});

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function open(): FileKeyValueStore {
  const s = new FileKeyValueStore(dir);
  stores.push(s);
  return s;
}

const journals = (): string[] => fs.readdirSync(dir).filter((n) => n.startsWith('.journal-')).sort();
const keyFile = (key: string): unknown => JSON.parse(fs.readFileSync(path.join(dir, `${key}.json`), 'utf8'));

describe('FileKeyValueStore journal', () => {
  test('a thousand puts of one turn are committed together; reads and lists see them at once, the key files follow', async () => {
    const s = open();
    await Promise.all(Array.from({ length: 1000 }, (_, i) => s.put(`runs/job-${i}/r1`, { i })));
    expect(await s.get('runs/job-999/r1')).toEqual({ i: 999 });
    expect((await s.list('runs/')).length).toBe(1000);
    await s.close(); // waits for the key files
    expect(keyFile('runs/job-0/r1')).toEqual({ i: 0 });
    expect(keyFile('runs/job-999/r1')).toEqual({ i: 999 });
    expect(journals()).toEqual([]);
  });

  test('the latest write of a key wins, in the store and in its file, also across groups', async () => {
    const s = open();
    const first = [s.put('a', 1), s.put('a', 2), s.put('b', 1)];
    await Promise.all(first);
    const second = [s.put('a', 3), s.delete('b')];
    expect(await s.get('a')).toBe(2);
    await Promise.all(second);
    expect(await s.get('a')).toBe(3);
    expect(await s.get('b')).toBeUndefined();
    expect((await s.list('')).map((e) => e.key)).toEqual(['a']);
    await s.close();
    expect(keyFile('a')).toBe(3);
    expect(fs.existsSync(path.join(dir, 'b.json'))).toBe(false);
  });

  test('opening a directory replays the journal a crash left — deletes included, a torn last line skipped — then removes it', async () => {
    fs.writeFileSync(path.join(dir, 'gone.json'), '"old"');
    fs.writeFileSync(path.join(dir, 'kept.json'), '"old"');
    fs.writeFileSync(path.join(dir, '.journal-000000000007'), [
      '{"k":"apps/web","v":{"instances":3}}',
      '{"k":"gone","d":true}',
      '{"k":"apps/web","v":{"instances":4}}',
      '',
    ].join('\n'));
    fs.writeFileSync(path.join(dir, '.journal-000000000008'), '{"k":"apps/api","v":{"x":1}}\n{"k":"kept","v":"ne');
    const s = open();
    expect(journals()).toEqual(['.journal-000000000009']); // replayed segments gone; appends go to a newer one
    expect(keyFile('apps/web')).toEqual({ instances: 4 });
    expect(keyFile('apps/api')).toEqual({ x: 1 });
    expect(fs.existsSync(path.join(dir, 'gone.json'))).toBe(false);
    expect(await s.get('kept')).toBe('old'); // the torn line was never acknowledged
    expect((await s.list('')).map((e) => e.key)).toEqual(['apps/api', 'apps/web', 'kept']);
  });

  test('what was acknowledged survives a process that dies before writing the key files', async () => {
    const s = open();
    await s.put('runs/a', { phase: 'LAUNCHED' });
    // As after kill -9 right after the commit: the journal is all there is (copied before the key files are written).
    const [segment] = journals();
    const copy = fs.readFileSync(path.join(dir, segment!));
    await s.close();
    fs.rmSync(path.join(dir, 'runs'), { recursive: true });
    fs.writeFileSync(path.join(dir, segment!), copy);
    expect(await open().get('runs/a')).toEqual({ phase: 'LAUNCHED' });
  });

  test('groups committed while key files are being written and segments retired lose nothing (reopened)', async () => {
    const s = open();
    const expected = new Map<string, number>();
    for (let round = 0; round < 60; round++) {
      const writes = Array.from({ length: 1 + (round % 7) * 5 }, (_, i) => {
        const key = `k/${(round * 7 + i) % 40}`;
        expected.set(key, round * 1000 + i);
        return s.put(key, round * 1000 + i);
      });
      await Promise.all(writes);
      if (round % 3 === 0) await new Promise((r) => setTimeout(r, 5)); // let key files land and segments retire
    }
    await s.close();
    const again = open();
    for (const [key, value] of expected) expect(await again.get(key)).toBe(value);
    expect((await again.list('k/')).length).toBe(expected.size);
  });

  test('a new segment that cannot be opened keeps appends on the current one; the key files still follow', async () => {
    const s = open();
    // The segment file is opened there (a spy on node:fs would not reach the module's own binding).
    const openSegment = jest.spyOn(s as unknown as { openSegment(): unknown }, 'openSegment').mockImplementation(() => {
      throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
    });
    try {
      await s.put('a', 1);
      await new Promise((r) => setTimeout(r, 20)); // the key file lands; the idle rotation fails
      expect(openSegment).toHaveBeenCalled();
      await s.put('b', 2);
    } finally {
      openSegment.mockRestore();
    }
    await s.close(); // the background writer did not stop on the failed rotation
    expect(keyFile('a')).toBe(1);
    expect(keyFile('b')).toBe(2);
  });

  test('a directory removed under the store does not break it: writes go on (to the open journal) and close ends', async () => {
    const sub = path.join(dir, 'gone');
    const s = new FileKeyValueStore(sub);
    stores.push(s);
    await s.put('a', 1);
    fs.rmSync(sub, { recursive: true, force: true }); // while the key file may still be in flight
    await new Promise((r) => setTimeout(r, 20));
    await s.put('b', 2);
    expect(await s.get('b')).toBe(2);
    await expect(s.close()).resolves.toBeUndefined();
  });

  test('a list sees a key whose file is written, and whose journal entry is dropped, while the directory is walked', async () => {
    const s = open();
    await s.put('apps/web', { n: 1 });
    await (s as unknown as { writing: Promise<void> }).writing; // apps/web.json on disk
    // Hold the key-file writer back, so apps/api is only in the journal when list reads apps/.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const inner = s as unknown as { writeKeyFiles: (...a: unknown[]) => Promise<void>; get: (key: string) => Promise<unknown>; writing: Promise<void> };
    const writeKeyFiles = inner.writeKeyFiles.bind(s);
    jest.spyOn(inner, 'writeKeyFiles').mockImplementation(async (...a: unknown[]) => {
      await gate;
      return writeKeyFiles(...a);
    });
    await s.put('apps/api', { n: 2 });
    // While the walk reads apps/web.json, the writer catches up: apps/api.json appears after its
    // directory was read, and its journal entry leaves the overlay before the walk ends.
    const get = inner.get.bind(s);
    jest.spyOn(inner, 'get').mockImplementation(async (key: string) => {
      release();
      await inner.writing;
      return get(key);
    });
    expect((await s.list('apps/')).map((e) => e.key)).toEqual(['apps/api', 'apps/web']);
  });

  test('after close, writes are refused', async () => {
    const s = open();
    await s.close();
    await expect(s.put('a', 1)).rejects.toThrow(/closed/);
  });
});

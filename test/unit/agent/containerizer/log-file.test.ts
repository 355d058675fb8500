/** Counting lines back from the end of a log: the start of `berth task logs --tail N`. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { lineStartFromEnd, readFileSlice, sliceOf } from '../../../../src/agent/containerizer/log-file';

/** A reader over an in-memory log that records every read. */
function reader(text: string | Buffer): { read: (o: number, n: number) => Promise<{ data: Buffer }>; reads: { offset: number; length: number }[] } {
  const all = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const reads: { offset: number; length: number }[] = [];
  return { reads, read: async (offset, length) => (reads.push({ offset, length }), sliceOf(all, offset, length)) };
}

const tail = async (text: string, lines: number): Promise<string> => text.slice(await lineStartFromEnd(reader(text).read, Buffer.byteLength(text), lines));

describe('lineStartFromEnd', () => {
  test('the last N lines, with or without a final newline; all of a shorter log; nothing for 0', async () => {
    expect(await tail('a\nb\nc\n', 2)).toBe('b\nc\n');
    expect(await tail('a\nb\nc\n', 1)).toBe('c\n');
    expect(await tail('a\nb\nc', 1)).toBe('c');
    expect(await tail('a\nb\nc', 2)).toBe('b\nc');
    expect(await tail('a\nb\nc\n', 3)).toBe('a\nb\nc\n');
    expect(await tail('a\nb\nc\n', 10)).toBe('a\nb\nc\n');
    expect(await tail('a\n\n\nb\n', 2)).toBe('\nb\n'); // empty lines count
    expect(await tail('a\nb\n', 0)).toBe('');
    expect(await tail('', 5)).toBe('');
    expect(await tail('\n', 1)).toBe('\n');
  });

  test('a huge log is read backwards in bounded chunks, only as far as the lines wanted', async () => {
    // 8 MiB of 100-byte lines: the last 3 lines are in the first (64 KiB) chunk read.
    const line = `${'x'.repeat(99)}\n`;
    const big = Buffer.from(line.repeat(80 * 1024 + 100));
    const r = reader(big);
    const start = await lineStartFromEnd(r.read, big.length, 3);
    expect(big.length - start).toBe(300);
    expect(r.reads).toEqual([{ offset: big.length - 64 * 1024, length: 64 * 1024 }]);

    // 50,000 lines go back 5 MB: chunks double to 1 MiB, none is larger, and every byte is read at most once.
    const r2 = reader(big);
    const start2 = await lineStartFromEnd(r2.read, big.length, 50_000);
    expect(big.length - start2).toBe(50_000 * 100);
    expect(Math.max(...r2.reads.map((x) => x.length))).toBe(1024 * 1024);
    expect(r2.reads.reduce((n, x) => n + x.length, 0)).toBeLessThan(big.length);
    for (let i = 1; i < r2.reads.length; i++) expect(r2.reads[i]!.offset + r2.reads[i]!.length).toBe(r2.reads[i - 1]!.offset);
  });

  test('over a real file (readFileSlice), lines across a chunk boundary', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-logfile-'));
    try {
      const file = path.join(dir, 'stdout');
      // A line of 70 KiB straddles the first 64 KiB chunk boundary.
      const text = `first\n${'y'.repeat(70 * 1024)}\nlast\n`;
      fs.writeFileSync(file, text);
      const start = await lineStartFromEnd((o, n) => readFileSlice(file, o, n), Buffer.byteLength(text), 2);
      expect(text.slice(start)).toBe(`${'y'.repeat(70 * 1024)}\nlast\n`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

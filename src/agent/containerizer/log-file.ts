import { constants } from 'node:fs';
import * as fsp from 'node:fs/promises';

/**
 * Up to `length` bytes of a log file from `offset`, with the file's whole size; an absent file is
 * empty. Used by the process containerizer and for logs of tasks the agent no longer tracks.
 *
 * Sandboxes are writable by their tasks, so a log file may have been replaced by a symlink to any
 * host file: it is never followed (ELOOP → an error naming the file).
 */
export async function readFileSlice(file: string, offset: number, length: number): Promise<{ data: Buffer; size: number }> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { data: Buffer.alloc(0), size: 0 };
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw new Error(`${file} is a symbolic link (replaced by the task?); not read`);
    throw e;
  }
  try {
    const { size } = await fh.stat();
    const n = Math.max(0, Math.min(length, size - offset));
    const data = Buffer.alloc(n);
    let read = 0;
    while (read < n) {
      const r = await fh.read(data, read, n - read, offset + read);
      if (r.bytesRead === 0) break;
      read += r.bytesRead;
    }
    return { data: data.subarray(0, read), size };
  } finally {
    await fh.close();
  }
}

/** Reads `length` bytes of a log from `offset` (any containerizer's readLog, or a file's slice). */
export type LogReader = (offset: number, length: number) => Promise<{ data: Buffer }>;

/**
 * Where the last `lines` lines of a log of `size` bytes start: read backwards in chunks (64 KiB,
 * doubling up to 1 MiB), never the whole log at once, stopping at the line wanted. A last line
 * without a newline counts as a line; a log with fewer lines starts at 0.
 */
export async function lineStartFromEnd(read: LogReader, size: number, lines: number): Promise<number> {
  if (lines <= 0) return size;
  let end = size;
  let chunk = 64 * 1024;
  let seen = 0;
  while (end > 0) {
    const start = Math.max(0, end - chunk);
    const { data } = await read(start, end - start);
    for (let i = data.lastIndexOf(0x0a); i >= 0; i = i === 0 ? -1 : data.lastIndexOf(0x0a, i - 1)) {
      const at = start + i;
      if (at === size - 1) continue; // the newline that ends the last line
      if (++seen === lines) return at + 1;
    }
    end = start;
    chunk = Math.min(chunk * 2, 1024 * 1024);
  }
  return 0;
}

/** The same slice of an in-memory log (the Docker engine hands out whole logs). */
export function sliceOf(all: Buffer, offset: number, length: number): { data: Buffer; size: number } {
  return { data: all.subarray(Math.min(offset, all.length), Math.min(all.length, offset + length)), size: all.length };
}

/** The last non-empty line of a log tail, trimmed to 200 characters; undefined when there is none. */
export function lastLine(tail: Buffer): string | undefined {
  const lines = tail.toString('utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const line = lines[lines.length - 1];
  return line === undefined ? undefined : line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

/**
 * Writes a whole file in a task's sandbox without following a symlink the task may have put there:
 * whatever is at `file` is removed first, then the file is created exclusively.
 */
export async function writeSandboxFile(file: string, data: Buffer): Promise<void> {
  await fsp.rm(file, { force: true });
  const fh = await fsp.open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    await fh.writeFile(data);
  } finally {
    await fh.close();
  }
}

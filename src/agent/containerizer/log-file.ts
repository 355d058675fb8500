import * as fsp from 'node:fs/promises';

/**
 * Up to `length` bytes of a log file from `offset`, with the file's whole size; an absent file is
 * empty. Used by the process containerizer and for logs of tasks the agent no longer tracks.
 */
export async function readFileSlice(file: string, offset: number, length: number): Promise<{ data: Buffer; size: number }> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { data: Buffer.alloc(0), size: 0 };
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

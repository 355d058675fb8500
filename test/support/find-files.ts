import * as fs from 'node:fs';
import * as path from 'node:path';

/** Every file named `name` under `dir` (recursively); none when `dir` is gone. */
export function findFiles(dir: string, name: string): string[] {
  const out: string[] = [];
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...findFiles(p, name));
    else if (e.name === name) out.push(p);
  }
  return out;
}

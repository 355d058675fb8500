import * as fs from 'node:fs';
import * as path from 'node:path';

/** Every file named `name` (or whose name passes `name`) under `dir`, recursively; none when `dir` is gone. */
export function findFiles(dir: string, name: string | ((fileName: string) => boolean)): string[] {
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
    else if (typeof name === 'string' ? e.name === name : name(e.name)) out.push(p);
  }
  return out;
}

/**
 * How the person at the shell runs this very `berth`, so that every command Berth prints as a hint
 * ("Next: …", "run … for usage") works when pasted as printed: `berth` when a `berth` on their PATH is
 * this installation (`npm link`, `npm install -g`), `npx berth` in the checkout's root (npx finds a
 * project's own bin there and nowhere else), else `node <path to bin/berth.js>`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The package root: the directory of the package.json named "berth" above this file. */
export function packageRoot(from: string = __dirname): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'berth') return dir;
    } catch {
      // no package.json here: keep walking up
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

function realpath(file: string): string | undefined {
  try {
    return fs.realpathSync(file);
  } catch {
    return undefined;
  }
}

/**
 * The directories of PATH the person's shell has. npm (`npm start`, `npx`) puts `node_modules/.bin`
 * directories in front of it for the scripts it runs — npx even its own cache, where it links this
 * package — and those are not on the shell's PATH: they are left out.
 */
export function shellPath(env: NodeJS.ProcessEnv): string[] {
  return (env['PATH'] ?? '').split(path.delimiter).filter((d) => d !== '' && !/node_modules[\\/]\.bin[\\/]?$/.test(d) && !/[\\/]node-gyp-bin[\\/]?$/.test(d));
}

let cached: string | undefined;

/**
 * The command prefix to print in hints, e.g. `berth`, `npx berth` or `node ../berth/bin/berth.js`.
 * `env.INIT_CWD` (set by npm to where it was started) wins over `cwd` as the person's directory.
 */
export function cliCommand(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd(), root: string | undefined = packageRoot()): string {
  if (env === process.env && cached !== undefined) return cached;
  const result = resolveCliCommand(env, cwd, root);
  if (env === process.env) cached = result;
  return result;
}

function resolveCliCommand(env: NodeJS.ProcessEnv, cwd: string, root: string | undefined): string {
  if (root === undefined) return 'berth';
  const bin = realpath(path.join(root, 'bin', 'berth.js'));
  for (const dir of shellPath(env)) {
    if (bin !== undefined && realpath(path.join(dir, 'berth')) === bin) return 'berth';
  }
  const here = path.resolve(env['INIT_CWD'] || cwd);
  if (realpath(here) === realpath(root)) return 'npx berth';
  const rel = path.relative(here, path.join(root, 'bin', 'berth.js'));
  const shown = rel.split(path.sep).length <= 4 ? rel : path.join(root, 'bin', 'berth.js');
  return `node ${/\s/.test(shown) ? JSON.stringify(shown) : shown}`;
}

/** A path inside the package as the person would type it from their directory (./examples/x, or absolute). */
export function packagePath(relative: string, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd(), root: string | undefined = packageRoot()): string {
  if (root === undefined) return relative;
  const here = path.resolve(env['INIT_CWD'] || cwd);
  const rel = path.relative(here, path.join(root, relative));
  const shown = rel.startsWith('..') || path.isAbsolute(rel) ? path.join(root, relative) : `./${rel}`;
  return /\s/.test(shown) ? JSON.stringify(shown) : shown;
}

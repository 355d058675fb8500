#!/usr/bin/env node
'use strict';
// The `prepare` script (run by `npm install`/`npm ci` in a checkout, and by npm each time it links
// the checkout somewhere — the first `npx berth`, `npm link`): builds dist/ with `npm run build`,
// unless the last build this script made is newer than every source it is made from. Without that,
// the first `npx berth --help` after `npm ci` rebuilt everything again (~9-15 s).
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const STAMP = path.join(ROOT, 'dist', '.prepared');
const SOURCES = ['src', 'bench', 'proto', 'scripts/gen-proto.js', 'tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json'];

/** The newest modification time of the files under `p` (0 when none); src/generated is output, not source. */
function newest(p) {
  let st;
  try {
    st = fs.statSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  if (p === path.join(ROOT, 'src', 'generated')) return 0;
  let max = 0; // files only: the build itself touches src/ (it rewrites src/generated)
  for (const e of fs.readdirSync(p)) max = Math.max(max, newest(path.join(p, e)));
  return max;
}

function upToDate() {
  let stamp;
  try {
    stamp = fs.statSync(STAMP).mtimeMs;
  } catch {
    return false;
  }
  if (!fs.existsSync(path.join(ROOT, 'dist', 'src', 'cli', 'main.js'))) return false;
  return SOURCES.every((s) => newest(path.join(ROOT, s)) < stamp);
}

if (upToDate()) process.exit(0);
const started = new Date();
const npm = process.env.npm_execpath;
const r = npm ? spawnSync(process.execPath, [npm, 'run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' }) : spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit', shell: process.platform === 'win32' });
if (r.status !== 0) process.exit(r.status ?? 1);
fs.writeFileSync(STAMP, `built by scripts/prepare.js at ${started.toISOString()}\n`);
fs.utimesSync(STAMP, started, started);

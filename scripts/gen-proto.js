#!/usr/bin/env node
'use strict';
// Generates TypeScript types for the wire contract (proto/berth/v1/*.proto) into src/generated/
// with proto-loader-gen-types, the generator that ships with @grpc/proto-loader.
//
// The loader options come from proto/loader-options.json, the same file src/common/rpc/proto.ts
// reads at run time, so the generated `__Output` types always describe what the runtime decoder
// produces (a mismatch would make e.g. enums numbers at run time but strings in the types).
//
// Quiet on success; on failure prints the generator's output and exits non-zero.
// Usage: node scripts/gen-proto.js            (npm run gen)

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const PROTO_DIR = path.join(ROOT, 'proto');
const PROTO_PACKAGE_DIR = path.join(PROTO_DIR, 'berth', 'v1');
const OUT_DIR = path.join(ROOT, 'src', 'generated');
const OPTIONS_FILE = path.join(PROTO_DIR, 'loader-options.json');

/** Maps the shared loader options to generator flags (`true` → `--name`, string → `--name=value`). */
function optionFlags(options) {
  const flags = [];
  for (const [name, value] of Object.entries(options)) {
    if (value === true) flags.push(`--${name}`);
    else if (typeof value === 'string') flags.push(`--${name}=${value}`);
    else if (value !== false) throw new Error(`${OPTIONS_FILE}: unsupported value for "${name}": ${JSON.stringify(value)}`);
  }
  return flags;
}

function main() {
  const options = JSON.parse(fs.readFileSync(OPTIONS_FILE, 'utf8'));
  const files = fs.readdirSync(PROTO_PACKAGE_DIR)
    .filter((f) => f.endsWith('.proto'))
    .sort()
    .map((f) => path.posix.join('berth', 'v1', f));
  if (files.length === 0) throw new Error(`no .proto files in ${PROTO_PACKAGE_DIR}`);

  // Stale output (e.g. a message that was renamed) must not survive: start from an empty dir.
  fs.rmSync(OUT_DIR, { recursive: true, force: true });
  fs.mkdirSync(OUT_DIR, { recursive: true });

  const bin = require.resolve('@grpc/proto-loader/build/bin/proto-loader-gen-types.js', { paths: [ROOT] });
  // `-I` is an array option that would swallow the file names after it: keep it before them.
  const args = [
    bin,
    '-I', path.relative(ROOT, PROTO_DIR),
    '--outDir', path.relative(ROOT, OUT_DIR),
    '--grpcLib=@grpc/grpc-js',
    '--includeComments',
    ...optionFlags(options),
    ...files,
  ];
  const result = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    process.stderr.write(result.stdout || '');
    process.stderr.write(result.stderr || '');
    throw new Error(`proto-loader-gen-types exited with status ${result.status}`);
  }
}

try {
  main();
} catch (err) {
  process.stderr.write(`gen-proto: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
}

#!/usr/bin/env node
'use strict';
// Enforces the dependency direction of docs/architecture.md:
//   common, allocator → nothing of master, agent, frameworks, cli
//   allocator         → no I/O modules either (it is pure and synchronous)
//   agent             → not master;   master → not agent;   frameworks → not master, agent
//   only cli wires processes together, so nothing imports cli.
// Exits 1 and lists every offending import.
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const src = path.join(root, 'src');
const layers = ['common', 'allocator', 'master', 'agent', 'frameworks', 'cli', 'ui', 'generated'];
const forbidden = {
  common: ['master', 'agent', 'frameworks', 'cli', 'allocator'],
  allocator: ['master', 'agent', 'frameworks', 'cli'],
  agent: ['master', 'frameworks', 'cli'],
  master: ['agent', 'frameworks', 'cli'],
  frameworks: ['master', 'agent', 'cli'],
  generated: ['common', 'allocator', 'master', 'agent', 'frameworks', 'cli'],
};
// The allocator may not touch the outside world.
const ioModules = /^(node:)?(fs|net|http|https|http2|dgram|child_process|worker_threads|cluster|tls|dns)(\/|$)|^@grpc\/|^@nats-io\/|^dockerode$/;

function* files(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* files(p);
    else if (/\.(ts|js|mjs)$/.test(entry.name)) yield p;
  }
}

const importRe = /(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g;
const problems = [];
for (const file of files(src)) {
  const layer = path.relative(src, file).split(path.sep)[0];
  const text = fs.readFileSync(file, 'utf8');
  for (const m of text.matchAll(importRe)) {
    const spec = m[1] || m[2] || m[3];
    const rel = path.relative(root, file);
    if (spec.startsWith('.')) {
      const target = path.relative(src, path.resolve(path.dirname(file), spec)).split(path.sep)[0];
      if (layers.includes(target) && (forbidden[layer] || []).includes(target)) {
        problems.push(`${rel}: ${layer} must not import ${target} ("${spec}")`);
      }
    } else if (layer === 'allocator' && ioModules.test(spec)) {
      problems.push(`${rel}: the allocator must stay free of I/O, but imports "${spec}"`);
    }
  }
}
if (problems.length > 0) {
  process.stderr.write(`dependency direction violated:\n  ${problems.join('\n  ')}\n`);
  process.exit(1);
}

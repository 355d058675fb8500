#!/usr/bin/env node
'use strict';
// Enforces the dependency direction of docs/architecture.md:
//   common, allocator → nothing of master, agent, frameworks, cli
//   allocator         → no I/O modules either (it is pure and synchronous)
//   agent             → not master;   master → not agent;   frameworks → not master, agent
//   only cli wires processes together, so nothing imports cli.
// And no import cycle among the files of src/ (type-only imports count: a cycle of types is a
// cycle of concepts), except those listed in KNOWN_CYCLES, which may shrink but not grow
// (docs/architecture.md, "Import cycles").
// Exits 1 and lists every offending import and cycle.
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

// Each known cycle as the sorted list of its files (relative to src/): none left; a cycle that must
// stay for a while is listed here with the issue that removes it.
const KNOWN_CYCLES = [];

/** The file a relative import names (with .ts, .js or /index.ts), or undefined. */
function resolveImport(from, spec) {
  const base = path.resolve(path.dirname(from), spec);
  for (const candidate of [base, `${base}.ts`, `${base}.js`, path.join(base, 'index.ts')]) {
    if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

/** Strongly connected components of more than one file (Tarjan), each sorted. */
function cycles(graph) {
  let next = 0;
  const index = new Map(), low = new Map(), stack = [], onStack = new Set(), found = [];
  const visit = (v) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) !== index.get(v)) return;
    const component = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1) found.push(component.sort()); // a file naming itself (a recursive generated type) is no cycle
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

const importRe = /(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g;
const problems = [];
const graph = new Map();
for (const file of files(src)) {
  const edges = new Set();
  graph.set(path.relative(src, file), edges);
  const layer = path.relative(src, file).split(path.sep)[0];
  const text = fs.readFileSync(file, 'utf8');
  for (const m of text.matchAll(importRe)) {
    const spec = m[1] || m[2] || m[3];
    const rel = path.relative(root, file);
    if (spec.startsWith('.')) {
      const resolved = resolveImport(file, spec);
      if (resolved !== undefined && resolved.startsWith(src + path.sep)) edges.add(path.relative(src, resolved));
      const target = path.relative(src, path.resolve(path.dirname(file), spec)).split(path.sep)[0];
      if (layers.includes(target) && (forbidden[layer] || []).includes(target)) {
        problems.push(`${rel}: ${layer} must not import ${target} ("${spec}")`);
      }
    } else if (layer === 'allocator' && ioModules.test(spec)) {
      problems.push(`${rel}: the allocator must stay free of I/O, but imports "${spec}"`);
    }
  }
}
const known = new Set(KNOWN_CYCLES.map((c) => c.join(' ')));
for (const cycle of cycles(graph)) {
  if (known.has(cycle.join(' '))) continue;
  const within = KNOWN_CYCLES.some((k) => cycle.every((f) => k.includes(f)));
  if (!within) problems.push(`import cycle among ${cycle.length} files: ${cycle.join(' → ')} (break it: move the shared types to their own file, or give one side a small interface of what it needs)`);
}
if (problems.length > 0) {
  process.stderr.write(`dependency direction violated:\n  ${problems.join('\n  ')}\n`);
  process.exit(1);
}

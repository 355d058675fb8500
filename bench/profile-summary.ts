/**
 * Summarises V8 profiles, each function located in its TypeScript source through the compiled
 * file's source map (`file.ts:line`):
 *
 * - a `.cpuprofile` (from `node --cpu-prof` or the inspector's Profiler): the functions with the
 *   most self time, Berth's functions by inclusive time, and self time per area (a package under
 *   node_modules, a directory of src/, node's internals, GC, idle);
 * - a `.heapprofile` (the inspector's sampling heap profiler): the allocation sites of the memory
 *   still live when it was taken, by self size and (for Berth's functions) inclusive size.
 *
 *   node dist/bench/profile-summary.js master.cpuprofile|master.heapprofile [--top 25]
 */
import * as fs from 'node:fs';
import { SourceMap } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}

interface CpuProfile {
  readonly nodes: { readonly id: number; readonly callFrame: CallFrame; readonly children?: number[] }[];
  readonly samples: number[];
  readonly timeDeltas: number[];
  readonly startTime: number;
  readonly endTime: number;
}

export interface HotFunction {
  readonly function: string;
  /** `src/master/task-tracker.ts:57` (TypeScript, through the source map) or the JavaScript location. */
  readonly location: string;
  readonly self_ms: number;
  readonly self_pct: number;
}

export interface ProfileSummary {
  readonly duration_ms: number;
  readonly busy_pct: number;
  /** Self time, hottest first. */
  readonly top: HotFunction[];
  /** Berth's own functions (src/) by inclusive time: where the master's work starts. */
  readonly top_inclusive_src: HotFunction[];
  readonly areas: { readonly area: string; readonly self_ms: number; readonly self_pct: number }[];
}

const maps = new Map<string, SourceMap | null>();

function sourceMapFor(file: string): SourceMap | null {
  let map = maps.get(file);
  if (map === undefined) {
    try {
      map = new SourceMap(JSON.parse(fs.readFileSync(`${file}.map`, 'utf8')));
    } catch {
      map = null;
    }
    maps.set(file, map);
  }
  return map;
}

/** A call frame's place: the TypeScript source when a source map knows it, relative to `root`. */
function locate(frame: CallFrame, root: string): string {
  if (frame.url === '') return '';
  // CPU profiles name scripts by file:// URL, heap profiles by path.
  const file = frame.url.startsWith('file://') ? fileURLToPath(frame.url) : path.isAbsolute(frame.url) ? frame.url : undefined;
  if (file === undefined) return `${frame.url}:${frame.lineNumber + 1}`;
  const entry = sourceMapFor(file)?.findEntry(frame.lineNumber, frame.columnNumber) as { originalSource?: string; originalLine?: number } | undefined;
  if (entry?.originalSource !== undefined && entry.originalLine !== undefined) {
    const source = entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : path.resolve(path.dirname(file), entry.originalSource);
    return `${path.relative(root, source)}:${entry.originalLine + 1}`;
  }
  return `${path.relative(root, file)}:${frame.lineNumber + 1}`;
}

/** Which part of the program a location belongs to. */
function areaOf(frame: CallFrame, location: string): string {
  if (frame.url === '') {
    if (frame.functionName.startsWith('(')) return frame.functionName;
    // protobufjs generates its codecs with `new Function`: they have no script.
    if (/\$(encode|decode|fromObject|toObject|verify)$/.test(frame.functionName)) return 'protobufjs (generated codecs)';
    return '(native)';
  }
  if (frame.url.startsWith('node:')) return frame.url.replace(/^node:internal\//, 'node:').split('/')[0]!.replace(/:\d+$/, '');
  const nm = location.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = location.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const m = /^(src\/[^/]+|bench)\//.exec(location);
  return m !== null ? m[1]! : 'other';
}

export function summariseProfile(file: string, top = 25, root = process.cwd()): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const total = profile.endTime - profile.startTime;
  const byFunction = new Map<string, { fn: string; location: string; us: number }>();
  const byArea = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') idle += us;
    const location = locate(frame, root);
    const fn = frame.functionName === '' ? '(anonymous)' : frame.functionName;
    const key = `${fn} ${location}`;
    const entry = byFunction.get(key) ?? { fn, location, us: 0 };
    entry.us += us;
    byFunction.set(key, entry);
    const area = areaOf(frame, location);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
  }
  // Inclusive time of src/ functions: each sample counts once for every distinct function on its stack.
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = new Map<number, { key: string; fn: string; location: string } | null>();
  for (const n of profile.nodes) {
    const location = locate(n.callFrame, root);
    keyOf.set(n.id, location.startsWith('src/') ? { key: `${n.callFrame.functionName} ${location}`, fn: n.callFrame.functionName || '(anonymous)', location } : null);
  }
  const inclusive = new Map<string, { fn: string; location: string; us: number }>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const k = keyOf.get(at);
      if (k == null || seen.has(k.key)) continue;
      seen.add(k.key);
      const entry = inclusive.get(k.key) ?? { fn: k.fn, location: k.location, us: 0 };
      entry.us += us;
      inclusive.set(k.key, entry);
    }
  }
  const pct = (us: number) => Math.round((us / total) * 1000) / 10;
  const ms = (us: number) => Math.round(us / 100) / 10;
  return {
    duration_ms: ms(total),
    busy_pct: pct(total - idle),
    top: [...byFunction.values()]
      .filter((f) => f.fn !== '(idle)')
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ function: f.fn, location: f.location, self_ms: ms(f.us), self_pct: pct(f.us) })),
    top_inclusive_src: [...inclusive.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ function: f.fn, location: f.location, self_ms: ms(f.us), self_pct: pct(f.us) })),
    areas: [...byArea.entries()].sort((a, b) => b[1] - a[1]).map(([area, us]) => ({ area, self_ms: ms(us), self_pct: pct(us) })),
  };
}

interface HeapNode {
  readonly callFrame: CallFrame;
  readonly selfSize: number;
  readonly children: HeapNode[];
}

export interface HeapSite {
  readonly function: string;
  readonly location: string;
  readonly mb: number;
  readonly pct: number;
}

export interface HeapProfileSummary {
  /** Live bytes the sampling profiler accounts for (an estimate of the heap it sampled). */
  readonly sampled_mb: number;
  /** Allocation sites by the live memory they allocated themselves. */
  readonly top_self: HeapSite[];
  /** Berth's functions (src/) by the live memory allocated in them and everything they called. */
  readonly top_inclusive_src: HeapSite[];
  readonly areas: { readonly area: string; readonly mb: number; readonly pct: number }[];
}

export function summariseHeapProfile(file: string, top = 25, root = process.cwd()): HeapProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as { head: HeapNode };
  const self = new Map<string, { fn: string; location: string; bytes: number }>();
  const inclusive = new Map<string, { fn: string; location: string; bytes: number }>();
  const areas = new Map<string, number>();
  let total = 0;
  // Returns the subtree's bytes; adds them to each distinct src/ function on the path once.
  const walk = (node: HeapNode, onPath: Set<string>): number => {
    const location = locate(node.callFrame, root);
    const fn = node.callFrame.functionName === '' ? '(anonymous)' : node.callFrame.functionName;
    const key = `${fn} ${location}`;
    if (node.selfSize > 0) {
      const e = self.get(key) ?? { fn, location, bytes: 0 };
      e.bytes += node.selfSize;
      self.set(key, e);
      const area = areaOf(node.callFrame, location);
      areas.set(area, (areas.get(area) ?? 0) + node.selfSize);
      total += node.selfSize;
    }
    const mine = location.startsWith('src/') && !onPath.has(key);
    if (mine) onPath.add(key);
    let bytes = node.selfSize;
    for (const c of node.children) bytes += walk(c, onPath);
    if (mine) {
      onPath.delete(key);
      const e = inclusive.get(key) ?? { fn, location, bytes: 0 };
      e.bytes += bytes;
      inclusive.set(key, e);
    }
    return bytes;
  };
  walk(profile.head, new Set());
  const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
  const pct = (b: number) => Math.round((b / total) * 1000) / 10;
  const list = (m: Map<string, { fn: string; location: string; bytes: number }>) => [...m.values()]
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, top)
    .map((e) => ({ function: e.fn, location: e.location, mb: mb(e.bytes), pct: pct(e.bytes) }));
  return {
    sampled_mb: mb(total),
    top_self: list(self),
    top_inclusive_src: list(inclusive),
    areas: [...areas.entries()].sort((a, b) => b[1] - a[1]).map(([area, b]) => ({ area, mb: mb(b), pct: pct(b) })),
  };
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const topIndex = args.indexOf('--top');
  const file = args.find((a, i) => !a.startsWith('--') && (topIndex < 0 || i !== topIndex + 1));
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/profile-summary.js <file.cpuprofile|file.heapprofile> [--top N]\n');
    process.exit(2);
  }
  const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 25;
  const summary = file.endsWith('.heapprofile') ? summariseHeapProfile(file, top) : summariseProfile(file, top);
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
}

/**
 * Allocator benchmark: how long one allocation cycle takes, printed as JSON.
 *
 *   npm run bench:allocator -- --agents 10000 --frameworks 1000 [--roles 1] [--scenario decline|fresh]
 *                              [--rounds 20] [--sorter drf|random] [--json]
 *   npm run bench:allocator                      # the grid {1k, 10k, 50k} agents × {100, 1k, 6k} frameworks
 *
 * `decline` reproduces Mesos's HierarchicalAllocator_BENCHMARK_Test.DeclineOffers: agents of
 * `cpus:24;mem:4096;disk:4096;ports:[31000-32000]` with `cpus:16;mem:2014;disk:1024` and 16 port
 * ranges already used by the frameworks (round robin), every offer declined with the longest
 * filter, so filters pile up by one per agent per round. `fresh`: the same cluster, but offers
 * are returned without filters, so every round starts from the same state.
 *
 * Only `allocate()` is timed, as in Mesos; the declines between rounds are not. Each grid point
 * runs in its own process so heap figures do not mix.
 */
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { HierarchicalAllocator } from '../src/allocator/hierarchical-allocator';
import { RandomSorter } from '../src/allocator/random-sorter';
import type { SorterFactory } from '../src/allocator/sorter';
import type { Allocation, UsedResources } from '../src/allocator/types';
import { seededRandom } from '../src/common/random';
import { Resources } from '../src/common/resources';
import { MAX_REFUSE_SECONDS } from '../src/allocator/state';

interface Options {
  agents: number;
  frameworks: number;
  roles: number;
  scenario: 'decline' | 'fresh';
  rounds: number;
  sorter: 'drf' | 'random';
  json: boolean;
}

const GRID_AGENTS = [1_000, 10_000, 50_000];
const GRID_FRAMEWORKS = [100, 1_000, 6_000];

function parseArgs(argv: string[]): { options: Options; grid: boolean } {
  const o: Options = { agents: 0, frameworks: 0, roles: 1, scenario: 'decline', rounds: 20, sorter: 'drf', json: false };
  let grid = true;
  const int = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${flag} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    switch (flag) {
      case '--agents': o.agents = int(flag, value, 1); grid = false; i++; break;
      case '--frameworks': o.frameworks = int(flag, value, 1); grid = false; i++; break;
      case '--roles': o.roles = int(flag, value, 1); i++; break;
      case '--rounds': o.rounds = int(flag, value, 1); i++; break;
      case '--scenario':
        if (value !== 'decline' && value !== 'fresh') throw new Error(`--scenario must be decline or fresh, got ${JSON.stringify(value)}`);
        o.scenario = value; i++; break;
      case '--sorter':
        if (value !== 'drf' && value !== 'random') throw new Error(`--sorter must be drf or random, got ${JSON.stringify(value)}`);
        o.sorter = value; i++; break;
      case '--json': o.json = true; break;
      case '--help':
      case '-h':
        process.stdout.write('usage: bench:allocator [--agents N --frameworks M] [--roles R] [--scenario decline|fresh] [--rounds K] [--sorter drf|random] [--json]\n');
        process.exit(0);
      default: throw new Error(`unknown argument ${JSON.stringify(flag)}`);
    }
  }
  if (!grid && (o.agents === 0 || o.frameworks === 0)) throw new Error('--agents and --frameworks go together');
  return { options: o, grid };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

function run(o: Options): Record<string, unknown> {
  const random = seededRandom(42);
  const sorter: SorterFactory | undefined = o.sorter === 'random' ? (pool, r) => new RandomSorter(pool, r) : undefined;
  const allocator = new HierarchicalAllocator({ random, roleSorter: sorter, frameworkSorter: sorter });
  const role = (f: number) => `role${f % o.roles}`;
  const fwId = (f: number) => `framework-${String(f).padStart(5, '0')}`;

  let t = performance.now();
  for (let f = 0; f < o.frameworks; f++) allocator.addFramework(fwId(f), { roles: [role(f)] });
  const addFrameworksMs = performance.now() - t;

  const total = Resources.parse('cpus:24;mem:4096;disk:4096;ports:[31000-32000]');
  // 16 used port ranges of two ports each, as Mesos's benchmark takes 16 ranges from the agent.
  const usedPorts = Array.from({ length: 16 }, (_, i) => `${31000 + i * 4}-${31001 + i * 4}`).join(',');
  const used = Resources.parse(`cpus:16;mem:2014;disk:1024;ports:[${usedPorts}]`);
  t = performance.now();
  for (let a = 0; a < o.agents; a++) {
    const f = a % o.frameworks;
    const usage = new Map<string, UsedResources[]>([[fwId(f), [{ role: role(f), resources: used }]]]);
    allocator.addAgent(`agent-${a}`, { hostname: `host-${a}` }, total, usage);
  }
  const addAgentsMs = performance.now() - t;

  const refuseSeconds = o.scenario === 'decline' ? MAX_REFUSE_SECONDS : 0;
  const cycles: number[] = [];
  const offers: number[] = [];
  let now = 1_000_000;
  for (let round = 0; round < o.rounds; round++) {
    now += 1000;
    const start = performance.now();
    const allocations: Allocation[] = allocator.allocate(now);
    cycles.push(performance.now() - start);
    offers.push(allocations.length);
    for (const a of allocations) allocator.recoverResources(a.frameworkId, a.agentId, a.role, a.resources, { refuseSeconds }, now);
  }
  global.gc?.();
  const mem = process.memoryUsage();
  // Keep the allocator reachable until after the measurement, or the collector frees it first.
  const roles = allocator.roles().length;
  const sorted = [...cycles].sort((x, y) => x - y);
  return {
    bench: 'allocator',
    scenario: o.scenario,
    sorter: o.sorter,
    agents: o.agents,
    frameworks: o.frameworks,
    roles: roles,
    rounds: o.rounds,
    cycle_ms_p50: round3(percentile(sorted, 50)),
    cycle_ms_mean: round3(cycles.reduce((x, y) => x + y, 0) / cycles.length),
    cycle_ms_p95: round3(percentile(sorted, 95)),
    cycle_ms_min: round3(sorted[0]!),
    cycle_ms_max: round3(sorted[sorted.length - 1]!),
    offers_per_cycle: Math.round(offers.reduce((s, x) => s + x, 0) / offers.length),
    offers_first_cycle: offers[0],
    offers_last_cycle: offers[offers.length - 1],
    add_agents_ms: round3(addAgentsMs),
    add_frameworks_ms: round3(addFrameworksMs),
    heap_mb: Math.round(mem.heapUsed / 2 ** 20),
    rss_mb: Math.round(mem.rss / 2 ** 20),
    node: process.version,
  };
}

function main(): void {
  const { options, grid } = parseArgs(process.argv.slice(2));
  if (!grid) {
    const result = run(options);
    process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : `${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  // The grid: one child process per point, so each heap figure is its own.
  for (const agents of GRID_AGENTS) {
    for (const frameworks of GRID_FRAMEWORKS) {
      const args = ['--expose-gc', __filename, '--agents', String(agents), '--frameworks', String(frameworks), '--roles', String(options.roles),
        '--scenario', options.scenario, '--rounds', String(options.rounds), '--sorter', options.sorter, '--json'];
      const line = execFileSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 20 }).trim();
      process.stdout.write(`${line}\n`);
    }
  }
}

try {
  main();
} catch (err) {
  process.stderr.write(`bench:allocator: ${(err as Error).message}\n`);
  process.exit(2);
}

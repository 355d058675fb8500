/**
 * CLI start-up benchmark: how long a `berth` command takes end to end (spawn to exit), against
 * `node -e 0` measured in the same run, printed as JSON.
 *
 *   npm run bench:cli -- [--runs 15] [--json]
 *
 * Commands: `berth --version`, `berth --help`, and `berth agent list` against a real master this
 * benchmark starts itself (its own process, loopback, a temporary work dir). The commands run in
 * turn — baseline, version, help, agent list, baseline, … — so a machine that slows down or speeds up
 * during the run affects them alike; each gets min, median and max wall seconds, and the medians
 * above the baseline's median are what the targets are about (--version and --help ≤ 0.08 s above
 * `node -e 0`; agent list ≤ 0.2 s end to end).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePorts } from './scale-cluster';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'berth.js');

interface Figures { min_s: number; median_s: number; max_s: number }

/** Runs `args` with node once; wall seconds from spawn to exit (throws when it fails). */
function timed(args: readonly string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr.toString().trim()}`);
  return s;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

function figures(samples: readonly number[]): Figures {
  const s = [...samples].sort((a, b) => a - b);
  return { min_s: round3(s[0]!), median_s: round3(s[s.length >> 1]!), max_s: round3(s[s.length - 1]!) };
}

/** Starts `berth master` on free loopback ports and waits (at most 30 s) until `agent list` answers. */
async function startMaster(workDir: string): Promise<{ child: ChildProcess; address: string }> {
  const [grpcPort, httpPort] = await freePorts(2);
  const child = spawn(process.execPath, [BIN, 'master', '--auth-enabled', 'false', '--grpc-port', String(grpcPort), '--http-port', String(httpPort), '--work-dir', workDir, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => void (stderr += d.toString()));
  const address = `127.0.0.1:${grpcPort}`;
  const giveUp = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the master exited ${child.exitCode}: ${stderr}`);
    const r = spawnSync(process.execPath, [BIN, 'agent', 'list', '--master', address], { stdio: 'ignore', timeout: 10_000 });
    if (r.status === 0) return { child, address };
    if (Date.now() > giveUp) throw new Error(`the master at ${address} did not answer within 30 s: ${stderr}`);
    await new Promise((r2) => setTimeout(r2, 200));
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const at = args.indexOf('--runs');
  const runs = at >= 0 ? Number(args[at + 1]) : 15;
  if (!Number.isInteger(runs) || runs < 1 || runs > 200) throw new Error(`--runs must be an integer from 1 to 200, got "${args[at + 1]}"`);
  const json = args.includes('--json');
  if (!fs.existsSync(BIN)) throw new Error(`${BIN} is missing`);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-cli-'));
  const master = await startMaster(workDir);
  try {
    const commands: Record<string, readonly string[]> = {
      'node -e 0': ['-e', '0'],
      'berth --version': [BIN, '--version'],
      'berth --help': [BIN, '--help'],
      'berth agent list': [BIN, 'agent', 'list', '--master', master.address],
    };
    const samples: Record<string, number[]> = Object.fromEntries(Object.keys(commands).map((k) => [k, []]));
    for (const argv of Object.values(commands)) timed(argv); // one warm-up each (disk cache), not counted
    for (let i = 0; i < runs; i++) {
      for (const [name, argv] of Object.entries(commands)) samples[name]!.push(timed(argv));
    }
    const results = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, figures(v)]));
    const baseline = results['node -e 0']!.median_s;
    const above = (name: string): number => round3(results[name]!.median_s - baseline);
    const out = {
      runs,
      node: process.version,
      cores: os.cpus().length,
      wall: results,
      version_above_baseline_s: above('berth --version'),
      help_above_baseline_s: above('berth --help'),
      agent_list_s: results['berth agent list']!.median_s,
      targets: { version_above_baseline_s: 0.08, help_above_baseline_s: 0.08, agent_list_s: 0.2 },
    };
    console.log(json ? JSON.stringify(out) : JSON.stringify(out, null, 2));
  } finally {
    master.child.kill('SIGTERM');
    await new Promise((r) => (master.child.exitCode !== null ? r(undefined) : master.child.once('exit', r)));
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:cli: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});

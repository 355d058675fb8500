import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { berthV1 } from '../../src/common/rpc/proto';

/** A free loopback TCP port (bound, read, released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A `berth master` child process, run from the sources (test/support/run-berth.js). */
export interface MasterProcess {
  readonly id: string;
  readonly grpcAddress: string;
  /** Where it listens and keeps its state (to start it again in the same place). */
  readonly at: { readonly grpcPort: number; readonly httpPort: number; readonly workDir: string };
  readonly child: ChildProcess;
  readonly log: () => string;
  /** Sends a signal and, for SIGKILL/SIGTERM, waits for the exit. */
  signal(sig: NodeJS.Signals): Promise<void>;
}

const RUN_BERTH = path.join(__dirname, 'run-berth.js');
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** `at`: the ports and work directory of an earlier run (a restart of the same master). */
export async function startMasterProcess(id: string, args: readonly string[], at?: { grpcPort: number; httpPort: number; workDir: string }): Promise<MasterProcess> {
  const grpcPort = at?.grpcPort ?? (await freePort());
  const httpPort = at?.httpPort ?? (await freePort());
  const workDir = at?.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `berth-${id}-`));
  const child = spawn(process.execPath, [RUN_BERTH, 'master', '--master-id', id, '--grpc-port', String(grpcPort), '--http-port', String(httpPort), '--work-dir', workDir, '--log-level', 'debug', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => (live.delete(child), resolve())));
  return {
    id,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    at: { grpcPort, httpPort, workDir },
    child,
    log: () => log,
    async signal(sig) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(sig);
      if (sig === 'SIGKILL' || sig === 'SIGTERM') await exited;
    },
  };
}

/**
 * Runs `berth <args>` as a child process (from the sources) until it exits; resolves with its exit
 * code and output. For daemons that must refuse to start: one still running after `ms` is killed
 * and the promise rejects, with what it printed.
 */
export async function runBerthToExit(args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; ms?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [RUN_BERTH, ...args], { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const ms = opts.ms ?? 30_000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`berth ${args.join(' ')} still ran after ${ms} ms; stderr: ${stderr}`));
    }, ms);
    child.once('close', (code) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

/** GetHealth of one master; undefined when it does not answer within `ms`. */
export async function health(address: string, ms = 1000): Promise<{ healthy: boolean; leader: boolean } | undefined> {
  const client = new (berthV1().Operator)(address, grpc.credentials.createInsecure());
  try {
    return await new Promise((resolve) => {
      client.GetHealth({}, { deadline: Date.now() + ms }, ((err: Error | null, res: { healthy: boolean; leader: boolean }) => resolve(err ? undefined : res)) as never);
    });
  } finally {
    client.close();
  }
}

/**
 * Polls the masters until exactly one says it leads; returns it. Polling is the only way to see
 * another process's state here; it is bounded by `ms`.
 */
export async function waitForLeader(masters: readonly MasterProcess[], ms: number, except?: MasterProcess): Promise<MasterProcess> {
  const end = Date.now() + ms;
  for (;;) {
    const answers = await Promise.all(masters.filter((m) => m !== except).map(async (m) => ({ m, h: await health(m.grpcAddress, 500) })));
    const leaders = answers.filter((a) => a.h?.leader === true);
    if (leaders.length === 1) return leaders[0]!.m;
    if (Date.now() > end) throw new Error(`no single leader within ${ms} ms (leaders: ${leaders.map((l) => l.m.id).join(', ') || 'none'})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

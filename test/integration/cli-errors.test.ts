/**
 * The CLI's rough edges, against real processes and sockets: a reader that closes the pipe early, the
 * CLI pointed at the wrong port of a real master, `berth master` on a taken port, and the commands
 * `berth dev` prints as "Next:" hints, run as printed.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { startMaster, type RunningMaster } from '../../src/cli/master-command';
import { devBanner } from '../../src/cli/daemons';
import { cliCommand } from '../../src/cli/invocation';
import { main } from '../../src/cli/main';
import { nullLogger } from '../../src/common/logging';
import { masterConfigSchema } from '../../src/master/config';

const RUN_BERTH = path.join(__dirname, '..', 'support', 'run-berth.js');

async function run(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'berth', ...args], { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) });
  return { code, stdout, stderr };
}

/** Runs the CLI as a process; resolves with its exit code and output (killed after `timeoutMs`). */
function berth(args: readonly string[], opts: { closeStdout?: boolean; timeoutMs?: number; until?: RegExp } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [RUN_BERTH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const stopWhenSeen = (): void => {
      if (opts.until?.test(stdout + stderr)) child.kill('SIGTERM');
    };
    if (opts.closeStdout === true) child.stdout.destroy(); // the reader has gone before anything is written
    else child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      stopWhenSeen();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      stopWhenSeen();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 15_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('CLI errors say what to do', () => {
  let dir: string;
  let master: RunningMaster;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cli-errors-'));
    master = await startMaster(masterConfigSchema.parse({ grpc: { port: 0 }, http: { port: 0 }, workDir: path.join(dir, 'master'), auth: { enabled: false }, logLevel: 'error' }), nullLogger);
  });

  afterAll(async () => {
    await master?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('output into a pipe whose reader has gone ends the command quietly (exit 0, no EPIPE stack)', async () => {
    const r = await berth(['app', 'deploy', '--help'], { closeStdout: true });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  test('the CLI pointed at a master\'s HTTP port says it is not a gRPC port and where to point instead', async () => {
    const r = await run('agent', 'list', '--master', master.httpAddress);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${master.httpAddress} does not speak gRPC: it looks like an HTTP port`);
    expect(r.stderr).toMatch(/Point --master .* at a master's gRPC port \(berth master --grpc-port, 5050 by default\)/);
  });

  test('--frameworks pointed at a master says it reached a master, not the framework host', async () => {
    const r = await run('app', 'list', '--frameworks', master.grpcAddress);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${master.grpcAddress} is a master's gRPC port and does not serve berth.v1.Services`);
    expect(r.stderr).toMatch(/Point --frameworks .* at the framework host's API port/);
    expect(r.stderr).not.toMatch(/does not implement the method/);
  });

  test.each([['--grpc-port', 'grpc'], ['--http-port', 'http']] as const)('berth master on a taken %s: one line naming the port and the option, exit 1, no stack', async (flag, which) => {
    const taken = which === 'grpc' ? master.grpcAddress : master.httpAddress;
    const port = taken.split(':').pop()!;
    const other = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const ports = which === 'grpc' ? ['--grpc-port', port, '--http-port', String(other)] : ['--grpc-port', String(other), '--http-port', port];
    const r = await berth(['master', '--auth-enabled', 'false', ...ports, '--work-dir', path.join(dir, `m-${which}`), '--log-level', 'error']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`berth master: ${taken} is already in use (another Berth daemon or program listens there); stop it, or choose another port with ${flag} (0 picks a free one)\n`);
  });

  test('the "Next:" hints of berth dev run as printed', async () => {
    const banner = devBanner({ masterGrpc: master.grpcAddress, masterHttp: master.httpAddress, frameworksGrpc: '127.0.0.1:0', containerizers: ['PROCESS'] });
    const cli = cliCommand();
    const hints = banner.split('\n').slice(banner.split('\n').findIndex((l) => l.startsWith('Next:')) + 1).map((l) => l.trim()).filter((l) => l !== '');
    expect(hints.length).toBeGreaterThanOrEqual(3);
    for (const hint of hints) {
      expect(hint.startsWith(`${cli} `)).toBe(true);
      // The words after the command prefix, as a shell splits them (the hints quote nothing).
      const args = hint.slice(cli.length + 1).split(/\s+/);
      if (args[0] === 'frameworks') {
        // A daemon: it runs until stopped — it must get as far as serving the example plugin.
        const r = await berth([...args, '--work-dir', path.join(dir, 'hello'), '--log-level', 'info'], { until: /framework host started/, timeoutMs: 30_000 });
        expect(r.stderr + r.stdout).toMatch(/framework host started/);
      } else if (args[0] === 'task') {
        // No agent runs the plugin's tasks here: the command itself must be valid and reach the master.
        const r = await run(...args, '--tail', '10');
        expect(r.stderr).not.toMatch(/unknown (command|option)|error: /);
        expect(r.stderr).toMatch(/hello-0/);
      } else {
        const r = await run(...args);
        expect(r).toMatchObject({ code: 0, stderr: '' });
      }
    }
  }, 60_000);
});

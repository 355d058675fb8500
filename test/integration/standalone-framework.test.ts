/**
 * The standalone framework of docs/writing-a-framework.md ("Without the host",
 * examples/standalone-framework) as its user runs it: a program of its own against a real `berth
 * master` process. When the master is killed the program must stay up (it used to print
 * `disconnected` and exit 0: nothing held the process while the driver waited to re-dial) and take
 * its framework back when the master returns.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startMasterProcess, type MasterProcess } from '../support/master-process';
import { waitFor } from '../support/master-harness';

jest.setTimeout(60_000);

const EXAMPLE = path.join(__dirname, '../../examples/standalone-framework');
const REGISTER_TS = path.join(__dirname, '../support/register-ts.js');

let master: MasterProcess | undefined;
let program: ChildProcess | undefined;
let stateDir = '';
afterEach(async () => {
  program?.kill('SIGKILL');
  await master?.signal('SIGKILL');
  fs.rmSync(stateDir, { recursive: true, force: true });
  if (master !== undefined) fs.rmSync(master.at.workDir, { recursive: true, force: true });
  master = program = undefined;
});

test('keeps running while its master is down, and re-subscribes with the same id when it is back', async () => {
  const args = ['--auth-enabled', 'false', '--heartbeat-interval-ms', '500'];
  master = await startMasterProcess('m1', args);
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-standalone-'));
  program = spawn(process.execPath, ['-r', REGISTER_TS, EXAMPLE, master.grpcAddress, stateDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  program.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  program.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  let exit: number | null | undefined;
  program.once('exit', (code) => (exit = code));

  await waitFor(() => /^subscribed as (\S+)/m.test(out), 'the program to subscribe', 30_000);
  const frameworkId = /^subscribed as (\S+)/m.exec(out)![1];

  const at = master.at;
  await master.signal('SIGKILL');
  await waitFor(() => out.includes('disconnected from the master'), 'the program to notice');
  // Well past the driver's re-dial delays: the process is still there, waiting for a master.
  await new Promise((r) => setTimeout(r, 3000));
  expect(exit).toBeUndefined();

  master = await startMasterProcess('m1', args, at);
  await waitFor(() => out.includes(`re-subscribed as ${frameworkId}`), 'the program to re-subscribe', 30_000);

  program.kill('SIGTERM');
  await waitFor(() => exit !== undefined, 'the program to stop on SIGTERM');
  expect(exit).toBe(0);
});

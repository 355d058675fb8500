/**
 * docs/operations.md, "Securing a cluster", run as written: its shell blocks, in order, in a fresh
 * directory, as processes on loopback. Only two things change: `npx berth` is the CLI from these
 * sources, and the well-known ports (5050, 5051, 5052, 5060) are free ones.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findFiles } from '../support/find-files';
import { freePort } from '../support/master-process';

jest.setTimeout(120_000);

const ROOT = path.join(__dirname, '..', '..');
const RUN_BERTH = path.join(__dirname, '..', 'support', 'run-berth.js');

/** The shell blocks of the section, from its heading to the mutual-TLS paragraph. */
function steps(): string[] {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'operations.md'), 'utf8');
  const start = doc.indexOf('## Securing a cluster');
  const end = doc.indexOf('**Mutual TLS**', start);
  expect([start, end].every((i) => i > 0)).toBe(true);
  return [...doc.slice(start, end).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.replace(/^ {3}/gm, ''));
}

describe('docs: securing a cluster', () => {
  let dir: string;
  let pgid: number | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-securing-'));
    fs.symlinkSync(path.join(ROOT, 'deploy'), path.join(dir, 'deploy'));
  });

  afterEach(() => {
    if (pgid !== undefined) {
      try {
        process.kill(-pgid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    // The agent does not kill its tasks when it stops: end them by their pid files.
    for (const file of findFiles(path.join(dir, 'secure', 'agent'), 'berth-container.json')) {
      const { pid } = JSON.parse(fs.readFileSync(file, 'utf8')) as { pid?: number };
      if (pid !== undefined) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the steps bring up a TLS-only cluster that authenticates everyone, and deploy an app', async () => {
    const ports = new Map<string, string>();
    for (const well of ['5050', '5051', '5052', '5060']) ports.set(well, String(await freePort()));
    const script = ['set -euo pipefail', ...steps()].join('\n')
      .replace(/npx berth/g, `node ${RUN_BERTH}`)
      .replace(/\b(5050|5051|5052|5060)\b/g, (p) => ports.get(p)!);
    const child = spawn('bash', ['-c', script], { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BERTH_TLS_CA_FILE: '', BERTH_TOKEN: '' } });
    pgid = child.pid;
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), 100_000);
      child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect([code, out]).toEqual([0, expect.stringMatching(/\/hello/)]);
    expect(out).toMatch(/TASK_RUNNING|RUNNING/);

    // A client without the CA is told why it cannot get in.
    const plain = spawnSync(process.execPath, [RUN_BERTH, 'agent', 'list', '--master', `127.0.0.1:${ports.get('5050')}`], { cwd: dir, encoding: 'utf8', env: { ...process.env, BERTH_TLS_CA_FILE: '' }, timeout: 30_000 });
    expect(plain.stderr).toMatch(/requires TLS/);
  });
});

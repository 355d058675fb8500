/**
 * docs/cluster.md, "On one machine", run as written: its ```sh blocks, in order, as one bash script
 * in a fresh directory, as processes on loopback — three nats-server, three masters, two agents and
 * the framework host with tokens, then examples/apps/web.yaml deployed through the CLI, then
 * everything stopped by the doc's last step. Only these change: `npx berth` is the CLI from these
 * sources; every well-known port (NATS, masters, agents, framework host, task ports) is a free one,
 * in the script and in the copy of deploy/ it reads. Before the last step (stop) the test checks
 * the running cluster itself: one leader, the app's tasks healthy and answering.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import { main } from '../../src/cli/main';
import { appTasks, httpGet, type AppShow } from '../support/examples';
import { findFiles } from '../support/find-files';
import { findNatsServer, freePorts } from '../support/nats';

jest.setTimeout(120_000);

const ROOT = path.join(__dirname, '..', '..');
const RUN_BERTH = path.join(__dirname, '..', 'support', 'run-berth.js');
/** The fixed ports of the doc and of deploy/ (deploy/nats, deploy/config): each becomes a free one. */
const WELL_KNOWN = [4222, 4223, 4224, 6222, 6223, 6224, 8222, 8223, 8224, 5050, 5051, 5150, 5151, 5250, 5251, 5052, 5152, 5060];
/** The agents' task port ranges of the doc: each becomes a few free ports. */
const TASK_RANGES = ['31000-31499', '31500-31999'];
const CHECKS = 'cluster-doc: ready for checks';

/** The ```sh blocks of "On one machine", in order. */
function steps(): string[] {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'cluster.md'), 'utf8');
  const start = doc.indexOf('## On one machine');
  const end = doc.indexOf('## On real machines', start);
  expect([start, end].every((i) => i > 0)).toBe(true);
  return [...doc.slice(start, end).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** `text` with each well-known port mapped by `ports` (whole numbers only: 15050 stays). */
function remap(text: string, ports: ReadonlyMap<number, number>): string {
  return text.replace(/\b\d{4}\b/g, (p) => String(ports.get(Number(p)) ?? p));
}

/** deploy/ copied to `to`, ports remapped in its text files. */
function copyDeploy(to: string, ports: ReadonlyMap<number, number>): void {
  fs.cpSync(path.join(ROOT, 'deploy'), to, { recursive: true });
  for (const file of [...findFiles(to, (f) => /\.(conf|ya?ml)$/.test(f))]) fs.writeFileSync(file, remap(fs.readFileSync(file, 'utf8'), ports));
}

describe('docs/cluster.md: from berth dev to a real cluster, on one machine', () => {
  let dir: string;
  let child: ChildProcess | undefined;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cluster-doc-'));
  });

  afterAll(async () => {
    // Whatever the script left (it failed half-way): its process group, the pids it wrote, the
    // agents' containers and process tasks.
    if (child?.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const file of findFiles(path.join(dir, 'cluster'), (f) => f.endsWith('.pid'))) killQuietly(Number(fs.readFileSync(file, 'utf8')));
    for (const file of findFiles(dir, 'berth-container.json')) {
      const { pid } = JSON.parse(fs.readFileSync(file, 'utf8')) as { pid?: number };
      if (pid !== undefined && pid > 1) killQuietly(-pid);
    }
    const docker = new Dockerode();
    const mine = (await docker.listContainers({ all: true })).filter((c) => (c.Labels['io.berth.scope'] ?? '').startsWith(dir));
    await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the steps bring up NATS, three masters, two agents and the framework host with tokens, deploy examples/apps/web.yaml, and stop', async () => {
    const blocks = steps();
    // Every port the list maps is used by the doc or by deploy/ (so the list stays the doc's).
    const deployText = findFiles(path.join(ROOT, 'deploy'), (f) => /\.(conf|ya?ml)$/.test(f)).map((f) => fs.readFileSync(f, 'utf8')).join('\n');
    const used = `${blocks.join('\n')}\n${deployText}`;
    expect([...WELL_KNOWN, ...TASK_RANGES].filter((p) => !new RegExp(`\\b${p}\\b`).test(used))).toEqual([]);
    const free = await freePorts(WELL_KNOWN.length + 4 * TASK_RANGES.length);
    const ports = new Map(WELL_KNOWN.map((p, i) => [p, free[i]!]));
    const taskPorts = TASK_RANGES.map((_, i) => free.slice(WELL_KNOWN.length + 4 * i, WELL_KNOWN.length + 4 * (i + 1)));
    copyDeploy(path.join(dir, 'deploy'), ports);
    fs.symlinkSync(path.join(ROOT, 'examples'), path.join(dir, 'examples'));

    // The last step stops everything: before it, the test looks at the cluster.
    const stopAt = blocks.findIndex((b) => b.includes('app rm'));
    expect(stopAt).toBe(blocks.length - 1);
    const hook = `echo '${CHECKS}'\nuntil [ -e cluster/checked ]; do sleep 0.2; done`;
    let text = ['set -euo pipefail', ...blocks.slice(0, stopAt), hook, blocks[stopAt]!].join('\n');
    text = remap(text.replace(/npx berth/g, `node ${RUN_BERTH}`), ports);
    TASK_RANGES.forEach((range, i) => (text = text.replace(range, taskPorts[i]!.map((p) => `${p}-${p}`).join(','))));

    // No BERTH_* of whoever runs the tests; the nats-server the suite uses first on PATH.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BERTH_')));
    env.PATH = `${path.dirname(findNatsServer())}:${env.PATH ?? ''}`;
    env.BERTH_CLI_CONFIG = path.join(dir, 'no-cli-settings.yaml');
    fs.writeFileSync(env.BERTH_CLI_CONFIG, '');
    child = spawn('bash', ['-c', text], { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (c) => resolve(c)));
    const logs = (): string => `${out}\n${findFiles(path.join(dir, 'cluster'), (f) => f.endsWith('.log')).map((f) => `--- ${path.basename(f)}\n${fs.readFileSync(f, 'utf8').slice(-1500)}`).join('\n')}`;

    const reached = await Promise.race([
      waitUntil(() => out.includes(CHECKS), 90_000).then(() => 'checks' as const, (e: Error) => e.message),
      exited.then((code) => `exited ${code}` as const),
    ]);
    expect([reached, reached === 'checks' ? '' : logs()]).toEqual(['checks', '']);

    // One leader, two standbys.
    const ready = await Promise.all([5051, 5151, 5251].map((p) => httpGet(ports.get(p)!, '/health/ready')));
    expect(ready.map((r) => r?.status).sort()).toEqual([200, 503, 503]);
    // The app, through the framework host, as the operator: two tasks, healthy, answering.
    const token = fs.readFileSync(path.join(dir, 'cluster', 'secrets', 'operator.token'), 'utf8').trim();
    let shown = '';
    const code = await main(['node', 'berth', 'app', 'show', '/examples/web', '--json', '--frameworks', `127.0.0.1:${ports.get(5060)}`, '--token', token],
      { stdout: (x) => void (shown += x), stderr: (x) => void (shown += x) });
    expect({ code, shown: code === 0 ? '' : shown }).toEqual({ code: 0, shown: '' });
    const tasks = appTasks((JSON.parse(shown) as { app: AppShow }).app);
    expect(tasks.map((t) => [t.state, t.healthy, t.ready])).toEqual([['TASK_RUNNING', true, true], ['TASK_RUNNING', true, true]]);
    for (const t of tasks) {
      expect(taskPorts.flat()).toContain(t.ports[0]);
      expect(await httpGet(t.ports[0]!, '/')).toEqual({ status: 200, body: `hello from ${t.task_id}\n` });
    }
    // Without the operator's token the framework host refuses.
    let refused = '';
    const anonymous = await main(['node', 'berth', 'app', 'list', '--frameworks', `127.0.0.1:${ports.get(5060)}`], { stdout: (x) => void (refused += x), stderr: (x) => void (refused += x) });
    expect(anonymous).not.toBe(0);
    expect(refused).toMatch(/unauthenticated|token/i);

    fs.writeFileSync(path.join(dir, 'cluster', 'checked'), '');
    const timer = setTimeout(() => child!.kill('SIGKILL'), 60_000);
    const code2 = await exited;
    clearTimeout(timer);
    expect([code2, code2 === 0 ? '' : logs()]).toEqual([0, '']);
    // The stop step left nothing running.
    const pids = findFiles(path.join(dir, 'cluster'), (f) => f.endsWith('.pid')).map((f) => Number(fs.readFileSync(f, 'utf8')));
    expect(pids).toHaveLength(9);
    expect(pids.filter(alive)).toEqual([]);
    const docker = new Dockerode();
    const running = (await docker.listContainers()).filter((c) => (c.Labels['io.berth.scope'] ?? '').startsWith(dir));
    expect(running).toEqual([]);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Polls `cond` every 100 ms (another process's output: nothing to wait on but its arrival); bounded. */
async function waitUntil(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

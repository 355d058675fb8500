/**
 * Issue 16's rough edges of the services framework, as a user meets them: a real master, one real
 * agent running real processes, the framework host with the `services` plugin over real gRPC, and the
 * `berth` CLI. The host's clock is a fake one moved on while the CLI waits (test/support/framework-cluster.ts).
 *
 * - the only agent drained: the app's reason names the agent and what ends the drain (not "all of
 *   the last 4 offers were used"), and the app comes back when the agent is reactivated;
 * - `berth app rm` waits until the app and its tasks are gone (exit 0), `--detach` returns at once,
 *   `--timeout` gives up with exit 5; `--json` prints one event per line;
 * - on a terminal, `berth app deploy` rewrites one progress line in place.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { main } from '../../src/cli/main';
import type { CliOutput } from '../../src/cli/io';
import { FrameworkCluster } from '../support/framework-cluster';
import { TestOperator } from '../support/master-harness';
import { cliCommand } from '../../src/cli/invocation';

jest.setTimeout(90_000);

interface Run { code: number; stdout: string; stderr: string }
interface AppStatus { running: number; waiting: string; deleting: boolean; tasks: { task_id: string }[] }

describe('services: drained agents, app rm that waits, progress on a terminal', () => {
  let cluster: FrameworkCluster;
  let operator: TestOperator;
  let dir: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ux-'));
    cluster = await FrameworkCluster.start({ agents: 1, plugins: [{ name: 'services', module: 'services', options: { refuseSeconds: 1 } }], containerizers: 'process' });
    operator = new TestOperator(cluster.master.address);
  });

  afterAll(async () => {
    operator?.close();
    await cluster?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const agentId = (): string => cluster.agents[0]!.agentId!;
  const status = async (id: string): Promise<AppStatus> => (await cluster.call<{ app: { status: AppStatus } }>('Services', 'GetApp', { app_id: id })).app.status;
  const gone = async (id: string): Promise<boolean> => status(id).then(() => false, (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
  const put = (def: object): Promise<unknown> => cluster.call('Services', 'PutApp', { definition: JSON.stringify(def) });
  const liveTasks = async (prefix: string): Promise<string[]> => {
    const res = await operator.call<{ tasks: { task_id: { value: string }; state: string }[] }>('GetTasks', {});
    return res.tasks.filter((t) => t.task_id.value.startsWith(prefix) && !/FINISHED|FAILED|KILLED|LOST|ERROR|DROPPED|GONE/.test(t.state)).map((t) => t.task_id.value);
  };

  /** Runs the CLI while the cluster's cycles (and the host's clock) go on; resolves when it exits. */
  async function berth(args: string[], tty?: { columns: number }): Promise<Run> {
    let stdout = '';
    let stderr = '';
    let result: Run | undefined;
    const io: CliOutput = {
      stdout: (x) => void (stdout += x), stderr: (x) => void (stderr += x),
      ...(tty === undefined ? {} : { isTTY: () => true, columns: () => tty.columns }),
    };
    const running = main(['node', 'berth', ...args, '--frameworks', cluster.host.grpcAddress!], io).then((code) => (result = { code, stdout, stderr }));
    await cluster.cycleUntil(async () => result !== undefined, `berth ${args.join(' ')} to exit`, 100, 60_000);
    await running;
    return result!;
  }

  const file = (name: string, def: object): string => {
    const f = path.join(dir, `${name}.json`);
    fs.writeFileSync(f, JSON.stringify(def));
    return f;
  };

  it('on a terminal, deploy rewrites one line in place and leaves the final state on screen', async () => {
    const r = await berth(['app', 'deploy', file('shown', { id: '/shown', cmd: 'exec sleep 600', instances: 2, cpus: 0.1, mem: 32 })], { columns: 100 });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout.startsWith('\r\x1b[2K')).toBe(true);
    expect(r.stdout.split('\n')).toEqual([expect.any(String), '']); // one line, ended once
    const final = r.stdout.slice(r.stdout.lastIndexOf('\r\x1b[2K') + 5, -1);
    expect(final).toBe('create succeeded [####################] 2/2 running, 2/2 healthy');
    expect(r.stdout.split('\r\x1b[2K').every((l) => [...l.replace('\n', '')].length < 100)).toBe(true);
  });

  it('app rm waits until the app and its tasks are gone; --json prints one event per line', async () => {
    expect(await liveTasks('shown.')).toHaveLength(2);
    const r = await berth(['app', 'rm', '/shown', '--json']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const events = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { event: string; kind?: string; state?: string; exit_code?: number });
    expect(events[0]).toMatchObject({ event: 'started', app_id: '/shown' });
    expect(events.at(-1)).toMatchObject({ event: 'finished', kind: 'DELETE', state: 'SUCCEEDED', exit_code: 0 });
    expect(events.slice(1, -1).every((e) => e.event === 'progress')).toBe(true);
    // Gone when it returned: no app, no live task.
    expect(await gone('/shown')).toBe(true);
    expect(await liveTasks('shown.')).toEqual([]);
  });

  it('app rm --detach returns at once; --timeout gives up with exit 5 while the tasks still stop', async () => {
    // The task ignores SIGTERM: it stops only when its 5 s grace period ends (SIGKILL).
    await put({ id: '/stubborn', cmd: 'trap "" TERM; sleep 600', cpus: 0.1, mem: 32, taskKillGracePeriodSeconds: 5 });
    await cluster.cycleUntil(async () => (await status('/stubborn')).running === 1, '/stubborn to run');
    const detached = await berth(['app', 'rm', '/stubborn', '--detach']);
    expect(detached).toMatchObject({ code: 0, stdout: expect.stringMatching(/^deleting \/stubborn; deployment \S+\n$/) });
    expect((await status('/stubborn')).deleting).toBe(true);

    const waited = await berth(['app', 'rm', '/stubborn', '--timeout', '1']);
    expect(waited.code).toBe(5);
    expect(waited.stdout).toMatch(/^delete running: 1 task left to stop\n$/);
    expect(waited.stderr).toMatch(/^deployment \S+ did not finish within --timeout 1 s; it goes on \(/);
    expect(waited.stderr).toContain(`(${cliCommand()} app show /stubborn shows the tasks still stopping)\n`);
    await cluster.cycleUntil(() => gone('/stubborn'), '/stubborn to be gone after its grace period', 100, 30_000);
  });

  it('the only agent drained: the reason names it and what ends the drain; reactivated, the app runs again', async () => {
    await put({ id: '/drained', cmd: 'exec sleep 600', cpus: 0.1, mem: 32 });
    await cluster.cycleUntil(async () => (await status('/drained')).running === 1, '/drained to run');
    await operator.call('DrainAgent', { agent_id: { value: agentId() } });
    await cluster.cycleUntil(async () => (await status('/drained')).waiting !== '', 'the app to wait for offers');
    const waiting = (await status('/drained')).waiting;
    expect(waiting).toContain(`waiting for offers for 1 instance: agent ${agentId()} (h1) is draining (or down for maintenance) and makes no offers; berth agent reactivate ${agentId()} ends the drain, berth maintenance stop h1 ends maintenance`);
    expect(waiting).not.toMatch(/offers were used/);
    const shown = await berth(['app', 'show', '/drained']);
    expect(shown.stdout).toMatch(/^waiting: waiting for offers for 1 instance: agent \S+ \(h1\) is draining/m);
    expect(shown.stdout).toMatch(/^last failure: drained\.\S+ TASK_KILLED agent \S+ \(h1\) is draining$/m);

    await operator.call('ReactivateAgent', { agent_id: { value: agentId() } });
    await cluster.cycleUntil(async () => (await status('/drained')).running === 1, '/drained to run again');
    expect((await status('/drained')).waiting).toBe('');
    expect((await berth(['app', 'rm', '/drained'])).code).toBe(0);
  });
});

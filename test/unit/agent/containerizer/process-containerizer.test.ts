import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FakeClock } from '../../../../src/common/clock';
import type { ContainerExit, LaunchSpec } from '../../../../src/agent/containerizer/containerizer';
import { PID_FILE, ProcessContainerizer } from '../../../../src/agent/containerizer/process-containerizer';
import { until, within } from '../../../support/wait';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let root: string;
let clock: FakeClock;
let pids: number[];
let seq = 0;

function containerizer(): ProcessContainerizer {
  return new ProcessContainerizer({ runtimeDir: path.join(root, 'runtime'), clock, pollIntervalMs: 100 });
}

function spec(command: string, extra: Partial<LaunchSpec> = {}): LaunchSpec {
  const id = `c${++seq}`;
  return {
    containerId: id,
    type: 'PROCESS',
    frameworkId: 'fw1',
    taskId: `task-${id}`,
    command: { value: command, shell: true, arguments: [] },
    env: {},
    ports: [],
    cpus: 0.1,
    memMib: 32,
    sandboxDir: path.join(root, 'sandboxes', id),
    labels: { agent: 'a1' },
    ...extra,
  };
}

async function launch(cz: ProcessContainerizer, s: LaunchSpec): Promise<number> {
  const h = await cz.launch(s);
  expect(h.pid).toBeDefined();
  pids.push(h.pid!);
  return h.pid!;
}

/** Advances the fake clock step by step until `p` settles (for re-attached containers, which poll). */
async function driveUntil<T>(p: Promise<T>, stepMs: number, ms = 5000): Promise<T> {
  let done = false;
  void p.then(() => { done = true; }, () => { done = true; });
  const end = Date.now() + ms;
  while (!done) {
    if (Date.now() > end) throw new Error('not settled in time');
    clock.advance(stepMs);
    await sleep(20);
  }
  return p;
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'berth-pc-'));
  clock = new FakeClock();
  pids = [];
});

afterEach(async () => {
  for (const pid of pids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await until(() => pids.every((p) => !groupAlive(p)), 3000).catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
});

describe('ProcessContainerizer', () => {
  test('captures the exit code; stdout and stderr readable with offset and length', async () => {
    const cz = containerizer();
    const s = spec("echo hello-out; echo hello-err >&2; exit 3");
    await launch(cz, s);
    const exit = await within(cz.wait(s.containerId));
    expect(exit).toMatchObject({ exitCode: 3, reason: 'EXITED' });
    expect(exit.signal).toBeUndefined();
    const out = await cz.readLog(s.containerId, 'stdout', 0, 1000);
    expect(out.data.toString()).toBe('hello-out\n');
    expect(out.size).toBe(10);
    const part = await cz.readLog(s.containerId, 'stdout', 6, 3);
    expect(part.data.toString()).toBe('out');
    expect((await cz.readLog(s.containerId, 'stderr', 0, 100)).data.toString()).toBe('hello-err\n');
    expect((await cz.readLog(s.containerId, 'stdout', 50, 10)).data.length).toBe(0);
    await expect(cz.readLog(s.containerId, 'stdout', -1, 10)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    // wait is idempotent
    expect(await cz.wait(s.containerId)).toEqual(exit);
    expect(clock.pending).toBe(0);
  });

  test('argv without a shell; a missing program is LAUNCH_FAILED', async () => {
    const cz = containerizer();
    const s = spec('', { command: { value: '', shell: false, arguments: ['/bin/sh', '-c', 'echo "$0 $1"', 'x', 'y'] } });
    await launch(cz, s);
    expect(await within(cz.wait(s.containerId))).toMatchObject({ exitCode: 0, reason: 'EXITED' });
    expect((await cz.readLog(s.containerId, 'stdout', 0, 100)).data.toString()).toBe('x y\n');

    const bad = spec('', { command: { value: '/nonexistent/prog', shell: false, arguments: ['prog'] } });
    const h = await cz.launch(bad);
    expect(h.pid).toBeUndefined();
    expect(await within(cz.wait(bad.containerId))).toMatchObject({ reason: 'LAUNCH_FAILED' });
    await expect(cz.launch(bad)).rejects.toMatchObject({ code: 'CONTAINER_EXISTS' });
    await expect(cz.wait('nope')).rejects.toMatchObject({ code: 'UNKNOWN_CONTAINER' });
  });

  test('PORT0…, PORTS and the task env are exported', async () => {
    const cz = containerizer();
    const s = spec('echo "$PORT0 $PORT1 $PORTS $FOO $BERTH_TASK_ID"', { ports: [31000, 31005], env: { FOO: 'bar' } });
    await launch(cz, s);
    await within(cz.wait(s.containerId));
    expect((await cz.readLog(s.containerId, 'stdout', 0, 100)).data.toString()).toBe(`31000 31005 31000,31005 bar ${s.taskId}\n`);
  });

  test('kill: SIGTERM reaches the whole process group', async () => {
    const cz = containerizer();
    const s = spec('sleep 30 & sleep 30; wait');
    const pid = await launch(cz, s);
    await within(cz.kill(s.containerId, 1000));
    const exit = await cz.wait(s.containerId);
    expect(exit).toMatchObject({ reason: 'KILLED', signal: 'SIGTERM' });
    await until(() => !groupAlive(pid));
    expect(clock.pending).toBe(0);
  });

  test('a process ignoring SIGTERM is SIGKILLed after the grace period', async () => {
    const cz = containerizer();
    const s = spec("trap '' TERM; echo ready; while true; do sleep 1; done");
    await launch(cz, s);
    await until(async () => (await cz.readLog(s.containerId, 'stdout', 0, 100)).data.toString() === 'ready\n');
    let exit: ContainerExit | undefined;
    const killed = cz.kill(s.containerId, 2000);
    void cz.wait(s.containerId).then((e) => { exit = e; });
    await sleep(300);
    expect(exit).toBeUndefined(); // SIGTERM ignored
    clock.advance(1999);
    await sleep(100);
    expect(exit).toBeUndefined();
    clock.advance(1);
    await within(killed);
    expect(exit).toMatchObject({ reason: 'KILLED', signal: 'SIGKILL' });
    // a second kill is a no-op
    await within(cz.kill(s.containerId));
  });

  test('max completion time kills with MAX_COMPLETION_TIME_REACHED', async () => {
    const cz = containerizer();
    const s = spec('sleep 30', { maxCompletionMs: 5000, killGracePeriodMs: 500 });
    await launch(cz, s);
    clock.advance(4999);
    await sleep(100);
    clock.advance(1);
    const exit = await within(cz.wait(s.containerId));
    expect(exit).toMatchObject({ reason: 'MAX_COMPLETION_TIME_REACHED', signal: 'SIGTERM' });
    expect(clock.pending).toBe(0);
  });

  test('recover() on a new instance re-attaches to the living and reports the dead', async () => {
    const first = containerizer();
    const live = spec('echo up; sleep 30');
    const livePid = await launch(first, live);
    const done = spec('exit 7');
    await launch(first, done);
    await within(first.wait(done.containerId));
    const lost = spec('exit 9');
    await launch(first, lost);
    await within(first.wait(lost.containerId));
    // `lost` died while "no agent watched": its record (the agent's own copy) has no exit.
    const lostFile = path.join(root, 'runtime', `${lost.containerId}.json`);
    const rec = JSON.parse(readFileSync(lostFile, 'utf8')) as Record<string, unknown>;
    delete rec['exit'];
    writeFileSync(lostFile, JSON.stringify(rec));
    // `reused`: its pid now belongs to another process (this one), with another start time.
    const reused = spec('exit 0');
    await launch(first, reused);
    await within(first.wait(reused.containerId));
    const reusedFile = path.join(root, 'runtime', `${reused.containerId}.json`);
    const rec2 = JSON.parse(readFileSync(reusedFile, 'utf8')) as Record<string, unknown>;
    delete rec2['exit'];
    rec2['pid'] = process.pid;
    writeFileSync(reusedFile, JSON.stringify(rec2));

    // What a task writes into the copy in its own sandbox is never believed.
    const forged = path.join(live.sandboxDir, PID_FILE);
    writeFileSync(forged, JSON.stringify({ ...(JSON.parse(readFileSync(forged, 'utf8')) as object), pid: process.pid, startTime: undefined }));

    const second = containerizer();
    const found = await second.recover();
    const byId = new Map(found.map((f) => [f.containerId, f]));
    expect(found).toHaveLength(4);
    expect(byId.get(live.containerId)).toMatchObject({ alive: true, pid: livePid, taskId: live.taskId, frameworkId: 'fw1', labels: { agent: 'a1' } });
    expect(byId.get(done.containerId)).toMatchObject({ alive: false, exit: { exitCode: 7, reason: 'EXITED' } });
    expect(byId.get(lost.containerId)).toMatchObject({ alive: false, exit: { reason: 'EXITED' } });
    expect(byId.get(lost.containerId)!.exit!.exitCode).toBeUndefined();
    expect(byId.get(reused.containerId)).toMatchObject({ alive: false, exit: { reason: 'EXITED' } });
    // idempotent
    expect(await second.recover()).toHaveLength(4);

    expect((await second.readLog(live.containerId, 'stdout', 0, 10)).data.toString()).toBe('up\n');
    const killed = second.kill(live.containerId, 1000);
    const exit = await driveUntil(second.wait(live.containerId), 100);
    expect(exit).toMatchObject({ reason: 'KILLED' });
    await within(killed);
    await until(() => !groupAlive(livePid));

    await second.remove(done.containerId);
    expect((await containerizer().recover()).map((f) => f.containerId)).not.toContain(done.containerId);
  });
});

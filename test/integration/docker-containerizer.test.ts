/**
 * The Docker containerizer against the real engine (started by test/global-setup.js when absent) with
 * the busybox test image built by `docker import`. Every container carries its test's scope label
 * and is force-removed after the test.
 */
import { randomUUID } from 'node:crypto';
import { lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import { FakeClock } from '../../src/common/clock';
import type { LaunchSpec } from '../../src/agent/containerizer/containerizer';
import { DockerContainerizer } from '../../src/agent/containerizer/docker-containerizer';
import { until, within } from '../support/wait';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { TEST_IMAGE } = require('../../scripts/docker-engine') as { TEST_IMAGE: string };

const docker = new Dockerode();
let scope: string;
const scopes: string[] = [];
let root: string;
let clock: FakeClock;
let live: DockerContainerizer[] = [];
let seq = 0;

function containerizer(): DockerContainerizer {
  const cz = new DockerContainerizer({ docker, clock, scope, retryMinMs: 50 });
  live.push(cz);
  return cz;
}

function spec(command: string, extra: Partial<LaunchSpec> = {}): LaunchSpec {
  const id = `${scope}-c${++seq}`;
  return {
    containerId: id,
    type: 'DOCKER',
    image: { name: TEST_IMAGE, forcePull: false },
    frameworkId: 'fw1',
    taskId: `task-${seq}`,
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

async function state(containerId: string): Promise<string> {
  const [c] = await docker.listContainers({ all: true, filters: { label: [`io.berth.container-id=${containerId}`] } });
  return c?.State ?? 'absent';
}

beforeEach(() => {
  scope = `test-${randomUUID()}`;
  scopes.push(scope);
  root = mkdtempSync(path.join(tmpdir(), 'berth-docker-'));
  clock = new FakeClock(1_000_000);
});

afterEach(async () => {
  await Promise.all(live.map((cz) => cz.close()));
  live = [];
  rmSync(root, { recursive: true, force: true });
  // One scope per query: Docker's label filter wants every label given to match, so a list of
  // scopes in one filter matched no container and every test left its containers behind.
  for (const s of scopes.splice(0)) {
    const left = await docker.listContainers({ all: true, filters: { label: [`io.berth.scope=${s}`] } });
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true })));
  }
});

describe('DockerContainerizer', () => {
  test('runs a task to its exit code, with its env, ports, labels and limits, and keeps the logs after remove', async () => {
    const cz = containerizer();
    const s = spec('echo "hello $GREETING $PORT0 $PORTS $BERTH_TASK_ID"; echo oops >&2; ls $BERTH_SANDBOX >/dev/null; exit 3', {
      env: { GREETING: 'world' },
      ports: [31001, 31002],
      cpus: 0.5,
      memMib: 64,
    });
    const handle = await cz.launch(s);
    expect(handle.started).toBe(true);
    const exit = await within(cz.wait(s.containerId));
    expect(exit).toMatchObject({ reason: 'EXITED', exitCode: 3 });
    expect(exit.message).toBe('exited with exit code 3');

    const [c] = await docker.listContainers({ all: true, filters: { label: [`io.berth.container-id=${s.containerId}`] } });
    expect(c!.Labels).toMatchObject({ 'io.berth.scope': scope, 'io.berth.task-id': s.taskId, 'io.berth.framework-id': 'fw1', 'io.berth.label.agent': 'a1' });
    const info = await docker.getContainer(c!.Id).inspect();
    expect(info.HostConfig.NetworkMode).toBe('host');
    expect(info.HostConfig.Memory).toBe(64 * 1024 * 1024);
    expect(info.HostConfig.NanoCpus).toBe(500_000_000);
    expect(info.HostConfig.CpuShares).toBe(512);

    const out = await cz.readLog(s.containerId, 'stdout', 0, 1000);
    expect(out.data.toString()).toBe(`hello world 31001 31001,31002 ${s.taskId}\n`);
    expect((await cz.readLog(s.containerId, 'stderr', 0, 1000)).data.toString()).toBe('oops\n');
    expect((await cz.readLog(s.containerId, 'stdout', 6, 5)).data.toString()).toBe('world');

    await cz.remove(s.containerId);
    expect(await state(s.containerId)).toBe('absent');
    expect(readFileSync(path.join(s.sandboxDir, 'stdout'), 'utf8')).toBe(out.data.toString());
    await expect(cz.wait(s.containerId)).rejects.toMatchObject({ code: 'UNKNOWN_CONTAINER' });
  });

  test('a task reaches a server it runs on its host port through 127.0.0.1', async () => {
    const cz = containerizer();
    const port = await freePort();
    const s = spec('while true; do echo pong | nc -l -p $PORT0; done', { ports: [port] });
    await cz.launch(s);
    let answer = '';
    await until(async () => {
      answer = await new Promise<string>((resolve) => {
        const sock = net.connect({ host: '127.0.0.1', port });
        let got = '';
        sock.on('data', (d) => { got += d.toString(); });
        sock.on('close', () => resolve(got));
        sock.on('error', () => resolve(''));
      });
      return answer.includes('pong');
    });
    expect(answer).toBe('pong\n');
    await within(cz.kill(s.containerId, 0));
    expect((await cz.wait(s.containerId)).reason).toBe('KILLED');
  });

  test('kill sends SIGTERM and waits the grace period before SIGKILL', async () => {
    const cz = containerizer();
    const polite = spec('sleep 1000');
    const stubborn = spec('trap "echo got TERM" TERM; echo ready; while true; do sleep 1; done');
    await cz.launch(polite);
    await cz.launch(stubborn);
    await until(async () => (await cz.readLog(stubborn.containerId, 'stdout', 0, 10)).data.toString().includes('ready')); // its trap is set

    // SIGTERM ends the polite one on its own (through docker-init): no clock advance needed.
    const politeExit = await within(cz.kill(polite.containerId, 60_000).then(() => cz.wait(polite.containerId)));
    expect(politeExit).toMatchObject({ reason: 'KILLED' });

    const killed = cz.kill(stubborn.containerId, 5_000);
    await until(async () => (await cz.readLog(stubborn.containerId, 'stdout', 0, 100)).data.toString().includes('got TERM'));
    expect(await state(stubborn.containerId)).toBe('running'); // still inside its grace period
    clock.advance(4_999);
    expect(await state(stubborn.containerId)).toBe('running');
    clock.advance(1);
    await within(killed);
    expect(await cz.wait(stubborn.containerId)).toMatchObject({ reason: 'KILLED', exitCode: 137 });
  });

  test('breaching the memory limit is an OOM exit', async () => {
    const cz = containerizer();
    const s = spec('tail /dev/zero', { memMib: 16 });
    await cz.launch(s);
    const exit = await within(cz.wait(s.containerId), 30_000);
    expect(exit.reason).toBe('OOM');
    expect(exit.message).toMatch(/memory limit/);
  });

  test('max completion time kills the task', async () => {
    const cz = containerizer();
    const s = spec('sleep 1000', { maxCompletionMs: 10_000, killGracePeriodMs: 0 });
    await cz.launch(s);
    expect(await state(s.containerId)).toBe('running');
    clock.advance(10_000);
    expect(await within(cz.wait(s.containerId))).toMatchObject({ reason: 'MAX_COMPLETION_TIME_REACHED' });
  });

  test('launch failures are exits that say what failed: image pull, missing program, no image', async () => {
    const cz = containerizer();
    // A registry on a closed loopback port: the pull fails without leaving the machine.
    const pull = spec('true', { image: { name: '127.0.0.1:1/berth/nope:1', forcePull: false } });
    expect((await cz.launch(pull)).started).toBe(false);
    const pullExit = await cz.wait(pull.containerId);
    expect(pullExit.reason).toBe('LAUNCH_FAILED');
    expect(pullExit.message).toMatch(/pulling image 127\.0\.0\.1:1\/berth\/nope:1 failed/);

    // docker-init starts, then cannot exec the program: exit 127 with its words as the detail.
    const missing = spec('', { command: { value: '/no/such/program', shell: false, arguments: ['/no/such/program'] } });
    await cz.launch(missing);
    const missingExit = await within(cz.wait(missing.containerId));
    expect(missingExit).toMatchObject({ reason: 'EXITED', exitCode: 127 });
    expect(missingExit.detail).toMatch(/exec \/no\/such\/program failed: No such file or directory/);
    await cz.remove(missing.containerId);
    expect(await state(missing.containerId)).toBe('absent');

    const noImage = spec('true', { image: undefined });
    expect((await cz.launch(noImage)).started).toBe(false);
    expect((await cz.wait(noImage.containerId)).message).toMatch(/needs an image/);
    await expect(cz.launch(noImage)).rejects.toMatchObject({ code: 'CONTAINER_EXISTS' });
  });

  test('a new instance recovers its containers by label: the living re-attached, the dead with their exit code', async () => {
    const first = containerizer();
    const running = spec('sleep 1000');
    const ended = spec('exit 5');
    const killedLater = spec('sleep 1000');
    for (const s of [running, ended, killedLater]) await first.launch(s);
    await within(first.wait(ended.containerId));
    await first.close(); // the agent goes away; containers stay

    // Another scope's container is not ours.
    const other = new DockerContainerizer({ docker, clock, scope: `${scope}-other` });
    live.push(other);
    expect(await other.recover()).toEqual([]);

    const second = containerizer();
    const found = await second.recover();
    const byId = new Map(found.map((c) => [c.containerId, c]));
    expect(byId.size).toBe(3);
    expect(byId.get(running.containerId)).toMatchObject({ alive: true, taskId: running.taskId, frameworkId: 'fw1', sandboxDir: running.sandboxDir, labels: { agent: 'a1' } });
    expect(byId.get(ended.containerId)).toMatchObject({ alive: false, exit: { reason: 'EXITED', exitCode: 5 } });
    expect(await second.recover()).toHaveLength(3); // idempotent

    // A re-attached container's end is seen; kill works on it.
    const [c] = await docker.listContainers({ filters: { label: [`io.berth.container-id=${killedLater.containerId}`] } });
    await docker.getContainer(c!.Id).kill({ signal: 'SIGKILL' });
    expect(await within(second.wait(killedLater.containerId))).toMatchObject({ reason: 'EXITED', exitCode: 137 });
    await within(second.kill(running.containerId, 0));
    expect(await second.wait(running.containerId)).toMatchObject({ reason: 'KILLED' });
    for (const s of [running, ended, killedLater]) await second.remove(s.containerId);
    expect(await second.recover()).toEqual([]);
  });

  test('a task that replaces its log with a symlink to a host file cannot make the agent write or read that file', async () => {
    const cz = containerizer();
    const victim = path.join(root, 'victim');
    writeFileSync(victim, 'precious\n');
    const s = spec(`echo evil; rm -f $BERTH_SANDBOX/stdout; ln -s ${victim} $BERTH_SANDBOX/stdout`);
    await cz.launch(s);
    await within(cz.wait(s.containerId));
    await cz.remove(s.containerId); // copies the engine's log into the sandbox
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(lstatSync(path.join(s.sandboxDir, 'stdout')).isSymbolicLink()).toBe(false);
    expect(readFileSync(path.join(s.sandboxDir, 'stdout'), 'utf8')).toBe('evil\n');
  });

  test('a task without mem gets no memory limit (rather than a tiny one)', async () => {
    const cz = containerizer();
    const s = spec('true', { memMib: 0 });
    await cz.launch(s);
    await within(cz.wait(s.containerId));
    const [c] = await docker.listContainers({ all: true, filters: { label: [`io.berth.container-id=${s.containerId}`] } });
    expect((await docker.getContainer(c!.Id).inspect()).HostConfig.Memory).toBe(0);
  });

  test('exec runs a command in the container; one that times out is killed, not left behind', async () => {
    const cz = containerizer();
    const s = spec('sleep 1000');
    await cz.launch(s);
    expect(await cz.exec(s.containerId, { value: 'echo in-container $BERTH_TASK_ID; exit 3', shell: true, arguments: [] }, 5000)).toEqual({ exitCode: 3, output: `in-container ${s.taskId}\n` });
    const timedOut = cz.exec(s.containerId, { value: 'sleep 300', shell: true, arguments: [] }, 300);
    clock.advance(300);
    expect((await within(timedOut)).exitCode).toBeUndefined();
    const [c] = await docker.listContainers({ filters: { label: [`io.berth.container-id=${s.containerId}`] } });
    await until(async () => {
      const top = await docker.getContainer(c!.Id).top();
      return !(top.Processes as string[][]).some((p) => p.join(' ').includes('sleep 300'));
    });
    await within(cz.kill(s.containerId, 0));
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

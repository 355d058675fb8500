/**
 * The framework host end to end: the example plugin (examples/hello-framework) runs its greetings on a
 * real agent (process containerizer) through a real master, a plugin whose factory throws is restarted
 * with backoff without disturbing it, and a restarted host fails over to the same framework ids
 * without running the greetings again.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Agent } from '../../src/agent/agent';
import { FakeClock, SystemClock } from '../../src/common/clock';
import { memoryLogger } from '../../src/common/logging';
import { Resources } from '../../src/common/resources';
import { FrameworkHost, type PluginSpec } from '../../src/frameworks/host/host';
import { MemoryKeyValueStore } from '../../src/frameworks/sdk/store';
import type { GetTasksResponse__Output } from '../../src/generated/berth/v1/GetTasksResponse';
import type { ReadTaskLogResponse__Output } from '../../src/generated/berth/v1/ReadTaskLogResponse';
import { startTestMaster, TestOperator, waitFor, type TestMaster } from '../support/master-harness';

describe('framework host', () => {
  let master: TestMaster;
  let agent: Agent;
  let operator: TestOperator;
  let workDir: string;
  let hostClock: FakeClock;
  const store = new MemoryKeyValueStore();
  const hosts: FrameworkHost[] = [];

  const plugins: PluginSpec[] = [
    { name: 'hello', module: path.join(__dirname, '..', '..', 'examples', 'hello-framework'), options: { count: 2 } },
    { name: 'flaky', module: path.join(__dirname, '..', 'support', 'plugins', 'flaky.js'), options: { failures: 2 } },
  ];

  beforeAll(async () => {
    master = await startTestMaster();
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-host-'));
    agent = new Agent({ master: master.address, hostname: 'localhost', resources: Resources.parse('cpus:2;mem:1024;disk:100;ports:[31000-31010]'), workDir, clock: new SystemClock(), reconnectMinMs: 50, logger: memoryLogger('warn') });
    await agent.start();
    await agent.whenRegistered();
    operator = new TestOperator(master.address);
  });

  afterAll(async () => {
    for (const h of hosts) await h.stop();
    await agent.stop({ killTasks: true });
    await master.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  async function startHost(): Promise<FrameworkHost> {
    hostClock = new FakeClock(1_000_000);
    const host = new FrameworkHost({ masters: [master.address], plugins, store, clock: hostClock, restartMinMs: 1000, logger: memoryLogger('error') });
    hosts.push(host);
    await host.start();
    return host;
  }

  /** Runs allocation cycles on the master and the host's timers until `cond`. */
  async function cycleUntil(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
    let ok = false;
    await waitFor(() => {
      master.clock.advance(1000);
      hostClock.advance(500);
      void Promise.resolve(cond()).then((v) => (ok = v));
      return ok;
    }, what, 15_000);
  }

  const finished = async (): Promise<string[]> => {
    const res = await operator.call<GetTasksResponse__Output>('GetTasks', { include_completed: true });
    return res.completed_tasks.filter((t) => t.state === 'TASK_FINISHED').map((t) => t.task_id!.value).sort();
  };

  it('runs the example plugin to the end while restarting a failing plugin with backoff', async () => {
    const host = await startHost();
    await waitFor(() => host.driver('hello')?.connected === true, 'the hello plugin to subscribe');
    expect(host.driver('flaky')).toBeUndefined(); // its factory threw: waiting for a restart

    await cycleUntil(async () => (await finished()).length === 2, 'both greetings to finish');
    expect(await finished()).toEqual(['hello-0', 'hello-1']);
    const log = await operator.call<ReadTaskLogResponse__Output>('ReadTaskLog', { task_id: { value: 'hello-0' }, stream: 'STDOUT' });
    expect(Buffer.from(log.data).toString()).toBe('hello from hello-0\n');

    // 1 s, then 2 s later the third creation succeeds.
    await cycleUntil(() => host.driver('flaky')?.connected === true, 'the flaky plugin to come up after two failed starts');
    expect(await store.get('plugins/flaky/created')).toBe(3);
    expect(await store.get('plugins/hello/state')).toMatchObject({ launched: 2, ended: { 'hello-0': 'TASK_FINISHED', 'hello-1': 'TASK_FINISHED' } });
  });

  it('a restarted host fails over to the same framework ids and does not run the greetings again', async () => {
    const first = hosts[0]!;
    const ids = { hello: first.driver('hello')!.frameworkId, flaky: first.driver('flaky')!.frameworkId };
    await first.stop();
    hosts.splice(0, 1);

    const second = await startHost();
    await waitFor(() => second.driver('hello')?.connected === true && second.driver('flaky')?.connected === true, 'both plugins to subscribe again');
    expect({ hello: second.driver('hello')!.frameworkId, flaky: second.driver('flaky')!.frameworkId }).toEqual(ids);
    for (let i = 0; i < 5; i++) {
      master.clock.advance(1000);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await finished()).toEqual(['hello-0', 'hello-1']);
    expect((await store.get<{ launched: number }>('plugins/hello/state'))!.launched).toBe(2);
  });
});

/**
 * Issue 15, point 8, as a plugin author meets it, through the framework host, a real master (real
 * gRPC, fake clock) and a simulated agent: `launch(offer, tasks, { refuseSeconds })` declines the
 * rest of the offer for that long; kills a plugin sends from its `stop()` reach the master (they
 * used to be dropped: the driver was stopped first); and `scheduler.teardown()` ends the framework —
 * the master kills its task and removes it, and the host stops the plugin for good.
 */
import * as path from 'node:path';
import { FakeClock } from '../../src/common/clock';
import { memoryLogger } from '../../src/common/logging';
import { FrameworkHost } from '../../src/frameworks/host/host';
import type { FrameworkContext } from '../../src/frameworks/sdk';
import { FRAMEWORK_ID_KEY } from '../../src/frameworks/sdk/driver';
import { MemoryKeyValueStore } from '../../src/frameworks/sdk/store';
import type { GetFrameworksResponse__Output } from '../../src/generated/berth/v1/GetFrameworksResponse';
import { FakeAgent, startTestMaster, TestOperator, waitFor, type TestMaster } from '../support/master-harness';

interface Hooks {
  context?: FrameworkContext;
  offers: number;
  running: Set<string>;
  stopped: boolean;
}

describe('SDK: filters, kills from stop(), teardown', () => {
  let master: TestMaster;
  let agent: FakeAgent;
  let host: FrameworkHost;
  let hooks: Hooks;
  let store: MemoryKeyValueStore;
  let hostClock: FakeClock;
  const operator = () => new TestOperator(master.address);

  beforeEach(async () => {
    master = await startTestMaster();
    agent = await FakeAgent.register(master.address, { resources: 'cpus:4;mem:1024' });
    hooks = { offers: 0, running: new Set(), stopped: false };
    store = new MemoryKeyValueStore();
    hostClock = new FakeClock(1_000_000);
    host = new FrameworkHost({
      masters: [master.address],
      plugins: [{ name: 'lifecycle', module: path.join(__dirname, '..', 'support', 'plugins', 'lifecycle.js'), options: { hooks, refuseSeconds: 30 } }],
      store,
      clock: hostClock,
      logger: memoryLogger('error'),
    });
    await host.start();
    await waitFor(() => host.driver('lifecycle')?.connected === true, 'the plugin to subscribe');
  });

  afterEach(async () => {
    await host.stop();
    agent.close();
    await master.stop();
  });

  /** The plugin's task launched and RUNNING as far as the plugin knows. */
  async function running(): Promise<string> {
    const frameworkId = host.driver('lifecycle')!.frameworkId!;
    master.clock.advance(1000); // an allocation batch
    const run = await agent.nextRun();
    expect(run.run_task!.task!.task_id!.value).toBe('lc-1');
    agent.status(frameworkId, 'lc-1', 'TASK_RUNNING');
    await waitFor(() => hooks.running.has('lc-1'), 'the plugin to see lc-1 RUNNING');
    return frameworkId;
  }

  test('launch(offer, tasks, { refuseSeconds: 30 }): the rest of the offer is not offered again for 30 s', async () => {
    await running(); // the RUN_TASK went out while the ACCEPT was handled: its filter is in place
    const outstanding = () => master.daemon.core!.offers.offers.size;
    for (let s = 0; s < 29; s++) {
      master.clock.advance(1000);
      expect(outstanding()).toBe(0);
    }
    master.clock.advance(1000); // 30 s after the accept
    expect(outstanding()).toBe(1);
    await waitFor(() => hooks.offers === 2, 'the second offer to reach the plugin');
  });

  test('kills sent from stop() reach the master and the agent', async () => {
    await running();
    await host.stop();
    expect(hooks.stopped).toBe(true);
    const kill = await agent.messages.next((m) => m.type === 'KILL_TASK', 'KILL_TASK at the agent');
    expect(kill.kill_task!.task_id!.value).toBe('lc-1');
  });

  test('scheduler.teardown(): the master kills the task and removes the framework; the plugin stops for good', async () => {
    const frameworkId = await running();
    expect(await store.get(`plugins/lifecycle/${FRAMEWORK_ID_KEY}`)).toBe(frameworkId);

    await hooks.context!.scheduler.teardown();

    const kill = await agent.messages.next((m) => m.type === 'KILL_TASK', 'KILL_TASK at the agent');
    expect(kill.kill_task!.task_id!.value).toBe('lc-1');
    await agent.messages.next((m) => m.type === 'SHUTDOWN_FRAMEWORK', 'SHUTDOWN_FRAMEWORK at the agent');
    const op = operator();
    try {
      const { frameworks, completed_frameworks } = await op.call<GetFrameworksResponse__Output>('GetFrameworks');
      expect(frameworks.map((f) => f.framework_info!.id!.value)).toEqual([]);
      expect(completed_frameworks.map((f) => f.framework_info!.id!.value)).toEqual([frameworkId]);
    } finally {
      op.close();
    }
    await waitFor(() => hooks.stopped, 'the host to stop the plugin');
    expect(host.driver('lifecycle')).toBeUndefined();
    expect(await store.get(`plugins/lifecycle/${FRAMEWORK_ID_KEY}`)).toBeUndefined();
    hostClock.advance(120_000); // past any restart backoff: it is not started again
    expect(host.driver('lifecycle')).toBeUndefined();
    await expect(hooks.context!.scheduler.teardown()).rejects.toThrow(/no driver/);
  });
});

/**
 * The SDK's gang calls end to end: the example plugin (examples/gang-framework) on a real
 * SchedulerDriver, a real master (fake clock) and simulated agents over loopback gRPC. It declares
 * a one-per-agent gang, gets it as one GangOffer, launches every member with `launchGang`, drops
 * the gang from its demand, and records the whole gang RUNNING.
 */
import * as path from 'node:path';
import { memoryLogger } from '../../src/common/logging';
import { SchedulerDriver } from '../../src/frameworks/sdk/driver';
import type { Framework, FrameworkContext, PluginFactory } from '../../src/frameworks/sdk/framework';
import { MemoryKeyValueStore } from '../../src/frameworks/sdk/store';
import { closeAfterEach, FakeAgent, startTestMaster, waitFor, type TestMaster } from '../support/master-harness';

describe('SDK: launchGang with the example gang framework', () => {
  let master: TestMaster;
  let driver: SchedulerDriver | undefined;
  const track = closeAfterEach();

  beforeEach(async () => {
    master = await startTestMaster({ allocationIntervalMs: 1000 });
  });

  afterEach(async () => {
    await driver?.stop();
    driver = undefined;
    await master.stop();
  });

  test('the gang is offered whole, launched in one call on three agents, and leaves the demand', async () => {
    const agents: FakeAgent[] = [];
    for (let i = 0; i < 3; i++) agents.push(track(await FakeAgent.register(master.address, { hostname: `h${i}`, resources: 'cpus:1;mem:256' })));
    const store = new MemoryKeyValueStore();
    const { createFramework } = require(path.join(__dirname, '..', '..', 'examples', 'gang-framework')) as { createFramework: PluginFactory };
    const context = { clock: master.clock, logger: memoryLogger('error'), store, options: { size: 3, spread: 'ONE_PER_AGENT' } } as Omit<FrameworkContext, 'scheduler'> & { scheduler?: SchedulerDriver };
    const framework: Framework = await createFramework(context as FrameworkContext);
    driver = new SchedulerDriver({ masters: [master.address], framework, clock: master.clock, store: new MemoryKeyValueStore(), logger: memoryLogger('error') });
    context.scheduler = driver;
    await driver.start();
    await driver.whenSubscribed();
    const core = master.daemon.core!;
    await waitFor(() => (core.frameworks.get(driver!.frameworkId!)?.info.description.gangs?.['*']?.length ?? 0) === 1, 'the gang declared');
    master.clock.advance(1000);
    const runs = await Promise.all(agents.map((a) => a.nextRun()));
    expect(runs.map((r) => r.run_task!.task!.task_id!.value).sort()).toEqual(['gang-0', 'gang-1', 'gang-2']);
    // One task per agent, each on the resources its offer held.
    for (const r of runs) expect(r.run_task!.task!.resources.map((x) => [x.name, x.scalar?.value]).sort()).toEqual([['cpus', 0.1], ['mem', 32]]);
    await waitFor(() => Object.keys(core.frameworks.get(driver!.frameworkId!)!.info.description.gangs ?? {}).length === 0, 'the gang dropped from the demand');
    expect(core.allocator.heldGangs()).toEqual([]);
    runs.forEach((r, i) => agents[i]!.status(driver!.frameworkId!, r.run_task!.task!.task_id!.value, 'TASK_RUNNING'));
    let state: { phase: string; running: string[] } | undefined;
    await waitFor(() => {
      void store.get('state').then((v) => (state = v as typeof state));
      return state?.phase === 'running';
    }, 'the plugin to record the whole gang RUNNING');
    expect(state!.running.sort()).toEqual(['gang-0', 'gang-1', 'gang-2']);
  });
});

/**
 * F12/F13: kill -9 a framework and bring it back within its failover timeout (same framework id,
 * its tasks kept running and reconciled), then kill it and bring it back only after the timeout
 * (the master killed its tasks; the framework registers anew and hears that its old tasks are gone).
 */
import { FaultCluster } from './support/cluster';
import { readHistory } from './support/history';
import { expectChecksPass, iterations, report } from './support/scenario';

jest.setTimeout(90_000 + iterations() * 40_000);

let cluster: FaultCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

test('a framework killed and back within its failover timeout keeps its tasks; after the timeout they are killed', async () => {
  cluster = await FaultCluster.start({
    agents: [{ kind: 'fake' }, { kind: 'fake' }],
    frameworks: [{ name: 'fw', failoverTimeoutS: 4, target: 3, command: 'run' }, { name: 'bystander', target: 2, command: 'run' }],
  });
  const c = cluster;
  const fw = c.framework('fw');
  const history = (): ReturnType<typeof readHistory> => readHistory([fw.config.historyFile]);
  // The master shows the framework connected a moment before the framework has written down that
  // it subscribed: wait for the framework's own record.
  const subscribedSince = (t: number) => c.until('the framework to record its subscription', 20_000, async () =>
    history().filter((e) => e.kind === 'subscribed' && e.t >= t).pop());
  const running = async (): Promise<string[]> => [...(await c.groundTruth()).running.keys()].filter((t) => t.startsWith('fw.'));
  await c.until('3 tasks of fw running', 20_000, async () => ((await running()).length === 3 ? true : undefined));
  const firstId = history().find((e) => e.kind === 'subscribed')!.frameworkId;

  for (let i = 0; i < iterations(); i++) {
    // Within the timeout: the same id, the same tasks.
    const tasks = await running();
    await fw.proc.kill();
    await new Promise((r) => setTimeout(r, 1000));
    const restartedAt = Date.now();
    fw.proc.start();
    c.faultHealed();
    await c.waitConverged(20_000);
    const resubscribed = await subscribedSince(restartedAt);
    expect(resubscribed).toMatchObject({ frameworkId: firstId, reregistered: true });
    expect((await running()).sort()).toEqual(tasks.sort());
  }

  // Past the timeout: the master tears the framework down and kills its tasks.
  await fw.proc.kill();
  await c.until('the tasks of fw killed after its failover timeout', 20_000, async () => ((await running()).length === 0 ? true : undefined));
  const restartedAt = Date.now();
  fw.proc.start();
  c.faultHealed();
  await c.waitConverged(20_000);
  const again = await subscribedSince(restartedAt);
  expect(again.frameworkId).not.toBe(firstId);
  // The bystander never noticed.
  expect([...(await c.groundTruth()).running.keys()].filter((t) => t.startsWith('bystander.'))).toHaveLength(2);
  const summary = await expectChecksPass(c, { convergeBoundMs: 15_000 });
  report('framework-failover', { failovers: iterations(), ...summary });
});

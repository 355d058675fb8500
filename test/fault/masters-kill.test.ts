/**
 * F1b: kill -9 every master at once while tasks are about to finish, keep them down until those
 * tasks have ended, then start them again. The new leader knows no task until the agents re-register
 * (tasks are not in the registry); the frameworks reconcile as soon as they re-subscribe, some before
 * the agents are back. No framework may be told of a task "lost", "gone" or "unknown" that in truth
 * finished while no master ran (a jobs framework would count a success as a failure, and run it
 * again): only the real TASK_FINISHED. Agents and frameworks are back within a second of the new
 * leader's first answer.
 */
import { FaultCluster } from './support/cluster';
import { expectChecksPass, iterations, report } from './support/scenario';

jest.setTimeout(120_000 + iterations() * 40_000);

let cluster: FaultCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

test('kill -9 all masters while tasks finish: after the restart frameworks hear only the real ends', async () => {
  cluster = await FaultCluster.start({
    agents: [{ kind: 'fake' }, { kind: 'fake' }],
    frameworks: [
      // Tasks that end 1.2 s after they start, and are replaced: at every kill some are about to end.
      { name: 'finishing', target: 8, command: 'exit:0:1200', hostnames: 'fake' },
      { name: 'aware', target: 4, command: 'exit:0:1200', hostnames: 'fake', partitionAware: true },
    ],
  });
  const c = cluster;
  const outages: number[] = [];
  for (let i = 0; i < iterations() * 3; i++) {
    await new Promise((r) => setTimeout(r, 1000)); // tasks in every phase of their life
    await Promise.all(c.masters.map((m) => m.proc.kill()));
    const down = Date.now();
    await new Promise((r) => setTimeout(r, 1500)); // every task running at the kill has ended
    for (const m of c.masters) m.proc.start();
    c.faultHealed();
    await c.waitForLeader(20_000);
    outages.push(Date.now() - down);
    await c.waitBack(20_000);
  }
  for (const fw of c.frameworks) await c.command(fw.name, { type: 'target', n: 0 });
  await new Promise((r) => setTimeout(r, 2000)); // the last tasks end
  const summary = await expectChecksPass(c, { convergeBoundMs: 20_000, rejoinBoundMs: 1000 });
  report('masters-kill', { kills: outages.length, outage_ms: outages, back_ms: c.rejoinMs, ...summary });
  expect(summary.launched).toBeGreaterThan(12);
});

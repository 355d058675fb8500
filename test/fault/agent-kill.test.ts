/**
 * F7: kill -9 agents with running containers — one with Docker, one with plain processes — and
 * start them again: the containers kept running, are re-attached, and no task is reported lost,
 * failed or gone; the updates that were not acknowledged are resent.
 */
import { FaultCluster, TEST_IMAGE } from './support/cluster';
import { readHistory } from './support/history';
import { expectChecksPass, iterations, report } from './support/scenario';

jest.setTimeout(120_000 + iterations() * 30_000);

let cluster: FaultCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

test('kill -9 a Docker agent and a process agent with running tasks, restart them: tasks re-attached, none lost', async () => {
  cluster = await FaultCluster.start({
    agents: [{ kind: 'process' }, { kind: 'docker' }],
    frameworks: [
      { name: 'proc', target: 3, command: 'sleep 3600', hostnames: 'process' },
      { name: 'dock', target: 2, command: 'sleep 3600', image: TEST_IMAGE, hostnames: 'docker' },
    ],
    // Agents come back within the ping window (3 s × 4), as a supervisor restarts them.
    masterArgs: ['--agent-ping-timeout-ms', '3000'],
  });
  const c = cluster;
  await c.until('5 tasks running', 60_000, async () => ((await c.groundTruth()).running.size === 5 ? true : undefined));
  const before = (await c.groundTruth()).running;
  const recoveries: number[] = [];
  for (let i = 0; i < iterations(); i++) {
    await Promise.all(c.agents.map((a) => a.proc.kill()));
    // The containers do not depend on their agent.
    expect(new Set((await c.groundTruth()).running.keys())).toEqual(new Set(before.keys()));
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = Date.now();
    for (const a of c.agents) a.proc.start();
    c.faultHealed();
    await c.waitConverged(30_000);
    recoveries.push(Date.now() - t0);
  }
  const bad = readHistory(c.frameworks.map((f) => f.config.historyFile)).filter((e) => e.kind === 'update' && e.state !== 'TASK_STARTING' && e.state !== 'TASK_RUNNING');
  expect(bad).toEqual([]);
  expect(new Set((await c.groundTruth()).running.keys())).toEqual(new Set(before.keys()));
  const summary = await expectChecksPass(c, { convergeBoundMs: 15_000 });
  report('agent-kill', { kills: recoveries.length, reregistered_ms: recoveries, ...summary });
});

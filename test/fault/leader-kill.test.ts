/**
 * F1: kill -9 the leading master, again and again, while frameworks launch tasks. A standby takes
 * over within the lease; agents and frameworks are back on it within a second of its first answer as
 * leader; no task is lost or doubled, no framework is told an end other than the real one (tasks
 * finish while the leader is away), updates stay in order, no agent is over-allocated, and no write
 * of a dead leader lands after its successor's epoch.
 */
import { FaultCluster } from './support/cluster';
import { expectChecksPass, iterations, report } from './support/scenario';

jest.setTimeout(120_000 + iterations() * 30_000);

let cluster: FaultCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

test('kill -9 the leader repeatedly under load: a standby takes over, nothing is lost or doubled', async () => {
  cluster = await FaultCluster.start({
    agents: [{ kind: 'fake' }, { kind: 'fake' }, { kind: 'process' }],
    frameworks: [
      // Churn on the fake agents: tasks that end after 1.5 s and are replaced by new ones.
      { name: 'churn', target: 12, replace: true, command: 'exit:0:1500', hostnames: 'fake' },
      // Long-running process tasks that must survive every failover.
      { name: 'steady', target: 4, command: 'sleep 3600', hostnames: 'process' },
    ],
  });
  const c = cluster;
  const failovers: number[] = [];
  for (let i = 0; i < iterations() * 3; i++) {
    await new Promise((r) => setTimeout(r, 1500)); // launches in flight
    const { leader } = await c.waitForLeader(10_000);
    await leader.proc.kill();
    const { ms } = await c.waitForLeader(15_000, leader);
    failovers.push(ms);
    await c.waitBack(15_000);
    leader.proc.start(); // back as a standby, as a supervisor would restart it
    c.faultHealed();
    await c.waitConverged(30_000);
  }
  await c.command('churn', { type: 'target', n: 0 });
  await new Promise((r) => setTimeout(r, 2500)); // the last churn tasks end
  const summary = await expectChecksPass(c, { convergeBoundMs: 15_000, rejoinBoundMs: 1000 });
  report('leader-kill', { kills: failovers.length, failover_ms: failovers, back_ms: c.rejoinMs, ...summary });
  expect(summary.launched).toBeGreaterThan(12);
});

/**
 * F2: SIGSTOP the leading master for longer than its lease, then SIGCONT it (a GC-pause zombie).
 * A standby takes over while it is frozen; once thawed, the old leader must not act as leader:
 * it says it is not the leader, no write of its lands in the registry after its successor's epoch,
 * and its stale messages change nothing (no task lost or doubled).
 */
import { FaultCluster } from './support/cluster';
import { expectChecksPass, iterations, report } from './support/scenario';

jest.setTimeout(90_000 + iterations() * 30_000);

let cluster: FaultCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

test('SIGSTOP the leader past its lease, then SIGCONT: it does not act as leader', async () => {
  cluster = await FaultCluster.start({
    agents: [{ kind: 'fake' }, { kind: 'fake' }],
    frameworks: [{ name: 'steady', target: 6, command: 'run' }, { name: 'churn', target: 4, replace: true, command: 'exit:0:1000' }],
  });
  const c = cluster;
  const takeovers: number[] = [];
  for (let i = 0; i < iterations(); i++) {
    const { leader } = await c.waitForLeader(10_000);
    leader.proc.pause();
    const { ms } = await c.waitForLeader(15_000, leader);
    takeovers.push(ms);
    await new Promise((r) => setTimeout(r, 1500)); // well past the 1.5 s lease
    leader.proc.resume();
    c.faultHealed();
    // Thawed, its timers fire at once; give it time to try whatever it would try.
    await new Promise((r) => setTimeout(r, 2000));
    const health = await c.call<{ leader: boolean }>(leader.address, 'GetHealth', {});
    expect(health.leader).toBe(false);
    const now = await c.leader();
    expect(now).toBeDefined();
    expect(now).not.toBe(leader);
    await c.waitConverged(30_000);
  }
  await c.command('churn', { type: 'target', n: 0 });
  await new Promise((r) => setTimeout(r, 2000));
  const summary = await expectChecksPass(c, { convergeBoundMs: 15_000 });
  report('leader-pause', { pauses: takeovers.length, takeover_ms: takeovers, ...summary });
});

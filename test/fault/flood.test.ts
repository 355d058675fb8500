/**
 * F17/F18: a flood of malformed and oversized input on every port — each master's gRPC and HTTP
 * port (the leader and the standbys) and an agent's HTTP port — while frameworks launch and run
 * tasks. Nothing crashes, no work is lost (every checker), and the cluster converges afterwards.
 */
import { FaultCluster } from './support/cluster';
import { floodGrpc, floodHttp, type FloodReport } from './support/flood';
import { expectChecksPass, iterations, report } from './support/scenario';

jest.setTimeout(120_000 + iterations() * 40_000);

let cluster: FaultCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

function merge(reports: readonly FloodReport[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of reports) for (const [k, n] of Object.entries(r.byOutcome)) out[k] = (out[k] ?? 0) + n;
  return out;
}

test('malformed and oversized messages on every port while real work proceeds: nothing crashes, nothing is lost', async () => {
  cluster = await FaultCluster.start({
    agents: [{ kind: 'fake' }, { kind: 'process' }],
    frameworks: [
      { name: 'churn', target: 6, replace: true, command: 'exit:0:1000', hostnames: 'fake' },
      { name: 'steady', target: 3, command: 'sleep 3600', hostnames: 'process' },
    ],
  });
  const c = cluster;
  const reports: FloodReport[] = [];
  for (let i = 0; i < iterations(); i++) {
    const agentHttp = c.agents.flatMap((a) => (a.httpPort !== undefined ? [a.httpPort] : []));
    const floods = [
      ...c.masters.map((m) => floodGrpc(m.address, { durationMs: 4000, concurrency: 2, seed: 100 + i, longListLength: 20_000 })),
      ...c.masters.map((m) => floodHttp(m.httpPort, { durationMs: 3000, concurrency: 2, seed: 200 + i })),
      ...agentHttp.map((port) => floodHttp(port, { durationMs: 3000, concurrency: 2, seed: 300 + i })),
    ];
    reports.push(...await Promise.all(floods));
    c.faultHealed();
    await c.waitConverged(30_000);
    expect(c.unexpectedExits()).toEqual([]);
  }
  const outcomes = merge(reports);
  // The servers refused: gRPC errors and HTTP 4xx, never accepted junk or a server error — except
  // the standbys' 503 (not the leader), which is their correct answer.
  expect(Object.keys(outcomes).filter((k) => /^http:5(?!03)\d\d$|^accepted-junk|^leak/.test(k))).toEqual([]);
  expect(reports.flatMap((r) => r.errors ?? [])).toEqual([]);
  await c.command('churn', { type: 'target', n: 0 });
  await new Promise((r) => setTimeout(r, 1500));
  const summary = await expectChecksPass(c, { convergeBoundMs: 15_000 });
  report('flood', { attacks: reports.reduce((n, r) => n + r.sent, 0), outcomes, ...summary });
});

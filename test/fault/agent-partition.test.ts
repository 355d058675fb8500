/**
 * F10: cut an agent off from the master (a partition at the TCP proxy in front of its link) for
 * longer than the ping timeout, then heal. The master marks it unreachable: tasks of a
 * PARTITION_AWARE framework go TASK_UNREACHABLE and come back TASK_RUNNING after the heal (still
 * running all along); tasks of a framework that is not partition-aware are reported TASK_LOST and
 * killed when the agent comes back (the framework launched replacements meanwhile), so no task
 * runs twice and none is lost.
 */
import { FaultCluster } from './support/cluster';
import { readHistory } from './support/history';
import { expectChecksPass, iterations, report } from './support/scenario';

jest.setTimeout(90_000 + iterations() * 65_000);

let cluster: FaultCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

test('agent partitioned past the ping timeout, then healed: UNREACHABLE→RUNNING when partition-aware, LOST and killed otherwise', async () => {
  cluster = await FaultCluster.start({
    agents: [{ kind: 'fake', via: 'proxy' }, { kind: 'fake' }],
    frameworks: [
      { name: 'aware', partitionAware: true, target: 2, command: 'run', hostnames: '^a1-' },
      { name: 'legacy', partitionAware: false, target: 2, command: 'run', hostnames: '^a1-' },
    ],
  });
  const c = cluster;
  const a1 = c.agents[0]!;
  const history = (): ReturnType<typeof readHistory> => readHistory(c.frameworks.map((f) => f.config.historyFile));
  await c.until('4 tasks running on a1, and their frameworks told so', 20_000, async () => {
    const told = history().filter((e) => e.kind === 'update' && e.state === 'TASK_RUNNING').length;
    return (await c.groundTruth()).byAgent.get(a1.hostname)?.length === 4 && told >= 4 ? true : undefined;
  });
  const detections: number[] = [];
  for (let i = 0; i < iterations(); i++) {
    const t0 = Date.now();
    const since = (): ReturnType<typeof readHistory> => history().filter((e) => e.t >= t0 && e.kind === 'update');
    a1.proxy!.partition();
    // 20 s of detection, plus — should leadership move meanwhile (a loaded host can stall a master
    // past its 1.5 s lease) — the new leader's --agent-reregister-timeout-ms (20 s) for the agent to
    // come back before it declares it unreachable: the outcome is the same, only later.
    await c.until('UNREACHABLE for the aware tasks and LOST for the legacy ones', 45_000, async () => {
      const h = since();
      const unreachable = h.filter((e) => e.fw === 'aware' && e.state === 'TASK_UNREACHABLE').length;
      const lost = h.filter((e) => e.fw === 'legacy' && e.state === 'TASK_LOST').length;
      return unreachable >= 2 && lost >= 2 ? true : undefined;
    });
    detections.push(Date.now() - t0);
    // Everything still runs on the partitioned agent.
    expect((await c.groundTruth()).byAgent.get(a1.hostname)?.length).toBe(4);
    a1.proxy!.heal();
    c.faultHealed();
    await c.waitConverged(30_000);
    // As in Mesos, the master does not announce the healed tasks: frameworks reconcile.
    for (const fw of c.frameworks) await c.command(fw.name, { type: 'reconcile' });
    // The aware tasks are RUNNING again; the legacy ones were killed, and replaced.
    await c.until('aware tasks RUNNING again, legacy tasks killed and replaced', 20_000, async () => {
      const h = since();
      const back = h.filter((e) => e.fw === 'aware' && e.state === 'TASK_RUNNING').length;
      const running = (await c.groundTruth()).byAgent.get(a1.hostname) ?? [];
      const legacyRunning = running.filter((t) => t.startsWith('legacy.')).length;
      return back >= 2 && legacyRunning === 2 && running.length === 4 ? true : undefined;
    });
  }
  const summary = await expectChecksPass(c, { convergeBoundMs: 15_000 });
  report('agent-partition', { partitions: detections.length, detection_ms: detections, ...summary });
});

/**
 * F15: a framework that never acknowledges its status updates. The agent keeps resending them (the
 * same uuid, in order: nothing newer before the head is acknowledged), the master forwards each
 * resend, and nothing else stalls: another framework's tasks launch and run as usual.
 */
import { FaultCluster } from './support/cluster';
import { readHistory } from './support/history';
import { expectChecksPass, report } from './support/scenario';

jest.setTimeout(90_000);

let cluster: FaultCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

test('a framework that never acknowledges gets its updates again; everyone else proceeds', async () => {
  cluster = await FaultCluster.start({
    agents: [{ kind: 'fake' }, { kind: 'fake' }],
    frameworks: [{ name: 'mute', ack: 'never', target: 2, command: 'run' }],
  });
  const c = cluster;
  const mute = c.framework('mute');
  await c.until('the updates of mute resent at least twice', 30_000, async () => {
    const h = readHistory([mute.config.historyFile]).filter((e) => e.kind === 'update' && e.uuid !== '');
    const perUuid = new Map<string, number>();
    for (const e of h) perUuid.set(e.uuid!, (perUuid.get(e.uuid!) ?? 0) + 1);
    return perUuid.size >= 2 && [...perUuid.values()].every((n) => n >= 3) ? true : undefined;
  });
  // Never acknowledged: each task is stuck at its first update (STARTING); nothing newer was sent.
  const seen = readHistory([mute.config.historyFile]).filter((e) => e.kind === 'update' && e.uuid !== '');
  expect(new Set(seen.map((e) => e.state))).toEqual(new Set(['TASK_STARTING']));
  // Meanwhile a new framework launches and runs its tasks.
  await c.addFramework({ name: 'other', target: 4, command: 'run' });
  await c.until('4 tasks of other running', 20_000, async () =>
    ([...(await c.groundTruth()).running.keys()].filter((t) => t.startsWith('other.')).length === 4 ? true : undefined));
  const summary = await expectChecksPass(c, { convergeBoundMs: 15_000 });
  report('never-ack', { resent: seen.length, ...summary });
});

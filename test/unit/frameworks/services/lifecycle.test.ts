import type { ReadinessTarget } from '../../../../src/frameworks/services/readiness';
import { agents, Harness } from './harness';

const small = { cmd: 'serve', cpus: 0.1, mem: 32 };

describe('services: task life cycle', () => {
  it('a crashing app: relaunched at once after its first failure, then backs off 1 s, 1.15 s, … up to maxLaunchDelaySeconds', async () => {
    const h = await Harness.started();
    await h.put({ id: '/crash', ...small, maxLaunchDelaySeconds: 2 });
    const [first] = await h.offer({ agent: 'a1' });
    await h.update(first.taskId, 'TASK_RUNNING');
    const before = h.api.revives;
    await h.update(first.taskId, 'TASK_FAILED', { message: 'exit 1' });
    expect(h.api.revives).toBe(before + 1); // the first failure of the slot: offers wanted again at once
    expect(await h.fw.getApp('/crash')).toMatchObject({ backoffSeconds: 0, launchDelayRemainingSeconds: 0, delayedInstances: [], waitingInstances: 1 });
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      const [t] = await h.offer({ agent: 'a1' });
      expect(t).toBeDefined();
      await h.update(t.taskId, 'TASK_RUNNING');
      const revives = h.api.revives;
      await h.update(t.taskId, 'TASK_FAILED', { message: 'exit 1' });
      expect(h.api.revives).toBe(revives); // offers stay suppressed until the delay is over
      const app = await h.fw.getApp('/crash');
      delays.push(app.backoffSeconds);
      expect(app.launchDelayRemainingSeconds).toBeCloseTo(app.backoffSeconds, 6);
      expect(app.delayedInstances).toEqual([{ instance: 0, failures: i + 2, delaySeconds: app.backoffSeconds, launchAt: h.clock.now() + app.backoffSeconds * 1000, reason: 'TASK_FAILED exit 1' }]);
      expect(app.waiting).toMatch(/^launch delayed after task failures: instance 0 relaunches in [\d.]+ s \(failure \d+, backoff [\d.]+ s: TASK_FAILED exit 1\)/);
      // While delayed, offers are declined and not counted as rejections.
      expect(await h.offer({ agent: 'a2' })).toEqual([]);
      expect(app.rejections.considered - app.rejections.launched).toBe(0);
      await h.advance(app.backoffSeconds * 1000);
      expect(h.api.revives).toBe(revives + 1);
    }
    const expected = [1, 1.15, 1.3225, 1.520875, 1.74900625, 2, 2];
    delays.forEach((d, i) => expect(d).toBeCloseTo(expected[i], 6));
    expect((await h.fw.getApp('/crash')).lastFailure).toMatchObject({ state: 'TASK_FAILED', message: 'exit 1' });
  });

  it('a slot\'s backoff resets once its own task stays healthy; kills the framework asked for do not count', async () => {
    const h = await Harness.started({ options: { backoffResetSeconds: 30 } });
    await h.put({ id: '/flaky', ...small, instances: 2 });
    const [a, b] = await h.offer({ agent: 'a1' });
    await h.running([a.taskId, b.taskId]);
    const slotOf = async (taskId: string): Promise<number> => (await h.fw.getApp('/flaky')).tasks.find((t) => t.taskId === taskId)!.instance;
    const slot = await slotOf(a.taskId);
    // Two failures of a's slot: the second waits 1 s.
    await h.update(a.taskId, 'TASK_FAILED');
    const [a2] = await h.offer({ agent: 'a1' });
    expect(await slotOf(a2.taskId)).toBe(slot);
    await h.running([a2.taskId]);
    await h.update(a2.taskId, 'TASK_FAILED');
    expect((await h.fw.getApp('/flaky')).delayedInstances).toMatchObject([{ instance: slot, failures: 2, delaySeconds: 1 }]);
    await h.advance(1_000);
    const [a3] = await h.offer({ agent: 'a1' });
    await h.running([a3.taskId]);
    // b's 30 healthy seconds do not reset a's slot; a3's own do.
    await h.advance(29_000);
    await h.update(a3.taskId, 'TASK_FAILED');
    expect((await h.fw.getApp('/flaky')).delayedInstances).toMatchObject([{ instance: slot, failures: 3, delaySeconds: 1.15 }]);
    await h.advance(1_150);
    const [a4] = await h.offer({ agent: 'a1' });
    await h.running([a4.taskId]);
    await h.advance(30_000);
    await h.update(a4.taskId, 'TASK_FAILED');
    expect((await h.fw.getApp('/flaky'))).toMatchObject({ delayedInstances: [], waitingInstances: 1 }); // a first failure again
    const [a5] = await h.offer({ agent: 'a1' });
    await h.running([a5.taskId]);
    await h.fw.scaleApp('/flaky', 0);
    await h.update(b.taskId, 'TASK_KILLED');
    await h.update(a5.taskId, 'TASK_KILLED');
    await h.fw.scaleApp('/flaky', 2);
    expect((await h.fw.getApp('/flaky'))).toMatchObject({ delayedInstances: [], waitingInstances: 2 });
  });

  it('a restarted framework reloads its state, reconciles, and launches no duplicates', async () => {
    const first = await Harness.started();
    await first.put({ id: '/web', ...small, instances: 3 });
    const launched = await first.offer(...agents(3));
    await first.running(launched.slice(0, 2).map((t) => t.taskId));
    const scale = (await first.fw.scaleApp('/web', 4, { force: true })).deploymentId;
    await first.fw.stop();
    expect(first.clock.pending).toBe(0);

    const second = new Harness({ clock: first.clock, store: first.store });
    await second.fw.registered({ frameworkId: 'fw-services', reregistered: true, master: '127.0.0.1:5050' });
    expect(second.api.reconciles).toEqual([expect.arrayContaining(launched.map((t) => ({ taskId: t.taskId, agentId: t.agentId })))]);
    expect(second.api.reconciles[0]).toHaveLength(3);
    // The master answers: two run, one it never heard of.
    await second.update(launched[0].taskId, 'TASK_RUNNING', { reason: 'REASON_RECONCILIATION', source: 'SOURCE_MASTER' });
    await second.update(launched[1].taskId, 'TASK_RUNNING', { reason: 'REASON_RECONCILIATION', source: 'SOURCE_MASTER' });
    await second.update(launched[2].taskId, 'TASK_UNKNOWN', { reason: 'REASON_RECONCILIATION', source: 'SOURCE_MASTER' });
    // Two are missing of four: exactly two launch, however many offers come.
    const replacements = await second.offer(...agents(3));
    expect(replacements).toHaveLength(2);
    expect(await second.offer(...agents(3))).toEqual([]);
    await second.running(replacements.map((t) => t.taskId));
    const app = await second.fw.getApp('/web');
    expect(app).toMatchObject({ running: 4, instances: 4 });
    expect((await second.fw.listDeployments({ includeFinished: true })).find((d) => d.id === scale)?.state).toBe('SUCCEEDED');

    // A task nobody knows of (e.g. launched before the store was lost) is killed.
    await second.update('web.stray', 'TASK_RUNNING');
    expect(second.killed()).toEqual(['web.stray']);
    await second.fw.stop();
  });

  it('unreachable tasks are replaced after inactiveAfterSeconds and expunged after expungeAfterSeconds', async () => {
    const h = await Harness.started();
    await h.put({ id: '/web', ...small, instances: 1, unreachableStrategy: { inactiveAfterSeconds: 60, expungeAfterSeconds: 120 } });
    const [t] = await h.offer({ agent: 'a1' });
    await h.running([t.taskId]);
    await h.update(t.taskId, 'TASK_UNREACHABLE', { unreachableAt: h.clock.now() });
    expect(await h.offer({ agent: 'a2' })).toEqual([]);
    await h.advance(60_000);
    const [replacement] = await h.offer({ agent: 'a2' });
    expect(replacement).toBeDefined();
    await h.running([replacement.taskId]);
    expect(h.killed()).toEqual([]);
    await h.advance(60_000);
    expect(h.killed()).toEqual([t.taskId]);
    expect((await h.tasks('/web')).map((x) => x.taskId)).toEqual([replacement.taskId]);
    // If it shows up again now it is a stranger and is killed again.
    await h.update(t.taskId, 'TASK_RUNNING');
    expect(h.killed()).toEqual([t.taskId, t.taskId]);
  });

  it('an unreachable task that comes back before expunge leaves one too many: the surplus is killed', async () => {
    const h = await Harness.started();
    await h.put({ id: '/web', ...small, instances: 1, unreachableStrategy: { inactiveAfterSeconds: 10, expungeAfterSeconds: 600 } });
    const [t] = await h.offer({ agent: 'a1' });
    await h.running([t.taskId]);
    await h.update(t.taskId, 'TASK_UNREACHABLE');
    await h.advance(10_000);
    const [replacement] = await h.offer({ agent: 'a2' });
    await h.running([replacement.taskId]);
    await h.update(t.taskId, 'TASK_RUNNING');
    expect(h.killed()).toEqual([replacement.taskId]); // youngest first
  });

  it('a task that does not start within the launch timeout is killed and replaced', async () => {
    const h = await Harness.started({ options: { taskLaunchTimeoutSeconds: 30 } });
    await h.put({ id: '/web', ...small });
    const [t] = await h.offer({ agent: 'a1' });
    await h.advance(30_000);
    expect(h.killed()).toEqual([t.taskId]);
    expect((await h.fw.getApp('/web')).lastFailure).toMatchObject({ taskId: t.taskId, reason: 'launch timeout' });
    expect(await h.offer({ agent: 'a2' })).toHaveLength(1);
  });

  it('kills are repeated until the task is reported gone', async () => {
    const h = await Harness.started({ options: { killRetrySeconds: 10 } });
    await h.put({ id: '/web', ...small });
    const [t] = await h.offer({ agent: 'a1' });
    await h.running([t.taskId]);
    await h.fw.scaleApp('/web', 0);
    await h.advance(10_000);
    await h.advance(10_000);
    expect(h.killed()).toEqual([t.taskId, t.taskId, t.taskId]);
    await h.update(t.taskId, 'TASK_KILLED');
    await h.advance(60_000);
    expect(h.killed()).toHaveLength(3);
    expect(h.clock.pending).toBe(0);
  });

  it('deployments wait for readiness checks, probed against the task\'s own host and port', async () => {
    const probes: ReadinessTarget[] = [];
    let answer = 503;
    const h = await Harness.started({ readinessProbe: async (target) => {
      probes.push(target);
      return { status: answer };
    } });
    await h.put({
      id: '/web', ...small, instances: 1, portDefinitions: [{ name: 'admin' }, { name: 'http' }],
      readinessChecks: [{ portName: 'http', path: '/ready', intervalSeconds: 5, timeoutSeconds: 1 }],
    });
    const [t] = await h.offer({ agent: 'a1', hostname: '127.0.0.1' });
    await h.running([t.taskId]);
    await h.fw.idle();
    expect(probes).toEqual([{ protocol: 'HTTP', host: '127.0.0.1', port: 31001, path: '/ready' }]);
    let app = await h.fw.getApp('/web');
    expect(app).toMatchObject({ running: 1, healthy: 0, unhealthy: 1 });
    expect(app.deployment?.state).toBe('RUNNING');
    answer = 200;
    await h.advance(5_000);
    expect(probes).toHaveLength(2);
    app = await h.fw.getApp('/web');
    expect(app).toMatchObject({ healthy: 1 });
    expect(app.deployment).toBeUndefined();
    await h.advance(60_000);
    expect(probes).toHaveLength(2); // ready tasks are not probed again
  });

  it('an app whose readiness probes fail says why, naming the URL and, for a hostname that does not resolve, where probes come from', async () => {
    const h = await Harness.started({ readinessProbe: async (target) => ({ error: `getaddrinfo ENOTFOUND ${target.host}` }) });
    await h.put({ id: '/web', ...small, instances: 1, portDefinitions: [{ name: 'http' }], readinessChecks: [{ portName: 'http', path: '/ready', intervalSeconds: 5, timeoutSeconds: 1 }] });
    const [t] = await h.offer({ agent: 'a1', hostname: 'agent-1' });
    await h.running([t.taskId]);
    await h.fw.idle();
    const app = await h.fw.getApp('/web');
    expect(app.waiting).toBe('1 task not ready: GET http://agent-1:31000/ready failed: getaddrinfo ENOTFOUND agent-1 (readiness checks are made from the framework host to the agent\'s hostname: it must resolve there)');
  });
});

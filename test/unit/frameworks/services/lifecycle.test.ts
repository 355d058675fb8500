import type { ReadinessTarget } from '../../../../src/frameworks/services/readiness';
import { agents, Harness } from './harness';

const small = { cmd: 'serve', cpus: 0.1, mem: 32 };

describe('services: task life cycle', () => {
  it('a crashing app backs off: 1 s, 1.15 s, … up to maxLaunchDelaySeconds', async () => {
    const h = await Harness.started();
    await h.put({ id: '/crash', ...small, maxLaunchDelaySeconds: 2 });
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
      expect(app.waiting).toMatch(/^launch delayed [\d.]+ s after task failures/);
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

  it('the backoff resets once a task stays healthy; kills the framework asked for do not count', async () => {
    const h = await Harness.started({ options: { backoffResetSeconds: 30 } });
    await h.put({ id: '/flaky', ...small, instances: 2 });
    const [a, b] = await h.offer({ agent: 'a1' });
    await h.running([a.taskId, b.taskId]);
    await h.update(a.taskId, 'TASK_FAILED');
    expect((await h.fw.getApp('/flaky')).backoffSeconds).toBe(1);
    await h.advance(29_000);
    expect((await h.fw.getApp('/flaky')).backoffSeconds).toBe(1);
    await h.advance(1_000); // b has now been healthy for 30 s
    expect((await h.fw.getApp('/flaky')).backoffSeconds).toBe(0);
    await h.fw.scaleApp('/flaky', 0);
    await h.update(b.taskId, 'TASK_KILLED');
    expect((await h.fw.getApp('/flaky')).backoffSeconds).toBe(0);
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
});

/**
 * Issue 15, point 2 on a fake clock: a deployment succeeds only when its tasks run — and keep running
 * for `minReadySeconds` — and one whose tasks fail right after they start fails at its progress
 * deadline, with the reason, while the app keeps relaunching with a bounded backoff that its status
 * shows.
 */
import { DEFAULT_MIN_READY_SECONDS, DEFAULT_PROGRESS_DEADLINE_SECONDS, parseAppDefinition } from '../../../../src/frameworks/services/app-definition';
import type { AppView } from '../../../../src/frameworks/services/views';
import { agents, Harness } from './harness';

const small = { cmd: 'serve', cpus: 0.1, mem: 32 };

async function launchAll(h: Harness): Promise<string[]> {
  return (await h.offer(...agents(2))).map((t) => t.taskId);
}

describe('services: a deployment succeeds only when its instances run', () => {
  it('states the defaults: 3 s ready window, 600 s progress deadline', () => {
    expect(DEFAULT_MIN_READY_SECONDS).toBe(3);
    expect(DEFAULT_PROGRESS_DEADLINE_SECONDS).toBe(600);
    const d = parseAppDefinition({ id: '/a', cmd: 'x' });
    expect(d.progressDeadlineSeconds).toBe(600);
    expect(d.minReadySeconds).toBeUndefined(); // absent stays absent (stored definitions compare equal)
    expect(() => parseAppDefinition({ id: '/a', cmd: 'x', minReadySeconds: -1 })).toThrow(/minReadySeconds: must be a number from 0 to 3600, got -1/);
  });

  it('a task that dies right after TASK_RUNNING never makes the create succeed; one that stays up does, minReadySeconds later', async () => {
    const h = await Harness.started();
    const dep = await h.put({ id: '/web', ...small, minReadySeconds: 3 });
    const [first] = await launchAll(h);
    await h.update(first, 'TASK_RUNNING');
    await h.advance(50);
    await h.update(first, 'TASK_FAILED', { message: 'Command exited with status 1 (address already in use)' });
    const afterCrash = await h.fw.getApp('/web');
    expect(afterCrash.deployment).toMatchObject({ id: dep, state: 'RUNNING' });
    expect(afterCrash.running).toBe(0);

    await h.advance(1000); // past the 1 s launch backoff
    const [second] = await launchAll(h);
    await h.update(second, 'TASK_RUNNING');
    await h.advance(2999);
    expect((await h.fw.getApp('/web')).deployment).toMatchObject({ id: dep, state: 'RUNNING' });
    await h.advance(1); // the timer fires at exactly 3 s: no other event is needed
    const done = await h.fw.getApp('/web');
    expect(done.deployment).toBeUndefined();
    expect(done.lastDeployment).toMatchObject({ id: dep, kind: 'CREATE', state: 'SUCCEEDED' });
    expect(done.running).toBe(1);
  });

  it('with a health check, the window counts from the first healthy report', async () => {
    const h = await Harness.started();
    const dep = await h.put({ id: '/hc', ...small, minReadySeconds: 2, portDefinitions: [{ port: 0 }], healthChecks: [{ protocol: 'TCP' }] });
    const [t] = await launchAll(h);
    await h.update(t, 'TASK_RUNNING');
    await h.advance(10_000);
    expect((await h.fw.getApp('/hc')).deployment).toMatchObject({ id: dep, state: 'RUNNING' });
    await h.update(t, 'TASK_RUNNING', { healthy: true });
    await h.advance(2000);
    expect((await h.fw.getApp('/hc')).lastDeployment).toMatchObject({ id: dep, state: 'SUCCEEDED' });
  });

  it('an app whose tasks always fail at start: the create FAILS at its deadline with the reason, the app stays, relaunches back off up to maxLaunchDelaySeconds', async () => {
    const h = await Harness.started();
    const dep = await h.put({ id: '/porty', ...small, progressDeadlineSeconds: 30, backoffSeconds: 1, backoffFactor: 2, maxLaunchDelaySeconds: 8, minReadySeconds: 3 });
    const delays: number[] = [];
    let launches = 0;
    let afterFailure: AppView | undefined;
    for (let i = 0; i < 60; i++) {
      for (const id of await launchAll(h)) {
        launches++;
        await h.update(id, 'TASK_RUNNING');
        await h.update(id, 'TASK_FAILED', { message: 'Command exited with status 1' });
        afterFailure = await h.fw.getApp('/porty');
        delays.push(afterFailure.backoffSeconds);
      }
      await h.advance(1000);
    }
    const app = await h.fw.getApp('/porty');
    expect(app.deployment).toBeUndefined();
    expect(app.lastDeployment).toMatchObject({ id: dep, kind: 'CREATE', state: 'FAILED' });
    expect(app.lastDeployment!.message).toBe('no progress for 30 s (progressDeadlineSeconds): last task failure: TASK_FAILED Command exited with status 1');
    expect(app.deleting).toBe(false); // a missed deadline never deletes an app
    // Relaunched at once after the first failure, then the backoff grows 1, 2, 4, 8 and stays at the
    // cap; the status says why nothing runs.
    expect(delays.slice(0, 6)).toEqual([0, 1, 2, 4, 8, 8]);
    expect(Math.max(...delays)).toBe(8);
    expect(launches).toBeLessThanOrEqual(2 + Math.ceil(60 / 8) + 3);
    expect(afterFailure!.backoffSeconds).toBe(8);
    expect(app.lastFailure).toMatchObject({ state: 'TASK_FAILED', message: 'Command exited with status 1' });
    expect(afterFailure!.waiting).toMatch(/^launch delayed after task failures: instance 0 relaunches in 8\.0 s \(failure \d+, backoff 8\.000 s: TASK_FAILED Command exited with status 1\); last failure: TASK_FAILED Command exited with status 1$/);
  });
});

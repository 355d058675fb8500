/**
 * Restarts, store failures and stopping: what the framework answers must match what is durable, and
 * time it was down must not fail deployments.
 */
import { FakeClock } from '../../../../src/common/clock';
import { parseAppDefinition } from '../../../../src/frameworks/services/app-definition';
import { ServicesError } from '../../../../src/frameworks/services/errors';
import type { AppRecord, DeploymentRecord, TaskRecord } from '../../../../src/frameworks/services/model';
import { FailingStore, Harness } from './harness';

const small = { cmd: 'serve', cpus: 0.1, mem: 32 };

/** Lets background work (store writes in flight) move on. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function rejection(p: Promise<unknown>): Promise<ServicesError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ServicesError);
    return e as ServicesError;
  }
  throw new Error('expected the call to fail');
}

async function restarted(first: Harness): Promise<Harness> {
  const second = new Harness({ clock: first.clock, store: first.store });
  await second.fw.registered({ frameworkId: 'fw-services', reregistered: true, master: '127.0.0.1:5050' });
  return second;
}

describe('services: progress deadlines across a restart', () => {
  /** A 2-instance app mid-upgrade (one new task healthy, one staging) when the framework stops. */
  async function upgradeInterrupted(): Promise<{ first: Harness; upgrade: string; v1: string[]; v2: string[]; v1Version: string; v2Version: string }> {
    const first = await Harness.started();
    const def = { id: '/web', ...small, instances: 2, progressDeadlineSeconds: 60 };
    await first.put(def);
    const v1 = (await first.offer({ agent: 'a1' })).map((t) => t.taskId);
    await first.running(v1);
    const v1Version = (await first.fw.getApp('/web')).version;
    first.clock.advance(1000);
    const upgrade = await first.put({ ...def, env: { V: '2' } });
    const v2 = (await first.offer({ agent: 'a2' })).map((t) => t.taskId);
    expect(v2).toHaveLength(2);
    await first.running([v2[0]]);
    const v2Version = (await first.fw.getApp('/web')).version;
    await first.fw.stop();
    return { first, upgrade, v1, v2, v1Version, v2Version };
  }

  it('a healthy upgrade whose deadline passed while the framework was down is not failed on restart', async () => {
    const { first, upgrade, v1, v2, v2Version } = await upgradeInterrupted();
    first.clock.advance(120_000); // down for twice the progress deadline
    const second = await restarted(first);

    let deps = await second.fw.listDeployments({ includeFinished: true });
    expect(deps.find((d) => d.id === upgrade)?.state).toBe('RUNNING');
    expect(deps.some((d) => d.kind === 'ROLLBACK')).toBe(false);
    expect((await second.fw.getApp('/web')).version).toBe(v2Version);

    // The master answers the reconciliation; the upgrade carries on to success.
    await second.advance(30_000);
    for (const id of [...v1, v2[0]]) await second.update(id, 'TASK_RUNNING', { reason: 'REASON_RECONCILIATION', source: 'SOURCE_MASTER' });
    await second.update(v2[1], 'TASK_RUNNING', { reason: 'REASON_RECONCILIATION', source: 'SOURCE_MASTER' });
    for (const id of second.killed().filter((id) => v1.includes(id))) await second.update(id, 'TASK_KILLED');
    deps = await second.fw.listDeployments({ includeFinished: true });
    expect(deps.find((d) => d.id === upgrade)?.state).toBe('SUCCEEDED');
    expect(deps.some((d) => d.kind === 'ROLLBACK')).toBe(false);
    expect((await second.tasks('/web')).map((t) => t.taskId).sort()).toEqual([...v2].sort());
    await second.fw.stop();
  });

  it('the deadline still holds, counted from the restart', async () => {
    const { first, upgrade, v1Version } = await upgradeInterrupted();
    first.clock.advance(120_000);
    const second = await restarted(first);
    await second.advance(59_000);
    expect((await second.fw.listDeployments()).map((d) => d.id)).toEqual([upgrade]);
    await second.advance(1_000); // no progress for 60 s since the restart
    const deps = await second.fw.listDeployments({ includeFinished: true });
    expect(deps.find((d) => d.id === upgrade)).toMatchObject({ state: 'FAILED', message: expect.stringMatching(/^no progress for 60 s/) });
    expect(deps.find((d) => d.kind === 'ROLLBACK')).toMatchObject({ rollbackOf: upgrade });
    expect((await second.fw.getApp('/web')).version).toBe(v1Version);
    await second.fw.stop();
  });
});

describe('services: store failures', () => {
  async function startedOn(store: FailingStore, clock = new FakeClock()): Promise<Harness> {
    return Harness.started({ store, clock });
  }

  it('a failed write goes back to the pending writes and is retried by a timer, with backoff', async () => {
    const store = new FailingStore();
    const h = await startedOn(store);
    await h.put({ id: '/web', ...small });
    const [t] = await h.offer({ agent: 'a1' });
    const key = `tasks/${t.taskId}`;
    store.failAll();
    const before = store.attempts.get(key) ?? 0;
    await h.update(t.taskId, 'TASK_RUNNING');
    await h.fw.idle();
    const tries = (): number => (store.attempts.get(key) ?? 0) - before;
    expect(tries()).toBe(1);
    expect((await store.get<TaskRecord>(key))?.state).toBe('TASK_STAGING');
    await h.advance(999);
    expect(tries()).toBe(1);
    await h.advance(1);
    expect(tries()).toBe(2); // after 1 s
    await h.advance(1999);
    expect(tries()).toBe(2);
    await h.advance(1);
    expect(tries()).toBe(3); // then 2 s
    store.failing = undefined;
    await h.advance(4000);
    expect(tries()).toBe(4); // then 4 s: now it works
    expect((await store.get<TaskRecord>(key))?.state).toBe('TASK_RUNNING');
    await h.advance(60_000);
    expect(tries()).toBe(4); // nothing left to retry
  });

  it('a failed write is retried by the next flush, and not over a newer value of its key', async () => {
    const store = new FailingStore();
    const h = await startedOn(store);
    await h.put({ id: '/web', ...small, instances: 2 });
    const [a, b] = await h.offer({ agent: 'a1' });
    const keyA = `tasks/${a.taskId}`;
    // a's RUNNING record is in flight when a fails: the failed put must not bring the record back.
    store.hold();
    store.failing = (key) => key === keyA && store.attempts.get(keyA) === 2;
    await h.update(a.taskId, 'TASK_RUNNING');
    await settle();
    expect(store.attempts.get(keyA)).toBe(2);
    await h.update(a.taskId, 'TASK_FAILED');
    store.release();
    await h.fw.idle();
    expect(store.attempts.get(keyA)).toBe(3); // the delete
    expect(await store.get(keyA)).toBeUndefined();

    // b's record fails once; the next input's flush writes it.
    const keyB = `tasks/${b.taskId}`;
    store.failing = (key) => key === keyB;
    await h.update(b.taskId, 'TASK_RUNNING');
    await h.fw.idle();
    expect((await store.get<TaskRecord>(keyB))?.state).toBe('TASK_STAGING');
    store.failing = undefined;
    await h.fw.getApp('/web'); // reads write nothing…
    await h.offer({ agent: 'a2' }); // …any other input flushes
    expect((await store.get<TaskRecord>(keyB))?.state).toBe('TASK_RUNNING');
  });

  it('tasks whose records cannot be written are not launched; the offers are declined', async () => {
    const store = new FailingStore();
    const h = await startedOn(store);
    await h.put({ id: '/web', ...small, instances: 2 });
    store.failing = (key) => key.startsWith('tasks/');
    expect(await h.offer({ agent: 'a1' })).toEqual([]);
    expect(h.api.declines).toHaveLength(1);
    expect(await h.tasks('/web')).toEqual([]);
    expect((await h.fw.getApp('/web')).waitingInstances).toBe(2);
    store.failing = undefined;
    const launched = await h.offer({ agent: 'a1' });
    expect(launched).toHaveLength(2);
    expect((await store.list('tasks/')).map((e) => e.key).sort()).toEqual(launched.map((t) => `tasks/${t.taskId}`).sort());
  });

  it('PutApp that cannot be saved fails with UNAVAILABLE and changes nothing: no app, no launch', async () => {
    const store = new FailingStore();
    const h = await startedOn(store);
    store.failAll();
    const err = await rejection(h.put({ id: '/web', ...small, instances: 2 }));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toMatch(/^the change to app \/web could not be saved \(.*store unavailable.*\); it was not applied; retry$/);
    expect((await rejection(h.fw.getApp('/web'))).code).toBe('NOT_FOUND');
    expect(await h.fw.listDeployments({ includeFinished: true })).toEqual([]);
    store.failing = undefined;
    expect(await h.offer({ agent: 'a1' })).toEqual([]);
    expect(h.api.launches).toEqual([]);
    // The retry leaves nothing of it in the store either.
    await h.advance(1000);
    expect(await store.list('')).toEqual([]);
    // Retried by the client, it works.
    await h.put({ id: '/web', ...small, instances: 2 });
    expect(await h.offer({ agent: 'a1' })).toHaveLength(2);
  });

  it('a scale that is only partly written is undone in memory and then in the store; no task is killed', async () => {
    const store = new FailingStore();
    const h = await startedOn(store);
    await h.put({ id: '/web', ...small, instances: 3 });
    await h.running((await h.offer({ agent: 'a1' })).map((t) => t.taskId));
    const depsBefore = await h.fw.listDeployments({ includeFinished: true });
    // The new deployment gets written, the app record does not.
    store.failing = (key) => key.startsWith('apps/');
    const err = await rejection(h.fw.scaleApp('/web', 1));
    expect(err.code).toBe('UNAVAILABLE');
    expect(h.killed()).toEqual([]);
    const app = await h.fw.getApp('/web');
    expect(app).toMatchObject({ instances: 3, running: 3 });
    expect(app.deployment).toBeUndefined();
    expect(await h.fw.listDeployments({ includeFinished: true })).toEqual(depsBefore);
    store.failing = undefined;
    await h.advance(1000); // the retry timer writes the undo
    expect((await store.list<DeploymentRecord>('deployments/')).map((e) => e.value.id).sort()).toEqual(depsBefore.map((d) => d.id).sort());
    expect((await store.get<AppRecord>('apps/web'))?.current.def.instances).toBe(3);
    // What a restarted framework sees matches the answer.
    await h.fw.stop();
    const second = await restarted(h);
    expect(await second.fw.getApp('/web')).toMatchObject({ instances: 3 });
    expect(await second.fw.listDeployments()).toEqual([]);
    await second.fw.stop();
  });

  it('a cancel that cannot be saved leaves the deployment running', async () => {
    const store = new FailingStore();
    const h = await startedOn(store);
    await h.put({ id: '/web', ...small, instances: 1 });
    await h.running((await h.offer({ agent: 'a1' })).map((t) => t.taskId));
    const scale = (await h.fw.scaleApp('/web', 2)).deploymentId;
    store.failAll();
    expect((await rejection(h.fw.cancelDeployment(scale))).code).toBe('UNAVAILABLE');
    expect(await h.fw.listDeployments()).toEqual([expect.objectContaining({ id: scale, state: 'RUNNING' })]);
    expect((await h.fw.getApp('/web')).instances).toBe(2);
    store.failing = undefined;
    expect((await h.fw.cancelDeployment(scale)).rollbackDeploymentId).not.toBe('');
  });
});

describe('services: stopping', () => {
  it('changing calls queued while the framework stops fail with UNAVAILABLE and are not applied', async () => {
    const h = await Harness.started();
    await h.put({ id: '/web', ...small });
    const stopping = h.fw.stop();
    const put = h.fw.putApp(parseAppDefinition({ id: '/api', ...small }));
    const scale = h.fw.scaleApp('/web', 5);
    for (const p of [put, scale]) {
      const err = await rejection(p);
      expect(err.code).toBe('UNAVAILABLE');
      expect(err.message).toBe('the services framework is stopping; retry');
    }
    await stopping;
    const second = await restarted(h);
    expect((await second.fw.listApps()).map((a) => [a.id, a.instances])).toEqual([['/web', 1]]);
    await second.fw.stop();
  });
});

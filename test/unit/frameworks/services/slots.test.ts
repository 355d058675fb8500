/**
 * Launch backoff per instance slot (slots.ts): failures of different slots do not delay each other,
 * a slot that keeps failing backs off alone, a slot's backoff resets after its own task's health, and
 * the slots' backoff survives a restart of the framework.
 */
import { parseAppDefinition } from '../../../../src/frameworks/services/app-definition';
import type { AppRecord, TaskRecord } from '../../../../src/frameworks/services/model';
import { assignMissingSlots, failedSlot, planSlots, settleSlots, slotDelayMs } from '../../../../src/frameworks/services/slots';
import { agents, Harness } from './harness';

const small = { cmd: 'serve', cpus: 0.1, mem: 32 };
const def = parseAppDefinition({ id: '/a', cmd: 'x', backoffSeconds: 2, backoffFactor: 2, maxLaunchDelaySeconds: 5 });

function task(instance: number, extra: Partial<TaskRecord> = {}): TaskRecord {
  return {
    taskId: `t${instance}`, appId: '/a', version: 'v', configVersion: 'v', instance, agentId: 'a1', hostname: 'h1', attributes: [], ports: [],
    state: 'TASK_RUNNING', hasHealthCheck: false, ready: false, launchedAt: 0, lastStatusAt: 0, ...extra,
  };
}

describe('instance slots: pure parts', () => {
  it('a slot\'s delay: at once after its first failure, then backoffSeconds × backoffFactor, capped', () => {
    expect([1, 2, 3, 4, 5].map((n) => slotDelayMs(n, def))).toEqual([0, 2000, 4000, 5000, 5000]);
    const first = failedSlot(undefined, def, 100, 'TASK_FAILED exit 1');
    expect(first).toEqual({ failures: 1, delayMs: 0, nextLaunchAt: 100, reason: 'TASK_FAILED exit 1' });
    expect(failedSlot(first, def, 200, 'TASK_KILLED')).toEqual({ failures: 2, delayMs: 2000, nextLaunchAt: 2200, reason: 'TASK_KILLED' });
  });

  it('fills the failed slots first, then the lowest free ones; a slot in backoff waits, the others do not', () => {
    const app = { slots: { 7: { failures: 2, delayMs: 2000, nextLaunchAt: 5000, reason: 'x' }, 2: { failures: 1, delayMs: 0, nextLaunchAt: 0, reason: 'y' } } };
    const current = [task(0), task(1), task(4)];
    expect(planSlots(app, current, 4, 4, 1000)).toEqual({ due: [2, 3, 5], delayed: [7], wanted: new Set([2, 7, 3, 5]) });
    // At most `launch` now (the upgrade bounds), in the same order.
    expect(planSlots(app, current, 4, 1, 1000)).toMatchObject({ due: [2], delayed: [] });
    expect(planSlots(app, current, 4, 4, 5000)).toMatchObject({ due: [2, 7, 3, 5], delayed: [] });
    // A task being killed holds no slot.
    expect(planSlots({ slots: {} }, [task(0, { killRequestedAt: 1 }), task(1)], 1, 1, 0)).toMatchObject({ due: [0] });
  });

  it('a slot\'s entry goes when its own task has been healthy long enough, or when the slot is not needed', () => {
    const entry = { failures: 2, delayMs: 2000, nextLaunchAt: 0, reason: 'x' };
    const app = { slots: { 0: { ...entry }, 1: { ...entry }, 2: { ...entry }, 3: { ...entry } } } as unknown as AppRecord;
    const tasks = [task(0, { healthySince: 0 }), task(1, { healthySince: 50_000 }), task(2, { state: 'TASK_STAGING' })];
    expect(settleSlots(app, tasks, new Set(), 60_000, 60_000)).toBe(true);
    expect(Object.keys(app.slots)).toEqual(['1', '2']); // 0 was healthy 60 s; 3 holds no task and is not wanted
    expect(settleSlots(app, tasks, new Set(), 60_000, 60_000)).toBe(false);
  });

  it('tasks stored without an instance index get the lowest free ones of their app and version, oldest first', () => {
    const legacy = (id: string, launchedAt: number, configVersion = 'v'): TaskRecord => {
      const withIndex: Record<string, unknown> = { ...task(0, { taskId: id, launchedAt, configVersion }) };
      delete withIndex.instance;
      return withIndex as unknown as TaskRecord;
    };
    const tasks = [task(1, { taskId: 'has1' }), legacy('late', 20), legacy('early', 10), legacy('other', 5, 'w')];
    expect(assignMissingSlots(tasks).map((t) => [t.taskId, t.instance])).toEqual([['other', 0], ['early', 0], ['late', 2]]);
  });
});

describe('instance slots: the framework', () => {
  it('five simultaneous failures each relaunch at once, in their own slots', async () => {
    const h = await Harness.started();
    await h.put({ id: '/web', ...small, instances: 6 });
    const launched = await h.offer(...agents(2));
    expect(launched).toHaveLength(6);
    await h.running(launched.map((t) => t.taskId));
    const before = await h.fw.getApp('/web');
    expect(before.tasks.map((t) => t.instance).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    const victims = before.tasks.slice(0, 5);
    for (const t of victims) await h.update(t.taskId, 'TASK_FAILED', { message: 'killed by docker' });
    const waiting = await h.fw.getApp('/web');
    expect(waiting).toMatchObject({ waitingInstances: 5, delayedInstances: [], backoffSeconds: 0, launchDelayRemainingSeconds: 0 });
    const replacements = await h.offer(...agents(2));
    expect(replacements).toHaveLength(5);
    const after = await h.fw.getApp('/web');
    const slotOf = new Map(after.tasks.map((t) => [t.taskId, t.instance]));
    expect(replacements.map((t) => slotOf.get(t.taskId)).sort()).toEqual(victims.map((t) => t.instance).sort());
  });

  it('a slot that keeps failing backs off alone; the other slots relaunch at once', async () => {
    const h = await Harness.started();
    await h.put({ id: '/web', ...small, instances: 4, backoffSeconds: 2, backoffFactor: 2, maxLaunchDelaySeconds: 60 });
    const first = await h.offer(...agents(4));
    await h.running(first.map((t) => t.taskId));
    const slotOf = async (taskId: string): Promise<number> => (await h.fw.getApp('/web')).tasks.find((t) => t.taskId === taskId)!.instance;
    const flaky = await slotOf(first[0].taskId);
    let current = first[0].taskId;
    const othersFailed = new Set<number>();
    for (const expected of [0, 2, 4, 8]) {
      await h.update(current, 'TASK_FAILED', { message: 'exit 1' });
      const app = await h.fw.getApp('/web');
      expect(app.backoffSeconds).toBe(expected);
      if (expected > 0) {
        expect(app.delayedInstances).toMatchObject([{ instance: flaky, delaySeconds: expected, reason: 'TASK_FAILED exit 1' }]);
        // Meanwhile another slot fails for the first time: relaunched at once, the flaky one still waits.
        const other = app.tasks.find((t) => t.instance !== flaky && !othersFailed.has(t.instance))!;
        othersFailed.add(other.instance);
        await h.update(other.taskId, 'TASK_FAILED', { message: 'oom' });
        const [again] = await h.offer(...agents(1));
        expect(await slotOf(again.taskId)).toBe(other.instance);
        expect(await h.offer(...agents(3))).toEqual([]);
        await h.running([again.taskId]);
        await h.advance(expected * 1000);
      }
      const [next] = await h.offer(...agents(1));
      expect(await slotOf(next.taskId)).toBe(flaky);
      await h.running([next.taskId]);
      current = next.taskId;
    }
  });

  it('a slot waiting for its backoff still waits after the framework restarts', async () => {
    const first = await Harness.started();
    await first.put({ id: '/web', ...small, instances: 2, backoffSeconds: 10 });
    const launched = await first.offer(...agents(2));
    await first.running(launched.map((t) => t.taskId));
    await first.update(launched[0].taskId, 'TASK_FAILED');
    const [again] = await first.offer(...agents(1));
    await first.running([again.taskId]);
    await first.update(again.taskId, 'TASK_FAILED');
    const delayed = (await first.fw.getApp('/web')).delayedInstances;
    expect(delayed).toHaveLength(1);
    await first.fw.stop();

    const second = new Harness({ clock: first.clock, store: first.store });
    await second.fw.registered({ frameworkId: 'fw-services', reregistered: true, master: '127.0.0.1:5050' });
    await second.update(launched[1].taskId, 'TASK_RUNNING', { reason: 'REASON_RECONCILIATION', source: 'SOURCE_MASTER' });
    expect((await second.fw.getApp('/web')).delayedInstances).toEqual(delayed);
    expect(await second.offer(...agents(2))).toEqual([]);
    await second.advance(10_000);
    const [replacement] = await second.offer(...agents(2));
    expect((await second.fw.getApp('/web')).tasks.find((t) => t.taskId === replacement.taskId)!.instance).toBe(delayed[0].instance);
    await second.fw.stop();
  });

  it('records from before instance slots load: the app-wide backoff is dropped, tasks get indexes', async () => {
    const h = new Harness();
    const app = parseAppDefinition({ id: '/old', ...small, instances: 2, minReadySeconds: 0 });
    const version = new Date(0).toISOString();
    await h.store.put('apps/old', { id: '/old', current: { version, configVersion: version, def: app }, createdAt: 0, deleting: false, backoff: { delayMs: 5000, nextLaunchAt: 9e15 }, versionSeq: 1 });
    const base = { appId: '/old', version, configVersion: version, agentId: 'a1', hostname: 'h1', attributes: [], ports: [], state: 'TASK_RUNNING', hasHealthCheck: false, ready: false, lastStatusAt: 0 };
    await h.store.put('tasks/old.t2', { ...base, taskId: 'old.t2', launchedAt: 2 });
    await h.store.put('tasks/old.t1', { ...base, taskId: 'old.t1', launchedAt: 1 });
    await h.fw.registered({ frameworkId: 'fw-services', reregistered: true, master: '127.0.0.1:5050' });
    await h.update('old.t1', 'TASK_FAILED');
    const view = await h.fw.getApp('/old');
    expect(view.tasks.map((t) => [t.taskId, t.instance])).toEqual([['old.t2', 1]]);
    expect(view).toMatchObject({ waitingInstances: 1, delayedInstances: [] });
    const [replacement] = await h.offer(...agents(1));
    expect((await h.fw.getApp('/old')).tasks.find((t) => t.taskId === replacement.taskId)!.instance).toBe(0);
    await h.fw.stop();
    expect(await h.store.get('apps/old')).toMatchObject({ slots: {} });
    expect(await h.store.get('apps/old')).not.toHaveProperty('backoff');
    expect(await h.store.get('tasks/old.t2')).toMatchObject({ instance: 1 });
  });
});

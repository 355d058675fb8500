import { parseAppDefinition } from '../../../../src/frameworks/services/app-definition';
import type { TaskRecord } from '../../../../src/frameworks/services/model';
import { capacityBounds, killOrder, planApp } from '../../../../src/frameworks/services/planner';
import { Harness } from './harness';

const def = (extra: Record<string, unknown> = {}) => parseAppDefinition({ id: '/a', cmd: 'x', minReadySeconds: 0, ...extra });

function task(id: string, configVersion: string, state = 'TASK_RUNNING', extra: Partial<TaskRecord> = {}): TaskRecord {
  return {
    taskId: id, appId: '/a', version: configVersion, configVersion, instance: Number(id.replace(/\D/g, '')) || 0, agentId: 'a1', hostname: 'h1', attributes: [], ports: [],
    state, hasHealthCheck: false, ready: false, launchedAt: Number(id.replace(/\D/g, '')) || 0, lastStatusAt: 0, healthySince: 0, ...extra,
  };
}

describe('planner', () => {
  it('upgrade bounds: ceil for the minimum, floor for the maximum, one extra when they meet', () => {
    expect(capacityBounds(def({ upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0.25 } }), 4)).toEqual({ minHealthy: 2, maxTotal: 5 });
    expect(capacityBounds(def({ upgradeStrategy: { minimumHealthCapacity: 0.6, maximumOverCapacity: 0.1 } }), 3)).toEqual({ minHealthy: 2, maxTotal: 3 });
    expect(capacityBounds(def({ upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 0 } }), 3)).toEqual({ minHealthy: 3, maxTotal: 4 });
    expect(capacityBounds(def(), 3)).toEqual({ minHealthy: 3, maxTotal: 6 });
    expect(capacityBounds(def({ upgradeStrategy: { minimumHealthCapacity: 0, maximumOverCapacity: 0 } }), 2)).toEqual({ minHealthy: 0, maxTotal: 2 });
  });

  it('minimumHealthCapacity 0: all old tasks go first, then the new ones start', () => {
    const d = def({ instances: 2, upgradeStrategy: { minimumHealthCapacity: 0, maximumOverCapacity: 0 } });
    const plan = planApp({ def: d, configVersion: 'v2', deleting: false }, [task('t1', 'v1'), task('t2', 'v1')], 0);
    expect(plan.kill.map((t) => t.taskId).sort()).toEqual(['t1', 't2']);
    expect(plan.launch).toBe(0); // the killed ones still hold their resources
    expect(planApp({ def: d, configVersion: 'v2', deleting: false }, [], 0)).toMatchObject({ launch: 2, complete: false, distance: 2 });
  });

  it('counts health and readiness only for tasks that have them', () => {
    const d = def({ instances: 1 });
    const t = task('t1', 'v1', 'TASK_RUNNING', { hasHealthCheck: true });
    expect(planApp({ def: d, configVersion: 'v1', deleting: false }, [t], 0).complete).toBe(false);
    expect(planApp({ def: d, configVersion: 'v1', deleting: false }, [{ ...t, healthy: true }], 0).complete).toBe(true);
    const r = task('t2', 'v1', 'TASK_RUNNING', { readiness: { protocol: 'HTTP', port: 1, path: '/', intervalMs: 1, timeoutMs: 1, statuses: [200] } });
    expect(planApp({ def: d, configVersion: 'v1', deleting: false }, [r], 0).complete).toBe(false);
    expect(planApp({ def: d, configVersion: 'v1', deleting: false }, [{ ...r, ready: true }], 0).complete).toBe(true);
  });

  it('kill order: staged, then unhealthy, then by age', () => {
    const tasks = [task('t1', 'v'), task('t2', 'v', 'TASK_STAGING'), task('t3', 'v', 'TASK_RUNNING', { hasHealthCheck: true, healthy: false }), task('t4', 'v')];
    expect(killOrder(tasks, 'YOUNGEST_FIRST').map((t) => t.taskId)).toEqual(['t2', 't3', 't4', 't1']);
    expect(killOrder(tasks, 'OLDEST_FIRST').map((t) => t.taskId)).toEqual(['t2', 't3', 't1', 't4']);
  });

  it('a version abandoned by a rollback is never reused, even within the same millisecond', async () => {
    const h = await Harness.started();
    const base = { id: '/a', cpus: 0.1, mem: 32, instances: 1 };
    await h.put({ ...base, cmd: 'v1' });
    const [t1] = await h.offer({ agent: 'a1' });
    await h.running([t1.taskId]);
    const d2 = await h.put({ ...base, cmd: 'v2' });
    const [t2] = await h.offer({ agent: 'a1' });
    await h.fw.cancelDeployment(d2);
    expect(h.killed()).toEqual([t2.taskId]);
    await h.put({ ...base, cmd: 'v3' }, true); // the rollback still waits for t2 to go
    const app = await h.fw.getApp('/a');
    expect(app.tasks.find((t) => t.taskId === t2.taskId)?.version).not.toBe(app.configVersion);
    expect(new Set(app.tasks.map((t) => t.version)).size).toBe(2);
    // Replacing the running rollback keeps its target (v1) as the version to return to.
    const [dep] = await h.fw.listDeployments();
    expect(dep.from?.def.cmd).toBe('v1');
  });
});

describe('planner: maxUnavailable / maxSurge', () => {
  const k8s = (maxUnavailable: number | string | undefined, maxSurge: number | string | undefined) =>
    def({ upgradeStrategy: { ...(maxUnavailable === undefined ? {} : { maxUnavailable }), ...(maxSurge === undefined ? {} : { maxSurge }) } });

  it('counts as given; percentages of instances, maxUnavailable rounded down, maxSurge up', () => {
    expect(capacityBounds(k8s(1, 0), 30)).toEqual({ minHealthy: 29, maxTotal: 30 });
    expect(capacityBounds(k8s('25%', '25%'), 10)).toEqual({ minHealthy: 8, maxTotal: 13 }); // 2.5 → 2 down, 2.5 → 3 up
    expect(capacityBounds(k8s('10%', 0), 5)).toEqual({ minHealthy: 4, maxTotal: 5 }); // 0.5 → 0, both 0: one may be unavailable
    expect(capacityBounds(k8s(0, '1%'), 5)).toEqual({ minHealthy: 5, maxTotal: 6 }); // 0.05 → 1 up
    expect(capacityBounds(k8s(10, 2), 3)).toEqual({ minHealthy: 0, maxTotal: 5 });
    expect(capacityBounds(k8s('100%', '100%'), 4)).toEqual({ minHealthy: 0, maxTotal: 8 });
  });

  it('the one style given takes the other field of that style at the bounds of the defaults', () => {
    expect(k8s(1, undefined).upgradeStrategy).toEqual({ maxUnavailable: 1, maxSurge: '100%' });
    expect(k8s(undefined, 2).upgradeStrategy).toEqual({ maxUnavailable: 0, maxSurge: 2 });
    expect(def().upgradeStrategy).toEqual({ minimumHealthCapacity: 1, maximumOverCapacity: 1 });
    // Same bounds as Marathon's defaults.
    expect(capacityBounds(k8s(0, '100%'), 7)).toEqual(capacityBounds(def(), 7));
  });

  it('maxUnavailable 1, maxSurge 0 replaces one task at a time', () => {
    const d = def({ instances: 3, upgradeStrategy: { maxUnavailable: 1, maxSurge: 0 } });
    const target = { def: d, configVersion: 'v2', deleting: false };
    const old = [task('t1', 'v1'), task('t2', 'v1'), task('t3', 'v1')];
    const first = planApp(target, old, 0);
    expect(first.kill).toHaveLength(1);
    expect(first.launch).toBe(0); // the killed one still holds its resources
    const killing = old.map((t) => (t === first.kill[0] ? { ...t, killRequestedAt: 0 } : t));
    expect(planApp(target, killing, 0)).toMatchObject({ kill: [], launch: 0 });
    const gone = old.filter((t) => t !== first.kill[0]);
    expect(planApp(target, gone, 0)).toMatchObject({ kill: [], launch: 1 });
    // The new one is not healthy yet: no other old task goes.
    expect(planApp(target, [...gone, task('n4', 'v2', 'TASK_STAGING')], 0)).toMatchObject({ kill: [], launch: 0 });
    expect(planApp(target, [...gone, task('n4', 'v2')], 0).kill).toHaveLength(1);
  });
});

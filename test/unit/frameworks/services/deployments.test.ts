import { ServicesError } from '../../../../src/frameworks/services/errors';
import { agents, Harness } from './harness';

const small = { cmd: 'serve', cpus: 0.1, mem: 32 };

/** Offers big agents until nothing more launches; returns the new task ids. */
async function launchAll(h: Harness): Promise<string[]> {
  const tasks = await h.offer(...agents(3));
  return tasks.map((t) => t.taskId);
}

async function killedAndReported(h: Harness, from: number): Promise<string[]> {
  const ids = h.killed().slice(from);
  for (const id of ids) await h.update(id, 'TASK_KILLED');
  return ids;
}

describe('services: deployments', () => {
  it('scale up, then down killing the youngest first; OLDEST_FIRST kills the oldest', async () => {
    for (const killSelection of ['YOUNGEST_FIRST', 'OLDEST_FIRST'] as const) {
      const h = await Harness.started();
      await h.put({ id: '/web', ...small, instances: 1, killSelection });
      const one = { agent: 'a1', resources: 'cpus:0.1;mem:32' };
      const first = (await h.offer(one)).map((t) => t.taskId);
      await h.running(first);
      const scaleUp = (await h.fw.scaleApp('/web', 3)).deploymentId;
      expect((await h.fw.listDeployments())[0]).toMatchObject({ id: scaleUp, kind: 'SCALE', state: 'RUNNING' });
      await h.advance(1000);
      const second = (await h.offer(one)).map((t) => t.taskId);
      await h.advance(1000);
      const third = (await h.offer(one)).map((t) => t.taskId);
      await h.running([...second, ...third]);
      const all = [...first, ...second, ...third];
      expect(all).toHaveLength(3);
      expect((await h.fw.listDeployments({ includeFinished: true })).find((d) => d.id === scaleUp)?.state).toBe('SUCCEEDED');

      await h.fw.scaleApp('/web', 1);
      expect(h.killed()).toEqual(killSelection === 'YOUNGEST_FIRST' ? [third[0], second[0]] : [first[0], second[0]]);
      const app = await h.fw.getApp('/web');
      expect(app).toMatchObject({ killing: 2, healthy: 1 });
      expect(app.deployment?.kind).toBe('SCALE');
      await killedAndReported(h, 0);
      expect((await h.fw.getApp('/web')).deployment).toBeUndefined();
      expect(await h.tasks('/web')).toHaveLength(1);
    }
  });

  it('a kill selection prefers tasks that are not running yet', async () => {
    const h = await Harness.started();
    await h.put({ id: '/web', ...small, instances: 3 });
    const ids = (await h.offer({ agent: 'a1' })).map((t) => t.taskId);
    await h.running([ids[0], ids[2]]);
    await h.fw.scaleApp('/web', 2, { force: true });
    expect(h.killed()).toEqual([ids[1]]);
  });

  it('rolling upgrade never drops below minimumHealthCapacity nor exceeds maximumOverCapacity', async () => {
    const h = await Harness.started();
    const def = { id: '/api', ...small, instances: 4, healthChecks: [{ protocol: 'COMMAND', command: { value: 'true' } }], upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0.25 } };
    await h.put(def);
    const v1 = await launchAll(h);
    expect(v1).toHaveLength(4);
    await h.running(v1, true);
    const v1Version = (await h.fw.getApp('/api')).version;

    h.clock.advance(1000);
    const dep = await h.put({ ...def, env: { V: '2' } });
    const invariant = async () => {
      const tasks = (await h.fw.getApp('/api')).tasks;
      const healthy = tasks.filter((t) => t.state === 'TASK_RUNNING' && t.healthy === true && t.killRequestedAt === undefined).length;
      expect(healthy).toBeGreaterThanOrEqual(2); // ceil(4 × 0.5)
      expect(tasks.length).toBeLessThanOrEqual(5); // floor(4 × 1.25), tasks being killed included
    };
    await invariant();
    // Two old tasks may go at once (4 healthy, 2 needed); one new may start (5 allowed).
    expect(h.killed()).toHaveLength(2);
    let killedSoFar = 0;
    let newTasks: string[] = [];
    for (let round = 0; round < 10 && (await h.fw.getApp('/api')).deployment !== undefined; round++) {
      const ended = await killedAndReported(h, killedSoFar);
      killedSoFar += ended.length;
      await invariant();
      const launched = await launchAll(h);
      newTasks = [...newTasks, ...launched];
      await invariant();
      for (const id of launched) {
        await h.update(id, 'TASK_RUNNING');
        await invariant();
        await h.update(id, 'TASK_RUNNING', { healthy: true });
        await invariant();
      }
    }
    const app = await h.fw.getApp('/api');
    expect(app.deployment).toBeUndefined();
    expect(app.tasks.map((t) => t.taskId).sort()).toEqual(newTasks.sort());
    expect(app.tasks.every((t) => t.version !== v1Version)).toBe(true);
    expect(new Set(h.killed())).toEqual(new Set(v1));
    expect((await h.fw.listDeployments({ includeFinished: true })).find((d) => d.id === dep)).toMatchObject({ state: 'SUCCEEDED', kind: 'UPGRADE', steps: [{ action: 'RestartApplication', status: 'DONE' }] });
  });

  it('the default strategy (1, 1) starts all new tasks first and kills old ones as new ones become healthy', async () => {
    const h = await Harness.started();
    await h.put({ id: '/api', ...small, instances: 2 });
    const v1 = await launchAll(h);
    await h.running(v1);
    await h.fw.restartApp('/api');
    expect(h.killed()).toEqual([]);
    const v2 = await launchAll(h);
    expect(v2).toHaveLength(2);
    await h.update(v2[0], 'TASK_RUNNING');
    expect(h.killed()).toHaveLength(1);
    await h.update(v2[1], 'TASK_RUNNING');
    expect(new Set(h.killed())).toEqual(new Set(v1));
  });

  it('minimumHealthCapacity 1 and maximumOverCapacity 0 still moves: one extra task at a time', async () => {
    const h = await Harness.started();
    const def = { id: '/one', ...small, instances: 2, upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 0 } };
    await h.put(def);
    const v1 = await launchAll(h);
    await h.running(v1);
    await h.put({ ...def, cmd: 'serve --v2' });
    const first = await launchAll(h);
    expect(first).toHaveLength(1);
    await h.running(first);
    expect(h.killed()).toHaveLength(1);
    await killedAndReported(h, 0);
    const second = await launchAll(h);
    expect(second).toHaveLength(1);
    await h.running(second);
    await killedAndReported(h, 1);
    expect((await h.fw.getApp('/one')).deployment).toBeUndefined();
  });

  it('a deployment that makes no progress fails at its deadline and rolls back', async () => {
    const h = await Harness.started();
    const def = { id: '/api', ...small, instances: 2, progressDeadlineSeconds: 60 };
    await h.put(def);
    const v1 = await launchAll(h);
    await h.running(v1);
    const good = (await h.fw.getApp('/api')).version;

    h.clock.advance(1000);
    const bad = await h.put({ ...def, cmd: 'crash' });
    // The new tasks start and crash, again and again (with backoff).
    for (let i = 0; i < 20; i++) {
      for (const id of await launchAll(h)) await h.update(id, 'TASK_FAILED', { message: 'exited with status 1' });
      await h.advance(5000);
      if (i === 10) expect((await h.fw.getApp('/api')).deployment).toMatchObject({ id: bad, state: 'RUNNING' }); // 55 s in
    }
    const deployments = await h.fw.listDeployments({ includeFinished: true });
    const failed = deployments.find((d) => d.id === bad)!;
    expect(failed.state).toBe('FAILED');
    expect(failed.message).toMatch(/^no progress for 60 s \(progressDeadlineSeconds\): last task failure: TASK_FAILED exited with status 1$/);
    const rollback = deployments.find((d) => d.id === failed.rolledBackBy)!;
    expect(rollback).toMatchObject({ kind: 'ROLLBACK', rollbackOf: bad, state: 'SUCCEEDED' });
    const app = await h.fw.getApp('/api');
    expect(app.version).toBe(good);
    expect(app.definition.cmd).toBe('serve');
    expect(app.tasks.map((t) => t.taskId).sort()).toEqual([...v1].sort()); // the old tasks were never touched
    expect(h.killed()).toEqual([]);
  });

  it('a deployment that keeps making progress is not failed', async () => {
    const h = await Harness.started();
    await h.put({ id: '/slow', ...small, instances: 3, progressDeadlineSeconds: 60, constraints: [['hostname', 'UNIQUE']] });
    for (let i = 1; i <= 3; i++) {
      await h.advance(50_000);
      const [t] = await h.offer({ agent: `a${i}`, hostname: `h${i}` });
      await h.running([t.taskId]);
    }
    const [dep] = await h.fw.listDeployments({ includeFinished: true });
    expect(dep).toMatchObject({ kind: 'CREATE', state: 'SUCCEEDED' });
  });

  it('cancel rolls an upgrade back; cancelling a create removes the app', async () => {
    const h = await Harness.started();
    await h.put({ id: '/web', ...small, instances: 2 });
    const v1 = await launchAll(h);
    await h.running(v1);
    h.clock.advance(1000);
    const dep = await h.put({ id: '/web', ...small, instances: 2, cmd: 'serve --new' });
    const v2 = await launchAll(h);
    await h.update(v2[0], 'TASK_RUNNING');
    expect(h.killed()).toHaveLength(1);

    const { rollbackDeploymentId } = await h.fw.cancelDeployment(dep);
    const deps = await h.fw.listDeployments({ includeFinished: true });
    expect(deps.find((d) => d.id === dep)).toMatchObject({ state: 'CANCELLED', rolledBackBy: rollbackDeploymentId });
    expect((await h.fw.getApp('/web')).definition.cmd).toBe('serve');
    // The new task that is not running goes at once; the healthy one only once an old-version
    // replacement is healthy (minimumHealthCapacity 1 holds during the rollback too).
    expect(h.killed().slice(1)).toEqual([v2[1]]);
    await killedAndReported(h, 0);
    const again = await launchAll(h);
    expect(again).toHaveLength(1);
    await h.running(again);
    expect(h.killed().slice(2)).toEqual([v2[0]]);
    await killedAndReported(h, 2);
    expect(deps.find((d) => d.id === rollbackDeploymentId)?.kind).toBe('ROLLBACK');
    expect((await h.fw.listDeployments({ includeFinished: true })).find((d) => d.id === rollbackDeploymentId)?.state).toBe('SUCCEEDED');
    await expect(h.fw.cancelDeployment(dep)).rejects.toThrow(/is CANCELLED; only a RUNNING deployment can be cancelled/);

    const created = await h.put({ id: '/new', ...small, instances: 1, mem: 100000 });
    const rb = await h.fw.cancelDeployment(created);
    expect((await h.fw.listDeployments({ includeFinished: true })).find((d) => d.id === rb.rollbackDeploymentId)).toMatchObject({ kind: 'DELETE', state: 'SUCCEEDED' });
    await expect(h.fw.getApp('/new')).rejects.toThrow('app_id: unknown app "/new"');
  });

  it('a change while a deployment runs needs force, which keeps the rollback target', async () => {
    const h = await Harness.started();
    await h.put({ id: '/web', ...small, instances: 1 });
    const v1 = await launchAll(h);
    await h.running(v1);
    const stable = (await h.fw.getApp('/web')).version;
    h.clock.advance(1000);
    const d2 = await h.put({ id: '/web', ...small, instances: 1, cmd: 'v2' });
    h.clock.advance(1000);
    await expect(h.put({ id: '/web', ...small, instances: 1, cmd: 'v3' })).rejects.toThrow(ServicesError);
    await expect(h.fw.scaleApp('/web', 3)).rejects.toThrow(/is locked by deployment .* \(UPGRADE\); wait for it, cancel it, or set force to replace it/);
    const d3 = await h.put({ id: '/web', ...small, instances: 1, cmd: 'v3' }, true);
    const deps = await h.fw.listDeployments({ includeFinished: true });
    expect(deps.find((d) => d.id === d2)).toMatchObject({ state: 'SUPERSEDED', supersededBy: d3 });
    expect(deps.find((d) => d.id === d3)?.from?.version).toBe(stable);
    expect(await h.fw.putApp((await h.fw.getApp('/web')).definition)).toEqual({ deploymentId: d3, created: false }); // no change, no deployment
  });

  it('delete kills every task, then forgets the app and its versions', async () => {
    const h = await Harness.started();
    await h.put({ id: '/gone', ...small, instances: 2 });
    const ids = await launchAll(h);
    await h.running(ids);
    const dep = (await h.fw.deleteApp('/gone')).deploymentId;
    expect(new Set(h.killed())).toEqual(new Set(ids));
    expect((await h.fw.getApp('/gone')).deleting).toBe(true);
    await expect(h.fw.scaleApp('/gone', 5, { force: true })).rejects.toThrow('app_id: app /gone is being deleted');
    await killedAndReported(h, 0);
    await expect(h.fw.getApp('/gone')).rejects.toThrow(ServicesError);
    expect((await h.fw.listDeployments({ includeFinished: true })).find((d) => d.id === dep)?.state).toBe('SUCCEEDED');
    expect(await h.store.list('')).toEqual(expect.not.arrayContaining([expect.objectContaining({ key: expect.stringMatching(/^(apps|versions|tasks)\//) })]));
  });
});

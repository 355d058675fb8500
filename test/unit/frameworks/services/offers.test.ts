import { resourcesFromWire } from '../../../../src/common/wire';
import { MAX_LAUNCHES_PER_ROUND } from '../../../../src/frameworks/services/scheduler';
import { LABEL_APP_ID, LABEL_APP_VERSION } from '../../../../src/frameworks/services/task-builder';
import { agents, Harness } from './harness';

describe('services: offers and placement', () => {
  it('packs several tasks into one offer, declines the rest, and suppresses offers when idle', async () => {
    const h = await Harness.started();
    expect(h.api.suppresses).toBe(1); // nothing to run yet
    await h.put({ id: '/web', cmd: 'serve', instances: 3, cpus: 1, mem: 512, portDefinitions: [{}] });
    expect(h.api.revives).toBe(1);
    const launched = await h.offer({ agent: 'a1', resources: 'cpus:2;mem:4096;ports:[31000-31010]' }, { agent: 'a2', resources: 'cpus:8;mem:8192;ports:[31000-31010]' });
    expect(launched.map((t) => t.agentId)).toEqual(['a1', 'a1', 'a2']);
    expect(h.api.declines).toEqual([]);
    const ports = launched.map((t) => t.info.discovery?.ports?.[0]?.number);
    expect(ports).toEqual([31000, 31001, 31000]); // the second task on a1 got the next free port
    expect(h.api.suppresses).toBe(2); // everything placed: no more offers wanted
    await h.offer({ agent: 'a3' });
    expect(h.api.declines).toEqual([{ offerIds: [expect.any(String)], refuseSeconds: 5 }]);
  });

  it('builds the TaskInfo from the definition', async () => {
    const h = await Harness.started();
    await h.put({
      id: '/shop/web', container: { docker: { image: 'nginx:1.27' } }, args: ['nginx', '-g', 'daemon off;'], cpus: 0.5, mem: 64,
      env: { MODE: 'prod' }, labels: { team: 'shop' }, portDefinitions: [{ name: 'http' }, { name: 'admin-api' }],
      healthChecks: [{ protocol: 'HTTP', path: '/health', portIndex: 1, gracePeriodSeconds: 5, intervalSeconds: 2, timeoutSeconds: 1, maxConsecutiveFailures: 2 }],
      taskKillGracePeriodSeconds: 3,
    });
    const [t] = await h.offer({ agent: 'a1', resources: 'cpus:1;mem:128;ports:[31000-31010]' });
    const info = t.info;
    expect(info.task_id?.value).toMatch(/^shop\.web\.id-\d+$/);
    expect(info.agent_id?.value).toBe('a1');
    expect(info.container).toEqual({ type: 'DOCKER', docker: { image: 'nginx:1.27', force_pull: false, privileged: false, parameters: [] } });
    expect(info.command).toMatchObject({ value: '', shell: false, arguments: ['nginx', '-g', 'daemon off;'] });
    const env = Object.fromEntries((info.command?.environment?.variables ?? []).map((v) => [v.name, v.value]));
    expect(env).toMatchObject({ MODE: 'prod', BERTH_APP_ID: '/shop/web', PORT_HTTP: '31000', PORT_ADMIN_API: '31001' });
    expect(info.health_check).toEqual({ type: 'HTTP', http: { port: 31001, path: '/health', scheme: 'http' }, interval_seconds: 2, timeout_seconds: 1, consecutive_failures: 2, grace_period_seconds: 5 });
    expect(info.kill_policy).toEqual({ grace_period: { nanoseconds: '3000000000' } });
    const labels = Object.fromEntries((info.labels?.labels ?? []).map((l) => [l.key, l.value]));
    expect(labels).toMatchObject({ team: 'shop', [LABEL_APP_ID]: '/shop/web', [LABEL_APP_VERSION]: expect.stringMatching(/^\d{4}-/) });
    expect(resourcesFromWire(info.resources as never).toString()).toBe('cpus:0.5;mem:64;ports:[31000-31001]');

    const p = await Harness.started();
    await p.put({ id: '/job', cmd: 'echo hi', requirePorts: true, portDefinitions: [{ port: 31005 }] });
    const [q] = await p.offer({ agent: 'a1' });
    expect(q.info.container).toEqual({ type: 'PROCESS' });
    expect(q.info.command).toMatchObject({ value: 'echo hi', shell: true });
    expect(q.info.discovery?.ports?.[0]?.number).toBe(31005);
    expect(q.info.health_check).toBeUndefined();
  });

  it('an agent that drained our task: the app waits naming it and how to end the drain, until it offers again', async () => {
    const h = await Harness.started();
    await h.put({ id: '/web', cmd: 'serve', cpus: 1, mem: 64 });
    const [t] = await h.offer({ agent: 'a1', hostname: 'h1' });
    await h.running([t.taskId]);
    expect((await h.fw.getApp('/web')).waiting).toBe('');

    await h.update(t.taskId, 'TASK_KILLED', { reason: 'REASON_AGENT_DRAINING', message: 'agent a1 (h1) is draining' });
    const app = await h.fw.getApp('/web');
    expect(app.waiting).toBe('waiting for offers for 1 instance: agent a1 (h1) is draining (or down for maintenance) and makes no offers; berth agent reactivate a1 ends the drain, berth maintenance stop h1 ends maintenance; last failure: TASK_KILLED agent a1 (h1) is draining');
    expect(app.lastFailure).toMatchObject({ state: 'TASK_KILLED', reason: 'REASON_AGENT_DRAINING' });
    expect(app.backoffSeconds).toBe(0); // a drain is not the app's failure

    // Another agent's offer is rejected: both reasons show.
    expect(await h.offer({ agent: 'a2', hostname: 'h2', resources: 'cpus:0.5;mem:4096' })).toEqual([]);
    expect((await h.fw.getApp('/web')).waiting).toBe('waiting for offers for 1 instance: agent a1 (h1) is draining (or down for maintenance) and makes no offers; berth agent reactivate a1 ends the drain, berth maintenance stop h1 ends maintenance; 1 of the last 2 offers rejected: resources:cpus ×1; last failure: TASK_KILLED agent a1 (h1) is draining');

    // Offering again, the agent no longer drains: the instance goes there.
    const [again] = await h.offer({ agent: 'a1', hostname: 'h1' });
    expect(again.agentId).toBe('a1');
    await h.running([again.taskId]);
    expect((await h.fw.getApp('/web')).waiting).toBe('');
  });

  it('every recent offer used and none since: the reason says so and where to look (not "all were used")', async () => {
    const h = await Harness.started();
    await h.put({ id: '/web', cmd: 'serve', instances: 2, cpus: 1, mem: 64 });
    await h.offer({ agent: 'a1', resources: 'cpus:1;mem:4096' });
    expect((await h.fw.getApp('/web')).waiting).toBe('waiting for offers for 1 instance: the last 1 offer was used and none has come since; if this lasts, see whether the agents are draining, deactivated or full (berth agent list)');
  });

  it('UNIQUE hostname: 5 instances on 5 agents, a 6th waits with the constraint as the reason', async () => {
    const h = await Harness.started();
    await h.put({ id: '/db', cmd: 'db', instances: 5, cpus: 0.1, mem: 32, constraints: [['hostname', 'UNIQUE']] });
    const launched = await h.offer(...agents(5));
    expect(launched.map((t) => t.hostname).sort()).toEqual(['h1', 'h2', 'h3', 'h4', 'h5']);
    await h.running(launched.map((t) => t.taskId));
    expect((await h.fw.getApp('/db')).deployment).toBeUndefined();

    await h.fw.scaleApp('/db', 6);
    expect(await h.offer(...agents(5))).toEqual([]);
    const app = await h.fw.getApp('/db');
    expect(app.waitingInstances).toBe(1);
    expect(app.rejections.reasons).toEqual([{ reason: 'constraint:hostname:UNIQUE', count: 5 }]);
    expect(app.rejections.last?.detail).toMatch(/^hostname:UNIQUE: hostname h\d already has a task$/);
    expect(app.waiting).toBe('waiting for offers for 1 instance: 5 of the last 10 offers rejected: constraint:hostname:UNIQUE ×5');
    const [sixth] = await h.offer({ agent: 'a6', hostname: 'h6' });
    expect(sixth.hostname).toBe('h6');
  });

  it('explains every kind of rejection', async () => {
    const h = await Harness.started({ options: { roles: ['*', 'web'] } });
    await h.put({ id: '/rack', cmd: 'x', cpus: 0.1, mem: 32, constraints: [['rack', 'IS', 'r9']] });
    await h.put({ id: '/big', cmd: 'x', cpus: 1, mem: 100000 });
    await h.put({ id: '/port', cmd: 'x', cpus: 0.1, mem: 32, requirePorts: true, portDefinitions: [{ port: 80 }] });
    await h.put({ id: '/role', cmd: 'x', cpus: 0.1, mem: 32, role: 'web' });
    await h.offer({ agent: 'a1', attributes: { rack: 'r1' } }, { agent: 'a2', attributes: { rack: 'r2' } }, { agent: 'a3' });
    const reasons = async (id: string) => (await h.fw.getApp(id)).rejections.reasons;
    expect(await reasons('/rack')).toEqual([{ reason: 'constraint:rack:IS:r9', count: 3 }]);
    expect(await reasons('/big')).toEqual([{ reason: 'resources:mem', count: 3 }]);
    expect(await reasons('/port')).toEqual([{ reason: 'ports', count: 3 }]);
    expect(await reasons('/role')).toEqual([{ reason: 'role', count: 3 }]);
    expect((await h.fw.getApp('/big')).rejections.last?.detail).toBe('needs mem 100000, the offer has 4096');
    expect(h.api.launches).toEqual([]);
    // An offer in the right role is used.
    expect(await h.offer({ agent: 'a4', role: 'web' })).toHaveLength(1);
  });

  it('the rejection summary covers only the last N offers', async () => {
    const h = await Harness.started({ options: { rejectSummaryOffers: 4 } });
    await h.put({ id: '/big', cmd: 'x', mem: 100000 });
    for (let i = 0; i < 6; i++) await h.offer({ agent: `a${i}` });
    expect((await h.fw.getApp('/big')).rejections).toMatchObject({ considered: 4, launched: 0, reasons: [{ reason: 'resources:mem', count: 4 }] });
  });

  it('5000 tiny instances on big offers: at most 1000 per offer round, the rest on the next offers', async () => {
    expect(MAX_LAUNCHES_PER_ROUND).toBe(1000);
    const h = await Harness.started();
    await h.put({ id: '/many', cmd: 'x', cpus: 0.001, mem: 1, instances: 5000 });
    const big = { agent: 'a1', resources: 'cpus:100;mem:100000;disk:1000' };
    // Two offers in one round: the first takes the round's 1000, the second is handed back unfiltered.
    expect(await h.offer(big, { ...big, agent: 'a2' })).toHaveLength(1000);
    expect(h.api.launches).toEqual([expect.objectContaining({ agentId: 'a1', refuseSeconds: 0 })]);
    expect(h.api.declines).toEqual([{ offerIds: [expect.any(String)], refuseSeconds: 0 }]);
    let total = 1000;
    for (let round = 0; round < 4; round++) total += (await h.offer(big)).length;
    expect(total).toBe(5000);
    expect(h.api.launches.every((l) => l.tasks.length === 1000)).toBe(true);
    expect(new Set(h.api.launchedTasks().map((t) => t.taskId)).size).toBe(5000);
    expect(await h.offer(big)).toEqual([]);
    expect((await h.fw.getApp('/many')).waitingInstances).toBe(0);
  });

  it('constraints see the tasks placed earlier in the same round', async () => {
    const h = await Harness.started();
    await h.put({ id: '/capped', cmd: 'x', cpus: 0.001, mem: 1, instances: 2000, constraints: [['hostname', 'MAX_PER', '1500']] });
    const big = (agent: string) => ({ agent, hostname: agent, resources: 'cpus:100;mem:100000;disk:1000' });
    expect(await h.offer(big('h1'))).toHaveLength(1000);
    expect(await h.offer(big('h1'))).toHaveLength(500); // 1500 on h1: the MAX_PER holds within the round
    expect(await h.offer(big('h1'))).toEqual([]);
    expect((await h.fw.getApp('/capped')).rejections.last?.detail).toBe('hostname:MAX_PER:1500: hostname h1 already has 1500 tasks');
    expect(await h.offer(big('h2'))).toHaveLength(500);
    expect((await h.fw.getApp('/capped')).waitingInstances).toBe(0);
  });
});

/**
 * Exactly one task per attempt across a restart of the framework (a new instance over the same
 * store): launched attempts are reconciled with the master before anything is decided for their
 * run, nothing is launched for them meanwhile, and an attempt whose launch never reached the master
 * (written LAUNCHED, then the process died) fails on TASK_UNKNOWN and is retried under a new task id
 * — never the same one twice.
 */
import { MemoryKeyValueStore, type KeyValueStore } from '../../../../src/frameworks/sdk/store';
import { createFramework, type JobsFramework } from '../../../../src/frameworks/jobs';
import { FakeClock } from '../../../../src/common/clock';
import { memoryLogger } from '../../../../src/common/logging';
import { FakeScheduler, jobDef, offer, startHarness, status, type Harness } from './harness';

const T0 = Date.parse('2026-01-05T00:00:00Z');

let h: Harness;
afterEach(async () => {
  await h?.close();
});

function expectNoDuplicateLaunches(scheduler: FakeScheduler): void {
  const ids = scheduler.launchedTaskIds;
  expect(new Set(ids).size).toBe(ids.length);
}

describe('restart mid-run', () => {
  it('reconciles the running attempt, launches nothing for it, and carries on from the answer', async () => {
    h = await startHarness({ start: T0 });
    await h.framework.putJob({ definition: jobDef('etl', {}, { restart: { policy: 'ON_FAILURE' } }) });
    const run = await h.framework.startRun('etl');
    const taskId = `etl.${run.runId}.1`;
    await h.framework.offers([offer({ agent: 'a3' })]);
    await h.framework.statusUpdate(status(taskId, 'TASK_RUNNING', { agent_id: { value: 'a3' } }));

    await h.advance(30_000);
    await h.restart();
    // Asked before anything else, with the agent (the master stays silent for agents it still expects back).
    expect(h.scheduler.reconciled).toEqual([{ taskId, agentId: 'a3' }]);
    await h.framework.registered({ frameworkId: 'fw-1', reregistered: true, master: 'm:5050' });
    expect(h.scheduler.reconciled.filter((t) => t.taskId === taskId).length).toBeGreaterThanOrEqual(2);
    // Offers meanwhile launch nothing: the attempt may be running.
    await h.framework.offers([offer()]);
    expect(h.scheduler.launchedTaskIds).toEqual([taskId]);
    expect(h.scheduler.offerInterest).toBe('suppress');

    // The master answers: still running. Then it finishes.
    await h.framework.statusUpdate(status(taskId, 'TASK_RUNNING', { reason: 'REASON_RECONCILIATION', agent_id: { value: 'a3' } }));
    expect((await h.framework.getJob('etl')).activeRuns[0]).toMatchObject({ status: 'ACTIVE' });
    await h.framework.statusUpdate(status(taskId, 'TASK_FINISHED'));
    const { runs } = await h.framework.listRuns('etl');
    expect(runs[0]).toMatchObject({ status: 'SUCCESS', attempts: [{ attempt: 1, taskId, phase: 'DONE', taskState: 'TASK_FINISHED' }] });
    expectNoDuplicateLaunches(h.scheduler);
  });

  it('a finished task reported by reconciliation ends the run SUCCESS (it finished while the framework was down)', async () => {
    h = await startHarness({ start: T0 });
    await h.framework.putJob({ definition: jobDef('quick') });
    const run = await h.framework.startRun('quick');
    await h.framework.offers([offer()]);
    await h.restart();
    await h.framework.statusUpdate(status(`quick.${run.runId}.1`, 'TASK_FINISHED', { reason: 'REASON_RECONCILIATION' }));
    expect((await h.framework.listRuns('quick')).runs[0]!.status).toBe('SUCCESS');
    expectNoDuplicateLaunches(h.scheduler);
  });

  it('an attempt written LAUNCHED whose launch never reached the master fails on TASK_UNKNOWN and is retried under a new id', async () => {
    // The process dies right after the LAUNCHED write, before it sends the LAUNCH: a store whose
    // write of a LAUNCHED attempt succeeds and then never returns.
    const clock = new FakeClock(T0);
    const inner = new MemoryKeyValueStore();
    const dying: KeyValueStore = {
      get: (k) => inner.get(k),
      list: (p) => inner.list(p),
      delete: (k) => inner.delete(k),
      put: async (k, v) => {
        await inner.put(k, v);
        if (k.startsWith('runs/') && (v as { attempts: { phase: string }[] }).attempts.some((a) => a.phase === 'LAUNCHED')) await new Promise(() => undefined);
      },
    };
    const first = new FakeScheduler();
    const a = (await createFramework({ clock, logger: memoryLogger(), store: dying, scheduler: first, options: {} })) as JobsFramework;
    await a.putJob({ definition: jobDef('pay', {}, { restart: { policy: 'ON_FAILURE' } }) });
    const run = await a.startRun('pay');
    void a.offers([offer()]); // never completes: the process "dies" here
    await new Promise((r) => setImmediate(r));
    expect(first.launchedTaskIds).toEqual([]);
    expect((await inner.get<{ attempts: { phase: string }[] }>(`runs/pay/${run.runId}`))!.attempts[0]!.phase).toBe('LAUNCHED');
    void a.stop(); // releases its timers; its queue stays stuck, as a dead process's would

    // A new process over the same state.
    h = await startHarness({ start: T0, store: inner });
    h.clock.advance(clock.now() - h.clock.now());
    const taskId1 = `pay.${run.runId}.1`;
    expect(h.scheduler.reconciled).toEqual([{ taskId: taskId1, agentId: 'agent-1' }]);
    await h.framework.offers([offer()]);
    expect(h.scheduler.launchedTaskIds).toEqual([]);

    // The master never saw it.
    await h.framework.statusUpdate(status(taskId1, 'TASK_UNKNOWN', { reason: 'REASON_RECONCILIATION', message: 'task unknown to the master' }));
    let r = (await h.framework.listRuns('pay')).runs[0]!;
    expect(r.attempts.map((x) => [x.taskId, x.phase, x.taskState])).toEqual([
      [taskId1, 'DONE', 'TASK_UNKNOWN'],
      [`pay.${run.runId}.2`, 'PENDING', undefined],
    ]);
    await h.framework.offers([offer()]);
    expect(h.scheduler.launchedTaskIds).toEqual([`pay.${run.runId}.2`]);
    // A late answer about attempt 1 changes nothing, and attempt 1 is never launched.
    await h.framework.statusUpdate(status(taskId1, 'TASK_UNKNOWN'));
    await h.framework.statusUpdate(status(`pay.${run.runId}.2`, 'TASK_FINISHED'));
    r = (await h.framework.listRuns('pay')).runs[0]!;
    expect(r.status).toBe('SUCCESS');
    expect(h.scheduler.launchedTaskIds).not.toContain(taskId1);
  });

  it.each(['TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_UNKNOWN'] as const)('with restart policy NEVER, a reconciled %s fails the run', async (state) => {
    h = await startHarness({ start: T0 });
    await h.framework.putJob({ definition: jobDef('n') });
    const run = await h.framework.startRun('n');
    await h.framework.offers([offer()]);
    await h.restart();
    await h.framework.statusUpdate(status(`n.${run.runId}.1`, state, { reason: 'REASON_RECONCILIATION' }));
    expect((await h.framework.listRuns('n')).runs[0]).toMatchObject({ status: 'FAILED', message: expect.stringContaining(`attempt 1 failed: ${state}`) });
    await h.framework.offers([offer()]);
    expect(h.scheduler.launchedTaskIds).toEqual([`n.${run.runId}.1`]);
  });

  it('a run still waiting for an offer at the crash launches its first attempt after the restart, once', async () => {
    h = await startHarness({ start: T0 });
    await h.framework.putJob({ definition: jobDef('w') });
    const run = await h.framework.startRun('w');
    await h.restart();
    expect(h.scheduler.reconciled).toEqual([]);
    expect(h.scheduler.offerInterest).toBe('revive');
    await h.framework.offers([offer()]);
    await h.framework.offers([offer()]);
    expect(h.scheduler.launchedTaskIds).toEqual([`w.${run.runId}.1`]);
  });

  it('the launch deadline survives a restart', async () => {
    h = await startHarness({ start: T0 });
    await h.framework.putJob({ definition: jobDef('d', {}, { maxLaunchDelaySeconds: 600 }) });
    const run = await h.framework.startRun('d');
    await h.advance(300_000);
    await h.restart();
    await h.advance(299_000);
    expect((await h.framework.listRuns('d')).runs[0]!.status).toBe('INITIAL');
    await h.advance(1000);
    expect((await h.framework.listRuns('d')).runs[0]).toMatchObject({ runId: run.runId, status: 'FAILED' });
  });

  it('a stop asked before the restart is asked again after it', async () => {
    h = await startHarness({ start: T0 });
    await h.framework.putJob({ definition: jobDef('k') });
    const run = await h.framework.startRun('k');
    await h.framework.offers([offer({ agent: 'a9' })]);
    await h.framework.stopRun('k', run.runId);
    await h.restart();
    h.scheduler.clear();
    await h.framework.registered({ frameworkId: 'fw-1', reregistered: true, master: 'm:5050' });
    expect(h.scheduler.calls).toContainEqual({ kind: 'kill', taskId: `k.${run.runId}.1`, agentId: 'a9' });
    await h.framework.statusUpdate(status(`k.${run.runId}.1`, 'TASK_KILLED'));
    expect((await h.framework.listRuns('k')).runs[0]!.status).toBe('STOPPED');
  });

  it('many restarts across attempts never launch a task id twice', async () => {
    h = await startHarness({ start: T0 });
    await h.framework.putJob({ definition: jobDef('chaos', {}, { restart: { policy: 'ON_FAILURE' } }) });
    const run = await h.framework.startRun('chaos');
    for (let i = 1; i <= 5; i++) {
      await h.framework.offers([offer()]);
      await h.restart();
      await h.framework.offers([offer()]);
      await h.framework.statusUpdate(status(`chaos.${run.runId}.${i}`, i % 2 === 0 ? 'TASK_LOST' : 'TASK_UNKNOWN', { reason: 'REASON_RECONCILIATION' }));
      await h.restart();
    }
    await h.framework.offers([offer()]);
    expect(h.scheduler.launchedTaskIds).toEqual([1, 2, 3, 4, 5, 6].map((n) => `chaos.${run.runId}.${n}`));
    expectNoDuplicateLaunches(h.scheduler);
  });

  it('a dependency-triggered child run is not created again by a restart', async () => {
    h = await startHarness({ start: T0 });
    await h.framework.putJob({ definition: jobDef('parent') });
    await h.framework.putJob({ definition: { ...jobDef('child'), dependencies: ['parent'] } });
    await h.advance(1000);
    const run = await h.framework.startRun('parent');
    await h.framework.offers([offer()]);
    await h.framework.statusUpdate(status(`parent.${run.runId}.1`, 'TASK_FINISHED'));
    expect((await h.framework.getJob('child')).activeRuns).toHaveLength(1);
    await h.restart();
    await h.restart();
    expect((await h.framework.listRuns('child')).runs).toHaveLength(1);
  });
});

describe('store failures', () => {
  it('a launch whose intent cannot be written is not sent; the attempt keeps its id and waits for another offer', async () => {
    const inner = new MemoryKeyValueStore();
    let failRunWrites = false;
    const store: KeyValueStore = {
      get: (k) => inner.get(k),
      list: (p) => inner.list(p),
      delete: (k) => inner.delete(k),
      put: async (k, v) => {
        if (failRunWrites && k.startsWith('runs/')) throw new Error('store unavailable');
        await inner.put(k, v);
      },
    };
    h = await startHarness({ start: T0, store });
    await h.framework.putJob({ definition: jobDef('s') });
    const run = await h.framework.startRun('s');
    failRunWrites = true;
    const o = offer();
    await h.framework.offers([o]);
    expect(h.scheduler.launchedTaskIds).toEqual([]);
    expect(h.scheduler.declinedOfferIds).toEqual([o.id!.value]);
    expect((await h.framework.getJob('s')).activeRuns[0]).toMatchObject({ status: 'INITIAL', attempts: [{ phase: 'PENDING' }] });
    failRunWrites = false;
    await h.framework.offers([offer()]);
    expect(h.scheduler.launchedTaskIds).toEqual([`s.${run.runId}.1`]);
  });
});

describe('master failover', () => {
  it('re-registration launches nothing new; TASK_LOST from the new master fails the attempt and the retry gets a new id', async () => {
    h = await startHarness({ start: T0 });
    await h.framework.putJob({ definition: jobDef('f', {}, { restart: { policy: 'ON_FAILURE' } }) });
    const run = await h.framework.startRun('f');
    await h.framework.offers([offer()]);
    await h.framework.statusUpdate(status(`f.${run.runId}.1`, 'TASK_RUNNING'));
    h.framework.disconnected();
    await h.framework.registered({ frameworkId: 'fw-1', reregistered: true, master: 'm2:5050' });
    expect(h.scheduler.offerInterest).toBe('suppress');
    await h.framework.offers([offer()]);
    expect(h.scheduler.launchedTaskIds).toEqual([`f.${run.runId}.1`]);
    await h.framework.statusUpdate(status(`f.${run.runId}.1`, 'TASK_LOST', { reason: 'REASON_AGENT_REMOVED' }));
    await h.framework.offers([offer()]);
    expect(h.scheduler.launchedTaskIds).toEqual([`f.${run.runId}.1`, `f.${run.runId}.2`]);
  });
});

describe('reconciliation on every registration', () => {
  it('registered anew under a new framework id: every launched attempt is reconciled; TASK_UNKNOWN fails it and ON_FAILURE retries as attempt 2', async () => {
    h = await startHarness({ start: T0 });
    await h.framework.putJob({ definition: jobDef('gone', {}, { restart: { policy: 'ON_FAILURE' } }) });
    const run = await h.framework.startRun('gone');
    const taskId = `gone.${run.runId}.1`;
    // Launched while running (not loaded by start): the case start-time reconciliation never covered.
    await h.framework.offers([offer({ agent: 'a7' })]);
    await h.framework.statusUpdate(status(taskId, 'TASK_RUNNING', { agent_id: { value: 'a7' } }));
    h.scheduler.clear();

    // The master removed the framework; the driver subscribes again and gets a new id.
    h.framework.disconnected();
    await h.framework.registered({ frameworkId: 'new', reregistered: false, master: 'm2:5050' });
    expect(h.scheduler.calls.filter((c) => c.kind === 'reconcile')).toEqual([{ kind: 'reconcile', tasks: [{ taskId, agentId: 'a7' }] }]);
    // Nothing is decided for the run until the master answers: no launch, still ACTIVE.
    await h.framework.offers([offer()]);
    expect(h.scheduler.launchedTaskIds).toEqual([]);
    expect((await h.framework.getJob('gone')).activeRuns[0]).toMatchObject({ runId: run.runId, status: 'ACTIVE' });

    await h.framework.statusUpdate(status(taskId, 'TASK_UNKNOWN', { reason: 'REASON_RECONCILIATION' }));
    const r = (await h.framework.listRuns('gone')).runs[0]!;
    expect(r.attempts.map((x) => [x.taskId, x.phase, x.taskState])).toEqual([
      [taskId, 'DONE', 'TASK_UNKNOWN'],
      [`gone.${run.runId}.2`, 'PENDING', undefined],
    ]);
    await h.framework.offers([offer()]);
    expect(h.scheduler.launchedTaskIds).toEqual([`gone.${run.runId}.2`]);
    expectNoDuplicateLaunches(h.scheduler);
  });

  it('every re-subscription reconciles the launched attempts again; a live answer keeps the run', async () => {
    h = await startHarness({ start: T0 });
    await h.framework.putJob({ definition: jobDef('live') });
    const run = await h.framework.startRun('live');
    const taskId = `live.${run.runId}.1`;
    await h.framework.offers([offer({ agent: 'a2' })]);
    await h.framework.statusUpdate(status(taskId, 'TASK_RUNNING', { agent_id: { value: 'a2' } }));
    h.scheduler.clear();
    await h.framework.registered({ frameworkId: 'fw-1', reregistered: true, master: 'm2:5050' });
    await h.framework.registered({ frameworkId: 'fw-1', reregistered: true, master: 'm3:5050' });
    expect(h.scheduler.reconciled).toEqual([
      { taskId, agentId: 'a2' },
      { taskId, agentId: 'a2' },
    ]);
    await h.framework.statusUpdate(status(taskId, 'TASK_RUNNING', { reason: 'REASON_RECONCILIATION', agent_id: { value: 'a2' } }));
    expect((await h.framework.getJob('live')).activeRuns[0]).toMatchObject({ status: 'ACTIVE' });
    await h.framework.statusUpdate(status(taskId, 'TASK_FINISHED'));
    expect((await h.framework.listRuns('live')).runs[0]!.status).toBe('SUCCESS');
    // Nothing left to reconcile.
    h.scheduler.clear();
    await h.framework.registered({ frameworkId: 'fw-1', reregistered: true, master: 'm3:5050' });
    expect(h.scheduler.reconciled).toEqual([]);
  });

  it('a FORBID schedule runs again once the reconciled attempt is answered gone after a new registration', async () => {
    h = await startHarness({ start: '2026-01-05T00:05:00Z' });
    await h.framework.putJob({ definition: { ...jobDef('fb'), schedules: [{ id: 'ten', cron: '*/10 * * * *', concurrencyPolicy: 'FORBID' }] } });
    await h.advanceTo(Date.parse('2026-01-05T00:10:00Z'));
    await h.framework.offers([offer()]);
    const taskId = 'fb.20260105T001000Z-s-ten.1';
    await h.framework.registered({ frameworkId: 'new', reregistered: false, master: 'm2:5050' });
    expect(h.scheduler.reconciled).toContainEqual({ taskId, agentId: 'agent-1' });
    await h.framework.statusUpdate(status(taskId, 'TASK_UNKNOWN', { reason: 'REASON_RECONCILIATION' }));
    await h.advanceTo(Date.parse('2026-01-05T00:20:00Z'));
    const { runs } = await h.framework.listRuns('fb');
    expect(runs.map((r) => r.status)).toEqual(['INITIAL', 'FAILED']);
  });
});

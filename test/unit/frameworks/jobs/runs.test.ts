/**
 * Runs end to end against a recording fake scheduler: placing attempts on offers, suppress/revive,
 * status updates, the restart policy (ON_FAILURE within activeDeadlineSeconds, NEVER), the launch
 * deadline (maxLaunchDelaySeconds), stopping runs, constraints and dependencies between jobs.
 */
import { jobDef, offer, startHarness, status, type Harness } from './harness';

const T0 = Date.parse('2026-01-05T00:00:00Z');

let h: Harness;
beforeEach(async () => {
  h = await startHarness({ start: T0 });
});
afterEach(async () => {
  await h.close();
});

async function put(def: Record<string, unknown>): Promise<void> {
  await h.framework.putJob({ definition: def });
}

async function runOf(jobId: string, runId: string) {
  const { runs } = await h.framework.listRuns(jobId);
  return runs.find((r) => r.runId === runId)!;
}

describe('launching', () => {
  it('suppresses offers while idle, revives when a run waits, and launches one task per attempt', async () => {
    await h.framework.idle();
    expect(h.scheduler.offerInterest).toBe('suppress');
    await put(jobDef('report', {}, { cmd: 'make report', cpus: 2, mem: 512, env: { MODE: 'full' }, taskKillGracePeriodSeconds: 7 }));
    // An offer while nothing waits is declined for the idle refusal time.
    await h.framework.offers([offer()]);
    expect(h.scheduler.calls.at(-1)).toMatchObject({ kind: 'decline', refuseSeconds: 300 });

    const run = await h.framework.startRun('report');
    expect(run).toMatchObject({ status: 'INITIAL', trigger: 'MANUAL', runId: '20260105T000000Z-m' });
    expect(h.scheduler.offerInterest).toBe('revive');

    await h.framework.offers([offer({ agent: 'a1', hostname: 'host-a1' })]);
    expect(h.scheduler.launchedTaskIds).toEqual(['report.20260105T000000Z-m.1']);
    const task = h.scheduler.launchedTasks[0]!;
    expect(task).toMatchObject({
      name: 'report',
      agent_id: { value: 'a1' },
      command: { value: 'make report', shell: true },
      container: { type: 'PROCESS' },
      kill_policy: { grace_period: { nanoseconds: '7000000000' } },
    });
    expect(task.command?.environment?.variables).toEqual(
      expect.arrayContaining([
        { name: 'MODE', value: 'full' },
        { name: 'BERTH_JOB_ID', value: 'report' },
        { name: 'BERTH_JOB_RUN_ID', value: '20260105T000000Z-m' },
        { name: 'BERTH_JOB_ATTEMPT', value: '1' },
      ]),
    );
    const scalars = Object.fromEntries((task.resources ?? []).map((r) => [r.name, r.scalar?.value]));
    expect(scalars).toEqual({ cpus: 2, mem: 512 });
    expect(h.scheduler.offerInterest).toBe('suppress');
    expect(await runOf('report', run.runId)).toMatchObject({ status: 'STARTING', attempts: [{ phase: 'LAUNCHED', agentId: 'a1', hostname: 'host-a1' }] });

    await h.framework.statusUpdate(status('report.20260105T000000Z-m.1', 'TASK_RUNNING'));
    expect((await runOf('report', run.runId)).status).toBe('ACTIVE');
    await h.advance(60_000);
    await h.framework.statusUpdate(status('report.20260105T000000Z-m.1', 'TASK_FINISHED'));
    const done = await runOf('report', run.runId);
    expect(done).toMatchObject({ status: 'SUCCESS', finishedAt: T0 + 60_000 });
    const { stats } = await h.framework.listRuns('report');
    expect(stats).toMatchObject({ successCount: 1, failureCount: 0, lastSuccessAt: T0 + 60_000 });
    // A duplicate terminal update (at-least-once delivery) changes nothing.
    await h.framework.statusUpdate(status('report.20260105T000000Z-m.1', 'TASK_FINISHED'));
    expect((await h.framework.listRuns('report')).stats.successCount).toBe(1);
  });

  it('places several waiting runs on one offer while they fit, and declines what is left', async () => {
    await put(jobDef('big', {}, { cpus: 3, mem: 1024 }));
    await put(jobDef('small', {}, { cpus: 1, mem: 256 }));
    await h.framework.startRun('big');
    await h.framework.startRun('small');
    await h.framework.startRun('small');
    await h.framework.offers([offer({ agent: 'a1' }), offer({ agent: 'a2', resources: 'cpus:0.5;mem:100' })]);
    // a1 (4 cpus): big (3) and one small (1); the second small waits; a2 is too small for anything.
    expect(h.scheduler.launchedTaskIds).toEqual(['big.20260105T000000Z-m.1', 'small.20260105T000000Z-m.1']);
    expect(h.scheduler.calls.at(-1)).toMatchObject({ kind: 'decline', refuseSeconds: 5 });
    expect(h.scheduler.offerInterest).toBe('revive');
  });

  it('runs docker images and argv commands as the agent expects', async () => {
    await put(jobDef('img', {}, { cmd: undefined, docker: { image: 'busybox:1.36', forcePull: true }, args: ['echo', 'hi'] }));
    await h.framework.startRun('img');
    await h.framework.offers([offer()]);
    expect(h.scheduler.launchedTasks[0]).toMatchObject({
      container: { type: 'DOCKER', docker: { image: 'busybox:1.36', force_pull: true } },
      command: { value: '', shell: false, arguments: ['echo', 'hi'] },
    });
  });

  it('respects constraints, using the job’s other runs as placed tasks', async () => {
    await put(jobDef('spread', {}, { constraints: [['hostname', 'UNIQUE'], ['rack', 'LIKE', 'r[12]']] }));
    await h.framework.startRun('spread');
    await h.advance(1000);
    await h.framework.startRun('spread');
    await h.framework.offers([offer({ agent: 'a0', attributes: { rack: 'r9' } }), offer({ agent: 'a1', attributes: { rack: 'r1' } })]);
    // a0 fails LIKE; a1 takes the first run; the second may not share a1's hostname.
    expect(h.scheduler.launchedTasks.map((t) => t.agent_id?.value)).toEqual(['a1']);
    await h.framework.offers([offer({ agent: 'a1', attributes: { rack: 'r1' } }), offer({ agent: 'a2', attributes: { rack: 'r2' } })]);
    expect(h.scheduler.launchedTasks.map((t) => t.agent_id?.value)).toEqual(['a1', 'a2']);
  });
});

describe('restart policy', () => {
  it('ON_FAILURE retries with a new attempt (new task id) inside activeDeadlineSeconds, and fails after it', async () => {
    await put(jobDef('flaky', {}, { restart: { policy: 'ON_FAILURE', activeDeadlineSeconds: 600 } }));
    const run = await h.framework.startRun('flaky');
    const id = (n: number) => `flaky.${run.runId}.${n}`;
    await h.framework.offers([offer()]);
    await h.advance(60_000);
    await h.framework.statusUpdate(status(id(1), 'TASK_FAILED', { message: 'exited with status 3' }));
    let r = await runOf('flaky', run.runId);
    expect(r.status).toBe('INITIAL');
    expect(r.attempts.map((a) => [a.attempt, a.taskId, a.phase])).toEqual([
      [1, id(1), 'DONE'],
      [2, id(2), 'PENDING'],
    ]);
    expect(r.attempts[0]!.message).toBe('TASK_FAILED: exited with status 3');
    expect(h.scheduler.offerInterest).toBe('revive');

    await h.framework.offers([offer()]);
    expect(h.scheduler.launchedTaskIds).toEqual([id(1), id(2)]);
    // Lost counts as a failure too; still inside the deadline (120 s < 600 s).
    await h.advance(60_000);
    await h.framework.statusUpdate(status(id(2), 'TASK_LOST', { reason: 'REASON_AGENT_REMOVED' }));
    await h.framework.offers([offer()]);
    expect(h.scheduler.launchedTaskIds).toEqual([id(1), id(2), id(3)]);

    // Past the deadline (700 s after the run started): no more attempts.
    await h.advance(580_000);
    await h.framework.statusUpdate(status(id(3), 'TASK_FAILED'));
    r = await runOf('flaky', run.runId);
    expect(r.status).toBe('FAILED');
    expect(r.message).toBe('attempt 3 failed: TASK_FAILED; activeDeadlineSeconds (600 s) passed');
    await h.framework.offers([offer()]);
    expect(h.scheduler.launchedTaskIds).toHaveLength(3);
    expect((await h.framework.listRuns('flaky')).stats).toMatchObject({ failureCount: 1, lastFailureAt: T0 + 700_000 });
  });

  it('a run that succeeds after a retry says so, not what failed before', async () => {
    await put(jobDef('flaky', {}, { restart: { policy: 'ON_FAILURE', activeDeadlineSeconds: 600 } }));
    const run = await h.framework.startRun('flaky');
    await h.framework.offers([offer()]);
    await h.framework.statusUpdate(status(`flaky.${run.runId}.1`, 'TASK_FAILED', { message: 'exited with status 3' }));
    expect((await runOf('flaky', run.runId)).message).toBe('attempt 1 failed: TASK_FAILED: exited with status 3; retrying as attempt 2');
    await h.framework.offers([offer()]);
    await h.framework.statusUpdate(status(`flaky.${run.runId}.2`, 'TASK_FINISHED'));
    const r = await runOf('flaky', run.runId);
    expect(r.status).toBe('SUCCESS');
    expect(r.message).toBe('succeeded on attempt 2 after 1 failed');
  });

  it('NEVER does not retry', async () => {
    await put(jobDef('once'));
    const run = await h.framework.startRun('once');
    await h.framework.offers([offer()]);
    await h.framework.statusUpdate(status(`once.${run.runId}.1`, 'TASK_KILLED'));
    const r = await runOf('once', run.runId);
    expect(r).toMatchObject({ status: 'FAILED', message: 'attempt 1 failed: TASK_KILLED; restart policy NEVER' });
    expect(r.attempts).toHaveLength(1);
    await h.framework.offers([offer()]);
    expect(h.scheduler.launchedTaskIds).toHaveLength(1);
  });

  it('ON_FAILURE does not retry TASK_ERROR (an invalid task fails the same way again)', async () => {
    await put(jobDef('bad', {}, { restart: { policy: 'ON_FAILURE' } }));
    const run = await h.framework.startRun('bad');
    await h.framework.offers([offer()]);
    await h.framework.statusUpdate(status(`bad.${run.runId}.1`, 'TASK_ERROR', { reason: 'REASON_TASK_INVALID', message: 'command: required' }));
    expect(await runOf('bad', run.runId)).toMatchObject({ status: 'FAILED', message: expect.stringContaining('TASK_ERROR is not retried') });
  });

  it('an older attempt reported alive again after LOST is killed (one live task per attempt)', async () => {
    await put(jobDef('p', {}, { restart: { policy: 'ON_FAILURE' } }));
    const run = await h.framework.startRun('p');
    await h.framework.offers([offer()]);
    await h.framework.statusUpdate(status(`p.${run.runId}.1`, 'TASK_LOST'));
    await h.framework.offers([offer()]);
    await h.framework.statusUpdate(status(`p.${run.runId}.1`, 'TASK_RUNNING'));
    expect(h.scheduler.killedTaskIds).toEqual([`p.${run.runId}.1`]);
    expect((await runOf('p', run.runId)).attempts.map((a) => a.phase)).toEqual(['DONE', 'LAUNCHED']);
    // A task of no known job is killed as well.
    await h.framework.statusUpdate(status('ghost.20250101T000000Z-m.1', 'TASK_RUNNING'));
    expect(h.scheduler.killedTaskIds).toContain('ghost.20250101T000000Z-m.1');
  });
});

describe('launch deadline', () => {
  it('fails a run that gets no fitting offer within maxLaunchDelaySeconds, saying why', async () => {
    await put(jobDef('huge', {}, { cpus: 64, maxLaunchDelaySeconds: 120 }));
    const run = await h.framework.startRun('huge');
    await h.advance(60_000);
    await h.framework.offers([offer({ hostname: 'small-host' })]);
    expect(h.scheduler.launchedTaskIds).toEqual([]);
    await h.advance(59_000);
    expect((await runOf('huge', run.runId)).status).toBe('INITIAL');
    await h.advance(1000);
    const r = await runOf('huge', run.runId);
    expect(r).toMatchObject({ status: 'FAILED', finishedAt: T0 + 120_000 });
    expect(r.message).toBe('attempt 1 found no fitting offer within maxLaunchDelaySeconds (120 s); last offer: agent small-host: needs cpus 64, the offer has 4');
    expect(h.scheduler.offerInterest).toBe('suppress');
  });

  it('counts the delay per attempt: a retry gets its own window', async () => {
    await put(jobDef('r', {}, { maxLaunchDelaySeconds: 100, restart: { policy: 'ON_FAILURE' } }));
    const run = await h.framework.startRun('r');
    await h.advance(90_000);
    await h.framework.offers([offer()]);
    await h.advance(90_000);
    await h.framework.statusUpdate(status(`r.${run.runId}.1`, 'TASK_FAILED'));
    await h.advance(90_000);
    expect((await runOf('r', run.runId)).status).toBe('INITIAL');
    await h.advance(10_000);
    expect((await runOf('r', run.runId)).status).toBe('FAILED');
  });
});

describe('stopping runs', () => {
  it('a waiting run stops at once; a launched one is killed and ends STOPPED when the kill is confirmed', async () => {
    await put(jobDef('s', {}, { taskKillGracePeriodSeconds: 3 }));
    const waiting = await h.framework.startRun('s');
    const stopped = await h.framework.stopRun('s', waiting.runId);
    expect(stopped).toMatchObject({ status: 'STOPPED', message: 'stopped before its task was launched' });
    await expect(h.framework.stopRun('s', waiting.runId)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await expect(h.framework.stopRun('s', 'nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });

    await h.advance(1000);
    const running = await h.framework.startRun('s');
    await h.framework.offers([offer({ agent: 'a7' })]);
    await h.framework.statusUpdate(status(`s.${running.runId}.1`, 'TASK_RUNNING'));
    const afterStop = await h.framework.stopRun('s', running.runId);
    expect(afterStop.status).toBe('ACTIVE');
    expect(h.scheduler.calls.at(-1)).toEqual({ kind: 'kill', taskId: `s.${running.runId}.1`, agentId: 'a7', gracePeriodMs: 3000 });
    await h.framework.statusUpdate(status(`s.${running.runId}.1`, 'TASK_KILLED'));
    expect(await runOf('s', running.runId)).toMatchObject({ status: 'STOPPED' });
    expect((await h.framework.listRuns('s')).stats).toMatchObject({ stoppedCount: 2, failureCount: 0 });
  });
});

describe('dependencies', () => {
  it('a child runs once every parent succeeded after its last run', async () => {
    await put(jobDef('extract'));
    await put(jobDef('enrich'));
    await put({ ...jobDef('load'), dependencies: ['extract', 'enrich'] });
    const finish = async (jobId: string) => {
      const run = await h.framework.startRun(jobId);
      await h.framework.offers([offer()]);
      await h.advance(1000);
      await h.framework.statusUpdate(status(`${jobId}.${run.runId}.1`, 'TASK_FINISHED'));
      return run;
    };
    await h.advance(1000);
    await finish('extract');
    expect((await h.framework.getJob('load')).activeRuns).toEqual([]);
    await finish('enrich');
    let load = await h.framework.getJob('load');
    expect(load.activeRuns).toHaveLength(1);
    expect(load.activeRuns[0]).toMatchObject({ trigger: 'DEPENDENCY', status: 'INITIAL' });
    // Finish the child; then only one parent succeeds again: not enough.
    await h.framework.offers([offer()]);
    await h.framework.statusUpdate(status(`load.${load.activeRuns[0]!.runId}.1`, 'TASK_FINISHED'));
    await h.advance(1000);
    await finish('extract');
    load = await h.framework.getJob('load');
    expect(load.activeRuns).toEqual([]);
    await finish('enrich');
    expect((await h.framework.getJob('load')).activeRuns).toHaveLength(1);
    expect((await h.framework.getJob('extract')).dependents).toEqual(['load']);
  });

  it('a parent failure does not trigger the child', async () => {
    await put(jobDef('a'));
    await put({ ...jobDef('b'), dependencies: ['a'] });
    const run = await h.framework.startRun('a');
    await h.framework.offers([offer()]);
    await h.advance(1000);
    await h.framework.statusUpdate(status(`a.${run.runId}.1`, 'TASK_FAILED'));
    expect((await h.framework.getJob('b')).activeRuns).toEqual([]);
  });

  it('a trigger that comes while the child runs waits for that run to end', async () => {
    await put(jobDef('a'));
    await put({ ...jobDef('b'), dependencies: ['a'] });
    const child = await h.framework.startRun('b');
    await h.advance(1000);
    const parent = await h.framework.startRun('a');
    await h.framework.offers([offer()]);
    await h.advance(1000);
    await h.framework.statusUpdate(status(`a.${parent.runId}.1`, 'TASK_FINISHED'));
    expect((await h.framework.getJob('b')).activeRuns.map((r) => r.runId)).toEqual([child.runId]);
    await h.framework.statusUpdate(status(`b.${child.runId}.1`, 'TASK_FINISHED'));
    const after = await h.framework.getJob('b');
    expect(after.activeRuns).toHaveLength(1);
    expect(after.activeRuns[0]!.trigger).toBe('DEPENDENCY');
  });

  it('rejects cycles and unknown parents through PutJob', async () => {
    await put(jobDef('a'));
    await put({ ...jobDef('b'), dependencies: ['a'] });
    await expect(h.framework.putJob({ definition: { ...jobDef('a'), dependencies: ['b'] } })).rejects.toThrow('dependencies: would create a dependency cycle (job → parent): a → b → a');
    await expect(h.framework.putJob({ definition: { ...jobDef('c'), dependencies: ['zzz'] } })).rejects.toThrow('dependencies[0]: unknown job, got "zzz"');
  });
});

describe('history', () => {
  it('keeps the newest historySize finished runs and deletes older ones from the store', async () => {
    await h.close();
    h = await startHarness({ start: T0, options: { historySize: 3 } });
    await put(jobDef('h'));
    for (let i = 0; i < 5; i++) {
      const r = await h.framework.startRun('h');
      await h.framework.stopRun('h', r.runId);
      await h.advance(1000);
    }
    const { runs, stats } = await h.framework.listRuns('h');
    expect(runs.map((r) => r.runId)).toEqual(['20260105T000004Z-m', '20260105T000003Z-m', '20260105T000002Z-m']);
    expect(stats.stoppedCount).toBe(5);
    expect((await h.store.list('runs/h/')).map((e) => e.key)).toEqual(['runs/h/20260105T000002Z-m', 'runs/h/20260105T000003Z-m', 'runs/h/20260105T000004Z-m']);
  });

  it('gives runs started in the same second distinct ids', async () => {
    await put(jobDef('same'));
    const a = await h.framework.startRun('same');
    const b = await h.framework.startRun('same');
    expect([a.runId, b.runId]).toEqual(['20260105T000000Z-m', '20260105T000000Z-m-2']);
  });
});

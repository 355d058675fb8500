/**
 * Cron schedules: firing at the right instant, the starting deadline (a late run still starts inside
 * it, is MISSED outside it — whether the framework was down or the master gave no offers), FORBID
 * vs ALLOW, disabled schedules, and no second run for an instant after a restart.
 */
import { FakeClock, type Clock } from '../../../../src/common/clock';
import { memoryLogger } from '../../../../src/common/logging';
import { createFramework, type JobsFramework } from '../../../../src/frameworks/jobs';
import { MemoryKeyValueStore, type KeyValueStore } from '../../../../src/frameworks/sdk/store';
import { FakeScheduler, jobDef, offer, startHarness, status, type Harness } from './harness';

const at = (s: string) => Date.parse(s);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

let h: Harness;
afterEach(async () => {
  await h?.close();
});

function hourly(id: string, schedule: Record<string, unknown> = {}, run: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...jobDef(id, {}, run), schedules: [{ id: 'hourly', cron: '0 * * * *', ...schedule }] };
}

async function summary(jobId: string) {
  const { runs, stats } = await h.framework.listRuns(jobId);
  return { runs: runs.map((r) => `${iso(r.scheduledAt)} ${r.status}`).reverse(), stats };
}

describe('firing', () => {
  it('fires at each instant in the schedule’s time zone and shows the next fire time', async () => {
    h = await startHarness({ start: '2026-01-05T00:10:00Z' });
    const { job } = await h.framework.putJob({ definition: hourly('tick', { timezone: 'Asia/Kolkata', cron: '0 6 * * *' }) });
    // 06:00 in Kolkata (UTC+05:30) is 00:30Z.
    expect(iso(job.schedules[0]!.nextFireAt)).toBe('2026-01-05T00:30:00.000Z');
    await h.advanceTo(at('2026-01-05T00:29:00Z'));
    expect((await summary('tick')).runs).toEqual([]);
    await h.advance(60_000);
    expect((await summary('tick')).runs).toEqual(['2026-01-05T00:30:00.000Z INITIAL']);
    const view = await h.framework.getJob('tick');
    expect(iso(view.schedules[0]!.nextFireAt)).toBe('2026-01-06T00:30:00.000Z');
    expect(iso(view.schedules[0]!.lastFireAt)).toBe('2026-01-05T00:30:00.000Z');
  });

  it('many schedules share one clock timer (a heap of next fire times, not a timer or a scan per job)', async () => {
    h = await startHarness({ start: '2026-01-05T00:00:30Z' });
    for (let i = 0; i < 200; i++) await h.framework.putJob({ definition: { ...jobDef(`j${i}`), schedules: [{ id: 's', cron: `${i % 60} * * * *` }] } });
    expect(h.clock.pending).toBe(1);
    await h.advanceTo(at('2026-01-05T01:00:00Z'));
    const fired = await Promise.all(Array.from({ length: 200 }, async (_, i) => (await h.framework.listRuns(`j${i}`)).runs.length));
    expect(fired.every((n) => n === 1)).toBe(true);
  });

  it('a disabled schedule does not fire; enabling it starts from now, without catching up', async () => {
    h = await startHarness({ start: '2026-01-05T00:10:00Z' });
    await h.framework.putJob({ definition: hourly('off', { enabled: false }) });
    expect((await h.framework.getJob('off')).schedules[0]!.nextFireAt).toBeUndefined();
    await h.advanceTo(at('2026-01-05T03:30:00Z'), 10 * 60_000);
    expect((await summary('off')).runs).toEqual([]);
    await h.framework.putJob({ definition: hourly('off', { enabled: true }) });
    await h.advanceTo(at('2026-01-05T04:00:00Z'));
    expect((await summary('off')).runs).toEqual(['2026-01-05T04:00:00.000Z INITIAL']);
  });
});

describe('starting deadline', () => {
  async function downtime(until: string, schedule: Record<string, unknown> = {}) {
    h = await startHarness({ start: '2026-01-05T00:10:00Z' });
    await h.framework.putJob({ definition: hourly('late', schedule) });
    // The framework process dies; time passes; it starts again from the same store.
    await h.framework.stop();
    h.clock.advance(at(until) - h.clock.now());
    await h.restart();
  }

  it('a schedule missed while the framework was down still runs inside startingDeadlineSeconds', async () => {
    await downtime('2026-01-05T01:10:00Z', { startingDeadlineSeconds: 900 });
    const s = await summary('late');
    expect(s.runs).toEqual(['2026-01-05T01:00:00.000Z INITIAL']);
    const run = (await h.framework.listRuns('late')).runs[0]!;
    expect(run).toMatchObject({ trigger: 'SCHEDULE', scheduleId: 'hourly', createdAt: at('2026-01-05T01:10:00Z') });
    expect(h.scheduler.offerInterest).toBe('revive');
    expect(iso((await h.framework.getJob('late')).schedules[0]!.nextFireAt)).toBe('2026-01-05T02:00:00.000Z');
  });

  it('outside the deadline the instant is recorded MISSED and nothing runs', async () => {
    await downtime('2026-01-05T01:20:00Z', { startingDeadlineSeconds: 900 });
    const s = await summary('late');
    expect(s.runs).toEqual(['2026-01-05T01:00:00.000Z MISSED']);
    expect(s.stats.missedCount).toBe(1);
    expect((await h.framework.listRuns('late')).runs[0]!.message).toBe('starting deadline (900 s) passed before the run could start');
    expect(h.scheduler.offerInterest).toBe('suppress');
    await h.advanceTo(at('2026-01-05T02:00:00Z'));
    expect((await summary('late')).runs).toEqual(['2026-01-05T01:00:00.000Z MISSED', '2026-01-05T02:00:00.000Z INITIAL']);
  });

  it('after a long downtime only the latest instant may run; the earlier ones are MISSED', async () => {
    await downtime('2026-01-05T04:05:00Z');
    const s = await summary('late');
    expect(s.runs).toEqual(['2026-01-05T01:00:00.000Z MISSED', '2026-01-05T02:00:00.000Z MISSED', '2026-01-05T03:00:00.000Z MISSED', '2026-01-05T04:00:00.000Z INITIAL']);
    expect(s.stats.missedCount).toBe(3);
  });

  it('only maxMissedRecords missed instants are listed; the rest are counted', async () => {
    h = await startHarness({ start: '2026-01-05T00:00:30Z', options: { maxMissedRecords: 2 } });
    await h.framework.putJob({ definition: { ...jobDef('minutely'), schedules: [{ id: 'm', cron: '* * * * *', startingDeadlineSeconds: 30 }] } });
    await h.framework.stop();
    h.clock.advance(10 * 60_000); // 00:10:30: instants 00:01 … 00:10 missed; 00:10 is 30 s late
    await h.restart();
    const s = await summary('minutely');
    expect(s.runs).toEqual(['2026-01-05T00:08:00.000Z MISSED', '2026-01-05T00:09:00.000Z MISSED', '2026-01-05T00:10:00.000Z INITIAL']);
    expect(s.stats.missedCount).toBe(9);
  });

  it('a scheduled run that cannot start (master gives no offers) ends MISSED at its starting deadline', async () => {
    h = await startHarness({ start: '2026-01-05T00:10:00Z' });
    await h.framework.putJob({ definition: hourly('nooffers', { startingDeadlineSeconds: 300 }) });
    await h.advanceTo(at('2026-01-05T01:04:00Z'));
    expect((await summary('nooffers')).runs).toEqual(['2026-01-05T01:00:00.000Z INITIAL']);
    await h.advance(60_000);
    const { runs } = await h.framework.listRuns('nooffers');
    expect(runs[0]).toMatchObject({ status: 'MISSED', finishedAt: at('2026-01-05T01:05:00Z') });
    expect(runs[0]!.message).toBe('not started within startingDeadlineSeconds of the scheduled instant 2026-01-05T01:00:00.000Z (no offer was received)');
  });

  it('a scheduled run that started in time is not bound by the starting deadline afterwards', async () => {
    h = await startHarness({ start: '2026-01-05T00:10:00Z' });
    await h.framework.putJob({ definition: hourly('ok', { startingDeadlineSeconds: 60 }, { restart: { policy: 'ON_FAILURE' } }) });
    await h.advanceTo(at('2026-01-05T01:00:30Z'), 30_000);
    await h.framework.offers([offer()]);
    const run = (await h.framework.listRuns('ok')).runs[0]!;
    await h.advance(120_000);
    await h.framework.statusUpdate(status(`ok.${run.runId}.1`, 'TASK_FAILED'));
    await h.advance(120_000); // the retry waits past scheduledAt + 60 s: still fine
    expect((await h.framework.listRuns('ok')).runs[0]!.status).toBe('INITIAL');
  });
});

describe('concurrency policy', () => {
  it.each([
    ['FORBID', ['2026-01-05T00:10:00.000Z INITIAL', '2026-01-05T00:20:00.000Z SKIPPED', '2026-01-05T00:30:00.000Z SKIPPED']],
    ['ALLOW', ['2026-01-05T00:10:00.000Z INITIAL', '2026-01-05T00:20:00.000Z INITIAL', '2026-01-05T00:30:00.000Z INITIAL']],
  ])('%s while a run is active', async (policy, expected) => {
    h = await startHarness({ start: '2026-01-05T00:05:00Z' });
    await h.framework.putJob({ definition: { ...jobDef('c', {}, { maxLaunchDelaySeconds: 86_400 }), schedules: [{ id: 'ten', cron: '*/10 * * * *', concurrencyPolicy: policy, startingDeadlineSeconds: 86_400 }] } });
    await h.advanceTo(at('2026-01-05T00:30:00Z'));
    const s = await summary('c');
    expect(s.runs).toEqual(expected);
    if (policy === 'FORBID') {
      expect(s.stats.skippedCount).toBe(2);
      expect((await h.framework.listRuns('c')).runs[0]!.message).toBe('concurrencyPolicy FORBID: run(s) 20260105T001000Z-s-ten still active');
    }
  });

  it('FORBID runs again once the active run ended', async () => {
    h = await startHarness({ start: '2026-01-05T00:05:00Z' });
    await h.framework.putJob({ definition: { ...jobDef('f'), schedules: [{ id: 'ten', cron: '*/10 * * * *', concurrencyPolicy: 'FORBID' }] } });
    await h.advanceTo(at('2026-01-05T00:10:00Z'));
    await h.framework.offers([offer()]);
    await h.framework.statusUpdate(status('f.20260105T001000Z-s-ten.1', 'TASK_FINISHED'));
    await h.advanceTo(at('2026-01-05T00:20:00Z'));
    expect((await summary('f')).runs).toEqual(['2026-01-05T00:10:00.000Z SUCCESS', '2026-01-05T00:20:00.000Z INITIAL']);
  });
});

describe('one run per instant across restarts', () => {
  it('a restart right after an instant fired does not run it again', async () => {
    h = await startHarness({ start: '2026-01-05T00:55:00Z' });
    await h.framework.putJob({ definition: hourly('once') });
    await h.advanceTo(at('2026-01-05T01:00:00Z'));
    await h.restart();
    await h.restart();
    expect((await summary('once')).runs).toEqual(['2026-01-05T01:00:00.000Z INITIAL']);
  });

  it('a crash between writing the run and recording the instant as handled does not duplicate it', async () => {
    // The job record write that would mark 01:00 handled fails (the process "dies" there).
    const inner = new MemoryKeyValueStore();
    let failJobWrites = false;
    const store: KeyValueStore = {
      get: (k) => inner.get(k),
      list: (p) => inner.list(p),
      delete: (k) => inner.delete(k),
      put: async (k, v) => {
        if (failJobWrites && k.startsWith('jobs/')) throw new Error('store unavailable');
        await inner.put(k, v);
      },
    };
    h = await startHarness({ start: '2026-01-05T00:55:00Z', store });
    await h.framework.putJob({ definition: hourly('crashy') });
    failJobWrites = true;
    await h.advanceTo(at('2026-01-05T01:00:00Z'));
    expect(h.logger.messages('error')).toContain('schedule handling failed');
    expect((await inner.get<{ schedules: { hourly: { handledUntil: number } } }>('jobs/crashy'))!.schedules.hourly.handledUntil).toBe(at('2026-01-05T00:55:00Z'));
    failJobWrites = false;
    await h.restart();
    expect((await summary('crashy')).runs).toEqual(['2026-01-05T01:00:00.000Z INITIAL']);
    expect((await inner.get<{ schedules: { hourly: { handledUntil: number } } }>('jobs/crashy'))!.schedules.hourly.handledUntil).toBe(at('2026-01-05T01:00:00Z'));
  });
});

describe('a late timer (host suspend, blocked event loop, clock step)', () => {
  const minutely = (id: string) => ({
    ...jobDef(id, {}, { maxLaunchDelaySeconds: 86_400 }),
    schedules: [{ id: 'm', cron: '* * * * *', concurrencyPolicy: 'ALLOW', startingDeadlineSeconds: 3600 }],
  });

  it('30 minutes late in one step: only the latest instant runs, the others are MISSED (bounded by maxMissedRecords)', async () => {
    h = await startHarness({ start: '2026-01-05T00:00:30Z' });
    await h.framework.putJob({ definition: minutely('m') });
    // One step: every due timer fires before any queued work runs (a blocked event loop).
    await h.advance(30 * 60_000, 30 * 60_000);
    const s = await summary('m');
    const missed = Array.from({ length: 10 }, (_, i) => `2026-01-05T00:${20 + i}:00.000Z MISSED`);
    expect(s.runs).toEqual([...missed, '2026-01-05T00:30:00.000Z INITIAL']);
    expect(s.stats.missedCount).toBe(29);
    const { runs } = await h.framework.listRuns('m');
    expect(runs.filter((r) => r.status !== 'MISSED')).toHaveLength(1);
    expect(runs[1]!.message).toContain('superseded by the later instant 2026-01-05T00:30:00.000Z');
    expect(runs[0]).toMatchObject({ createdAt: Date.parse('2026-01-05T00:30:30Z') });
    expect(h.logger.messages('warn')).toContain('schedule instants missed');
    // Back to normal afterwards: the next instant runs on time.
    expect(iso((await h.framework.getJob('m')).schedules[0]!.nextFireAt)).toBe('2026-01-05T00:31:00.000Z');
    await h.advance(60_000);
    expect((await summary('m')).runs.slice(-2)).toEqual(['2026-01-05T00:30:00.000Z INITIAL', '2026-01-05T00:31:00.000Z INITIAL']);
    await h.framework.offers([offer({ resources: 'cpus:8;mem:8192' })]);
    expect(h.scheduler.launchedTaskIds).toHaveLength(2);
  });

  it('a timer that fires late (the clock stepped forward) fires once and handles every due instant together', async () => {
    // The clock jumps 30 minutes between two timer checks: the timer then fires with `now` far
    // past its deadline (what a suspended host sees), not at its own time as FakeClock.advance does.
    const fake = new FakeClock(Date.parse('2026-01-05T00:00:30Z'));
    let step = 0;
    const clock: Clock = {
      now: () => fake.now() + step,
      setTimeout: (fn, ms) => fake.setTimeout(fn, ms),
      clearTimeout: (t) => fake.clearTimeout(t),
      setInterval: (fn, ms) => fake.setInterval(fn, ms),
      clearInterval: (t) => fake.clearInterval(t),
    };
    const store = new MemoryKeyValueStore();
    const framework = (await createFramework({ clock, logger: memoryLogger(), store, scheduler: new FakeScheduler(), options: {} })) as JobsFramework;
    await framework.putJob({ definition: minutely('step') });
    step = 30 * 60_000; // the clock jumps from 00:00:30 to 00:30:30
    fake.advance(30_000); // the timer set for 00:01 fires once, when now reads 00:31:00
    await framework.idle();
    const { runs, stats } = await framework.listRuns('step');
    expect(runs.filter((r) => r.status !== 'MISSED').map((r) => iso(r.scheduledAt))).toEqual(['2026-01-05T00:31:00.000Z']);
    expect(runs.filter((r) => r.status === 'MISSED')).toHaveLength(10);
    expect(stats.missedCount).toBe(30);
    expect(iso((await framework.getJob('step')).schedules[0]!.nextFireAt)).toBe('2026-01-05T00:32:00.000Z');
    await framework.stop();
    expect(fake.pending).toBe(0);
  });
});

describe('a scheduled run whose store write fails', () => {
  function flakyStore(): { store: KeyValueStore; fail: (n: number) => void; puts: () => number } {
    const inner = new MemoryKeyValueStore();
    let failures = 0;
    let puts = 0;
    return {
      store: {
        get: (k) => inner.get(k),
        list: (p) => inner.list(p),
        delete: (k) => inner.delete(k),
        put: async (k, v) => {
          if (k.startsWith('runs/')) {
            puts++;
            if (failures > 0) {
              failures--;
              throw new Error('store unavailable');
            }
          }
          await inner.put(k, v);
        },
      },
      fail: (n) => {
        failures = n;
      },
      puts: () => puts,
    };
  }

  it('is retried with a backoff on the clock and created once the store takes it', async () => {
    const f = flakyStore();
    h = await startHarness({ start: '2026-01-05T00:55:00Z', store: f.store });
    await h.framework.putJob({ definition: hourly('retry', { startingDeadlineSeconds: 60 }) });
    f.fail(2);
    await h.advanceTo(at('2026-01-05T01:00:00Z'));
    expect((await summary('retry')).runs).toEqual([]);
    expect(h.logger.messages('warn')).toContain('could not write a scheduled run; retrying');
    await h.advance(1000, 1000); // second try fails: next in 2 s
    expect((await summary('retry')).runs).toEqual([]);
    await h.advance(1000, 1000);
    expect((await summary('retry')).runs).toEqual([]);
    await h.advance(1000, 1000); // third try, 01:00:03
    const { runs } = await h.framework.listRuns('retry');
    expect(runs.map((r) => [iso(r.scheduledAt), r.status, iso(r.createdAt)])).toEqual([['2026-01-05T01:00:00.000Z', 'INITIAL', '2026-01-05T01:00:03.000Z']]);
    expect(f.puts()).toBe(3);
    const view = await h.framework.getJob('retry');
    expect(iso(view.schedules[0]!.lastFireAt)).toBe('2026-01-05T01:00:00.000Z');
    expect(iso(view.schedules[0]!.nextFireAt)).toBe('2026-01-05T02:00:00.000Z');
    // The instant is handled (also in the store): a restart does not create it again.
    await h.restart();
    expect((await summary('retry')).runs).toEqual(['2026-01-05T01:00:00.000Z INITIAL']);
    await h.framework.offers([offer()]);
    expect(h.scheduler.launchedTaskIds).toEqual(['retry.20260105T010000Z-s-hourly.1']);
  });

  it('that cannot be written within the starting deadline is recorded MISSED with the store error, never lost', async () => {
    const f = flakyStore();
    h = await startHarness({ start: '2026-01-05T00:55:00Z', store: f.store });
    await h.framework.putJob({ definition: hourly('down', { startingDeadlineSeconds: 60 }) });
    f.fail(Infinity);
    await h.advanceTo(at('2026-01-05T01:00:00Z'));
    await h.advance(59_000, 1000);
    expect((await summary('down')).runs).toEqual([]);
    await h.advance(1000, 1000); // the last try, at the deadline
    const { runs, stats } = await h.framework.listRuns('down');
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ scheduledAt: at('2026-01-05T01:00:00Z'), status: 'MISSED', attempts: [] });
    // Tries at +0, 1, 3, 7, 15, 31 and 60 s.
    expect(runs[0]!.message).toBe('its run could not be written to the store within the starting deadline (60 s) after 7 tries: store unavailable');
    expect(stats.missedCount).toBe(1);
    expect(h.logger.messages('error')).toContain('could not write a scheduled run within its starting deadline; the instant is recorded MISSED');
    const view = await h.framework.getJob('down');
    expect(iso(view.schedules[0]!.lastFireAt)).toBe('2026-01-05T01:00:00.000Z');
    expect(iso(view.schedules[0]!.nextFireAt)).toBe('2026-01-05T02:00:00.000Z');
    // The store is back: the next instant runs.
    f.fail(0);
    await h.advanceTo(at('2026-01-05T02:00:00Z'));
    expect((await summary('down')).runs).toEqual(['2026-01-05T01:00:00.000Z MISSED', '2026-01-05T02:00:00.000Z INITIAL']);
  });

  it('a later instant due while the write is retried supersedes it: MISSED with the store error, the later one runs', async () => {
    const f = flakyStore();
    h = await startHarness({ start: '2026-01-05T00:00:30Z', store: f.store });
    await h.framework.putJob({ definition: { ...jobDef('busy'), schedules: [{ id: 'm', cron: '* * * * *', startingDeadlineSeconds: 3600 }] } });
    f.fail(6); // 00:01 tries at +0, 1, 3, 7, 15, 31 s fail; the next is due after 00:02
    await h.advanceTo(at('2026-01-05T00:02:00Z'), 1000);
    const { runs } = await h.framework.listRuns('busy');
    expect(runs.map((r) => `${iso(r.scheduledAt)} ${r.status}`).reverse()).toEqual(['2026-01-05T00:01:00.000Z MISSED', '2026-01-05T00:02:00.000Z INITIAL']);
    expect(runs[1]!.message).toBe(`${'the schedule was handled late (its timer fired late: host suspended, event loop blocked or clock stepped)'}; its run could not be written to the store (store unavailable); superseded by the later instant 2026-01-05T00:02:00.000Z`);
  });

  it('deleting the job cancels a pending retry', async () => {
    const f = flakyStore();
    h = await startHarness({ start: '2026-01-05T00:55:00Z', store: f.store });
    await h.framework.putJob({ definition: hourly('gone') });
    f.fail(Infinity);
    await h.advanceTo(at('2026-01-05T01:00:00Z'));
    await h.framework.deleteJob('gone');
    const puts = f.puts();
    await h.advance(60_000, 1000);
    expect(f.puts()).toBe(puts);
    expect(h.clock.pending).toBe(0);
  });
});

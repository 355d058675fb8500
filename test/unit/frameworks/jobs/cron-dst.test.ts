/**
 * Cron schedules across daylight-saving changes, in Europe/Berlin (CET = UTC+1, CEST = UTC+2):
 *
 * - 2026-03-29 (spring forward): 02:00 CET → 03:00 CEST; 02:30 does not exist.
 *   `30 2 * * *` fires once, at 03:00 CEST = 01:00Z.
 * - 2026-10-25 (fall back): 03:00 CEST → 02:00 CET; 02:30 happens at 00:30Z and again at 01:30Z.
 *   `30 2 * * *` fires once, at the first 02:30 (CEST) = 00:30Z.
 *
 * First on the pure CronSchedule, then end to end: the jobs framework on a fake clock creates
 * exactly one run per scheduled instant, at that instant.
 */
import { CronSchedule } from '../../../../src/frameworks/jobs/cron';
import { jobDef, startHarness } from './harness';

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

function instants(expr: string, tz: string, from: string, until: string): string[] {
  return CronSchedule.create(expr, tz)
    .between(Date.parse(from), Date.parse(until), 100)
    .instants.map((t) => new Date(t).toISOString());
}

describe('cron answers shared between schedules', () => {
  it('the same expression in two zones, asked at any millisecond of a minute, answers per zone', () => {
    const berlin = CronSchedule.create('30 2 * * *', 'Europe/Berlin');
    const utc = CronSchedule.create('30 2 * * *', 'UTC');
    for (const from of ['2026-06-01T00:00:00.000Z', '2026-06-01T00:00:59.999Z', '2026-06-01T00:29:30.000Z']) {
      expect(iso(berlin.next(Date.parse(from)))).toBe('2026-06-01T00:30:00.000Z'); // 02:30 CEST
      expect(iso(utc.next(Date.parse(from)))).toBe('2026-06-01T02:30:00.000Z');
    }
    // Strictly after: asked from the instant itself, or from within its minute, the answer is the next day's.
    expect(iso(utc.next(Date.parse('2026-06-01T02:30:00.000Z')))).toBe('2026-06-02T02:30:00.000Z');
    expect(iso(utc.next(Date.parse('2026-06-01T02:30:20.000Z')))).toBe('2026-06-02T02:30:00.000Z');
  });
});

describe('cron instants across DST (Europe/Berlin)', () => {
  it('spring forward: a fixed-time job in the gap runs once, right after the gap', () => {
    expect(instants('30 2 * * *', 'Europe/Berlin', '2026-03-27T12:00:00Z', '2026-03-31T12:00:00Z')).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:00:00.000Z', // 02:30 does not exist: 03:00 CEST
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
      '2026-03-31T00:30:00.000Z',
    ]);
  });

  it('fall back: a fixed-time job in the repeated hour runs once, at the first occurrence', () => {
    expect(instants('30 2 * * *', 'Europe/Berlin', '2026-10-23T12:00:00Z', '2026-10-27T12:00:00Z')).toEqual([
      '2026-10-24T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T00:30:00.000Z', // the first 02:30 (CEST); not again at 01:30Z (02:30 CET)
      '2026-10-26T01:30:00.000Z', // 02:30 CET
      '2026-10-27T01:30:00.000Z',
    ]);
  });

  it('interval jobs skip the gap and run on both passes of the repeated hour', () => {
    expect(instants('*/30 2 * * *', 'Europe/Berlin', '2026-03-28T22:00:00Z', '2026-03-29T23:00:00Z')).toEqual([]);
    expect(instants('*/30 2 * * *', 'Europe/Berlin', '2026-10-24T22:00:00Z', '2026-10-25T23:00:00Z')).toEqual([
      '2026-10-25T00:00:00.000Z', // 02:00 CEST
      '2026-10-25T00:30:00.000Z', // 02:30 CEST
      '2026-10-25T01:00:00.000Z', // 02:00 CET
      '2026-10-25T01:30:00.000Z', // 02:30 CET
    ]);
  });

  it('next() is strictly after its reference; latestAtOrBefore and before() look back', () => {
    const c = CronSchedule.create('30 2 * * *', 'Europe/Berlin');
    expect(iso(c.next(Date.parse('2026-10-25T00:30:00Z')))).toBe('2026-10-26T01:30:00.000Z');
    expect(iso(c.next(Date.parse('2026-10-25T00:29:59.999Z')))).toBe('2026-10-25T00:30:00.000Z');
    expect(iso(c.latestAtOrBefore(Date.parse('2026-10-25T00:30:00Z')))).toBe('2026-10-25T00:30:00.000Z');
    expect(c.before(Date.parse('2026-03-30T00:30:00Z'), 2).map(iso)).toEqual(['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z']);
  });
});

describe('the jobs framework fires once per scheduled instant across DST', () => {
  it.each([
    ['spring forward', '2026-03-27T12:00:00Z', ['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']],
    ['fall back', '2026-10-23T12:00:00Z', ['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']],
  ])('%s: runs are created at exactly the expected instants', async (_name, start, expected) => {
    const h = await startHarness({ start });
    await h.framework.putJob({ definition: { ...jobDef('backup'), schedules: [{ id: 'nightly', cron: '30 2 * * *', timezone: 'Europe/Berlin' }] } });
    const created: { runId: string; createdAt: string }[] = [];
    // Three days in 10-minute steps; each run is finished at once so none is left active.
    for (let i = 0; i < 3 * 24 * 6; i++) {
      await h.advance(10 * 60_000, 10 * 60_000);
      const { runs } = await h.framework.listRuns('backup');
      for (const r of runs) {
        if (!created.some((c) => c.runId === r.runId)) created.push({ runId: r.runId, createdAt: new Date(r.createdAt).toISOString() });
        if (r.status === 'INITIAL') await h.framework.stopRun('backup', r.runId);
      }
    }
    const { runs } = await h.framework.listRuns('backup');
    expect(runs.map((r) => iso(r.scheduledAt)).reverse()).toEqual(expected);
    // Each run was created when its instant came (the fake clock fires timers at their exact time).
    expect(created.map((c) => c.createdAt)).toEqual(expected);
    expect(runs.every((r) => r.trigger === 'SCHEDULE' && r.scheduleId === 'nightly')).toBe(true);
    await h.close();
  });
});

/**
 * Cron expressions in an IANA time zone, on croner (which does the calendar and DST arithmetic).
 *
 * Expressions have five fields (minute hour day-of-month month day-of-week) or are nicknames
 * (`@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`); day-of-month and day-of-week combine with
 * OR when both are restricted, as in Vixie cron. Minute precision: instants are whole minutes.
 *
 * **Daylight saving time** — Berth takes croner's rules (the same as croner-rust, close to Vixie
 * cron), and the jobs framework fires once per instant croner yields, never more:
 *
 * - A *fixed-time* expression (minute and hour each a single value, e.g. `30 2 * * *`):
 *   - local time that does not exist (spring forward): the run happens at the first valid time after
 *     the gap, that day. Europe/Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST, so
 *     `30 2 * * *` fires at 03:00 CEST = 2026-03-29T01:00:00Z (once);
 *   - local time that occurs twice (fall back): the run happens once, at the first occurrence.
 *     Europe/Berlin, 2026-10-25: 03:00 CEST goes back to 02:00 CET, so 02:30 occurs at 00:30Z and
 *     at 01:30Z; `30 2 * * *` fires at 02:30 CEST = 2026-10-25T00:30:00Z only.
 * - An *interval* expression (a wildcard, step, list or range in minute or hour, e.g. `*\/30 * * * *`,
 *   `0 * * * *`): times in the gap are skipped, and repeated times fire on both occurrences (the
 *   wall clock really passes them twice; each is a distinct instant).
 */
import { Cron } from 'croner';

/**
 * `next` answers shared by every schedule of the same expression and time zone. An answer depends
 * only on the whole minute before it is asked from (instants are whole minutes), so a thousand jobs
 * on `0 * * * *` — all fired at once, each asking for the instants since it last fired and then for
 * its next one — cost one calendar walk per minute asked about, not three thousand. Cleared when full.
 */
const nextCache = new Map<string, number | null>();
const NEXT_CACHE_LIMIT = 10_000;

export class CronSchedule {
  private constructor(
    private readonly cron: Cron,
    /** The expression as given. */
    readonly expression: string,
    /** The IANA time zone it is read in. */
    readonly timezone: string,
  ) {}

  /** Parses `expression` in `timezone`; errors are returned, not thrown. */
  static tryCreate(expression: string, timezone: string): { ok: true; schedule: CronSchedule } | { ok: false; message: string } {
    try {
      const cron = new Cron(expression.trim(), { mode: '5-part', timezone, paused: true });
      return { ok: true, schedule: new CronSchedule(cron, expression, timezone) };
    } catch (e) {
      return { ok: false, message: `invalid cron expression: ${((e as Error).message ?? String(e)).replace(/^CronPattern: /, '')}` };
    }
  }

  /** Parses `expression` in `timezone`. @throws Error when it is invalid. */
  static create(expression: string, timezone: string): CronSchedule {
    const r = CronSchedule.tryCreate(expression, timezone);
    if (!r.ok) throw new Error(r.message);
    return r.schedule;
  }

  /** The first instant (epoch ms) strictly after `afterMs`, or undefined if there is none. */
  next(afterMs: number): number | undefined {
    const minute = Math.floor(afterMs / 60_000) * 60_000; // the same answer for every ms of a minute
    const key = `${this.timezone}\u0000${this.expression}\u0000${minute}`;
    let next = nextCache.get(key);
    if (next === undefined) {
      next = this.cron.nextRun(new Date(minute))?.getTime() ?? null;
      if (nextCache.size >= NEXT_CACHE_LIMIT) nextCache.clear();
      nextCache.set(key, next);
    }
    return next ?? undefined;
  }

  /**
   * The instants in `(afterMs, untilMs]`, oldest first, at most `limit` of them (the earliest ones);
   * `truncated` says whether more exist.
   */
  between(afterMs: number, untilMs: number, limit: number): { instants: number[]; truncated: boolean } {
    const instants: number[] = [];
    let t = afterMs;
    for (;;) {
      const n = this.next(t);
      if (n === undefined || n > untilMs) return { instants, truncated: false };
      if (instants.length === limit) return { instants, truncated: true };
      instants.push(n);
      t = n;
    }
  }

  /** Up to `count` instants strictly before `atMs`, oldest first. */
  before(atMs: number, count: number): number[] {
    if (count <= 0) return [];
    return this.cron
      .previousRuns(count, new Date(atMs))
      .map((d) => d.getTime())
      .filter((t) => t < atMs)
      .reverse();
  }

  /** The latest instant at or before `atMs`, or undefined if there is none. */
  latestAtOrBefore(atMs: number): number | undefined {
    const [d] = this.cron.previousRuns(1, new Date(atMs + 1)); // strictly before its reference
    if (d === undefined) return undefined;
    const t = d.getTime();
    return t <= atMs ? t : undefined;
  }
}

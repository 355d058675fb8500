/**
 * Time on the wire (int64 nanoseconds in `DurationInfo` / `TimeInfo`) ↔ milliseconds as Berth's
 * clocks and timers use them, plus `Unavailability` and the `Filters` of DECLINE/ACCEPT.
 *
 * Milliseconds are plain numbers and may carry a fraction (1 ns = 0.000001 ms); the conversion
 * splits whole milliseconds from the nanosecond rest in bigint arithmetic, so epoch timestamps
 * (~1.7·10^18 ns, beyond 2^53) keep their whole milliseconds exactly.
 */
import type { DurationInfo, DurationInfo__Output } from '../../generated/berth/v1/DurationInfo';
import type { Filters, Filters__Output } from '../../generated/berth/v1/Filters';
import type { TimeInfo, TimeInfo__Output } from '../../generated/berth/v1/TimeInfo';
import type { Unavailability, Unavailability__Output } from '../../generated/berth/v1/Unavailability';
import { collectProblems, describeValue, ValidationError, type Problems } from './problems';
import { readBigInt, readDouble } from './values';

const NS_PER_MS = 1_000_000n;

function nsToMs(ns: bigint): number {
  return Number(ns / NS_PER_MS) + Number(ns % NS_PER_MS) / 1e6;
}

/**
 * Milliseconds → int64 nanoseconds as a decimal string (the decoded wire shape), rounded to the
 * nearest nanosecond.
 *
 * @throws ValidationError for NaN or an infinite value.
 */
export function msToNanos(ms: number, field = 'nanoseconds'): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) throw ValidationError.of(field, `must be a finite number of milliseconds, got ${describeValue(ms)}`);
  const whole = Math.trunc(ms);
  return (BigInt(whole) * NS_PER_MS + BigInt(Math.round((ms - whole) * 1e6))).toString();
}

/** Options of {@link durationFromWire}. */
export interface DurationOptions {
  /** Reject a zero duration too (e.g. a completion limit). @default false */
  readonly positive?: boolean;
}

/**
 * A wire duration in milliseconds; `null`/absent gives `undefined` (the field's default applies).
 *
 * @throws ValidationError for a malformed or negative value (or zero with `positive`), e.g.
 *   `kill_policy.grace_period.nanoseconds: must be non-negative, got -5`.
 */
export function durationFromWire(d: DurationInfo | null | undefined, path = 'duration', opts: DurationOptions = {}): number | undefined {
  return collectProblems((problems) => readDuration(d, path, problems, opts));
}

/** {@link durationFromWire} that records problems in `problems` instead of throwing. */
export function readDuration(d: DurationInfo | null | undefined, path: string, problems: Problems, opts: DurationOptions = {}): number | undefined {
  if (d === undefined || d === null) return undefined;
  const ns = readBigInt(d.nanoseconds);
  const at = `${path}.nanoseconds`;
  if (!ns.ok) return void problems.add(at, ns.problem);
  if (ns.value < 0n) return void problems.add(at, `must be non-negative, got ${ns.value}`);
  if (opts.positive === true && ns.value === 0n) return void problems.add(at, 'must be positive, got 0');
  return nsToMs(ns.value);
}

/** The wire form of a duration in milliseconds. @throws ValidationError for a non-finite or negative value. */
export function durationToWire(ms: number): DurationInfo__Output {
  if (ms < 0) throw ValidationError.of('duration', `must be non-negative, got ${describeValue(ms)}`);
  return { nanoseconds: msToNanos(ms, 'duration') };
}

/**
 * A wire point in time as epoch milliseconds (may be negative: before 1970); `null`/absent gives
 * `undefined`.
 *
 * @throws ValidationError for a malformed value.
 */
export function timeFromWire(t: TimeInfo | null | undefined, path = 'time'): number | undefined {
  return collectProblems((problems) => readTime(t, path, problems));
}

/** {@link timeFromWire} that records problems in `problems` instead of throwing. */
export function readTime(t: TimeInfo | null | undefined, path: string, problems: Problems): number | undefined {
  if (t === undefined || t === null) return undefined;
  const ns = readBigInt(t.nanoseconds);
  if (!ns.ok) return void problems.add(`${path}.nanoseconds`, ns.problem);
  return nsToMs(ns.value);
}

/** The wire form of epoch milliseconds. @throws ValidationError for a non-finite value. */
export function timeToWire(epochMs: number): TimeInfo__Output {
  return { nanoseconds: msToNanos(epochMs, 'time') };
}

/** A maintenance window (same shape as the allocator's `Unavailability`). */
export interface UnavailabilityWindow {
  /** Epoch milliseconds when the window starts. */
  readonly startMs: number;
  /** How long it lasts; absent means until further notice. */
  readonly durationMs?: number;
}

/**
 * Converts a wire Unavailability; `null`/absent gives `undefined`. `start` is required.
 *
 * @throws ValidationError e.g. `unavailability.start: is required`.
 */
export function unavailabilityFromWire(u: Unavailability | null | undefined, path = 'unavailability'): UnavailabilityWindow | undefined {
  return collectProblems((problems) => {
    if (u === undefined || u === null) return undefined;
    if (u.start === undefined || u.start === null) return void problems.add(`${path}.start`, 'is required');
    const startMs = readTime(u.start, `${path}.start`, problems);
    const durationMs = readDuration(u.duration, `${path}.duration`, problems);
    if (startMs === undefined) return undefined;
    return durationMs === undefined ? { startMs } : { startMs, durationMs };
  });
}

/** The wire form of a maintenance window. @throws ValidationError for non-finite or negative times. */
export function unavailabilityToWire(u: UnavailabilityWindow): Unavailability__Output {
  return { start: timeToWire(u.startMs), duration: u.durationMs === undefined ? null : durationToWire(u.durationMs) };
}

/** The allocator's view of `Filters` (same shape as its `Filters`). */
export interface RefuseFilter {
  /** Absent: the allocator's default (5 s). Negative: also the default. Large: capped at 365 days. */
  readonly refuseSeconds?: number;
}

/**
 * Converts wire Filters. Absent filters or an absent `refuse_seconds` give `{}` (the default applies);
 * the allocator applies the negative-means-default and 365-day cap rules, so only a value that is not
 * a number at all (NaN) is rejected here.
 *
 * @throws ValidationError `filters.refuse_seconds: must be a number of seconds, got NaN`.
 */
export function filtersFromWire(f: Filters | null | undefined, path = 'filters'): RefuseFilter {
  return collectProblems((problems) => {
    const v = f?.refuse_seconds;
    if (v === undefined || v === null) return {};
    const d = readDouble(v);
    if (!d.ok || Number.isNaN(d.value)) {
      problems.add(`${path}.refuse_seconds`, `must be a number of seconds, got ${describeValue(d.ok ? d.value : v)}`);
      return {};
    }
    return { refuseSeconds: d.value };
  });
}

/** The wire form of a refuse filter (absent `refuseSeconds` stays absent). Never throws. */
export function filtersToWire(f: RefuseFilter): Filters__Output {
  return f.refuseSeconds === undefined ? {} : { refuse_seconds: f.refuseSeconds };
}

/**
 * The jobs API's views of a job: copies (callers may keep them) of its spec, schedules (with the
 * next and last instants), active runs, stats and dependents.
 */
import type { JobSpec, ScheduleSpec } from './job-spec';
import type { JobRecord, RunRecord } from './model';
import { cmp, copy, scheduleKey, type JobsState, type JobState } from './state';

/** A job as the API shows it. Copies: callers may keep them. */
export interface JobView {
  readonly spec: JobSpec;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly schedules: readonly { readonly spec: ScheduleSpec; readonly nextFireAt?: number; readonly lastFireAt?: number }[];
  readonly activeRuns: readonly RunRecord[];
  readonly stats: JobRecord['stats'];
  readonly dependents: readonly string[];
}

/** The view of `job` at `now`: an armed schedule shows its timer, else its next instant from the cron. */
export function jobView(st: JobsState, job: JobState, now: number): JobView {
  const spec = job.record.spec;
  return copy({
    spec,
    createdAt: job.record.createdAt,
    updatedAt: job.record.updatedAt,
    schedules: spec.schedules.map((s) => {
      const state = job.record.schedules[s.id];
      const armed = st.timers.get(scheduleKey(spec.id, s.id));
      const nextFireAt = !s.enabled ? undefined : armed ?? job.crons.get(s.id)?.next(Math.max(state?.handledUntil ?? now, now));
      return { spec: s, ...(nextFireAt !== undefined ? { nextFireAt } : {}), ...(state?.lastFireAt !== undefined ? { lastFireAt: state.lastFireAt } : {}) };
    }),
    activeRuns: [...job.active.values()].sort((a, b) => cmp(a.runId, b.runId)),
    stats: job.record.stats,
    dependents: st.dependentsOf(spec.id),
  });
}

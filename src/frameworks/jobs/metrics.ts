/**
 * The jobs framework's metrics (exported by the framework host as `berth_plugin_jobs_*`): runs
 * created by trigger, runs ended by status, and how late scheduled runs fire and launch after their
 * instant — the figures a Metronome operator watched for late or missed runs.
 */
import { PluginMetricsRegistry, type PluginCounter, type PluginHistogram, type PluginMetrics } from '../sdk/metrics';
import type { AttemptRecord, RunRecord, RunStatus } from './model';

// A run fires in milliseconds on a quiet host; a thousand due at once take up to a second.
const LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class JobsMetrics {
  private readonly created: PluginCounter;
  private readonly ended: PluginCounter;
  private readonly fireLag: PluginHistogram;
  private readonly launchLag: PluginHistogram;

  constructor(metrics: PluginMetrics = new PluginMetricsRegistry('jobs')) {
    this.created = metrics.counter('runs_created_total', 'Runs created, by trigger (SCHEDULE, MANUAL, DEPENDENCY).', ['trigger']);
    this.ended = metrics.counter('runs_ended_total', 'Runs ended, by status (SUCCESS, FAILED, MISSED, KILLED…).', ['status']);
    this.fireLag = metrics.histogram('fire_lag_seconds', 'Time from a scheduled run\'s instant to its creation.', { buckets: LAG_BUCKETS });
    this.launchLag = metrics.histogram('launch_lag_seconds', 'Time from a scheduled run\'s instant to the launch of its first attempt.', { buckets: LAG_BUCKETS });
  }

  runCreated(run: RunRecord): void {
    this.created.inc(1, { trigger: run.trigger });
    if (run.scheduledAt !== undefined) this.fireLag.observe(Math.max(0, run.createdAt - run.scheduledAt) / 1000);
  }

  runEnded(status: RunStatus): void {
    this.ended.inc(1, { status });
  }

  attemptLaunched(run: RunRecord, attempt: AttemptRecord, now: number): void {
    if (attempt.attempt === 1 && run.scheduledAt !== undefined) this.launchLag.observe(Math.max(0, now - run.scheduledAt) / 1000);
  }
}

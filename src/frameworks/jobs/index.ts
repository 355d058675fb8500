/**
 * The built-in `jobs` framework (Metronome/Chronos-like batch and cron jobs) as a plugin:
 * `createFramework(context)` loads the jobs and runs from `context.store`, reconciles launched
 * attempts with the master and catches up missed schedules before it returns.
 *
 * Options (`frameworks.jobs.options`): see {@link JobsOptions}. API: `berth.v1.Jobs`
 * (proto/berth/v1/jobs.proto), served through `grpcServices()`.
 */
import type { Framework, PluginFactory } from '../sdk/framework';
import { JobsFramework } from './jobs-framework';

export { JobsFramework, type JobInput, type JobView } from './jobs-framework';
export { jobsHandlers, jobsService } from './api';
export { JobsError, type JobsErrorCode } from './errors';
export { parseJobSpec, validateJobSpec, checkDependencies, type JobSpec, type RunSpec, type ScheduleSpec } from './job-spec';
export { CronSchedule } from './cron';
export { parseJobsOptions, type JobsOptions } from './options';
export type { RunRecord, AttemptRecord, RunStatus, RunTrigger, JobRecord, JobStats } from './model';

/** The plugin factory: framework name `jobs` (option `name`), roles from options (default `["*"]`). */
export const createFramework: PluginFactory = async (context): Promise<Framework> => {
  const framework = new JobsFramework(context);
  await framework.start();
  return framework;
};

export default createFramework;

/**
 * The jobs plugin's options (`frameworks.jobs.options` in the host's configuration), merged with
 * their defaults and validated in one place.
 */
import { z } from 'zod';
import { parsePluginOptions } from '../sdk/plugin-options';

/** Options of the jobs framework. Every field is optional in the configuration. */
export interface JobsOptions {
  /**
   * Framework name shown by the master and the dashboard.
   * @default 'jobs'
   */
  readonly name: string;
  /**
   * Roles to subscribe in; offers from any of them are used.
   * @default ['*']
   */
  readonly roles: readonly string[];
  /**
   * FrameworkInfo.user: the Unix user tasks run as. Absent: the driver's default.
   * @default undefined
   */
  readonly user?: string;
  /**
   * Seconds the master keeps the framework's tasks while it is away (restart, failover).
   * @default 604800 (a week)
   */
  readonly failoverTimeoutSeconds: number;
  /**
   * Subscribe with the GPU_RESOURCES capability (needed to receive offers from agents with GPUs, and
   * so by jobs with `gpus` > 0).
   * @default false
   */
  readonly gpus: boolean;
  /**
   * Finished runs (including MISSED and SKIPPED instants) kept per job; older ones are deleted from
   * the store (their counts stay in the job's history summary).
   * @default 50
   */
  readonly historySize: number;
  /**
   * `refuse_seconds` of offers declined because no waiting run fits them.
   * @default 5
   */
  readonly declineRefuseSeconds: number;
  /**
   * `refuse_seconds` of offers declined because no run waits (offers are also suppressed then).
   * @default 300
   */
  readonly idleRefuseSeconds: number;
  /**
   * After a downtime, how many missed instants per schedule are recorded one by one as MISSED runs;
   * older ones are only counted.
   * @default 10
   */
  readonly maxMissedRecords: number;
}

const schema = z.strictObject({
  name: z.string().min(1).default('jobs'),
  roles: z.array(z.string().min(1)).min(1).default(['*']),
  user: z.string().min(1).optional(),
  failoverTimeoutSeconds: z.number().finite().min(0).default(7 * 24 * 3600),
  gpus: z.boolean().default(false),
  historySize: z.number().int().min(1).max(10_000).default(50),
  declineRefuseSeconds: z.number().finite().min(0).default(5),
  idleRefuseSeconds: z.number().finite().min(0).default(300),
  maxMissedRecords: z.number().int().min(0).max(1000).default(10),
});

/**
 * Options with defaults filled in.
 * @throws ValidationError naming each bad option, e.g. `options.historySize: Too small…, got 0`.
 */
export function parseJobsOptions(raw: Readonly<Record<string, unknown>> | undefined): JobsOptions {
  return parsePluginOptions(schema, raw);
}

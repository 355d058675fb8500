/**
 * The `berth.v1.Jobs` gRPC service (proto/berth/v1/jobs.proto): wire ↔ domain conversions and the
 * one place where the jobs framework's errors become gRPC statuses:
 * ValidationError → INVALID_ARGUMENT (field-level message), JobsError → NOT_FOUND /
 * FAILED_PRECONDITION, anything else → INTERNAL (logged).
 *
 * A definition sent as a message is turned into the same plain object a JSON/YAML document gives and
 * validated by the same code, so problems name the definition's fields (`run.maxLaunchDelaySeconds`,
 * `schedules[0].cron`), as `berth job add` users write them.
 */
import { apiErrorStatus, requiredText, unaryHandlers, type ApiAction, type CallAccess } from '../sdk/access';
import * as grpc from '@grpc/grpc-js';
import { ValidationError } from '../../common/wire/problems';
import { timeToWire } from '../../common/wire/time';
import { loadBerthProto, type GrpcServiceBinding } from '../../common/rpc/proto';
import type { JobAttempt } from '../../generated/berth/v1/JobAttempt';
import type { JobConstraint } from '../../generated/berth/v1/JobConstraint';
import type { JobDefinition, JobDefinition__Output } from '../../generated/berth/v1/JobDefinition';
import type { JobHistorySummary } from '../../generated/berth/v1/JobHistorySummary';
import type { JobRun } from '../../generated/berth/v1/JobRun';
import type { JobsHandlers } from '../../generated/berth/v1/Jobs';
import type { JobSchedule } from '../../generated/berth/v1/JobSchedule';
import type { JobStatus } from '../../generated/berth/v1/JobStatus';
import type { ProtoGrpcType as JobsProtoGrpcType } from '../../generated/jobs';
import { JobsError } from './errors';
import type { JobSpec, ScheduleSpec } from './job-spec';
import type { JobInput, JobRecord, JobStats, RunRecord } from './model';
import type { JobView } from './views';

/** What the Jobs API asks of the jobs framework (JobsFramework implements it). */
export interface JobsBackend {
  putJob(input: JobInput, authorize: (id: string) => void): Promise<{ job: JobView; created: boolean }>;
  getJob(id: string): Promise<JobView>;
  listJobs(prefix: string): Promise<JobView[]>;
  deleteJob(id: string, stopCurrentRuns: boolean): Promise<{ stoppedRunIds: string[] }>;
  startRun(jobId: string): Promise<RunRecord>;
  stopRun(jobId: string, runId: string): Promise<RunRecord>;
  listRuns(jobId: string, limit: number): Promise<{ runs: RunRecord[]; stats: JobRecord['stats'] }>;
  /** An unexpected error answered as INTERNAL: the framework logs it. */
  reportApiError(err: unknown): void;
}

/** The service binding to return from `Framework.grpcServices()`. */
export function jobsService(framework: JobsBackend): GrpcServiceBinding {
  const v1 = (loadBerthProto() as unknown as JobsProtoGrpcType).berth.v1;
  return { definition: v1.Jobs.service, implementation: jobsHandlers(framework) as unknown as grpc.UntypedServiceImplementation };
}

/** The handlers of `berth.v1.Jobs` (tests call them directly). */
export function jobsHandlers(framework: JobsBackend): JobsHandlers {
  const unary = unaryHandlers((err) => apiErrorStatus(err, (e): e is JobsError => e instanceof JobsError, (e) => framework.reportApiError(e)));
  const required = requiredText;
  return {
    PutJob: unary(async (req, access) => {
      if (!req.definition && !req.text) throw ValidationError.of('source', 'set text (a JSON or YAML definition) or definition');
      const input =
        req.source === 'definition' || (req.source === undefined && req.definition)
          ? { definition: definitionFromWire(req.definition as JobDefinition__Output) }
          : { text: req.text ?? '' };
      const { job, created } = await framework.putJob(input, (id) => access.require('manage_job', id));
      return { job: jobToWire(job), created };
    }),
    GetJob: unary(async (req, access) => ({ job: jobToWire(await framework.getJob(allowed(access, 'view_job', required(req.id, 'id')))) })),
    ListJobs: unary(async (req, access) => ({ jobs: (await framework.listJobs(req.prefix ?? '')).filter((j) => access.may('view_job', j.spec.id)).map(jobToWire) })),
    DeleteJob: unary(async (req, access) => ({ stopped_run_ids: (await framework.deleteJob(allowed(access, 'manage_job', required(req.id, 'id')), req.stop_current_runs === true)).stoppedRunIds })),
    StartRun: unary(async (req, access) => ({ run: runToWire(await framework.startRun(allowed(access, 'manage_job', required(req.job_id, 'job_id')))) })),
    StopRun: unary(async (req, access) => ({ run: runToWire(await framework.stopRun(allowed(access, 'manage_job', required(req.job_id, 'job_id')), required(req.run_id, 'run_id'))) })),
    ListRuns: unary(async (req, access) => {
      const { runs, stats } = await framework.listRuns(allowed(access, 'view_job', required(req.job_id, 'job_id')), req.limit ?? 0);
      return { runs: runs.map(runToWire), history: statsToWire(stats) };
    }),
  };
}

/** `id`, once the caller may do `action` on it. @throws AccessDeniedError */
function allowed(access: CallAccess, action: ApiAction, id: string): string {
  access.require(action, id);
  return id;
}


// ---------------------------------------------------------------------------------------------
// wire → domain input (validated afterwards by validateJobSpec)
// ---------------------------------------------------------------------------------------------

const unspecified = (v: string | undefined | null): string | undefined => (v === undefined || v === null || v.endsWith('_UNSPECIFIED') ? undefined : v);
const opt = <T>(v: T | undefined | null): T | undefined => (v === null ? undefined : v);

/** A JobDefinition message as the plain object a JSON document would be (absent fields omitted). */
export function definitionFromWire(d: JobDefinition__Output | JobDefinition | null | undefined): Record<string, unknown> {
  const def = d ?? {};
  const run = def.run ?? undefined;
  const restart = run?.restart ?? undefined;
  const strip = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  return strip({
    id: def.id ?? '',
    description: def.description || undefined,
    labels: def.labels ?? undefined,
    run:
      run === undefined || run === null
        ? undefined
        : strip({
            cmd: run.cmd || undefined,
            args: run.args && run.args.length > 0 ? [...run.args] : undefined,
            docker: run.docker ? strip({ image: run.docker.image ?? '', forcePull: run.docker.force_pull || undefined }) : undefined,
            cpus: opt(run.cpus),
            mem: opt(run.mem),
            disk: opt(run.disk),
            gpus: opt(run.gpus),
            env: run.env ?? undefined,
            secrets: run.secrets ?? undefined,
            constraints: (run.constraints ?? []).map((c: JobConstraint) => (c.value === undefined || c.value === null ? [c.field ?? '', c.operator ?? ''] : [c.field ?? '', c.operator ?? '', c.value])),
            maxLaunchDelaySeconds: opt(run.max_launch_delay_seconds),
            restart: restart ? strip({ policy: unspecified(restart.policy as string), activeDeadlineSeconds: opt(restart.active_deadline_seconds) }) : undefined,
            taskKillGracePeriodSeconds: opt(run.task_kill_grace_period_seconds),
          }),
    schedules: (def.schedules ?? []).map((s: JobSchedule) =>
      strip({
        id: s.id ?? '',
        cron: s.cron ?? '',
        timezone: s.timezone || undefined,
        startingDeadlineSeconds: opt(s.starting_deadline_seconds),
        concurrencyPolicy: unspecified(s.concurrency_policy as string),
        enabled: opt(s.enabled),
      }),
    ),
    dependencies: def.dependencies && def.dependencies.length > 0 ? [...def.dependencies] : undefined,
  });
}

// ---------------------------------------------------------------------------------------------
// domain → wire
// ---------------------------------------------------------------------------------------------

const time = (ms: number | undefined) => (ms === undefined ? null : timeToWire(ms));

export function definitionToWire(spec: JobSpec): JobDefinition {
  const r = spec.run;
  return {
    id: spec.id,
    description: spec.description,
    labels: { ...spec.labels },
    run: {
      cmd: r.cmd ?? '',
      args: [...r.args],
      docker: r.docker === undefined ? null : { image: r.docker.image, force_pull: r.docker.forcePull },
      cpus: r.cpus,
      mem: r.mem,
      disk: r.disk,
      gpus: r.gpus,
      env: { ...r.env },
      secrets: Object.fromEntries(Object.keys(r.secrets).map((k) => [k, ''])),
      constraints: r.constraints.map((c) => ({ field: c.field, operator: c.operator, ...(c.value !== undefined ? { value: c.value } : {}) })),
      max_launch_delay_seconds: r.maxLaunchDelaySeconds,
      restart: { policy: r.restart.policy, ...(r.restart.activeDeadlineSeconds !== undefined ? { active_deadline_seconds: r.restart.activeDeadlineSeconds } : {}) },
      ...(r.taskKillGracePeriodSeconds !== undefined ? { task_kill_grace_period_seconds: r.taskKillGracePeriodSeconds } : {}),
    },
    schedules: spec.schedules.map(scheduleToWire),
    dependencies: [...spec.dependencies],
  };
}

function scheduleToWire(s: ScheduleSpec): JobSchedule {
  return { id: s.id, cron: s.cron, timezone: s.timezone, starting_deadline_seconds: s.startingDeadlineSeconds, concurrency_policy: s.concurrencyPolicy, enabled: s.enabled };
}

export function statsToWire(s: JobStats): JobHistorySummary {
  return {
    success_count: s.successCount,
    failure_count: s.failureCount,
    stopped_count: s.stoppedCount,
    missed_count: s.missedCount,
    skipped_count: s.skippedCount,
    last_success_at: time(s.lastSuccessAt),
    last_failure_at: time(s.lastFailureAt),
  };
}

export function runToWire(r: RunRecord): JobRun {
  return {
    job_id: r.jobId,
    run_id: r.runId,
    status: r.status,
    trigger: r.trigger,
    schedule_id: r.scheduleId ?? '',
    scheduled_at: time(r.scheduledAt),
    created_at: time(r.createdAt),
    finished_at: time(r.finishedAt),
    attempts: r.attempts.map(
      (a): JobAttempt => ({
        attempt: a.attempt,
        task_id: a.taskId,
        state: a.taskState ?? 'TASK_STATE_UNSPECIFIED',
        agent_id: a.agentId ?? '',
        hostname: a.hostname ?? '',
        created_at: time(a.createdAt),
        launched_at: time(a.launchedAt),
        finished_at: time(a.finishedAt),
        message: a.message ?? '',
      }),
    ),
    message: r.message ?? '',
  };
}

export function jobToWire(j: JobView): JobStatus {
  return {
    definition: definitionToWire(j.spec),
    schedules: j.schedules.map((s) => ({ schedule: scheduleToWire(s.spec), next_fire_at: time(s.nextFireAt), last_fire_at: time(s.lastFireAt) })),
    active_runs: j.activeRuns.map(runToWire),
    history: statsToWire(j.stats),
    created_at: time(j.createdAt),
    updated_at: time(j.updatedAt),
    dependents: [...j.dependents],
  };
}

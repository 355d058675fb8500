/**
 * The `berth.v1.Batch` gRPC service (proto/berth/v1/batch.proto): domain ↔ wire, and the one place
 * where the batch framework's errors become gRPC statuses: ValidationError → INVALID_ARGUMENT,
 * BatchError → NOT_FOUND / FAILED_PRECONDITION, AccessDeniedError → PERMISSION_DENIED, anything else
 * → INTERNAL (logged).
 *
 * ACLs: the jobs framework's actions, `view_job` / `manage_job`, with the batch job id as the object
 * for jobs and `queue/<name>` for queues (`berth queue apply` needs `manage_job` on each queue).
 */
import * as grpc from '@grpc/grpc-js';
import { timeToWire } from '../../common/wire/time';
import { loadBerthProto, type GrpcServiceBinding } from '../../common/rpc/proto';
import type { BatchAmounts } from '../../generated/berth/v1/BatchAmounts';
import type { BatchHandlers } from '../../generated/berth/v1/Batch';
import type { BatchJob } from '../../generated/berth/v1/BatchJob';
import type { BatchQueueStatus } from '../../generated/berth/v1/BatchQueueStatus';
import type { ProtoGrpcType as BatchProtoGrpcType } from '../../generated/batch';
import { apiErrorStatus, requiredText, unaryHandlers } from '../sdk/access';
import { BatchError } from './errors';
import { parseQueues } from './queue-spec';
import { amountOf, type Amounts } from './quantities';
import type { JobView, QueueView } from './views';

/** What the Batch API asks of the batch framework (BatchFramework implements it). */
export interface BatchBackend {
  applyQueues(text: string): Promise<{ queues: QueueView[]; created: string[] }>;
  listQueues(): Promise<QueueView[]>;
  getQueue(name: string): Promise<{ queue: QueueView; jobs: JobView[] }>;
  deleteQueue(name: string): Promise<void>;
  submit(text: string): Promise<JobView>;
  listJobs(queue: string, includeFinished: boolean): Promise<JobView[]>;
  getJob(id: string): Promise<JobView>;
  killJob(id: string): Promise<JobView>;
  reportApiError(err: unknown): void;
}

/** The service binding to return from `Framework.grpcServices()`. */
export function batchService(backend: BatchBackend): GrpcServiceBinding {
  const v1 = (loadBerthProto() as unknown as BatchProtoGrpcType).berth.v1;
  return { definition: v1.Batch.service, implementation: batchHandlers(backend) as unknown as grpc.UntypedServiceImplementation };
}

const queueObject = (name: string): string => `queue/${name}`;

/** The handlers of `berth.v1.Batch` (tests call them directly). */
export function batchHandlers(backend: BatchBackend): BatchHandlers {
  const unary = unaryHandlers((err) => apiErrorStatus(err, (e): e is BatchError => e instanceof BatchError, (e) => backend.reportApiError(e)));
  const required = requiredText;
  return {
    ApplyQueues: unary(async (req, access) => {
      const text = required(req.text, 'text');
      for (const q of parseQueues(text)) access.require('manage_job', queueObject(q.name));
      const { queues, created } = await backend.applyQueues(text);
      return { queues: queues.map(queueToWire), created };
    }),
    ListQueues: unary(async (_req, access) => ({ queues: (await backend.listQueues()).filter((q) => access.may('view_job', queueObject(q.spec.name))).map(queueToWire) })),
    GetQueue: unary(async (req, access) => {
      const name = required(req.name, 'name');
      access.require('view_job', queueObject(name));
      const { queue, jobs } = await backend.getQueue(name);
      return { queue: queueToWire(queue), jobs: jobs.filter((j) => access.may('view_job', j.record.id)).map(jobToWire) };
    }),
    DeleteQueue: unary(async (req, access) => {
      const name = required(req.name, 'name');
      access.require('manage_job', queueObject(name));
      await backend.deleteQueue(name);
      return {};
    }),
    SubmitJob: unary(async (req, access) => {
      access.require('manage_job');
      return { job: jobToWire(await backend.submit(required(req.text, 'text'))) };
    }),
    ListJobs: unary(async (req, access) => ({ jobs: (await backend.listJobs(req.queue ?? '', req.include_finished === true)).filter((j) => access.may('view_job', j.record.id)).map(jobToWire) })),
    GetJob: unary(async (req, access) => {
      const id = required(req.id, 'id');
      access.require('view_job', id);
      return { job: jobToWire(await backend.getJob(id)) };
    }),
    KillJob: unary(async (req, access) => {
      const id = required(req.id, 'id');
      access.require('manage_job', id);
      return { job: jobToWire(await backend.killJob(id)) };
    }),
  };
}


const time = (ms: number | undefined) => (ms === undefined ? null : timeToWire(ms));

function amountsToWire(a: Amounts): BatchAmounts {
  return { cpus: amountOf(a, 'cpus'), mem: amountOf(a, 'mem'), disk: amountOf(a, 'disk'), gpus: amountOf(a, 'gpus') };
}

export function queueToWire(v: QueueView): BatchQueueStatus {
  const q = v.spec;
  return {
    queue: { name: q.name, cohort: q.cohort ?? '', nominal_quota: amountsToWire(q.nominalQuota), borrowing_limit: q.borrowingLimit === undefined ? null : amountsToWire(q.borrowingLimit), weight: q.weight },
    used: amountsToWire(v.used),
    borrowed: amountsToWire(v.borrowed),
    pending_jobs: v.pendingJobs,
    admitted_jobs: v.admittedJobs,
    dominant_share: v.dominantShare,
  };
}

export function jobToWire(v: JobView): BatchJob {
  const j = v.record;
  const s = j.spec;
  return {
    id: j.id,
    definition: { queue: s.queue, name: s.name ?? '', tasks: s.tasks, shape: amountsToWire(s.shape), image: s.image ?? '', command: s.command, env: { ...s.env }, retries: s.retries, deadline_seconds: s.deadlineSeconds ?? 0, priority: s.priority, priority_class: s.priorityClass ?? '' },
    state: j.state,
    reason: v.reason,
    message: j.message ?? '',
    submitted_at: time(j.submittedAt),
    admitted_at: time(j.admittedAt),
    finished_at: time(j.finishedAt),
    deadline_at: time(v.deadlineAt),
    failures: j.failures,
    attempts: j.attempts.map((a) => ({
      attempt: a.attempt,
      gang_id: a.gangId,
      outcome: a.outcome ?? '',
      message: a.message ?? '',
      launched_at: time(a.launchedAt),
      ended_at: time(a.endedAt),
      tasks: a.tasks.map((t) => ({ task_id: t.taskId, state: t.state ?? '', agent_id: t.agentId ?? '' })),
    })),
    demand: amountsToWire(v.demand),
  };
}

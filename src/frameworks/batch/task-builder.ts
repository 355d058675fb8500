/**
 * From a batch job's attempt to its gang's TaskInfos: task `i` of attempt `n` of job `j` is
 * `j.n.i`, runs `command` in a shell (in `image` when set), and gets `BERTH_BATCH_JOB`,
 * `BERTH_BATCH_ATTEMPT`, `BERTH_BATCH_TASK_INDEX` and `BERTH_BATCH_TASKS` in its environment (the
 * job's own `env` wins on a clash) — what an MPI-style rank needs to know who it is.
 */
import { labelsToWire } from '../../common/wire/labels';
import { durationToWire } from '../../common/wire/time';
import type { TaskInfo } from '../../generated/berth/v1/TaskInfo';
import type { GangTaskBuilder } from '../sdk/gangs';
import type { TaskShape } from '../sdk/offer-match';
import type { BatchJobSpec } from './job-spec';

/** The shape of one task (batch tasks take no ports). */
export function batchTaskShape(spec: BatchJobSpec): TaskShape {
  return { cpus: spec.shape.cpus, mem: spec.shape.mem, disk: spec.shape.disk, gpus: spec.shape.gpus, ports: 0 };
}

/** The id of task `index` of `attempt`. */
export const batchTaskId = (jobId: string, attempt: number, index: number): string => `${jobId}.${attempt}.${index}`;

/** The builder `launchGang` calls for each task of the attempt. */
export function batchTaskBuilder(jobId: string, attempt: number, spec: BatchJobSpec, killGracePeriodMs: number): GangTaskBuilder {
  return (index, offer, fit): TaskInfo => {
    const env: Record<string, string> = {
      BERTH_BATCH_JOB: jobId,
      BERTH_BATCH_ATTEMPT: String(attempt),
      BERTH_BATCH_TASK_INDEX: String(index),
      BERTH_BATCH_TASKS: String(spec.tasks),
      ...spec.env,
    };
    return {
      name: `${jobId}-${index}`,
      task_id: { value: batchTaskId(jobId, attempt, index) },
      agent_id: { value: offer.agent_id?.value ?? '' },
      resources: fit.resources,
      command: { value: spec.command, shell: true, environment: { variables: Object.entries(env).map(([name, value]) => ({ name, value })) } },
      container: spec.image !== undefined ? { type: 'DOCKER', docker: { image: spec.image } } : { type: 'PROCESS' },
      kill_policy: { grace_period: durationToWire(killGracePeriodMs) },
      labels: labelsToWire({ 'berth.batch.job': jobId, 'berth.batch.queue': spec.queue, 'berth.batch.attempt': String(attempt), 'berth.batch.index': String(index) }),
      ...(spec.priorityClass === undefined ? {} : { priority_class: spec.priorityClass }),
    };
  };
}

/**
 * From a run spec and an offer to a LAUNCH: the task's shape (for `fitTask`), its placement
 * candidate (for constraints) and its TaskInfo.
 *
 * Command mapping (as the agent reads CommandInfo):
 * - `cmd` → `/bin/sh -c cmd` (in the image when `docker` is set);
 * - `args` → the argv without a shell (with `docker`: the arguments to the image's entrypoint);
 * - `docker` alone → the image's own entrypoint and command.
 *
 * The task gets `BERTH_JOB_ID`, `BERTH_JOB_RUN_ID` and `BERTH_JOB_ATTEMPT` in its environment (user
 * `env` wins on a clash) and labels naming its job, run and attempt.
 */
import { attributesFromWire, domainFromWire } from '../../common/wire/attributes';
import { labelsToWire } from '../../common/wire/labels';
import { durationToWire } from '../../common/wire/time';
import type { Offer__Output } from '../../generated/berth/v1/Offer';
import type { Resource } from '../../generated/berth/v1/Resource';
import type { TaskInfo } from '../../generated/berth/v1/TaskInfo';
import type { PlacementCandidate } from '../sdk/constraints';
import type { TaskShape } from '../sdk/offer-match';
import type { RunSpec } from './job-spec';

/** The resources one task of `spec` needs. Jobs take no ports. */
export function taskShape(spec: RunSpec): TaskShape {
  return { cpus: spec.cpus, mem: spec.mem, disk: spec.disk, gpus: spec.gpus, ports: 0 };
}

/** The offer's agent as constraints see it. Malformed attributes count as none. */
export function offerCandidate(offer: Offer__Output): PlacementCandidate {
  let attributes: PlacementCandidate['attributes'] = [];
  let domain: PlacementCandidate['domain'];
  try {
    attributes = attributesFromWire(offer.attributes ?? []);
  } catch {
    attributes = [];
  }
  try {
    domain = domainFromWire(offer.domain ?? null);
  } catch {
    domain = undefined;
  }
  return { hostname: offer.hostname ?? '', attributes, ...(domain === undefined ? {} : { domain }) };
}

/** The TaskInfo of one attempt, on `offer`'s agent, with the resources `fitTask` took. */
export function buildTaskInfo(options: {
  readonly jobId: string;
  readonly runId: string;
  readonly attempt: number;
  readonly taskId: string;
  readonly spec: RunSpec;
  readonly offer: Offer__Output;
  readonly resources: readonly Resource[];
}): TaskInfo {
  const { spec } = options;
  const env: Record<string, string> = {
    BERTH_JOB_ID: options.jobId,
    BERTH_JOB_RUN_ID: options.runId,
    BERTH_JOB_ATTEMPT: String(options.attempt),
    ...spec.env,
  };
  const environment = {
    variables: [
      ...Object.entries(env).map(([name, value]) => ({ name, value })),
      ...Object.entries(spec.secrets).map(([name, value]) => ({ name, value, secret: true })),
    ],
  };
  const command =
    spec.cmd !== undefined
      ? { value: spec.cmd, shell: true, environment }
      : spec.args.length > 0
        ? { value: '', shell: false, arguments: [...spec.args], environment }
        : { value: '', shell: false, arguments: [], environment };
  return {
    name: options.jobId,
    task_id: { value: options.taskId },
    agent_id: { value: options.offer.agent_id?.value ?? '' },
    resources: [...options.resources],
    command,
    container: spec.docker !== undefined ? { type: 'DOCKER', docker: { image: spec.docker.image, force_pull: spec.docker.forcePull } } : { type: 'PROCESS' },
    ...(spec.taskKillGracePeriodSeconds !== undefined ? { kill_policy: { grace_period: durationToWire(spec.taskKillGracePeriodSeconds * 1000) } } : {}),
    labels: labelsToWire({ 'berth.job': options.jobId, 'berth.job.run': options.runId, 'berth.job.attempt': String(options.attempt) }),
  };
}

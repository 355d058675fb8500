/**
 * From an app definition and a fitted offer to the TaskInfo to launch.
 *
 * - Task id `<app-id-with-dots>.<instance-uuid>` (`/shop/web` → `shop.web.3f2c…`), so the app of a
 *   task can be read back from its id (app ids have no dots in their segments).
 * - Container DOCKER when the app names an image, else a PROCESS command (`cmd` through the shell, or
 *   `args` as the argv).
 * - Labels: the app's labels plus {@link LABEL_APP_ID} and {@link LABEL_APP_VERSION}.
 * - Environment: the app's `env`, `BERTH_APP_ID`, `BERTH_APP_VERSION`, and `PORT_<NAME>` for named
 *   ports (the agent adds PORT0…PORTn and PORTS itself).
 * - The health check is the agent's (HTTP/TCP on the task's own host port at `portIndex`).
 */
import { msToNanos } from '../../common/wire/time';
import type { Offer__Output } from '../../generated/berth/v1/Offer';
import type { HealthCheck } from '../../generated/berth/v1/HealthCheck';
import type { TaskInfo } from '../../generated/berth/v1/TaskInfo';
import type { Resource__Output } from '../../generated/berth/v1/Resource';
import { appKey, type AppDefinition, type HealthCheckDefinition } from './app-definition';

/** Label carrying the app id on every task. */
export const LABEL_APP_ID = 'berth.services/app-id';
/** Label carrying the app version on every task. */
export const LABEL_APP_VERSION = 'berth.services/app-version';

/** What a launch needs besides the definition. */
export interface TaskBuildInput {
  readonly def: AppDefinition;
  /** The version the task runs (shown in labels and env). */
  readonly version: string;
  readonly taskId: string;
  readonly offer: Offer__Output;
  /** The resources fitTask took for the task. */
  readonly resources: Resource__Output[];
  /** Host ports, in portDefinitions order. */
  readonly ports: readonly number[];
}

/** A new task id for an app. */
export function newTaskId(appId: string, uuid: string): string {
  return `${appKey(appId)}.${uuid}`;
}

/**
 * Host ports in portDefinitions order. fitTask returns them ascending; with requirePorts the
 * definitions name them, otherwise any order is as good and ascending matches the agent's PORTn.
 */
export function portsInDefinitionOrder(def: AppDefinition, fitted: readonly number[]): number[] {
  return def.requirePorts ? def.portDefinitions.map((p) => p.port) : [...fitted];
}

function seconds(n: number): string {
  return msToNanos(n * 1000);
}

/** The agent-side health check of a Marathon health check definition. */
export function healthCheckToWire(h: HealthCheckDefinition, ports: readonly number[]): HealthCheck {
  const timing = {
    interval_seconds: h.intervalSeconds,
    timeout_seconds: h.timeoutSeconds,
    consecutive_failures: h.maxConsecutiveFailures,
    grace_period_seconds: h.gracePeriodSeconds,
    ...(h.delaySeconds === undefined ? {} : { delay_seconds: h.delaySeconds }),
  };
  const port = ports[h.portIndex ?? 0] ?? 0;
  switch (h.protocol) {
    case 'COMMAND':
      return { type: 'COMMAND', command: { value: h.command?.value ?? '', shell: true }, ...timing };
    case 'TCP':
    case 'MESOS_TCP':
      return { type: 'TCP', tcp: { port }, ...timing };
    default:
      return { type: 'HTTP', http: { port, path: h.path, scheme: h.protocol.endsWith('HTTPS') ? 'https' : 'http' }, ...timing };
  }
}

/** The TaskInfo for one instance. */
export function buildTaskInfo(input: TaskBuildInput): TaskInfo {
  const { def, version, taskId, offer, resources, ports } = input;
  const env: Record<string, string> = { ...def.env };
  env.BERTH_APP_ID ??= def.id;
  env.BERTH_APP_VERSION ??= version;
  def.portDefinitions.forEach((p, i) => {
    if (p.name !== undefined && ports[i] !== undefined) env[`PORT_${p.name.toUpperCase().replace(/-/g, '_')}`] ??= String(ports[i]);
  });
  const environment = {
    variables: [
      ...Object.entries(env).map(([name, value]) => ({ name, value })),
      ...Object.entries(def.secrets).map(([name, value]) => ({ name, value, secret: true })),
    ],
  };
  const image = def.container?.docker?.image;
  const command = def.cmd !== undefined
    ? { value: def.cmd, shell: true, environment }
    : def.args !== undefined
      ? { value: image === undefined ? def.args[0] : '', shell: false, arguments: [...def.args], environment }
      : { value: '', shell: false, environment };
  const labels = [
    ...Object.entries(def.labels).map(([key, value]) => ({ key, value })),
    { key: LABEL_APP_ID, value: def.id },
    { key: LABEL_APP_VERSION, value: version },
  ];
  const docker = def.container?.docker;
  return {
    name: appKey(def.id),
    task_id: { value: taskId },
    agent_id: { value: offer.agent_id?.value ?? '' },
    resources,
    command,
    container: docker !== undefined
      ? { type: 'DOCKER', docker: { image: docker.image, force_pull: docker.forcePullImage, privileged: docker.privileged, parameters: docker.parameters.map((p) => ({ key: p.key, value: p.value })) } }
      : { type: 'PROCESS' },
    ...(def.healthChecks[0] === undefined ? {} : { health_check: healthCheckToWire(def.healthChecks[0], ports) }),
    ...(def.taskKillGracePeriodSeconds === undefined ? {} : { kill_policy: { grace_period: { nanoseconds: seconds(def.taskKillGracePeriodSeconds) } } }),
    labels: { labels },
    ...(def.priorityClass === undefined ? {} : { priority_class: def.priorityClass }),
    ...(def.disruptionBudget === undefined ? {} : { disruption_budget: { group: def.id, instances: def.instances, max_unavailable: Math.min(def.disruptionBudget.maxUnavailable, def.instances) } }),
    discovery: {
      name: appKey(def.id),
      ports: def.portDefinitions.map((p, i) => ({ number: ports[i] ?? 0, name: p.name ?? '', protocol: p.protocol === 'udp' ? 'udp' : 'tcp' })),
    },
  };
}

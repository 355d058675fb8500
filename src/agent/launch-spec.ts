/**
 * From a `TaskInfo` to a containerizer's {@link LaunchSpec}: which kind of container, the command, the
 * environment, ports, limits, labels and volumes. What this agent refuses to run is answered here, as
 * the TASK_ERROR the framework gets (the master validated the shape already; this is the agent's own
 * policy: container kinds it has, host paths it allows, privileged mode and Docker parameters).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resourcesFromWire } from '../common/wire';
import type { TaskInfo } from '../generated/berth/v1/TaskInfo';
import type { TaskStatus } from '../generated/berth/v1/TaskStatus';
import type { ContainerType, LaunchCommand, LaunchSpec, VolumeMount } from './containerizer/containerizer';
import { healthCheckFromWire, type HealthCheckSpec } from './health-checker';
import { escapeId } from './checkpoint';
import { durationMs, taskPorts } from './task-mapping';
import { taskUserOf, type TaskUserPolicy } from './task-user';

/** Docker parameters (DockerInfo.parameters) a task may set (`label`: `key=value`, added to the
 *  container's labels; `read-only`: `true` mounts the image's root filesystem read-only); anything
 *  else is refused. */
export const ALLOWED_DOCKER_PARAMETERS: ReadonlySet<string> = new Set(['label', 'read-only']);

/** What the agent knows and allows, next to the task. */
export interface LaunchContext {
  readonly containerId: string;
  readonly frameworkId: string;
  readonly agentId: string;
  /** The task's allocation role (persistent volumes live per role). */
  readonly role: string;
  readonly sandboxDir: string;
  /** Where persistent volumes live: `<volumesDir>/<role>/<persistence id>`. */
  readonly volumesDir: string;
  /** The kinds of container this agent runs. */
  readonly types: readonly ContainerType[];
  /** Host directories (absolute prefixes) tasks may mount; empty: none. */
  readonly allowedHostPaths: readonly string[];
  /** FrameworkInfo.user of the task's framework ('' when it names none). */
  readonly frameworkUser: string;
  /** How the agent picks and switches task users. */
  readonly users: TaskUserPolicy;
}

/** A refusal, as the task's status. */
export type LaunchRefusal = Pick<TaskStatus, 'state' | 'reason' | 'message'>;

function refuse(reason: NonNullable<TaskStatus['reason']>, message: string): { refusal: LaunchRefusal } {
  return { refusal: { state: 'TASK_ERROR', reason, message } };
}

/** The spec to launch, or why the task cannot run here. */
export function launchSpecOf(info: TaskInfo, ctx: LaunchContext): { spec: LaunchSpec; health: HealthCheckSpec | undefined } | { refusal: LaunchRefusal } {
  const container = info.container ?? undefined;
  const declared = container?.type ?? 'TYPE_UNSPECIFIED';
  const type: ContainerType = declared === 'DOCKER' || (declared === 'TYPE_UNSPECIFIED' && container?.docker) ? 'DOCKER' : 'PROCESS';
  if (!ctx.types.includes(type)) {
    return refuse('REASON_TASK_INVALID', `this agent cannot run ${type} containers (it runs ${ctx.types.join(', ')})`);
  }
  const docker = container?.docker ?? undefined;
  if (docker?.privileged === true) return refuse('REASON_TASK_UNAUTHORIZED', 'privileged containers are not allowed on this agent');
  const labels: Record<string, string> = { agentId: ctx.agentId };
  for (const l of info.labels?.labels ?? []) if (l.key) labels[`task.${l.key}`] = l.value ?? '';
  let readOnlyRootfs = false;
  for (const p of docker?.parameters ?? []) {
    if (!ALLOWED_DOCKER_PARAMETERS.has(p.key ?? '')) {
      return refuse('REASON_TASK_INVALID', `docker parameter "${p.key}" is not allowed (allowed: ${[...ALLOWED_DOCKER_PARAMETERS].join(', ')})`);
    }
    if (p.key === 'read-only') {
      if (p.value !== 'true' && p.value !== 'false') return refuse('REASON_TASK_INVALID', `docker parameter "read-only" must be "true" or "false", got ${JSON.stringify(p.value ?? '')}`);
      readOnlyRootfs = p.value === 'true';
    }
  }
  const chosen = taskUserOf(info.command?.user ?? ctx.frameworkUser, ctx.users);
  if ('refusal' in chosen) return { refusal: chosen.refusal };

  const volumes: VolumeMount[] = [];
  for (const [i, v] of (container?.volumes ?? []).entries()) {
    const at = `container.volumes[${i}]`;
    if (type !== 'DOCKER') return refuse('REASON_TASK_INVALID', `${at}: volumes need a DOCKER container on this agent`);
    const readOnly = v.mode === 'RO';
    if (v.host_path) {
      // Compared after resolving symlinks on both sides: a link inside an allowed directory must not
      // lead out of it.
      const host = realPath(v.host_path);
      if (host === undefined) return refuse('REASON_TASK_INVALID', `${at}.host_path "${v.host_path}" does not exist on this agent`);
      const allowed = ctx.allowedHostPaths.map(realPath).some((prefix) => prefix !== undefined && (host === prefix || host.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`)));
      if (!allowed) return refuse('REASON_TASK_UNAUTHORIZED', `${at}.host_path "${v.host_path}" is not under an allowed host path of this agent (allowedHostPaths: ${ctx.allowedHostPaths.join(', ') || 'none'})`);
      volumes.push({ hostPath: host, containerPath: v.container_path ?? '', readOnly });
    } else if (v.persistence_id) {
      volumes.push({ hostPath: persistentVolumePath(ctx.volumesDir, ctx.role, v.persistence_id), containerPath: v.container_path ?? '', readOnly });
    }
  }
  // Persistent volumes among the task's resources, mounted where their DiskInfo.volume says.
  for (const r of info.resources ?? []) {
    const id = r.disk?.persistence?.id;
    const where = r.disk?.volume?.container_path;
    if (!id || !where) continue;
    if (type !== 'DOCKER') return refuse('REASON_TASK_INVALID', `persistent volume "${id}" needs a DOCKER container on this agent`);
    volumes.push({ hostPath: persistentVolumePath(ctx.volumesDir, ctx.role, id), containerPath: where, readOnly: r.disk?.volume?.mode === 'RO' });
  }

  let health: HealthCheckSpec | undefined;
  if (info.health_check) {
    try {
      health = healthCheckFromWire(info.health_check, taskPorts(info));
    } catch (e) {
      return refuse('REASON_TASK_INVALID', `health_check: ${(e as Error).message}`);
    }
  }

  const quantities = resourcesFromWire(info.resources ?? [], 'task.resources');
  const env: Record<string, string> = {};
  for (const v of info.command?.environment?.variables ?? []) if (v.name) env[v.name] = v.value ?? '';
  for (const p of docker?.parameters ?? []) if (p.key === 'label') {
    const [k, ...rest] = (p.value ?? '').split('=');
    if (k) labels[`docker.${k}`] = rest.join('=');
  }
  return {
    health,
    spec: {
      containerId: ctx.containerId,
      type,
      ...(type === 'DOCKER' ? { image: { name: docker?.image ?? '', forcePull: docker?.force_pull === true } } : {}),
      volumes,
      frameworkId: ctx.frameworkId,
      taskId: info.task_id?.value ?? '',
      command: launchCommand(info, type),
      env,
      ports: taskPorts(info),
      cpus: quantities.scalar('cpus') / 1000,
      memMib: quantities.scalar('mem') / 1000,
      sandboxDir: ctx.sandboxDir,
      maxCompletionMs: durationMs(info.max_completion_time),
      killGracePeriodMs: durationMs(info.kill_policy?.grace_period),
      labels,
      ...(chosen.user !== undefined ? { user: chosen.user } : {}),
      ...(readOnlyRootfs ? { readOnlyRootfs } : {}),
    },
  };
}

/** The command: shell by default; a DOCKER task without one runs its image's entrypoint. */
function launchCommand(info: TaskInfo, type: ContainerType): LaunchCommand {
  const cmd = info.command ?? undefined;
  const value = cmd?.value ?? '';
  const args = cmd?.arguments ?? [];
  if (type === 'DOCKER' && value === '' && args.length === 0) return { value: '', shell: false, arguments: [] };
  return { value, shell: cmd?.shell !== false, arguments: args };
}

function realPath(p: string): string | undefined {
  try {
    return fs.realpathSync(path.resolve(p));
  } catch {
    return undefined;
  }
}

/** Host directory of a persistent volume. */
export function persistentVolumePath(volumesDir: string, role: string, id: string): string {
  return path.join(volumesDir, escapeId(role === '' ? '*' : role), escapeId(id));
}

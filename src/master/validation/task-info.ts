/**
 * LAUNCH / LAUNCH_GROUP: the checks of one `TaskInfo` that need nothing but the task itself (and the
 * offers' agent). Whether the resources fit the offers, the id is new and the role is authorized is
 * `accept.ts`'s business.
 *
 * Problems are data here, not exceptions: an invalid task becomes a TASK_ERROR status update
 * (REASON_TASK_INVALID) whose message lists every problem, each naming the field and the value.
 */
import { Resources } from '../../common/resources';
import { readLabels } from '../../common/wire/labels';
import { readResources } from '../../common/wire/resources';
import { readDuration } from '../../common/wire/time';
import { enumName, hasControlCharacters } from '../../common/wire/values';
import type { CommandInfo__Output } from '../../generated/berth/v1/CommandInfo';
import { _berth_v1_ContainerInfo_Type as ContainerType } from '../../generated/berth/v1/ContainerInfo';
import type { ContainerInfo__Output } from '../../generated/berth/v1/ContainerInfo';
import type { DiscoveryInfo__Output } from '../../generated/berth/v1/DiscoveryInfo';
import { _berth_v1_HealthCheck_Type as HealthCheckType } from '../../generated/berth/v1/HealthCheck';
import type { HealthCheck__Output } from '../../generated/berth/v1/HealthCheck';
import type { TaskInfo__Output } from '../../generated/berth/v1/TaskInfo';
import { describeValue, Problems, type Problem } from './errors';
import type { PriorityClasses } from '../priorities';
import { imageReferenceProblem } from './image-reference';
import { checkCount, checkLength, checkTotal, TASK_LIMITS as LIMIT } from './task-limits';

/** Longest task id (TaskID: 1–255 characters). */
export const MAX_TASK_ID_LENGTH = 255;

/** Options of {@link taskInfoProblems}. */
export interface TaskCheckOptions {
  /** The agent of the offers being accepted; `agent_id` must equal it. Unchecked when absent. */
  readonly agentId?: string;
  /** Revocable resources allowed (the framework has REVOCABLE_RESOURCES). @default false */
  readonly allowRevocable?: boolean;
  /** The master's priority classes: `priority_class` must name one. Unchecked when absent. */
  readonly priorityClasses?: PriorityClasses;
}

/** The result of checking one task: its problems, and what was read on the way. */
export interface CheckedTask {
  /** Every problem, in field order; empty when the task is valid on its own. */
  readonly problems: readonly Problem[];
  /** `task_id.value` when it is a usable id (status updates can be addressed to it). */
  readonly taskId?: string;
  /** The task's resources when they are valid (even if other fields are not). */
  readonly resources?: Resources;
}

/**
 * Why `id` is not a valid task id, or `undefined`: 1–255 characters, not whitespace, no control
 * characters, no whitespace at all, no path separators (`/`, `\`), not `.` or `..` (the agent
 * uses the id in sandbox paths and container names).
 */
export function taskIdProblem(id: unknown): string | undefined {
  if (typeof id !== 'string' || id === '') return `must be a non-empty string, got ${describeValue(id)}`;
  if (id.length > MAX_TASK_ID_LENGTH) return `must be at most ${MAX_TASK_ID_LENGTH} characters, got ${id.length}`;
  if (hasControlCharacters(id)) return `must not contain control characters, got ${describeValue(id)}`;
  if (/\s/.test(id)) return `must not contain whitespace, got ${describeValue(id)}`;
  if (/[/\\]/.test(id)) return `must not contain a path separator ("/" or "\\"), got ${describeValue(id)}`;
  if (id === '.' || id === '..') return `must not be ${describeValue(id)}`;
  return undefined;
}

/**
 * The problems of one task on its own, each naming the field (under `path`) and the value. See
 * {@link checkTaskInfo} for the rules. Never throws.
 */
export function taskInfoProblems(task: TaskInfo__Output, path = 'task_info', opts: TaskCheckOptions = {}): Problem[] {
  return [...checkTaskInfo(task, path, opts).problems];
}

/**
 * Checks one task: `task_id` (see {@link taskIdProblem}); `name` non-empty; `agent_id` present (and
 * equal to `opts.agentId`); resources present, valid, with cpus or mem, revocable only if allowed;
 * a command, or a DOCKER container with a sane image (a PROCESS container needs a command); valid
 * environment names and URIs; container volumes at absolute paths; a health check whose type matches
 * the member set, with non-negative timings and ports in 1–65535; a non-negative kill grace period;
 * a positive max_completion_time; valid labels and discovery ports; every free-text field and list
 * within its limit (`task-limits.ts`). Never throws.
 */
export function checkTaskInfo(task: TaskInfo__Output, path: string, opts: TaskCheckOptions = {}): CheckedTask {
  const problems = new Problems();
  let taskId: string | undefined;
  if (task.task_id === null || task.task_id === undefined) {
    problems.add(`${path}.task_id`, 'is required');
  } else {
    const p = taskIdProblem(task.task_id.value);
    if (p === undefined) taskId = task.task_id.value;
    else problems.add(`${path}.task_id.value`, p);
  }
  if (typeof task.name !== 'string' || task.name.trim() === '') problems.add(`${path}.name`, `must not be empty, got ${describeValue(task.name)}`);
  else checkLength(problems, `${path}.name`, task.name, LIMIT.name);
  const agent = task.agent_id?.value;
  if (agent === undefined || agent === '') problems.add(`${path}.agent_id`, 'is required (the agent of the offers)');
  else if (opts.agentId !== undefined && agent !== opts.agentId) {
    problems.add(`${path}.agent_id.value`, `must be the offers' agent ${describeValue(opts.agentId)}, got ${describeValue(agent)}`);
  }

  const resources = readTaskResources(task, path, opts, problems);
  const docker = readContainer(task.container, `${path}.container`, resources, problems);
  if (task.command === null || task.command === undefined) {
    if (!docker) problems.add(`${path}.command`, 'is required unless the container is DOCKER (which runs the image default)');
  } else {
    readCommand(task.command, `${path}.command`, docker, problems);
  }
  if (task.health_check !== null && task.health_check !== undefined) readHealthCheck(task.health_check, `${path}.health_check`, docker, problems);
  if (task.kill_policy?.grace_period) readDuration(task.kill_policy.grace_period, `${path}.kill_policy.grace_period`, problems);
  readDuration(task.max_completion_time, `${path}.max_completion_time`, problems, { positive: true });
  readTaskLabels(task.labels, `${path}.labels`, problems);
  if (task.discovery !== null && task.discovery !== undefined) readDiscovery(task.discovery, `${path}.discovery`, problems);
  const priorityClass = task.priority_class ?? '';
  const classProblem = priorityClass === '' ? undefined : opts.priorityClasses?.problem(priorityClass);
  if (classProblem !== undefined) problems.add(`${path}.priority_class`, classProblem);
  if (task.disruption_budget !== null && task.disruption_budget !== undefined) readDisruptionBudget(task.disruption_budget, `${path}.disruption_budget`, problems);
  return { problems: problems.list, ...(taskId === undefined ? {} : { taskId }), ...(resources === undefined ? {} : { resources }) };
}

function readDisruptionBudget(b: NonNullable<TaskInfo__Output['disruption_budget']>, at: string, problems: Problems): void {
  const group = b.group ?? '';
  if (group === '') problems.add(`${at}.group`, 'must be set: the name of the task\'s group (e.g. its app id)');
  else checkLength(problems, `${at}.group`, group, LIMIT.name);
  const instances = b.instances ?? 0;
  if (instances < 1) problems.add(`${at}.instances`, `must be at least 1 (how many tasks the group wants running), got ${describeValue(instances)}`);
  else if ((b.max_unavailable ?? 0) > instances) problems.add(`${at}.max_unavailable`, `must be at most instances (${instances}), got ${describeValue(b.max_unavailable)}`);
}

function readTaskResources(task: TaskInfo__Output, path: string, opts: TaskCheckOptions, problems: Problems): Resources | undefined {
  const at = `${path}.resources`;
  if ((task.resources ?? []).length === 0) {
    problems.add(at, 'must not be empty: a task needs cpus or mem');
    return undefined;
  }
  const resources = readResources(task.resources, at, problems);
  if (resources === undefined) return undefined;
  const before = problems.size;
  if (resources.scalar('cpus') === 0 && resources.scalar('mem') === 0) problems.add(at, `must include cpus or mem, got ${describeValue(resources.toString())}`);
  if (!opts.allowRevocable && !resources.revocable().isEmpty()) {
    problems.add(at, `revocable resources ${describeValue(resources.revocable().toString())} need the REVOCABLE_RESOURCES capability`);
  }
  return problems.size > before ? undefined : resources;
}

/** Checks the container; returns whether it is (effectively) DOCKER. */
function readContainer(c: ContainerInfo__Output | null | undefined, at: string, resources: Resources | undefined, problems: Problems): boolean {
  if (c === null || c === undefined) return false;
  const declared = enumName(ContainerType, c.type);
  if (declared === undefined) problems.add(`${at}.type`, `must be DOCKER or PROCESS, got ${describeValue(c.type)}`);
  // "Not set: PROCESS if no image is given" (common.proto).
  const type = declared === 'TYPE_UNSPECIFIED' ? (c.docker ? 'DOCKER' : 'PROCESS') : declared;
  if (type === 'DOCKER') {
    if (c.docker === null || c.docker === undefined) problems.add(`${at}.docker`, 'is required for a DOCKER container');
    else {
      const p = imageReferenceProblem(c.docker.image ?? '');
      if (p !== undefined) problems.add(`${at}.docker.image`, p === 'must not be empty' ? 'is required for a DOCKER container' : p);
      checkCount(problems, `${at}.docker.parameters`, c.docker.parameters, LIMIT.dockerParameters);
      (c.docker.parameters ?? []).forEach((param, i) => {
        if (!param?.key) problems.add(`${at}.docker.parameters[${i}].key`, `must not be empty, got ${describeValue(param?.key)}`);
        else checkLength(problems, `${at}.docker.parameters[${i}].key`, param.key, LIMIT.dockerParameterText);
        checkLength(problems, `${at}.docker.parameters[${i}].value`, param?.value, LIMIT.dockerParameterText);
      });
    }
  } else if (type === 'PROCESS' && c.docker !== null && c.docker !== undefined) {
    problems.add(`${at}.docker`, 'must not be set for a PROCESS container');
  }
  const volumeIds = new Set((resources?.persistentVolumes().entries ?? []).map((e) => e.disk!.persistence!.id));
  (c.volumes ?? []).forEach((v, i) => {
    const here = `${at}.volumes[${i}]`;
    if (!isAbsolutePath(v?.container_path)) problems.add(`${here}.container_path`, `must be an absolute path, got ${describeValue(v?.container_path)}`);
    else checkLength(problems, `${here}.container_path`, v.container_path, LIMIT.path);
    const hostPath = v?.host_path;
    const persistenceId = v?.persistence_id;
    if (hostPath !== undefined && hostPath !== null) {
      if (!isAbsolutePath(hostPath)) problems.add(`${here}.host_path`, `must be an absolute path, got ${describeValue(hostPath)}`);
      else checkLength(problems, `${here}.host_path`, hostPath, LIMIT.path);
    } else if (persistenceId !== undefined && persistenceId !== null) {
      if (resources !== undefined && !volumeIds.has(persistenceId)) {
        problems.add(`${here}.persistence_id`, `names no persistent volume in the task's resources, got ${describeValue(persistenceId)}`);
      }
    } else {
      problems.add(here, 'needs a source: set host_path or persistence_id');
    }
  });
  return type === 'DOCKER';
}

function isAbsolutePath(p: unknown): boolean {
  return typeof p === 'string' && p.startsWith('/') && !hasControlCharacters(p) && !p.split('/').includes('..');
}

const ENV_NAME_FORBIDDEN = /[=\u0000]/;

function readCommand(cmd: CommandInfo__Output, at: string, docker: boolean, problems: Problems): void {
  const shell = cmd.shell !== false;
  const value = typeof cmd.value === 'string' ? cmd.value : '';
  if (shell && value.trim() === '') problems.add(`${at}.value`, `must be a command line when shell is true, got ${describeValue(cmd.value)}`);
  if (!shell && value === '' && !docker && (cmd.arguments ?? []).length === 0) {
    problems.add(`${at}.value`, 'must name the program to run (only a DOCKER container may fall back to the image entrypoint)');
  }
  if (value.includes('\u0000')) problems.add(`${at}.value`, 'must not contain a NUL character');
  let commandChars = checkLength(problems, `${at}.value`, cmd.value, LIMIT.commandText);
  checkCount(problems, `${at}.arguments`, cmd.arguments, LIMIT.arguments);
  (cmd.arguments ?? []).forEach((arg, i) => {
    if (typeof arg === 'string' && arg.includes('\u0000')) problems.add(`${at}.arguments[${i}]`, 'must not contain a NUL character');
    commandChars += checkLength(problems, `${at}.arguments[${i}]`, arg, LIMIT.commandText);
  });
  checkTotal(problems, at, 'value and arguments', commandChars, LIMIT.commandTotal);
  readEnvironment(cmd, at, problems);
  if (cmd.user !== undefined && cmd.user !== null && (cmd.user === '' || /[\s\u0000-\u001f]/.test(cmd.user))) {
    problems.add(`${at}.user`, `must be a user name without whitespace, got ${describeValue(cmd.user)}`);
  } else checkLength(problems, `${at}.user`, cmd.user, LIMIT.user);
  checkCount(problems, `${at}.uris`, cmd.uris, LIMIT.uris);
  (cmd.uris ?? []).forEach((uri, i) => {
    const here = `${at}.uris[${i}]`;
    if (checkLength(problems, `${here}.value`, uri?.value, LIMIT.uri) > LIMIT.uri) return;
    if (!/^(https?|file):\/\/\S+$/i.test(uri?.value ?? '')) problems.add(`${here}.value`, `must be an http, https or file URL, got ${describeValue(uri?.value)}`);
    const out = uri?.output_file ?? '';
    if (out !== '' && (/[/\\\u0000]/.test(out) || out === '.' || out === '..')) {
      problems.add(`${here}.output_file`, `must be a plain file name, got ${describeValue(out)}`);
    } else checkLength(problems, `${here}.output_file`, out, LIMIT.outputFile);
  });
}

function readEnvironment(cmd: CommandInfo__Output, at: string, problems: Problems): void {
  const variables = cmd.environment?.variables ?? [];
  checkCount(problems, `${at}.environment.variables`, variables, LIMIT.environmentVariables);
  let chars = 0;
  variables.forEach((v, i) => {
    const here = `${at}.environment.variables[${i}]`;
    const name = v?.name;
    if (typeof name !== 'string' || name === '' || ENV_NAME_FORBIDDEN.test(name)) {
      problems.add(`${here}.name`, `must be non-empty without "=" or NUL, got ${describeValue(name)}`);
    }
    if (typeof v?.value === 'string' && v.value.includes('\u0000')) problems.add(`${here}.value`, 'must not contain a NUL character');
    chars += checkLength(problems, `${here}.name`, name, LIMIT.environmentName) + checkLength(problems, `${here}.value`, v?.value, LIMIT.environmentValue);
  });
  checkTotal(problems, `${at}.environment`, 'the variables\' names and values', chars, LIMIT.environmentTotal);
}

/** Labels as `readLabels` checks them, with the task limits on their number and value sizes. */
function readTaskLabels(labels: TaskInfo__Output['labels'], at: string, problems: Problems): void {
  checkCount(problems, `${at}.labels`, labels?.labels, LIMIT.labels);
  (labels?.labels ?? []).forEach((l, i) => checkLength(problems, `${at}.labels[${i}].value`, l?.value, LIMIT.labelValue));
  readLabels(labels, at, problems);
}

const CHECK_MEMBER = { HTTP: 'http', TCP: 'tcp', COMMAND: 'command' } as const;

function readHealthCheck(hc: HealthCheck__Output, at: string, docker: boolean, problems: Problems): void {
  const type = enumName(HealthCheckType, hc.type);
  const member = type === 'HTTP' || type === 'TCP' || type === 'COMMAND' ? CHECK_MEMBER[type] : undefined;
  if (member === undefined) {
    problems.add(`${at}.type`, `must be HTTP, TCP or COMMAND, got ${describeValue(type ?? hc.type)}`);
  } else {
    for (const m of ['http', 'tcp', 'command'] as const) {
      const present = hc[m] !== undefined && hc[m] !== null;
      if (m === member && !present) problems.add(`${at}.${m}`, `is required for a ${type} health check`);
      if (m !== member && present) problems.add(`${at}.${m}`, `must not be set for a ${type} health check`);
    }
  }
  const port = (field: string, p: unknown): void => {
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) problems.add(field, `must be a port in 1-65535, got ${describeValue(p)}`);
  };
  if (member === 'http' && hc.http) {
    port(`${at}.http.port`, hc.http.port);
    const scheme = hc.http.scheme ?? '';
    if (scheme !== '' && scheme !== 'http' && scheme !== 'https') problems.add(`${at}.http.scheme`, `must be "http" or "https", got ${describeValue(scheme)}`);
    const p = hc.http.path ?? '';
    if (p !== '' && (!p.startsWith('/') || /[\s\u0000-\u001f]/.test(p))) problems.add(`${at}.http.path`, `must start with "/" and hold no whitespace, got ${describeValue(p)}`);
    else checkLength(problems, `${at}.http.path`, p, LIMIT.path);
    (hc.http.statuses ?? []).forEach((s, i) => {
      if (!Number.isInteger(s) || s < 100 || s > 599) problems.add(`${at}.http.statuses[${i}]`, `must be an HTTP status in 100-599, got ${describeValue(s)}`);
    });
  }
  if (member === 'tcp' && hc.tcp) port(`${at}.tcp.port`, hc.tcp.port);
  if (member === 'command' && hc.command) readCommand(hc.command, `${at}.command`, docker, problems);
  for (const field of ['delay_seconds', 'grace_period_seconds'] as const) {
    const v = hc[field];
    if (v !== undefined && v !== null && !(Number.isFinite(v) && v >= 0)) problems.add(`${at}.${field}`, `must be a non-negative number of seconds, got ${describeValue(v)}`);
  }
  for (const field of ['interval_seconds', 'timeout_seconds'] as const) {
    const v = hc[field];
    if (v !== undefined && v !== null && !(Number.isFinite(v) && v > 0)) problems.add(`${at}.${field}`, `must be a positive number of seconds, got ${describeValue(v)}`);
  }
  if (hc.consecutive_failures !== undefined && hc.consecutive_failures !== null && !(hc.consecutive_failures >= 1)) {
    problems.add(`${at}.consecutive_failures`, `must be at least 1, got ${describeValue(hc.consecutive_failures)}`);
  }
}

function readDiscovery(d: DiscoveryInfo__Output, at: string, problems: Problems): void {
  const names = new Map<string, number>();
  checkLength(problems, `${at}.name`, d.name, LIMIT.discoveryName);
  (d.ports ?? []).forEach((p, i) => {
    const here = `${at}.ports[${i}]`;
    if (!Number.isInteger(p?.number) || p.number < 1 || p.number > 65535) problems.add(`${here}.number`, `must be a port in 1-65535, got ${describeValue(p?.number)}`);
    const protocol = p?.protocol ?? '';
    if (protocol !== '' && protocol !== 'tcp' && protocol !== 'udp') problems.add(`${here}.protocol`, `must be "tcp" or "udp", got ${describeValue(protocol)}`);
    const name = p?.name ?? '';
    if (name !== '' && names.has(name)) problems.add(`${here}.name`, `${describeValue(name)} repeats ${at}.ports[${names.get(name)}].name`);
    else if (name !== '') names.set(name, i);
    checkLength(problems, `${here}.name`, name, LIMIT.discoveryName);
    readTaskLabels(p?.labels, `${here}.labels`, problems);
  });
  readTaskLabels(d.labels, `${at}.labels`, problems);
}

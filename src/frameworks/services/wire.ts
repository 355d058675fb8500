/**
 * The services API's messages ↔ the framework's data: the AppDefinition message to the JSON form the
 * validator reads (and back), and app views and deployments to their messages.
 */
import { timeToWire } from '../../common/wire/time';
import type { AppDefinition as WireAppDefinition } from '../../generated/berth/v1/AppDefinition';
import type { AppInfo } from '../../generated/berth/v1/AppInfo';
import type { Deployment } from '../../generated/berth/v1/Deployment';
import type { AppUpgradeStrategy } from '../../generated/berth/v1/AppUpgradeStrategy';
import type { AppDefinition, UpgradeStrategy } from './app-definition';
import type { DeploymentRecord } from './model';
import type { AppView } from './views';

type Json = Record<string, unknown>;

function num(v: number | string | null | undefined): number | undefined {
  if (v === undefined || v === null) return undefined;
  return typeof v === 'number' ? v : Number(v);
}

/** Sets `key` when `value` is meaningful (not undefined/null/empty string). */
function put(o: Json, key: string, value: unknown): void {
  if (value === undefined || value === null || value === '') return;
  o[key] = value;
}

function hasEntries(m: Record<string, string> | null | undefined): m is Record<string, string> {
  return m !== undefined && m !== null && Object.keys(m).length > 0;
}

/** "3" → 3 (a count), anything else as given ("25%", or a mistake the validator names). */
function countOrPercentFromWire(v: string | null | undefined): number | string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  return /^\d+$/.test(v) ? Number(v) : v;
}

/** The JSON form (Marathon's camelCase fields) of an AppDefinition message, for the validator. */
export function appDefinitionFromWire(m: WireAppDefinition): Json {
  const o: Json = {};
  put(o, 'id', m.id);
  put(o, 'cmd', m.cmd);
  if (m.args !== undefined && m.args.length > 0) o.args = [...m.args];
  if (m.container !== undefined && m.container !== null) {
    const d = m.container.docker;
    o.container = d === undefined || d === null ? {} : {
      docker: {
        image: d.image ?? '',
        forcePullImage: d.force_pull_image === true,
        privileged: d.privileged === true,
        parameters: (d.parameters ?? []).map((p) => ({ key: p.key ?? '', value: p.value ?? '' })),
      },
    };
  }
  put(o, 'instances', m.instances);
  for (const [k, v] of [['cpus', m.cpus], ['mem', m.mem], ['disk', m.disk]] as const) put(o, k, num(v));
  put(o, 'gpus', m.gpus);
  if (hasEntries(m.env)) o.env = { ...m.env };
  if (hasEntries(m.secrets)) o.secrets = { ...m.secrets };
  if (m.port_definitions !== undefined && m.port_definitions.length > 0) {
    o.portDefinitions = m.port_definitions.map((p) => {
      const q: Json = { port: p.port ?? 0 };
      put(q, 'name', p.name);
      put(q, 'protocol', p.protocol);
      if (hasEntries(p.labels)) q.labels = { ...p.labels };
      return q;
    });
  }
  if (m.require_ports === true) o.requirePorts = true;
  if (hasEntries(m.labels)) o.labels = { ...m.labels };
  put(o, 'role', m.role);
  if (m.constraints !== undefined && m.constraints.length > 0) {
    o.constraints = m.constraints.map((c) => (c.value ? [c.field ?? '', c.operator ?? '', c.value] : [c.field ?? '', c.operator ?? '']));
  }
  if (m.health_checks !== undefined && m.health_checks.length > 0) {
    o.healthChecks = m.health_checks.map((h) => {
      const q: Json = {};
      put(q, 'protocol', h.protocol);
      put(q, 'path', h.path);
      put(q, 'portIndex', h.port_index);
      if (h.command) q.command = { value: h.command };
      put(q, 'gracePeriodSeconds', num(h.grace_period_seconds));
      put(q, 'intervalSeconds', num(h.interval_seconds));
      put(q, 'timeoutSeconds', num(h.timeout_seconds));
      put(q, 'maxConsecutiveFailures', h.max_consecutive_failures);
      put(q, 'delaySeconds', num(h.delay_seconds));
      return q;
    });
  }
  if (m.readiness_checks !== undefined && m.readiness_checks.length > 0) {
    o.readinessChecks = m.readiness_checks.map((r) => {
      const q: Json = {};
      put(q, 'name', r.name);
      put(q, 'protocol', r.protocol);
      put(q, 'path', r.path);
      put(q, 'portIndex', r.port_index);
      put(q, 'portName', r.port_name);
      put(q, 'intervalSeconds', num(r.interval_seconds));
      put(q, 'timeoutSeconds', num(r.timeout_seconds));
      if (r.http_status_codes_for_ready !== undefined && r.http_status_codes_for_ready.length > 0) q.httpStatusCodesForReady = [...r.http_status_codes_for_ready];
      return q;
    });
  }
  put(o, 'taskKillGracePeriodSeconds', num(m.task_kill_grace_period_seconds));
  put(o, 'backoffSeconds', num(m.backoff_seconds));
  put(o, 'backoffFactor', num(m.backoff_factor));
  put(o, 'maxLaunchDelaySeconds', num(m.max_launch_delay_seconds));
  if (m.kill_selection !== undefined && m.kill_selection !== 'KILL_SELECTION_UNSPECIFIED' && m.kill_selection !== 0) {
    o.killSelection = m.kill_selection === 1 ? 'YOUNGEST_FIRST' : m.kill_selection === 2 ? 'OLDEST_FIRST' : m.kill_selection;
  }
  const u = m.unreachable_strategy;
  if (u !== undefined && u !== null) {
    if (u.disabled === true) o.unreachableStrategy = 'disabled';
    else {
      const q: Json = {};
      put(q, 'inactiveAfterSeconds', num(u.inactive_after_seconds));
      put(q, 'expungeAfterSeconds', num(u.expunge_after_seconds));
      o.unreachableStrategy = q;
    }
  }
  const s = m.upgrade_strategy;
  if (s !== undefined && s !== null) {
    const q: Json = {};
    put(q, 'minimumHealthCapacity', num(s.minimum_health_capacity));
    put(q, 'maximumOverCapacity', num(s.maximum_over_capacity));
    put(q, 'maxUnavailable', countOrPercentFromWire(s.max_unavailable));
    put(q, 'maxSurge', countOrPercentFromWire(s.max_surge));
    o.upgradeStrategy = q;
  }
  put(o, 'progressDeadlineSeconds', num(m.progress_deadline_seconds));
  put(o, 'minReadySeconds', num(m.min_ready_seconds));
  return o;
}

/** The message form of a (normalised) definition. */
export function appDefinitionToWire(d: AppDefinition): WireAppDefinition {
  const docker = d.container?.docker;
  return {
    id: d.id,
    ...(d.cmd === undefined ? {} : { cmd: d.cmd }),
    args: d.args === undefined ? [] : [...d.args],
    ...(docker === undefined ? {} : {
      container: { docker: { image: docker.image, force_pull_image: docker.forcePullImage, privileged: docker.privileged, parameters: docker.parameters.map((p) => ({ ...p })) } },
    }),
    instances: d.instances,
    cpus: d.cpus,
    mem: d.mem,
    disk: d.disk,
    gpus: d.gpus,
    env: { ...d.env },
    // Names only: a view never carries a secret's value.
    secrets: Object.fromEntries(Object.keys(d.secrets).map((k) => [k, ''])),
    port_definitions: d.portDefinitions.map((p) => ({ port: p.port, name: p.name ?? '', protocol: p.protocol, labels: { ...p.labels } })),
    require_ports: d.requirePorts,
    labels: { ...d.labels },
    role: d.role ?? '',
    constraints: d.constraints.map((c) => ({ field: c[0], operator: c[1], value: c[2] ?? '' })),
    health_checks: d.healthChecks.map((h) => ({
      protocol: h.protocol,
      path: h.path,
      ...(h.portIndex === undefined ? {} : { port_index: h.portIndex }),
      command: h.command?.value ?? '',
      grace_period_seconds: h.gracePeriodSeconds,
      interval_seconds: h.intervalSeconds,
      timeout_seconds: h.timeoutSeconds,
      max_consecutive_failures: h.maxConsecutiveFailures,
      ...(h.delaySeconds === undefined ? {} : { delay_seconds: h.delaySeconds }),
    })),
    readiness_checks: d.readinessChecks.map((r) => ({
      name: r.name,
      protocol: r.protocol,
      path: r.path,
      ...(r.portIndex === undefined ? {} : { port_index: r.portIndex }),
      port_name: r.portName ?? '',
      interval_seconds: r.intervalSeconds,
      timeout_seconds: r.timeoutSeconds,
      http_status_codes_for_ready: [...r.httpStatusCodesForReady],
    })),
    ...(d.taskKillGracePeriodSeconds === undefined ? {} : { task_kill_grace_period_seconds: d.taskKillGracePeriodSeconds }),
    backoff_seconds: d.backoffSeconds,
    backoff_factor: d.backoffFactor,
    max_launch_delay_seconds: d.maxLaunchDelaySeconds,
    kill_selection: d.killSelection,
    unreachable_strategy: d.unreachableStrategy.disabled
      ? { disabled: true }
      : { disabled: false, inactive_after_seconds: d.unreachableStrategy.inactiveAfterSeconds, expunge_after_seconds: d.unreachableStrategy.expungeAfterSeconds },
    upgrade_strategy: upgradeStrategyToWire(d.upgradeStrategy),
    progress_deadline_seconds: d.progressDeadlineSeconds,
    ...(d.minReadySeconds === undefined ? {} : { min_ready_seconds: d.minReadySeconds }),
  };
}

function upgradeStrategyToWire(s: UpgradeStrategy): AppUpgradeStrategy {
  if ('maxUnavailable' in s) return { max_unavailable: String(s.maxUnavailable), max_surge: String(s.maxSurge) };
  return { minimum_health_capacity: s.minimumHealthCapacity, maximum_over_capacity: s.maximumOverCapacity };
}

/** The JSON text GetApp returns (and PutApp accepts): Marathon's field names, without derived fields. */
export function appDefinitionJson(d: AppDefinition): string {
  const { constraints, ...rest } = d;
  return JSON.stringify({ ...rest, constraints: constraints.map((c) => [...c]) }, null, 2);
}

export function deploymentToWire(d: DeploymentRecord): Deployment {
  return {
    id: d.id,
    app_id: d.appId,
    kind: d.kind,
    state: d.state,
    from_version: d.from?.version ?? '',
    to_version: d.to.version,
    steps: d.steps.map((s) => ({ action: s.action, status: s.status })),
    started_at: timeToWire(d.startedAt),
    last_progress_at: timeToWire(d.lastProgressAt),
    ...(d.state === 'RUNNING' && d.kind !== 'DELETE' ? { deadline: timeToWire(d.lastProgressAt + d.progressDeadlineSeconds * 1000) } : {}),
    ...(d.finishedAt === undefined ? {} : { finished_at: timeToWire(d.finishedAt) }),
    message: d.message ?? '',
    rollback_of: d.rollbackOf ?? '',
    rolled_back_by: d.rolledBackBy ?? '',
    superseded_by: d.supersededBy ?? '',
  };
}

export function appInfoToWire(v: AppView): AppInfo {
  const r = v.rejections;
  return {
    id: v.id,
    definition: appDefinitionToWire(v.definition),
    definition_json: appDefinitionJson(v.definition),
    version: v.version,
    config_version: v.configVersion,
    status: {
      instances: v.instances,
      staged: v.staged,
      running: v.running,
      healthy: v.healthy,
      unhealthy: v.unhealthy,
      unreachable: v.unreachable,
      killing: v.killing,
      waiting_instances: v.waitingInstances,
      ...(v.deployment === undefined ? {} : { deployment: deploymentToWire(v.deployment) }),
      ...(v.lastDeployment === undefined ? {} : { last_deployment: deploymentToWire(v.lastDeployment) }),
      delayed_instances: v.delayedInstances.map((d) => ({ instance: d.instance, failures: d.failures, delay_seconds: d.delaySeconds, launch_at: timeToWire(d.launchAt), reason: d.reason })),
      ...(v.lastFailure === undefined ? {} : {
        last_failure: { task_id: v.lastFailure.taskId, state: v.lastFailure.state, reason: v.lastFailure.reason, message: v.lastFailure.message, at: timeToWire(v.lastFailure.at), version: v.lastFailure.version },
      }),
      backoff_seconds: v.backoffSeconds,
      launch_delay_remaining_seconds: v.launchDelayRemainingSeconds,
      rejected_offers: {
        considered: r.considered,
        launched: r.launched,
        reasons: r.reasons.map((x) => ({ reason: x.reason, count: x.count })),
        last_reason: r.last?.outcome ?? '',
        last_detail: r.last?.detail ?? '',
        last_hostname: r.last?.hostname ?? '',
      },
      waiting: v.waiting,
      tasks: v.tasks.map((t) => ({
        task_id: t.taskId,
        agent_id: t.agentId,
        hostname: t.hostname,
        state: t.state,
        ...(t.healthy === undefined ? {} : { healthy: t.healthy }),
        ready: t.ready,
        version: t.version,
        ports: [...t.ports],
        launched_at: timeToWire(t.launchedAt),
        killing: t.killRequestedAt !== undefined || t.state === 'TASK_KILLING',
        message: t.message ?? '',
        instance: t.instance,
      })),
      deleting: v.deleting,
    },
  };
}
